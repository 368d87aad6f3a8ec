"""Change a password through PAM, like passwd(1).

    python chpass.py [--service NAME] [--confdir DIR] [USER]

Without USER, the password of the user running the program changes.
Only root may name another user. The modules of the service's
``password`` stack ask their questions on the terminal: usually the
current password (not asked of root), then the new one twice.
"""

from __future__ import annotations

import argparse
import os
import pwd
import sys
from typing import Optional

from draxoft.auth import pam


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Change a password through PAM.")
    parser.add_argument("--service", default="chpass",
                        help="the PAM service (default: chpass)")
    parser.add_argument("--confdir",
                        help="read the service from DIR instead of /etc/pam.d")
    parser.add_argument("user", nargs="?", help="whose password (default: yours)")
    args = parser.parse_args(argv)

    me = pwd.getpwuid(os.getuid()).pw_name
    user = args.user or me
    if user != me and os.getuid() != 0:
        print("chpass: only root may change the password of another user",
              file=sys.stderr)
        return 1
    with pam.handle(args.service, user, confdir=args.confdir) as h:
        print(f"Changing the password of {user}.", flush=True)
        try:
            h.chauthtok()
        except pam.PamError as e:
            # PAM_AUTHTOK_ERR: a module refused the new password (too short, the
            # two copies differ...); PAM_AUTHTOK_RECOVERY_ERR: the current
            # password was wrong; PAM_AUTHTOK_LOCK_BUSY: try again later.
            print(f"chpass: password unchanged: {e.strerror}", file=sys.stderr)
            return 1
        except (KeyboardInterrupt, EOFError):
            print("\nchpass: password unchanged", file=sys.stderr)
            return 1
    print("Password changed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
