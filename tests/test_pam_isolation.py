"""isolated=True: transactions whose modules run in a worker process.

Modules: tests/modules/pam_faulty.c (crashes, aborts, exits, hangs,
scribbles), pam_steplog.c (which process made each PAM call), pam_pytest.c
(conversations, environment, delays) and pam_hostile.c (many
conversations). The application, this pytest process, must survive every
one of them with the documented error, and leave no child behind.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

import pamstack
from conftest import keep_environment
from draxoft.auth import pam
from draxoft.auth.pam import _wire, aio, isolation
from pamstack import StackFactory

# Under scripts/valgrind-suite.sh, valgrind names each traced process's
# log after this variable, and refuses to start one that lacks it: the
# workers get it the way an application gives its modules what they read.
if "DRAXOFT_VG_TAG" in os.environ and "DRAXOFT_VG_TAG" not in isolation.PASSED_ON:
    isolation.PASSED_ON += ("DRAXOFT_VG_TAG",)

# The same, for the applications that tests run as programs of their own.
VALGRIND_TAG_PASSED_ON = """
import os, sys
from draxoft.auth import pam
from draxoft.auth.pam import isolation
if "DRAXOFT_VG_TAG" in os.environ:
    isolation.PASSED_ON += ("DRAXOFT_VG_TAG",)
"""

linux_pam_only = pytest.mark.skipif(pamstack.is_openpam(), reason="pam_fail_delay is Linux-PAM's")


def children() -> set[int]:
    """The pids of this process's children (every thread's)."""
    found: set[int] = set()
    for task in Path("/proc/self/task").iterdir():
        text = (task / "children").read_text()
        found.update(int(pid) for pid in text.split())
    return found


def workers_alive() -> set[int]:
    """The children that are isolated workers (pytest-xdist has none of its own here)."""
    return {pid for pid in children() if "draxoft.auth.pam._worker" in _cmdline(pid)}


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytest.fixture(autouse=True)
def no_worker_left_behind() -> Iterator[None]:
    """Every test ends with its workers idle in the pool or gone: none
    busy, none a zombie."""
    yield
    gc.collect()
    idle = {p.popen.pid for p in isolation._pool.idle}
    for pid in workers_alive() - idle:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
        assert state != "Z", f"worker {pid} left a zombie"


def answer(value: Any) -> Callable[[int, Any, Any], Any]:
    calls: list[tuple[int, Any]] = []

    def conv(style: int, message: Any, data: Any) -> Any:
        calls.append((style, message))
        return value

    conv.calls = calls  # type: ignore[attr-defined]
    return conv


def steps(log: Path) -> list[list[str]]:
    return [line.split() for line in log.read_text().splitlines()] if log.exists() else []


# ----------------------------------------------------------------------
# An isolated handle behaves as a handle


def test_every_pam_call_runs_in_the_worker(pam_stack: StackFactory, tmp_path: Path) -> None:
    log = tmp_path / "steps"
    confdir = pam_stack({"pytest": [
        f"auth required {{steplog}} log={log}",
        f"account required {{steplog}} log={log}",
        f"session required {{steplog}} log={log} data",
        f"password required {{steplog}} log={log}",
    ]})
    with pam.handle("pytest", "alice", answer("x"), confdir=confdir, isolated=True) as h:
        assert isinstance(h, pam.handle)
        assert "isolated" in repr(h)
        assert h.authenticate() is True
        h.acct_mgmt()
        h.establish_credentials()
        h.open_session()
        h.close_session()
    assert h.closed
    lines = steps(log)
    assert [line[0] for line in lines] == [
        "authenticate", "acct_mgmt", "setcred", "open_session", "close_session", "cleanup"
    ]
    pids = {line[-2] for line in lines}
    assert len(pids) == 1 and pids != {f"pid={os.getpid()}"}


def test_the_application_never_loads_the_modules(pam_stack: StackFactory, module_placeholders: dict[str, str]) -> None:
    confdir = pam_stack(["auth required {faulty} ret=0"])
    with pam.handle("pytest", "alice", None, confdir=confdir, isolated=True) as h:
        assert h.authenticate() is True
        maps = Path("/proc/self/maps").read_text()
        assert module_placeholders["faulty"] not in maps
        worker = h._low.link.process.popen.pid
        assert module_placeholders["faulty"] in Path(f"/proc/{worker}/maps").read_text()


def test_items_environment_status_and_close(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} setenv=FROM_MODULE=1 ret=PAM_AUTH_ERR"])
    h = pam.handle("pytest", "alice", None, confdir=confdir, isolated=True, rhost="192.0.2.1", tty="pts/1")
    assert (h.user, h.rhost, h.tty, h.service) == ("alice", "192.0.2.1", "pts/1", "pytest")
    h.user = "bob"
    h.ruser = b"carol"
    assert (h.user, h.ruser) == ("bob", "carol")
    h.environment["MINE"] = "yes"
    assert h.environment["MINE"] == "yes"
    assert "MINE" in h.environment and len(h.environment) == 1
    assert h.authenticate() is False
    assert h.status == pam.PAM_AUTH_ERR
    # Scrubbed after authenticate, as in process: the module's secret too.
    assert dict(h.environment) in ({}, {"MINE": "", "FROM_MODULE": ""})
    h.close()
    h.close()
    assert h.closed and h.status == pam.PAM_AUTH_ERR
    with pytest.raises(ValueError, match="the PAM handle is closed"):
        h.authenticate()
    with pytest.raises(ValueError, match="the PAM handle is closed"):
        h.user


def test_elevated_keeps_the_environment(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} setenv=FROM_MODULE=1"])
    with pam.handle("pytest", "alice", None, confdir=confdir, isolated=True) as h:
        keep_environment(h)
        assert h.authenticate() is True
        assert h.environment["FROM_MODULE"] == "1"


def test_call_passes_flags_and_returns_codes(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["account required {pytest} stage ret=PAM_ACCT_EXPIRED"])
    with pam.handle("pytest", "alice", None, confdir=confdir, isolated=True) as h:
        assert h.call("acct_mgmt", pam.PAM_SILENT) == pam.PAM_ACCT_EXPIRED
        with pytest.raises(pam.PamError) as caught:
            h.acct_mgmt()
        assert caught.value.errno == pam.PAM_ACCT_EXPIRED


def test_a_missing_service_is_the_same_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="'nothing-here' not found"):
        pam.handle("nothing-here", "alice", None, confdir=str(tmp_path), isolated=True)
    with pytest.raises(FileNotFoundError, match="confdir"):
        pam.handle("x", "alice", None, confdir=str(tmp_path / "absent"), isolated=True)


# ----------------------------------------------------------------------
# Callbacks run in the application


def test_the_conversation_crosses_with_its_arguments(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} msg=echo_off:secret? msg=echo_on:name? msg=info:hello "
                         "msg=error:oops expect=0:s3cret expect=1:alice"])
    marker = threading.Lock()  # data never crosses: it could not be pickled either
    seen: list[tuple[int, Any, Any]] = []

    def conv(style: int, message: Any, data: Any) -> Any:
        seen.append((style, message, data))
        return {pam.PAM_PROMPT_ECHO_OFF: bytearray(b"s3cret"), pam.PAM_PROMPT_ECHO_ON: "alice"}.get(style)

    with pam.handle("pytest", "alice", conv, data=marker, confdir=confdir, isolated=True) as h:
        assert h.authenticate() is True
    assert [(s, m) for s, m, _ in seen] == [
        (pam.PAM_PROMPT_ECHO_OFF, "secret?"), (pam.PAM_PROMPT_ECHO_ON, "name?"),
        (pam.PAM_TEXT_INFO, "hello"), (pam.PAM_ERROR_MSG, "oops"),
    ]
    assert all(d is marker for _, _, d in seen)


def test_what_the_conversation_raises_comes_out_unchanged(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} msg=echo_off:one msg=echo_off:two"])
    error = KeyError("mine")
    calls = []

    def conv(style: int, message: Any, data: Any) -> Any:
        calls.append(message)
        raise error

    with pam.handle("pytest", "alice", conv, confdir=confdir, isolated=True) as h:
        with pytest.raises(KeyError) as caught:
            h.authenticate()
        assert caught.value is error
        assert calls == ["one"]  # once a callback failed, PAM is told no
        conv_ok = answer("fine")
        h.conv = conv_ok
        assert h.authenticate() is True  # the handle goes on
        assert len(conv_ok.calls) == 2  # type: ignore[attr-defined]


def test_a_wrong_answer_type_is_the_same_type_error(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} msg=echo_off:pw"])
    for isolated in (False, True):
        with pam.handle("pytest", "alice", answer(42), confdir=confdir, isolated=isolated) as h:
            with pytest.raises(TypeError, match="a conversation response must be str, bytes, bytearray or None, not int"):
                h.authenticate()


def test_an_answer_with_a_nul_is_the_low_layers_value_error(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} msg=echo_off:pw"])
    messages = []
    for isolated in (False, True):
        with pam.handle("pytest", "alice", answer("a\0b"), confdir=confdir, isolated=isolated) as h:
            with pytest.raises(ValueError) as caught:
                h.authenticate()
            messages.append(str(caught.value))
    assert messages[0] == messages[1]


def test_no_conversation_is_refused_in_the_worker(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} msg=echo_off:pw"])
    with pam.handle("pytest", "alice", None, confdir=confdir, isolated=True) as h:
        assert h.call("authenticate") == pam.PAM_CONV_ERR


def test_a_thousand_conversations_cross(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {hostile} calls=1000"])
    conv = answer("ok")
    with pam.handle("pytest", "alice", conv, confdir=confdir, isolated=True) as h:
        keep_environment(h)
        assert h.authenticate() is True
        assert h.environment["HOSTILE_CALLS"] == "1000"
    assert len(conv.calls) == 1000  # type: ignore[attr-defined]


@linux_pam_only
def test_the_delay_callback_runs_here(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} delay=250000 ret=PAM_AUTH_ERR"])
    delays: list[tuple[int, int, Any]] = []
    started = time.monotonic()
    with pam.handle("pytest", "alice", None, lambda rc, usec, data: delays.append((rc, usec, data)),
                    data="d", confdir=confdir, isolated=True) as h:
        assert h.authenticate() is False
        h.fail_delay(1000)  # type: ignore[attr-defined]
    assert delays and delays[0][0] == pam.PAM_AUTH_ERR and delays[0][2] == "d"
    assert time.monotonic() - started < 2  # the worker did not sleep instead


def test_the_scrub_follows_a_raising_conversation(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} setenv=TOKEN=t msg=echo_off:pw"])

    def conv(style: int, message: Any, data: Any) -> Any:
        raise RuntimeError("no")

    with pam.handle("pytest", "alice", conv, confdir=confdir, isolated=True) as h:
        with pytest.raises(RuntimeError):
            h.authenticate()
        assert h.environment.get("TOKEN", "") == ""


# ----------------------------------------------------------------------
# Modules that crash, exit or hang


@pytest.fixture
def crashes_are_signals(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Under AddressSanitizer (.ci/sanitizers.sh) a SIGSEGV would be
    caught by the sanitizer, reported and turned into exit status 1: the
    workers of a crash test leave their deliberate SIGSEGV to the kernel,
    as they do without the sanitizer."""
    options = os.environ.get("ASAN_OPTIONS")
    if options is None:
        yield
        return
    monkeypatch.setenv("ASAN_OPTIONS", options + ":handle_segv=0:handle_sigbus=0:handle_abort=0")
    isolation.shutdown()  # workers started from now on get it
    yield
    isolation.shutdown()



@pytest.mark.parametrize("option, signum", [("segv", signal.SIGSEGV), ("abort", signal.SIGABRT)])
@pytest.mark.usefixtures("crashes_are_signals")
def test_a_module_that_crashes_costs_one_transaction(pam_stack: StackFactory, option: str, signum: int) -> None:
    confdir = pam_stack([f"auth required {{faulty}} {option}"])
    h = pam.handle("pytest", "alice", None, confdir=confdir, isolated=True)
    with pytest.raises(pam.WorkerDied) as caught:
        h.authenticate()
    error = caught.value
    assert isinstance(error, pam.PamError)
    assert error.errno == pam.PAM_SYSTEM_ERR
    assert error.signal == signum and error.exit_status is None
    assert signal.Signals(signum).name in str(error)
    assert h.closed
    h.close()  # nothing left to end
    with pytest.raises(ValueError, match="the PAM handle is closed"):
        h.acct_mgmt()
    # The application goes on: the next transaction works.
    ok = pam_stack(["auth required {faulty} ret=0"])
    assert pam.handle("pytest", "alice", None, confdir=ok, isolated=True).authenticate() is True


def test_a_module_that_exits(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["account required {faulty} exit=3"])
    with pam.handle("pytest", "alice", None, confdir=confdir, isolated=True) as h:
        with pytest.raises(pam.WorkerDied, match="exited") as caught:
            h.acct_mgmt()
    assert caught.value.signal is None and caught.value.exit_status == 3


@pytest.mark.usefixtures("crashes_are_signals")
def test_authenticate_survives_a_crash(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {faulty} segv"])
    with pytest.raises(pam.WorkerDied):
        pam.authenticate("alice", "pw", "pytest", confdir=confdir, isolated=True)


@pytest.mark.usefixtures("crashes_are_signals")
def test_a_crash_in_pam_end(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {faulty} endsegv"])
    h = pam.handle("pytest", "alice", None, confdir=confdir, isolated=True)
    assert h.authenticate() is True
    with pytest.raises(pam.WorkerDied):
        h.close()
    assert h.closed


def test_a_hanging_module_is_killed_at_the_timeout(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {faulty} hang"])
    h = pam.handle("pytest", "alice", None, confdir=confdir, isolated=True, timeout=1)
    worker = h._low.link.process.popen.pid
    started = time.monotonic()
    with pytest.raises(TimeoutError) as caught:
        h.authenticate()
    elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 3, elapsed
    assert "killed" in str(caught.value)
    assert h.closed
    assert worker not in children()  # killed and reaped: no zombie either


def running(command: str) -> list[int]:
    """The pids of every process on the machine whose command line is *command*."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _cmdline(int(entry.name)).strip() == command:
            found.append(int(entry.name))
    return found


@pytest.mark.skipif(pamstack.is_openpam(), reason="pam_exec is Linux-PAM's")
def test_the_programs_a_module_started_are_killed_too(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required pam_exec.so /bin/sleep 37.25"])
    with pytest.raises(TimeoutError):
        pam.authenticate("alice", "pw", "pytest", confdir=confdir, isolated=True, timeout=0.5)
    deadline = time.monotonic() + 2  # SIGKILL is delivered, not waited for
    while running("/bin/sleep 37.25") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert running("/bin/sleep 37.25") == []


def test_authenticate_keeps_its_timeout(pam_stack: StackFactory) -> None:
    confdir = pam_stack({"pytest": ["auth required {faulty} hang"],
                         "warm": ["auth required {faulty} ret=0", "account required {faulty} ret=0"]})
    # A warm worker: starting one is not counted, and may take seconds
    # under valgrind.
    assert pam.authenticate("alice", "pw", "warm", confdir=confdir, isolated=True)
    before = workers_alive()
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        pam.authenticate("alice", "pw", "pytest", confdir=confdir, isolated=True, timeout=0.5)
    assert time.monotonic() - started < 2.5
    assert workers_alive() <= before


def test_a_hang_in_pam_end_is_killed_too(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {faulty} endhang"])
    h = pam.handle("pytest", "alice", None, confdir=confdir, isolated=True, timeout=0.5)
    assert h.authenticate() is True
    with pytest.raises(TimeoutError):
        h.close()
    assert h.closed


class Interrupted(Exception):
    pass


def test_an_interrupted_wait_ends_the_worker(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {faulty} hang"])
    h = pam.handle("pytest", "alice", None, confdir=confdir, isolated=True)  # no timeout

    def interrupt(signum: int, frame: Any) -> None:
        raise Interrupted  # what Ctrl-C's KeyboardInterrupt does

    worker = h._low.link.process.popen.pid
    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        with pytest.raises(Interrupted):
            h.authenticate()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert h.closed
    assert worker not in children()


def test_time_spent_in_the_conversation_is_not_counted(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} msg=echo_off:a msg=echo_off:b"])

    def slow(style: int, message: Any, data: Any) -> str:
        time.sleep(0.4)
        return "x"

    with pam.handle("pytest", "alice", slow, confdir=confdir, isolated=True, timeout=0.5) as h:
        assert h.authenticate() is True


def test_garbage_on_stdout_and_stderr_does_not_reach_the_exchange(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {faulty} garbage", "account required {faulty} garbage ret=0"])
    conv = answer("x")
    with pam.handle("pytest", "alice", conv, confdir=confdir, isolated=True) as h:
        assert h.authenticate() is True
        h.acct_mgmt()


# ----------------------------------------------------------------------
# Life cycle: garbage collection, threads, fork


def test_a_dropped_handle_is_ended_in_its_worker(pam_stack: StackFactory, tmp_path: Path) -> None:
    log = tmp_path / "steps"
    confdir = pam_stack({"pytest": [f"session required {{steplog}} log={log} data"]})
    h = pam.handle("pytest", "alice", None, confdir=confdir, isolated=True)
    h.open_session()
    del h
    gc.collect()
    deadline = time.monotonic() + 5
    while not any(line[0] == "cleanup" for line in steps(log)) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [line[0] for line in steps(log)] == ["open_session", "cleanup"]


def test_threads_each_get_a_worker(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} msg=echo_off:pw expect=0:right", "account required {pytest}"])
    results: list[bool] = []
    errors: list[BaseException] = []

    def run(password: str) -> None:
        try:
            for _ in range(5):
                results.append(pam.authenticate("alice", password, "pytest", confdir=confdir, isolated=True))
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=("right" if i % 2 else "wrong",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert results.count(True) == 15 and results.count(False) == 15


def test_after_fork_the_child_has_workers_of_its_own(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {faulty} ret=0", "account required {faulty} ret=0"])
    parents = pam.handle("pytest", "alice", None, confdir=confdir, isolated=True)
    pid = os.fork()
    if pid == 0:  # the child: report through the exit status only
        status = 0
        try:
            try:
                parents.authenticate()
                status |= 1
            except RuntimeError:
                pass
            parents.close()  # forgets it; the parent's transaction stays
            if not pam.authenticate("alice", "x", "pytest", confdir=confdir, isolated=True):
                status |= 2
        except BaseException:
            status |= 4
        os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert parents.authenticate() is True
    parents.close()


# ----------------------------------------------------------------------
# pam.authenticate, pam.resident, aio


def test_authenticate_isolated_gives_the_same_verdicts(pam_stack: StackFactory) -> None:
    confdir = pam_stack({
        "pytest": ["auth required {pytest} msg=echo_on:login: msg=echo_off:pw expect=0:alice expect=1:right",
                   "account required {pytest} ret=PAM_SUCCESS"],
        "expired": ["auth required {pytest} ret=PAM_SUCCESS", "account required {pytest} ret=PAM_ACCT_EXPIRED"],
        "change": ["auth required {pytest} ret=PAM_SUCCESS", "account required {pytest} ret=PAM_NEW_AUTHTOK_REQD"],
        "broken": ["auth required {pytest} ret=PAM_SERVICE_ERR"],
    })
    for isolated in (False, True):
        check = dict(confdir=confdir, isolated=isolated)
        assert pam.authenticate("alice", "right", "pytest", **check) is True
        assert pam.authenticate("alice", bytearray(b"wrong"), "pytest", **check) is False
        assert pam.authenticate("alice", "x", "expired", **check) is False
        with pytest.raises(pam.PamError) as caught:
            pam.authenticate("alice", "x", "change", **check)
        assert caught.value.errno == pam.PAM_NEW_AUTHTOK_REQD
        with pytest.raises(pam.PamError) as caught:
            pam.authenticate("alice", "x", "broken", **check)
        assert caught.value.errno == pam.PAM_SERVICE_ERR
        with pytest.raises(FileNotFoundError):
            pam.authenticate("alice", "x", "absent", **check)


def test_the_callers_bytearray_is_left_alone(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} msg=echo_off:pw expect=0:right", "account required {pytest}"])
    password = bytearray(b"right")
    assert pam.authenticate("alice", password, "pytest", confdir=confdir, isolated=True) is True
    assert password == b"right"
    with pam.handle("pytest", "alice", lambda style, message, data: password,
                    confdir=confdir, isolated=True) as h:
        assert h.authenticate() is True
        assert h.authenticate() is True
    assert password == b"right"


def test_resident_keeps_modules_in_the_workers(pam_stack: StackFactory, module_placeholders: dict[str, str]) -> None:
    confdir = pam_stack(["auth required {faulty} ret=0", "account required {faulty} ret=0"])
    module = module_placeholders["faulty"]
    isolation.shutdown()
    with pam.resident("pytest", confdir=confdir, isolated=True) as kept:
        assert "isolated" in repr(kept)
        assert module not in Path("/proc/self/maps").read_text()
        (worker,) = isolation._pool.idle
        assert module in Path(f"/proc/{worker.popen.pid}/maps").read_text()
        assert pam.authenticate("alice", "x", "pytest", confdir=confdir, isolated=True)
        assert module in Path(f"/proc/{worker.popen.pid}/maps").read_text()
    assert kept.closed
    assert pam.authenticate("alice", "x", "pytest", confdir=confdir, isolated=True)
    (worker,) = isolation._pool.idle
    maps = Path(f"/proc/{worker.popen.pid}/maps").read_text()
    # (The sanitizer and memcheck runs make dlclose() a no-op: nothing is
    # ever unmapped there, see test_pam_resident.py.)
    assert module not in maps or "nodlclose" in maps


def test_resident_isolated_checks_the_service(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        pam.resident("absent", confdir=str(tmp_path), isolated=True)
    assert isolation._pool.kept == {}


def test_aio_isolated(pam_stack: StackFactory) -> None:
    confdir = pam_stack({
        "pytest": ["auth required {pytest} msg=echo_off:pw expect=0:right", "account required {pytest}"],
        "hang": ["auth required {faulty} hang"],
    })

    async def conv(style: int, message: Any, data: Any) -> str:
        await asyncio.sleep(0)
        return "right"

    async def main() -> None:
        assert await aio.authenticate("alice", "right", "pytest", confdir=confdir, isolated=True) is True
        assert await aio.authenticate("alice", "wrong", "pytest", confdir=confdir, isolated=True) is False
        async with aio.handle("pytest", "alice", conv, confdir=confdir, isolated=True, timeout=5) as h:
            assert await h.authenticate() is True
        async with aio.handle("hang", "alice", None, confdir=confdir, isolated=True, timeout=0.5) as h:
            with pytest.raises(TimeoutError):
                await h.authenticate()
            assert h.closed

    asyncio.run(main())


# ----------------------------------------------------------------------
# The worker process


def test_the_worker_gets_no_secret_from_the_environment(
    pam_stack: StackFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRAXOFT_TEST_API_TOKEN", "hunter2")
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    isolation.shutdown()  # a worker started now, with this environment
    confdir = pam_stack(["auth required {faulty} ret=0"])
    with pam.handle("pytest", "alice", None, confdir=confdir, isolated=True) as h:
        worker = h._low.link.process.popen.pid
        environ = Path(f"/proc/{worker}/environ").read_bytes().split(b"\0")
    assert not any(b"hunter2" in e for e in environ)
    assert b"LC_ALL=C.UTF-8" in environ


def test_passed_on_adds_what_modules_read(pam_stack: StackFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KRB5_CONFIG", "/etc/krb5-test.conf")
    monkeypatch.setattr(isolation, "PASSED_ON", isolation.PASSED_ON + ("KRB5_CONFIG",))
    isolation.shutdown()
    confdir = pam_stack(["auth required {faulty} ret=0"])
    with pam.handle("pytest", "alice", None, confdir=confdir, isolated=True) as h:
        worker = h._low.link.process.popen.pid
        environ = Path(f"/proc/{worker}/environ").read_bytes().split(b"\0")
    isolation.shutdown()
    assert b"KRB5_CONFIG=/etc/krb5-test.conf" in environ


def test_the_worker_inherits_no_file_descriptor(pam_stack: StackFactory, tmp_path: Path) -> None:
    isolation.shutdown()
    confdir = pam_stack(["auth required {faulty} ret=0"])
    with open(tmp_path / "open-here", "w") as f:
        os.set_inheritable(f.fileno(), True)
        with pam.handle("pytest", "alice", None, confdir=confdir, isolated=True) as h:
            worker = h._low.link.process.popen.pid
            targets = {os.readlink(p) for p in Path(f"/proc/{worker}/fd").iterdir()}
    assert str(tmp_path / "open-here") not in targets
    assert sum(t.startswith("socket:") for t in targets) == 1


def test_prestart_and_shutdown() -> None:
    isolation.shutdown()
    assert not isolation._pool.idle
    isolation.prestart(2)
    pids = {p.popen.pid for p in isolation._pool.idle}
    assert len(pids) == 2 and pids <= children()
    isolation.shutdown()
    assert not (pids & children())


# ----------------------------------------------------------------------
# Bad input: refused here, before any worker starts


@pytest.mark.parametrize("kwargs, error, words", [
    ({"isolated": 1}, TypeError, "isolated must be True or False"),
    ({"isolated": True, "timeout": "1"}, TypeError, "timeout must be a number"),
    ({"isolated": True, "timeout": 0}, ValueError, "positive"),
    ({"isolated": True, "timeout": -1.5}, ValueError, "positive"),
    ({"isolated": True, "timeout": float("nan")}, ValueError, "positive"),
    ({"timeout": 1}, ValueError, "timeout needs isolated=True"),
])
def test_bad_isolation_arguments(kwargs: dict[str, Any], error: type[Exception], words: str) -> None:
    isolation.shutdown()
    before = workers_alive()
    with pytest.raises(error, match=words):
        pam.handle("pytest", "alice", None, **kwargs)
    with pytest.raises(error, match=words):
        pam.authenticate("alice", "pw", "pytest", **kwargs)
    with pytest.raises(error, match=words):
        aio.handle("pytest", "alice", None, **kwargs)
    assert workers_alive() == before


def test_bad_arguments_are_checked_before_a_worker_starts() -> None:
    isolation.shutdown()
    before = workers_alive()
    with pytest.raises(TypeError, match="password must be str, bytes or bytearray, not None"):
        pam.authenticate("alice", None, "pytest", isolated=True)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="service"):
        pam.handle("", "alice", None, isolated=True)
    with pytest.raises(TypeError, match="conv"):
        pam.handle("pytest", "alice", 3, isolated=True)  # type: ignore[arg-type]
    assert workers_alive() == before


def test_a_worker_outlives_its_application_by_a_second_at_most(pam_stack: StackFactory, tmp_path: Path) -> None:
    confdir = pam_stack(["auth required {faulty} hang"])
    app = tmp_path / "app.py"
    app.write_text(
        VALGRIND_TAG_PASSED_ON
        + f"h = pam.handle('pytest', 'alice', None, confdir={confdir!r}, isolated=True)\n"
        "print(h._low.link.process.popen.pid, flush=True)\n"
        "h.authenticate()\n"
    )
    with subprocess.Popen([sys.executable, str(app)], stdout=subprocess.PIPE, text=True) as child:
        assert child.stdout is not None
        try:
            worker = int(child.stdout.readline())
            time.sleep(0.2)  # inside the hanging module
        finally:
            child.kill()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{worker}/stat").read_text().split()[2]
        except OSError:
            break  # exited and reaped
        if state == "Z":
            break  # exited; reaping it is init's business
        time.sleep(0.05)
    else:
        pytest.fail("the worker of a dead application is still running")


# ----------------------------------------------------------------------
# The wire: what a worker sends is read, never trusted


@pytest.mark.parametrize("values", [
    [None, True, False, 0, -1, 2**62, "", "é\udcff", b"", bytearray(b"\0\1"), [1, ["x", [b"y"]]]],
    ["conv", 1, b"Password: "],
])
def test_wire_round_trip(values: list[Any]) -> None:
    a, b = socket.socketpair()
    with a, b:
        _wire.send(a, *values)
        got = _wire.recv(b)
    assert got == [list(v) if isinstance(v, tuple) else v for v in values]
    assert all(type(g) is bytearray for g, v in zip(got, values) if isinstance(v, (bytes, bytearray)))


@pytest.mark.parametrize("frame", [
    b"",                                   # hung up
    b"\0\0",                               # hung up inside the length
    b"\0\0\0\x05l\0\0",                    # hung up inside the frame
    b"\0\0\0\x01N",                        # not a list
    b"\0\0\0\x05l\0\0\0\0",                # an empty list
    b"\0\0\0\x06l\0\0\0\x01Q",             # an unknown tag
    b"\0\0\0\x0al\0\0\0\x01s\0\0\0\x09",   # a string longer than its frame
    b"\0\0\0\x07l\0\0\0\x01s\xff",         # a broken length
    b"\xff\xff\xff\xff",                   # a frame too large to be honest
    b"\0\0\0\x07l\0\0\0\x01NN",            # bytes after the message
    b"\0\0\0\x0al\0\0\0\x01s\0\0\0\x01\xff",  # not UTF-8
])
def test_wire_refuses_what_is_not_a_message(frame: bytes) -> None:
    a, b = socket.socketpair()
    with a, b:
        a.sendall(frame)
        a.shutdown(socket.SHUT_WR)
        with pytest.raises(_wire.WireError):
            _wire.recv(b)


def test_wire_refuses_deep_nesting() -> None:
    a, b = socket.socketpair()
    value: Any = []
    for _ in range(20):
        value = [value]
    with a, b:
        _wire.send(a, value)
        with pytest.raises(_wire.WireError, match="deeply"):
            _wire.recv(b)


# ----------------------------------------------------------------------
# Passwords: no copy left in either process


def _holds(pid: str, marker: bytearray) -> list[str]:
    """The writable mappings of process *pid* that hold *marker*."""
    found = []
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            fields = line.split()
            if not fields[1].startswith("rw"):
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            if end - start > 1 << 30:
                continue  # AddressSanitizer's shadow memory, mostly unmapped
            # In pieces that overlap by a marker's length, so that a copy
            # across two pieces is found too.
            step = 1 << 20
            for offset in range(start, end, step):
                try:
                    mem.seek(offset)
                    piece = mem.read(min(step + len(marker), end - offset))
                except (OSError, ValueError, OverflowError):
                    break  # [vvar] and the like
                if piece.find(marker) >= 0:
                    found.append(line.strip())
                    break
    return found


def _random_secret() -> bytearray:
    """24 random letters, made in a bytearray only: no str or bytes copy
    of them exists anywhere for the scan to find."""
    secret = bytearray(24)
    for i, byte in enumerate(os.urandom(24)):
        secret[i] = 97 + byte % 26
    return secret


APPLICATION = VALGRIND_TAG_PASSED_ON + """
secret = bytearray(24)
assert sys.stdin.buffer.raw.readinto(secret) == 24  # straight into it: no other copy
confdir = sys.argv[1]
# One-shot (the password goes with the request) and conversation (the
# answer goes back to a prompt), each twice, on one worker.
for _ in range(2):
    assert pam.authenticate("alice", secret, "pytest", confdir=confdir, isolated=True)
with pam.handle("pytest", "alice", lambda style, message, data: secret, confdir=confdir, isolated=True) as h:
    worker = h._low.link.process.popen.pid
    assert h.authenticate() is True
    assert h.authenticate() is True
secret[:] = bytes(24)  # the caller wipes its own copy
print(worker, flush=True)
sys.stdin.read()  # stay alive, with the worker back in the pool, to be read
"""


@pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="needs /proc/PID/mem")
def test_no_copy_of_a_password_is_left_in_either_process(pam_stack: StackFactory) -> None:
    # pam_faulty's ask keeps no copy of the answer, and the transactions
    # never put it in an item: any copy left is the binding's.
    confdir = pam_stack(["auth required {faulty} ask", "account required {faulty}"])
    marker = _random_secret()
    app = subprocess.Popen([sys.executable, "-c", APPLICATION, confdir],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert app.stdin is not None and app.stdout is not None
    try:
        app.stdin.write(marker)
        app.stdin.flush()
        worker = app.stdout.readline().decode().strip()
        assert worker.isdigit(), worker
        assert _holds(worker, marker) == []
        assert _holds(str(app.pid), marker) == []
        # The scan does find a password that is still there.
        control = _holds(str(os.getpid()), marker)
        assert control != []
    finally:
        app.stdin.close()
        app.wait()
        app.stdout.close()
        marker[:] = bytes(len(marker))
