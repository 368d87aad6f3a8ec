"""_pamlow: the PAM environment (pam_putenv, pam_getenv, pam_getenvlist)."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

import pamstack
from draxoft.auth import _pamlow as low


@pytest.fixture
def handle(pam_stack: pamstack.StackFactory) -> Iterator[Any]:
    """A started handle whose auth stack sets and unsets variables."""
    # OpenPAM's pam_putenv cannot delete, so no DOOMED there.
    doomed = "" if pamstack.is_openpam() else "setenv=DOOMED=x unsetenv=DOOMED "
    confdir = pam_stack(["auth required {pytest} setenv=FROM_MODULE=m1 "
                         f"{doomed}[setenv=SPACED=a b]"])
    rc, h = low.pam_start_confdir("pytest", "alice", None, confdir)
    assert rc == low.PAM_SUCCESS
    yield h
    low.pam_end(h, low.PAM_SUCCESS)


def test_fresh_environment_is_empty(handle: Any) -> None:
    """A new transaction has no variables: an empty list, not None."""
    assert low.pam_getenvlist(handle) == []
    assert low.pam_getenv(handle, "PATH") is None


def test_putenv_getenv(handle: Any) -> None:
    """NAME=value set with str or bytes reads back as bytes."""
    assert low.pam_putenv(handle, "GREETING=hello") == low.PAM_SUCCESS
    assert low.pam_putenv(handle, b"RAW=\xff\xfe") == low.PAM_SUCCESS
    assert low.pam_putenv(handle, "UNI=\u00e9t\u00e9") == low.PAM_SUCCESS
    assert low.pam_getenv(handle, "GREETING") == b"hello"
    assert low.pam_getenv(handle, b"RAW") == b"\xff\xfe"
    assert low.pam_getenv(handle, "UNI") == "\u00e9t\u00e9".encode()


def test_value_may_contain_equals(handle: Any) -> None:
    """Only the first '=' separates name and value."""
    assert low.pam_putenv(handle, "EQ=a=b=c") == low.PAM_SUCCESS
    assert low.pam_getenv(handle, "EQ") == b"a=b=c"


def test_replace_value(handle: Any) -> None:
    """Putting a name again replaces its value, keeping one entry."""
    low.pam_putenv(handle, "V=1")
    low.pam_putenv(handle, "V=2")
    assert low.pam_getenv(handle, "V") == b"2"
    assert low.pam_getenvlist(handle) == [b"V=2"]


def test_empty_value_is_a_value(handle: Any) -> None:
    """'E=' stores an empty value, distinct from no variable."""
    assert low.pam_putenv(handle, "E=") == low.PAM_SUCCESS
    assert low.pam_getenv(handle, "E") == b""
    assert b"E=" in low.pam_getenvlist(handle)


def test_name_alone_deletes(handle: Any) -> None:
    """'NAME' without '=' deletes; deleting a missing name is BAD_ITEM.
    OpenPAM cannot delete: a bare name is PAM_SYSTEM_ERR and changes nothing."""
    low.pam_putenv(handle, "GONE=1")
    low.pam_putenv(handle, "KEPT=1")
    if pamstack.is_openpam():
        assert low.pam_putenv(handle, "GONE") == low.PAM_SYSTEM_ERR
        assert low.pam_getenvlist(handle) == [b"GONE=1", b"KEPT=1"]
        return
    assert low.pam_putenv(handle, "GONE") == low.PAM_SUCCESS
    assert low.pam_getenv(handle, "GONE") is None
    assert low.pam_getenvlist(handle) == [b"KEPT=1"]
    assert low.pam_putenv(handle, "GONE") == low.PAM_BAD_ITEM


def test_empty_name_is_bad_item(handle: Any) -> None:
    """Linux-PAM refuses a variable without a name. OpenPAM stores "=value"
    (an empty name) and refuses "" (no '=') with PAM_SYSTEM_ERR; the Python
    layer refuses empty names before PAM sees them."""
    if pamstack.is_openpam():
        assert low.pam_putenv(handle, "=value") == low.PAM_SUCCESS
        assert low.pam_putenv(handle, "") == low.PAM_SYSTEM_ERR
        assert low.pam_getenvlist(handle) == [b"=value"]
        return
    assert low.pam_putenv(handle, "=value") == low.PAM_BAD_ITEM
    assert low.pam_putenv(handle, "") == low.PAM_BAD_ITEM
    assert low.pam_getenvlist(handle) == []


def test_getenvlist_order_and_type(handle: Any) -> None:
    """Every entry is bytes 'NAME=value', in the order they were added."""
    for i in range(50):
        assert low.pam_putenv(handle, f"VAR{i}=value {i}") == low.PAM_SUCCESS
    entries = low.pam_getenvlist(handle)
    assert isinstance(entries, list)
    assert all(type(e) is bytes for e in entries)
    assert entries == [f"VAR{i}=value {i}".encode() for i in range(50)]


@pytest.mark.parametrize("bad", ["A=b\0c", b"A\0=b", "\0"])
def test_nul_is_value_error(handle: Any, bad: Any) -> None:
    """A NUL would cut the string: refused before PAM sees it."""
    with pytest.raises(ValueError):
        low.pam_putenv(handle, bad)
    with pytest.raises(ValueError):
        low.pam_getenv(handle, bad)
    assert low.pam_getenvlist(handle) == []


@pytest.mark.parametrize("bad", [None, 42, ["A=1"]])
def test_wrong_types(handle: Any, bad: Any) -> None:
    """putenv and getenv take str or bytes."""
    with pytest.raises(TypeError):
        low.pam_putenv(handle, bad)
    with pytest.raises(TypeError):
        low.pam_getenv(handle, bad)


def test_module_and_application_share_the_environment(handle: Any) -> None:
    """What a module puts is visible to the application, and the reverse
    survives the module's call."""
    assert low.pam_putenv(handle, "FROM_APP=a1") == low.PAM_SUCCESS
    assert low.pam_authenticate(handle, 0) == low.PAM_SUCCESS
    env = pamstack.env_dict(low.pam_getenvlist(handle))
    assert env == {"FROM_APP": "a1", "FROM_MODULE": "m1", "SPACED": "a b"}


def test_getenvlist_is_a_copy(handle: Any) -> None:
    """The list is the application's own: changing PAM's environment
    later does not change it."""
    low.pam_putenv(handle, "A=1")
    entries = low.pam_getenvlist(handle)
    low.pam_putenv(handle, "A=2")
    low.pam_putenv(handle, "B=3")
    assert entries == [b"A=1"]
