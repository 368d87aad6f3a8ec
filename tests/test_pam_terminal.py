"""The default conversation on a real (pseudo-)terminal."""

from __future__ import annotations

import os
import pty
import select
import sys
import time
from pathlib import Path

from pamstack import StackFactory

CHILD = r"""
import sys
from draxoft.auth import pam
h = pam.handle("pytest", "alice", confdir=sys.argv[1])
h._elevated = True  # read what the module recorded, also as a normal user
try:
    ok = h.authenticate()
except KeyboardInterrupt:
    print("KeyboardInterrupt", flush=True)
    sys.exit(0)
print("result", ok, ascii(dict(h.environment)), flush=True)
"""


def run_on_terminal(confdir: str, keys: list[tuple[bytes, bytes]], timeout: float = 20.0) -> bytes:
    """Run CHILD with a new pty as its controlling terminal; answer each
    expected prompt (first of a pair) with the keys (second); return all output."""
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.execv(sys.executable, [sys.executable, "-c", CHILD, confdir])
    output = b""
    deadline = time.monotonic() + timeout
    pending = list(keys)
    try:
        while time.monotonic() < deadline:
            if pending and pending[0][0] in output:
                _, answer = pending.pop(0)
                os.write(fd, answer)
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                output += chunk
        else:
            os.kill(pid, 9)
            raise AssertionError(f"child did not finish: {output!r}")
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, (status, output)
    return output


def test_password_is_not_echoed_and_name_is(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} [msg=echo_on:Name: ] [msg=echo_off:Secret: ] msg=info:note"])
    out = run_on_terminal(confdir, [(b"Name: ", b"zed\n"), (b"Secret: ", b"hunter2\n")])
    assert b"zed" in out.split(b"Secret: ")[0]  # echoed
    assert b"hunter2" not in out.split(b"result")[0]  # not echoed
    assert b"note" in out
    assert b"'PYTEST_RESP_0': 'zed'" in out
    assert b"'PYTEST_RESP_1': 'hunter2'" in out


def test_ctrl_c_at_the_password_prompt_is_keyboard_interrupt(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} [msg=echo_off:Secret: ]"])
    out = run_on_terminal(confdir, [(b"Secret: ", b"\x03")])
    assert b"KeyboardInterrupt" in out


def test_ctrl_c_at_an_echoed_prompt_is_keyboard_interrupt(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} [msg=echo_on:Name: ]"])
    out = run_on_terminal(confdir, [(b"Name: ", b"\x03")])
    assert b"KeyboardInterrupt" in out


def test_bytes_that_are_not_utf8_pass_through_the_prompts(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} [msg=echo_on:Name: ] [msg=echo_off:Secret: ]"])
    out = run_on_terminal(confdir, [(b"Name: ", b"n\xe9e\n"), (b"Secret: ", b"caf\xe9\n")])
    # The module got the very bytes typed (recorded as text, shown by ascii()).
    assert b"'PYTEST_RESP_0': 'n\\udce9e'" in out
    assert b"'PYTEST_RESP_1': 'caf\\udce9'" in out


def test_messages_that_are_not_utf8_reach_a_strict_stdout(pam_stack: StackFactory, tmp_path: Path) -> None:
    import subprocess

    confdir = pam_stack(["account required {pytest} [msg=info:PLACEHOLDER] [msg=error:PLACEHOLDER]"])
    service = Path(confdir) / "pytest"
    service.write_bytes(service.read_bytes().replace(b"PLACEHOLDER", b"caf\xe9"))
    code = "import sys; from draxoft.auth import pam; pam.handle('pytest', 'alice', confdir=sys.argv[1]).acct_mgmt()"
    done = subprocess.run(
        [sys.executable, "-c", code, confdir],
        capture_output=True,
        env={**os.environ, "PYTHONIOENCODING": "utf-8:strict"},
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"caf\xe9\n"
    assert done.stderr == b"caf\xe9\n"
