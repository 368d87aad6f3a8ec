"""pam.authenticate(), chauthtok with pam_matrix, and the original documentation's examples."""

from __future__ import annotations

import random
import string
from pathlib import Path
from typing import Any, Callable

import pytest

from draxoft.auth import pam

import pamstack
from pamstack import StackFactory

PassDB = Callable[[list[tuple[str, str, str]]], str]


@pytest.fixture
def matrix(pam_stack: StackFactory, matrix_passdb: PassDB) -> tuple[str, str]:
    """A stack authenticating against pam_matrix; returns (confdir, passdb)."""
    passdb = matrix_passdb([("alice", "wonderland", "pytest"), ("bob", "builder", "pytest")])
    confdir = pam_stack(
        [
            f"auth required pam_matrix.so passdb={passdb}",
            f"account required pam_matrix.so passdb={passdb}",
            f"password required pam_matrix.so passdb={passdb}",
        ]
    )
    return confdir, passdb


def test_right_password(matrix: tuple[str, str]) -> None:
    confdir, _ = matrix
    assert pam.authenticate("alice", "wonderland", "pytest", confdir=confdir) is True


@pytest.mark.parametrize("password", [b"wonderland", bytearray(b"wonderland")])
def test_password_as_bytes(matrix: tuple[str, str], password: Any) -> None:
    confdir, _ = matrix
    assert pam.authenticate(b"alice", password, "pytest", confdir=confdir) is True


def test_wrong_password_and_unknown_user_look_the_same(matrix: tuple[str, str], unknown_user: str) -> None:
    confdir, _ = matrix
    assert pam.authenticate("alice", "wrong", "pytest", confdir=confdir) is False
    assert pam.authenticate(unknown_user, "wonderland", "pytest", confdir=confdir) is False
    assert pam.authenticate("alice", "", "pytest", confdir=confdir) is False


def test_unknown_user_through_pam_unix(pam_stack: StackFactory, unknown_user: str) -> None:
    confdir = pam_stack(["auth required pam_unix.so", "account required pam_unix.so"])
    assert pam.authenticate(unknown_user, "whatever", "pytest", confdir=confdir) is False


@pytest.mark.parametrize("code", ["PAM_ACCT_EXPIRED", "PAM_PERM_DENIED", "PAM_AUTH_ERR", "PAM_USER_UNKNOWN"])
def test_account_refusals_are_false(pam_stack: StackFactory, code: str) -> None:
    # The password is right; the account check says no.
    confdir = pam_stack(["auth required pam_permit.so", f"account required {{pytest}} ret={code}"])
    assert pam.authenticate("alice", "pw", "pytest", confdir=confdir) is False


def test_the_account_check_runs(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required pam_permit.so", "account required pam_deny.so"])
    assert pam.authenticate("alice", "pw", "pytest", confdir=confdir) is False


def test_new_password_required_raises(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required pam_permit.so", "account required {pytest} ret=PAM_NEW_AUTHTOK_REQD"])
    with pytest.raises(pam.PamError) as info:
        pam.authenticate("alice", "pw", "pytest", confdir=confdir)
    assert info.value.errno == pam.PAM_NEW_AUTHTOK_REQD


@pytest.mark.parametrize("code", ["PAM_AUTHINFO_UNAVAIL", "PAM_SYSTEM_ERR", "PAM_SERVICE_ERR", "PAM_BUF_ERR"])
def test_system_failures_raise(pam_stack: StackFactory, code: str) -> None:
    confdir = pam_stack([f"auth required {{pytest}} ret={code}", "account required pam_permit.so"])
    with pytest.raises(pam.PamError) as info:
        pam.authenticate("alice", "pw", "pytest", confdir=confdir)
    assert info.value.errno == getattr(pam, code)


def test_answers_prompts_and_ignores_messages(pam_stack: StackFactory) -> None:
    confdir = pam_stack(
        [
            "auth required {pytest} msg=info:welcome msg=echo_on:Login: msg=echo_off:Password: "
            "expect=1:alice expect=2:s3cret",
            "account required pam_permit.so",
        ]
    )
    assert pam.authenticate("alice", "s3cret", "pytest", confdir=confdir) is True
    assert pam.authenticate("alice", "other", "pytest", confdir=confdir) is False


def test_null_password_refused(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} stage", "account required {pytest} stage"])
    # The flag reaches both calls: modules that allow empty passwords must not.
    with pam.handle("pytest", "alice", lambda s, m, d: None, confdir=confdir) as h:
        h.acct_mgmt(disallow_null_token=True)
        assert int(h.environment["PYTEST_FLAGS_acct"]) & pam.PAM_DISALLOW_NULL_AUTHTOK
    assert pam.authenticate("alice", "", "pytest", confdir=confdir) is True


def test_items_reach_the_modules(pam_stack: StackFactory) -> None:
    # pam_exec exports the items to its command's environment.
    check = 'test "$PAM_RHOST" = 192.0.2.7 && test "$PAM_TTY" = web && test "$PAM_RUSER" = proxy && test "$PAM_USER" = alice'
    confdir = pam_stack(["auth required pam_exec.so quiet /bin/sh -c " + pamstack.pam_arg(check), "account required pam_permit.so"])
    assert pam.authenticate("alice", "x", "pytest", confdir=confdir, rhost="192.0.2.7", tty="web", ruser="proxy")
    # pam_exec reports a failed command as a system error.
    with pytest.raises(pam.PamError):
        pam.authenticate("alice", "x", "pytest", confdir=confdir, rhost="192.0.2.8", tty="web", ruser="proxy")


def test_default_service_is_login(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required pam_permit.so", "account required pam_permit.so"], service="login")
    assert pam.authenticate("alice", "x", confdir=confdir) is True


# ----------------------------------------------------------------------
# chauthtok with pam_matrix


def test_chauthtok_then_log_in_with_the_new_password(matrix: tuple[str, str]) -> None:
    confdir, passdb = matrix
    answers = {"old": "wonderland", "new": "looking-glass"}

    def conv(style: int, message: Any, data: Any) -> str:
        assert style == pam.PAM_PROMPT_ECHO_OFF
        return answers["old"] if "old" in message.lower() or "current" in message.lower() else answers["new"]

    with pam.handle("pytest", "alice", conv, confdir=confdir) as h:
        h.chauthtok()
    assert ("alice", "looking-glass", "pytest") in pamstack.read_matrix_passdb(passdb)
    assert pam.authenticate("alice", "looking-glass", "pytest", confdir=confdir) is True
    assert pam.authenticate("alice", "wonderland", "pytest", confdir=confdir) is False


def test_chauthtok_with_the_wrong_old_password_fails(matrix: tuple[str, str]) -> None:
    confdir, passdb = matrix
    with pam.handle("pytest", "bob", lambda s, m, d: "not-the-old-one", confdir=confdir) as h:
        with pytest.raises(pam.PamError):
            h.chauthtok()
    assert ("bob", "builder", "pytest") in pamstack.read_matrix_passdb(passdb)


def test_change_expired_authtok_flag(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["password required {pytest} stage"])
    with pam.handle("pytest", "alice", lambda s, m, d: None, confdir=confdir) as h:
        h.chauthtok(change_expired_authtok=True)
        assert int(h.environment["PYTEST_FLAGS_prechauthtok"]) & pam.PAM_CHANGE_EXPIRED_AUTHTOK
        assert int(h.environment["PYTEST_FLAGS_chauthtok"]) & pam.PAM_CHANGE_EXPIRED_AUTHTOK


# ----------------------------------------------------------------------
# The original documentation's examples, in Python 3


def test_original_unknown_user_example(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required pam_unix.so"], service="login")
    h = pam.handle(confdir=confdir)
    h.user = "".join(random.sample(string.ascii_lowercase, 7)) + "x"
    h.conv = lambda style, msg, data: "password"
    with pytest.raises(pam.PamError) as info:
        h.authenticate()
    assert info.value.errno == pam.PAM_USER_UNKNOWN
    # The documentation was written on OpenPAM: "[Errno 13] ..." there.
    assert info.value.errno == (13 if pamstack.is_openpam() else 10)
    assert str(info.value) == f"[Errno {pam.PAM_USER_UNKNOWN}] {info.value.strerror}"
    try:
        h.authenticate()
    except pam.PamError as e:
        assert e.errno == pam.PAM_USER_UNKNOWN


def test_original_elevated_example_as_documented(pam_stack: StackFactory) -> None:
    h = pam.handle(confdir=pam_stack(["auth required pam_permit.so"], service="login"))
    assert h.elevated is False


def test_pam_error_is_an_os_error() -> None:
    e = pam.PamError(pam.PAM_AUTH_ERR, "text")
    assert isinstance(e, OSError)
    assert (e.errno, e.strerror, str(e)) == (pam.PAM_AUTH_ERR, "text", f"[Errno {pam.PAM_AUTH_ERR}] text")
    assert type(pam.PamError(2, "x")) is pam.PamError  # not turned into FileNotFoundError


def test_module_attributes() -> None:
    assert pam.implementation == pamstack.implementation()
    assert isinstance(pam.extensions, frozenset)
    if pamstack.is_openpam():
        # OpenPAM 20190224: confdir through its policy path, no fail delay,
        # no deletion from the environment.
        assert {"getenvlist", "confdir"} <= pam.extensions
        assert not {"fail_delay", "unsetenv", "radio_type", "binary_prompt"} & pam.extensions
        assert pam.PAM_USER_UNKNOWN == 13
        headers = pamstack.header_constants("pam_constants.h")
    else:
        assert {"fail_delay", "unsetenv", "confdir"} <= pam.extensions
        assert pam.PAM_USER_UNKNOWN == 10
        headers = pamstack.header_constants("_pam_types.h", "pam_appl.h", "pam_modules.h")
    for name, value in headers.items():
        assert getattr(pam, name) == value, name


def test_py_typed_and_docstrings() -> None:
    import importlib.resources

    assert (importlib.resources.files("draxoft.auth.pam") / "py.typed").is_file()
    public = [pam.handle, pam.authenticate, pam.PamError, pam.Environment]
    public += [getattr(pam.handle, n) for n in dir(pam.handle) if not n.startswith("_")]
    for obj in public:
        assert (getattr(obj, "__doc__", None) or "").strip(), obj
    assert pam.__doc__


def test_namespace_packages() -> None:
    import draxoft
    import draxoft.auth

    assert not hasattr(draxoft, "__file__") or draxoft.__file__ is None
    assert not hasattr(draxoft.auth, "__file__") or draxoft.auth.__file__ is None
    assert Path(pam.__file__).parent.name == "pam"
