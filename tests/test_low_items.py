"""_pamlow: pam_get_item / pam_set_item, and what modules see of items."""

from __future__ import annotations

import textwrap
from typing import Any, Iterator

import pytest

import pamstack
from draxoft.auth import _pamlow as low

PERMIT = ["auth required pam_permit.so"]

#: String items an application may set and read back, with the suffix
#: pam_pytest uses for them.
STRING_ITEMS = {
    "PAM_USER": "USER",
    "PAM_TTY": "TTY",
    "PAM_RHOST": "RHOST",
    "PAM_RUSER": "RUSER",
    "PAM_USER_PROMPT": "USER_PROMPT",
    "PAM_XDISPLAY": "XDISPLAY",
    "PAM_AUTHTOK_TYPE": "AUTHTOK_TYPE",
    # OpenPAM's own (a build without one skips it, naming it).
    "PAM_HOST": "HOST",
    "PAM_AUTHTOK_PROMPT": "AUTHTOK_PROMPT",
    "PAM_OLDAUTHTOK_PROMPT": "OLDAUTHTOK_PROMPT",
}


@pytest.fixture
def handle(pam_stack: pamstack.StackFactory) -> Iterator[Any]:
    """A started handle on a permit-only stack, ended afterwards."""
    rc, h = low.pam_start_confdir("pytest", "alice", None, pam_stack(PERMIT))
    assert rc == low.PAM_SUCCESS
    yield h
    low.pam_end(h, low.PAM_SUCCESS)


def _get(h: Any, item: int) -> Any:
    """pam_get_item's value, asserting the read succeeded."""
    rc, value = low.pam_get_item(h, item)
    assert rc == low.PAM_SUCCESS, low.pam_strerror(None, rc)
    return value


@pytest.mark.parametrize("name", list(STRING_ITEMS))
@pytest.mark.parametrize(
    "given, stored",
    [
        ("plain", b"plain"),
        (b"bytes", b"bytes"),
        ("gr\u00fc\u00dfe \u2603", "gr\u00fc\u00dfe \u2603".encode()),
        ("\udcfe\udcff", b"\xfe\xff"),  # surrogateescape stands for raw bytes
        (b"\xfe\xff", b"\xfe\xff"),
        ("", b""),
    ],
    ids=["str", "bytes", "utf8", "surrogates", "raw-bytes", "empty"],
)
def test_string_item_round_trip(handle: Any, name: str, given: Any, stored: bytes) -> None:
    """str or bytes in, the same bytes out."""
    item = getattr(low, name)
    assert low.pam_set_item(handle, item, given) == low.PAM_SUCCESS
    assert low.pam_get_item(handle, item) == (low.PAM_SUCCESS, stored)


@pytest.mark.parametrize("name", list(STRING_ITEMS))
def test_string_item_none_unsets(handle: Any, name: str) -> None:
    """None clears an item PAM lets be empty; it then reads None."""
    item = getattr(low, name)
    assert low.pam_set_item(handle, item, "value") == low.PAM_SUCCESS
    assert low.pam_set_item(handle, item, None) == low.PAM_SUCCESS
    assert low.pam_get_item(handle, item) == (low.PAM_SUCCESS, None)


@pytest.mark.parametrize("name", ["PAM_TTY", "PAM_RHOST", "PAM_RUSER", "PAM_USER_PROMPT",
                                  "PAM_XDISPLAY", "PAM_AUTHTOK_TYPE"])
def test_unset_items_read_none(handle: Any, name: str) -> None:
    """Items nobody set read None."""
    assert low.pam_get_item(handle, getattr(low, name)) == (low.PAM_SUCCESS, None)


def test_service_item(handle: Any) -> None:
    """The service reads back lowercased, as Linux-PAM stores it. OpenPAM
    sets it once, in pam_start: a new one is PAM_BAD_ITEM."""
    assert _get(handle, low.PAM_SERVICE) == b"pytest"
    if pamstack.is_openpam():
        assert low.pam_set_item(handle, low.PAM_SERVICE, "other-service") == low.PAM_BAD_ITEM
        assert _get(handle, low.PAM_SERVICE) == b"pytest"
        return
    assert low.pam_set_item(handle, low.PAM_SERVICE, "Other-Service") == low.PAM_SUCCESS
    assert _get(handle, low.PAM_SERVICE) == b"other-service"


@pytest.mark.parametrize("name", ["PAM_SERVICE"] + list(STRING_ITEMS))
@pytest.mark.parametrize("bad", ["a\0b", b"a\0b", "\0"], ids=["str", "bytes", "only-nul"])
def test_nul_in_item_is_value_error(handle: Any, name: str, bad: Any) -> None:
    """A NUL cannot reach PAM (it would cut the value): ValueError, and the
    item keeps its value."""
    item = getattr(low, name)
    before = b"before"
    if name == "PAM_SERVICE" and pamstack.is_openpam():
        before = b"pytest"  # OpenPAM sets the service once, in pam_start
    else:
        assert low.pam_set_item(handle, item, before) == low.PAM_SUCCESS
    with pytest.raises(ValueError):
        low.pam_set_item(handle, item, bad)
    assert _get(handle, item) == before


@pytest.mark.parametrize("bad", [42, 1.5, ["a"], ("a", "b"), object()])
def test_wrong_type_for_string_item(handle: Any, bad: Any) -> None:
    """Only str, bytes and None are strings."""
    with pytest.raises(TypeError):
        low.pam_set_item(handle, low.PAM_TTY, bad)


@pytest.mark.parametrize("name", ["PAM_AUTHTOK", "PAM_OLDAUTHTOK"])
def test_authtok_hidden_from_applications(handle: Any, name: str) -> None:
    """Linux-PAM keeps the tokens to modules: PAM_BAD_ITEM both ways.
    OpenPAM lets the application set and read them."""
    item = getattr(low, name)
    if pamstack.is_openpam():
        assert low.pam_set_item(handle, item, "secret") == low.PAM_SUCCESS
        assert low.pam_get_item(handle, item) == (low.PAM_SUCCESS, b"secret")
        return
    assert low.pam_set_item(handle, item, "secret") == low.PAM_BAD_ITEM
    rc, value = low.pam_get_item(handle, item)
    assert (rc, value) == (low.PAM_BAD_ITEM, None)


def test_unknown_item_is_bad_item(handle: Any) -> None:
    """An item number PAM does not know: PAM_BAD_ITEM, no exception."""
    assert low.pam_get_item(handle, 4242) == (low.PAM_BAD_ITEM, None)
    assert low.pam_set_item(handle, 4242, "x") == low.PAM_BAD_ITEM


@pytest.mark.linux_pam("the PAM_XAUTHDATA item")
def test_xauthdata_round_trip(handle: Any) -> None:
    """(name, data) in, (bytes, bytes) out; data may hold any byte."""
    data = bytes(range(256))
    assert low.pam_set_item(handle, low.PAM_XAUTHDATA, ("MIT-MAGIC-COOKIE-1", data)) == 0
    assert _get(handle, low.PAM_XAUTHDATA) == (b"MIT-MAGIC-COOKIE-1", data)
    assert low.pam_set_item(handle, low.PAM_XAUTHDATA, (b"XDM-AUTH", bytearray(b"\x00x"))) == 0
    assert _get(handle, low.PAM_XAUTHDATA) == (b"XDM-AUTH", b"\x00x")


@pytest.mark.linux_pam("the PAM_XAUTHDATA item")
def test_xauthdata_empty_parts(handle: Any) -> None:
    """Empty name and empty data are values, kept as such."""
    assert low.pam_set_item(handle, low.PAM_XAUTHDATA, ("name", b"")) == low.PAM_SUCCESS
    assert _get(handle, low.PAM_XAUTHDATA) == (b"name", b"")


@pytest.mark.linux_pam("the PAM_XAUTHDATA item")
def test_xauthdata_unset_reads_none(handle: Any) -> None:
    """Before anyone sets it, PAM_XAUTHDATA reads None."""
    assert low.pam_get_item(handle, low.PAM_XAUTHDATA) == (low.PAM_SUCCESS, None)


@pytest.mark.linux_pam("the PAM_XAUTHDATA item")
@pytest.mark.parametrize("bad", ["name", ("only",), ("a", "b", "c"), 42, ["n", b"d"]])
def test_xauthdata_wrong_shape(handle: Any, bad: Any) -> None:
    """Anything but a pair (or None) is a TypeError."""
    with pytest.raises(TypeError):
        low.pam_set_item(handle, low.PAM_XAUTHDATA, bad)


@pytest.mark.linux_pam("the PAM_XAUTHDATA item")
def test_xauthdata_name_with_nul(handle: Any) -> None:
    """The name is a C string: a NUL in it is a ValueError."""
    with pytest.raises(ValueError):
        low.pam_set_item(handle, low.PAM_XAUTHDATA, ("a\0b", b"data"))


def test_conv_item_is_the_same_object(pam_stack: pamstack.StackFactory) -> None:
    """PAM_CONV gives back the very callable given; a replacement is used
    by the next conversation; None reads None."""
    first = pamstack.RecordingConv(["one"])
    second = pamstack.RecordingConv(["two"])
    confdir = pam_stack(["auth required {pytest} msg=echo_off:pw"])
    rc, h = low.pam_start_confdir("pytest", "alice", first, confdir)
    try:
        assert _get(h, low.PAM_CONV) is first
        assert low.pam_set_item(h, low.PAM_CONV, second) == low.PAM_SUCCESS
        assert _get(h, low.PAM_CONV) is second
        assert low.pam_authenticate(h, 0) == low.PAM_SUCCESS
        assert first.calls == [] and second.calls == [(low.PAM_PROMPT_ECHO_OFF, b"pw")]
        assert low.pam_getenv(h, "PYTEST_RESP_0") == b"two"
        assert low.pam_set_item(h, low.PAM_CONV, None) == low.PAM_SUCCESS
        assert _get(h, low.PAM_CONV) is None
        # Without a callable, a module's conversation fails cleanly.
        assert low.pam_authenticate(h, 0) == low.PAM_CONV_ERR
        assert low.pamlow_take_error(h) is None
    finally:
        low.pam_end(h, low.PAM_SUCCESS)


def test_conv_none_at_start(pam_stack: pamstack.StackFactory) -> None:
    """Started without a conversation: PAM_CONV reads None and prompting
    modules get PAM_CONV_ERR."""
    rc, h = low.pam_start_confdir("pytest", "alice", None,
                                  pam_stack(["auth required {pytest} msg=echo_off:pw"]))
    try:
        assert _get(h, low.PAM_CONV) is None
        assert low.pam_authenticate(h, 0) == low.PAM_CONV_ERR
        assert low.pam_getenv(h, "PYTEST_CONV_RC") == str(low.PAM_CONV_ERR).encode()
    finally:
        low.pam_end(h, low.PAM_SUCCESS)


@pytest.mark.parametrize("item", ["PAM_CONV", "PAM_FAIL_DELAY"])
@pytest.mark.parametrize("bad", [42, "callable?", b"x", ("a", "b")])
def test_callable_items_reject_non_callables(handle: Any, item: str, bad: Any) -> None:
    """PAM_CONV and PAM_FAIL_DELAY take a callable or None only."""
    with pytest.raises(TypeError):
        low.pam_set_item(handle, getattr(low, item), bad)


@pytest.mark.linux_pam("the PAM_FAIL_DELAY item")
def test_fail_delay_item_is_the_same_object(handle: Any) -> None:
    """PAM_FAIL_DELAY starts as None and gives back the callable given."""

    def delay(rc: int, usec: int) -> None:
        return None

    assert _get(handle, low.PAM_FAIL_DELAY) is None
    assert low.pam_set_item(handle, low.PAM_FAIL_DELAY, delay) == low.PAM_SUCCESS
    assert _get(handle, low.PAM_FAIL_DELAY) is delay
    assert low.pam_set_item(handle, low.PAM_FAIL_DELAY, None) == low.PAM_SUCCESS
    assert _get(handle, low.PAM_FAIL_DELAY) is None


def test_module_sees_the_items(pam_stack: pamstack.StackFactory) -> None:
    """What the application sets is what a module reads."""
    confdir = pam_stack(["auth required {pytest} items"])
    rc, h = low.pam_start_confdir("pytest", "alice", None, confdir)
    values = {
        "PAM_TTY": "/dev/pts/7",
        "PAM_RHOST": b"host.example",
        "PAM_RUSER": "r\u00e9mi",
        "PAM_USER_PROMPT": "Who are you? ",
        "PAM_XDISPLAY": ":0.0",
        "PAM_AUTHTOK_TYPE": "UNIX",
        "PAM_USER": b"\xffbob",
    }
    # Linux-PAM's own items where the build has them.
    values = {name: value for name, value in values.items() if hasattr(low, name)}
    xauth = hasattr(low, "PAM_XAUTHDATA")
    cookie = b"\x01\x02\xfe\xff" * 4
    try:
        for name, value in values.items():
            assert low.pam_set_item(h, getattr(low, name), value) == low.PAM_SUCCESS
        if xauth:
            assert low.pam_set_item(h, low.PAM_XAUTHDATA, ("MIT-MAGIC-COOKIE-1", cookie)) == 0
        assert low.pam_authenticate(h, 0) == low.PAM_SUCCESS
        seen = {k: v for k, v in pamstack.env_dict(low.pam_getenvlist(h)).items()
                if k.startswith("PYTEST_ITEM_")}
    finally:
        low.pam_end(h, low.PAM_SUCCESS)
    expected = {
        f"PYTEST_ITEM_{STRING_ITEMS[name]}":
            (value if isinstance(value, bytes) else value.encode()).decode(
                "utf-8", "surrogateescape")
        for name, value in values.items()
    }
    expected["PYTEST_ITEM_SERVICE"] = "pytest"
    if xauth:
        expected["PYTEST_ITEM_XAUTHNAME"] = "MIT-MAGIC-COOKIE-1"
        expected["PYTEST_ITEM_XAUTHNAMELEN"] = str(len("MIT-MAGIC-COOKIE-1"))
        expected["PYTEST_ITEM_XAUTHDATA"] = cookie.hex()
        expected["PYTEST_ITEM_XAUTHDATALEN"] = str(len(cookie))
    assert seen == expected


def test_module_sees_unset_items_as_unset(pam_stack: pamstack.StackFactory) -> None:
    """Items set to None are absent for modules; only service and user
    remain of a fresh handle."""
    confdir = pam_stack(["auth required {pytest} items"])
    rc, h = low.pam_start_confdir("pytest", "alice", None, confdir)
    try:
        assert low.pam_set_item(h, low.PAM_TTY, "tty1") == low.PAM_SUCCESS
        assert low.pam_set_item(h, low.PAM_TTY, None) == low.PAM_SUCCESS
        assert low.pam_authenticate(h, 0) == low.PAM_SUCCESS
        seen = {k for k in pamstack.env_dict(low.pam_getenvlist(h)) if k.startswith("PYTEST_ITEM_")}
    finally:
        low.pam_end(h, low.PAM_SUCCESS)
    assert seen == {"PYTEST_ITEM_SERVICE", "PYTEST_ITEM_USER"}


def test_module_sees_authtok_from_conversation(pam_stack: pamstack.StackFactory) -> None:
    """The password the conversation returns is the PAM_AUTHTOK a module
    reads, byte for byte (UTF-8 of the str)."""
    password = "p\u00e4ss w\u00f6rd"
    conv = pamstack.RecordingConv([password])
    confdir = pam_stack(["auth required {pytest} authtok",
                         "auth required {pytest} items"])
    rc, h = low.pam_start_confdir("pytest", "alice", conv, confdir)
    try:
        assert low.pam_authenticate(h, 0) == low.PAM_SUCCESS
        env = pamstack.env_dict(low.pam_getenvlist(h))
    finally:
        low.pam_end(h, low.PAM_SUCCESS)
    assert conv.calls == [(low.PAM_PROMPT_ECHO_OFF, pamstack.password_prompt())]
    assert env["PYTEST_AUTHTOK"] == password
    assert env["PYTEST_ITEM_AUTHTOK"] == password


def test_user_prompt_used_by_pam_get_user(pam_stack: pamstack.StackFactory) -> None:
    """With no user, pam_get_user asks through the conversation, with the
    PAM_USER_PROMPT item as prompt; the answer becomes PAM_USER."""
    conv = pamstack.RecordingConv([b"carol"])
    rc, h = low.pam_start_confdir("pytest", None, conv,
                                  pam_stack(["auth required {pytest} getuser"]))
    try:
        assert low.pam_set_item(h, low.PAM_USER_PROMPT, "Name please: ") == low.PAM_SUCCESS
        assert low.pam_authenticate(h, 0) == low.PAM_SUCCESS
        assert _get(h, low.PAM_USER) == b"carol"
        assert low.pam_getenv(h, "PYTEST_USER") == b"carol"
    finally:
        low.pam_end(h, low.PAM_SUCCESS)
    assert conv.calls == [(low.PAM_PROMPT_ECHO_ON, b"Name please: ")]


# Linux-PAM itself dereferences NULL for these two items, so the binding
# has to stop None before it reaches PAM.  Run apart: a crash must fail
# one test, not end the session.
_NONE_ITEM_SCRIPT = textwrap.dedent(
    """
    import sys
    from draxoft.auth import _pamlow as low
    rc, h = low.pam_start_confdir("pytest", "alice", None, sys.argv[1])
    assert rc == 0, rc
    item = getattr(low, sys.argv[2])
    try:
        rc = low.pam_set_item(h, item, None)
    except (TypeError, ValueError) as error:
        print("raised", type(error).__name__)
    else:
        print("rc", rc)
    print("after", low.pam_get_item(h, item))
    low.pam_end(h, 0)
    print("done")
    """
)


@pytest.mark.parametrize("item", ["PAM_SERVICE", "PAM_XAUTHDATA"])
def test_none_for_items_pam_cannot_clear(pam_stack: pamstack.StackFactory, item: str) -> None:
    """Setting these to None must not crash: a refusal (exception or an
    error code) is fine, and for XAUTHDATA clearing is fine too."""
    done = pamstack.run_isolated(_NONE_ITEM_SCRIPT, pam_stack(PERMIT), item)
    assert done.returncode == 0, f"child died ({done.returncode}):\n{done.stderr}"
    assert done.stdout.strip().endswith("done"), done.stdout + done.stderr
