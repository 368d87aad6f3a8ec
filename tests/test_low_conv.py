"""_pamlow: the conversation trampoline, seen from both of its ends."""

from __future__ import annotations

import gc
import sys
import textwrap
from typing import Any, Callable

import pytest

import pamstack
from draxoft.auth import _pamlow as low


def _run(
    confdir: str, conv: Any, call: Callable[[Any], int] = lambda h: low.pam_authenticate(h, 0),
    user: str | None = "alice",
) -> tuple[int, dict[str, str], BaseException | None]:
    """One transaction: the call's code, the environment after it and the
    exception kept on the handle (taken)."""
    rc, h = low.pam_start_confdir("pytest", user, conv, confdir)
    assert rc == low.PAM_SUCCESS
    try:
        result = call(h)
        env = pamstack.env_dict(low.pam_getenvlist(h))
        error = low.pamlow_take_error(h)
    finally:
        low.pam_end(h, low.PAM_SUCCESS)
    return result, env, error


def _packet(payload: bytes, control: int = 1) -> bytes:
    """A Linux-PAM binary packet: 4-byte big-endian size, control, data."""
    return (len(payload) + 5).to_bytes(4, "big") + bytes([control]) + payload


def test_every_style_in_one_call(pam_stack: pamstack.StackFactory) -> None:
    """Six messages of six styles, one conversation call: the callable sees
    each once, in order, with its style and its text as bytes (a binary
    prompt as its whole packet); the module gets each response."""
    confdir = pam_stack([
        "auth required {pytest} msg=echo_off:Password: [msg=echo_on:Your name: ] "
        "msg=error:Bad! msg=info:Hello msg=radio:yes/no msg=binary:00ff4142"
    ])
    answers = {
        low.PAM_PROMPT_ECHO_OFF: "s\u00e9cret",
        low.PAM_PROMPT_ECHO_ON: b"bob",
        low.PAM_ERROR_MSG: None,
        low.PAM_TEXT_INFO: bytearray(b"ack"),
        low.PAM_RADIO_TYPE: "yes",
        low.PAM_BINARY_PROMPT: _packet(b"\x00reply\xff", control=3),
    }
    conv = pamstack.RecordingConv(lambda style, message: answers[style])
    result, env, error = _run(confdir, conv)
    assert (result, error) == (low.PAM_SUCCESS, None)
    assert conv.calls == [
        (low.PAM_PROMPT_ECHO_OFF, b"Password:"),
        (low.PAM_PROMPT_ECHO_ON, b"Your name: "),
        (low.PAM_ERROR_MSG, b"Bad!"),
        (low.PAM_TEXT_INFO, b"Hello"),
        (low.PAM_RADIO_TYPE, b"yes/no"),
        (low.PAM_BINARY_PROMPT, _packet(b"\x00\xffAB")),
    ]
    assert all(type(message) is bytes for message in conv.messages)
    assert env["PYTEST_CONV_RC"] == "0"
    assert [env[f"PYTEST_RESP_{i}"] for i in range(6)] == [
        "s\u00e9cret", "bob", "<null>", "ack", "yes",
        _packet(b"\x00reply\xff", control=3).hex(),
    ]


def test_thousand_messages_in_one_call(pam_stack: pamstack.StackFactory) -> None:
    """1000 messages (far past PAM_MAX_NUM_MSG) in one call: every one is
    delivered, in order, and every response reaches the module."""
    confdir = pam_stack(["auth required {pytest} msg=echo_off:pw msg=info:note "
                         "msg=binary:01 msg=echo_on:name repeat=250"])
    counter = iter(range(1000))

    def answer(style: int, message: bytes) -> Any:
        i = next(counter)
        if style == low.PAM_BINARY_PROMPT:
            return _packet(i.to_bytes(2, "big"))
        return str(i) if i % 3 else str(i).encode()

    conv = pamstack.RecordingConv(answer)
    result, env, error = _run(confdir, conv)
    assert (result, error) == (low.PAM_SUCCESS, None)
    assert len(conv.calls) == 1000
    styles = [low.PAM_PROMPT_ECHO_OFF, low.PAM_TEXT_INFO, low.PAM_BINARY_PROMPT,
              low.PAM_PROMPT_ECHO_ON]
    assert [style for style, _ in conv.calls] == styles * 250
    for i in range(1000):
        expected = _packet(i.to_bytes(2, "big")).hex() if i % 4 == 2 else str(i)
        assert env[f"PYTEST_RESP_{i}"] == expected, i


def test_several_conversation_calls(pam_stack: pamstack.StackFactory) -> None:
    """Modules conversing one after another each get their own answers."""
    confdir = pam_stack(["auth required {pytest} msg=echo_off:first expect=0:one",
                         "auth required {pytest} msg=echo_off:second expect=0:two"])
    conv = pamstack.RecordingConv(["one", "two"])
    result, env, error = _run(confdir, conv)
    assert (result, error) == (low.PAM_SUCCESS, None)
    assert conv.messages == [b"first", b"second"]


def test_expect_can_fail(pam_stack: pamstack.StackFactory) -> None:
    """The module really compares: a wrong answer is PAM_AUTH_ERR."""
    confdir = pam_stack(["auth required {pytest} msg=echo_off:pw expect=0:right"])
    result, env, error = _run(confdir, pamstack.RecordingConv(["wrong"]))
    assert (result, error) == (low.PAM_AUTH_ERR, None)
    assert env["PYTEST_EXPECT_FAILED"] == "0"


@pytest.mark.parametrize(
    "response, received",
    [
        ("plain", "plain"),
        (b"raw\xff", "raw\udcff"),
        (bytearray(b"mutable"), "mutable"),
        ("\u2603 snow", "\u2603 snow"),
        ("\udcfe", "\udcfe"),
        ("", ""),
        (None, "<null>"),
    ],
    ids=["str", "bytes", "bytearray", "utf8", "surrogate", "empty", "none"],
)
def test_response_types(pam_stack: pamstack.StackFactory, response: Any, received: str) -> None:
    """str (UTF-8, surrogateescape), bytes, bytearray and None all work."""
    confdir = pam_stack(["auth required {pytest} msg=echo_off:pw"])
    result, env, error = _run(confdir, pamstack.RecordingConv([response]))
    assert (result, error) == (low.PAM_SUCCESS, None)
    assert env["PYTEST_RESP_0"] == received


class ConvFailure(Exception):
    """The exception test conversations raise."""


def test_exception_becomes_conv_err_and_is_kept(pam_stack: pamstack.StackFactory) -> None:
    """An exception stops the conversation at once: PAM gets PAM_CONV_ERR
    (no responses), the operation returns it, and pamlow_take_error hands
    out that very exception object, with its traceback, once."""
    raised: list[BaseException] = []

    def conv(style: int, message: bytes) -> str:
        if message == b"second":
            error = ConvFailure("boom")
            raised.append(error)
            raise error
        return "fine"

    confdir = pam_stack(["auth required {pytest} msg=echo_off:first "
                         "msg=echo_off:second msg=echo_off:third"])
    rc, h = low.pam_start_confdir("pytest", "alice", conv, confdir)
    try:
        assert low.pam_authenticate(h, 0) == low.PAM_CONV_ERR
        assert low.pam_getenv(h, "PYTEST_CONV_RC") == str(low.PAM_CONV_ERR).encode()
        assert low.pam_getenv(h, "PYTEST_CONV_RESP_ON_ERROR") is None
        assert low.pam_getenv(h, "PYTEST_RESP_0") is None
        error = low.pamlow_take_error(h)
        assert error is raised[0]
        assert error.__traceback__ is not None
        assert low.pamlow_take_error(h) is None
    finally:
        low.pam_end(h, low.PAM_SUCCESS)


def test_first_exception_wins_and_python_is_not_called_again(
    pam_stack: pamstack.StackFactory,
) -> None:
    """After a failure, further conversations of the same call fail without
    entering Python; the first exception is the one kept."""
    calls: list[bytes] = []

    def conv(style: int, message: bytes) -> str:
        calls.append(message)
        raise ConvFailure(message.decode())

    confdir = pam_stack(["auth required {pytest} msg=echo_off:one",
                         "auth required {pytest} msg=echo_off:two",
                         "auth required {pytest} msg=echo_off:three"])
    result, env, error = _run(confdir, conv)
    assert result == low.PAM_CONV_ERR
    assert calls == [b"one"]
    assert isinstance(error, ConvFailure) and error.args == ("one",)
    # The later modules' conversations did run, and failed.
    assert env["PYTEST_CONV_RC"] == str(low.PAM_CONV_ERR)


def test_conversation_works_again_after_take(pam_stack: pamstack.StackFactory) -> None:
    """Taking the error re-arms the conversation for the next call."""
    state = {"fail": True}

    def conv(style: int, message: bytes) -> str:
        if state["fail"]:
            raise ConvFailure()
        return "ok"

    confdir = pam_stack(["auth required {pytest} msg=echo_off:pw expect=0:ok"])
    rc, h = low.pam_start_confdir("pytest", "alice", conv, confdir)
    try:
        assert low.pam_authenticate(h, 0) == low.PAM_CONV_ERR
        assert isinstance(low.pamlow_take_error(h), ConvFailure)
        state["fail"] = False
        assert low.pam_authenticate(h, 0) == low.PAM_SUCCESS
        assert low.pamlow_take_error(h) is None
    finally:
        low.pam_end(h, low.PAM_SUCCESS)


def test_pending_error_blocks_until_taken(pam_stack: pamstack.StackFactory) -> None:
    """Not taking the error keeps Python out of later calls as well."""
    calls: list[bytes] = []

    def conv(style: int, message: bytes) -> str:
        calls.append(message)
        if len(calls) == 1:
            raise ConvFailure()
        return "ok"

    confdir = pam_stack(["auth required {pytest} msg=echo_off:pw"])
    rc, h = low.pam_start_confdir("pytest", "alice", conv, confdir)
    try:
        assert low.pam_authenticate(h, 0) == low.PAM_CONV_ERR
        assert low.pam_authenticate(h, 0) == low.PAM_CONV_ERR
        assert calls == [b"pw"]
        assert isinstance(low.pamlow_take_error(h), ConvFailure)
        assert low.pam_authenticate(h, 0) == low.PAM_SUCCESS
        assert calls == [b"pw", b"pw"]
    finally:
        low.pam_end(h, low.PAM_SUCCESS)


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit, GeneratorExit])
def test_base_exceptions_are_kept_too(pam_stack: pamstack.StackFactory, exc_type: type) -> None:
    """KeyboardInterrupt at a prompt is kept like any exception, not lost
    and not raised through C."""

    def conv(style: int, message: bytes) -> str:
        raise exc_type()

    result, env, error = _run(pam_stack(["auth required {pytest} msg=echo_off:pw"]), conv)
    assert result == low.PAM_CONV_ERR
    assert type(error) is exc_type


@pytest.mark.parametrize("bad", [42, 4.2, ["pw"], ("pw",), object(), {"pw": 1}])
def test_wrong_response_type_is_type_error(pam_stack: pamstack.StackFactory, bad: Any) -> None:
    """A response that is not str/bytes/bytearray/None: TypeError, kept."""
    confdir = pam_stack(["auth required {pytest} msg=echo_off:pw"])
    result, env, error = _run(confdir, pamstack.RecordingConv([bad]))
    assert result == low.PAM_CONV_ERR
    assert isinstance(error, TypeError)


@pytest.mark.parametrize("bad", ["a\0b", b"a\0b", bytearray(b"\0")])
@pytest.mark.parametrize("style", ["echo_off", "echo_on", "radio"])
def test_nul_in_text_response_is_value_error(
    pam_stack: pamstack.StackFactory, bad: Any, style: str
) -> None:
    """A text response with a NUL would be cut short: ValueError, kept."""
    confdir = pam_stack([f"auth required {{pytest}} msg=info:hi msg={style}:pw"])
    result, env, error = _run(confdir, pamstack.RecordingConv([None, bad]))
    assert result == low.PAM_CONV_ERR
    assert isinstance(error, ValueError)


def test_conv_can_read_items_inside(pam_stack: pamstack.StackFactory) -> None:
    """Items may be read and written from inside the conversation."""
    seen: list[Any] = []
    holder: dict[str, Any] = {}

    def conv(style: int, message: bytes) -> str:
        h = holder["h"]
        seen.append(low.pam_get_item(h, low.PAM_USER))
        assert low.pam_set_item(h, low.PAM_RHOST, "inside") == low.PAM_SUCCESS
        return "x"

    confdir = pam_stack(["auth required {pytest} msg=echo_off:pw items"])
    rc, h = low.pam_start_confdir("pytest", "alice", conv, confdir)
    holder["h"] = h
    try:
        assert low.pam_authenticate(h, 0) == low.PAM_SUCCESS
        assert low.pamlow_take_error(h) is None
        assert low.pam_getenv(h, "PYTEST_ITEM_RHOST") == b"inside"
    finally:
        holder.clear()
        low.pam_end(h, low.PAM_SUCCESS)
    assert seen == [(low.PAM_SUCCESS, b"alice")]


@pytest.mark.parametrize(
    "name, call",
    [("authenticate", lambda h: low.pam_authenticate(h, 0)),
     ("chauthtok", lambda h: low.pam_chauthtok(h, 0)),
     ("end", lambda h: low.pam_end(h, 0))],
)
def test_reentering_pam_from_conv_is_refused(
    pam_stack: pamstack.StackFactory, name: str, call: Callable[[Any], int]
) -> None:
    """A PAM operation on the handle from its own conversation raises
    RuntimeError (kept like any exception); libpam is not re-entered."""
    holder: dict[str, Any] = {}

    def conv(style: int, message: bytes) -> str:
        call(holder["h"])
        return "unreachable"

    confdir = pam_stack(["auth required {pytest} msg=echo_off:pw"])
    rc, h = low.pam_start_confdir("pytest", "alice", conv, confdir)
    holder["h"] = h
    try:
        assert low.pam_authenticate(h, 0) == low.PAM_CONV_ERR
        assert isinstance(low.pamlow_take_error(h), RuntimeError)
        assert low.pam_get_item(h, low.PAM_USER) == (low.PAM_SUCCESS, b"alice")
    finally:
        holder.clear()
        low.pam_end(h, low.PAM_SUCCESS)


def test_get_user_through_conversation(pam_stack: pamstack.StackFactory) -> None:
    """pam_get_user's default prompt goes through the conversation."""
    conv = pamstack.RecordingConv(["dave"])
    result, env, error = _run(pam_stack(["auth required {pytest} getuser"]), conv, user=None)
    assert (result, error) == (low.PAM_SUCCESS, None)
    assert conv.calls == [(low.PAM_PROMPT_ECHO_ON, pamstack.user_prompt())]
    assert env["PYTEST_USER"] == "dave"


def test_callable_refcount_after_exceptions(pam_stack: pamstack.StackFactory) -> None:
    """Failing conversations leak no reference to the callable."""

    def conv(style: int, message: bytes) -> str:
        raise ConvFailure()

    confdir = pam_stack(["auth required {pytest} msg=echo_off:a msg=echo_off:b"])
    base = sys.getrefcount(conv)
    for _ in range(500):
        _run(confdir, conv)
    gc.collect()
    assert sys.getrefcount(conv) == base


# Degenerate calls that a careless trampoline would crash on; run apart so
# that a crash fails one test instead of ending the session.
_DEGENERATE_SCRIPT = textwrap.dedent(
    """
    import sys
    from draxoft.auth import _pamlow as low
    calls = []
    def conv(style, message):
        calls.append((style, message))
        return "x"
    rc, h = low.pam_start_confdir("pytest", "alice", conv, sys.argv[1])
    assert rc == 0, rc
    print("result", low.pam_authenticate(h, 0))
    print("conv_rc", low.pam_getenv(h, "PYTEST_CONV_RC"))
    print("resp_on_error", low.pam_getenv(h, "PYTEST_CONV_RESP_ON_ERROR"))
    print("error", repr(low.pamlow_take_error(h)))
    print("calls", calls)
    low.pam_end(h, 0)
    print("done yes")
    """
)


@pytest.mark.parametrize("option", ["zero", "nullmsg"])
def test_degenerate_conversation_calls(pam_stack: pamstack.StackFactory, option: str) -> None:
    """num_msg 0 and a NULL msg array: no crash, Python not called, no
    response array handed back with a failure, nothing kept."""
    done = pamstack.run_isolated(_DEGENERATE_SCRIPT,
                                 pam_stack([f"auth required {{pytest}} {option}"]))
    assert done.returncode == 0, f"child died ({done.returncode}):\n{done.stderr}"
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    assert lines["result"] == "0"
    assert lines["conv_rc"] in ("b'0'", f"b'{low.PAM_CONV_ERR}'")
    assert lines["resp_on_error"] == "None"
    assert lines["error"] == "None"
    assert lines["calls"] == "[]"
    assert lines["done"] == "yes"


def test_null_response_pointer(pam_stack: pamstack.StackFactory, matrix_passdb: Any) -> None:
    """pam_matrix's 'verbose' messages pass resp == NULL to the
    conversation (it expects no answer): they are still shown to Python,
    and nothing crashes or leaks."""
    passdb = matrix_passdb([("alice", "secret", "pytest")])
    confdir = pam_stack([f"auth required pam_matrix.so passdb={passdb} verbose"])
    script = _DEGENERATE_SCRIPT.replace('return "x"', 'return "secret"')
    done = pamstack.run_isolated(script, confdir)
    assert done.returncode == 0, f"child died ({done.returncode}):\n{done.stderr}"
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    assert lines["result"] == "0"
    assert lines["error"] == "None"
    assert lines["calls"].startswith("[(1, b'Password: ')")
    assert f"({low.PAM_TEXT_INFO}, " in lines["calls"]
    assert lines["done"] == "yes"
