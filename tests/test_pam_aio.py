"""draxoft.auth.pam.aio against real PAM stacks: the helper, the handle,
coroutine conversations, fail delays on the loop, cancellation, executors.

Each test runs its own event loop with asyncio.run (no plugin needed).
``run`` fails a test whose loop reported an error to its exception
handler: an exception nobody retrieved, a callback that failed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from typing import Any, Awaitable, Callable, Optional, TypeVar

import pytest

from draxoft.auth import pam
from draxoft.auth.pam import aio

import pamstack
from conftest import keep_environment
from pamstack import StackFactory

T = TypeVar("T")
PassDB = Callable[[list[tuple[str, str, str]]], str]

#: Fail delays are a Linux-PAM feature.
fail_delays = pytest.mark.linux_pam("pam_fail_delay and the PAM_FAIL_DELAY item")


def run(main: Awaitable[T], debug: bool = False) -> T:
    """asyncio.run(main), failing if the loop's exception handler was called."""
    reported: list[dict[str, Any]] = []

    async def watched() -> T:
        asyncio.get_running_loop().set_exception_handler(lambda loop, context: reported.append(context))
        return await main

    result = asyncio.run(watched(), debug=debug)
    assert reported == []
    return result


def quiet(style: int, message: Any, data: Any) -> None:
    return None


@pytest.fixture
def matrix(pam_stack: StackFactory, matrix_passdb: PassDB) -> tuple[str, str]:
    """pam_matrix checks passwords and accounts; returns (confdir, passdb)."""
    passdb = matrix_passdb([("alice", "wonderland", "pytest"), ("carol", "secret", "mail")])
    confdir = pam_stack(
        [
            f"auth required pam_matrix.so passdb={passdb}",
            f"account required pam_matrix.so passdb={passdb}",
            f"password required pam_matrix.so passdb={passdb}",
        ]
    )
    return confdir, passdb


@pytest.fixture
def executor() -> Any:
    """A pool of the test's own, shut down (waiting for its threads) afterwards."""
    pool = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="aio-test")
    yield pool
    pool.shutdown(wait=True)


def pool_threads(prefix: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(prefix)]


# ----------------------------------------------------------------------
# aio.authenticate: the meaning and errors of pam.authenticate


def test_true_and_false(matrix: tuple[str, str], unknown_user: str) -> None:
    confdir, _ = matrix

    async def main() -> list[bool]:
        return [
            await aio.authenticate("alice", "wonderland", "pytest", confdir=confdir),
            await aio.authenticate(b"alice", bytearray(b"wonderland"), "pytest", confdir=confdir),
            await aio.authenticate("alice", "wrong", "pytest", confdir=confdir),
            await aio.authenticate(unknown_user, "wonderland", "pytest", confdir=confdir),
            await aio.authenticate("alice", "", "pytest", confdir=confdir),
            # carol's password is right, but her account may use "mail" only.
            await aio.authenticate("carol", "secret", "pytest", confdir=confdir),
        ]

    assert run(main()) == [True, True, False, False, False, False]


@pytest.mark.parametrize("code", ["PAM_ACCT_EXPIRED", "PAM_PERM_DENIED", "PAM_AUTH_ERR", "PAM_USER_UNKNOWN"])
def test_account_refusals_are_false(pam_stack: StackFactory, code: str) -> None:
    confdir = pam_stack(["auth required pam_permit.so", f"account required {{pytest}} ret={code}"])
    assert run(aio.authenticate("alice", "pw", "pytest", confdir=confdir)) is False
    assert pam.authenticate("alice", "pw", "pytest", confdir=confdir) is False


@pytest.mark.parametrize(
    "lines, code",
    [
        (["auth required pam_permit.so", "account required {pytest} ret=PAM_NEW_AUTHTOK_REQD"],
         "PAM_NEW_AUTHTOK_REQD"),
        (["auth required {pytest} ret=PAM_AUTHINFO_UNAVAIL", "account required pam_permit.so"],
         "PAM_AUTHINFO_UNAVAIL"),
        (["auth required {pytest} ret=PAM_SYSTEM_ERR", "account required pam_permit.so"], "PAM_SYSTEM_ERR"),
    ],
)
def test_failures_raise_as_in_pam_authenticate(pam_stack: StackFactory, lines: list[str], code: str) -> None:
    confdir = pam_stack(lines)
    with pytest.raises(pam.PamError) as sync_error:
        pam.authenticate("alice", "pw", "pytest", confdir=confdir)
    with pytest.raises(pam.PamError) as async_error:
        run(aio.authenticate("alice", "pw", "pytest", confdir=confdir))
    assert async_error.value.errno == sync_error.value.errno == getattr(pam, code)
    assert async_error.value.strerror == sync_error.value.strerror


@pytest.mark.parametrize(
    "args, kwargs",
    [
        (("al\0ice", "pw", "pytest"), {}),
        ((42, "pw", "pytest"), {}),
        (("alice", 42, "pytest"), {}),
        (("alice", "pw", "pytest"), {"rhost": 7}),
    ],
)
def test_bad_arguments_raise_as_in_pam_authenticate(matrix: tuple[str, str], args: tuple[Any, ...],
                                                    kwargs: dict[str, Any]) -> None:
    confdir, _ = matrix
    try:
        pam.authenticate(*args, confdir=confdir, **kwargs)
    except Exception as e:  # noqa: BLE001  (whatever it is, aio must match it)
        expected: Optional[type[BaseException]] = type(e)
    else:
        expected = None
    try:
        run(aio.authenticate(*args, confdir=confdir, **kwargs))
    except Exception as e:  # noqa: BLE001
        got: Optional[type[BaseException]] = type(e)
    else:
        got = None
    assert got is expected and expected is not None


def test_prompts_are_answered_as_by_pam_authenticate(pam_stack: StackFactory) -> None:
    confdir = pam_stack([
        "auth required {pytest} msg=info:welcome msg=echo_on:Login: msg=echo_off:Password: "
        "expect=1:alice expect=2:s3cret",
        "account required pam_permit.so",
    ])

    async def main() -> tuple[bool, bool]:
        return (await aio.authenticate("alice", "s3cret", "pytest", confdir=confdir),
                await aio.authenticate("alice", "other", "pytest", confdir=confdir))

    assert run(main()) == (True, False)


def test_items_reach_the_modules(pam_stack: StackFactory) -> None:
    check = 'test "$PAM_RHOST" = 192.0.2.7 && test "$PAM_TTY" = web && test "$PAM_RUSER" = proxy'
    confdir = pam_stack(["auth required pam_exec.so quiet /bin/sh -c " + pamstack.pam_arg(check),
                         "account required pam_permit.so"])
    assert run(aio.authenticate("alice", "x", "pytest", confdir=confdir, rhost="192.0.2.7", tty="web",
                                ruser="proxy")) is True


# ----------------------------------------------------------------------
# aio.handle: operations, items, environment


def test_handle_operations(pam_stack: StackFactory) -> None:
    stage = "{pytest} stage"
    confdir = pam_stack([f"auth required {stage}", f"account required {stage}", f"password required {stage}",
                         f"session required {stage}"])

    async def main() -> dict[str, str]:
        async with aio.handle("pytest", "alice", quiet, confdir=confdir, tty="pts/1") as h:
            keep_environment(h._inner)
            assert h.user == "alice" and h.tty == "pts/1" and h.service == "pytest"
            h.rhost = "192.0.2.1"
            assert await h.authenticate(silent=True) is True
            assert await h.call("acct_mgmt", pam.PAM_SILENT) == pam.PAM_SUCCESS
            await h.acct_mgmt(disallow_null_token=True)
            await h.establish_credentials()
            await h.open_session()
            await h.refresh_credentials()
            await h.reinitialize_credentials()
            await h.close_session()
            await h.delete_credentials()
            await h.chauthtok(change_expired_authtok=True)
            assert h.status == pam.PAM_SUCCESS
            env = dict(h.environment)
            h.environment["MINE"] = "yes"
            assert h.environment["MINE"] == "yes"
        assert h.closed
        return env

    env = run(main())
    for name in ("auth", "acct", "setcred", "open", "close", "prechauthtok", "chauthtok"):
        assert env[f"PYTEST_STAGE_{name}"] == "1"
    assert int(env["PYTEST_FLAGS_auth"]) & pam.PAM_SILENT
    assert int(env["PYTEST_FLAGS_acct"]) & pam.PAM_DISALLOW_NULL_AUTHTOK
    assert int(env["PYTEST_FLAGS_chauthtok"]) & pam.PAM_CHANGE_EXPIRED_AUTHTOK


def test_refusals_and_failures_of_the_handle(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required pam_deny.so", "account required {pytest} ret=PAM_ACCT_EXPIRED"])

    async def main() -> None:
        async with aio.handle("pytest", "alice", quiet, confdir=confdir) as h:
            assert await h.authenticate() is False
            assert h.status == pam.PAM_AUTH_ERR
            with pytest.raises(pam.PamError) as info:
                await h.acct_mgmt()
            assert info.value.errno == pam.PAM_ACCT_EXPIRED

    run(main())


def test_chauthtok_with_a_coroutine_conversation(matrix: tuple[str, str]) -> None:
    confdir, passdb = matrix

    async def conv(style: int, message: str, data: Any) -> str:
        await asyncio.sleep(0)
        return "wonderland" if "old" in message.lower() or "current" in message.lower() else "looking-glass"

    async def main() -> None:
        async with aio.handle("pytest", "alice", conv, confdir=confdir) as h:
            await h.chauthtok()

    run(main())
    assert ("alice", "looking-glass", "pytest") in pamstack.read_matrix_passdb(passdb)
    assert pam.authenticate("alice", "looking-glass", "pytest", confdir=confdir) is True


def test_start_errors_come_out_of_the_start(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required pam_permit.so"])

    async def main() -> None:
        with pytest.raises(TypeError):
            async with aio.handle(42, "alice", quiet, confdir=confdir):  # type: ignore[arg-type]
                pass
        with pytest.raises(ValueError):
            await aio.handle("pytest", "al\0ice", quiet, confdir=confdir)
        # No file for the service, nor "other": as pam.handle says it.
        with pytest.raises(FileNotFoundError, match="no-such-service"):
            await aio.handle("no-such-service", "alice", quiet, confdir=confdir)

    run(main())
    with pytest.raises(TypeError, match="conv must be callable"):
        aio.handle("pytest", "alice", "not callable")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="delay must be callable"):
        aio.handle("pytest", "alice", quiet, 3)  # type: ignore[arg-type]


def test_default_user_and_conversation_match_pam_handle(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required pam_permit.so"], service="login")

    async def main() -> tuple[Any, ...]:
        async with aio.handle(confdir=confdir) as h:
            return h.service, h.user, h.conv, h.delay, h.data

    with pam.handle(confdir=confdir) as sync:
        expected = (sync.service, sync.user, sync.conv, None, None)
    assert run(main()) == expected


# ----------------------------------------------------------------------
# Conversations


def test_a_coroutine_conversation_answers_four_messages_on_the_loop(pam_stack: StackFactory) -> None:
    confdir = pam_stack([
        "auth required {pytest} msg=info:welcome msg=echo_on:Login: msg=echo_off:Password: "
        "msg=echo_off:Code: expect=1:alice expect=2:s3cret expect=3:424242",
        "account required pam_permit.so",
    ])
    answers = {"Login:": "alice", "Password:": "s3cret", "Code:": "424242"}
    seen: list[tuple[int, str, Any, bool, Optional[str]]] = []

    async def conv(style: int, message: str, data: Any) -> Optional[str]:
        loop_thread = threading.current_thread() is threading.main_thread()
        await asyncio.sleep(0.02)  # a person, far away
        seen.append((style, message, data, loop_thread, h.user))  # items are readable here
        if message == "Code:":
            h.ruser = "web"  # and settable
        return answers.get(message)

    async def main() -> tuple[bool, int]:
        nonlocal h
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.005)
                ticks += 1

        tick = asyncio.create_task(ticker())
        async with aio.handle("pytest", "alice", conv, data="d", confdir=confdir) as h:
            ok = await h.authenticate()
            assert h.ruser == "web"
        tick.cancel()
        with pytest.raises(asyncio.CancelledError):
            await tick
        return ok, ticks

    h: Any = None
    ok, ticks = run(main())
    assert ok is True
    assert seen == [
        (pam.PAM_TEXT_INFO, "welcome", "d", True, "alice"),
        (pam.PAM_PROMPT_ECHO_ON, "Login:", "d", True, "alice"),
        (pam.PAM_PROMPT_ECHO_OFF, "Password:", "d", True, "alice"),
        (pam.PAM_PROMPT_ECHO_OFF, "Code:", "d", True, "alice"),
    ]
    assert ticks >= 4  # the loop went on while PAM waited for the answers


def test_a_plain_conversation_runs_in_the_worker_thread(pam_stack: StackFactory, executor: Any) -> None:
    confdir = pam_stack(["auth required {pytest} msg=echo_off:pw"])
    threads: list[str] = []

    def conv(style: int, message: str, data: Any) -> str:
        threads.append(threading.current_thread().name)
        return "x"

    async def main() -> bool:
        async with aio.handle("pytest", "alice", conv, confdir=confdir, executor=executor) as h:
            return await h.authenticate()

    assert run(main()) is True
    assert len(threads) == 1 and threads[0].startswith("aio-test")


def test_an_awaitable_returned_by_a_plain_callable_is_awaited(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} msg=echo_off:pw expect=0:later"])

    class Answerer:
        async def __call__(self, style: int, message: str, data: Any) -> str:
            return "later"

    def returns_a_coroutine(style: int, message: str, data: Any) -> Any:
        return asyncio.sleep(0.01, "later")

    async def main() -> list[bool]:
        results = []
        for conv in (Answerer(), returns_a_coroutine):
            async with aio.handle("pytest", "alice", conv, confdir=confdir) as h:
                results.append(await h.authenticate())
        return results

    assert run(main()) == [True, True]


def test_an_exception_in_a_coroutine_conversation_comes_out_unchanged(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} msg=echo_off:one", "account required pam_permit.so"])
    error = LookupError("the browser went away")

    async def conv(style: int, message: str, data: Any) -> str:
        await asyncio.sleep(0)
        raise error

    async def main() -> None:
        async with aio.handle("pytest", "alice", conv, confdir=confdir) as h:
            with pytest.raises(LookupError) as info:
                await h.authenticate()
            assert info.value is error
            assert h.status == pam.PAM_CONV_ERR
            # The handle goes on: the next operation works.
            await h.acct_mgmt()

    run(main())


def test_an_exception_in_a_plain_conversation_comes_out_unchanged(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} msg=echo_off:one"])
    error = KeyError("no")

    def conv(style: int, message: str, data: Any) -> str:
        raise error

    async def main() -> None:
        async with aio.handle("pytest", "alice", conv, confdir=confdir) as h:
            with pytest.raises(KeyError) as info:
                await h.authenticate()
            assert info.value is error

    run(main())


def test_the_conversation_cannot_run_an_operation_of_its_handle(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} msg=echo_off:one"])

    async def conv(style: int, message: str, data: Any) -> str:
        with pytest.raises(RuntimeError, match="inside a callback"):
            await h.acct_mgmt()
        with pytest.raises(RuntimeError, match="inside a callback"):
            await h.close()
        return "x"

    async def main() -> bool:
        nonlocal h
        async with aio.handle("pytest", "alice", conv, confdir=confdir) as h:
            return await h.authenticate()

    h: Any = None
    assert run(main()) is True


def test_items_from_another_task_during_an_operation_are_refused(pam_stack: StackFactory) -> None:
    # Waiting for the worker thread's lock would block the loop (and deadlock
    # at the next coroutine conversation): the access is refused instead.
    confdir = pam_stack(["auth required {pytest} sleep=300 msg=echo_off:pw"])

    async def conv(style: int, message: str, data: Any) -> str:
        return "x"

    async def main() -> None:
        async with aio.handle("pytest", "alice", conv, confdir=confdir) as h:
            task = asyncio.create_task(h.authenticate())
            await asyncio.sleep(0.1)
            with pytest.raises(RuntimeError, match="busy"):
                h.tty = "pts/2"
            with pytest.raises(RuntimeError, match="busy"):
                dict(h.environment)
            assert await task is True
            h.tty = "pts/2"
            assert h.tty == "pts/2"

    run(main())


def test_a_shared_handle_runs_one_operation_at_a_time(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["account required {pytest} sleep=100"])

    async def main() -> float:
        async with aio.handle("pytest", "alice", quiet, confdir=confdir) as h:
            start = time.monotonic()
            await asyncio.gather(*(h.acct_mgmt() for _ in range(4)))
            return time.monotonic() - start

    assert run(main()) >= 0.38


# ----------------------------------------------------------------------
# Fail delays


FAILING = ["auth required pam_faildelay.so delay=1000000", "auth required pam_deny.so",
           "account required pam_permit.so"]


@fail_delays
def test_forty_fail_delays_overlap_on_the_loop(pam_stack: StackFactory) -> None:
    confdir = pam_stack(FAILING)

    async def one() -> tuple[bool, float]:
        start = time.monotonic()
        ok = await aio.authenticate("alice", "wrong", "pytest", confdir=confdir)
        return ok, time.monotonic() - start

    async def main() -> tuple[list[tuple[bool, float]], float]:
        start = time.monotonic()
        results = await asyncio.gather(*(one() for _ in range(40)))
        return results, time.monotonic() - start

    results, total = run(main())
    assert [ok for ok, _ in results] == [False] * 40
    assert min(seconds for _, seconds in results) >= 0.45  # each client still waited
    assert total < 5.0  # a blocking binding in 4 threads needs about 10 s


@fail_delays
def test_fail_delays_hold_no_thread(pam_stack: StackFactory, executor: Any) -> None:
    # Two threads, forty 1 s delays: only possible if no thread sleeps.
    confdir = pam_stack(FAILING)

    async def main() -> float:
        start = time.monotonic()
        results = await asyncio.gather(*(aio.authenticate("alice", "wrong", "pytest", confdir=confdir,
                                                          executor=executor) for _ in range(40)))
        assert results == [False] * 40
        return time.monotonic() - start

    assert run(main()) < 5.0


@fail_delays
def test_the_delay_is_awaited_by_the_handle_and_not_after_success(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required pam_faildelay.so delay=400000", "auth required {pytest} msg=echo_off:pw "
                         "expect=0:right"])

    async def timed(password: str) -> tuple[bool, float]:
        async def conv(style: int, message: str, data: Any) -> str:
            return password

        async with aio.handle("pytest", "alice", conv, confdir=confdir) as h:
            start = time.monotonic()
            ok = await h.authenticate()
            return ok, time.monotonic() - start

    ok, seconds = run(timed("wrong"))
    assert ok is False and 0.18 <= seconds < 1.5
    ok, seconds = run(timed("right"))
    assert ok is True and seconds < 0.15


@fail_delays
def test_a_delay_callback_replaces_the_sleep(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required pam_faildelay.so delay=2000000", "auth required pam_deny.so"])
    calls: list[tuple[int, int, Any, bool]] = []

    async def note(rc: int, usec: int, data: Any) -> None:
        await asyncio.sleep(0)
        calls.append((rc, usec, data, threading.current_thread() is threading.main_thread()))

    def plain(rc: int, usec: int, data: Any) -> None:
        calls.append((rc, usec, data, threading.current_thread() is threading.main_thread()))

    async def main() -> float:
        start = time.monotonic()
        async with aio.handle("pytest", "alice", quiet, note, data="d", confdir=confdir) as h:
            assert await h.authenticate() is False
            h.delay = plain
            assert await h.authenticate() is False
        return time.monotonic() - start

    assert run(main()) < 1.0
    assert [(rc, data, on_loop) for rc, _, data, on_loop in calls] == [(pam.PAM_AUTH_ERR, "d", True)] * 2
    assert all(1_000_000 <= usec <= 3_000_000 for _, usec, _, _ in calls)


@fail_delays
def test_fail_delay_of_the_application(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required pam_deny.so"])
    calls: list[int] = []

    async def main() -> None:
        async with aio.handle("pytest", "alice", quiet, lambda rc, usec, data: calls.append(usec),
                              confdir=confdir) as h:
            h.fail_delay(300_000)
            assert await h.authenticate() is False

    run(main())
    assert len(calls) == 1 and 150_000 <= calls[0] <= 450_000


# ----------------------------------------------------------------------
# Cancellation


def assert_cancelled_at_once(task: asyncio.Task[Any]) -> Awaitable[None]:
    async def check() -> None:
        task.cancel()
        start = time.monotonic()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert time.monotonic() - start < 0.2  # the PAM call has longer to go than that

    return check()


def test_cancelled_while_a_module_works(pam_stack: StackFactory, executor: Any,
                                        caplog: pytest.LogCaptureFixture) -> None:
    # The PAM call goes on in its thread; its next conversation is refused,
    # then the transaction is ended there.
    confdir = pam_stack(["auth required {pytest} sleep=600 msg=echo_off:second"])
    conversations: list[str] = []

    async def conv(style: int, message: str, data: Any) -> str:
        conversations.append(message)
        return "x"

    async def main() -> aio.handle:
        h = await aio.handle("pytest", "alice", conv, confdir=confdir, executor=executor)
        task = asyncio.create_task(h.authenticate())
        await asyncio.sleep(0.2)
        await assert_cancelled_at_once(task)
        assert h.closed
        with pytest.raises(ValueError, match="closed"):
            h.user
        with pytest.raises(ValueError, match="closed"):
            await h.acct_mgmt()
        await h.close()  # nothing to do: it is ended in the background
        return h

    with caplog.at_level(logging.DEBUG):
        h = run(main())
    executor.shutdown(wait=True)  # the PAM call and pam_end are over
    assert conversations == []
    assert h._inner is not None and h._inner.closed
    assert pool_threads("aio-test") == []
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_cancelled_during_a_coroutine_conversation(pam_stack: StackFactory, executor: Any) -> None:
    confdir = pam_stack(["auth required {pytest} msg=echo_off:first", "auth required {pytest} msg=echo_off:second"])
    events: list[str] = []

    async def conv(style: int, message: str, data: Any) -> str:
        events.append(message)
        try:
            await asyncio.Event().wait()  # the person never answers
        except asyncio.CancelledError:
            events.append("conversation cancelled")
            raise
        return "x"

    async def main() -> aio.handle:
        h = await aio.handle("pytest", "alice", conv, confdir=confdir, executor=executor)
        task = asyncio.create_task(h.authenticate())
        while not events:
            await asyncio.sleep(0.01)
        await assert_cancelled_at_once(task)
        await asyncio.sleep(0.05)
        return h

    h = run(main())
    executor.shutdown(wait=True)
    assert events == ["first", "conversation cancelled"]  # "second" was never asked
    assert h._inner is not None and h._inner.closed


@fail_delays
def test_cancelled_during_the_fail_delay(pam_stack: StackFactory, executor: Any) -> None:
    confdir = pam_stack(["auth required pam_faildelay.so delay=2000000", "auth required pam_deny.so"])

    async def main() -> aio.handle:
        h = await aio.handle("pytest", "alice", quiet, confdir=confdir, executor=executor)
        task = asyncio.create_task(h.authenticate())
        await asyncio.sleep(0.3)  # PAM has returned; the delay is being awaited
        await assert_cancelled_at_once(task)
        assert h.closed
        return h

    h = run(main())
    executor.shutdown(wait=True)
    assert h._inner is not None and h._inner.closed


def test_the_helper_cancelled_mid_call(pam_stack: StackFactory, executor: Any) -> None:
    confdir = pam_stack(["auth required {pytest} sleep=500", "account required pam_permit.so"])

    async def main() -> None:
        task = asyncio.create_task(aio.authenticate("alice", "pw", "pytest", confdir=confdir, executor=executor))
        await asyncio.sleep(0.1)
        await assert_cancelled_at_once(task)

    run(main())
    executor.shutdown(wait=True)
    assert pool_threads("aio-test") == []


def test_cancelled_while_starting_and_closing(pam_stack: StackFactory, executor: Any) -> None:
    # endsleep makes pam_end slow; the first handle's start is cancelled
    # before its job ran (the only thread is busy).
    confdir = pam_stack(["auth required {pytest} endsleep=600"])
    one = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="aio-one")

    async def main() -> tuple[aio.handle, aio.handle]:
        h = await aio.handle("pytest", "alice", quiet, confdir=confdir, executor=one)
        await h.authenticate()
        closing = asyncio.create_task(h.close())
        await asyncio.sleep(0.05)
        second = aio.handle("pytest", "bob", quiet, confdir=confdir, executor=one)
        starting = asyncio.create_task(second._start())
        await asyncio.sleep(0.05)
        await assert_cancelled_at_once(starting)
        await assert_cancelled_at_once(closing)
        assert h.closed and second.closed
        return h, second

    try:
        h, second = run(main())
    finally:
        one.shutdown(wait=True)
    assert h._inner is not None and h._inner.closed
    assert second._inner is None  # its pam_start never ran
    assert pool_threads("aio-one") == []


def test_loop_shutdown_with_operations_in_flight(pam_stack: StackFactory, executor: Any) -> None:
    # asyncio.run cancels what is left when main returns; the loop closes
    # cleanly and the PAM calls finish in their threads.
    confdir = pam_stack(["auth required {pytest} msg=echo_off:pw", "account required {pytest} sleep=300"])
    handles: list[aio.handle] = []

    async def never(style: int, message: str, data: Any) -> str:
        await asyncio.Event().wait()
        return "x"

    async def main() -> None:
        for conv in (never, quiet):
            h = await aio.handle("pytest", "alice", conv, confdir=confdir, executor=executor)
            handles.append(h)
        asyncio.create_task(handles[0].authenticate())
        asyncio.create_task(handles[1].acct_mgmt())
        await asyncio.sleep(0.1)

    run(main(), debug=True)
    executor.shutdown(wait=True)
    assert all(h._inner is not None and h._inner.closed for h in handles)


# ----------------------------------------------------------------------
# Many tasks, executors, residents


def test_many_concurrent_tasks(matrix: tuple[str, str]) -> None:
    confdir, _ = matrix

    async def with_handle(i: int) -> bool:
        async def conv(style: int, message: str, data: Any) -> str:
            await asyncio.sleep(0.001)
            return "wonderland" if i % 3 else "wrong"

        async with aio.handle("pytest", "alice", conv, confdir=confdir) as h:
            return await h.authenticate()

    async def main() -> tuple[list[bool], list[bool]]:
        helper = await asyncio.gather(*(aio.authenticate("alice", "wonderland" if i % 2 else "nope", "pytest",
                                                         confdir=confdir) for i in range(200)))
        handles = await asyncio.gather(*(with_handle(i) for i in range(100)))
        return helper, handles

    helper, handles = run(main())
    assert helper == [bool(i % 2) for i in range(200)]
    assert handles == [bool(i % 3) for i in range(100)]


def test_the_default_executor(matrix: tuple[str, str]) -> None:
    confdir, _ = matrix
    names: list[str] = []

    def conv(style: int, message: str, data: Any) -> str:
        names.append(threading.current_thread().name)
        return "wonderland"

    async def main() -> bool:
        async with aio.handle("pytest", "alice", conv, confdir=confdir) as h:
            return await h.authenticate()

    assert run(main()) is True
    assert aio.default_executor() is aio.default_executor()
    assert aio.default_executor()._max_workers == aio.DEFAULT_WORKERS
    assert names[0].startswith("draxoft-pam")


def test_a_chosen_executor_runs_every_call(matrix: tuple[str, str], executor: Any) -> None:
    confdir, _ = matrix
    names: list[str] = []

    def conv(style: int, message: str, data: Any) -> str:
        names.append(threading.current_thread().name)
        return "wonderland"

    async def main() -> bool:
        ok = await aio.authenticate("alice", "wonderland", "pytest", confdir=confdir, executor=executor)
        async with aio.handle("pytest", "alice", conv, confdir=confdir, executor=executor) as h:
            return ok and await h.authenticate()

    assert run(main()) is True
    assert names and all(n.startswith("aio-test") for n in names)


def test_a_shut_down_executor_is_refused(matrix: tuple[str, str]) -> None:
    confdir, _ = matrix
    pool = concurrent.futures.ThreadPoolExecutor(1)
    pool.shutdown()
    with pytest.raises(RuntimeError):
        run(aio.authenticate("alice", "wonderland", "pytest", confdir=confdir, executor=pool))


def test_a_resident_service(matrix: tuple[str, str]) -> None:
    confdir, _ = matrix

    async def main() -> list[bool]:
        return await asyncio.gather(*(aio.authenticate("alice", "wonderland" if i % 2 else "x", "pytest",
                                                       confdir=confdir) for i in range(100)))

    with pam.resident("pytest", confdir=confdir):
        assert run(main()) == [bool(i % 2) for i in range(100)]


# ----------------------------------------------------------------------
# Closing


def test_closing(matrix: tuple[str, str]) -> None:
    confdir, _ = matrix

    async def main() -> None:
        h = aio.handle("pytest", "alice", quiet, confdir=confdir)
        assert not h.closed and "not started" in repr(h)
        with pytest.raises(ValueError, match="not started"):
            h.user
        with pytest.raises(ValueError, match="not started"):
            await h.authenticate()
        assert await h is h
        assert "open" in repr(h)
        async with h:  # entering a started handle keeps it
            assert h.user == "alice"
        assert h.closed and "closed" in repr(h)
        await h.close()  # twice: nothing
        for attempt in (h.authenticate(), h.acct_mgmt(), h._start()):
            with pytest.raises(ValueError, match="closed"):
                await attempt
        with pytest.raises(ValueError, match="closed"):
            h.tty = "x"
        with pytest.raises(ValueError, match="closed"):
            h.environment
        assert h.status == pam.PAM_SUCCESS  # still readable

        never = aio.handle("pytest", "alice", quiet, confdir=confdir)
        await never.close()  # never started: nothing to end
        assert never.closed

    run(main())


def test_close_runs_pam_end_in_a_worker_thread(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} endsleep=10"])

    async def main() -> None:
        h = await aio.handle("pytest", "alice", quiet, confdir=confdir)
        await h.authenticate()
        start = time.monotonic()
        await h.close()
        assert time.monotonic() - start >= 0.009  # pam_end ran (in a worker thread)
        assert h.closed

    run(main())


def test_a_forked_child_gets_a_pool_of_its_own(matrix: tuple[str, str]) -> None:
    confdir, _ = matrix
    code = '''
import asyncio, os, sys, warnings
from draxoft.auth.pam import aio
confdir = sys.argv[1]
check = lambda: asyncio.run(aio.authenticate("alice", "wonderland", "pytest", confdir=confdir))
assert check()
parent_pool = aio.default_executor()
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads, Python 3.12+
    pid = os.fork()
if pid == 0:
    ok = check() and aio.default_executor() is not parent_pool
    os._exit(0 if ok else 1)
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0, status
assert check()
print("ok")
'''
    done = pamstack.run_isolated(code, confdir, timeout=60)
    assert done.returncode == 0 and done.stdout == "ok\n", done.stdout + done.stderr


def test_cancelled_handles_leave_nothing_behind(pam_stack: StackFactory, executor: Any) -> None:
    import gc
    import weakref

    confdir = pam_stack(["auth required {pytest} msg=echo_off:pw", "account required {pytest} sleep=50"])
    refs: list[weakref.ref[Any]] = []

    async def never(style: int, message: str, data: Any) -> str:
        await asyncio.Event().wait()
        return "x"

    async def one(i: int) -> None:
        h = await aio.handle("pytest", "alice", never if i % 2 else quiet, confdir=confdir, executor=executor)
        refs.append(weakref.ref(h))
        assert h._inner is not None
        refs.append(weakref.ref(h._inner))
        task = asyncio.create_task(h.authenticate() if i % 2 else h.acct_mgmt())
        await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    async def main() -> None:
        await asyncio.gather(*(one(i) for i in range(20)))

    run(main())
    executor.shutdown(wait=True)
    gc.collect()
    assert len(refs) == 40 and [r for r in refs if r() is not None] == []
