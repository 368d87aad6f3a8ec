"""pam.resident: a service's modules stay loaded while one is open.

Each test loads its own copy of pam_pytest.so under a private path, so
that whether the module is mapped (``/proc/self/maps``) depends only on
what the test holds, not on handles other tests left to the collector.
"""

from __future__ import annotations

import gc
import os
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest

from draxoft.auth import pam

import pamstack


def mapped(path: Path) -> bool:
    """Is the shared object at path mapped into this process?"""
    return str(path) in Path("/proc/self/maps").read_text()


# The sanitizer and memcheck runs preload scripts/nodlclose.so so that their
# reports can name functions of unloaded modules; there dlclose() is a no-op
# and nothing is ever unmapped. Only the unloading half is then unobservable;
# everything else (loaded while open, the transactions, threads, GC) still runs.
DLCLOSE_DISABLED = "nodlclose" in Path("/proc/self/maps").read_text()


def unloaded(path: Path) -> bool:
    """Has the shared object at path been unloaded (where dlclose works)?"""
    return DLCLOSE_DISABLED or not mapped(path)


@pytest.fixture
def probe(tmp_path: Path, pam_pytest_module: str) -> Path:
    """A copy of pam_pytest.so that nothing else in the process loads."""
    copy = tmp_path / "pam_resident_probe.so"
    shutil.copy(pam_pytest_module, copy)
    gc.collect()
    assert not mapped(copy)  # a fresh copy: never loaded, even without dlclose
    return copy


@pytest.fixture
def confdir(tmp_path: Path, probe: Path) -> str:
    """Services "svc" (the probe allows), "deny" (the probe refuses)."""
    return pamstack.write_confdir(
        tmp_path / "pam.d",
        {
            "svc": [f"auth required {probe}", f"account required {probe}"],
            "deny": [f"auth required {probe} ret=PAM_AUTH_ERR", f"account required {probe}"],
        },
    )


def quiet(style: int, message: Any, data: Any) -> None:
    return None


def test_modules_stay_mapped_while_open_and_go_after(probe: Path, confdir: str) -> None:
    with pam.handle("svc", "alice", quiet, confdir=confdir):
        assert mapped(probe)
    assert unloaded(probe), "a plain handle unloads its modules at pam_end"
    with pam.resident("svc", confdir=confdir) as r:
        assert mapped(probe)
        assert not r.closed
        for _ in range(3):
            assert pam.authenticate("alice", "pw", "svc", confdir=confdir)
            assert mapped(probe)
    assert r.closed
    assert unloaded(probe)


def test_transactions_mean_the_same_while_resident(confdir: str) -> None:
    with pam.resident("deny", confdir=confdir), pam.resident("svc", confdir=confdir):
        assert pam.authenticate("alice", "pw", "svc", confdir=confdir)
        assert not pam.authenticate("alice", "pw", "deny", confdir=confdir)
        with pam.handle("deny", "alice", quiet, confdir=confdir) as h:
            assert h.authenticate() is False


def test_the_policy_is_read_again_at_each_transaction(tmp_path: Path, confdir: str, probe: Path) -> None:
    with pam.resident("svc", confdir=confdir):
        assert pam.authenticate("alice", "pw", "svc", confdir=confdir)
        # Through pamstack: OpenPAM needs every facility in the file.
        pamstack.write_confdir(confdir, {"svc": [f"auth required {probe} ret=PAM_AUTH_ERR", f"account required {probe}"]})
        assert not pam.authenticate("alice", "pw", "svc", confdir=confdir)


def test_nested_residents_release_with_the_last(probe: Path, confdir: str) -> None:
    outer = pam.resident("svc", confdir=confdir)
    inner = pam.resident("svc", confdir=confdir)
    inner.close()
    assert mapped(probe), "the outer resident still holds the module"
    outer.close()
    assert unloaded(probe)


def test_close_twice_and_repr(confdir: str) -> None:
    r = pam.resident("svc", confdir=confdir)
    assert "'svc'" in repr(r) and "pam.resident" in repr(r)
    r.close()
    r.close()
    assert r.closed
    assert "closed" in repr(r)


def test_collected_resident_lets_go(probe: Path, confdir: str) -> None:
    r = pam.resident("svc", confdir=confdir)
    assert mapped(probe)
    del r
    gc.collect()
    assert unloaded(probe)


def test_resident_in_a_reference_cycle_is_collected(probe: Path, confdir: str) -> None:
    r = pam.resident("svc", confdir=confdir)
    r.cycle = [r]  # type: ignore[attr-defined]
    del r
    gc.collect()
    assert unloaded(probe)


def test_threads_open_close_and_authenticate(probe: Path, confdir: str) -> None:
    errors: list[BaseException] = []
    rounds = pamstack.rounds(30)

    def worker() -> None:
        try:
            for _ in range(rounds):
                with pam.resident("svc", confdir=confdir):
                    assert pam.authenticate("alice", "pw", "svc", confdir=confdir)
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert unloaded(probe)


def test_one_resident_closed_from_many_threads(confdir: str) -> None:
    r = pam.resident("svc", confdir=confdir)
    barrier = threading.Barrier(4)

    def closer() -> None:
        barrier.wait()
        r.close()

    threads = [threading.Thread(target=closer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert r.closed


def test_fork_child_inherits_the_loaded_modules(probe: Path, confdir: str) -> None:
    r = pam.resident("svc", confdir=confdir)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, never return into pytest
        status = 1
        try:
            ok = mapped(probe) and pam.authenticate("alice", "pw", "svc", confdir=confdir)
            r.close()
            status = 0 if ok and unloaded(probe) else 2
        finally:
            os.write(write, bytes([status]))
            os._exit(0)
    os.close(write)
    result = os.read(read, 1)
    os.close(read)
    os.waitpid(pid, 0)
    assert result == b"\0", f"child reported {result!r}"
    assert mapped(probe), "the child's close does not touch the parent"
    r.close()
    assert unloaded(probe)


def test_a_service_pam_cannot_start_fails_at_once(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="'nosuch'"):
        pam.resident("nosuch", confdir=str(empty))


@pytest.mark.parametrize("service, confdir, error", [
    (42, None, TypeError),
    ("svc", 42, TypeError),
    ("s\0vc", None, ValueError),
])
def test_bad_input_is_refused_like_handle(service: Any, confdir: Any, error: type[Exception]) -> None:
    with pytest.raises(error) as from_resident:
        pam.resident(service, confdir=confdir)
    with pytest.raises(error) as from_handle:
        pam.handle(service, "alice", quiet, confdir=confdir)
    assert str(from_resident.value) == str(from_handle.value)


def test_keyword_only_confdir() -> None:
    with pytest.raises(TypeError):
        pam.resident("svc", "/tmp")  # type: ignore[misc]
