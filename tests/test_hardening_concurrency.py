"""Threads, fork(), signals and interpreter shutdown around live handles.

Situations a long-running privileged program meets: many threads starting
and dropping transactions at once, a handle ended by the garbage collector
in whatever thread it runs, fork() with a handle open (also while another
thread is in a PAM call on it), signals that arrive while libpam blocks, and
the interpreter exiting while a daemon thread sits in a PAM call or in one
of its callbacks. The allowed outcomes are results and documented
exceptions; crashes, hangs and leaks are not (the sanitized and valgrind
runs watch memory).
"""

from __future__ import annotations

import gc
import os
import random
import signal
import subprocess
import threading
import time
import warnings
import weakref
from pathlib import Path
from typing import Any, Callable

import pytest

import pamstack
from draxoft.auth import _pamlow as low
from draxoft.auth import pam
from conftest import keep_environment
from pamstack import StackFactory


def quiet(style: int, message: Any, data: Any) -> Any:
    return "pw" if style in (pam.PAM_PROMPT_ECHO_OFF, pam.PAM_PROMPT_ECHO_ON) else None


def run_child(code: str, *args: str, leak_check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """pamstack.run_isolated, optionally without the leak check at exit.

    A process that exits while a daemon thread is inside a PAM call or a
    callback abandons what that thread holds (its frames, the module's
    buffers; CPython ends such a thread if it wakes during finalization),
    and a forked child has the locks that CPython re-creates after fork()
    and leaks on purpose. Those are not leaks of the binding: the tests of
    such exits check for crashes, hangs and memory errors, not for leaks.
    Under ASan, leak detection is turned off for the child; under
    scripts/valgrind-suite.sh, its log is tagged so that its leaks are not
    counted (its memory errors still are).
    """
    changes: dict[str, str] = {}
    if not leak_check:
        if "ASAN_OPTIONS" in os.environ:
            changes["ASAN_OPTIONS"] = os.environ["ASAN_OPTIONS"] + ":detect_leaks=0"
        changes["DRAXOFT_VG_TAG"] = ".leaks-expected"
    return pamstack.run_isolated(code, *args, timeout=timeout, env=changes)


# ----------------------------------------------------------------------
# Threads


def test_many_threads_create_use_share_and_drop_handles(pam_stack: StackFactory) -> None:
    confdir = pam_stack(
        {
            "ok": ["auth required {pytest} msg=echo_off:pw msg=info:hi setenv=A=1", "account required pam_permit.so",
                   "session required {pytest} setenv=S=1", "password required pam_permit.so"],
            "bad": ["auth required {pytest} msg=echo_off:pw delay=100 ret=PAM_AUTH_ERR"],
        }
    )
    shared = [pam.handle("ok", "alice", quiet, confdir=confdir) for _ in range(4)]
    errors: list[BaseException] = []
    conv_refs = weakref.WeakSet()  # type: ignore[var-annotated]

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for i in range(40):
                action = rng.randrange(8)
                if action == 0:
                    h = pam.handle(rng.choice(["ok", "bad"]), "alice", quiet, confdir=confdir)
                    h.authenticate()
                    # dropped without close(): the collector or refcount ends it
                elif action == 1:
                    with pam.handle("ok", "alice", quiet, confdir=confdir) as h:
                        h.authenticate()
                        h.acct_mgmt()
                        h.open_session()
                        h.environment[f"T{seed}"] = str(i)
                        h.close_session()
                elif action == 2:
                    h = rng.choice(shared)
                    h.authenticate()
                    h.user = f"user{seed}"
                    h.environment[f"V{seed}"] = "x"
                    try:
                        del h.environment[f"V{seed}"]
                    except KeyError:
                        pass  # another thread's authenticate() scrubbed it
                elif action == 3:
                    def conv(style: int, message: Any, data: Any) -> Any:
                        return "pw"
                    conv_refs.add(conv)
                    h = pam.handle("bad", "alice", conv, lambda rc, usec, d: None, confdir=confdir)
                    h.data = h  # a cycle
                    assert h.authenticate() is False
                elif action == 4:
                    gc.collect()
                elif action == 5:
                    rc, lh = low.pam_start_confdir("ok", "alice", lambda s, m: b"pw", confdir)
                    low.pam_authenticate(lh, 0)
                    if rng.random() < 0.5:
                        low.pam_end(lh, 0)
                elif action == 6:
                    h = rng.choice(shared)
                    repr(h)
                    len(h.environment)
                    h.tty = "pts/1"
                else:
                    h = pam.handle("ok", None, quiet, confdir=confdir, rhost="192.0.2.1")
                    h.chauthtok()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a worker hung"
    assert errors == []
    for h in shared:
        h.close()
    gc.collect()
    assert len(conv_refs) == 0, "callbacks kept alive after their handles are gone"


def test_close_from_another_thread_waits_for_the_running_operation(pam_stack: StackFactory) -> None:
    h = pam.handle("pytest", "alice", quiet, confdir=pam_stack(["auth required {pytest} sleep=300"]))
    started = threading.Event()

    def close_soon() -> None:
        started.wait()
        time.sleep(0.05)
        h.close()

    t = threading.Thread(target=close_soon)
    t.start()
    started.set()
    assert h.authenticate() is True  # not cut short by the close
    t.join(10)
    assert h.closed
    with pytest.raises(ValueError):
        h.authenticate()


def test_threads_racing_to_use_and_close_one_handle(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} msg=echo_off:pw setenv=X=1"])
    for round_ in range(20):
        h = pam.handle("pytest", "alice", quiet, confdir=confdir)
        barrier = threading.Barrier(6)
        outcomes: list[str] = []

        def use() -> None:
            barrier.wait()
            for _ in range(5):
                try:
                    h.authenticate()
                    h.environment["Y"] = "2"
                    outcomes.append("ok")
                except ValueError:
                    outcomes.append("closed")

        def close() -> None:
            barrier.wait()
            time.sleep(random.random() / 1000)
            h.close()

        threads = [threading.Thread(target=use) for _ in range(5)] + [threading.Thread(target=close)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not any(t.is_alive() for t in threads)
        assert len(outcomes) == 25 and set(outcomes) <= {"ok", "closed"}


def test_collector_in_another_thread_ends_handles_while_others_run(pam_stack: StackFactory) -> None:
    # pam_end blocks a little (endsleep) inside the collection, with the GIL
    # released: other threads make new cycles and collect meanwhile.
    confdir = pam_stack(["auth required {pytest} msg=echo_off:pw endsleep=2"])
    makers_done = threading.Event()
    refs: list[weakref.ref[pam.handle]] = []

    def make_cycles() -> None:
        for _ in range(150):
            h = pam.handle("pytest", "alice", confdir=confdir)
            h.conv = lambda s, m, d, h=h: "pw"
            h.authenticate()
            refs.append(weakref.ref(h))
            del h

    def collect() -> None:
        while not makers_done.is_set():
            gc.collect()

    makers = [threading.Thread(target=make_cycles) for _ in range(2)]
    collectors = [threading.Thread(target=collect) for _ in range(2)]
    for t in makers + collectors:
        t.start()
    for t in makers:
        t.join(120)
    makers_done.set()
    for t in collectors:
        t.join(120)
    assert not any(t.is_alive() for t in makers + collectors), "hang"
    gc.collect()
    assert len(refs) == 300 and all(r() is None for r in refs)


# ----------------------------------------------------------------------
# fork()


def fork_child(body: Callable[[], str]) -> tuple[int, str]:
    """fork(); the child runs body and reports through a pipe. Returns the
    child's exit status and report; fails if the child hangs."""
    r, w = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12+ warns about fork() in a threaded process: that is
        # the situation under test.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(r)
        try:
            signal.alarm(20)  # a hang in the child ends it
            report = body()
        except BaseException as e:  # noqa: BLE001
            report = f"raised {type(e).__name__}: {e}"
        os.write(w, report.encode())
        os._exit(0)
    os.close(w)
    chunks = []
    while True:
        chunk = os.read(r, 4096)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    return status, b"".join(chunks).decode()


def test_fork_child_uses_and_ends_its_copy(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} msg=echo_off:pw setenv=FROM=module",
                         "account required pam_permit.so", "session required {pytest} setenv=S=1"])
    h = pam.handle("pytest", "alice", quiet, confdir=confdir)
    keep_environment(h)
    assert h.authenticate()
    h.environment["PARENT"] = "1"

    def child() -> str:
        h.environment["CHILD"] = "1"
        h.environment["PARENT"] = "changed in the child"  # not del: OpenPAM cannot delete
        h.user = "bob"
        h.acct_mgmt()
        h.open_session()
        h.close_session()
        ok = h.authenticate()
        h.close()
        return f"ok {ok} {h.closed}"

    status, report = fork_child(child)
    assert status == 0 and report == "ok True True", report
    # The parent's copy is as it was.
    assert not h.closed
    assert h.user == "alice"
    env = dict(h.environment)
    assert env["PARENT"] == "1" and "CHILD" not in env
    h.acct_mgmt()
    h.open_session()
    assert h.authenticate()
    h.close()


def test_fork_child_exits_without_closing(pam_stack: StackFactory) -> None:
    h = pam.handle("pytest", "alice", quiet, confdir=pam_stack(["auth required {pytest} msg=echo_off:pw endsleep=10"]))
    assert h.authenticate()
    status, report = fork_child(lambda: f"user {h.user}")
    assert status == 0 and report == "user alice"
    # Also a child that leaves through a normal interpreter exit (atexit,
    # collection of the handle, pam_end) rather than os._exit():
    done = run_child(
        """
import os, sys
from draxoft.auth import pam
h = pam.handle("pytest", "alice", lambda s, m, d: "pw", confdir=sys.argv[1])
h.authenticate()
pid = os.fork()
if pid == 0:
    h.environment["C"] = "1"
    h.authenticate()
    sys.exit(0)            # the child's copy is ended by its own exit
_, status = os.waitpid(pid, 0)
assert status == 0, status
assert "C" not in h.environment
print("parent", h.authenticate(), h.user)
h.close()
""",
        pam_stack(["auth required {pytest} msg=echo_off:pw endsleep=10"]),
        leak_check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["parent", "True", "alice"]
    h.close()


@pytest.mark.parametrize("then", ["use", "close", "items", "nothing"])
def test_fork_while_another_thread_is_in_a_pam_call(pam_stack: StackFactory, then: str) -> None:
    # The lock of the handle is held, in the parent, by a thread that the
    # child does not have. The child must not wait for it forever; its copy
    # is in the middle of a call, so operations are refused there.
    h = pam.handle("pytest", "alice", quiet, confdir=pam_stack(["auth required {pytest} sleep=400"]))
    t = threading.Thread(target=h.authenticate)
    t.start()
    time.sleep(0.1)

    def child() -> str:
        if then == "use":
            try:
                h.acct_mgmt()
            except RuntimeError:
                return "refused"
            return "ran"
        if then == "close":
            try:
                h.close()
            except RuntimeError:
                pass
            return f"closed {h.closed}"
        if then == "items":
            return f"user {h.user} env {len(h.environment)}"
        return "nothing"

    status, report = fork_child(child)
    t.join(10)
    expected = {"use": "refused", "close": "closed True", "items": "user alice env 0", "nothing": "nothing"}[then]
    assert status == 0 and report == expected, (status, report)
    assert h.authenticate() is True
    h.close()


# ----------------------------------------------------------------------
# Signals during blocking PAM calls


@pytest.fixture
def restore_signals() -> Any:
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGALRM)}
    yield
    signal.setitimer(signal.ITIMER_REAL, 0)
    for s, handler in saved.items():
        signal.signal(s, handler)


def send_later(sig: int, after: float) -> threading.Timer:
    timer = threading.Timer(after, os.kill, (os.getpid(), sig))
    timer.start()
    return timer


def test_sigint_during_a_blocking_call_is_keyboard_interrupt_afterwards(pam_stack: StackFactory, restore_signals: None) -> None:
    signal.signal(signal.SIGINT, signal.default_int_handler)
    h = pam.handle("pytest", "alice", quiet, confdir=pam_stack(["auth required {pytest} sleep=400 setenv=DONE=1"]))
    keep_environment(h)
    send_later(signal.SIGINT, 0.1)
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        h.authenticate()
    # The module ran to its end first: the interrupt came after the call.
    assert time.monotonic() - start >= 0.35
    assert h.environment["DONE"] == "1"
    # Nothing is left half-done on the handle.
    assert h.authenticate() is True
    h.close()


def test_sigint_inside_a_callback_is_the_operations_exception(pam_stack: StackFactory, restore_signals: None) -> None:
    signal.signal(signal.SIGINT, signal.default_int_handler)

    def conv(style: int, message: Any, data: Any) -> Any:
        time.sleep(2)  # interrupted here
        return "unreached"

    h = pam.handle("pytest", "alice", conv, confdir=pam_stack(["auth required {pytest} msg=echo_off:pw"]))
    send_later(signal.SIGINT, 0.1)
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        h.authenticate()
    assert time.monotonic() - start < 1.5
    h.conv = quiet
    assert h.authenticate() is True
    h.close()


def test_sigint_during_a_blocking_pam_end(pam_stack: StackFactory, restore_signals: None) -> None:
    signal.signal(signal.SIGINT, signal.default_int_handler)
    h = pam.handle("pytest", "alice", quiet, confdir=pam_stack(["auth required {pytest} endsleep=300"]))
    assert h.authenticate()
    send_later(signal.SIGINT, 0.05)
    with pytest.raises(KeyboardInterrupt):
        h.close()
    assert h.closed
    h.close()


def test_sigalrm_handler_runs_and_the_call_completes(pam_stack: StackFactory, restore_signals: None) -> None:
    fired: list[float] = []
    signal.signal(signal.SIGALRM, lambda signum, frame: fired.append(time.monotonic()))
    h = pam.handle("pytest", "alice", quiet, confdir=pam_stack(["auth required {pytest} sleep=300 msg=echo_off:pw sleep=200"]))
    signal.setitimer(signal.ITIMER_REAL, 0.02, 0.02)
    try:
        start = time.monotonic()
        assert h.authenticate() is True
        elapsed = time.monotonic() - start
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    assert elapsed >= 0.45
    # The handler ran: at least in the callback and after the call.
    assert len(fired) >= 1
    h.close()


def test_signal_storm_during_many_calls(pam_stack: StackFactory, restore_signals: None) -> None:
    count = [0]
    signal.signal(signal.SIGALRM, lambda signum, frame: count.__setitem__(0, count[0] + 1))
    confdir = pam_stack(["auth required {pytest} msg=echo_off:pw msg=info:x sleep=1 endsleep=1"])
    signal.setitimer(signal.ITIMER_REAL, 0.001, 0.001)
    try:
        for _ in range(200):
            with pam.handle("pytest", "alice", quiet, confdir=confdir) as h:
                assert h.authenticate() is True
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    assert count[0] > 10


# ----------------------------------------------------------------------
# Interpreter shutdown


SHUTDOWN = r"""
import sys, threading, time
from draxoft.auth import pam
mode, confdir, wait = sys.argv[1], sys.argv[2], float(sys.argv[3])
started = threading.Event()
def conv(style, message, data):
    started.set()
    if mode == "in-callback":
        time.sleep(30)
    return "pw"
def worker():
    h = pam.handle("pytest", "alice", conv, confdir=confdir)
    started.set()
    h.authenticate()
    print("worker finished", flush=True)
threading.Thread(target=worker, daemon=True).start()
started.wait(10)
time.sleep(wait)
print("main exits", flush=True)
"""


@pytest.mark.parametrize(
    "mode, stack, wait",
    [
        ("in-pam-call", "auth required {pytest} sleep=30000", 0.05),
        ("in-callback", "auth required {pytest} msg=echo_off:pw", 0.05),
        # The module returns to Python (a conversation) while the main
        # thread is exiting: several moments around it.
        ("late-conversation", "auth required {pytest} sleep=150 msg=echo_off:pw", 0.10),
        ("late-conversation", "auth required {pytest} sleep=150 msg=echo_off:pw", 0.14),
        ("late-conversation", "auth required {pytest} sleep=150 msg=echo_off:pw", 0.15),
        ("late-conversation", "auth required {pytest} sleep=150 msg=echo_off:pw", 0.16),
        ("late-return", "auth required {pytest} sleep=150", 0.15),
        ("in-pam-end", "auth required {pytest} endsleep=30000", 0.05),
    ],
)
def test_exit_with_a_daemon_thread_in_pam(pam_stack: StackFactory, mode: str, stack: str, wait: float) -> None:
    confdir = pam_stack([stack])
    start = time.monotonic()
    done = run_child(SHUTDOWN, mode, confdir, str(wait), leak_check=False)
    assert time.monotonic() - start < 20, "the process did not exit promptly"
    assert done.returncode == 0, done.stderr
    assert "main exits" in done.stdout
    assert "Fatal Python error" not in done.stderr and "Traceback" not in done.stderr, done.stderr


EXIT_WITH_LIVE_HANDLES = r"""
import sys
from draxoft.auth import pam
from draxoft.auth import _pamlow as low
confdir = sys.argv[1]
answers = []
def conv(style, message, data):
    answers.append(message)
    return "pw"
# Module globals, a cycle, a closed one, a low-layer capsule, a handle held
# only by a callback's default argument: all alive when the interpreter ends.
# A delay callback where PAM has fail delays (OpenPAM has none).
delay = (lambda rc, usec, d: None) if "fail_delay" in pam.extensions else None
plain = pam.handle("pytest", "alice", conv, delay, confdir=confdir)
plain.authenticate()
cyclic = pam.handle("pytest", "alice", confdir=confdir)
cyclic.conv = lambda s, m, d, h=cyclic: h.user
cyclic.data = [cyclic, cyclic.environment]
cyclic.authenticate()
closed = pam.handle("pytest", "alice", conv, confdir=confdir)
closed.close()
rc, capsule = low.pam_start_confdir("pytest", "alice", lambda s, m: b"pw", confdir)
low.pam_authenticate(capsule, 0)
view = pam.handle("pytest", "alice", conv, confdir=confdir).environment
print("exiting", flush=True)
"""


def test_exit_with_live_handles_whose_modules_converse_in_pam_end(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} msg=echo_off:pw endsleep=10",
                         "auth required {hostile} endconv"])
    done = pamstack.run_isolated(EXIT_WITH_LIVE_HANDLES, confdir, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "exiting"
    assert done.stderr == "", done.stderr


def test_collector_thread_ends_handles_while_the_interpreter_exits(pam_stack: StackFactory) -> None:
    code = r"""
import gc, sys, threading
from draxoft.auth import pam
confdir = sys.argv[1]
def churn():
    while True:
        h = pam.handle("pytest", "alice", confdir=confdir)
        h.conv = lambda s, m, d, h=h: "pw"
        h.authenticate()
        del h
        gc.collect()
for _ in range(3):
    threading.Thread(target=churn, daemon=True).start()
import time; time.sleep(0.5)
print("exiting", flush=True)
"""
    confdir = pam_stack(["auth required {pytest} msg=echo_off:pw endsleep=5", "auth required {hostile} endconv"])
    done = run_child(code, confdir, leak_check=False)
    assert done.returncode == 0, done.stderr
    assert "Fatal Python error" not in done.stderr


CALLBACK_AFTER_FINALIZATION = r"""
import ctypes, sys, threading, time
from draxoft.auth import pam
hostile, confdir, callback = sys.argv[1], sys.argv[2], sys.argv[3]
# Keep the process alive for half a second once Python is finalized.
linger = ctypes.CDLL(hostile).pam_hostile_linger
ctypes.pythonapi.Py_AtExit(ctypes.cast(linger, ctypes.c_void_p))
entered = threading.Event()
def worker():
    h = pam.handle("pytest", "alice", lambda s, m, d: "pw", confdir=confdir)
    if callback == "delay":
        h.delay = lambda rc, usec, d: None
    entered.set()
    h.authenticate()
threading.Thread(target=worker, daemon=True).start()
entered.wait(10)
time.sleep(0.05)
print("main exits", flush=True)
"""


@pytest.mark.parametrize(
    "callback, stack",
    [
        ("conversation", "auth required {pytest} sleep=250 msg=echo_off:pw"),
        ("delay", "auth required {pytest} sleep=250 delay=1000 ret=PAM_AUTH_ERR"),
    ],
)
def test_module_thread_calls_back_after_the_interpreter_is_finalized(
    pam_stack: StackFactory, pam_modules: dict[str, Path], callback: str, stack: str
) -> None:
    # The module wakes 250 ms into its call, while the process lingers
    # after Py_Finalize (Py_AtExit), and calls the callback: the binding
    # must refuse it without entering Python, which is gone.
    confdir = pam_stack([stack])
    done = run_child(CALLBACK_AFTER_FINALIZATION, str(pam_modules["pam_hostile"]), confdir, callback,
                     leak_check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "main exits\n"
    assert done.stderr == "", done.stderr
