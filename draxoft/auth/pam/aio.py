"""PAM for asyncio programs: every PAM call awaits, none blocks the loop.

::

    from draxoft.auth.pam import aio

    if await aio.authenticate("alice", password, "myapp", rhost=peer):
        ...

    async with aio.handle("myapp", "alice", ask_in_browser) as h:
        if await h.authenticate():
            await h.acct_mgmt()

PAM is a blocking C library, so each PAM call runs in a worker thread of
an executor (:func:`default_executor` unless the caller gives one) while
the calling task awaits it. Three things make this more than
``run_in_executor``:

- A conversation may be a coroutine function. It runs on the event loop,
  where it can await a person (a WebSocket, a second factor), while the
  PAM call waits for its answer in the worker thread.
- Fail delays do not hold a thread. The module takes PAM's delay over
  (the ``PAM_FAIL_DELAY`` item, through :attr:`~draxoft.auth.pam.handle.delay`), notes
  how long PAM wanted to wait, and awaits that on the loop once the PAM
  call has returned: the client still waits, the thread is free at once.
- Cancellation returns at once. The PAM call that was running goes on to
  its end in its thread; its next conversation is refused, and then the
  transaction is ended there.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import inspect
import os
import threading
import weakref
from typing import Any, Awaitable, Callable, Generator, Iterator, Optional, TypeVar, Union

from draxoft.auth import _pamlow

from . import _check, _simple
from ._constants import extensions
from ._conversation import Response, default_conversation
from ._environment import Environment
from ._errors import PamError
from ._handle import _DEFAULT_USER
from ._handle import handle as _SyncHandle
from ._text import StrOrBytes

__all__ = ["authenticate", "handle", "default_executor", "DEFAULT_WORKERS"]

#: The number of threads of the pool that :func:`default_executor` makes.
#: A thread is taken only while PAM works, or while a conversation waits
#: for its answer: fail delays take none. A program whose conversations
#: wait for people (a second factor typed in a browser) holds one thread
#: per waiting person, and should give an executor of its own sized for
#: that.
DEFAULT_WORKERS = 32

#: ``conv(style, message, data)``: a plain function answering at once, or
#: a coroutine function (any callable whose result is awaitable).
AsyncConvCallback = Callable[[int, Any, Any], Union[Response, Awaitable[Response]]]

#: ``delay(rc, usec, data)``: a plain function or a coroutine function.
AsyncDelayCallback = Callable[[int, int, Any], object]

PAM_SUCCESS: int = _pamlow.PAM_SUCCESS
PAM_CONV_ERR: int = _pamlow.PAM_CONV_ERR

_T = TypeVar("_T")

# ----------------------------------------------------------------------
# The module's own thread pool

_pool: Optional[concurrent.futures.ThreadPoolExecutor] = None
_pool_lock = threading.Lock()


def default_executor() -> concurrent.futures.ThreadPoolExecutor:
    """The thread pool that PAM calls run in when no executor is given.

    It is made at first use, with :data:`DEFAULT_WORKERS` threads named
    ``draxoft-pam``, and shared by every handle of the process that has no
    executor of its own. Threads start only when work needs them, and idle
    ones cost nothing but their stack. A child process made by ``fork``
    gets a pool of its own at its first use.
    """
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = concurrent.futures.ThreadPoolExecutor(DEFAULT_WORKERS, thread_name_prefix="draxoft-pam")
        return _pool




# ----------------------------------------------------------------------
# One PAM job in a worker thread


class _Call:
    """One job of a handle in a worker thread, and what the event loop and
    the worker tell each other about it (under ``lock``).

    The loop sets ``abandoned`` when the task awaiting the job is
    cancelled; the worker sets ``finished`` when the job has returned.
    Whichever comes second ends the transaction, so that it is ended
    exactly once and never while PAM is still working on it.
    """

    __slots__ = ("loop", "wakeups", "future", "lock", "abandoned", "finished", "conversation", "delays")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.wakeups = _wakeups_of(loop)
        self.future: asyncio.Future[tuple[bool, Any]] = loop.create_future()
        self.lock = threading.Lock()
        self.abandoned = False
        self.finished = False
        # The future of a coroutine conversation the worker waits for.
        self.conversation: Optional[concurrent.futures.Future[Response]] = None
        # (rc, usec) of each time PAM handed its fail delay to the binding.
        self.delays: list[tuple[int, int]] = []


class _Wakeups:
    """Hands the outcomes of finished jobs to one event loop, as many as
    have finished by the time the loop gets to them: under load, one
    wake-up of the loop (and one write to its self-pipe) serves many jobs."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.lock = threading.Lock()
        self.pending: list[tuple[asyncio.Future[tuple[bool, Any]], tuple[bool, Any]]] = []

    def post(self, future: asyncio.Future[tuple[bool, Any]], outcome: tuple[bool, Any]) -> bool:
        """From a worker thread; False when the loop is closed."""
        with self.lock:
            self.pending.append((future, outcome))
            if len(self.pending) > 1:
                return True  # the loop is already called to deliver them
        try:
            self.loop.call_soon_threadsafe(self.deliver)
        except RuntimeError:  # the loop is closed: nobody will ever look
            with self.lock:
                self.pending.clear()
            return False
        return True

    def deliver(self) -> None:
        """On the loop."""
        with self.lock:
            pending, self.pending = self.pending, []
        for future, outcome in pending:
            if not future.done():
                future.set_result(outcome)


_wakeups: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Wakeups] = weakref.WeakKeyDictionary()
_wakeups_lock = threading.Lock()


def _wakeups_of(loop: asyncio.AbstractEventLoop) -> _Wakeups:
    """The loop's _Wakeups, made at its first job. If the loop is closed
    after a delivery was scheduled and before it ran, the outcomes posted
    meanwhile are lost with the tasks that awaited them; a handle left open
    that way is ended when it is garbage collected."""
    with _wakeups_lock:
        found = _wakeups.get(loop)
        if found is None:
            found = _wakeups[loop] = _Wakeups(loop)
        return found


def _end_quietly(inner: Optional[_SyncHandle]) -> None:
    """End a transaction that nobody awaits any more. What pam_end or a
    module reports then has nobody to go to (the caller was cancelled)."""
    if inner is not None:
        with contextlib.suppress(Exception):
            inner.close()


def _weak(method: Callable[..., _T]) -> Callable[..., _T]:
    """A callable for the inner handle that does not keep the aio handle
    alive (its capsule already refers to the inner handle weakly)."""
    ref = weakref.WeakMethod(method)

    def call(*args: Any) -> _T:
        target = ref()
        if target is None:
            raise PamError.from_code(PAM_CONV_ERR)
        return target(*args)

    return call


def _is_coroutine_function(func: object) -> bool:
    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(getattr(func, "__call__", None))


def _forget_threads_in_child() -> None:
    """After fork: the parent's pool threads do not exist in the child, and
    a lock one of them held would stay held."""
    global _pool, _pool_lock, _wakeups, _wakeups_lock
    _pool = None
    _pool_lock = threading.Lock()
    _wakeups = weakref.WeakKeyDictionary()
    _wakeups_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_threads_in_child)


# The handle whose coroutine conversation the current task is running.
_conversing: contextvars.ContextVar[Optional[handle]] = contextvars.ContextVar(
    "draxoft_pam_aio_conversing", default=None
)


class _Attribute:
    """An attribute of the inner :class:`~draxoft.auth.pam.handle`, reached through
    :meth:`handle._sync` (which refuses what would block the loop)."""

    def __init__(self, doc: Optional[str] = None) -> None:
        self._doc = doc

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.__doc__ = self._doc or getattr(_SyncHandle, name).__doc__

    def __get__(self, obj: Optional[handle], objtype: Optional[type] = None) -> Any:
        if obj is None:
            return self
        return getattr(obj._sync(), self.name)

    def __set__(self, obj: handle, value: Any) -> None:
        setattr(obj._sync(), self.name, value)


class handle:
    """One PAM transaction for asyncio: :class:`~draxoft.auth.pam.handle` with awaitable operations.

    Use it as ``async with aio.handle(...) as h:``, or ``h = await
    aio.handle(...)`` and later ``await h.close()``. Creating the object
    only keeps the arguments: ``pam_start`` runs in a worker thread when
    the handle is entered or awaited, and its errors come out there.

    The parameters are those of :class:`~draxoft.auth.pam.handle`, with these changes:

    :param service: the PAM service whose stack is used.
    :param user: the user to authenticate; None lets PAM ask for it; by
        default the login name of the real uid.
    :param conv: ``conv(style, message, data)``, called once per message:
        a plain function runs in the worker thread of the PAM call; a
        coroutine function runs on the event loop, which the PAM call
        waits for. What either raises comes out of the operation.
    :param delay: ``delay(rc, usec, data)``, a plain function or a
        coroutine function, called on the event loop after each PAM call
        that handed its fail delay over, instead of the binding's own
        ``await asyncio.sleep()``. None (the default): the binding waits
        ``usec`` on the loop after a failure. OpenPAM has no fail delays:
        nothing waits there, and a *delay* raises
        :exc:`~draxoft.auth.pam.PamError` (``PAM_BAD_ITEM``) when the
        handle starts. See :doc:`/topics/asyncio`.
    :param data: any object, passed to the callbacks.
    :param confdir: a directory of service files to use instead of the
        system's policy (needs ``"confdir"`` in :data:`~draxoft.auth.pam.extensions`).
    :param tty: the initial :attr:`tty` item.
    :param rhost: the initial :attr:`rhost` item: the client's IP address.
    :param ruser: the initial :attr:`ruser` item.
    :param user_prompt: the initial :attr:`user_prompt` item.
    :param xdisplay: the initial :attr:`xdisplay` item (Linux-PAM).
    :param executor: the ``concurrent.futures.Executor`` whose
        threads run this handle's PAM calls; None for
        :func:`default_executor`.
    :param isolated: run the transaction in a worker process, as for
        :class:`~draxoft.auth.pam.handle` (see :doc:`/topics/reliability`);
        the callbacks still run here, on the event loop.
    :param timeout: with *isolated*, the seconds each PAM call may take,
        as for :class:`~draxoft.auth.pam.handle`; a conversation awaited
        on the loop is not counted.
    :raises TypeError: *conv* or *delay* not callable, *isolated* not a
        bool, *timeout* not a number (the other arguments are checked by
        ``pam_start``, when the handle starts).
    :raises ValueError: *timeout* not positive, or without *isolated*.
    """

    #: Any object, passed to :attr:`conv` and :attr:`delay` as their last argument.
    data: Any

    service = _Attribute()
    user = _Attribute()
    user_prompt = _Attribute()
    tty = _Attribute()
    rhost = _Attribute()
    ruser = _Attribute()
    xdisplay = _Attribute()
    xauthdata = _Attribute()
    authtok_type = _Attribute()
    authtok = _Attribute()
    oldauthtok = _Attribute()
    host = _Attribute()
    authtok_prompt = _Attribute()
    oldauthtok_prompt = _Attribute()
    elevated = _Attribute()

    def __init__(
        self,
        service: StrOrBytes = "login",
        user: Optional[StrOrBytes] = _DEFAULT_USER,
        conv: Optional[AsyncConvCallback] = default_conversation,
        delay: Optional[AsyncDelayCallback] = None,
        data: Any = None,
        *,
        confdir: Union[str, bytes, os.PathLike[str], None] = None,
        tty: Optional[StrOrBytes] = None,
        rhost: Optional[StrOrBytes] = None,
        ruser: Optional[StrOrBytes] = None,
        user_prompt: Optional[StrOrBytes] = None,
        xdisplay: Optional[StrOrBytes] = None,
        executor: Optional[concurrent.futures.Executor] = None,
        isolated: bool = False,
        timeout: Optional[float] = None,
    ) -> None:
        _check.callback(conv, "conv")
        _check.callback(delay, "delay")
        _check.timeout(timeout, isolated)
        self.data = data
        self._conv = conv
        self._conv_is_async = _is_coroutine_function(conv)
        self._delay = delay
        self._executor = executor
        self._start_args: tuple[StrOrBytes, Optional[StrOrBytes]] = (service, user)
        self._start_kwargs: dict[str, Any] = {
            "confdir": confdir,
            "tty": tty,
            "rhost": rhost,
            "ruser": ruser,
            "user_prompt": user_prompt,
            "xdisplay": xdisplay,
            "isolated": isolated,
            "timeout": timeout,
        }
        self._inner: Optional[_SyncHandle] = None
        self._lock: Optional[asyncio.Lock] = None
        self._call: Optional[_Call] = None
        # Set on the loop: a job is in a worker thread; a coroutine
        # conversation of that job is running; the handle is done with
        # (closed, or ended in the background after a cancellation).
        self._busy = False
        self._conversations = 0
        self._retired = False
        self._loop_thread: Optional[int] = None

    # ------------------------------------------------------------------
    # Life cycle

    def __await__(self) -> Generator[Any, None, handle]:
        return self._start().__await__()

    async def __aenter__(self) -> handle:
        return await self._start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _start(self) -> handle:
        self._refuse_reentry("start")
        async with self._get_lock():
            if self._retired:
                raise ValueError("operation on a closed PAM handle")
            if self._inner is None:
                await self._run(self._begin)
        return self

    def _begin(self) -> _SyncHandle:
        """In a worker thread: pam_start, through :class:`~draxoft.auth.pam.handle`."""
        # The binding takes PAM's fail delay over wherever PAM has one. On
        # a PAM without it, a delay callback given by the caller makes
        # pam.handle raise what it raises there.
        take_delay = "fail_delay" in extensions or self._delay is not None
        service, user = self._start_args
        inner = _SyncHandle(
            service,
            user,
            _weak(self._relay) if self._conv is not None else None,
            _weak(self._record_delay) if take_delay else None,
            **self._start_kwargs,
        )
        self._inner = inner
        return inner

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has ended the transaction, or once an
        operation was cancelled (the transaction is then ended in the
        background). False before the handle is started."""
        inner = self._inner
        return self._retired or (inner is not None and inner.closed)

    async def close(self) -> None:
        """End the transaction (``pam_end``, in a worker thread).

        Closing twice, or closing a handle that was never started, does
        nothing. Cancelled, it still ends the transaction, in the
        background.
        """
        self._refuse_reentry("close")
        async with self._get_lock():
            inner = self._inner
            if self._retired or inner is None or inner.closed:
                self._retired = True
                return
            try:
                await self._run(inner.close)
            finally:
                self._retired = True

    def __repr__(self) -> str:
        if self.closed:
            state = "closed"
        elif self._inner is None:
            state = "not started"
        else:
            state = "open"
        return f"<{__name__}.handle {state} at {id(self):#x}>"

    # ------------------------------------------------------------------
    # Running PAM in a worker thread

    def _get_lock(self) -> asyncio.Lock:
        # Made on the loop at first use (an asyncio.Lock made elsewhere
        # would belong to another loop on Python 3.9).
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    def _refuse_reentry(self, what: str) -> None:
        if _conversing.get() is self and self._conversations:
            raise RuntimeError(f"{what}() called from inside a callback of the same PAM handle")

    async def _run(self, work: Callable[[], _T]) -> _T:
        """Run *work* in a worker thread and return what it returns, after
        the fail delays PAM handed over during it."""
        loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        call = _Call(loop)
        executor = self._executor if self._executor is not None else default_executor()
        self._call = call
        try:
            executor.submit(self._work, call, work)
        except BaseException:
            self._call = None
            raise
        self._busy = True
        try:
            try:
                ok, value = await call.future
            finally:
                self._busy = False
            await self._wait_delays(call)
        except asyncio.CancelledError:
            self._abandon(call)
            raise
        finally:
            self._call = None
        if ok:
            return value  # type: ignore[no-any-return]
        try:
            raise value
        finally:
            value = None

    def _work(self, call: _Call, work: Callable[[], Any]) -> None:
        """In a worker thread: run one job, then hand its outcome to the
        loop, or end the transaction if nobody awaits it any more."""
        with call.lock:
            skip = call.abandoned
        outcome: tuple[bool, Any] = (False, None)
        if not skip:
            try:
                outcome = (True, work())
            except BaseException as e:  # re-raised by the awaiting task
                outcome = (False, e)
        with call.lock:
            call.finished = True
            abandoned = call.abandoned
        if abandoned or not call.wakeups.post(call.future, outcome):
            _end_quietly(self._inner)

    def _abandon(self, call: _Call) -> None:
        """On the loop, when the task awaiting *call* is cancelled: refuse
        the PAM call's next conversation, stop the one in progress, and
        end the transaction once PAM has returned."""
        self._retired = True
        with call.lock:
            call.abandoned = True
            finished = call.finished
            conversation = call.conversation
        if conversation is not None:
            conversation.cancel()
        if finished:
            inner = self._inner
            if inner is not None and not inner.closed:
                try:
                    executor = self._executor if self._executor is not None else default_executor()
                    executor.submit(_end_quietly, inner)
                except RuntimeError:  # the executor is shut down
                    _end_quietly(inner)

    async def _wait_delays(self, call: _Call) -> None:
        """The fail delays PAM handed over during *call*: the caller's
        callback, or a sleep on the loop after a failure."""
        for rc, usec in call.delays:
            if self._delay is not None:
                result = self._delay(rc, usec, self.data)
                if inspect.isawaitable(result):
                    await result
            elif rc != PAM_SUCCESS and usec > 0:
                await asyncio.sleep(usec / 1_000_000)

    # ------------------------------------------------------------------
    # Callbacks, as the inner handle calls them (in the worker thread)

    def _record_delay(self, rc: int, usec: int, data: Any) -> None:
        call = self._call
        if call is not None:
            call.delays.append((rc, usec))

    def _relay(self, style: int, message: Any, data: Any) -> Response:
        call = self._call
        conv = self._conv
        if call is None or call.abandoned or conv is None:
            raise PamError.from_code(PAM_CONV_ERR)
        answer: Any
        if self._conv_is_async:
            work = self._converse_on_loop(conv, style, message)
        else:
            answer = conv(style, message, self.data)
            if answer is None or isinstance(answer, (str, bytes, bytearray)) or not inspect.isawaitable(answer):
                response: Response = answer  # older mypy does not narrow Any here
                return response
            work = self._await_on_loop(answer)
        with call.lock:
            future = None
            if not call.abandoned:
                with contextlib.suppress(RuntimeError):  # the loop is closed
                    future = asyncio.run_coroutine_threadsafe(work, call.loop)
            if future is None:
                work.close()
                raise PamError.from_code(PAM_CONV_ERR)
            call.conversation = future
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            raise PamError.from_code(PAM_CONV_ERR) from None
        finally:
            call.conversation = None

    async def _converse_on_loop(self, conv: AsyncConvCallback, style: int, message: Any) -> Response:
        """On the loop: one message of a coroutine conversation. Meanwhile
        the loop's thread stands in for the worker thread that waits in
        PAM, so the conversation may read and set the handle's items."""
        return await self._on_loop(lambda: conv(style, message, self.data))

    async def _await_on_loop(self, answer: Awaitable[Response]) -> Response:
        return await self._on_loop(lambda: answer)

    async def _on_loop(self, start: Callable[[], Any]) -> Response:
        inner = self._inner
        assert inner is not None
        _conversing.set(self)
        self._conversations += 1
        try:
            with inner._in_callback():
                answer = start()
                if inspect.isawaitable(answer):
                    answer = await answer
                return answer  # type: ignore[no-any-return]
        finally:
            self._conversations -= 1

    # ------------------------------------------------------------------
    # Attributes

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("operation on a closed PAM handle")

    def _sync(self) -> _SyncHandle:
        """The inner handle, for an attribute. From the loop's thread while
        PAM works in a worker thread (outside a conversation), the inner
        handle's lock is held: waiting for it would block the loop, and
        deadlock as soon as PAM calls a coroutine conversation."""
        inner = self._inner
        if self._retired or (inner is not None and inner.closed):
            raise ValueError("operation on a closed PAM handle")
        if inner is None:
            raise ValueError("the PAM handle is not started: use 'async with' or 'await' on it")
        if self._busy and not self._conversations and threading.get_ident() == self._loop_thread:
            raise RuntimeError(
                "the PAM handle is busy with an operation: use its attributes between "
                "operations, or from its conversation"
            )
        return inner

    @contextlib.contextmanager
    def _access(self) -> Iterator[Any]:
        """For :class:`Environment`: the inner handle's access, after the checks of :meth:`_sync`."""
        with self._sync()._access() as low:
            yield low

    @property
    def environment(self) -> Environment:
        """The PAM environment, as a live mutable mapping of str to str
        (see :attr:`~draxoft.auth.pam.handle.environment`)."""
        self._sync()
        return Environment(self)

    @property
    def status(self) -> int:
        """The return code of the last operation (see :attr:`~draxoft.auth.pam.handle.status`)."""
        inner = self._inner
        return PAM_SUCCESS if inner is None else inner.status

    @property
    def conv(self) -> Optional[AsyncConvCallback]:
        """The conversation: a plain function or a coroutine function,
        ``conv(style, message, data)``."""
        self._check_open()
        return self._conv

    @conv.setter
    def conv(self, value: Optional[AsyncConvCallback]) -> None:
        if value is not None and not callable(value):
            raise TypeError(f"conv must be callable or None, not {type(value).__name__}")
        self._check_open()
        if self._inner is not None:
            inner = self._sync()
            if (value is None) != (self._conv is None):
                inner.conv = _weak(self._relay) if value is not None else None
        self._conv = value
        self._conv_is_async = _is_coroutine_function(value)

    @property
    def delay(self) -> Optional[AsyncDelayCallback]:
        """The fail-delay callback ``delay(rc, usec, data)`` (plain or
        coroutine function), called on the loop instead of the binding's
        sleep; None: the binding sleeps on the loop after a failure."""
        return self._delay

    @delay.setter
    def delay(self, value: Optional[AsyncDelayCallback]) -> None:
        if value is not None and not callable(value):
            raise TypeError(f"delay must be callable or None, not {type(value).__name__}")
        self._check_open()
        if value is not None and "fail_delay" not in extensions:
            raise PamError.from_code(_pamlow.PAM_BAD_ITEM)
        self._delay = value

    if "fail_delay" in extensions:

        def fail_delay(self, usec: int) -> None:
            """Ask for a delay of at least *usec* microseconds after a
            failure (see :meth:`~draxoft.auth.pam.handle.fail_delay`). Only defined
            where ``"fail_delay"`` is in :data:`~draxoft.auth.pam.extensions`."""
            self._sync().fail_delay(usec)

    # ------------------------------------------------------------------
    # Operations

    async def _operate(self, name: str, *args: Any, **kwargs: Any) -> Any:
        self._refuse_reentry(name)
        async with self._get_lock():
            inner = self._inner
            if self._retired or (inner is not None and inner.closed):
                raise ValueError("operation on a closed PAM handle")
            if inner is None:
                raise ValueError("the PAM handle is not started: use 'async with' or 'await' on it")
            method = getattr(inner, name)
            return await self._run(lambda: method(*args, **kwargs))

    async def call(self, operation: str, flags: int = 0) -> int:
        """Run one PAM operation with the flags as given; return PAM's code
        (see :meth:`~draxoft.auth.pam.handle.call`)."""
        rc: int = await self._operate("call", operation, flags)
        return rc

    async def authenticate(self, silent: bool = False, disallow_null_token: bool = False) -> bool:
        """Authenticate the user (``pam_authenticate``): True on success,
        False for ``PAM_AUTH_ERR``, :exc:`~draxoft.auth.pam.PamError` for other failures.

        After a failure, the fail delay is awaited on the loop before this
        returns (see :doc:`/topics/asyncio`).
        """
        ok: bool = await self._operate("authenticate", silent=silent, disallow_null_token=disallow_null_token)
        return ok

    async def acct_mgmt(self, silent: bool = False, disallow_null_token: bool = False) -> None:
        """Check that the account may be used now (``pam_acct_mgmt``)."""
        await self._operate("acct_mgmt", silent=silent, disallow_null_token=disallow_null_token)

    async def chauthtok(self, silent: bool = False, change_expired_authtok: bool = False) -> None:
        """Change the user's authentication token (``pam_chauthtok``)."""
        await self._operate("chauthtok", silent=silent, change_expired_authtok=change_expired_authtok)

    async def establish_credentials(self, silent: bool = False) -> None:
        """Establish the user's credentials (``pam_setcred(PAM_ESTABLISH_CRED)``)."""
        await self._operate("establish_credentials", silent=silent)

    async def delete_credentials(self, silent: bool = False) -> None:
        """Delete the user's credentials (``pam_setcred(PAM_DELETE_CRED)``)."""
        await self._operate("delete_credentials", silent=silent)

    async def reinitialize_credentials(self, silent: bool = False) -> None:
        """Set the user's credentials anew (``pam_setcred(PAM_REINITIALIZE_CRED)``)."""
        await self._operate("reinitialize_credentials", silent=silent)

    async def refresh_credentials(self, silent: bool = False) -> None:
        """Extend the lifetime of the user's credentials (``pam_setcred(PAM_REFRESH_CRED)``)."""
        await self._operate("refresh_credentials", silent=silent)

    async def open_session(self, silent: bool = False) -> None:
        """Open a session for the authenticated user (``pam_open_session``)."""
        await self._operate("open_session", silent=silent)

    async def close_session(self, silent: bool = False) -> None:
        """Close the user's session (``pam_close_session``)."""
        await self._operate("close_session", silent=silent)

    # ------------------------------------------------------------------
    # The one-call helper's transaction: one job from pam_start to pam_end

    async def _transaction(self, work: Callable[[_SyncHandle], _T]) -> _T:
        def job() -> _T:
            with self._begin() as inner:
                return work(inner)

        try:
            return await self._run(job)
        finally:
            self._retired = True


async def authenticate(
    user: StrOrBytes,
    password: Union[str, bytes, bytearray],
    service: StrOrBytes = "login",
    *,
    confdir: Union[str, bytes, os.PathLike[str], None] = None,
    rhost: Optional[StrOrBytes] = None,
    tty: Optional[StrOrBytes] = None,
    ruser: Optional[StrOrBytes] = None,
    executor: Optional[concurrent.futures.Executor] = None,
    isolated: bool = False,
    timeout: Optional[float] = None,
) -> bool:
    """Check *user*'s *password* and that the account may log in now.

    The same check, arguments, answers and errors as
    :func:`~draxoft.auth.pam.authenticate` (``pam_authenticate`` then ``pam_acct_mgmt``;
    every refusal is False), with the whole transaction in one job of a
    worker thread. After a failure, the fail delay PAM chose is awaited on
    the event loop, so it holds no thread.

    :param user: the user to check.
    :param password: the password (``str``, ``bytes`` or ``bytearray``).
    :param service: the PAM service; give your program one of its own.
    :param confdir: a directory of service files to use instead of the
        system's policy.
    :param rhost: the client's IP address (not a host name).
    :param tty: the terminal the user is at, if any.
    :param ruser: the user on whose behalf the check is made, if another.
    :param executor: the executor whose thread runs the transaction; None
        for :func:`default_executor`.
    :param isolated: run the transaction in a worker process (see
        :doc:`/topics/reliability`); the answers still come from here.
    :param timeout: with *isolated*, the seconds each PAM call may take,
        the awaited fail delay not counted.
    :returns: True if both checks pass; False for every refusal.
    :raises PamError: when PAM or a module fails, and with
        ``PAM_NEW_AUTHTOK_REQD`` when the password must be changed.
    """
    # Checked here, in the caller's task, before any thread is involved.
    _simple._checked(user, password, service, confdir, rhost, tty, ruser)
    h = handle(
        service, user, _simple._answers(user, password), confdir=confdir, rhost=rhost, tty=tty, ruser=ruser,
        executor=executor, isolated=isolated, timeout=timeout,
    )
    return await h._transaction(_simple._verdict)
