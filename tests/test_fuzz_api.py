"""Property-based fuzzing of every public entry point (hypothesis).

Item values, environment names and values, conversation and fail-delay
callbacks that return anything, raise anything, close or keep their handle,
operation sequences in any order (also after close()), and the raw _pamlow
functions with arguments of every type. The only outcomes allowed are
results and the documented exceptions; a crash, a hang or a leak fails the
run (the sanitized and valgrind runs watch memory).

In the normal suite the examples are derandomized (the same cases on every
run) and bounded: DRAXOFT_FUZZ_EXAMPLES scales them (default 1.0), and
DRAXOFT_FUZZ_RANDOM=1 draws new ones. scripts/fuzz-long.py runs the same
properties that way for as long as it is asked to, and counts the cases
(CASES below).
"""

from __future__ import annotations

import collections
import functools
import gc
import os
import threading
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule

import pamstack
from draxoft.auth import _pamlow as low
from draxoft.auth import pam

SCALE = float(os.environ.get("DRAXOFT_FUZZ_EXAMPLES", "1.0"))
RANDOM = os.environ.get("DRAXOFT_FUZZ_RANDOM", "") == "1"

#: Cases run per property, for scripts/fuzz-long.py.
CASES: collections.Counter[str] = collections.Counter()


def counted(test: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        CASES[test.__name__] += 1
        test(*args, **kwargs)

    return run


def fuzz_settings(examples: int, **extra: Any) -> settings:
    return settings(
        derandomize=not RANDOM,
        database=None,
        max_examples=max(1, int(examples * SCALE)),
        deadline=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
        **extra,
    )


# ----------------------------------------------------------------------
# The PAM stacks the properties run against

STACKS: Mapping[str, list[str]] = {
    "permit": ["auth required pam_permit.so", "account required pam_permit.so",
               "session required pam_permit.so", "password required pam_permit.so"],
    "talk": ["auth required {pytest} msg=echo_off:pw msg=echo_on:name msg=info:hello msg=error:oops "
             "delay=1000 ret=PAM_AUTH_ERR",
             "account required {pytest} msg=echo_off:acct",
             "session required {pytest} msg=info:session setenv=S=1",
             "password required {pytest} msg=echo_off:new phase=update"],
    "binary": ["auth required {pytest} msg=binary:0102 msg=radio:pick msg=echo_off:pw delay=10",
               "account required pam_permit.so", "session required pam_permit.so",
               "password required pam_permit.so"],
    "hostile": ["auth required {hostile} nulltext noresp calls=3 nullentry endconv",
                "account required {hostile} thread", "session required {hostile} noresp endconv",
                "password required {hostile} calls=2"],
    "failing": ["auth required {pytest} msg=echo_off:pw delay=5 ret=PAM_MAXTRIES",
                "account required {pytest} ret=PAM_ACCT_EXPIRED",
                "session required {pytest} ret=PAM_SESSION_ERR",
                "password required {pytest} ret=PAM_AUTHTOK_ERR"],
}


def make_stacks(confdir: Path, placeholders: Mapping[str, Any]) -> str:
    """One configuration directory with every stack above as a service."""
    return pamstack.write_confdir(confdir, dict(STACKS), placeholders=placeholders)


@pytest.fixture(scope="module")
def confdir(tmp_path_factory: pytest.TempPathFactory, module_placeholders: dict[str, str],
            system_modules_present: None) -> str:
    return make_stacks(tmp_path_factory.mktemp("fuzz") / "pam.d", module_placeholders)


# ----------------------------------------------------------------------
# Values of every kind


class StrSub(str):
    pass


class BytesSub(bytes):
    pass


class BadStr:
    """str() of it raises: assigning it to the environment must raise that."""

    def __str__(self) -> str:
        raise LookupError("no str for you")


ODD = st.sampled_from(
    [0, -1, 2**70, 1.5, float("nan"), True, [], {}, (), set(), object(), memoryview(b"mv"), Ellipsis, print,
     complex(1, 2), BadStr()]
)
TEXT = st.text(max_size=40)
BYTES = st.binary(max_size=40)
WITH_NUL = st.tuples(st.text(max_size=10), st.text(max_size=10)).map(lambda t: t[0] + "\0" + t[1])
LONG = st.builds(lambda c, n: c * n, st.characters(), st.sampled_from([1000, 65536, 1 << 20]))
SURROGATE = st.sampled_from(["\udcff", "a\udc80b", "\ud800", "x\udfffy"])
STRINGY = st.one_of(
    TEXT, BYTES, BYTES.map(bytearray), WITH_NUL, WITH_NUL.map(lambda s: s.encode("utf-8", "surrogatepass")),
    LONG, SURROGATE, TEXT.map(StrSub), BYTES.map(BytesSub),
)
VALUES = st.one_of(st.none(), STRINGY, ODD)


def encoded(value: Any) -> Optional[bytes]:
    """What the binding passes to PAM for a str/bytes value, or None if it
    must refuse it (None also for non-string types)."""
    if isinstance(value, str):
        try:
            raw = value.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            return None
    elif isinstance(value, (bytes, bytearray)):
        raw = bytes(value)
    else:
        return None
    return raw


def decoded(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


# ----------------------------------------------------------------------
# Items

STRING_ITEMS = ["service", "user", "user_prompt", "tty", "rhost", "ruser", "xdisplay", "authtok_type",
                "authtok", "oldauthtok"]


@fuzz_settings(300)
@given(name=st.sampled_from(STRING_ITEMS), value=VALUES, service=st.sampled_from(["permit", "talk"]))
@counted
def test_item_values(confdir: str, name: str, value: Any, service: str) -> None:
    with pam.handle(service, "alice", None, confdir=confdir) as h:
        try:
            setattr(h, name, value)
        except TypeError as e:
            # A transaction always has a service: None is refused for it.
            assert not isinstance(value, (str, bytes, bytearray, type(None))) or (
                name == "service" and value is None
            )
            assert str(e).startswith(name + " "), e
        except ValueError as e:  # NUL, a surrogate that is no escaped byte, an empty service
            raw = encoded(value)
            assert raw is None or b"\0" in raw or (name == "service" and raw == b""), (value, raw)
            assert str(e).startswith(name + " "), e
        except pam.PamError as e:
            # Linux-PAM keeps the tokens from applications.
            assert name in ("authtok", "oldauthtok"), e
        else:
            assert value is None or isinstance(value, (str, bytes, bytearray))
            got = getattr(h, name)
            if value is None:
                assert got is None
            else:
                raw = encoded(value)
                assert raw is not None and b"\0" not in raw
                expect = raw.lower() if name == "service" and pam.implementation == "Linux-PAM" else raw
                assert got == decoded(expect)
        # The transaction still works with whatever was stored (Linux-PAM
        # fails to audit items of many kilobytes: PAM_SYSTEM_ERR then).
        h.service = service
        h.user = "alice"
        if service == "permit":
            try:
                assert h.authenticate() is True
            except pam.PamError:
                assert len(encoded(value) or b"") > 1000, value


@fuzz_settings(150)
@given(value=st.one_of(st.none(), st.tuples(VALUES, VALUES), st.tuples(STRINGY, BYTES), VALUES,
                       st.lists(STRINGY, max_size=3)))
@counted
def test_xauthdata_values(confdir: str, value: Any) -> None:
    with pam.handle("permit", "alice", None, confdir=confdir) as h:
        try:
            h.xauthdata = value
        except TypeError:
            ok_shape = (isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], (str, bytes))
                        and isinstance(value[1], (bytes, bytearray)))
            assert not ok_shape or value is None
        except ValueError:
            assert isinstance(value, tuple)
            raw = encoded(value[0])
            assert raw is None or b"\0" in raw
        except pam.PamError as e:
            assert "xauthdata" not in pam.extensions, e
        else:
            got = h.xauthdata
            if value is None:
                assert got is None
            else:
                assert got == (decoded(encoded(value[0]) or b""), bytes(value[1]))
        assert h.authenticate() is True


@fuzz_settings(100)
@given(usec=st.one_of(st.integers(-(2**40), 2**40), ODD, STRINGY))
@counted
def test_fail_delay_values(confdir: str, usec: Any) -> None:
    with pam.handle("permit", "alice", None, confdir=confdir) as h:
        if "fail_delay" not in pam.extensions:
            return
        try:
            h.fail_delay(usec)
        except TypeError as e:
            assert not isinstance(usec, int) or isinstance(usec, bool)
            assert "usec" in str(e)
        except ValueError as e:
            # The range of the C unsigned int that pam_fail_delay takes.
            assert isinstance(usec, int) and not 0 <= usec < 2**32
            assert "usec" in str(e)
        else:
            assert isinstance(usec, int) and not isinstance(usec, bool) and 0 <= usec < 2**32


# ----------------------------------------------------------------------
# The environment: a state machine against a dict


ENV_NAMES = st.one_of(
    st.text(max_size=12), st.binary(max_size=12), st.sampled_from(["", "=", "A=B", "A\0B", "PATH", "é", "\udcff", "\ud800"]),
    st.builds(lambda n: "N" * n, st.sampled_from([1000, 100000])), ODD, st.none(),
)
ENV_VALUES = st.one_of(st.text(max_size=30), st.binary(max_size=30), WITH_NUL, LONG, SURROGATE, ODD, st.none())


def expected_entry(name: Any, value: Any) -> Any:
    """(name, value) as PAM stores them, or the exception type the
    environment mapping must raise, in the order it checks."""
    if not isinstance(name, (str, bytes)):
        return TypeError
    key = env_key(name)
    if key is None:
        return ValueError
    if value is None:  # str(None) would be "None": refused
        return TypeError
    if isinstance(value, BadStr):
        return LookupError
    text = value if isinstance(value, (str, bytes)) else str(value)
    raw = encoded(text)
    if raw is None or b"\0" in raw:
        return ValueError
    return key, raw


def env_key(name: Any) -> Optional[bytes]:
    """The name as PAM sees it, or None when the binding must refuse it."""
    if not isinstance(name, (str, bytes)):
        return None
    raw = encoded(name)
    if not raw or b"=" in raw or b"\0" in raw:
        return None
    return raw


class EnvironmentMachine(RuleBasedStateMachine):
    """Random get/set/del/in/len/iter against a model dict."""

    confdir = ""

    @initialize()
    def start(self) -> None:
        CASES["test_environment_state_machine"] += 1
        self.h = pam.handle("permit", "alice", None, confdir=self.confdir)
        self.env = self.h.environment
        self.model: dict[bytes, bytes] = {}

    @rule(name=ENV_NAMES, value=ENV_VALUES)
    def set(self, name: Any, value: Any) -> None:
        expected = expected_entry(name, value)
        try:
            self.env[name] = value
        except (TypeError, ValueError, LookupError) as e:
            assert isinstance(expected, type) and isinstance(e, expected), (name, value, e)
            return
        assert isinstance(expected, tuple), (name, value, expected)
        key, raw = expected
        self.model[key] = raw

    @rule(name=ENV_NAMES)
    def get(self, name: Any) -> None:
        key = env_key(name)
        try:
            got = self.env[name]
        except KeyError:
            assert key is not None and key not in self.model
        except (TypeError, ValueError):
            assert key is None
        else:
            assert key is not None and got == decoded(self.model[key])

    @rule(name=ENV_NAMES)
    def delete(self, name: Any) -> None:
        key = env_key(name)
        try:
            del self.env[name]
        except KeyError:
            assert key is not None and key not in self.model
        except (TypeError, ValueError):
            assert key is None
        else:
            assert key is not None
            del self.model[key]

    @rule(name=ENV_NAMES)
    def contains(self, name: Any) -> None:
        key = env_key(name)
        try:
            found = name in self.env
        except (TypeError, ValueError):
            assert key is None
        else:
            assert found == (key in self.model)

    @rule()
    def everything(self) -> None:
        assert len(self.env) == len(self.model)
        assert sorted(self.env) == sorted(decoded(k) for k in self.model)
        assert dict(self.env) == {decoded(k): decoded(v) for k, v in self.model.items()}

    @rule()
    def authenticate_scrubs(self) -> None:
        self.h.authenticate()
        if not self.h.elevated:
            self.model.clear()

    def teardown(self) -> None:
        h = getattr(self, "h", None)
        if h is not None:
            h.close()
            with pytest.raises(ValueError):
                len(self.env)


def test_environment_state_machine(confdir: str) -> None:
    machine = type("Machine", (EnvironmentMachine,), {"confdir": confdir})
    machine.TestCase.settings = fuzz_settings(60, stateful_step_count=25)
    machine.TestCase().runTest()


# ----------------------------------------------------------------------
# Callbacks that do anything


class Boom(Exception):
    pass


def raise_boom(*args: Any) -> Any:
    raise Boom(args)


class Halt(BaseException):
    pass


EXCEPTIONS: list[Callable[[], BaseException]] = [
    Boom, Halt, KeyboardInterrupt, SystemExit, GeneratorExit, StopIteration, MemoryError,
    lambda: ValueError("v"), lambda: pam.PamError(pam.PAM_CONV_ERR, "from python"), RecursionError,
]

BEHAVIOUR = st.one_of(
    st.tuples(st.just("return"), VALUES),
    st.tuples(st.just("raise"), st.sampled_from(range(len(EXCEPTIONS)))),
    st.tuples(st.just("close")),
    st.tuples(st.just("operation"), st.sampled_from(["authenticate", "acct_mgmt", "chauthtok", "open_session"])),
    st.tuples(st.just("items"), VALUES),
    st.tuples(st.just("env"), ENV_NAMES, ENV_VALUES),
    st.tuples(st.just("store")),
    st.tuples(st.just("replace"), st.sampled_from(["none", "other", "bad"])),
    st.tuples(st.just("data")),
    st.tuples(st.just("gc")),
)

OPERATIONS = ["authenticate", "acct_mgmt", "chauthtok", "open_session", "close_session",
              "establish_credentials", "delete_credentials", "close"]


class Scripted:
    """A conversation or delay callback that plays a list of behaviours,
    cycling, and records the first exception that leaves it and the first
    answer that the binding must refuse."""

    def __init__(self, plan: list[tuple[Any, ...]], kept: list[pam.handle], kind: str) -> None:
        self.plan = plan
        self.kept = kept
        self.kind = kind
        self.calls = 0
        self.raised: Optional[BaseException] = None
        self.refused: Optional[type] = None
        self.after_failure = 0

    def reset(self) -> None:
        self.raised = None
        self.refused = None

    def __call__(self, *args: Any) -> Any:
        if self.raised is not None or self.refused is not None:
            self.after_failure += 1
        h: pam.handle = args[-1]
        step = self.plan[self.calls % len(self.plan)]
        self.calls += 1
        try:
            value = self.act(h, step)
        except BaseException as e:  # noqa: BLE001 - recorded, then passed on
            if self.raised is None and self.refused is None:
                self.raised = e
            raise
        binary = self.kind == "conv" and args[0] == pam.PAM_BINARY_PROMPT
        if binary:
            value = whole_packet(value)
        if self.kind == "conv" and self.raised is None and self.refused is None:
            self.refused = refusal(value, binary=binary)
        return value

    def act(self, h: pam.handle, step: tuple[Any, ...]) -> Any:
        what = step[0]
        if what == "return":
            return step[1]
        if what == "raise":
            raise EXCEPTIONS[step[1]]()
        if what == "close":
            h.close()
        elif what == "operation":
            getattr(h, step[1])()
        elif what == "items":
            h.user, h.tty
            try:
                h.rhost = step[1]
            except (TypeError, ValueError):
                pass
        elif what == "env":
            try:
                h.environment[step[1]] = step[2]
            except (TypeError, ValueError, LookupError):
                pass
            len(h.environment)
        elif what == "store":
            self.kept.append(h)
        elif what == "replace":
            target = {"none": None, "other": lambda *a: "other", "bad": 42}[step[1]]
            if self.kind == "conv":
                h.conv = target
            else:
                h.delay = target
        elif what == "data":
            h.data = h  # still the last argument of this call: it is h
        elif what == "gc":
            gc.collect()
        return "pw"


def whole_packet(value: Any) -> Any:
    """A binary answer that starts with a NUL byte (an empty one too, whose
    C string is just its NUL) is a packet whose first four bytes give its
    length, which modules trust (pam_pytest does): make it a whole one. The
    binding passes binary answers through unchecked."""
    raw = encoded(value) if isinstance(value, (str, bytes, bytearray)) else None
    if raw is None or raw[:1] not in (b"", b"\0"):
        return value
    return (len(raw) + 5).to_bytes(4, "big") + b"\x01" + raw


def refusal(value: Any, binary: bool) -> Optional[type]:
    """The exception type the binding raises for this answer, or None."""
    if value is None:
        return None
    if not isinstance(value, (str, bytes, bytearray)):
        return TypeError
    raw = encoded(value)
    if raw is None:
        return UnicodeEncodeError
    if b"\0" in raw and not binary:
        return ValueError
    return None


def check_outcome(call: Callable[[], Any], callbacks: list[Scripted]) -> str:
    for cb in callbacks:
        cb.reset()
    try:
        result = call()
    except BaseException as e:  # noqa: BLE001 - judged below
        raised = next((cb.raised for cb in callbacks if cb.raised is not None), None)
        refused = next((cb.refused for cb in callbacks if cb.refused is not None), None)
        if raised is not None:
            assert e is raised, (e, raised)
            return "callback exception"
        if refused is not None:
            assert isinstance(e, refused), (e, refused)
            return "refused answer"
        if isinstance(e, pam.PamError):
            return "pam error"
        if isinstance(e, ValueError) and "closed" in str(e):
            return "closed"
        raise
    assert not any(cb.raised is not None for cb in callbacks), "an exception of a callback was lost"
    assert not any(cb.refused is not None for cb in callbacks), "a refused answer was taken"
    assert result in (None, True, False)
    return "result"


@fuzz_settings(400)
@given(
    service=st.sampled_from(["talk", "binary", "hostile", "failing"]),
    conv_plan=st.lists(BEHAVIOUR, min_size=1, max_size=6),
    delay_plan=st.one_of(st.none(), st.lists(BEHAVIOUR, min_size=1, max_size=3)),
    operations=st.lists(st.sampled_from(OPERATIONS), min_size=1, max_size=4),
)
@counted
def test_callbacks_that_do_anything(confdir: str, service: str, conv_plan: list[Any], delay_plan: Optional[list[Any]],
                                    operations: list[str]) -> None:
    kept: list[pam.handle] = []
    conv = Scripted(conv_plan, kept, "conv")
    delay = Scripted(delay_plan, kept, "delay") if delay_plan is not None else None
    h = pam.handle(service, "alice", conv, delay, confdir=confdir)
    h.data = h
    callbacks = [cb for cb in (conv, delay) if cb is not None]
    outcomes = []
    for op in operations + ["close"]:
        outcome = check_outcome(getattr(h, op), callbacks)
        event(outcome)
        outcomes.append(outcome)
        if h.closed:
            # Everything after close() is a ValueError, close() a no-op.
            for later in OPERATIONS[:-1]:
                with pytest.raises(ValueError):
                    getattr(h, later)()
            h.close()
            break
    note(f"outcomes {outcomes}")
    # Once a callback failed, the binding asked no more in that call.
    assert all(cb.after_failure == 0 for cb in callbacks)
    # Handles kept by callbacks are usable objects that refuse to work.
    for k in kept:
        assert k.closed
        with pytest.raises(ValueError):
            k.authenticate()
        repr(k)
    h.data = None


# ----------------------------------------------------------------------
# Operation sequences in any order, also after close()

ACTIONS = st.one_of(
    st.tuples(st.sampled_from(OPERATIONS + ["reinitialize_credentials", "refresh_credentials"]),
              st.booleans(), st.booleans()),
    st.tuples(st.just("item"), st.sampled_from(STRING_ITEMS + ["xauthdata"]), VALUES),
    st.tuples(st.just("read"), st.sampled_from(STRING_ITEMS + ["xauthdata", "conv", "delay", "closed", "data"])),
    st.tuples(st.just("env"), ENV_NAMES, ENV_VALUES),
    st.tuples(st.just("conv"), st.sampled_from([None, "answer", "raise", 5])),
    st.tuples(st.just("delay"), st.sampled_from([None, "ok", "raise", "x"])),
    # (a long delay asked for is honoured: PAM would sleep it after a failure)
    st.tuples(st.just("fail_delay"), st.one_of(st.integers(-1, 200_000), st.just(2**32))),
    st.tuples(st.just("misc"), st.sampled_from(["repr", "environment", "data", "elevated", "gc", "enter"])),
)


def do_action(h: pam.handle, action: tuple[Any, ...]) -> Any:
    what = action[0]
    if what in OPERATIONS or what.endswith("_credentials"):
        if what == "close":
            return h.close()
        kwargs: dict[str, bool] = {"silent": action[1]}
        if what in ("authenticate", "acct_mgmt"):
            kwargs["disallow_null_token"] = action[2]
        if what == "chauthtok":
            kwargs["change_expired_authtok"] = action[2]
        return getattr(h, what)(**kwargs)
    if what == "item":
        return setattr(h, action[1], action[2])
    if what == "read":
        return getattr(h, action[1])
    if what == "env":
        h.environment[action[1]] = action[2]
        return h.environment.get(action[1])
    if what == "conv":
        h.conv = {None: None, "answer": lambda s, m, d: "pw", "raise": raise_boom, 5: 5}[action[1]]
        return None
    if what == "delay":
        h.delay = {None: None, "ok": lambda *a: None, "raise": raise_boom, "x": "x"}[action[1]]
        return None
    if what == "fail_delay":
        return h.fail_delay(action[1]) if hasattr(h, "fail_delay") else None
    if action[1] == "repr":
        return repr(h)
    if action[1] == "environment":
        return list(h.environment)
    if action[1] == "data":
        h.data = [h]
        return None
    if action[1] == "elevated":
        h.elevated = os.geteuid() == 0
        return None
    if action[1] == "gc":
        return gc.collect()
    with h:
        return None


@fuzz_settings(300)
@given(service=st.sampled_from(list(STACKS)), actions=st.lists(ACTIONS, max_size=20))
@counted
def test_operation_sequences(confdir: str, service: str, actions: list[tuple[Any, ...]]) -> None:
    h = pam.handle(service, "alice", lambda s, m, d: "pw", confdir=confdir)
    for action in actions:
        was_closed = h.closed
        try:
            do_action(h, action)
        except ValueError as e:
            # Closed, a NUL, a bad environment name, a surrogate.
            if was_closed:
                assert "closed" in str(e) or action[0] in ("item", "env", "fail_delay")
        except (TypeError, KeyError, pam.PamError, Boom, LookupError, OverflowError):
            pass
        except BaseException as e:  # noqa: BLE001
            raise AssertionError(f"{action!r} raised {e!r}") from e
        if was_closed:
            assert h.closed
    try:
        h.close()
    except (Boom, pam.PamError):  # from a conversation that pam_end ran
        pass
    h.data = None
    assert h.closed
    with pytest.raises(ValueError):
        h.authenticate()


# ----------------------------------------------------------------------
# The raw layer


HANDLE_KINDS = st.sampled_from(["open", "closed", "none", "int", "str", "capsule"])
INTS = st.one_of(st.integers(-5, 40), st.integers(-(2**64), 2**64), st.booleans())
ARGS = st.one_of(st.none(), STRINGY, ODD, INTS)


def low_handle(kind: str, confdir: str, conv: Any = None) -> Any:
    if kind in ("open", "closed"):
        rc, h = low.pam_start_confdir("permit", "alice", conv, confdir)
        assert rc == low.PAM_SUCCESS
        if kind == "closed":
            low.pam_end(h, 0)
        return h
    if kind == "capsule":
        import datetime

        return datetime.datetime_CAPI  # a capsule, but not one of ours
    return {"none": None, "int": 7, "str": "handle"}[kind]


LOW_CALLS: dict[str, int] = {
    "pam_authenticate": 1, "pam_setcred": 1, "pam_acct_mgmt": 1, "pam_open_session": 1,
    "pam_close_session": 1, "pam_chauthtok": 1, "pam_get_item": 1, "pam_set_item": 2, "pam_getenv": 1,
    "pam_putenv": 1, "pam_getenvlist": 0, "pam_strerror": 1, "pam_fail_delay": 1, "pam_end": 1,
    "pamlow_take_error": 0,
}


@fuzz_settings(400)
@given(name=st.sampled_from(sorted(LOW_CALLS)), kind=HANDLE_KINDS, args=st.lists(ARGS, min_size=0, max_size=3),
       item=st.sampled_from([low.PAM_USER, low.PAM_SERVICE, low.PAM_CONV, getattr(low, "PAM_FAIL_DELAY", 0),
                             getattr(low, "PAM_XAUTHDATA", 0), low.PAM_AUTHTOK, 0, -1, 99, 2**31 - 1]))
@counted
def test_low_layer_calls(confdir: str, name: str, kind: str, args: list[Any], item: int) -> None:
    h = low_handle(kind, confdir)
    call = getattr(low, name)
    wanted = LOW_CALLS[name]
    # Mostly well-formed: the right number of arguments, an item code where
    # one goes; sometimes anything.
    if len(args) >= wanted and args and isinstance(args[0], int) and name in ("pam_get_item", "pam_set_item"):
        args[0] = item
    try:
        result = call(h, *args)
    except (TypeError, ValueError, OverflowError):
        pass
    else:
        assert isinstance(result, (int, tuple, list, str, bytes, type(None))) or isinstance(result, BaseException)
    if kind in ("open", "closed"):
        try:
            low.pam_end(h, 0)
        except ValueError:  # ended already: by the call, or closed from the start
            assert kind == "closed" or name == "pam_end"
        with pytest.raises(ValueError):
            low.pam_getenvlist(h)


@fuzz_settings(200)
@given(service=ARGS, user=ARGS, conv=st.sampled_from([None, print, 5, "x", lambda s, m: None]), confdir_arg=ARGS)
@counted
def test_low_layer_start(confdir: str, service: Any, user: Any, conv: Any, confdir_arg: Any) -> None:
    for args in ((service, user, conv), (service, user, conv, confdir_arg), ("permit", user, conv, confdir)):
        starter = low.pam_start if len(args) == 3 else low.pam_start_confdir
        try:
            rc, h = starter(*args)
        except (TypeError, ValueError, OverflowError):
            continue
        assert isinstance(rc, int)
        if h is not None:
            assert low.pam_end(h, rc) in range(0, 64)


# ----------------------------------------------------------------------
# Threads hammering one handle with random actions


@fuzz_settings(25)
@given(plans=st.lists(st.lists(ACTIONS, max_size=8), min_size=2, max_size=4))
@counted
def test_threads_with_random_actions_on_one_handle(confdir: str, plans: list[list[tuple[Any, ...]]]) -> None:
    h = pam.handle("talk", "alice", lambda s, m, d: "pw", confdir=confdir)
    failures: list[BaseException] = []

    def run(plan: list[tuple[Any, ...]]) -> None:
        for action in plan:
            try:
                do_action(h, action)
            except (ValueError, TypeError, KeyError, pam.PamError, Boom, LookupError, OverflowError):
                pass
            except BaseException as e:  # noqa: BLE001
                failures.append(e)

    threads = [threading.Thread(target=run, args=(p,)) for p in plans]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "hang"
    assert failures == []
    h.close()
    h.data = None
