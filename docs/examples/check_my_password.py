"""Ask the user who runs this program for their password, and check it.

    python check_my_password.py [--service NAME] [--confdir DIR]

The exit status is 0 when PAM accepts the password and the account, 1
when it refuses them, and 2 when PAM itself fails.
"""

from __future__ import annotations

import argparse
import sys

from draxoft.auth import pam


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check your own password with PAM.")
    parser.add_argument("--service", default="check-my-password",
                        help="the PAM service to use")
    parser.add_argument("--confdir",
                        help="read the service from DIR instead of /etc/pam.d")
    args = parser.parse_args(argv)

    # No user and no conversation given: the handle takes the login name of
    # the user running the program, and asks its questions on the terminal.
    with pam.handle(args.service, confdir=args.confdir) as h:
        print(f"Checking the password of {h.user}.")
        try:
            if not h.authenticate():
                print("Wrong password.")
                return 1
            h.acct_mgmt()  # may this account be used now?
        except pam.PamError as e:
            refusals = (pam.PAM_ACCT_EXPIRED, pam.PAM_PERM_DENIED, pam.PAM_USER_UNKNOWN)
            if e.errno in refusals:
                print(f"Refused: {e.strerror}.")
                return 1
            if e.errno == pam.PAM_NEW_AUTHTOK_REQD:
                print("The password is right, but it has expired: change it first.")
                return 1
            print(f"PAM failed: {e.strerror}.", file=sys.stderr)
            return 2
        except (KeyboardInterrupt, EOFError):
            print("\nCancelled.")
            return 1
    print("Password accepted.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
