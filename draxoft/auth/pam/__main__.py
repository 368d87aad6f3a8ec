"""``python -m draxoft.auth.pam``: the pam-tester command line (see :mod:`.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
