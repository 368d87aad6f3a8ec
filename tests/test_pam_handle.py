"""draxoft.auth.pam.handle: construction, items, operations, closing."""

from __future__ import annotations

import os
import pathlib
import pwd
import socket
from typing import Any, Callable

import pytest

from draxoft.auth import pam

from conftest import all_scrubbed, keep_environment
import pamstack
from pamstack import StackFactory

SILENT = pam.PAM_SILENT
OPENPAM = pam.implementation == "OpenPAM"


def item(name: str) -> Any:
    """The item attribute *name* as a parameter, skipped where this PAM
    lacks the item (xdisplay, authtok_type on OpenPAM; host and the
    authtok prompts on Linux-PAM)."""
    constant = f"PAM_{name.upper()}"
    return pytest.param(
        name,
        marks=pytest.mark.skipif(
            not hasattr(pam, constant), reason=f"{pam.implementation} lacks the {constant} item"
        ),
    )


def quiet(style: int, message: Any, data: Any) -> None:
    """A conversation that answers nothing and prints nothing."""
    return None


def open_handle(confdir: str, user: Any = "alice", **kw: Any) -> pam.handle:
    kw.setdefault("conv", quiet)
    return pam.handle("pytest", user, confdir=confdir, **kw)


# ----------------------------------------------------------------------
# Construction


def test_defaults(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required pam_permit.so"], service="login")
    with pam.handle(confdir=confdir) as h:
        assert h.service == "login"
        assert h.user == pwd.getpwuid(os.getuid()).pw_name
        assert h.conv is pam.default_conversation
        assert pam._conv_callback is pam.default_conversation  # the old name stays
        assert h.delay is None
        assert h.data is None
        assert h.elevated is False
        assert h.closed is False


def test_user_none_lets_pam_ask(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} getuser"])
    asked = []

    def conv(style: int, message: Any, data: Any) -> str:
        asked.append((style, message))
        return "carol"

    with pam.handle("pytest", None, conv, confdir=confdir) as h:
        assert h.user is None
        keep_environment(h)
        assert h.authenticate()
        assert asked and asked[0][0] == pam.PAM_PROMPT_ECHO_ON
        assert h.user == "carol"
        assert h.environment["PYTEST_USER"] == "carol"


def test_keyword_items_reach_the_module(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["account required {pytest} items"])
    with pam.handle(
        "pytest",
        "alice",
        quiet,
        confdir=pathlib.Path(confdir),
        tty="pts/7",
        rhost="client.example",
        ruser="bob",
        user_prompt="Who? ",
    ) as h:
        h.acct_mgmt()
        env = h.environment
        assert env["PYTEST_ITEM_SERVICE"] == "pytest"
        assert env["PYTEST_ITEM_USER"] == "alice"
        assert env["PYTEST_ITEM_TTY"] == "pts/7"
        assert env["PYTEST_ITEM_RHOST"] == "client.example"
        assert env["PYTEST_ITEM_RUSER"] == "bob"
        assert env["PYTEST_ITEM_USER_PROMPT"] == "Who? "


@pytest.mark.linux_pam("the PAM_XDISPLAY item")
def test_keyword_xdisplay_reaches_the_module(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["account required {pytest} items"])
    with pam.handle("pytest", "alice", quiet, confdir=confdir, xdisplay=":3") as h:
        h.acct_mgmt()
        assert h.environment["PYTEST_ITEM_XDISPLAY"] == ":3"


@pytest.mark.skipif(hasattr(pam, "PAM_XDISPLAY"), reason=f"{pam.implementation} has PAM_XDISPLAY")
def test_keyword_xdisplay_where_pam_lacks_it(pam_stack: StackFactory) -> None:
    # The handle is started, then setting the item fails: PamError, and the
    # half-made handle is ended when it is collected.
    confdir = pam_stack(["account required pam_permit.so"])
    with pytest.raises(pam.PamError) as info:
        pam.handle("pytest", "alice", quiet, confdir=confdir, xdisplay=":3")
    assert info.value.errno == pam.PAM_BAD_ITEM


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"service": 42}, TypeError),
        ({"user": 3.5}, TypeError),
        ({"conv": "not callable"}, TypeError),
        ({"delay": 17}, TypeError),
        ({"tty": 5}, TypeError),
        ({"nonsense": 1}, TypeError),
        ({"service": "pyt\0est"}, ValueError),
        ({"user": b"al\0ice"}, ValueError),
        ({"rhost": "a\0b"}, ValueError),
    ],
)
def test_bad_parameters(pam_stack: StackFactory, kwargs: dict[str, Any], error: type) -> None:
    confdir = pam_stack(["auth required pam_permit.so"])
    args: dict[str, Any] = {"service": "pytest", "user": "alice", "conv": quiet, "confdir": confdir}
    args.update(kwargs)
    with pytest.raises(error):
        pam.handle(**args)


def test_a_service_pam_cannot_find_names_the_files(tmp_path: pathlib.Path) -> None:
    # pam_start itself fails (PAM_ABORT on Linux-PAM, which names nothing):
    # the binding says which service and where PAM looked.
    with pytest.raises(FileNotFoundError) as info:
        pam.handle("pytest", "alice", quiet, confdir=str(tmp_path))
    assert not isinstance(info.value, pam.PamError)
    message = str(info.value)
    assert "'pytest'" in message
    assert str(tmp_path / "pytest") in message and str(tmp_path / "other") in message


# ----------------------------------------------------------------------
# Items

STRING_ITEMS = [
    "user", "user_prompt", "tty", "rhost", "ruser",
    item("xdisplay"), item("authtok_type"),
    item("host"), item("authtok_prompt"), item("oldauthtok_prompt"),
]
LINUX_PAM_SERVICE_CHANGE = pytest.mark.linux_pam("a PAM_SERVICE that may change after pam_start")


@pytest.mark.parametrize("name", [pytest.param("service", marks=LINUX_PAM_SERVICE_CHANGE), *STRING_ITEMS])
def test_string_item_round_trip(pam_stack: StackFactory, name: str) -> None:
    with open_handle(pam_stack(["auth required pam_permit.so"])) as h:
        setattr(h, name, "välue")
        assert getattr(h, name) == "välue"
        setattr(h, name, b"raw")
        assert getattr(h, name) == "raw"
        # A byte that is not UTF-8 comes back as a surrogate and goes in again unchanged.
        setattr(h, name, b"x\xff")
        assert getattr(h, name) == "x\udcff"
        setattr(h, name, getattr(h, name))
        assert getattr(h, name).encode("utf-8", "surrogateescape") == b"x\xff"


@pytest.mark.parametrize(
    "name",
    [
        "user_prompt", "tty", "rhost", "ruser",
        item("xdisplay"), item("authtok_type"), item("authtok_prompt"), item("oldauthtok_prompt"),
    ],
)
def test_string_item_unset_reads_none(pam_stack: StackFactory, name: str) -> None:
    with open_handle(pam_stack(["auth required pam_permit.so"])) as h:
        assert getattr(h, name) is None
        setattr(h, name, "x")
        setattr(h, name, None)
        assert getattr(h, name) is None


@pytest.mark.skipif(not OPENPAM, reason="only OpenPAM's pam_start sets PAM_HOST")
def test_host_starts_as_this_machines_name(pam_stack: StackFactory) -> None:
    with open_handle(pam_stack(["auth required pam_permit.so"])) as h:
        assert h.host == socket.gethostname()


#: The item attributes of one implementation only; each build lacks some.
ONE_PAM_ITEMS = ["host", "authtok_prompt", "oldauthtok_prompt", "xdisplay", "authtok_type", "xauthdata"]


@pytest.mark.parametrize("name", [n for n in ONE_PAM_ITEMS if not hasattr(pam, f"PAM_{n.upper()}")])
def test_items_this_pam_lacks_are_pam_errors(pam_stack: StackFactory, name: str) -> None:
    with open_handle(pam_stack(["auth required pam_permit.so"])) as h:
        for use in (lambda: getattr(h, name), lambda: setattr(h, name, None)):
            with pytest.raises(pam.PamError) as info:
                use()
            assert info.value.errno == pam.PAM_BAD_ITEM


@pytest.mark.parametrize("name", ["service", *STRING_ITEMS])
def test_string_item_rejects_bad_values(pam_stack: StackFactory, name: str) -> None:
    with open_handle(pam_stack(["auth required pam_permit.so"])) as h:
        with pytest.raises(TypeError):
            setattr(h, name, 12)
        with pytest.raises(ValueError):
            setattr(h, name, "a\0b")


def test_service_cannot_be_unset(pam_stack: StackFactory) -> None:
    with open_handle(pam_stack(["auth required pam_permit.so"])) as h:
        with pytest.raises(TypeError, match="^service must be str, bytes or bytearray, not None$"):
            h.service = None
        assert h.service == "pytest"


@pytest.mark.skipif(not OPENPAM, reason=f"{pam.implementation} lets the service change until the first operation")
def test_openpam_service_is_fixed_at_start(pam_stack: StackFactory) -> None:
    with open_handle(pam_stack(["auth required pam_permit.so"])) as h:
        with pytest.raises(pam.PamError) as info:
            h.service = "another"
        assert info.value.errno == pam.PAM_BAD_ITEM
        assert h.service == "pytest"


@pytest.mark.linux_pam("keeping PAM_AUTHTOK and PAM_OLDAUTHTOK from applications")
def test_authtok_is_kept_from_the_application(pam_stack: StackFactory) -> None:
    # Linux-PAM refuses to hand tokens to applications: PAM_BAD_ITEM.
    with open_handle(pam_stack(["auth required pam_permit.so"])) as h:
        for name in ("authtok", "oldauthtok"):
            with pytest.raises(pam.PamError) as info:
                getattr(h, name)
            assert info.value.errno == pam.PAM_BAD_ITEM


@pytest.mark.linux_pam("refusing PAM_AUTHTOK and PAM_OLDAUTHTOK to applications that set them")
def test_linux_pam_refuses_tokens_from_the_application(pam_stack: StackFactory) -> None:
    with open_handle(pam_stack(["auth required pam_permit.so"])) as h:
        for name in ("authtok", "oldauthtok"):
            with pytest.raises(pam.PamError) as info:
                setattr(h, name, "s3cret")
            assert info.value.errno == pam.PAM_BAD_ITEM


@pytest.mark.skipif(not OPENPAM, reason=f"{pam.implementation} keeps the tokens from applications")
def test_openpam_hands_tokens_to_the_application(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} msg=echo_off:Password: expect=0:s3cret"])
    with open_handle(confdir, conv=lambda s, m, d: "s3cret") as h:
        assert h.authtok is None and h.oldauthtok is None
        assert h.authenticate()
        h.oldauthtok = "older"
        assert h.oldauthtok == "older"


@pytest.mark.linux_pam("the PAM_XAUTHDATA item")
def test_xauthdata(pam_stack: StackFactory) -> None:
    with open_handle(pam_stack(["account required {pytest} items"])) as h:
        assert h.xauthdata is None
        h.xauthdata = ("MIT-MAGIC-COOKIE-1", b"\x00\x01\xfe\xff")
        assert h.xauthdata == ("MIT-MAGIC-COOKIE-1", b"\x00\x01\xfe\xff")
        h.acct_mgmt()
        assert h.environment["PYTEST_ITEM_XAUTHNAME"] == "MIT-MAGIC-COOKIE-1"
        assert h.environment["PYTEST_ITEM_XAUTHDATA"] == "0001feff"
        h.xauthdata = None
        assert h.xauthdata is None
        for bad in ("just a name", ("name",), ("name", "not bytes"), (1, b"x")):
            with pytest.raises(TypeError):
                h.xauthdata = bad  # type: ignore[assignment]


def test_conv_and_delay_attributes(pam_stack: StackFactory) -> None:
    def other(style: int, message: Any, data: Any) -> None:
        return None

    def delay(rc: int, usec: int, data: Any) -> None:
        return None

    with open_handle(pam_stack(["auth required pam_permit.so"])) as h:
        assert h.conv is quiet
        h.conv = other
        assert h.conv is other
        if "fail_delay" in pam.extensions:
            h.delay = delay
            assert h.delay is delay
        else:  # no PAM_FAIL_DELAY item to give it to
            with pytest.raises(pam.PamError) as info:
                h.delay = delay
            assert info.value.errno == pam.PAM_BAD_ITEM
            assert h.delay is None
        h.delay = None
        assert h.delay is None
        with pytest.raises(TypeError):
            h.conv = 5  # type: ignore[assignment]
        with pytest.raises(TypeError):
            h.delay = "x"  # type: ignore[assignment]


def test_data_attribute_reaches_callbacks(pam_stack: StackFactory) -> None:
    seen = []
    confdir = pam_stack(["auth required {pytest} msg=info:hi"])
    with pam.handle("pytest", "alice", lambda s, m, d: seen.append(d), data="first", confdir=confdir) as h:
        h.authenticate()
        h.data = {"second": 2}
        h.authenticate()
    assert seen == ["first", {"second": 2}]


# ----------------------------------------------------------------------
# Operations: return values, flags, every return code

OPERATIONS: dict[str, tuple[str, Callable[[pam.handle], Any]]] = {
    "authenticate": ("auth", lambda h: h.authenticate()),
    "acct_mgmt": ("account", lambda h: h.acct_mgmt()),
    "chauthtok": ("password", lambda h: h.chauthtok()),
    "establish_credentials": ("auth", lambda h: h.establish_credentials()),
    "delete_credentials": ("auth", lambda h: h.delete_credentials()),
    "reinitialize_credentials": ("auth", lambda h: h.reinitialize_credentials()),
    "refresh_credentials": ("auth", lambda h: h.refresh_credentials()),
    "open_session": ("session", lambda h: h.open_session()),
    "close_session": ("session", lambda h: h.close_session()),
}

# Every failure code a module may return; PAM_IGNORE, PAM_INCOMPLETE and
# PAM_CONV_AGAIN steer libpam's stack logic and do not come back as they are.
FAILURE_CODES = [
    "PAM_OPEN_ERR", "PAM_SYMBOL_ERR", "PAM_SERVICE_ERR", "PAM_SYSTEM_ERR", "PAM_BUF_ERR",
    "PAM_PERM_DENIED", "PAM_AUTH_ERR", "PAM_CRED_INSUFFICIENT", "PAM_AUTHINFO_UNAVAIL",
    "PAM_USER_UNKNOWN", "PAM_MAXTRIES", "PAM_NEW_AUTHTOK_REQD", "PAM_ACCT_EXPIRED",
    "PAM_SESSION_ERR", "PAM_CRED_UNAVAIL", "PAM_CRED_EXPIRED", "PAM_CRED_ERR",
    "PAM_NO_MODULE_DATA", "PAM_CONV_ERR", "PAM_AUTHTOK_ERR", "PAM_AUTHTOK_RECOVERY_ERR",
    "PAM_AUTHTOK_LOCK_BUSY", "PAM_AUTHTOK_DISABLE_AGING", "PAM_TRY_AGAIN", "PAM_ABORT",
    "PAM_AUTHTOK_EXPIRED", "PAM_MODULE_UNKNOWN", "PAM_BAD_ITEM",
]


def test_failure_codes_are_the_headers() -> None:
    values = [getattr(pam, name) for name in FAILURE_CODES]
    assert len(set(values)) == len(values)


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_operation_succeeds(pam_stack: StackFactory, operation: str) -> None:
    kind, call = OPERATIONS[operation]
    with open_handle(pam_stack([f"{kind} required pam_permit.so"])) as h:
        result = call(h)
        assert result is (True if operation == "authenticate" else None)


@pytest.mark.parametrize("code", FAILURE_CODES)
@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_operation_failure_codes(pam_stack: StackFactory, operation: str, code: str) -> None:
    kind, call = OPERATIONS[operation]
    with open_handle(pam_stack([f"{kind} required {{pytest}} ret={code}"])) as h:
        if operation == "authenticate" and code == "PAM_AUTH_ERR":
            assert call(h) is False
            return
        with pytest.raises(pam.PamError) as info:
            call(h)
    error = info.value
    value = getattr(pam, code)
    assert error.errno == value, (operation, code, error)
    assert error.strerror == pam.PamError.from_code(value).strerror
    assert str(error) == f"[Errno {value}] {error.strerror}"


@pytest.mark.parametrize(
    "code", ["PAM_USER_UNKNOWN", "PAM_MAXTRIES", "PAM_AUTHINFO_UNAVAIL", "PAM_CRED_INSUFFICIENT"]
)
def test_authenticate_through_pam_debug(pam_stack: StackFactory, code: str) -> None:
    import pamstack

    confdir = pam_stack(pamstack.debug_lines(auth=code))
    with open_handle(confdir) as h:
        with pytest.raises(pam.PamError) as info:
            h.authenticate()
    assert info.value.errno == getattr(pam, code)


def test_test_module_only_option_acts_in_one_stage(pam_stack: StackFactory) -> None:
    # pam_pytest's only=: what stands in for pam_debug's per-stage codes on OpenPAM.
    with open_handle(pam_stack(["auth required {pytest} only=setcred ret=PAM_CRED_ERR"])) as h:
        assert h.authenticate() is True
        with pytest.raises(pam.PamError) as info:
            h.establish_credentials()
    assert info.value.errno == pam.PAM_CRED_ERR


def test_authenticate_false_through_pam_debug(pam_stack: StackFactory) -> None:
    import pamstack

    with open_handle(pam_stack(pamstack.debug_lines(auth="PAM_AUTH_ERR"))) as h:
        assert h.authenticate() is False
    with open_handle(pam_stack(pamstack.debug_lines(auth="PAM_SUCCESS"))) as h:
        assert h.authenticate() is True


FLAG_CASES = [
    ("authenticate", {}, "auth", 0),
    ("authenticate", {"silent": True}, "auth", pam.PAM_SILENT),
    ("authenticate", {"disallow_null_token": True}, "auth", pam.PAM_DISALLOW_NULL_AUTHTOK),
    ("acct_mgmt", {"silent": True, "disallow_null_token": True}, "acct", pam.PAM_SILENT | pam.PAM_DISALLOW_NULL_AUTHTOK),
    ("establish_credentials", {}, "setcred", pam.PAM_ESTABLISH_CRED),
    ("delete_credentials", {"silent": True}, "setcred", pam.PAM_DELETE_CRED | pam.PAM_SILENT),
    ("reinitialize_credentials", {}, "setcred", pam.PAM_REINITIALIZE_CRED),
    ("refresh_credentials", {}, "setcred", pam.PAM_REFRESH_CRED),
    ("open_session", {"silent": True}, "open", pam.PAM_SILENT),
    ("close_session", {}, "close", 0),
    ("chauthtok", {"change_expired_authtok": True}, "chauthtok", pam.PAM_CHANGE_EXPIRED_AUTHTOK | pam.PAM_UPDATE_AUTHTOK),
    ("chauthtok", {"silent": True}, "chauthtok", pam.PAM_SILENT | pam.PAM_UPDATE_AUTHTOK),
]


@pytest.mark.parametrize("method, kwargs, stage, flags", FLAG_CASES)
def test_flags_reach_the_module(
    pam_stack: StackFactory, method: str, kwargs: dict[str, bool], stage: str, flags: int
) -> None:
    confdir = pam_stack(
        [f"{kind} required {{pytest}} stage" for kind in ("auth", "account", "password", "session")]
    )
    with open_handle(confdir) as h:
        keep_environment(h)
        getattr(h, method)(**kwargs)
        assert int(h.environment[f"PYTEST_FLAGS_{stage}"]) == flags


# ----------------------------------------------------------------------
# Closing


def test_close_is_idempotent_and_closed_handles_refuse(pam_stack: StackFactory) -> None:
    h = open_handle(pam_stack(["auth required pam_permit.so"]))
    env = h.environment
    h.close()
    h.close()
    assert h.closed
    for use in (
        lambda: h.user,
        lambda: setattr(h, "tty", "x"),
        lambda: h.conv,
        lambda: h.delay,
        lambda: h.xauthdata,
        lambda: h.environment,
        lambda: env["X"],
        lambda: env.__setitem__("X", "1"),
        lambda: len(env),
        *([lambda: h.fail_delay(10)] if "fail_delay" in pam.extensions else []),
        *[(lambda c=call: c(h)) for _, call in OPERATIONS.values()],
    ):
        with pytest.raises(ValueError):
            use()


def test_context_manager_closes(pam_stack: StackFactory) -> None:
    with open_handle(pam_stack(["auth required pam_permit.so"])) as h:
        assert not h.closed
    assert h.closed


def test_context_manager_closes_on_error(pam_stack: StackFactory) -> None:
    with pytest.raises(KeyError):
        with open_handle(pam_stack(["auth required pam_permit.so"])) as h:
            raise KeyError("x")
    assert h.closed


def test_repr_shows_no_secret(pam_stack: StackFactory) -> None:
    password = "hunter2-secret"
    confdir = pam_stack(["auth required {pytest} msg=echo_off:Password: expect=0:hunter2-secret"])
    with open_handle(confdir, conv=lambda s, m, d: password, data=password) as h:
        assert h.authenticate()
        assert "hunter2" not in repr(h)
        assert "open" in repr(h)
    assert "closed" in repr(h)


# ----------------------------------------------------------------------
# call(): one operation by name, flags as given, the return code back

# Operation name -> (stack kind, the stage pam_pytest records for it).
CALLS = {
    "authenticate": ("auth", "auth"),
    "setcred": ("auth", "setcred"),
    "acct_mgmt": ("account", "acct"),
    "open_session": ("session", "open"),
    "close_session": ("session", "close"),
    "chauthtok": ("password", "chauthtok"),
}


@pytest.mark.parametrize("operation", list(CALLS))
def test_call_passes_the_flags_as_given(pam_stack: StackFactory, operation: str) -> None:
    kind, stage = CALLS[operation]
    confdir = pam_stack([f"{kind} required {{pytest}} stage"])
    # setcred(PAM_SILENT) alone is what the keyword methods cannot ask for.
    flags = pam.PAM_SILENT | (pam.PAM_DISALLOW_NULL_AUTHTOK if operation == "authenticate" else 0)
    with open_handle(confdir) as h:
        keep_environment(h)
        assert h.call(operation, flags) == pam.PAM_SUCCESS
        assert h.status == pam.PAM_SUCCESS
        recorded = int(h.environment[f"PYTEST_FLAGS_{stage}"])
    # pam_chauthtok adds its pass flag (PAM_UPDATE_AUTHTOK) for the modules.
    expected = flags | (pam.PAM_UPDATE_AUTHTOK if operation == "chauthtok" else 0)
    assert recorded == expected


@pytest.mark.parametrize("operation", list(CALLS))
def test_call_returns_failures_without_raising(pam_stack: StackFactory, operation: str) -> None:
    kind, _ = CALLS[operation]
    with open_handle(pam_stack([f"{kind} required {{pytest}} ret=PAM_PERM_DENIED"])) as h:
        assert h.status == pam.PAM_SUCCESS
        assert h.call(operation) == pam.PAM_PERM_DENIED
        assert h.status == pam.PAM_PERM_DENIED
    assert h.status == pam.PAM_PERM_DENIED  # still readable once closed


def test_call_status_is_what_close_gives_pam_end(
    pam_stack: StackFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from draxoft.auth import _pamlow

    ended = []

    class Spy:
        """The low layer, with pam_end watched."""

        def __getattr__(self, name: str) -> Any:
            return getattr(_pamlow, name)

        def pam_end(self, low: Any, status: int) -> int:
            ended.append(status)
            return int(_pamlow.pam_end(low, status))

    # The handle reaches the low layer's pam_end through handle._api.
    monkeypatch.setattr(pam.handle, "_api", Spy())
    with open_handle(pam_stack(["account required {pytest} ret=PAM_ACCT_EXPIRED"])) as h:
        assert h.call("acct_mgmt") == pam.PAM_ACCT_EXPIRED
    assert ended == [pam.PAM_ACCT_EXPIRED]


def test_typed_methods_set_status_too(pam_stack: StackFactory) -> None:
    with open_handle(pam_stack(["account required {pytest} ret=PAM_ACCT_EXPIRED"])) as h:
        with pytest.raises(pam.PamError):
            h.acct_mgmt()
        assert h.status == pam.PAM_ACCT_EXPIRED


@pytest.mark.parametrize("operation", ["login", "pam_authenticate", "Authenticate", "", "end"])
def test_call_unknown_operation_is_a_value_error(pam_stack: StackFactory, operation: str) -> None:
    with open_handle(pam_stack(["auth required pam_permit.so"])) as h:
        with pytest.raises(ValueError) as info:
            h.call(operation)
        assert h.status == pam.PAM_SUCCESS
    for name in CALLS:
        assert name in str(info.value)


@pytest.mark.parametrize(
    "operation, flags, error",
    [
        (b"authenticate", 0, TypeError),
        (None, 0, TypeError),
        ("authenticate", True, TypeError),
        ("authenticate", False, TypeError),
        ("authenticate", 1.0, TypeError),
        ("authenticate", "PAM_SILENT", TypeError),
        ("authenticate", None, TypeError),
        ("authenticate", 2**31, ValueError),
        ("authenticate", -(2**31) - 1, ValueError),
    ],
)
def test_call_bad_arguments(pam_stack: StackFactory, operation: Any, flags: Any, error: type) -> None:
    confdir = pam_stack(["auth required {pytest} stage"])
    with open_handle(confdir) as h:
        keep_environment(h)
        with pytest.raises(error):
            h.call(operation, flags)
        assert "PYTEST_STAGE_auth" not in h.environment  # PAM was not called


def test_call_takes_the_ends_of_a_c_int(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["account required {pytest} stage"])
    with open_handle(confdir) as h:
        for flags in (-(2**31), 2**31 - 1, ~pam.PAM_SILENT):
            assert h.call("acct_mgmt", flags) == pam.PAM_SUCCESS
            assert int(h.environment["PYTEST_FLAGS_acct"]) == flags


def test_call_on_a_closed_handle(pam_stack: StackFactory) -> None:
    h = open_handle(pam_stack(["auth required pam_permit.so"]))
    h.close()
    for name in CALLS:
        with pytest.raises(ValueError):
            h.call(name)


def test_call_reraises_what_the_conversation_raised(pam_stack: StackFactory) -> None:
    class Refused(Exception):
        pass

    def conv(style: int, message: Any, data: Any) -> None:
        raise Refused(message)

    confdir = pam_stack(["auth required {pytest} msg=echo_off:Password:"])
    with open_handle(confdir, conv=conv) as h:
        with pytest.raises(Refused, match="Password:"):
            h.call("authenticate")
        # PAM saw PAM_CONV_ERR and the module returned it.
        assert h.status == pam.PAM_CONV_ERR


def test_call_refused_from_inside_a_callback(pam_stack: StackFactory) -> None:
    def conv(style: int, message: Any, data: pam.handle) -> None:
        data.call("acct_mgmt")

    confdir = pam_stack(["auth required {pytest} msg=echo_off:Password:"])
    with open_handle(confdir, conv=conv) as h:
        h.data = h
        with pytest.raises(RuntimeError):
            h.call("authenticate")


def test_call_authenticate_scrubs_the_environment(pam_stack: StackFactory) -> None:
    confdir = pam_stack(
        {
            "auth": ["auth required {pytest} setenv=SECRET=1 ret=PAM_AUTH_ERR"],
            "account": ["account required {pytest} setenv=KEPT=1"],
        }
    )
    with pam.handle("auth", "alice", quiet, confdir=confdir) as h:
        h.environment["SET_BEFORE"] = "x"
        assert h.call("authenticate") == pam.PAM_AUTH_ERR
        assert all_scrubbed(h.environment)
    with pam.handle("account", "alice", quiet, confdir=confdir) as h:
        assert h.call("acct_mgmt") == pam.PAM_SUCCESS
        assert h.environment["KEPT"] == "1"


@pytest.mark.skipif(os.geteuid() != 0, reason="elevated=True needs euid 0")
def test_call_authenticate_elevated_keeps_the_environment(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} setenv=SECRET=from-auth"])
    with open_handle(confdir) as h:
        h.elevated = True
        assert h.call("authenticate") == pam.PAM_SUCCESS
        assert h.environment["SECRET"] == "from-auth"
