"""Mistakes in what the caller passes: each one is an exception of the
right type whose message names the argument the caller used, and none is
a PamError (an application treats PamError as "PAM is down")."""

from __future__ import annotations

import pathlib
import re
from typing import Any, Callable

import pytest

from draxoft.auth import _pamlow
from draxoft.auth import pam

from conftest import keep_environment
from pamstack import StackFactory


def quiet(style: int, message: Any, data: Any) -> None:
    """A conversation that answers nothing."""
    return None


def raises_naming(error: type[BaseException], name: str, call: Callable[[], object]) -> str:
    """Run *call*, which must raise *error* (and no PamError) naming *name*."""
    with pytest.raises(error) as info:
        call()
    assert not isinstance(info.value, pam.PamError), info.value
    message = str(info.value)
    assert re.search(rf"(^|\W){re.escape(name)}(\W|$)", message), message
    return message


@pytest.fixture
def confdir(pam_stack: StackFactory) -> str:
    return pam_stack({"pytest": ["auth required pam_permit.so", "account required pam_permit.so"]})


# ----------------------------------------------------------------------
# pam.authenticate()

AUTHENTICATE_CASES = [
    # (name of the argument at fault, error, arguments)
    ("password", TypeError, dict(user="alice", password=None)),  # form.get("password")
    ("password", TypeError, dict(user="alice", password=42)),
    ("password", ValueError, dict(user="alice", password="se\0cret")),
    ("password", ValueError, dict(user="alice", password="\ud800")),
    ("user", TypeError, dict(user=None, password="pw")),
    ("user", TypeError, dict(user=42, password="pw")),
    ("user", ValueError, dict(user="al\0ice", password="pw")),
    ("service", TypeError, dict(user="alice", password="pw", service=None)),
    ("service", ValueError, dict(user="alice", password="pw", service="py\0test")),
    ("service", ValueError, dict(user="alice", password="pw", service="")),
    ("rhost", TypeError, dict(user="alice", password="pw", rhost=10)),
    ("tty", ValueError, dict(user="alice", password="pw", tty=b"pts/\0")),
    ("ruser", TypeError, dict(user="alice", password="pw", ruser=["bob"])),
]


@pytest.mark.parametrize(
    "name, error, arguments", AUTHENTICATE_CASES, ids=[f"{c[0]}-{c[1].__name__}-{i}" for i, c in enumerate(AUTHENTICATE_CASES)]
)
def test_authenticate_names_the_bad_argument(
    confdir: str, name: str, error: type[BaseException], arguments: dict[str, Any]
) -> None:
    arguments.setdefault("service", "pytest")
    raises_naming(error, name, lambda: pam.authenticate(confdir=confdir, **arguments))


def test_authenticate_password_none_says_what_is_wanted(confdir: str) -> None:
    message = raises_naming(TypeError, "password", lambda: pam.authenticate("alice", None, "pytest", confdir=confdir))
    assert message == "password must be str, bytes or bytearray, not None"


def test_authenticate_confdir_of_the_wrong_type(confdir: str) -> None:
    raises_naming(TypeError, "confdir", lambda: pam.authenticate("alice", "pw", "pytest", confdir=3))


def test_missing_confdir_is_file_not_found_naming_it(tmp_path: pathlib.Path) -> None:
    missing = tmp_path / "no-such-dir"
    for call in (
        lambda: pam.authenticate("alice", "pw", "pytest", confdir=missing),
        lambda: pam.handle("pytest", "alice", quiet, confdir=missing),
        lambda: pam.resident("pytest", confdir=missing),
    ):
        message = raises_naming(FileNotFoundError, "confdir", call)
        assert str(missing) in message


def test_confdir_that_is_a_file(tmp_path: pathlib.Path) -> None:
    file = tmp_path / "pam.conf"
    file.write_text("")
    message = raises_naming(NotADirectoryError, "confdir", lambda: pam.handle("pytest", "alice", confdir=file))
    assert str(file) in message


def test_service_pam_cannot_find_says_which_and_where(tmp_path: pathlib.Path) -> None:
    # No file for the service and no "other": Linux-PAM's pam_start says
    # only PAM_ABORT ("Critical error - immediate abort").
    for call in (
        lambda: pam.authenticate("alice", "pw", "MyApp", confdir=tmp_path),
        lambda: pam.handle("MyApp", "alice", quiet, confdir=tmp_path),
        lambda: pam.resident("MyApp", confdir=tmp_path),
    ):
        message = raises_naming(FileNotFoundError, "'MyApp'", call)
        # Linux-PAM looks for the service name in lower case.
        expected = "myapp" if pam.implementation == "Linux-PAM" else "MyApp"
        assert str(tmp_path / expected) in message
        assert str(tmp_path / "other") in message


def test_other_stands_in_for_an_unknown_service(pam_stack: StackFactory) -> None:
    confdir = pam_stack({"other": ["auth required pam_deny.so", "account required pam_deny.so"]})
    assert pam.authenticate("alice", "pw", "nosuch", confdir=confdir) is False


# ----------------------------------------------------------------------
# pam.handle() and its attributes

HANDLE_CASES = [
    ("service", TypeError, dict(service=None)),
    ("service", TypeError, dict(service=7)),
    ("service", ValueError, dict(service=b"")),
    ("user", TypeError, dict(user=7)),
    ("user", ValueError, dict(user="a\0b")),
    ("conv", TypeError, dict(conv="not callable")),
    ("delay", TypeError, dict(delay=1.5)),
    ("tty", TypeError, dict(tty=1)),
    ("rhost", ValueError, dict(rhost="10.0.0.1\0")),
    ("ruser", TypeError, dict(ruser=object())),
    ("user_prompt", TypeError, dict(user_prompt=3)),
]


@pytest.mark.parametrize(
    "name, error, arguments", HANDLE_CASES, ids=[f"{c[0]}-{c[1].__name__}-{i}" for i, c in enumerate(HANDLE_CASES)]
)
def test_handle_names_the_bad_argument(
    confdir: str, name: str, error: type[BaseException], arguments: dict[str, Any]
) -> None:
    arguments.setdefault("service", "pytest")
    arguments.setdefault("conv", quiet)
    raises_naming(error, name, lambda: pam.handle(confdir=confdir, **arguments))


@pytest.mark.parametrize(
    "name, value, error",
    [
        ("service", None, TypeError),
        ("service", "", ValueError),
        ("user", 5, TypeError),
        ("tty", "pts\0", ValueError),
        ("rhost", 127, TypeError),
        ("ruser", b"\0", ValueError),
        ("user_prompt", ["?"], TypeError),
        ("elevated", 1, TypeError),
        ("elevated", "yes", TypeError),
        ("conv", 42, TypeError),
        ("delay", "later", TypeError),
    ],
)
def test_attribute_names_itself(confdir: str, name: str, value: Any, error: type[BaseException]) -> None:
    with pam.handle("pytest", "alice", quiet, confdir=confdir) as h:
        raises_naming(error, name, lambda: setattr(h, name, value))


@pytest.mark.skipif("fail_delay" not in pam.extensions, reason="this PAM has no pam_fail_delay")
@pytest.mark.parametrize(
    "usec, error", [(-1, ValueError), (2**32, ValueError), ("1000", TypeError), (1.5, TypeError), (True, TypeError)]
)
def test_fail_delay_names_usec(confdir: str, usec: Any, error: type[BaseException]) -> None:
    with pam.handle("pytest", "alice", quiet, confdir=confdir) as h:
        message = raises_naming(error, "usec", lambda: h.fail_delay(usec))
        assert "pam_fail_delay" not in message and "unsigned int'" not in message  # not SWIG's words


@pytest.mark.parametrize("flags, error", [(2**31, ValueError), (-(2**31) - 1, ValueError), (True, TypeError)])
def test_call_names_flags(confdir: str, flags: Any, error: type[BaseException]) -> None:
    with pam.handle("pytest", "alice", quiet, confdir=confdir) as h:
        raises_naming(error, "flags", lambda: h.call("authenticate", flags))


def test_environment_names_and_values(confdir: str) -> None:
    with pam.handle("pytest", "alice", quiet, confdir=confdir) as h:
        env = h.environment
        raises_naming(TypeError, "name", lambda: env.__setitem__(5, "x"))
        raises_naming(ValueError, "name", lambda: env.__setitem__("A=B", "x"))
        raises_naming(TypeError, "'GREETING'", lambda: env.__setitem__("GREETING", None))
        raises_naming(ValueError, "'GREETING'", lambda: env.__setitem__("GREETING", "hi\0"))
        assert "GREETING" not in env


def test_closed_handle_has_one_message(confdir: str) -> None:
    h = pam.handle("pytest", "alice", quiet, confdir=confdir)
    low = h._low
    h.close()
    with pytest.raises(ValueError) as from_python:
        h.tty
    with pytest.raises(ValueError) as from_low:
        _pamlow.pam_get_item(low, pam.PAM_TTY)
    assert str(from_python.value) == str(from_low.value) == "the PAM handle is closed"


def test_one_message_whichever_entry_point(confdir: str) -> None:
    # authenticate(), handle() and resident() check service alike.
    messages = {
        raises_naming(TypeError, "service", call)
        for call in (
            lambda: pam.authenticate("alice", "pw", None, confdir=confdir),
            lambda: pam.handle(None, "alice", quiet, confdir=confdir),
            lambda: pam.resident(None, confdir=confdir),
        )
    }
    assert messages == {"service must be str, bytes or bytearray, not None"}


# ----------------------------------------------------------------------
# Operation flags: True or False, by position or keyword, nothing else

OPERATIONS = {
    "authenticate": ("silent", "disallow_null_token"),
    "acct_mgmt": ("silent", "disallow_null_token"),
    "chauthtok": ("silent", "change_expired_authtok"),
    "establish_credentials": ("silent",),
    "delete_credentials": ("silent",),
    "reinitialize_credentials": ("silent",),
    "refresh_credentials": ("silent",),
    "open_session": ("silent",),
    "close_session": ("silent",),
}

FLAG_CASES = [
    (method, position, keyword, value)
    for method, keywords in OPERATIONS.items()
    for position, keyword in enumerate(keywords)
    for value in (pam.PAM_SILENT, pam.PAM_DISALLOW_NULL_AUTHTOK, 0, 1, None, "yes")
]


@pytest.fixture
def stage_stack(pam_stack: StackFactory) -> str:
    return pam_stack([f"{kind} required {{pytest}} stage" for kind in ("auth", "account", "password", "session")])


@pytest.mark.parametrize("method, position, keyword, value", FLAG_CASES)
def test_a_flag_that_is_not_a_bool_is_refused(
    stage_stack: str, method: str, position: int, keyword: str, value: Any
) -> None:
    with pam.handle("pytest", "alice", quiet, confdir=stage_stack) as h:
        keep_environment(h)
        operation = getattr(h, method)
        positional = [False] * position + [value]
        message = raises_naming(TypeError, keyword, lambda: operation(*positional))
        assert "handle.call" in message  # how to pass PAM_* flag values
        raises_naming(TypeError, keyword, lambda: operation(**{keyword: value}))
        assert not [name for name in h.environment if name.startswith("PYTEST_STAGE")]  # PAM was not called


def test_disallow_null_authtok_by_position_is_refused(stage_stack: str) -> None:
    # The mistake the flag check is for: PAM_DISALLOW_NULL_AUTHTOK in the
    # first position would mean silent=True, without the null-token check.
    with pam.handle("pytest", "alice", quiet, confdir=stage_stack) as h:
        with pytest.raises(TypeError, match="silent"):
            h.authenticate(pam.PAM_DISALLOW_NULL_AUTHTOK)


@pytest.mark.parametrize(
    "args, kwargs, expected",
    [
        ((True,), {}, pam.PAM_SILENT),
        ((), {"silent": True}, pam.PAM_SILENT),
        ((False, True), {}, pam.PAM_DISALLOW_NULL_AUTHTOK),
        ((True,), {"disallow_null_token": True}, pam.PAM_SILENT | pam.PAM_DISALLOW_NULL_AUTHTOK),
        ((), {}, 0),
    ],
)
def test_bool_flags_by_position_or_keyword(
    stage_stack: str, args: tuple[bool, ...], kwargs: dict[str, bool], expected: int
) -> None:
    with pam.handle("pytest", "alice", quiet, confdir=stage_stack) as h:
        keep_environment(h)
        assert h.authenticate(*args, **kwargs)
        assert int(h.environment["PYTEST_FLAGS_auth"]) == expected


@pytest.mark.parametrize("code, error", [("PAM_AUTH_ERR", TypeError), (None, TypeError), (True, TypeError), (2**31, ValueError)])
def test_pam_error_from_code_names_code(code: Any, error: type[BaseException]) -> None:
    message = raises_naming(error, "code", lambda: pam.PamError.from_code(code))
    assert "pam_strerror" not in message  # not SWIG's words
