"""``pam-tester``, the command line of draxoft.auth.pam: check a PAM stack by hand.

It takes pamtester's command line and gives pamtester's output and exit
status, so that an administrator who knows one knows the other::

    pam-tester [-v] [-I item=value] [-E var=value] service user operation...

Also run as ``python -m draxoft.auth.pam`` or ``python -m draxoft.auth.pam.cli``.
It uses only the public API of :mod:`draxoft.auth.pam` (tests/test_cli_public_api.py
holds it to that).
"""

from __future__ import annotations

from .command import main

__all__ = ["main"]
