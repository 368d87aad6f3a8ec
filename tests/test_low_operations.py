"""_pamlow: the six operations, their return codes and their flags."""

from __future__ import annotations

from typing import Any, Callable

import pytest

import pamstack
from draxoft.auth import _pamlow as low

#: pam_debug stage -> the _pamlow call that runs it.
OPERATIONS: dict[str, Callable[[Any], int]] = {
    "auth": lambda h: low.pam_authenticate(h, 0),
    "cred": lambda h: low.pam_setcred(h, low.PAM_ESTABLISH_CRED),
    "acct": lambda h: low.pam_acct_mgmt(h, 0),
    "prechauthtok": lambda h: low.pam_chauthtok(h, 0),
    "chauthtok": lambda h: low.pam_chauthtok(h, 0),
    "open_session": lambda h: low.pam_open_session(h, 0),
    "close_session": lambda h: low.pam_close_session(h, 0),
}

#: pam_pytest stage -> (stack type, call).
PYTEST_STAGES: dict[str, tuple[str, Callable[[Any], int]]] = {
    "auth": ("auth", lambda h: low.pam_authenticate(h, 0)),
    "setcred": ("auth", lambda h: low.pam_setcred(h, low.PAM_ESTABLISH_CRED)),
    "acct": ("account", lambda h: low.pam_acct_mgmt(h, 0)),
    "open": ("session", lambda h: low.pam_open_session(h, 0)),
    "close": ("session", lambda h: low.pam_close_session(h, 0)),
    "chauthtok": ("password", lambda h: low.pam_chauthtok(h, 0)),
}


def _expected(code: int) -> int:
    """What the application sees when the only module returns code:
    Linux-PAM turns a stack in which every module ignored into a denial,
    OpenPAM into a system error."""
    if code == low.PAM_IGNORE:
        return low.PAM_SYSTEM_ERR if pamstack.is_openpam() else low.PAM_PERM_DENIED
    return code


def _env(h: Any) -> dict[str, str]:
    """The handle's PAM environment as a dict."""
    return pamstack.env_dict(low.pam_getenvlist(h))


def _start(confdir: str, conv: Any = None, user: str | None = "alice") -> Any:
    """pam_start_confdir on service 'pytest', asserting success."""
    rc, h = low.pam_start_confdir("pytest", user, conv, confdir)
    assert rc == low.PAM_SUCCESS, low.pam_strerror(None, rc)
    return h


@pytest.mark.linux_pam("pam_debug (a Linux-PAM module)")
@pytest.mark.parametrize("stage", list(OPERATIONS))
@pytest.mark.parametrize("code", range(len(pamstack.PAM_RETURN_CODE_NAMES)),
                         ids=pamstack.PAM_RETURN_CODE_NAMES)
def test_pam_debug_codes_reach_the_caller(
    pam_stack: pamstack.StackFactory, stage: str, code: int
) -> None:
    """Each code pam_debug forces in each stage comes back from the call."""
    assert getattr(low, pamstack.PAM_RETURN_CODE_NAMES[code]) == code
    conv = pamstack.RecordingConv()
    h = _start(pam_stack(pamstack.debug_lines(**{stage: code})), conv)
    try:
        assert OPERATIONS[stage](h) == _expected(code)
    finally:
        low.pam_end(h, low.PAM_SUCCESS)
    # pam_debug announces what it forces: proof the line was understood.
    announced = f"{stage}={pamstack.debug_token(code)}".encode()
    assert (low.PAM_TEXT_INFO, announced) in conv.calls


#: OpenPAM's codes, by name, for pam_return's error= (its headers' values).
OPENPAM_CODES = pamstack.openpam_return_code_names()


@pytest.mark.skipif(not pamstack.is_openpam(), reason="pam_return is OpenPAM's module")
@pytest.mark.parametrize("stage", list(PYTEST_STAGES))
@pytest.mark.parametrize("name", OPENPAM_CODES)
def test_pam_return_codes_reach_the_caller(
    pam_stack: pamstack.StackFactory, stage: str, name: str
) -> None:
    """Each code OpenPAM's pam_return forces comes back from each operation."""
    kind, call = PYTEST_STAGES[stage]
    h = _start(pam_stack([f"{kind} required pam_return.so error={name}"]))
    try:
        assert call(h) == _expected(getattr(low, name))
    finally:
        low.pam_end(h, low.PAM_SUCCESS)


@pytest.mark.parametrize("stage", list(PYTEST_STAGES))
@pytest.mark.parametrize(
    "ret",
    ["PAM_SUCCESS", "PAM_AUTH_ERR", "PAM_USER_UNKNOWN", "PAM_NEW_AUTHTOK_REQD",
     "PAM_SESSION_ERR", "PAM_CRED_ERR", "PAM_AUTHTOK_ERR", "PAM_TRY_AGAIN", "PAM_ABORT",
     "PAM_IGNORE", "4", "PAM_INCOMPLETE"],
)
def test_pam_pytest_ret_reaches_the_caller(
    pam_stack: pamstack.StackFactory, stage: str, ret: str
) -> None:
    """pam_pytest's ret= is what every operation returns (the headers'
    value of the name; a bare number as it is)."""
    expected = int(ret) if ret.isdigit() else _expected(getattr(low, ret))
    kind, call = PYTEST_STAGES[stage]
    h = _start(pam_stack([f"{kind} required {{pytest}} stage ret={ret}"]))
    try:
        assert call(h) == expected
        env = _env(h)
    finally:
        low.pam_end(h, low.PAM_SUCCESS)
    if stage == "chauthtok":
        assert env.get("PYTEST_STAGE_prechauthtok") == "1"
    else:
        assert env.get(f"PYTEST_STAGE_{stage}") == "1"


def test_stack_of_several_modules(pam_stack: pamstack.StackFactory) -> None:
    """A later required failure wins over earlier successes; sufficient
    success ends the stack early."""
    confdir = pam_stack({
        "pytest": ["auth required {pytest} stage",
                   "auth required {pytest} ret=PAM_MAXTRIES",
                   "auth required {pytest} setenv=AFTER=1"],
        "early": ["auth sufficient {pytest} setenv=FIRST=1",
                  "auth required {pytest} setenv=SECOND=1 ret=PAM_AUTH_ERR"],
    })
    h = _start(confdir)
    assert low.pam_authenticate(h, 0) == low.PAM_MAXTRIES
    env = _env(h)
    assert env["PYTEST_STAGE_auth"] == "1" and env["AFTER"] == "1"
    low.pam_end(h, low.PAM_MAXTRIES)
    rc, h = low.pam_start_confdir("early", "alice", None, confdir)
    assert low.pam_authenticate(h, 0) == low.PAM_SUCCESS
    assert low.pam_getenv(h, "FIRST") == b"1"
    assert low.pam_getenv(h, "SECOND") is None
    low.pam_end(h, low.PAM_SUCCESS)


@pytest.mark.parametrize(
    "stage, call, flags",
    [
        ("auth", low.pam_authenticate, low.PAM_SILENT | low.PAM_DISALLOW_NULL_AUTHTOK),
        ("auth", low.pam_authenticate, 0),
        ("acct", low.pam_acct_mgmt, low.PAM_DISALLOW_NULL_AUTHTOK),
        ("open", low.pam_open_session, low.PAM_SILENT),
        ("close", low.pam_close_session, low.PAM_SILENT),
        ("setcred", low.pam_setcred, low.PAM_DELETE_CRED | low.PAM_SILENT),
        ("setcred", low.pam_setcred, low.PAM_REINITIALIZE_CRED),
        ("setcred", low.pam_setcred, low.PAM_REFRESH_CRED),
        ("setcred", low.pam_setcred, low.PAM_ESTABLISH_CRED),
    ],
)
def test_flags_reach_the_module(
    pam_stack: pamstack.StackFactory, stage: str, call: Callable[[Any, int], int], flags: int
) -> None:
    """The flags given to an operation are the flags the module gets."""
    lines = [f"{kind} required {{pytest}} stage" for kind in ("auth", "account", "session")]
    h = _start(pam_stack(lines))
    try:
        assert call(h, flags) == low.PAM_SUCCESS
        env = _env(h)
    finally:
        low.pam_end(h, low.PAM_SUCCESS)
    assert int(env[f"PYTEST_FLAGS_{stage}"]) == flags
    if stage == "setcred":
        assert int(env["PYTEST_SETCRED_FLAGS"]) == flags


def test_chauthtok_flags_in_both_passes(pam_stack: pamstack.StackFactory) -> None:
    """pam_chauthtok runs the stack twice, adding PAM_PRELIM_CHECK and then
    PAM_UPDATE_AUTHTOK to the caller's flags."""
    prelim, update = low.PAM_PRELIM_CHECK, low.PAM_UPDATE_AUTHTOK
    h = _start(pam_stack(["password required {pytest} stage"]))
    flags = low.PAM_CHANGE_EXPIRED_AUTHTOK | low.PAM_SILENT
    try:
        assert low.pam_chauthtok(h, flags) == low.PAM_SUCCESS
        env = _env(h)
    finally:
        low.pam_end(h, low.PAM_SUCCESS)
    assert int(env["PYTEST_FLAGS_prechauthtok"]) == flags | prelim
    assert int(env["PYTEST_FLAGS_chauthtok"]) == flags | update


def test_chauthtok_refuses_module_only_flags(pam_stack: pamstack.StackFactory) -> None:
    """Linux-PAM answers PAM_SYSTEM_ERR when the application passes the
    flags reserved for modules (OpenPAM: PAM_BAD_CONSTANT); the binding
    passes them unchanged."""
    prelim = low.PAM_PRELIM_CHECK
    refused = low.PAM_BAD_CONSTANT if pamstack.is_openpam() else low.PAM_SYSTEM_ERR
    h = _start(pam_stack(["password required {pytest} stage"]))
    try:
        assert low.pam_chauthtok(h, prelim) == refused
        assert low.pam_getenv(h, "PYTEST_STAGE_prechauthtok") is None
    finally:
        low.pam_end(h, low.PAM_SUCCESS)


def test_chauthtok_prelim_failure_stops_update(pam_stack: pamstack.StackFactory) -> None:
    """A failing preliminary pass is returned and the update pass skipped."""
    h = _start(pam_stack(["password required {pytest} stage phase=prelim ret=PAM_TRY_AGAIN",
                          "password required {pytest} stage phase=update"]))
    try:
        assert low.pam_chauthtok(h, 0) == low.PAM_TRY_AGAIN
        assert low.pam_getenv(h, "PYTEST_STAGE_chauthtok") is None
    finally:
        low.pam_end(h, low.PAM_SUCCESS)


@pytest.mark.linux_pam("PAM_INCOMPLETE (resumable conversations)")
def test_incomplete_then_other_call_aborts(pam_stack: pamstack.StackFactory) -> None:
    """After PAM_INCOMPLETE, Linux-PAM expects the same call again; any
    other call is PAM_ABORT.  The binding must not hide either code."""
    h = _start(pam_stack(["auth required {pytest} ret=PAM_INCOMPLETE",
                          "account required {pytest}"]))
    try:
        assert low.pam_authenticate(h, 0) == low.PAM_INCOMPLETE
        assert low.pam_acct_mgmt(h, 0) == low.PAM_ABORT
    finally:
        low.pam_end(h, low.PAM_ABORT)


def test_missing_module_is_module_unknown(pam_stack: pamstack.StackFactory, tmp_path: Any) -> None:
    """A stack line naming a module that does not exist fails the call on
    Linux-PAM; OpenPAM loads the modules in pam_start, which fails with
    PAM_SYSTEM_ERR."""
    confdir = pam_stack([f"auth required {tmp_path}/pam_nonexistent.so"])
    if pamstack.is_openpam():
        assert low.pam_start_confdir("pytest", "alice", None, confdir) == (low.PAM_SYSTEM_ERR, None)
        return
    h = _start(confdir)
    try:
        assert low.pam_authenticate(h, 0) == low.PAM_MODULE_UNKNOWN
    finally:
        low.pam_end(h, low.PAM_SUCCESS)


def test_bad_option_of_test_module_fails_loudly(pam_stack: pamstack.StackFactory) -> None:
    """pam_pytest itself refuses a typo (so no test passes by accident)."""
    h = _start(pam_stack(["auth required {pytest} rett=PAM_SUCCESS"]))
    try:
        assert low.pam_authenticate(h, 0) == low.PAM_SERVICE_ERR
        assert low.pam_getenv(h, "PYTEST_ERROR") == b"unknown option: rett=PAM_SUCCESS"
    finally:
        low.pam_end(h, low.PAM_SUCCESS)


def test_operations_reject_non_int_flags(pam_stack: pamstack.StackFactory) -> None:
    """Flags must be integers."""
    h = _start(pam_stack(["auth required pam_permit.so"]))
    try:
        for call in (low.pam_authenticate, low.pam_setcred, low.pam_acct_mgmt,
                     low.pam_open_session, low.pam_close_session, low.pam_chauthtok):
            with pytest.raises(TypeError):
                call(h, "0")
    finally:
        low.pam_end(h, low.PAM_SUCCESS)
