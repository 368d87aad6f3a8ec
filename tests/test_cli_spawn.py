"""pam-tester --spawn and the run step: a program run as the user inside
the transaction, against real stacks.

As root the program runs as ``daemon``, an account the machine already
has; the PAM calls are read from pam_steplog's log (tests/modules).
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import pytest

from draxoft.auth import pam

from pamstack import StackFactory

COMMAND = [sys.executable, "-W", "error", "-m", "draxoft.auth.pam"]
#: Who the tests that need no root run their program as: oneself.
ME = pwd.getpwuid(os.getuid()).pw_name

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="starting a program as another user needs root")


@pytest.fixture
def shared() -> Iterator[Path]:
    """A log that the user's program may append to too (tmp_path is root's alone)."""
    place = Path(tempfile.mkdtemp(prefix="draxoft-cli-spawn-"))
    try:
        place.chmod(0o755)
        (place / "log").touch()
        (place / "log").chmod(0o666)
        yield place
    finally:
        shutil.rmtree(place)


@pytest.fixture
def confdir(pam_stack: StackFactory, shared: Path) -> str:
    line = f"{{steplog}} log={shared / 'log'}"
    return pam_stack([
        f"auth     required {line}",
        f"account  required {line}",
        f"password required {line}",
        f"session  required {line}",
        "session  required pam_permit.so",
    ])


def pam_tester(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*COMMAND, *args], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL, check=False, **kw)  # type: ignore[call-overload]


def logged(shared: Path) -> list[str]:
    """The log's lines, the pid and euid left out."""
    return [re.sub(r" pid=\d+ euid=\d+$", "", line) for line in (shared / "log").read_text().splitlines()]


def pids(shared: Path) -> set[str]:
    return set(re.findall(r" pid=(\d+) ", (shared / "log").read_text()))


@needs_root
def test_spawn_alone_runs_a_whole_login(confdir: str, shared: Path) -> None:
    program = f'echo "child $(id -un) $(pwd)" >> {shared}/log; echo "as $(id -un)"; exit 5'
    done = pam_tester("--confdir", confdir, "pytest", "daemon", "--spawn", "sh", "-c", program)
    assert done.returncode == 5, done.stderr
    assert done.stdout.splitlines() == [
        "pam-tester: successfully authenticated",
        "pam-tester: account management done.",
        "pam-tester: credential info has successfully been set.",
        "pam-tester: successfully opened a session",
        "as daemon",
        "pam-tester: sh exited with status 5",
        "pam-tester: session has successfully been closed.",
        "pam-tester: credential info has successfully been set.",
    ]
    assert logged(shared) == [
        "authenticate flags=0",
        "acct_mgmt flags=0",
        f"setcred flags={pam.PAM_ESTABLISH_CRED:#x}",
        "open_session flags=0",
        "child daemon /usr/sbin",
        "close_session flags=0",
        f"setcred flags={pam.PAM_DELETE_CRED:#x}",
    ]
    assert len(pids(shared)) == 1  # every PAM call in pam-tester itself


@needs_root
def test_run_where_the_operations_say(confdir: str, shared: Path) -> None:
    done = pam_tester("--confdir", confdir, "pytest", "daemon", "open_session", "RUN", "close_session", "run",
                  "--spawn", "sh", "-c", f"echo child >> {shared}/log")
    assert done.returncode == 0, done.stderr
    assert logged(shared) == ["open_session flags=0", "child", "close_session flags=0", "child"]
    assert done.stdout.count("pam-tester: sh exited with status 0") == 2


@needs_root
def test_spawn_written_with_an_equals_sign(confdir: str) -> None:
    done = pam_tester("--confdir", confdir, "pytest", "daemon", "run", "--spawn=id", "-un")
    assert (done.returncode, done.stdout) == (0, "daemon\npam-tester: id exited with status 0\n"), done.stderr


def test_a_program_that_cannot_start_stops_the_run(confdir: str, shared: Path) -> None:
    done = pam_tester("--confdir", confdir, "pytest", ME, "open_session", "run", "close_session",
                  "--spawn", "/nonexistent/program")
    assert done.returncode == 1
    assert done.stderr == "pam-tester: run: /nonexistent/program: No such file or directory\n"
    assert logged(shared) == ["open_session flags=0"]


def test_a_program_killed_by_a_signal(confdir: str) -> None:
    done = pam_tester("--confdir", confdir, "pytest", ME, "run", "--spawn", "sh", "-c", "kill -KILL $$")
    assert done.returncode == 128 + signal.SIGKILL
    assert done.stdout == "pam-tester: sh was killed by SIGKILL\n"


def test_a_failure_after_the_program_sets_the_status(pam_stack: StackFactory, shared: Path) -> None:
    confdir = pam_stack([f"session required {{steplog}} log={shared / 'log'} fail=close_session"])
    done = pam_tester("--confdir", confdir, "pytest", ME, "run", "close_session", "--spawn", "true")
    assert done.returncode == 1
    assert done.stdout == "pam-tester: true exited with status 0\n"
    assert done.stderr.startswith("pam-tester: ")


@pytest.mark.parametrize(
    "args, message",
    [
        (["run"], "the run step needs a program: --spawn PROGRAM [ARG...]"),
        (["open_session", "--spawn", "true"], "--spawn needs a run step among the operations"),
        (["run(PAM_SILENT)", "--spawn", "true"], "run takes no flags"),
        (["--spawn"], "--spawn needs a program"),
        (["--spawn="], "--spawn needs a program"),
        (["frobnicate"], "(operations: authenticate, acct_mgmt, open_session, close_session, chauthtok, "
                         "setcred, run)"),
    ],
)
def test_usage_errors(confdir: str, shared: Path, args: list[str], message: str) -> None:
    done = pam_tester("--confdir", confdir, "pytest", "root", *args)
    assert done.returncode == 2
    assert message in done.stderr
    assert logged(shared) == []  # nothing ran


def test_words_after_spawn_belong_to_the_program(confdir: str) -> None:
    # --print-env after --spawn is the program's argument, not an option.
    done = pam_tester("--confdir", confdir, "pytest", ME, "run", "--spawn", "echo", "--print-env", "-v")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "--print-env -v\npam-tester: echo exited with status 0\n"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
@needs_root
def test_a_signal_goes_to_the_program_and_the_session_still_closes(
    confdir: str, shared: Path, signum: int
) -> None:
    running = subprocess.Popen(
        [*COMMAND, "--confdir", confdir, "pytest", "daemon",
         "--spawn", "sh", "-c", f"echo child >> {shared}/log; exec sleep 60"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
    )
    deadline = time.monotonic() + 60
    while "child" not in logged(shared):
        assert time.monotonic() < deadline and running.poll() is None, running.communicate()
        time.sleep(0.05)
    running.send_signal(signum)
    out, err = running.communicate(timeout=60)
    assert running.returncode == 128 + signum, err
    assert f"pam-tester: sh was killed by {signal.Signals(signum).name}" in out
    assert logged(shared)[-3:] == ["child", "close_session flags=0", f"setcred flags={pam.PAM_DELETE_CRED:#x}"]
    assert pids(shared) == {str(running.pid)}
