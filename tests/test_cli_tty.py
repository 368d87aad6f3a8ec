"""pam-tester at a terminal: the binding's default conversation, driven through a pty.

The child gets the pty's slave as stdin, stdout, stderr and as its
controlling terminal (a new session, then TIOCSCTTY), so that /dev/tty,
which the default conversation opens, is that pty.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import Iterator, Optional

import pytest

import pamstack
from draxoft.auth import pam

COMMAND = [sys.executable, "-W", "error", "-m", "draxoft.auth.pam"]

# Runs in the child before the command: take the pty (stdin) as the
# controlling terminal of the new session, then become the command.
ATTACH = (
    "import fcntl, os, sys, termios\n"
    "fcntl.ioctl(0, termios.TIOCSCTTY, 0)\n"
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])\n"
)


class Terminal:
    """A pam-tester run on a fresh pty; the test types, and reads the screen."""

    def __init__(self, *args: str) -> None:
        self.master, self.slave = os.openpty()
        self.child = subprocess.Popen(
            [sys.executable, "-c", ATTACH, *COMMAND[1:], *args],
            stdin=self.slave, stdout=self.slave, stderr=self.slave,
            start_new_session=True,
        )
        self.screen = b""  # everything shown so far, "\r\n" made "\n"

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return False
        try:
            data = os.read(self.master, 4096)
        except OSError:  # EIO: no writer is left
            return False
        self.screen += data.replace(b"\r\n", b"\n")
        return bool(data)

    def expect(self, text: bytes, timeout: float = 30) -> None:
        """Wait until *text* has been shown."""
        deadline = time.monotonic() + timeout
        while text not in self.screen:
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never shown; screen: {self.screen!r}")
            self._read(0.2)

    def type(self, keys: bytes) -> None:
        """Send keys as a user would type them."""
        os.write(self.master, keys)

    def finish(self, timeout: float = 30) -> int:
        """Wait for the exit status, collecting what is left to show."""
        status: Optional[int] = None
        deadline = time.monotonic() + timeout
        while status is None and time.monotonic() < deadline:
            self._read(0.1)
            status = self.child.poll()
        if status is None:
            self.child.kill()
            self.child.wait()
            raise AssertionError(f"still running; screen: {self.screen!r}")
        while self._read(0.1):
            pass
        return status

    def echo_is_on(self) -> bool:
        """Whether the terminal echoes again (a password prompt must restore it)."""
        return bool(termios.tcgetattr(self.slave)[3] & termios.ECHO)

    def close(self) -> None:
        """Free the pty (the child is waited for)."""
        if self.child.poll() is None:
            self.child.kill()
        self.child.wait()
        os.close(self.master)
        os.close(self.slave)


@pytest.fixture
def terminals() -> Iterator[list[Terminal]]:
    """Terminals opened by a test, closed after it."""
    opened: list[Terminal] = []
    yield opened
    for terminal in opened:
        terminal.close()


def run(terminals: list[Terminal], *args: str) -> Terminal:
    terminal = Terminal(*args)
    terminals.append(terminal)
    return terminal


LOGIN = "auth required {pytest} msg=info:Welcome [msg=echo_on:Name: ] [msg=echo_off:Password: ] expect=1:bob expect=2:s3cret"


def test_password_not_echoed_name_echoed(pam_stack: pamstack.StackFactory, terminals: list[Terminal]) -> None:
    term = run(terminals, "--confdir", pam_stack([LOGIN]), "pytest", "alice", "authenticate")
    term.expect(b"Name: ")
    term.type(b"bob\n")
    term.expect(b"Password: ")
    term.type(b"s3cret\n")
    assert term.finish() == 0
    assert term.screen == b"Welcome\nName: bob\nPassword: \npam-tester: successfully authenticated\n"
    assert b"s3cret" not in term.screen


def test_wrong_password_at_the_terminal(pam_stack: pamstack.StackFactory, terminals: list[Terminal]) -> None:
    term = run(terminals, "--confdir", pam_stack([LOGIN]), "pytest", "alice", "authenticate")
    term.expect(b"Name: ")
    term.type(b"bob\n")
    term.expect(b"Password: ")
    term.type(b"guess\n")
    assert term.finish() == 1
    failure = pam.PamError.from_code(pam.PAM_AUTH_ERR).strerror  # this PAM's words
    assert term.screen.endswith(b"Password: \npam-tester: " + failure.encode() + b"\n")
    assert b"guess" not in term.screen


def test_ctrl_c_at_password_prompt(pam_stack: pamstack.StackFactory, terminals: list[Terminal]) -> None:
    term = run(terminals, "--confdir", pam_stack([LOGIN]), "pytest", "alice", "authenticate", "acct_mgmt")
    term.expect(b"Name: ")
    term.type(b"bob\n")
    term.expect(b"Password: ")
    assert not term.echo_is_on()
    term.type(b"\x03")
    assert term.finish() == 130
    assert b"Traceback" not in term.screen and b"KeyboardInterrupt" not in term.screen
    assert b"pam-tester:" not in term.screen  # neither operation reported
    assert term.echo_is_on()


def test_ctrl_c_at_echoed_prompt(pam_stack: pamstack.StackFactory, terminals: list[Terminal]) -> None:
    term = run(terminals, "--confdir", pam_stack([LOGIN]), "pytest", "alice", "authenticate")
    term.expect(b"Name: ")
    term.type(b"bo\x03")
    assert term.finish() == 130
    assert b"Traceback" not in term.screen


def test_ctrl_d_is_no_answer(pam_stack: pamstack.StackFactory, terminals: list[Terminal]) -> None:
    stack = ["account required {pytest} [msg=echo_on:Name: ] [msg=echo_off:Password: ]"]
    term = run(terminals, "--confdir", pam_stack(stack), "pytest", "alice", "acct_mgmt", "--print-env")
    term.expect(b"Name: ")
    term.type(b"\x04")
    term.expect(b"Password: ")
    term.type(b"\x04")
    assert term.finish() == 0
    assert b"PYTEST_RESP_0=<null>\nPYTEST_RESP_1=<null>\n" in term.screen


def test_error_and_info_messages_at_the_terminal(pam_stack: pamstack.StackFactory, terminals: list[Terminal]) -> None:
    stack = ["account required {pytest} [msg=error:Account locked soon] [msg=info:Last login: never]"]
    term = run(terminals, "--confdir", pam_stack(stack), "pytest", "alice", "acct_mgmt")
    assert term.finish() == 0
    assert term.screen == b"Account locked soon\nLast login: never\npam-tester: account management done.\n"


def test_responses_file_wins_over_the_terminal(
    pam_stack: pamstack.StackFactory, terminals: list[Terminal], tmp_path: Path
) -> None:
    answers = tmp_path / "answers"
    answers.write_text("bob\ns3cret\n")
    term = run(terminals, "--confdir", pam_stack([LOGIN]), "--responses", str(answers), "pytest", "alice", "authenticate")
    assert term.finish() == 0
    # Prompts shown, answers not (they come from the file, as pamtester's
    # from a pipe).
    assert term.screen == b"Welcome\nName: Password: pam-tester: successfully authenticated\n"


def test_typed_bytes_the_terminal_cannot_decode(
    pam_stack: pamstack.StackFactory, terminals: list[Terminal], tmp_path: Path
) -> None:
    # A password typed in Latin-1 on a UTF-8 terminal: whatever the default
    # conversation makes of it, the run ends cleanly with a status and a
    # reason, never a traceback.
    stack = ["auth required {pytest} [msg=echo_off:Password: ]"]
    term = run(terminals, "--confdir", pam_stack(stack), "pytest", "alice", "authenticate")
    term.expect(b"Password: ")
    term.type(b"caf\xe9\n")
    status = term.finish()
    assert b"Traceback" not in term.screen
    if status == 0:
        assert term.screen.endswith(b"pam-tester: successfully authenticated\n")
    else:
        assert status == 1
        assert b"pam-tester: conversation failed: " in term.screen
        assert term.screen.endswith(b"pam-tester: Conversation error\n")
