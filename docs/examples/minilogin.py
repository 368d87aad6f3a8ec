"""A small login program: password, account check, expired passwords,
credentials and a session, then a command run as the user.

    python minilogin.py [--service NAME] [--confdir DIR] [USER [COMMAND [ARG...]]]

Without USER, PAM asks for the name. Without COMMAND, the user's shell
runs. Root can log in any user; anyone else only themselves. The exit
status is the command's, or 1 when the login fails.
"""

from __future__ import annotations

import argparse
import os
import pwd
import signal
import sys
from typing import Optional

from draxoft.auth import pam

MAX_TRIES = 3


def log_in(h: pam.handle, ask_name: bool) -> bool:
    """Ask for the password (up to MAX_TRIES times), then check the account.

    With *ask_name*, PAM asks for the user name again after each failure.
    """
    for _ in range(MAX_TRIES):
        try:
            if h.authenticate():
                break
        except pam.PamError as e:
            if e.errno == pam.PAM_MAXTRIES:
                return False
            if e.errno != pam.PAM_USER_UNKNOWN:
                raise
            # An unknown user gets the same answer as a wrong password.
        print("Login incorrect", flush=True)
        if ask_name:
            h.user = None
    else:
        return False
    try:
        h.acct_mgmt()
    except pam.PamError as e:
        if e.errno != pam.PAM_NEW_AUTHTOK_REQD:
            raise
        # The password was right but has expired: it must be changed now,
        # in this same transaction, before the session may start.
        print("You are required to change your password now.", flush=True)
        h.chauthtok(change_expired_authtok=True)
    return True


def run_in_session(h: pam.handle, command: list[str]) -> int:
    """Run *command* as the user of the session, and wait for it."""
    # spawn() makes the child the user (groups, gid, uid) and gives it the
    # PAM environment over HOME, USER, LOGNAME, SHELL and PATH; the
    # terminal type is ours to pass on.
    child = h.spawn(command, env={"TERM": os.environ.get("TERM", "dumb")})
    # Like login(1): Ctrl-C is for the command, not for us, or the session
    # would never be closed. (Set after the start: an ignored signal stays
    # ignored across exec, and the command needs its Ctrl-C.)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return child.wait()
    finally:
        signal.signal(signal.SIGINT, previous)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description="Log a user in through PAM and run a command in their session.")
    parser.add_argument("--service", default="minilogin",
                        help="the PAM service (default: minilogin)")
    parser.add_argument("--confdir",
                        help="read the service from DIR instead of /etc/pam.d")
    parser.add_argument("user", nargs="?", help="who logs in (default: ask)")
    parser.add_argument("command", nargs=argparse.REMAINDER,
                        help="what to run (default: the user's shell)")
    args = parser.parse_args(argv)
    if args.command[:1] == ["--"]:
        del args.command[0]

    me = pwd.getpwuid(os.getuid()).pw_name
    if args.user is not None and os.geteuid() != 0 and args.user != me:
        print("minilogin: only root can log in another user", file=sys.stderr)
        return 1
    tty = os.ttyname(0) if os.isatty(0) else None
    with pam.handle(args.service, args.user, confdir=args.confdir, tty=tty,
                    user_prompt="login: ") as h:
        try:
            if not log_in(h, ask_name=args.user is None):
                print("minilogin: too many failures", file=sys.stderr)
                return 1
            # A module may have changed the name (case, aliases): ask PAM.
            try:
                account = pwd.getpwnam(h.user)
            except KeyError:
                print(f"minilogin: {h.user} has no account on this system",
                      file=sys.stderr)
                return 1
            if os.geteuid() != 0 and account.pw_uid != os.getuid():
                print("minilogin: only root can log in another user", file=sys.stderr)
                return 1
            if not os.path.isdir(account.pw_dir):
                print(f"No directory {account.pw_dir}, starting in /", flush=True)
            h.establish_credentials()
            try:
                h.open_session()
                try:
                    command = args.command or [account.pw_shell or "/bin/sh"]
                    return run_in_session(h, command)
                finally:
                    h.close_session()
            finally:
                h.delete_credentials()
        except pam.PamError as e:
            print(f"minilogin: {e.strerror}", file=sys.stderr)
            return 1
        except (KeyboardInterrupt, EOFError):
            print("\nminilogin: cancelled", file=sys.stderr)
            return 1


if __name__ == "__main__":
    sys.exit(main())
