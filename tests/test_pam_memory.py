"""Garbage collection, reference counts, memory growth and wiping of secrets."""

from __future__ import annotations

import gc
import os
import re
import secrets
import sys
import weakref
from typing import Any

import pytest

from draxoft.auth import pam

import pamstack
from pamstack import StackFactory


def collect() -> None:
    for _ in range(3):
        gc.collect()


def test_handle_without_cycles_is_freed_at_once(pam_stack: StackFactory) -> None:
    h = pam.handle("pytest", "alice", lambda s, m, d: None, confdir=pam_stack(["auth required pam_permit.so"]))
    ref = weakref.ref(h)
    del h
    assert ref() is None


def test_cycles_through_callbacks_data_and_views_are_collected(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} msg=echo_off:pw delay=1000 ret=PAM_AUTH_ERR"])
    refs = []
    for _ in range(5):
        h = pam.handle("pytest", "alice", confdir=confdir)

        def conv(style: int, message: Any, data: Any, h: pam.handle = h) -> str:
            return h.user or ""

        def delay(rc: int, usec: int, data: Any, h: pam.handle = h) -> None:
            data.append(h)

        h.conv = conv
        h.delay = delay
        h.data = [h, h.environment]
        assert h.authenticate() is False
        refs.append(weakref.ref(h))
        del h, conv, delay
    collect()
    assert [r() for r in refs] == [None] * 5


def test_exception_holding_its_handle_is_collected(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} msg=echo_off:pw"])

    class Carrier(Exception):
        pass

    def conv(style: int, message: Any, data: Any) -> str:
        raise Carrier(data)

    h = pam.handle("pytest", "alice", conv, confdir=confdir)
    h.data = h
    try:
        h.authenticate()
    except Carrier as e:
        assert e.args[0] is h
    ref = weakref.ref(h)
    del h
    collect()
    assert ref() is None


def test_reference_counts_are_stable(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} msg=echo_off:pw msg=info:x delay=10 ret=PAM_AUTH_ERR"])
    data = object()

    def conv(style: int, message: Any, data: Any) -> str:
        return "pw"

    def delay(rc: int, usec: int, data: Any) -> None:
        return None

    def transactions(n: int) -> None:
        for _ in range(n):
            with pam.handle("pytest", "alice", conv, delay, data, confdir=confdir) as h:
                h.authenticate()
                h.environment["A"] = "b"

    transactions(50)
    collect()
    before = [sys.getrefcount(o) for o in (conv, delay, data)]
    transactions(pamstack.rounds(2000))
    collect()
    assert [sys.getrefcount(o) for o in (conv, delay, data)] == before


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))  # type: ignore[union-attr]


def test_memory_stays_flat(pam_stack: StackFactory) -> None:
    # 2 KiB answers, errors raised from the callback, environment lists:
    # a leak of any of them in 4000 rounds would show as megabytes.
    confdir = pam_stack(
        {
            "ok": ["auth required {pytest} msg=echo_off:pw msg=echo_on:u setenv=X=1", "account required pam_permit.so"],
            "err": ["auth required {pytest} msg=echo_off:pw msg=echo_off:again"],
        }
    )
    answer = "p" * 2048
    calls = [0]

    def conv(style: int, message: Any, data: Any) -> str:
        calls[0] += 1
        if message == "again":
            raise LookupError("x")
        return answer

    def rounds(n: int) -> None:
        for _ in range(n):
            with pam.handle("ok", "alice", conv, confdir=confdir) as h:
                h.elevated = os.geteuid() == 0
                h.authenticate()
                h.acct_mgmt()
                dict(h.environment)
            with pam.handle("err", "alice", conv, confdir=confdir) as h:
                with pytest.raises(LookupError):
                    h.authenticate()

    rounds(300)
    collect()
    before = rss_kib()
    rounds(4000)
    collect()
    grown = rss_kib() - before
    assert grown < 4096, f"RSS grew by {grown} KiB"


CHILD = r"""
import os, sys
from draxoft.auth import pam

confdir, report_fd, go_fd = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
# Built byte by byte, so that no other object ever holds the whole secret.
secret = bytearray(192)
for i in range(len(secret)):
    secret[i] = 97 + os.urandom(1)[0] % 26

def conv(style, message, data):
    if message == "b":
        raise LookupError("second prompt")
    return secret

with pam.handle("pytest", "alice", conv, confdir=confdir) as h:
    try:
        h.authenticate()
    except LookupError:
        pass
os.write(report_fd, secret)          # the parent learns it without a Python copy here
for i in range(len(secret)):
    secret[i] = 0
os.write(report_fd, b"wiped")
os.read(go_fd, 1)                    # stay alive while the parent looks
"""


def memory_of(pid: int) -> bytes:
    """The heap and anonymous writable mappings of a process (we are root or its parent)."""
    parts = []
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            fields = line.split()
            path = fields[5] if len(fields) > 5 else ""
            if not fields[1].startswith("rw") or (path and path != "[heap]"):
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            if end - start > 1 << 30:
                # Not program data: AddressSanitizer's shadow memory, in
                # terabyte-sized reservations, when the suite runs under it.
                continue
            try:
                mem.seek(start)
                parts.append(mem.read(end - start))
            except (OSError, ValueError, OverflowError):
                continue
    return b"\0".join(parts)


def test_responses_freed_by_the_binding_are_wiped(pam_stack: StackFactory) -> None:
    # The first answer is copied into a C buffer for PAM; the second raises,
    # so the binding frees the first itself. Once the program has wiped its
    # own bytearray, no copy of the secret may be left in its memory.
    import subprocess

    confdir = pam_stack(["auth required {pytest} msg=echo_off:a msg=echo_off:b"])
    report_r, report_w = os.pipe()
    go_r, go_w = os.pipe()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, confdir, str(report_w), str(go_r)],
        pass_fds=(report_w, go_r),
    )
    os.close(report_w)
    os.close(go_r)
    try:
        received = b""
        while not received.endswith(b"wiped"):
            more = os.read(report_r, 4096)
            assert more, "child died"
            received += more
        secret = received[: -len(b"wiped")]
        assert len(secret) == 192
        memory = memory_of(child.pid)
        # The middle of it: malloc reuses the first bytes of a freed chunk.
        assert secret[32:160] not in memory
    finally:
        os.write(go_w, b"x")
        os.close(go_w)
        os.close(report_r)
        assert child.wait(30) == 0


def test_collected_handle_is_ended(pam_stack: StackFactory) -> None:
    # endsleep= blocks inside pam_end: dropping the last reference must take
    # that long, which shows the transaction was ended then and there.
    import time

    confdir = pam_stack(["auth required {pytest} endsleep=300"])
    h = pam.handle("pytest", "alice", lambda s, m, d: None, confdir=confdir)
    assert h.authenticate()
    start = time.monotonic()
    del h
    assert time.monotonic() - start >= 0.25


def test_handle_in_a_cycle_is_ended_by_the_collector_in_another_thread(pam_stack: StackFactory) -> None:
    import threading
    import time

    confdir = pam_stack(["auth required {pytest} endsleep=400"])
    h = pam.handle("pytest", "alice", confdir=confdir)
    h.conv = lambda s, m, d, h=h: None  # a cycle: only the collector can end it
    assert h.authenticate()
    ref = weakref.ref(h)
    del h
    assert ref() is not None
    counted = [0]
    done = threading.Event()

    def count() -> None:
        while not done.is_set():
            counted[0] += 1
            time.sleep(0.001)

    counter = threading.Thread(target=count)
    counter.start()
    collector = threading.Thread(target=collect)
    start = time.monotonic()
    collector.start()
    collector.join()
    elapsed = time.monotonic() - start
    done.set()
    counter.join()
    assert ref() is None
    assert elapsed >= 0.35
    # pam_end ran without the GIL: the counting thread went on meanwhile.
    assert counted[0] >= 50
