"""The PAM handle: one transaction from pam_start to pam_end."""

from __future__ import annotations

import contextlib
import errno
import os
import pwd
import subprocess
import threading
import weakref
from typing import Any, Callable, Iterator, Optional, Sequence, Union

from draxoft.auth import _pamlow

from . import _check, _fork, _spawn
from ._constants import extensions, implementation
from ._conversation import PAM_BINARY_PROMPT, ConvCallback, DelayCallback, Response, default_conversation
from ._environment import Environment
from ._errors import PamError, check
from ._text import StrOrBytes, decode

__all__ = ["handle"]

# Names every PAM defines, read from this build's headers.
PAM_SUCCESS: int = _pamlow.PAM_SUCCESS
PAM_AUTH_ERR: int = _pamlow.PAM_AUTH_ERR
PAM_SYSTEM_ERR: int = _pamlow.PAM_SYSTEM_ERR
PAM_BAD_ITEM: int = _pamlow.PAM_BAD_ITEM
PAM_CONV_ERR: int = _pamlow.PAM_CONV_ERR
PAM_SILENT: int = _pamlow.PAM_SILENT
PAM_DISALLOW_NULL_AUTHTOK: int = _pamlow.PAM_DISALLOW_NULL_AUTHTOK
PAM_CHANGE_EXPIRED_AUTHTOK: int = _pamlow.PAM_CHANGE_EXPIRED_AUTHTOK
PAM_ESTABLISH_CRED: int = _pamlow.PAM_ESTABLISH_CRED
PAM_DELETE_CRED: int = _pamlow.PAM_DELETE_CRED
PAM_REINITIALIZE_CRED: int = _pamlow.PAM_REINITIALIZE_CRED
PAM_REFRESH_CRED: int = _pamlow.PAM_REFRESH_CRED
PAM_CONV: int = _pamlow.PAM_CONV

# Marks "user not given": the login name of the real uid is used then.
_DEFAULT_USER: Any = object()

LowHandle = Any  # the capsule that _pamlow hands out

# What handle.call() runs: the names of the PAM functions without "pam_".
_OPERATION_NAMES = ("authenticate", "setcred", "acct_mgmt", "open_session", "close_session", "chauthtok")

# The low layer's functions, looked up once: a transaction calls several.
_OPERATIONS: dict[str, Callable[[Any, int], int]] = {
    name: getattr(_pamlow, "pam_" + name) for name in _OPERATION_NAMES
}
_pam_authenticate = _OPERATIONS["authenticate"]
_pam_acct_mgmt = _OPERATIONS["acct_mgmt"]
_pam_start = _pamlow.pam_start
_pam_start_confdir = getattr(_pamlow, "pam_start_confdir", None)
_pam_getenvlist = _pamlow.pam_getenvlist
_pam_putenv = _pamlow.pam_putenv
_take_error = _pamlow.pamlow_take_error
# Linux-PAM only: the generated stub of an OpenPAM build does not declare it.
_pam_fail_delay: Optional[Callable[[Any, int], int]] = getattr(_pamlow, "pam_fail_delay", None)
_get_ident = threading.get_ident


# What the closed-handle guard of the low layer says too: one message for
# the mistake, whichever layer meets it.
_CLOSED = "the PAM handle is closed"


def _login_name() -> Optional[str]:
    """The login name of the real uid, or None where it has no passwd entry."""
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return None


# Every open handle, so that a forked child can take their locks back.
_handles: weakref.WeakSet[handle] = weakref.WeakSet()


def _reset_locks_after_fork() -> None:
    """In a child of fork(): the thread that held a handle's lock, or ran
    one of its callbacks, does not exist here; left as they are, the first
    use of the handle would wait for it forever. A handle that was in a PAM
    call at fork time stays refused by the low layer (RuntimeError)."""
    for h in list(_handles):
        h._lock = threading.RLock()
        h._busy = None
        h._callback_threads = {}


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_locks_after_fork)


def _service_name(service: _check.Text) -> str:
    return os.fsdecode(bytes(service) if isinstance(service, bytearray) else service)


def _service_files(service: _check.Text, confdir: Optional[str]) -> list[str]:
    """The files in which PAM may look for *service*'s stack, in its order;
    empty where that cannot be told (a policy in pam.conf, which holds
    several services). /usr/lib/pam.d is the vendor directory of the
    Linux-PAM builds that have one."""
    name = _service_name(service)
    if implementation == "Linux-PAM":
        name = name.lower()  # Linux-PAM lowers the service name at pam_start
        if name.startswith("/"):  # and takes an absolute path as the file
            return [name]
    if confdir is not None:
        places = [confdir]
    elif implementation == "Linux-PAM":
        places = [p for p in ("/etc/pam.d", "/usr/lib/pam.d") if os.path.isdir(p)]
        if not places:
            return []  # /etc/pam.conf, or nothing at all
    else:
        return []
    return [os.path.join(place, n) for n in (name, "other") for place in places]


def _missing_service(service: _check.Text, confdir: Optional[str]) -> Optional[FileNotFoundError]:
    """Why pam_start failed, when the reason is that no file holds the
    service's stack (nor that of "other"); PAM itself says only
    PAM_ABORT or PAM_SYSTEM_ERR then."""
    files = _service_files(service, confdir)
    if not files or any(os.path.exists(f) for f in files):
        return None
    return FileNotFoundError(
        errno.ENOENT, f"PAM service {_service_name(service)!r} not found: PAM looked for {', '.join(files)}"
    )


def _start_failed(service: _check.Text, confdir: Optional[str], rc: int) -> None:
    """Raise what a failed pam_start means: a missing confdir or service
    file as the OSError it is, else PamError."""
    problem = _check.confdir_problem(confdir) if confdir is not None else None
    if problem is not None:
        raise problem
    missing = _missing_service(service, confdir)
    if missing is not None:
        raise missing
    check(rc)


def _flag(value: object, name: str, bit: int) -> int:
    """The PAM flag *bit* if the keyword *name* is True, 0 if False."""
    return bit if _check.flag(value, name) else 0


class _Relay:
    """What the low layer calls: it reaches the handle through a weak
    reference, so the capsule (which the garbage collector cannot see into)
    never keeps its handle alive."""

    __slots__ = ("_ref",)

    def __init__(self, owner: handle) -> None:
        self._ref = weakref.ref(owner)

    def _owner(self) -> handle:
        owner = self._ref()
        if owner is None:
            raise ReferenceError("the PAM handle is gone")
        return owner


class _ConvRelay(_Relay):
    __slots__ = ()

    def __call__(self, style: int, message: bytes) -> Response:
        owner = self._ref()
        if owner is None:
            raise ReferenceError("the PAM handle is gone")
        return owner._converse(style, message)


class _DelayRelay(_Relay):
    __slots__ = ()

    def __call__(self, rc: int, usec: int) -> None:
        self._owner()._fail_delayed(rc, usec)


class _Item:
    """A string PAM item as an attribute, read and written through PAM."""

    def __init__(self, constant_name: str, doc: str) -> None:
        self.code: Optional[int] = getattr(_pamlow, constant_name, None)
        self.__doc__ = doc

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Optional[handle], objtype: Optional[type] = None) -> Any:
        if obj is None:
            return self
        return decode(obj._get_item(self.code))

    def __set__(self, obj: handle, value: Optional[StrOrBytes]) -> None:
        # Every transaction has a service; the other items may be unset.
        if self.name == "service":
            _check.service(value)
        else:
            _check.text(value, self.name, optional=True)
        obj._set_item(self.code, value)


class handle:
    """One PAM transaction, from ``pam_start`` to ``pam_end``.

    The defaults suit a program that authenticates the user running it at
    a terminal: service ``"login"``, the login name of the real uid, and a
    conversation that prompts on the controlling terminal.

    :param service: the PAM service whose stack is used.
    :param user: the user to authenticate; None lets PAM ask for it.
    :param conv: ``conv(style, message, data)``, called once per message.
    :param delay: ``delay(rc, usec, data)``, called instead of PAM's own
        sleep after a failure; None leaves fail delays to PAM.
    :param data: any object, passed to the callbacks.
    :param confdir: a directory of service files to use instead of the
        system's policy (needs ``"confdir"`` in :data:`extensions`).
    :param tty: the initial :attr:`tty` item.
    :param rhost: the initial :attr:`rhost` item: the client's IP address.
    :param ruser: the initial :attr:`ruser` item.
    :param user_prompt: the initial :attr:`user_prompt` item.
    :param xdisplay: the initial :attr:`xdisplay` item (Linux-PAM).
    :param isolated: run the transaction in a worker process, so that a
        module that crashes or hangs costs this transaction only (see
        :doc:`/topics/reliability`); the callbacks still run here.
    :param timeout: with *isolated*, the seconds each PAM call (start,
        every operation, item and environment access, close) may take,
        not counting the time the callbacks take; when they run out the
        worker is killed, the call raises :class:`TimeoutError` and the
        handle is closed. None (the default): no limit.
    :raises TypeError: a parameter of the wrong type (None for *service*).
    :raises ValueError: a NUL character in a string.
    :raises FileNotFoundError: *confdir* does not exist, or no file holds
        the stack of *service* (nor that of ``other``); the message names
        the files PAM looked for.
    :raises NotImplementedError: *confdir* given where PAM lacks
        ``pam_start_confdir``.
    :raises ValueError: *timeout* not positive, or given without *isolated*.
    :raises PamError: ``pam_start`` failed for another reason;
        :class:`~draxoft.auth.pam.WorkerDied` when the worker of an
        isolated handle dies.
    """

    #: The low layer's functions that take the handle; an isolated
    #: handle's go to its worker (draxoft/auth/pam/isolation.py).
    _api: Any = _pamlow
    _timeout: Optional[float] = None

    #: Any object, passed to :attr:`conv` and :attr:`delay` as their last
    #: argument; set by the constructor's *data*, and freely afterwards.
    data: Any

    service = _Item(
        "PAM_SERVICE",
        "The service name. On Linux-PAM it cannot change once an operation has run "
        "(PamError PAM_BAD_ITEM): the modules of the first service keep data that "
        "pam_end hands back to them. On OpenPAM it cannot change at all after "
        "pam_start (PamError PAM_BAD_ITEM).",
    )
    user = _Item("PAM_USER", "The user being authenticated (the target user).")
    user_prompt = _Item("PAM_USER_PROMPT", "The prompt modules use when they ask for a user name.")
    tty = _Item("PAM_TTY", "The terminal name, or an X display like ':0'.")
    rhost = _Item(
        "PAM_RHOST",
        "The remote host the request comes from: give its IP address, not a host name "
        "(which the audit log would resolve with DNS, during the PAM call).",
    )
    ruser = _Item("PAM_RUSER", "The user making the request.")
    xdisplay = _Item("PAM_XDISPLAY", "The X display name (Linux-PAM).")
    authtok_type = _Item("PAM_AUTHTOK_TYPE", "The word modules put in 'New ... password:' prompts.")
    authtok = _Item(
        "PAM_AUTHTOK",
        "The authentication token (Linux-PAM keeps it from applications; OpenPAM hands it out).",
    )
    oldauthtok = _Item("PAM_OLDAUTHTOK", "The old authentication token (likewise).")
    host = _Item("PAM_HOST", "The name of the host the application runs on (OpenPAM).")
    authtok_prompt = _Item("PAM_AUTHTOK_PROMPT", "The prompt modules use when they ask for a password (OpenPAM).")
    oldauthtok_prompt = _Item(
        "PAM_OLDAUTHTOK_PROMPT", "The prompt modules use when they ask for the old password (OpenPAM)."
    )

    def __init__(
        self,
        service: StrOrBytes = "login",
        user: Optional[StrOrBytes] = _DEFAULT_USER,
        conv: Optional[ConvCallback] = default_conversation,
        delay: Optional[DelayCallback] = None,
        data: Any = None,
        *,
        confdir: Union[str, bytes, os.PathLike[str], None] = None,
        tty: Optional[StrOrBytes] = None,
        rhost: Optional[StrOrBytes] = None,
        ruser: Optional[StrOrBytes] = None,
        user_prompt: Optional[StrOrBytes] = None,
        xdisplay: Optional[StrOrBytes] = None,
        isolated: bool = False,
        timeout: Optional[float] = None,
    ) -> None:
        _check.service(service)
        if user is not _DEFAULT_USER:
            _check.text(user, "user", optional=True)
        _check.callback(conv, "conv")
        _check.callback(delay, "delay")
        path = _check.confdir(confdir)
        items = {
            name: _check.text(value, name, optional=True)
            for name, value in (
                ("tty", tty),
                ("rhost", rhost),
                ("ruser", ruser),
                ("user_prompt", user_prompt),
                ("xdisplay", xdisplay),
            )
        }
        self._timeout = _check.timeout(timeout, isolated)
        self._start(service, user, conv, delay, data, path, items)

    def __new__(cls, *args: Any, isolated: bool = False, **kwargs: Any) -> handle:
        # isolated=True gives the handle whose calls go to a worker process.
        if _check.boolean(isolated, "isolated") and cls is handle:
            cls = _isolated_class()
        return super().__new__(cls)

    @classmethod
    def _checked_by_caller(
        cls,
        service: StrOrBytes,
        user: Optional[StrOrBytes],
        conv: Optional[ConvCallback],
        confdir: Optional[str] = None,
        items: Optional[dict[str, Optional[_check.Text]]] = None,
        isolated: bool = False,
        timeout: Optional[float] = None,
    ) -> handle:
        """A handle for the library's own entry points (authenticate,
        resident), which have checked their arguments themselves."""
        self = object.__new__(_isolated_class() if isolated else cls)
        self._timeout = timeout
        self._start(service, user, conv, None, None, confdir, items or {})
        return self

    def _start(
        self,
        service: StrOrBytes,
        user: Optional[StrOrBytes],
        conv: Optional[ConvCallback],
        delay: Optional[DelayCallback],
        data: Any,
        confdir: Optional[str],
        items: dict[str, Optional[_check.Text]],
    ) -> None:
        """Start the transaction with arguments already checked."""
        self._low: Optional[LowHandle] = None
        self._lock = threading.RLock()
        self._busy: Optional[int] = None  # thread id inside a PAM call
        # Threads running one of this handle's callbacks, with their depth.
        # A module may call the conversation from a thread of its own, while
        # the operation's thread holds the lock and waits for it.
        self._callback_threads: dict[int, int] = {}
        self._elevated = False
        self._status = PAM_SUCCESS
        self.data = data
        self._conv = conv
        self._delay: Optional[DelayCallback] = None
        self._conv_relay = _ConvRelay(self)
        self._delay_relay: Optional[_DelayRelay] = None  # made when a delay is set
        if user is _DEFAULT_USER:
            user = _login_name()
        low_conv = self._conv_relay if conv is not None else None
        rc, low = self._begin(service, user, low_conv, confdir)
        if rc != PAM_SUCCESS:
            _start_failed(service, confdir, rc)
        self._low = low
        _handles.add(self)
        if items:
            for name, value in items.items():
                if value is not None:
                    self._set_item(handle.__dict__[name].code, value)
        if delay is not None:
            self.delay = delay

    def _begin(self, service: Any, user: Any, conv: Any, confdir: Optional[str]) -> tuple[int, LowHandle]:
        """pam_start: return its code and the low handle."""
        if confdir is None:
            return _pam_start(service, user, conv)
        assert _pam_start_confdir is not None  # _check.confdir saw to it
        started: tuple[int, LowHandle] = _pam_start_confdir(service, user, conv, confdir)
        return started

    # ------------------------------------------------------------------
    # Life cycle

    def __enter__(self) -> handle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has ended the transaction."""
        return self._low is None

    def close(self) -> None:
        """End the transaction (``pam_end`` with the last status).

        Closing twice does nothing. A handle that is garbage collected is
        ended then, so closing is optional.
        """
        self._end("close", 0)

    def _end(self, what: str, extra_status: int) -> None:
        """pam_end with the last status and *extra_status* bits, once;
        close() and release() (_fork.py) differ only in those bits."""
        self._refuse_reentry(what)
        with self._lock:
            low = self._low
            if low is None:
                return
            self._low = None
            rc = self._api.pam_end(low, self._status | extra_status)
            exc = self._api.pamlow_take_error(low)
        if exc is not None:
            raise exc
        check(rc)

    def __repr__(self) -> str:
        state = "closed" if self._low is None else "open"
        return f"<{__name__.rsplit('.', 1)[0]}.handle {state} at {id(self):#x}>"

    # ------------------------------------------------------------------
    # Serialization: one PAM call at a time per handle

    def _refuse_reentry(self, what: str) -> None:
        me = _get_ident()
        if self._busy == me or me in self._callback_threads:
            raise RuntimeError(f"{what}() called from inside a callback of the same PAM handle")

    def _open(self) -> LowHandle:
        low = self._low
        if low is None:
            raise ValueError(_CLOSED)
        return low

    @contextlib.contextmanager
    def _access(self) -> Iterator[LowHandle]:
        """Hold the handle for an item or environment access. The lock is
        reentrant, so callbacks may do this during an operation. A callback
        that a module runs in another thread does not take it: the operation
        that holds it is waiting for that callback."""
        if threading.get_ident() in self._callback_threads:
            yield self._open()
            return
        with self._lock:
            yield self._open()

    @contextlib.contextmanager
    def _in_callback(self) -> Iterator[None]:
        me = threading.get_ident()
        self._callback_threads[me] = self._callback_threads.get(me, 0) + 1
        try:
            yield
        finally:
            depth = self._callback_threads.pop(me, 1) - 1
            if depth > 0:
                self._callback_threads[me] = depth

    # ------------------------------------------------------------------
    # Callbacks

    @property
    def conv(self) -> Optional[ConvCallback]:
        """The conversation callback ``conv(style, message, data)``.

        It is called once per PAM message with the style (``PAM_PROMPT_ECHO_OFF``
        and so on), the text (str, or bytes for a binary prompt) and
        :attr:`data`, and returns the response: str, bytes, bytearray or None.
        What it raises comes out of the PAM operation unchanged.
        """
        self._open()
        return self._conv

    @conv.setter
    def conv(self, value: Optional[ConvCallback]) -> None:
        _check.callback(value, "conv")
        with self._access() as low:
            check(self._api.pam_set_item(low, PAM_CONV, self._conv_relay if value is not None else None))
            self._conv = value

    @property
    def delay(self) -> Optional[DelayCallback]:
        """The fail-delay callback ``delay(rc, usec, data)``, or None.

        When set, PAM calls it after a failure instead of sleeping itself,
        with the return code, the delay in microseconds and :attr:`data`.
        """
        self._open()
        return self._delay

    @delay.setter
    def delay(self, value: Optional[DelayCallback]) -> None:
        _check.callback(value, "delay")
        code = getattr(_pamlow, "PAM_FAIL_DELAY", None)
        with self._access() as low:
            if code is None:
                if value is None:
                    self._delay = None
                    return
                raise PamError.from_code(PAM_BAD_ITEM)
            relay = None
            if value is not None:
                if self._delay_relay is None:
                    self._delay_relay = _DelayRelay(self)
                relay = self._delay_relay
            check(self._api.pam_set_item(low, code, relay))
            self._delay = value

    def _converse(self, style: int, message: bytes) -> Response:
        conv = self._conv
        if conv is None:  # cleared while PAM was already talking
            raise PamError.from_code(PAM_CONV_ERR)
        text: Any = message if style == PAM_BINARY_PROMPT else decode(message)
        # What _in_callback() does, without a generator per message.
        threads = self._callback_threads
        me = _get_ident()
        threads[me] = threads.get(me, 0) + 1
        try:
            return conv(style, text, self.data)
        finally:
            depth = threads.pop(me, 1) - 1
            if depth > 0:
                threads[me] = depth

    def _fail_delayed(self, rc: int, usec: int) -> None:
        delay = self._delay
        if delay is not None:
            with self._in_callback():
                delay(rc, usec, self.data)

    # ------------------------------------------------------------------
    # Items

    def _get_item(self, code: Optional[int]) -> Any:
        with self._access() as low:
            if code is None:
                raise PamError.from_code(PAM_BAD_ITEM)
            rc, value = self._api.pam_get_item(low, code)
        check(rc)
        return value

    def _set_item(self, code: Optional[int], value: Any) -> None:
        with self._access() as low:
            if code is None:
                raise PamError.from_code(PAM_BAD_ITEM)
            rc = self._api.pam_set_item(low, code, value)
        check(rc)

    @property
    def xauthdata(self) -> Optional[tuple[str, bytes]]:
        """X authentication data for the display: a ``(name, data)`` pair, or None."""
        value = self._get_item(getattr(_pamlow, "PAM_XAUTHDATA", None))
        if value is None:
            return None
        name, data = value
        return decode(name) or "", data

    @xauthdata.setter
    def xauthdata(self, value: Optional[tuple[StrOrBytes, bytes]]) -> None:
        if value is not None:
            if not isinstance(value, tuple) or len(value) != 2:
                raise TypeError("xauthdata must be a (name, data) pair or None")
            name, data = value
            if not isinstance(name, (str, bytes)) or not isinstance(data, (bytes, bytearray)):
                raise TypeError("xauthdata must be a (str, bytes) pair")
            _check.text(name, "the name in xauthdata")
        self._set_item(getattr(_pamlow, "PAM_XAUTHDATA", None), value)

    # ------------------------------------------------------------------
    # The environment

    @property
    def environment(self) -> Environment:
        """The PAM environment, as a live mutable mapping of str to str.

        It stays usable after the handle object is dropped (it keeps the
        handle alive); after :meth:`close` its methods raise ValueError.
        """
        self._open()
        return Environment(self)

    @property
    def elevated(self) -> bool:
        """Whether the environment survives :meth:`authenticate`.

        False by default: after authenticate() returns or raises, the PAM
        environment is cleared, so that secrets a module left there do not
        reach unprivileged code. Only a process with effective uid 0 may
        set it to True (else OSError with errno EACCES).
        """
        return self._elevated

    @elevated.setter
    def elevated(self, value: bool) -> None:
        _check.boolean(value, "elevated")
        if value and os.geteuid() != 0:
            raise OSError(errno.EACCES, os.strerror(errno.EACCES))
        self._elevated = value

    def _scrub(self, low: LowHandle) -> None:
        """Clear the PAM environment (the lock is held)."""
        entries = _pam_getenvlist(low)
        if not entries:  # the common case: nothing to clear
            return
        delete = "unsetenv" in extensions
        for entry in entries:
            name = entry.split(b"=", 1)[0]
            check(_pam_putenv(low, name if delete else name + b"="))

    # ------------------------------------------------------------------
    # Operations

    @property
    def status(self) -> int:
        """The return code of the last operation: ``PAM_SUCCESS`` before the first.

        :meth:`close` gives it to ``pam_end``, which tells the modules how
        the transaction went. It stays readable after :meth:`close`.
        """
        return self._status

    def call(self, operation: str, flags: int = 0) -> int:
        """Run one PAM operation with the flags as given; return PAM's code.

        For programs that pass PAM flags through, as a tester does: *flags*
        reach PAM unchanged, where the other operation methods only offer
        keywords. A PAM failure is not raised but returned; compare the
        result with ``PAM_SUCCESS`` and the other ``PAM_*`` codes (see
        :meth:`PamError.from_code` for its text). Otherwise it behaves as
        the other methods, which run through it: it re-raises what a
        callback raised, clears the environment after ``"authenticate"``
        unless :attr:`elevated`, and sets :attr:`status`.

        :param operation: the PAM function without ``pam_``:
            ``"authenticate"``, ``"setcred"``, ``"acct_mgmt"``,
            ``"open_session"``, ``"close_session"`` or ``"chauthtok"``.
        :param flags: ``PAM_*`` flags combined with ``|``, or any value
            of a C ``int``.
        :returns: the PAM return code.
        :raises ValueError: an unknown operation, or a closed handle.
        :raises TypeError: *operation* not a str, *flags* not an int
            (bool included).
        :raises ValueError: *flags* outside a C ``int``.
        :raises RuntimeError: called from inside a callback of this handle.
        """
        if not isinstance(operation, str):
            raise TypeError(f"operation must be str, not {type(operation).__name__}")
        if operation not in _OPERATION_NAMES:
            raise ValueError(f"unknown PAM operation {operation!r} (one of: {', '.join(_OPERATION_NAMES)})")
        # bool is an int, but True as flags is surely a mistake for a keyword.
        _check.integer(flags, "flags", _check.INT_MIN, _check.INT_MAX)
        return self._run(_OPERATIONS[operation], operation, flags)

    def _run(self, function: Callable[[LowHandle, int], int], operation: str, flags: int) -> int:
        """call() once its arguments are known to be right: the operation
        methods come here directly with flags they built themselves."""
        self._refuse_reentry(operation)
        with self._lock:
            low = self._low
            if low is None:
                raise ValueError(_CLOSED)
            self._busy = _get_ident()
            try:
                rc = function(low, flags)
            finally:
                self._busy = None
                exc = _take_error(low)
                # Also when the call or a callback raised: the secrets a
                # module left must not outlive a failed authentication.
                if operation == "authenticate" and not self._elevated:
                    self._scrub(low)
            self._status = rc
        if exc is not None:
            raise exc
        return rc

    def authenticate(self, silent: bool = False, disallow_null_token: bool = False) -> bool:
        """Authenticate the user (``pam_authenticate``).

        Like every operation method, it takes its flags as True or False,
        by position or keyword; anything else, a ``PAM_*`` flag value
        included, is a TypeError (:meth:`call` takes flag values).

        :param silent: ``PAM_SILENT``: modules should send no messages.
        :param disallow_null_token: ``PAM_DISALLOW_NULL_AUTHTOK``: an empty
            password is refused.
        :returns: True on success, False when PAM says ``PAM_AUTH_ERR``.
        :raises TypeError: a flag that is not True or False.
        :raises PamError: for every other failure (``PAM_USER_UNKNOWN``,
            ``PAM_MAXTRIES``, ...).

        Afterwards the PAM environment is cleared unless :attr:`elevated`.
        """
        flags = _flag(silent, "silent", PAM_SILENT) | _flag(
            disallow_null_token, "disallow_null_token", PAM_DISALLOW_NULL_AUTHTOK
        )
        rc = self._run(_pam_authenticate, "authenticate", flags)
        if rc == PAM_SUCCESS:
            return True
        if rc == PAM_AUTH_ERR:
            return False
        raise PamError.from_code(rc)

    def acct_mgmt(self, silent: bool = False, disallow_null_token: bool = False) -> None:
        """Check that the account may be used now (``pam_acct_mgmt``).

        :raises PamError: e.g. ``PAM_ACCT_EXPIRED``, ``PAM_NEW_AUTHTOK_REQD``.
        """
        flags = _flag(silent, "silent", PAM_SILENT) | _flag(
            disallow_null_token, "disallow_null_token", PAM_DISALLOW_NULL_AUTHTOK
        )
        check(self._run(_pam_acct_mgmt, "acct_mgmt", flags))

    def chauthtok(self, silent: bool = False, change_expired_authtok: bool = False) -> None:
        """Change the user's authentication token (``pam_chauthtok``).

        :param change_expired_authtok: change it only if it has expired.
        """
        flags = _flag(silent, "silent", PAM_SILENT) | _flag(
            change_expired_authtok, "change_expired_authtok", PAM_CHANGE_EXPIRED_AUTHTOK
        )
        check(self._run(_OPERATIONS["chauthtok"], "chauthtok", flags))

    def _setcred(self, what: int, silent: bool) -> None:
        check(self._run(_OPERATIONS["setcred"], "setcred", what | _flag(silent, "silent", PAM_SILENT)))

    def establish_credentials(self, silent: bool = False) -> None:
        """Establish the user's credentials (``pam_setcred(PAM_ESTABLISH_CRED)``)."""
        self._setcred(PAM_ESTABLISH_CRED, silent)

    def delete_credentials(self, silent: bool = False) -> None:
        """Delete the user's credentials (``pam_setcred(PAM_DELETE_CRED)``)."""
        self._setcred(PAM_DELETE_CRED, silent)

    def reinitialize_credentials(self, silent: bool = False) -> None:
        """Set the user's credentials anew (``pam_setcred(PAM_REINITIALIZE_CRED)``)."""
        self._setcred(PAM_REINITIALIZE_CRED, silent)

    def refresh_credentials(self, silent: bool = False) -> None:
        """Extend the lifetime of the user's credentials (``pam_setcred(PAM_REFRESH_CRED)``)."""
        self._setcred(PAM_REFRESH_CRED, silent)

    def open_session(self, silent: bool = False) -> None:
        """Open a session for the authenticated user (``pam_open_session``)."""
        check(self._run(_OPERATIONS["open_session"], "open_session", _flag(silent, "silent", PAM_SILENT)))

    def close_session(self, silent: bool = False) -> None:
        """Close the user's session (``pam_close_session``)."""
        check(self._run(_OPERATIONS["close_session"], "close_session", _flag(silent, "silent", PAM_SILENT)))

    # ------------------------------------------------------------------
    # The user's programs (draxoft/auth/pam/_spawn.py, _fork.py)

    def spawn(
        self,
        args: Union[StrOrBytes, os.PathLike[str], Sequence[Union[StrOrBytes, os.PathLike[str]]]],
        **kwargs: Any,
    ) -> subprocess.Popen[Any]:
        """Start *args* as the user of the session; return its ``subprocess.Popen``.

        The program runs as the account that :attr:`user` names now (a
        module may have changed it since the handle started), looked up
        in the passwd database: its supplementary groups (those
        ``initgroups`` would set, unless *extra_groups* is given), group
        and uid. Its environment is
        :attr:`environment` over ``HOME``, ``USER``, ``LOGNAME``,
        ``SHELL`` and a default ``PATH`` taken from the account; its
        working directory is the home directory, or ``/`` when that does
        not exist. The handle stays in this process, which closes the
        session once the program has exited (see :func:`login_session`
        for the whole sequence in one call).

        The switch to the user is made by ``subprocess.Popen``
        between ``fork`` and ``exec`` (``user=``, ``group=``,
        ``extra_groups=``), with no Python code in the child, so a
        threaded parent is safe.

        :param args: the program and its arguments, as for
            ``subprocess.Popen``.
        :param kwargs: other arguments of ``subprocess.Popen``
            (``stdin``, ``stdout``, ``pass_fds``, ``start_new_session``,
            ...). ``cwd`` replaces the home directory; ``env`` adds
            variables to the defaults, under the PAM environment;
            ``extra_groups`` replaces the account's supplementary groups
            (``os.getgroups()`` after a module such as ``pam_group`` gave
            this process more).
        :raises TypeError: *user*, *group* or *preexec_fn* given: spawn
            sets the first two and refuses the last.
        :raises ValueError: :attr:`user` is not set, or the handle is closed.
        :raises KeyError: the user has no passwd entry.
        :raises PermissionError: this process may not become the user
            (only root, or a process with ``CAP_SETUID`` and
            ``CAP_SETGID``, may; anyone may start a program as themselves).
            Nothing has started then.
        :raises OSError: as ``subprocess.Popen`` raises it (no such
            program, a directory that cannot be entered).
        """
        return _spawn.spawn(self, args, **kwargs)

    def release(self) -> None:
        """In a child of ``fork()`` that will not ``exec``: end this process's
        copy of the transaction, leaving the session to the parent.

        It calls ``pam_end`` with :data:`PAM_DATA_SILENT` added to the
        status, which tells the modules that only a copy of the handle
        goes away. After it the handle is closed, in this process only.
        Releasing a closed handle does nothing.

        :raises NotImplementedError: this PAM has no ``PAM_DATA_SILENT``
            (OpenPAM): leave the handle alone in the child and end the
            child with ``os._exit()``.
        :raises RuntimeError: called from inside a callback of this handle.
        """
        _fork.release(self)

    if "fail_delay" in extensions:

        def fail_delay(self, usec: int) -> None:
            """Ask for a delay of at least *usec* microseconds after a failure.

            PAM keeps the longest delay asked for by the application and
            the modules, and after a failed authentication waits a random
            time around it (or calls the :attr:`delay` callback instead).
            Only defined where ``"fail_delay"`` is in :data:`extensions`.

            :raises TypeError: *usec* not an int.
            :raises ValueError: *usec* outside 0 to 4294967295 (a C
                ``unsigned int``).
            """
            _check.integer(usec, "usec", 0, _check.UINT_MAX)
            assert _pam_fail_delay is not None  # "fail_delay" in extensions
            with self._access() as low:
                rc = self._api.pam_fail_delay(low, usec)
            check(rc)


def _isolated_class() -> type[handle]:
    """The handle class of isolated transactions (imported when first
    needed: it subclasses this module's)."""
    from .isolation import _IsolatedHandle

    return _IsolatedHandle
