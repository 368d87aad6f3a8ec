"""_pamlow: constants, implementation, extensions and pam_strerror."""

from __future__ import annotations

import pytest

import pamstack
from draxoft.auth import _pamlow as low


def test_every_application_header_constant_is_exported() -> None:
    """Each numeric PAM_* macro of _pam_types.h / pam_appl.h (each enum
    member of OpenPAM's pam_constants.h), same value."""
    expected = pamstack.header_constants()
    assert len(expected) > 50, "header parsing found too few constants"
    exported = {name: getattr(low, name, None) for name in expected}
    assert exported == expected


def test_implementation_specific_values() -> None:
    """Values that differ between implementations are this build's: Linux-PAM
    numbers its codes its own way, OpenPAM follows XSSO's order."""
    assert low.PAM_SUCCESS == 0
    assert low.PAM_PROMPT_ECHO_OFF == 1
    if pamstack.is_openpam():
        assert low.PAM_USER_UNKNOWN == 13
        assert low.PAM_CONV_ERR == 6
        assert low.PAM_BAD_ITEM == 31
        assert low.PAM_SILENT == -0x80000000  # (-0x7fffffff - 1) in the header
        assert low.PAM_HOST == 13
        for name in ("PAM_RADIO_TYPE", "PAM_BINARY_PROMPT", "PAM_XAUTHDATA", "PAM_INCOMPLETE"):
            assert not hasattr(low, name), name
    else:
        assert low.PAM_USER_UNKNOWN == 10
        assert low.PAM_CONV_ERR == 19
        assert low.PAM_INCOMPLETE == 31
        assert low.PAM_SILENT == 0x8000
        assert low.PAM_RADIO_TYPE == 5
        assert low.PAM_BINARY_PROMPT == 7
        assert low.PAM_MAX_NUM_MSG == 32
        assert low.PAM_XAUTHDATA == 12
        assert not hasattr(low, "PAM_HOST")


def test_constants_are_plain_ints() -> None:
    """Constants must be usable as flags: int, not wrapper objects."""
    for name in pamstack.header_constants():
        assert type(getattr(low, name)) is int, name


def test_implementation() -> None:
    """The implementation configure found (config.h) is the one reported."""
    assert low.pamlow_implementation() == pamstack.implementation()


def test_extensions() -> None:
    """Linux-PAM 1.5 has all three optional features the contract names;
    OpenPAM 20190224 has getenvlist, and confdir where libpam exports
    openpam_policy_path, and none of Linux-PAM's."""
    extensions = low.pamlow_extensions()
    assert isinstance(extensions, tuple)
    assert all(isinstance(name, str) for name in extensions)
    assert len(set(extensions)) == len(extensions)
    if pamstack.is_openpam():
        expected = {"getenvlist"}
        if pamstack.config_defines("HAVE_OPENPAM_POLICY_PATH"):
            expected.add("confdir")
        assert set(extensions) == expected
    else:
        assert {"confdir", "fail_delay", "unsetenv"} <= set(extensions)


#: pam_strerror's English texts, by code name.
STRERROR = {
    "Linux-PAM": {
        "PAM_SUCCESS": "Success",
        "PAM_USER_UNKNOWN": "User not known to the underlying authentication module",
        "PAM_CONV_ERR": "Conversation error",
        "PAM_AUTH_ERR": "Authentication failure",
    },
    "OpenPAM": {
        "PAM_SUCCESS": "Success",
        "PAM_USER_UNKNOWN": "Unknown user",
        "PAM_CONV_ERR": "Conversation failure",
        "PAM_AUTH_ERR": "Authentication error",
    },
}


@pytest.mark.parametrize("name", ["PAM_SUCCESS", "PAM_USER_UNKNOWN", "PAM_CONV_ERR"])
def test_strerror_without_handle(name: str) -> None:
    """pam_strerror(None, code) gives the implementation's English text."""
    text = STRERROR[pamstack.implementation()][name]
    assert low.pam_strerror(None, getattr(low, name)) == text


def test_strerror_with_handle(pam_stack: pamstack.StackFactory) -> None:
    """With a live handle the text is the same as without one."""
    confdir = pam_stack(["auth required pam_permit.so"])
    rc, h = low.pam_start_confdir("pytest", "alice", None, confdir)
    assert rc == low.PAM_SUCCESS
    try:
        assert low.pam_strerror(h, low.PAM_AUTH_ERR) == STRERROR[pamstack.implementation()]["PAM_AUTH_ERR"]
    finally:
        low.pam_end(h, low.PAM_SUCCESS)


def test_strerror_unknown_code_is_str() -> None:
    """A code PAM does not know still yields some text, not an error."""
    assert isinstance(low.pam_strerror(None, 12345), str)
