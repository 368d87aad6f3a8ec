"""_pamlow: constants, implementation, extensions and pam_strerror."""

from __future__ import annotations

import pytest

import pamstack
from draxoft.auth import _pamlow as low


def test_every_application_header_constant_is_exported() -> None:
    """Each numeric PAM_* macro of _pam_types.h / pam_appl.h, same value."""
    expected = pamstack.header_constants()
    assert len(expected) > 50, "header parsing found too few constants"
    exported = {name: getattr(low, name, None) for name in expected}
    assert exported == expected


def test_linux_pam_specific_values() -> None:
    """Values that differ between implementations are Linux-PAM's here."""
    assert low.PAM_SUCCESS == 0
    assert low.PAM_USER_UNKNOWN == 10
    assert low.PAM_CONV_ERR == 19
    assert low.PAM_INCOMPLETE == 31
    assert low.PAM_SILENT == 0x8000
    assert low.PAM_PROMPT_ECHO_OFF == 1
    assert low.PAM_RADIO_TYPE == 5
    assert low.PAM_BINARY_PROMPT == 7
    assert low.PAM_MAX_NUM_MSG == 32
    assert low.PAM_XAUTHDATA == 12


def test_constants_are_plain_ints() -> None:
    """Constants must be usable as flags: int, not wrapper objects."""
    for name in pamstack.header_constants():
        assert type(getattr(low, name)) is int, name


def test_implementation() -> None:
    """This machine runs Linux-PAM."""
    assert low.pamlow_implementation() == "Linux-PAM"


def test_extensions() -> None:
    """Linux-PAM 1.5 has all three optional features the contract names."""
    extensions = low.pamlow_extensions()
    assert isinstance(extensions, tuple)
    assert all(isinstance(name, str) for name in extensions)
    assert {"confdir", "fail_delay", "unsetenv"} <= set(extensions)
    assert len(set(extensions)) == len(extensions)


@pytest.mark.parametrize(
    "code, text",
    [
        (0, "Success"),
        (10, "User not known to the underlying authentication module"),
        (19, "Conversation error"),
    ],
)
def test_strerror_without_handle(code: int, text: str) -> None:
    """pam_strerror(None, code) gives Linux-PAM's English text."""
    assert low.pam_strerror(None, code) == text


def test_strerror_with_handle(pam_stack: pamstack.StackFactory) -> None:
    """With a live handle the text is the same as without one."""
    confdir = pam_stack(["auth required pam_permit.so"])
    rc, h = low.pam_start_confdir("pytest", "alice", None, confdir)
    assert rc == low.PAM_SUCCESS
    try:
        assert low.pam_strerror(h, low.PAM_AUTH_ERR) == "Authentication failure"
    finally:
        low.pam_end(h, low.PAM_SUCCESS)


def test_strerror_unknown_code_is_str() -> None:
    """A code PAM does not know still yields some text, not an error."""
    assert isinstance(low.pam_strerror(None, 12345), str)
