"""_pamlow: the fail-delay callable (PAM_FAIL_DELAY) and pam_fail_delay.

Linux-PAM calls the application's delay function after every
pam_authenticate and pam_chauthtok, success included, instead of sleeping.
The delay it passes is the largest one requested during the call,
randomized by Linux-PAM to within [0.5, 1.5) of it.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Callable

import pytest

import pamstack
from draxoft.auth import _pamlow as low

#: OpenPAM has no fail delays at all.
pytestmark = pytest.mark.linux_pam("pam_fail_delay and the PAM_FAIL_DELAY item")


class DelayRecorder:
    """A delay callable remembering each (rc, usec) it was called with."""

    def __init__(self, error: BaseException | type[BaseException] | None = None) -> None:
        """``error``, when given, is raised by every call (a class: a new
        instance each time)."""
        self.calls: list[tuple[int, int]] = []
        self.error = error

    def __call__(self, rc: int, usec: int) -> None:
        """Records one call."""
        self.calls.append((rc, usec))
        if isinstance(self.error, type):
            raise self.error()
        if self.error is not None:
            raise self.error


def _transaction(
    confdir: str, delay: Any, call: Callable[[Any], int] = lambda h: low.pam_authenticate(h, 0),
    before: Callable[[Any], None] = lambda h: None,
) -> tuple[int, BaseException | None, float]:
    """Runs call with the delay callable set: (code, kept error, seconds)."""
    rc, h = low.pam_start_confdir("pytest", "alice", None, confdir)
    assert rc == low.PAM_SUCCESS
    try:
        assert low.pam_set_item(h, low.PAM_FAIL_DELAY, delay) == low.PAM_SUCCESS
        before(h)
        start = time.monotonic()
        result = call(h)
        elapsed = time.monotonic() - start
        return result, low.pamlow_take_error(h), elapsed
    finally:
        low.pam_end(h, low.PAM_SUCCESS)


def test_delay_called_after_failure_instead_of_sleeping(
    pam_stack: pamstack.StackFactory,
) -> None:
    """A module asks for 0.4 s; the callable gets (PAM_AUTH_ERR, ~0.4 s)
    and PAM itself does not sleep."""
    delay = DelayRecorder()
    confdir = pam_stack(["auth required {pytest} delay=400000 ret=PAM_AUTH_ERR"])
    result, error, elapsed = _transaction(confdir, delay)
    assert (result, error) == (low.PAM_AUTH_ERR, None)
    assert len(delay.calls) == 1
    rc, usec = delay.calls[0]
    assert rc == low.PAM_AUTH_ERR
    assert 200_000 <= usec < 600_000
    assert elapsed < 0.15


def test_largest_request_wins(pam_stack: pamstack.StackFactory) -> None:
    """Two modules ask for 0.1 s and 2 s: the delay is based on 2 s."""
    delay = DelayRecorder()
    confdir = pam_stack(["auth required {pytest} delay=100000",
                         "auth required {pytest} delay=2000000 ret=PAM_MAXTRIES",
                         "auth required {pytest} delay=300000"])
    result, error, elapsed = _transaction(confdir, delay)
    assert result == low.PAM_MAXTRIES
    [(rc, usec)] = delay.calls
    assert rc == low.PAM_MAXTRIES
    assert 1_000_000 <= usec < 3_000_000


def test_delay_from_application(pam_stack: pamstack.StackFactory) -> None:
    """pam_fail_delay called by the application counts as a request."""
    delay = DelayRecorder()
    confdir = pam_stack(["auth required {pytest} ret=PAM_AUTH_ERR"])

    def ask(h: Any) -> None:
        assert low.pam_fail_delay(h, 1_000_000) == low.PAM_SUCCESS

    result, error, elapsed = _transaction(confdir, delay, before=ask)
    [(rc, usec)] = delay.calls
    assert rc == low.PAM_AUTH_ERR
    assert 500_000 <= usec < 1_500_000


def test_delay_called_on_success_too(pam_stack: pamstack.StackFactory) -> None:
    """Linux-PAM reports success to the callable as well (delay 0 when no
    one asked for one)."""
    delay = DelayRecorder()
    result, error, elapsed = _transaction(pam_stack(["auth required {pytest}"]), delay)
    assert result == low.PAM_SUCCESS
    assert delay.calls == [(low.PAM_SUCCESS, 0)]


def test_delay_after_chauthtok(pam_stack: pamstack.StackFactory) -> None:
    """pam_chauthtok calls the delay function too."""
    delay = DelayRecorder()
    confdir = pam_stack(["password required {pytest} delay=50000 ret=PAM_AUTHTOK_ERR"])
    result, error, elapsed = _transaction(confdir, delay, lambda h: low.pam_chauthtok(h, 0))
    assert result == low.PAM_AUTHTOK_ERR
    [(rc, usec)] = delay.calls
    assert rc == low.PAM_AUTHTOK_ERR and 25_000 <= usec < 75_000


@pytest.mark.parametrize("error", [ValueError("in delay"), KeyboardInterrupt()])
def test_delay_exception_is_kept(pam_stack: pamstack.StackFactory, error: BaseException) -> None:
    """An exception in the delay callable is kept on the handle (the very
    object); the operation's code is PAM's."""
    delay = DelayRecorder(error)
    confdir = pam_stack(["auth required {pytest} delay=1000 ret=PAM_AUTH_ERR"])
    result, kept, elapsed = _transaction(confdir, delay)
    assert result == low.PAM_AUTH_ERR
    assert kept is error
    assert kept.__traceback__ is not None


def test_no_delay_callable_means_pam_sleeps(pam_stack: pamstack.StackFactory) -> None:
    """Without a callable, Linux-PAM sleeps for the delay itself (at least
    half of what was asked)."""
    confdir = pam_stack(["auth required {pytest} delay=300000 ret=PAM_AUTH_ERR"])
    result, error, elapsed = _transaction(confdir, None)
    assert (result, error) == (low.PAM_AUTH_ERR, None)
    assert elapsed >= 0.14


def test_delay_none_after_callable(pam_stack: pamstack.StackFactory) -> None:
    """Setting the item back to None stops calling the old callable."""
    delay = DelayRecorder()
    confdir = pam_stack(["auth required {pytest} ret=PAM_AUTH_ERR"])

    def unset(h: Any) -> None:
        assert low.pam_set_item(h, low.PAM_FAIL_DELAY, None) == low.PAM_SUCCESS

    result, error, elapsed = _transaction(confdir, delay, before=unset)
    assert result == low.PAM_AUTH_ERR
    assert delay.calls == []


def test_fail_delay_argument_checks(pam_stack: pamstack.StackFactory) -> None:
    """pam_fail_delay takes an unsigned int of microseconds."""
    rc, h = low.pam_start_confdir("pytest", "alice", None,
                                  pam_stack(["auth required pam_permit.so"]))
    try:
        assert low.pam_fail_delay(h, 0) == low.PAM_SUCCESS
        assert low.pam_fail_delay(h, 2**32 - 1) == low.PAM_SUCCESS
        for bad in ("10", None, 1.5):
            with pytest.raises(TypeError):
                low.pam_fail_delay(h, bad)
        for bad in (-1, 2**32):
            with pytest.raises((OverflowError, ValueError)):
                low.pam_fail_delay(h, bad)
    finally:
        low.pam_end(h, low.PAM_SUCCESS)


def test_delay_refcount_stable(pam_stack: pamstack.StackFactory) -> None:
    """Calls and exceptions of the delay callable leave no reference."""
    delay = DelayRecorder(RuntimeError)
    confdir = pam_stack(["auth required {pytest} ret=PAM_AUTH_ERR"])
    base = sys.getrefcount(delay)
    for _ in range(500):
        _transaction(confdir, delay)
    assert len(delay.calls) == 500
    assert sys.getrefcount(delay) == base
