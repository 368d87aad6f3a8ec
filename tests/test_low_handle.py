"""_pamlow: pam_start / pam_start_confdir / pam_end and the handle's life."""

from __future__ import annotations

import gc
import sys
from typing import Any, Callable

import pytest

import pamstack
from draxoft.auth import _pamlow as low

PERMIT = ["auth required pam_permit.so", "account required pam_permit.so"]


def _user(h: Any) -> bytes | None:
    """The PAM_USER item, asserting the read itself worked."""
    rc, value = low.pam_get_item(h, low.PAM_USER)
    assert rc == low.PAM_SUCCESS
    return value


def test_start_confdir_returns_code_and_handle(pam_stack: pamstack.StackFactory) -> None:
    """A good start gives (PAM_SUCCESS, handle); pam_end then succeeds."""
    confdir = pam_stack(PERMIT)
    result = low.pam_start_confdir("pytest", "alice", None, confdir)
    assert isinstance(result, tuple) and len(result) == 2
    rc, h = result
    assert rc == low.PAM_SUCCESS
    assert h is not None
    assert low.pam_authenticate(h, 0) == low.PAM_SUCCESS
    assert low.pam_end(h, low.PAM_SUCCESS) == low.PAM_SUCCESS


def test_start_failure_gives_no_handle(pam_stack: pamstack.StackFactory) -> None:
    """Linux-PAM aborts pam_start when the service has no file and no
    'other' fallback in the confdir (OpenPAM: PAM_SYSTEM_ERR); no handle
    comes back."""
    confdir = pam_stack({"someservice": PERMIT})
    rc, h = low.pam_start_confdir("pytest", "alice", None, confdir)
    assert rc == getattr(low, pamstack.no_service_code_name())
    assert h is None


def test_start_with_missing_confdir(tmp_path: Any) -> None:
    """A confdir that does not exist is PAM_ABORT too (OpenPAM: PAM_SYSTEM_ERR)."""
    rc, h = low.pam_start_confdir("pytest", "alice", None, str(tmp_path / "none"))
    assert (rc, h) == (getattr(low, pamstack.no_service_code_name()), None)


def test_plain_pam_start_reads_system_policy() -> None:
    """pam_start without confdir works on the system's files (read only):
    a code and a handle exactly when the code is success."""
    rc, h = low.pam_start("draxoft-pytest-no-such-service", "alice", None)
    assert isinstance(rc, int)
    assert (rc == low.PAM_SUCCESS) == (h is not None)
    if h is not None:
        assert low.pam_end(h, low.PAM_SUCCESS) == low.PAM_SUCCESS


@pytest.mark.parametrize(
    "user, expected",
    [("alice", b"alice"), (b"bob", b"bob"), (None, None), ("j\u00fcrgen", "j\u00fcrgen".encode()),
     ("\udcff", b"\xff"), (b"\xfe\xff", b"\xfe\xff")],
)
def test_start_user_forms(
    pam_stack: pamstack.StackFactory, user: str | bytes | None, expected: bytes | None
) -> None:
    """The user may be str (UTF-8, surrogateescape), bytes or None."""
    rc, h = low.pam_start_confdir("pytest", user, None, pam_stack(PERMIT))
    assert rc == low.PAM_SUCCESS
    try:
        assert _user(h) == expected
    finally:
        low.pam_end(h, low.PAM_SUCCESS)


def test_start_service_bytes_and_case(pam_stack: pamstack.StackFactory) -> None:
    """Service given as bytes works; Linux-PAM lowercases the name, so
    'PyTest' finds the 'pytest' file (OpenPAM takes names as they are)."""
    confdir = pam_stack(PERMIT)
    for service in (b"pytest",) if pamstack.is_openpam() else (b"pytest", "PyTest"):
        rc, h = low.pam_start_confdir(service, "alice", None, confdir)
        assert rc == low.PAM_SUCCESS
        assert low.pam_get_item(h, low.PAM_SERVICE) == (low.PAM_SUCCESS, b"pytest")
        low.pam_end(h, low.PAM_SUCCESS)


@pytest.mark.parametrize("field", ["service", "user", "confdir"])
def test_start_rejects_nul(pam_stack: pamstack.StackFactory, field: str) -> None:
    """A NUL inside any string argument is a ValueError, before PAM runs."""
    args = {"service": "pytest", "user": "alice", "confdir": pam_stack(PERMIT)}
    args[field] = args[field] + "\0x"
    with pytest.raises(ValueError):
        low.pam_start_confdir(args["service"], args["user"], None, args["confdir"])


@pytest.mark.parametrize("conv", [42, "not callable", b"x"])
def test_start_rejects_non_callable_conv(pam_stack: pamstack.StackFactory, conv: Any) -> None:
    """conv must be callable or None."""
    with pytest.raises(TypeError):
        low.pam_start_confdir("pytest", "alice", conv, pam_stack(PERMIT))
    with pytest.raises(TypeError):
        low.pam_start("pytest", "alice", conv)


def test_start_rejects_bad_types(pam_stack: pamstack.StackFactory) -> None:
    """Service must be a string; user a string or None."""
    confdir = pam_stack(PERMIT)
    with pytest.raises(TypeError):
        low.pam_start_confdir(None, "alice", None, confdir)
    with pytest.raises(TypeError):
        low.pam_start_confdir(42, "alice", None, confdir)
    with pytest.raises(TypeError):
        low.pam_start_confdir("pytest", 42, None, confdir)
    with pytest.raises(TypeError):
        low.pam_start_confdir("pytest", "alice", None, None)


def test_end_passes_status(pam_stack: pamstack.StackFactory) -> None:
    """pam_end accepts any last status and returns PAM's code."""
    for status in (low.PAM_SUCCESS, low.PAM_AUTH_ERR, low.PAM_ABORT):
        rc, h = low.pam_start_confdir("pytest", "alice", None, pam_stack(PERMIT))
        assert low.pam_end(h, status) == low.PAM_SUCCESS


def test_end_with_a_bad_status_leaves_the_handle_open(pam_stack: pamstack.StackFactory) -> None:
    """pam_end whose status is not an int raises before anything is closed:
    the transaction is still usable, and a correct pam_end ends it."""
    rc, h = low.pam_start_confdir("pytest", "alice", None, pam_stack(PERMIT))
    for bad in ("0", None, 2**40):
        with pytest.raises((TypeError, OverflowError)):
            low.pam_end(h, bad)
        assert _user(h) == b"alice"
    assert low.pam_authenticate(h, 0) == low.PAM_SUCCESS
    assert low.pam_end(h, low.PAM_SUCCESS) == low.PAM_SUCCESS
    with pytest.raises(ValueError):
        _user(h)


def test_operation_with_a_bad_flag_leaves_the_handle_free(pam_stack: pamstack.StackFactory) -> None:
    """An operation refused for its flags argument does not leave the handle
    marked as in a call: the next call runs."""
    rc, h = low.pam_start_confdir("pytest", "alice", None, pam_stack(PERMIT))
    with pytest.raises(TypeError):
        low.pam_authenticate(h, "silent")
    assert low.pam_authenticate(h, 0) == low.PAM_SUCCESS
    assert low.pam_end(h, low.PAM_SUCCESS) == low.PAM_SUCCESS


def _closed_handle_calls() -> list[tuple[str, Callable[[Any], object]]]:
    """Every _pamlow function that takes a handle, called on one."""
    calls: list[tuple[str, Callable[[Any], object]]] = [
        ("pam_end", lambda h: low.pam_end(h, 0)),
        ("pam_authenticate", lambda h: low.pam_authenticate(h, 0)),
        ("pam_setcred", lambda h: low.pam_setcred(h, low.PAM_ESTABLISH_CRED)),
        ("pam_acct_mgmt", lambda h: low.pam_acct_mgmt(h, 0)),
        ("pam_open_session", lambda h: low.pam_open_session(h, 0)),
        ("pam_close_session", lambda h: low.pam_close_session(h, 0)),
        ("pam_chauthtok", lambda h: low.pam_chauthtok(h, 0)),
        ("pam_get_item", lambda h: low.pam_get_item(h, low.PAM_USER)),
        ("pam_set_item", lambda h: low.pam_set_item(h, low.PAM_USER, "bob")),
        ("pam_set_item conv", lambda h: low.pam_set_item(h, low.PAM_CONV, print)),
        ("pam_getenv", lambda h: low.pam_getenv(h, "A")),
        ("pam_putenv", lambda h: low.pam_putenv(h, "A=1")),
        ("pam_getenvlist", lambda h: low.pam_getenvlist(h)),
        ("pam_strerror", lambda h: low.pam_strerror(h, 0)),
    ]
    if hasattr(low, "pam_fail_delay"):  # Linux-PAM only; OpenPAM has no such call
        calls.append(("pam_fail_delay", lambda h: low.pam_fail_delay(h, 10)))
    return calls


@pytest.mark.parametrize(
    "name, call", _closed_handle_calls(), ids=[n for n, _ in _closed_handle_calls()]
)
def test_closed_handle_raises_value_error(
    pam_stack: pamstack.StackFactory, name: str, call: Callable[[Any], object]
) -> None:
    """After pam_end, every use of the handle raises ValueError."""
    rc, h = low.pam_start_confdir("pytest", "alice", None, pam_stack(PERMIT))
    assert low.pam_end(h, low.PAM_SUCCESS) == low.PAM_SUCCESS
    with pytest.raises(ValueError):
        call(h)


def test_take_error_after_end_is_allowed(pam_stack: pamstack.StackFactory) -> None:
    """An exception kept during the last call must stay reachable after
    pam_end, so pamlow_take_error accepts a closed handle."""

    def conv(style: int, message: bytes) -> None:
        raise LookupError("kept")

    confdir = pam_stack(["auth required {pytest} msg=echo_off:pw"])
    rc, h = low.pam_start_confdir("pytest", "alice", conv, confdir)
    assert low.pam_authenticate(h, 0) == low.PAM_CONV_ERR
    low.pam_end(h, low.PAM_CONV_ERR)
    error = low.pamlow_take_error(h)
    assert isinstance(error, LookupError)
    assert low.pamlow_take_error(h) is None


def test_take_error_none_without_handle() -> None:
    """pamlow_take_error(None) is simply None."""
    assert low.pamlow_take_error(None) is None


def test_wrong_object_as_handle_is_type_error() -> None:
    """Anything that is not a handle is refused with TypeError."""
    for bogus in (42, "handle", object()):
        with pytest.raises(TypeError):
            low.pam_authenticate(bogus, 0)
        with pytest.raises(TypeError):
            low.pam_get_item(bogus, low.PAM_USER)


@pytest.mark.linux_pam("the PAM_FAIL_DELAY item")
def test_end_releases_callables(pam_stack: pamstack.StackFactory) -> None:
    """pam_end drops the handle's references to conv and delay at once,
    even while the handle object itself is still alive."""

    def conv(style: int, message: bytes) -> None:
        return None

    def delay(rc: int, usec: int) -> None:
        return None

    base_conv, base_delay = sys.getrefcount(conv), sys.getrefcount(delay)
    rc, h = low.pam_start_confdir("pytest", "alice", conv, pam_stack(PERMIT))
    assert low.pam_set_item(h, low.PAM_FAIL_DELAY, delay) == low.PAM_SUCCESS
    assert sys.getrefcount(conv) > base_conv
    assert sys.getrefcount(delay) > base_delay
    low.pam_end(h, low.PAM_SUCCESS)
    assert sys.getrefcount(conv) == base_conv
    assert sys.getrefcount(delay) == base_delay
    del h


def test_dropped_handle_releases_callables(pam_stack: pamstack.StackFactory) -> None:
    """A handle never ended is ended when collected: references go too."""

    def conv(style: int, message: bytes) -> None:
        return None

    base = sys.getrefcount(conv)
    confdir = pam_stack(PERMIT)
    for _ in range(100):
        rc, h = low.pam_start_confdir("pytest", "alice", conv, confdir)
        assert low.pam_authenticate(h, 0) == low.PAM_SUCCESS
        del h
    gc.collect()
    assert sys.getrefcount(conv) == base


def test_failed_start_keeps_no_reference(pam_stack: pamstack.StackFactory) -> None:
    """When pam_start fails, the conversation is not kept anywhere."""

    def conv(style: int, message: bytes) -> None:
        return None

    base = sys.getrefcount(conv)
    confdir = pam_stack({"other-service": PERMIT})
    for _ in range(100):
        rc, h = low.pam_start_confdir("pytest", "alice", conv, confdir)
        assert (rc, h) == (getattr(low, pamstack.no_service_code_name()), None)
    assert sys.getrefcount(conv) == base


@pytest.mark.linux_pam("the PAM_FAIL_DELAY item")
def test_reference_counts_stable_over_10000_transactions(
    pam_stack: pamstack.StackFactory,
) -> None:
    """10,000 start/authenticate/end rounds leave the callables' reference
    counts as they were (the delay callable runs in every round, since
    Linux-PAM calls it after each pam_authenticate)."""
    calls = [0]

    def conv(style: int, message: bytes) -> None:
        return None

    def delay(rc: int, usec: int) -> None:
        calls[0] += 1

    confdir = pam_stack(PERMIT)
    base_conv, base_delay = sys.getrefcount(conv), sys.getrefcount(delay)
    count = pamstack.rounds(10_000)
    for _ in range(count):
        rc, h = low.pam_start_confdir("pytest", "alice", conv, confdir)
        assert rc == low.PAM_SUCCESS
        assert low.pam_set_item(h, low.PAM_FAIL_DELAY, delay) == low.PAM_SUCCESS
        assert low.pam_authenticate(h, 0) == low.PAM_SUCCESS
        assert low.pam_end(h, low.PAM_SUCCESS) == low.PAM_SUCCESS
    del h
    assert calls[0] == count
    assert sys.getrefcount(conv) == base_conv
    assert sys.getrefcount(delay) == base_delay


def test_reference_counts_stable_with_conversations(
    pam_stack: pamstack.StackFactory,
) -> None:
    """Rounds where the conversation answers, fails and raises leave no
    reference behind: not on the callable, not on the response object."""
    response = "the-response-" + "x" * 20  # one object, returned every time
    failure = {"raise": False}

    def conv(style: int, message: bytes) -> str:
        if failure["raise"]:
            raise KeyError("conv failed")
        return response

    confdir = pam_stack(["auth required {pytest} msg=echo_off:pw msg=echo_on:user"])
    base_conv, base_response = sys.getrefcount(conv), sys.getrefcount(response)
    for i in range(pamstack.rounds(2_000)):
        failure["raise"] = i % 2 == 1
        rc, h = low.pam_start_confdir("pytest", "alice", conv, confdir)
        result = low.pam_authenticate(h, 0)
        error = low.pamlow_take_error(h)
        low.pam_end(h, result)
        if failure["raise"]:
            assert result == low.PAM_CONV_ERR
            assert isinstance(error, KeyError)
        else:
            assert result == low.PAM_SUCCESS
            assert error is None
    del h, error
    gc.collect()
    assert sys.getrefcount(conv) == base_conv
    assert sys.getrefcount(response) == base_response
