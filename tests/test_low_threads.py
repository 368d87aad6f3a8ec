"""_pamlow: the GIL is released while libpam (and its modules) run."""

from __future__ import annotations

import shutil
import threading
import time
from typing import Any, Callable

import pytest

import pamstack
from draxoft.auth import _pamlow as low


class Ticker:
    """A thread that wakes every millisecond while ``inside`` is set and
    notes the longest stretch it could not run.  Holding the GIL through a
    blocking call would show up as one gap as long as the call."""

    def __init__(self) -> None:
        """Prepares the thread; start it with ``with``."""
        self.inside = threading.Event()
        self.stop = threading.Event()
        self.ticks = 0
        self.longest_gap = 0.0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        """The ticking loop."""
        last: float | None = None
        while not self.stop.is_set():
            now = time.monotonic()
            if self.inside.is_set():
                if last is not None:
                    self.longest_gap = max(self.longest_gap, now - last)
                last = now
                self.ticks += 1
            else:
                last = None
            time.sleep(0.001)

    def __enter__(self) -> "Ticker":
        """Starts ticking."""
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stops the thread and waits for it."""
        self.stop.set()
        self.thread.join(5)

    def measure(self, call: Callable[[], Any]) -> Any:
        """Runs call with the ticker watching; returns call's result."""
        time.sleep(0.01)  # let the ticker reach its loop
        self.inside.set()
        try:
            return call()
        finally:
            self.inside.clear()


def _blocking_call(confdir: str, ticker: Ticker, call: Callable[[Any], int]) -> tuple[int, float]:
    """Runs call on a fresh handle under the ticker: (code, seconds)."""
    rc, h = low.pam_start_confdir("pytest", "alice", None, confdir)
    assert rc == low.PAM_SUCCESS
    try:
        start = time.monotonic()
        result = ticker.measure(lambda: call(h))
        return result, time.monotonic() - start
    finally:
        low.pam_end(h, low.PAM_SUCCESS)


def _assert_kept_running(ticker: Ticker, elapsed: float, blocked: float) -> None:
    """The call took about ``blocked`` seconds and the ticker kept going."""
    assert elapsed >= blocked * 0.9, "the module did not block: test is void"
    assert ticker.longest_gap < 0.25, f"other threads stalled {ticker.longest_gap:.3f}s"
    assert ticker.ticks >= 50


def test_gil_released_while_pam_exec_waits(pam_stack: pamstack.StackFactory) -> None:
    """pam_exec running 'sleep 1': Python threads run during that second."""
    sleep = shutil.which("sleep")
    if sleep is None:
        pytest.fail("the 'sleep' program is needed (coreutils)")
    confdir = pam_stack([f"auth required pam_exec.so {sleep} 1"])
    with Ticker() as ticker:
        result, elapsed = _blocking_call(confdir, ticker, lambda h: low.pam_authenticate(h, 0))
    assert result == low.PAM_SUCCESS
    _assert_kept_running(ticker, elapsed, 1.0)


@pytest.mark.parametrize(
    "kind, call",
    [("auth", lambda h: low.pam_authenticate(h, 0)),
     ("auth", lambda h: low.pam_setcred(h, low.PAM_ESTABLISH_CRED)),
     ("account", lambda h: low.pam_acct_mgmt(h, 0)),
     ("session", lambda h: low.pam_open_session(h, 0)),
     ("session", lambda h: low.pam_close_session(h, 0)),
     ("password", lambda h: low.pam_chauthtok(h, 0))],
    ids=["authenticate", "setcred", "acct_mgmt", "open_session", "close_session", "chauthtok"],
)
def test_gil_released_in_every_operation(
    pam_stack: pamstack.StackFactory, kind: str, call: Callable[[Any], int]
) -> None:
    """pam_pytest sleep= blocks in nanosleep inside each operation."""
    confdir = pam_stack([f"{kind} required {{pytest}} phase=update sleep=400"])
    with Ticker() as ticker:
        result, elapsed = _blocking_call(confdir, ticker, call)
    assert result == low.PAM_SUCCESS
    _assert_kept_running(ticker, elapsed, 0.4)


def test_gil_released_in_pam_end(pam_stack: pamstack.StackFactory) -> None:
    """pam_end runs module cleanups (here one sleeping 0.4 s) without the
    GIL as well."""
    confdir = pam_stack(["auth required {pytest} endsleep=400"])
    rc, h = low.pam_start_confdir("pytest", "alice", None, confdir)
    assert low.pam_authenticate(h, 0) == low.PAM_SUCCESS
    with Ticker() as ticker:
        start = time.monotonic()
        assert ticker.measure(lambda: low.pam_end(h, low.PAM_SUCCESS)) == low.PAM_SUCCESS
        elapsed = time.monotonic() - start
    _assert_kept_running(ticker, elapsed, 0.4)


def test_gil_released_while_pam_sleeps_the_fail_delay(pam_stack: pamstack.StackFactory) -> None:
    """Linux-PAM's own fail-delay sleep (no delay callable) blocks only
    the calling thread."""
    confdir = pam_stack(["auth required {pytest} delay=800000 ret=PAM_AUTH_ERR"])
    with Ticker() as ticker:
        result, elapsed = _blocking_call(confdir, ticker, lambda h: low.pam_authenticate(h, 0))
    assert result == low.PAM_AUTH_ERR
    _assert_kept_running(ticker, elapsed, 0.4)


def test_two_handles_block_in_parallel(pam_stack: pamstack.StackFactory) -> None:
    """Two threads, each in its own transaction that blocks 0.5 s, finish
    together in well under the 1 s they would take one after the other;
    conversations in both still reach Python."""
    confdir = pam_stack(["auth required {pytest} sleep=500 msg=echo_off:pw expect=0:ok"])
    results: list[int] = []

    def worker() -> None:
        rc, h = low.pam_start_confdir("pytest", "alice", lambda style, msg: "ok", confdir)
        try:
            results.append(low.pam_authenticate(h, 0))
        finally:
            low.pam_end(h, low.PAM_SUCCESS)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    elapsed = time.monotonic() - start
    assert results == [low.PAM_SUCCESS, low.PAM_SUCCESS]
    assert 0.45 <= elapsed < 0.9


def test_conversation_called_from_blocking_module_thread(
    pam_stack: pamstack.StackFactory,
) -> None:
    """While one thread's module sleeps, another thread's handle keeps
    conversing: the callback takes the GIL back on its own."""
    slow = pam_stack(["auth required {pytest} sleep=600"])
    chatty = pam_stack(["auth required {pytest} msg=echo_off:pw msg=info:i repeat=200"])
    done = threading.Event()

    def sleeper() -> None:
        rc, h = low.pam_start_confdir("pytest", "alice", None, slow)
        low.pam_authenticate(h, 0)
        low.pam_end(h, 0)
        done.set()

    thread = threading.Thread(target=sleeper)
    thread.start()
    time.sleep(0.05)
    conv = pamstack.RecordingConv(lambda style, msg: "x")
    rc, h = low.pam_start_confdir("pytest", "alice", conv, chatty)
    try:
        assert low.pam_authenticate(h, 0) == low.PAM_SUCCESS
    finally:
        low.pam_end(h, low.PAM_SUCCESS)
    finished_first = not done.is_set()
    thread.join(10)
    assert len(conv.calls) == 400
    assert finished_first, "the conversation had to wait for the sleeping module"
