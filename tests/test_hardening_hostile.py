"""Hostile and careless modules, and callbacks that misuse their handle.

The modules are tests/modules/pam_hostile.c (degenerate conversation calls,
a conversation from a thread of the module's own, one during pam_end) and
pam_pytest.c. Whatever they do, the binding may only answer with a PAM code
or a documented exception: no crash, no hang, no leak (the sanitized and
valgrind runs watch the last two).
"""

from __future__ import annotations

import gc
import sys
import threading
import weakref
from typing import Any, Callable

import pytest

import pamstack
from draxoft.auth import _pamlow as low
from draxoft.auth import pam
from conftest import keep_environment
from pamstack import StackFactory


def env_of(h: pam.handle) -> dict[str, str]:
    return dict(h.environment)


def answer(value: Any) -> Callable[[int, Any, Any], Any]:
    calls: list[tuple[int, Any]] = []

    def conv(style: int, message: Any, data: Any) -> Any:
        calls.append((style, message))
        return value

    conv.calls = calls  # type: ignore[attr-defined]
    return conv


def transaction(confdir: str, conv: Any, operation: str = "authenticate") -> tuple[Any, dict[str, str]]:
    with pam.handle("pytest", "alice", conv, confdir=confdir) as h:
        keep_environment(h)
        result = getattr(h, operation)()
        return result, env_of(h)


# ----------------------------------------------------------------------
# Degenerate conversation calls


@pytest.mark.parametrize("option", ["zero", "nullmsg"])
def test_zero_messages_and_null_message_array(pam_stack: StackFactory, option: str) -> None:
    conv = answer("never")
    ok, env = transaction(pam_stack([f"auth required {{pytest}} {option}"]), conv)
    assert ok is True
    assert conv.calls == []  # type: ignore[attr-defined]
    assert int(env["PYTEST_CONV_RC"]) in (pam.PAM_SUCCESS, pam.PAM_CONV_ERR)
    assert "PYTEST_CONV_RESP_ON_ERROR" not in env


@pytest.mark.parametrize("option, variable", [("nullentry", "NULLENTRY"), ("negative", "NEGATIVE")])
def test_null_entry_in_message_array_and_negative_count(pam_stack: StackFactory, option: str, variable: str) -> None:
    conv = answer("never")
    ok, env = transaction(pam_stack([f"auth required {{hostile}} {option}"]), conv)
    assert ok is True
    assert conv.calls == []  # type: ignore[attr-defined]
    assert env[f"HOSTILE_{variable}_RC"] == str(pam.PAM_CONV_ERR)


def test_message_whose_text_is_null(pam_stack: StackFactory) -> None:
    conv = answer("given")
    ok, env = transaction(pam_stack(["auth required {hostile} nulltext"]), conv)
    assert ok is True
    assert conv.calls == [(pam.PAM_PROMPT_ECHO_ON, "")]  # type: ignore[attr-defined]
    assert env["HOSTILE_NULLTEXT_RC"] == "0"
    assert env["HOSTILE_NULLTEXT_RESP"] == "given"


@pytest.mark.parametrize("response", [None, "secret", b"secret", bytearray(b"secret")])
def test_prompt_without_a_response_pointer(pam_stack: StackFactory, response: Any) -> None:
    # The answer has nowhere to go: it is built, wiped and freed.
    conv = answer(response)
    ok, env = transaction(pam_stack(["auth required {hostile} noresp"]), conv)
    assert ok is True
    assert conv.calls == [(pam.PAM_PROMPT_ECHO_OFF, "noresp")]  # type: ignore[attr-defined]
    assert env["HOSTILE_NORESP_RC"] == "0"


def test_prompt_without_a_response_pointer_and_a_bad_answer(pam_stack: StackFactory) -> None:
    with pam.handle("pytest", "alice", answer(3.5), confdir=pam_stack(["auth required {hostile} noresp"])) as h:
        with pytest.raises(TypeError):
            h.authenticate()


def test_binary_prompt_whose_length_header_is_zero(pam_stack: StackFactory) -> None:
    conv = answer(None)
    ok, env = transaction(pam_stack(["auth required {hostile} shortbinary"]), conv)
    assert ok is True
    if "binary_prompt" in pam.extensions:
        # The header is at most the packet: the 5 bytes it has.
        assert conv.calls == [(pam.PAM_BINARY_PROMPT, b"\0\0\0\0\x01")]  # type: ignore[attr-defined]
        assert env["HOSTILE_SHORTBIN_RC"] == "0"


# ----------------------------------------------------------------------
# Many and large messages


def test_a_thousand_messages_in_one_conversation(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} msg=echo_off:p msg=echo_on:u msg=info:i msg=error:e repeat=250"])
    counter = iter(range(10**6))

    def conv(style: int, message: Any, data: Any) -> Any:
        n = next(counter)
        return None if style in (pam.PAM_TEXT_INFO, pam.PAM_ERROR_MSG) else f"{n:04d}" * 64

    ok, env = transaction(confdir, conv)
    assert ok is True
    assert env["PYTEST_RESP_0"] == "0000" * 64
    assert env["PYTEST_RESP_998"] == "<null>"
    assert env["PYTEST_RESP_997"] == "0997" * 64
    assert env["PYTEST_RESP_996"] == "0996" * 64


def test_a_thousand_messages_and_the_last_one_raises(pam_stack: StackFactory) -> None:
    # 999 answers built, then dropped (wiped, freed) when the last raises.
    confdir = pam_stack(["auth required {pytest} msg=echo_off:p repeat=1000"])
    seen = [0]

    class Last(Exception):
        pass

    def conv(style: int, message: Any, data: Any) -> Any:
        seen[0] += 1
        if seen[0] == 1000:
            raise Last
        return "x" * 1000

    with pam.handle("pytest", "alice", conv, confdir=confdir) as h:
        with pytest.raises(Last):
            h.authenticate()
        assert "PYTEST_RESP_0" not in h.environment
        # Usable afterwards: the next conversation is asked again.
        seen[0] = -10**6
        assert h.authenticate() is True


def test_a_thousand_conversation_calls(pam_stack: StackFactory) -> None:
    ok, env = transaction(pam_stack(["auth required {hostile} calls=1000"]), lambda s, m, d: m.upper())
    assert ok is True
    assert env["HOSTILE_CALLS"] == "1000"
    assert env["HOSTILE_CALLS_LAST"] == "CALL 999"


def test_a_huge_message_and_a_huge_answer(pam_stack: StackFactory) -> None:
    size = 4 << 20
    got: list[int] = []

    def conv(style: int, message: Any, data: Any) -> Any:
        got.append(len(message))
        return "y" * (2 * size)

    ok, env = transaction(pam_stack([f"auth required {{hostile}} huge={size}"]), conv)
    assert ok is True
    assert got == [size]
    assert env["HOSTILE_HUGE_LEN"] == str(2 * size)


# ----------------------------------------------------------------------
# A module that talks from a thread of its own


def test_conversation_from_a_thread_the_module_started(pam_stack: StackFactory) -> None:
    threads: list[int] = []
    seen: dict[str, Any] = {}

    def conv(style: int, message: Any, data: pam.handle) -> Any:
        threads.append(threading.get_ident())
        # Items and the environment may be used from a callback, also from
        # a thread that the operation's thread is waiting for.
        seen["user"] = data.user
        data.rhost = "10.0.0.1"
        seen["env"] = dict(data.environment)
        with pytest.raises(RuntimeError):
            data.acct_mgmt()
        with pytest.raises(RuntimeError):
            data.close()
        return "from-thread"

    h = pam.handle("pytest", "alice", conv, confdir=pam_stack(["auth required {hostile} thread"]))
    h.data = h
    keep_environment(h)
    # In a thread of its own, so that a deadlock fails the test instead of
    # hanging the run (the handle is then left alone: its lock is lost).
    result: list[Any] = []
    runner = threading.Thread(target=lambda: result.append(h.authenticate()), daemon=True)
    runner.start()
    runner.join(30)
    assert not runner.is_alive(), "deadlock: the callback waited for the operation's lock"
    assert result == [True]
    assert threads and threads[0] != runner.ident
    assert seen == {"user": "alice", "env": {}}
    assert h.rhost == "10.0.0.1"
    assert env_of(h)["HOSTILE_THREAD_RESP"] == "from-thread"
    h.data = None
    h.close()


def test_foreign_thread_callback_cannot_deadlock(pam_stack: StackFactory) -> None:
    # The same in a child with a time limit, so that a regression shows as
    # a failure rather than as a hung test run.
    code = """
import sys
from draxoft.auth import pam
def conv(style, message, h):
    return h.user + "|" + str(len(h.environment))
h = pam.handle("pytest", "alice", conv, confdir=sys.argv[1])
h.data = h
h._elevated = True  # keep the environment, also as a user
print(h.authenticate(), h.environment["HOSTILE_THREAD_RESP"])
"""
    done = pamstack.run_isolated(code, pam_stack(["auth required {hostile} thread"]), timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "alice|0"]


# ----------------------------------------------------------------------
# A conversation while pam_end runs


def test_conversation_during_close(pam_stack: StackFactory) -> None:
    seen: list[Any] = []

    def conv(style: int, message: Any, data: Any) -> Any:
        h = holder[0]
        seen.append((message, h.closed))
        with pytest.raises((ValueError, RuntimeError)):
            h.authenticate()
        with pytest.raises((ValueError, RuntimeError)):
            h.user
        h.close()  # refused or a no-op: never a second pam_end
        return "bye"

    holder: list[pam.handle] = []
    h = pam.handle("pytest", "alice", conv, confdir=pam_stack(["auth required {hostile} endconv"]))
    holder.append(h)
    assert h.authenticate() is True
    with pytest.raises(RuntimeError):
        # close() from inside the callback that close() runs is re-entry:
        # its RuntimeError comes out of the outer close(), which still ends
        # the transaction.
        h.close()
    assert h.closed
    assert seen == [("endconv", True)]
    h.close()


def test_conversation_during_close_that_raises(pam_stack: StackFactory) -> None:
    class Late(Exception):
        pass

    def conv(style: int, message: Any, data: Any) -> Any:
        raise Late(message)

    h = pam.handle("pytest", "alice", conv, confdir=pam_stack(["auth required {hostile} endconv"]))
    assert h.authenticate() is True
    with pytest.raises(Late):
        h.close()
    assert h.closed
    h.close()


@pytest.mark.parametrize("in_thread", [False, True])
def test_conversation_during_pam_end_run_by_the_collector(pam_stack: StackFactory, in_thread: bool) -> None:
    confdir = pam_stack(["auth required {hostile} endconv"])
    calls: list[Any] = []
    refs = []
    for _ in range(10):
        h = pam.handle("pytest", "alice", confdir=confdir)
        h.conv = lambda s, m, d, h=h: calls.append(m) or "x"  # a cycle
        assert h.authenticate()
        refs.append(weakref.ref(h))
        del h
    if in_thread:
        t = threading.Thread(target=gc.collect)
        t.start()
        t.join()
    else:
        gc.collect()
    assert [r() for r in refs] == [None] * 10
    # The handle object is gone before pam_end runs: the conversation is
    # refused quietly, not called on a dead handle.
    assert calls == []


def test_low_layer_conversation_during_pam_end(pam_stack: StackFactory) -> None:
    calls: list[Any] = []
    rc, h = low.pam_start_confdir("pytest", "alice", lambda s, m: calls.append(m) or "x",
                                  pam_stack(["auth required {hostile} endconv"]))
    assert low.pam_authenticate(h, 0) == low.PAM_SUCCESS
    assert low.pam_end(h, 0) == low.PAM_SUCCESS
    assert calls == [b"endconv"]
    assert low.pamlow_take_error(h) is None
    with pytest.raises(ValueError):
        low.pam_get_item(h, low.PAM_USER)


# ----------------------------------------------------------------------
# Callbacks that keep, close or drop their handle


def test_callback_keeps_the_handle_and_uses_it_after_close(pam_stack: StackFactory) -> None:
    kept: list[Any] = []

    def conv(style: int, message: Any, data: pam.handle) -> Any:
        kept.append((data, data.environment))
        return "pw"

    h = pam.handle("pytest", "alice", conv, confdir=pam_stack(["auth required {pytest} msg=echo_off:pw"]))
    h.data = h
    assert h.authenticate()
    h.close()
    old, view = kept[0]
    assert old.closed
    for call in (old.authenticate, old.acct_mgmt, old.chauthtok, old.open_session, old.close_session,
                 old.establish_credentials, old.delete_credentials):
        with pytest.raises(ValueError):
            call()
    for name in ("user", "service", "tty", "xauthdata", "conv", "delay"):
        with pytest.raises(ValueError):
            getattr(old, name)
    with pytest.raises(ValueError):
        old.rhost = "x"
    with pytest.raises(ValueError):
        view["A"] = "b"
    with pytest.raises(ValueError):
        len(view)
    with pytest.raises(ValueError):
        old.environment
    assert "closed" in repr(old) and "closed" in repr(view)
    old.close()
    old.data = None


def test_low_layer_callback_keeps_the_capsule_past_pam_end(pam_stack: StackFactory) -> None:
    kept: list[Any] = []
    confdir = pam_stack(["auth required {pytest} msg=echo_off:pw"])

    def conv(style: int, message: Any) -> Any:
        rc, value = low.pam_get_item(kept[0], low.PAM_USER)
        return value

    rc, h = low.pam_start_confdir("pytest", "alice", conv, confdir)
    kept.append(h)
    assert low.pam_authenticate(h, 0) == low.PAM_SUCCESS
    assert low.pam_end(h, 0) == low.PAM_SUCCESS
    del h
    capsule = kept.pop()
    for call, args in ((low.pam_authenticate, (0,)), (low.pam_get_item, (low.PAM_USER,)),
                       (low.pam_set_item, (low.PAM_USER, "x")), (low.pam_getenv, ("A",)),
                       (low.pam_putenv, ("A=b",)), (low.pam_getenvlist, ()), (low.pam_end, (0,)),
                       *([(low.pam_fail_delay, (1,))] if hasattr(low, "pam_fail_delay") else []),
                       (low.pam_strerror, (1,))):
        with pytest.raises(ValueError):
            call(capsule, *args)
    assert low.pamlow_take_error(capsule) is None


@pytest.mark.parametrize("action", ["close", "authenticate", "chauthtok", "delete"])
def test_delay_callback_that_uses_its_handle(pam_stack: StackFactory, action: str) -> None:
    confdir = pam_stack(["auth required {pytest} delay=1000 ret=PAM_AUTH_ERR"])
    holder: list[pam.handle] = []

    def delay(rc: int, usec: int, data: Any) -> None:
        h = holder[0]
        assert h.user == "alice"
        if action == "delete":
            holder.clear()  # drops a reference: the operation holds another
            return
        getattr(h, action)()

    h = pam.handle("pytest", "alice", lambda s, m, d: None, delay, confdir=confdir)
    holder.append(h)
    if action == "delete":
        assert h.authenticate() is False
    else:
        with pytest.raises(RuntimeError):
            h.authenticate()
    assert not h.closed
    assert h.user == "alice"
    h.close()


def test_callback_that_drops_every_reference_to_its_handle(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} msg=echo_off:a msg=echo_off:b"])
    holder: list[Any] = []

    def conv(style: int, message: Any, data: Any) -> Any:
        holder.clear()
        gc.collect()
        return message

    holder.append(pam.handle("pytest", "alice", conv, confdir=confdir))
    ref = weakref.ref(holder[0])
    assert holder[0].authenticate() is True
    gc.collect()
    assert ref() is None

    # The same with the low layer: the running call keeps its capsule.
    rc, h = low.pam_start_confdir("pytest", "alice", lambda s, m: conv(s, m, None), confdir)
    holder.append(h)
    del h
    assert low.pam_authenticate(holder[0], 0) == low.PAM_SUCCESS
    assert holder == []


def test_callback_replaces_and_clears_the_callbacks(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} msg=echo_off:a msg=echo_off:b msg=echo_off:c"])

    def conv(style: int, message: Any, h: pam.handle) -> Any:
        if message == "a":
            h.conv = None  # PAM keeps talking: the next message is refused
            return "A"
        return "unreached"

    with pam.handle("pytest", "alice", conv, confdir=confdir) as h:
        h.data = h
        with pytest.raises(pam.PamError) as info:
            h.authenticate()
        assert info.value.errno == pam.PAM_CONV_ERR
        h.data = None

    def bad(style: int, message: Any, h: pam.handle) -> Any:
        h.conv = "not callable"
        return "x"

    with pam.handle("pytest", "alice", bad, confdir=confdir) as h:
        h.data = h
        with pytest.raises(TypeError):
            h.authenticate()
        assert h.conv is bad
        h.data = None


class Nasty(BaseException):
    """An exception whose every text form fails."""

    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class Unhashable(Exception):
    __hash__ = None  # type: ignore[assignment]


def make_cyclic() -> BaseException:
    a, b = ValueError("a"), ValueError("b")
    a.__context__, b.__context__ = b, a
    return a


@pytest.mark.parametrize(
    "error",
    [Nasty(), Unhashable(), make_cyclic(), SystemExit(3), GeneratorExit(), KeyboardInterrupt(),
     MemoryError(), RecursionError(), StopIteration(), ExceptionGroup("g", [ValueError()])]
    if sys.version_info >= (3, 11) else
    [Nasty(), Unhashable(), make_cyclic(), SystemExit(3), GeneratorExit(), KeyboardInterrupt(),
     MemoryError(), RecursionError(), StopIteration()],
    ids=lambda e: type(e).__name__,
)
@pytest.mark.parametrize("where", ["conv", "delay"])
def test_odd_exceptions_come_out_as_they_are(pam_stack: StackFactory, error: BaseException, where: str) -> None:
    confdir = pam_stack(["auth required {pytest} msg=echo_off:pw delay=10 ret=PAM_AUTH_ERR"])

    def raiser(*args: Any) -> Any:
        raise error

    conv = raiser if where == "conv" else (lambda s, m, d: "pw")
    delay = raiser if where == "delay" else None
    with pam.handle("pytest", "alice", conv, delay, confdir=confdir) as h:
        with pytest.raises(BaseException) as info:
            h.authenticate()
        assert info.value is error
        # Nothing is left pending: the next call asks the callbacks again.
        with pytest.raises(BaseException) as again:
            h.authenticate()
        assert again.value is error


def test_callback_recursing_until_recursion_error(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} msg=echo_off:pw"])

    def deep(n: int) -> int:
        return deep(n + 1) + 1

    def conv(style: int, message: Any, data: Any) -> Any:
        return deep(0)

    with pam.handle("pytest", "alice", conv, confdir=confdir) as h:
        with pytest.raises(RecursionError):
            h.authenticate()
        h.conv = lambda s, m, d: "pw"
        assert h.authenticate() is True


# ----------------------------------------------------------------------
# A new service in the middle of a transaction


SERVICE_CHANGE = """
import sys
from draxoft.auth import pam
h = pam.handle("pytest", "alice", lambda s, m, d: "x", confdir=sys.argv[1])
try:
    h.service = "pytest"      # before any operation: allowed on Linux-PAM
except pam.PamError as e:     # OpenPAM: never after pam_start
    print("refused at start", e.errno == pam.PAM_BAD_ITEM)
h.authenticate()              # the module registers data with a cleanup
try:
    h.service = sys.argv[2]   # would unload that module before pam_end
except pam.PamError as e:
    print("refused", e.errno == pam.PAM_BAD_ITEM)
try:
    h.acct_mgmt()
except pam.PamError as e:
    print("acct_mgmt", e.errno)
h.close()
print("closed", h.service if not h.closed else "-")
"""


@pytest.mark.parametrize("new", ["pytest", "missing"])
def test_the_service_cannot_change_once_modules_ran(pam_stack: StackFactory, new: str) -> None:
    # Linux-PAM reloads the modules of a transaction whose service changes;
    # data a module registered (pam_set_data) keeps a pointer to a cleanup
    # function in the unloaded module, which pam_end then calls: a crash.
    confdir = pam_stack(["auth required {hostile} endconv", "account required pam_permit.so"])
    done = pamstack.run_isolated(SERVICE_CHANGE, confdir, new)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    if pam.implementation == "Linux-PAM":
        assert lines[0] == "refused True"
    elif pam.implementation == "OpenPAM":
        assert lines[:2] == ["refused at start True", "refused True"]
    assert lines[-1] == "closed -"
