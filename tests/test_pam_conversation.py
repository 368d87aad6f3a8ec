"""Conversation and fail-delay callbacks of draxoft.auth.pam."""

from __future__ import annotations

import time
from typing import Any

import pytest

from draxoft.auth import pam

from conftest import keep_environment
from pamstack import StackFactory


def record(log: list[tuple[int, Any, Any]], answer: Any = None):  # type: ignore[no-untyped-def]
    """A conversation that logs each call and gives the same answer."""

    def conv(style: int, message: Any, data: Any) -> Any:
        log.append((style, message, data))
        return answer

    return conv


def kept_env(h: pam.handle) -> dict[str, str]:
    return dict(h.environment)


def test_messages_arrive_in_order_with_their_styles(pam_stack: StackFactory) -> None:
    confdir = pam_stack(
        [
            "auth required {pytest} msg=info:one msg=error:two msg=echo_on:three "
            "msg=echo_off:four msg=radio:five"
        ]
    )
    log: list[tuple[int, Any, Any]] = []
    with pam.handle("pytest", "alice", record(log, "ok"), data=["d"], confdir=confdir) as h:
        assert h.authenticate()
    assert log == [
        (pam.PAM_TEXT_INFO, "one", ["d"]),
        (pam.PAM_ERROR_MSG, "two", ["d"]),
        (pam.PAM_PROMPT_ECHO_ON, "three", ["d"]),
        (pam.PAM_PROMPT_ECHO_OFF, "four", ["d"]),
        (pam.PAM_RADIO_TYPE, "five", ["d"]),
    ]


def test_many_messages_in_one_conversation(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} msg=echo_on:a msg=info:b repeat=500"])
    log: list[tuple[int, Any, Any]] = []
    with pam.handle("pytest", "alice", record(log, "r"), confdir=confdir) as h:
        keep_environment(h)
        assert h.authenticate()
        env = kept_env(h)
    assert len(log) == 1000
    assert env["PYTEST_RESP_998"] == "r"
    assert env["PYTEST_RESP_999"] == "r"


@pytest.mark.parametrize(
    "answer, received",
    [
        ("sécret", "sécret"),
        (b"bytes-answer", "bytes-answer"),
        (bytearray(b"bytearray-answer"), "bytearray-answer"),
        (None, "<null>"),
        ("", ""),
    ],
)
def test_response_types(pam_stack: StackFactory, answer: Any, received: str) -> None:
    confdir = pam_stack(["auth required {pytest} msg=echo_off:Password:"])
    with pam.handle("pytest", "alice", lambda s, m, d: answer, confdir=confdir) as h:
        keep_environment(h)
        assert h.authenticate()
        assert h.environment["PYTEST_RESP_0"] == received


def test_binary_prompt_gives_bytes(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} msg=binary:00ff41"])
    log: list[tuple[int, Any, Any]] = []
    with pam.handle("pytest", "alice", record(log, None), confdir=confdir) as h:
        assert h.authenticate()
    (style, message, _), = log
    assert style == pam.PAM_BINARY_PROMPT
    # The whole packet: 4-byte length, control byte, payload.
    assert message == b"\x00\x00\x00\x08\x01\x00\xffA"


def test_prompt_that_is_not_utf8_keeps_its_bytes(pam_stack: StackFactory, tmp_path: Any) -> None:
    confdir = pam_stack(["auth required {pytest} msg=echo_on:PLACEHOLDER"])
    path = f"{confdir}/pytest"
    with open(path, "rb") as f:
        text = f.read().replace(b"PLACEHOLDER", b"caf\xe9:")
    with open(path, "wb") as f:
        f.write(text)
    log: list[tuple[int, Any, Any]] = []
    with pam.handle("pytest", "alice", record(log, "x"), confdir=confdir) as h:
        assert h.authenticate()
    message = log[0][1]
    assert message == "caf\udce9:"
    assert message.encode("utf-8", "surrogateescape") == b"caf\xe9:"


class Boom(Exception):
    """Raised by test callbacks."""


def test_exception_comes_out_unchanged(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} msg=echo_off:Password:"])
    raised = Boom("from the callback")

    def conv(style: int, message: Any, data: Any) -> str:
        raise raised

    with pam.handle("pytest", "alice", conv, confdir=confdir) as h:
        with pytest.raises(Boom) as info:
            h.authenticate()
        assert info.value is raised
        # The traceback still shows the callback.
        assert any(entry.name == "conv" for entry in info.traceback)
        # The handle stays usable.
        h.conv = lambda s, m, d: "x"
        assert h.authenticate()


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit, GeneratorExit, MemoryError, ValueError])
def test_base_exceptions_pass_too(pam_stack: StackFactory, exc_type: type) -> None:
    confdir = pam_stack(["auth required {pytest} msg=echo_off:Password:"])

    def conv(style: int, message: Any, data: Any) -> str:
        raise exc_type()

    with pam.handle("pytest", "alice", conv, confdir=confdir) as h:
        with pytest.raises(exc_type):
            h.authenticate()


def test_first_exception_wins_and_python_is_not_asked_again(pam_stack: StackFactory) -> None:
    # Two modules converse in turn; the second must not reach Python once
    # the first conversation failed, and the operation raises the first error.
    confdir = pam_stack(
        [
            "auth optional {pytest} msg=echo_off:first",
            "auth optional {pytest} msg=echo_off:second",
            "auth required pam_permit.so",
        ]
    )
    calls: list[str] = []

    def conv(style: int, message: Any, data: Any) -> str:
        calls.append(message)
        raise Boom(message)

    with pam.handle("pytest", "alice", conv, confdir=confdir) as h:
        with pytest.raises(Boom, match="first"):
            h.authenticate()
    assert calls == ["first"]


def test_responses_built_before_an_exception_are_dropped(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} msg=echo_on:a msg=echo_on:b msg=echo_on:c"])
    answers = iter(["one", "two"])

    def conv(style: int, message: Any, data: Any) -> str:
        return next(answers)  # StopIteration at the third message

    with pam.handle("pytest", "alice", conv, confdir=confdir) as h:
        keep_environment(h)
        with pytest.raises(StopIteration):
            h.authenticate()
        env = kept_env(h)
    assert env["PYTEST_CONV_RC"] == str(pam.PAM_CONV_ERR)
    assert "PYTEST_RESP_0" not in env


@pytest.mark.parametrize("answer", [42, 1.5, ["x"], object(), memoryview(b"x")])
def test_wrong_response_type_is_a_type_error(pam_stack: StackFactory, answer: Any) -> None:
    confdir = pam_stack(["auth required {pytest} msg=echo_off:Password:"])
    with pam.handle("pytest", "alice", lambda s, m, d: answer, confdir=confdir) as h:
        with pytest.raises(TypeError, match="response"):
            h.authenticate()


@pytest.mark.parametrize("answer", ["a\0b", b"a\0b", bytearray(b"\0")])
def test_response_with_nul_is_a_value_error(pam_stack: StackFactory, answer: Any) -> None:
    confdir = pam_stack(["auth required {pytest} msg=echo_off:Password:"])
    with pam.handle("pytest", "alice", lambda s, m, d: answer, confdir=confdir) as h:
        with pytest.raises(ValueError, match="NUL"):
            h.authenticate()


def test_no_conversation_is_a_conv_error(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} msg=echo_off:Password:"])
    with pam.handle("pytest", "alice", None, confdir=confdir) as h:
        with pytest.raises(pam.PamError) as info:
            h.authenticate()
        assert info.value.errno == pam.PAM_CONV_ERR
        h.conv = lambda s, m, d: "x"
        assert h.authenticate()
        h.conv = None
        with pytest.raises(pam.PamError):
            h.authenticate()


def test_operation_from_inside_the_callback_is_refused(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} msg=echo_off:Password:", "account required pam_permit.so"])
    seen: dict[str, Any] = {}

    def conv(style: int, message: Any, data: Any) -> str:
        h: pam.handle = data
        # Items may be read and written here...
        seen["user"] = h.user
        h.rhost = "set.from.callback"
        seen["env"] = "PYTEST_CONV_RC" in h.environment
        # ...operations may not.
        h.acct_mgmt()
        return "unreached"

    with pam.handle("pytest", "alice", conv, confdir=confdir) as h:
        h.data = h
        with pytest.raises(RuntimeError, match="acct_mgmt"):
            h.authenticate()
        assert seen == {"user": "alice", "env": False}
        assert h.rhost == "set.from.callback"
        h.data = None


@pytest.mark.parametrize("call", ["close", "authenticate", "open_session"])
def test_every_operation_is_refused_from_the_callback(pam_stack: StackFactory, call: str) -> None:
    confdir = pam_stack(["auth required {pytest} msg=echo_off:Password:"])
    holder: list[pam.handle] = []

    def conv(style: int, message: Any, data: Any) -> str:
        getattr(holder[0], call)()
        return "x"

    with pam.handle("pytest", "alice", conv, confdir=confdir) as h:
        holder.append(h)
        with pytest.raises(RuntimeError):
            h.authenticate()
        assert not h.closed


def test_callback_may_replace_itself(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} msg=echo_on:a msg=echo_on:b"])
    holder: list[pam.handle] = []

    def second(style: int, message: Any, data: Any) -> str:
        return "second"

    def first(style: int, message: Any, data: Any) -> str:
        holder[0].conv = second
        return "first"

    with pam.handle("pytest", "alice", first, confdir=confdir) as h:
        holder.append(h)
        keep_environment(h)
        assert h.authenticate()
        assert (h.environment["PYTEST_RESP_0"], h.environment["PYTEST_RESP_1"]) == ("first", "second")
        assert h.conv is second


# ----------------------------------------------------------------------
# Fail delay


def test_delay_callback_replaces_the_sleep(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} delay=2000000 ret=PAM_AUTH_ERR"])
    calls: list[tuple[int, int, Any]] = []
    with pam.handle("pytest", "alice", None, lambda rc, usec, d: calls.append((rc, usec, d)), data=7, confdir=confdir) as h:
        start = time.monotonic()
        assert h.authenticate() is False
        elapsed = time.monotonic() - start
    assert elapsed < 1.0  # PAM did not sleep its 2 s
    (rc, usec, data), = calls
    assert rc == pam.PAM_AUTH_ERR
    assert data == 7
    # Linux-PAM randomizes the delay around the longest one asked for.
    assert 1_000_000 <= usec <= 3_000_000


def test_without_callback_pam_sleeps(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} delay=300000 ret=PAM_AUTH_ERR"])
    with pam.handle("pytest", "alice", None, confdir=confdir) as h:
        start = time.monotonic()
        assert h.authenticate() is False
        elapsed = time.monotonic() - start
    assert 0.14 <= elapsed < 3.0


@pytest.mark.linux_pam("pam_fail_delay")
def test_application_fail_delay(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} ret=PAM_AUTH_ERR"])
    calls: list[int] = []
    with pam.handle("pytest", "alice", None, lambda rc, usec, d: calls.append(usec), confdir=confdir) as h:
        h.fail_delay(400_000)
        assert h.authenticate() is False
    (usec,) = calls
    assert 200_000 <= usec <= 600_000


@pytest.mark.skipif("fail_delay" in pam.extensions, reason=f"{pam.implementation} has pam_fail_delay")
def test_no_fail_delay_where_pam_has_none(pam_stack: StackFactory) -> None:
    # OpenPAM: no pam_fail_delay, no PAM_FAIL_DELAY item. The handle has no
    # fail_delay method, refuses a delay callback, and a failure comes
    # back at once.
    assert not hasattr(pam.handle, "fail_delay")
    confdir = pam_stack(["auth required {pytest} ret=PAM_AUTH_ERR"])
    with pytest.raises(pam.PamError) as info:
        pam.handle("pytest", "alice", None, lambda rc, usec, d: None, confdir=confdir)
    assert info.value.errno == pam.PAM_BAD_ITEM
    with pam.handle("pytest", "alice", None, confdir=confdir) as h:
        assert not hasattr(h, "fail_delay") and h.delay is None
        start = time.monotonic()
        assert h.authenticate() is False
        assert time.monotonic() - start < 0.5


def test_delay_callback_hears_of_success_too(pam_stack: StackFactory) -> None:
    # Linux-PAM calls the application's delay function whatever the result,
    # with the result: a callback must look at rc before it waits.
    confdir = pam_stack(["auth required {pytest} delay=500000"])
    calls: list[tuple[int, int]] = []
    with pam.handle("pytest", "alice", None, lambda rc, usec, d: calls.append((rc, usec)), confdir=confdir) as h:
        start = time.monotonic()
        assert h.authenticate()
        assert time.monotonic() - start < 0.25
    assert [rc for rc, _ in calls] == [pam.PAM_SUCCESS]


def test_delay_exception_comes_out(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} delay=100000 ret=PAM_USER_UNKNOWN"])
    raised = Boom("delay")

    def delay(rc: int, usec: int, data: Any) -> None:
        raise raised

    with pam.handle("pytest", "alice", None, delay, confdir=confdir) as h:
        with pytest.raises(Boom) as info:
            h.authenticate()
    assert info.value is raised


def test_delay_not_called_after_a_conversation_error(pam_stack: StackFactory) -> None:
    # The first exception explains the failure; the delay callback is not
    # asked to run on top of it (its own exception would be lost).
    confdir = pam_stack(["auth required {pytest} delay=100000 msg=echo_off:pw"])
    delays: list[int] = []

    def conv(style: int, message: Any, data: Any) -> str:
        raise Boom("conv")

    with pam.handle("pytest", "alice", conv, lambda rc, usec, d: delays.append(usec), confdir=confdir) as h:
        with pytest.raises(Boom, match="conv"):
            h.authenticate()
    assert delays == []


def test_default_terminal_conversation_without_terminal(pam_stack: StackFactory, capsys: Any) -> None:
    # Messages go to stdout and stderr; no prompt is answered from nothing.
    confdir = pam_stack(["auth required {pytest} msg=info:hello msg=error:oops"])
    with pam.handle("pytest", "alice", confdir=confdir) as h:
        assert h.authenticate()
    out, err = capsys.readouterr()
    assert out == "hello\n"
    assert err == "oops\n"
