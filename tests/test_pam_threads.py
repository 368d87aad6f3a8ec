"""Threads: the GIL is released while PAM works, and calls on one handle are serialized."""

from __future__ import annotations

import threading
import time
from typing import Any

from draxoft.auth import pam

from pamstack import StackFactory


def quiet(style: int, message: Any, data: Any) -> None:
    return None


def count_while(action: Any) -> tuple[int, float]:
    """Run action() while another thread counts; return (count, seconds)."""
    stop = threading.Event()
    counted = [0]

    def counter() -> None:
        while not stop.is_set():
            counted[0] += 1
            time.sleep(0.001)

    thread = threading.Thread(target=counter)
    thread.start()
    try:
        start = time.monotonic()
        action()
        elapsed = time.monotonic() - start
    finally:
        stop.set()
        thread.join()
    return counted[0], elapsed


def test_other_threads_run_while_a_module_blocks(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} sleep=600"])
    with pam.handle("pytest", "alice", quiet, confdir=confdir) as h:
        counted, elapsed = count_while(h.authenticate)
    assert elapsed >= 0.5
    # With the GIL held for 0.6 s the counter would be stuck near zero.
    assert counted >= 100


def test_other_threads_run_while_pam_exec_waits(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["account required pam_exec.so quiet /bin/sleep 0.5"])
    with pam.handle("pytest", "alice", quiet, confdir=confdir) as h:
        counted, elapsed = count_while(h.acct_mgmt)
    assert elapsed >= 0.45
    assert counted >= 80


def test_other_threads_run_during_the_fail_delay(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} delay=800000 ret=PAM_AUTH_ERR"])
    with pam.handle("pytest", "alice", quiet, confdir=confdir) as h:
        counted, elapsed = count_while(h.authenticate)
    assert elapsed >= 0.35
    assert counted >= 50


def test_a_shared_handle_serializes_calls(pam_stack: StackFactory) -> None:
    # Each conversation sleeps a little; if two calls ever overlapped on
    # the handle, the callback would see more than one caller inside.
    confdir = pam_stack(["auth required {pytest} msg=echo_off:pw sleep=2", "account required {pytest} sleep=1"])
    inside = [0]
    most = [0]
    lock = threading.Lock()

    def conv(style: int, message: Any, data: Any) -> str:
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(0.002)
        with lock:
            inside[0] -= 1
        return "pw"

    errors: list[BaseException] = []
    results: list[bool] = []
    with pam.handle("pytest", "alice", conv, confdir=confdir) as h:

        def worker() -> None:
            try:
                for _ in range(15):
                    results.append(h.authenticate())
                    h.acct_mgmt()
                    # An address: a host name would make libaudit ask DNS.
                    h.rhost = "127.0.0.1"
                    h.environment["T"] = "x"
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=worker, name=f"w{i}") for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    assert results == [True] * 90
    assert most[0] == 1


def test_item_access_from_another_thread_waits_for_the_operation(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} msg=echo_off:pw"])
    order: list[str] = []
    entered = threading.Event()

    def conv(style: int, message: Any, data: Any) -> str:
        entered.set()
        time.sleep(0.3)
        order.append("conversation done")
        return "pw"

    with pam.handle("pytest", "alice", conv, confdir=confdir) as h:

        def reader() -> None:
            entered.wait(5)
            h.tty = "tty9"
            order.append("item written")

        t = threading.Thread(target=reader)
        t.start()
        assert h.authenticate()
        t.join()
        assert h.tty == "tty9"
    assert order == ["conversation done", "item written"]


def test_handles_in_many_threads(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} msg=echo_off:pw expect=0:pw", "account required pam_permit.so"])
    failures: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(40):
                with pam.handle("pytest", "alice", lambda s, m, d: "pw", confdir=confdir) as h:
                    assert h.authenticate()
                    h.acct_mgmt()
        except BaseException as e:  # noqa: BLE001
            failures.append(e)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_exceptions_stay_with_their_own_thread(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} msg=echo_off:pw sleep=5"])
    outcomes: dict[int, Any] = {}

    def worker(i: int) -> None:
        def conv(style: int, message: Any, data: Any) -> str:
            if i % 2:
                raise LookupError(f"thread {i}")
            return "pw"

        with pam.handle("pytest", "alice", conv, confdir=confdir) as h:
            try:
                outcomes[i] = h.authenticate()
            except LookupError as e:
                outcomes[i] = str(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes == {i: (f"thread {i}" if i % 2 else True) for i in range(8)}
