"""pam.login_session(): a whole login, from the password to the closed session."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import threading
import types
from typing import Any, Callable, Optional, Sequence, Union

from draxoft.auth import _pamlow

from . import _spawn
from ._errors import PamError
from ._handle import handle
from ._text import StrOrBytes

__all__ = ["FORWARDED_SIGNALS", "login_session"]

PAM_NEW_AUTHTOK_REQD: int = _pamlow.PAM_NEW_AUTHTOK_REQD

#: Signals to the parent that are passed on to the program while it runs.
FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGHUP)

_Handler = Union[Callable[[int, Optional[types.FrameType]], Any], int, signal.Handlers, None]


class _SignalGuard:
    """While the session is open, in the main thread: SIGTERM and SIGHUP go
    to the program (once it runs) and are remembered; SIGINT is ignored, as
    login(1) does (a Ctrl-C at the terminal reaches the program itself).
    On leaving, the previous handlers come back, and the remembered signals
    are raised again so that they take their usual effect then.

    Python's handlers are reset to the default by ``exec``, so the program
    does not inherit them (an ignored SIGINT, set with ``SIG_IGN``, it
    would).
    """

    def __init__(self) -> None:
        self.child: Optional[subprocess.Popen[Any]] = None
        self.received: list[int] = []
        self._previous: dict[int, _Handler] = {}

    def _on_signal(self, signum: int, frame: Optional[types.FrameType]) -> None:
        if signum == signal.SIGINT:
            return
        if signum not in self.received:
            self.received.append(signum)
        child = self.child
        if child is not None and child.returncode is None:
            child.send_signal(signum)

    def attach(self, child: subprocess.Popen[Any]) -> None:
        """The program runs: pass it what came while it was starting."""
        self.child = child
        for signum in self.received:
            child.send_signal(signum)

    def __enter__(self) -> _SignalGuard:
        # signal.signal() works in the main thread only; elsewhere the
        # process keeps its dispositions, and the caller's main thread
        # decides what a signal does.
        if threading.current_thread() is threading.main_thread():
            for signum in (*FORWARDED_SIGNALS, signal.SIGINT):
                if signal.getsignal(signum) is None:
                    continue  # a handler set outside Python, which could not be put back
                self._previous[signum] = signal.signal(signum, self._on_signal)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        for signum in self.received:
            signal.raise_signal(signum)


def _wait(child: subprocess.Popen[Any]) -> int:
    """Wait for the program; if waiting fails (an exception from a signal
    handler of the caller's, say), end it first: the session must not be
    closed under a running program."""
    try:
        return child.wait()
    except BaseException:
        child.kill()
        child.wait()
        raise


def login_session(
    h: handle,
    args: Union[StrOrBytes, os.PathLike[str], Sequence[Union[StrOrBytes, os.PathLike[str]]]],
    *,
    silent: bool = False,
    disallow_null_token: bool = False,
    **kwargs: Any,
) -> int:
    """Log the handle's user in, run *args* in a session as them, and log out.

    The steps, in this order, on the one handle *h*:

    1. :meth:`handle.authenticate` (a refusal raises :exc:`PamError`
       with :data:`PAM_AUTH_ERR`);
    2. :meth:`handle.acct_mgmt`; when it asks for a new password
       (:data:`PAM_NEW_AUTHTOK_REQD`), :meth:`handle.chauthtok` with
       ``change_expired_authtok=True``;
    3. :meth:`handle.establish_credentials`;
    4. :meth:`handle.open_session`;
    5. :meth:`handle.spawn` of *args*, and a wait until it exits;
    6. :meth:`handle.close_session`;
    7. :meth:`handle.delete_credentials`.

    When a step fails, what the earlier steps opened is closed again (a
    session that opened is closed, credentials that were established are
    deleted) and the step's exception is raised; nothing else runs. The
    handle itself stays open: close it, or use it in a ``with`` block.

    Called from the main thread, the parent passes ``SIGTERM`` and
    ``SIGHUP`` on to the program while it runs, and ignores ``SIGINT``
    (the program gets a Ctrl-C from the terminal itself). Once the session
    is closed and the credentials deleted, the previous handlers are back
    and a ``SIGTERM`` or ``SIGHUP`` received meanwhile is raised again in
    the parent, to take its usual effect. If one arrived before the
    program could start, the program is not started, and (when the
    parent survives that signal) :exc:`InterruptedError` is raised. From
    another thread, signals are left alone.

    :param h: an open handle whose user is to log in, with the
        conversation that talks to them.
    :param args: the program and its arguments, as for :meth:`handle.spawn`.
    :param silent: pass ``PAM_SILENT`` to every step.
    :param disallow_null_token: refuse an empty password
        (:meth:`handle.authenticate`, :meth:`handle.acct_mgmt`).
    :param kwargs: the other arguments of :meth:`handle.spawn`, checked
        before the first step.
    :returns: the program's exit status, as ``subprocess.Popen.returncode``
        gives it (``-N`` for a program ended by signal *N*).
    :raises PamError: the first step that failed (or, after the program
        ran, a failure to close the session or delete the credentials).
    :raises InterruptedError: ``SIGTERM`` or ``SIGHUP`` came before the
        program started, and did not end the parent.
    :raises TypeError: *h* is not a handle, *silent* or
        *disallow_null_token* not a bool, or a refused argument of
        :meth:`handle.spawn`; nothing has run then.
    :raises TypeError, ValueError, KeyError, PermissionError, OSError: as
        :meth:`handle.spawn` raises them, the session closed again.
    """
    if not isinstance(h, handle):
        raise TypeError(f"login_session() needs a pam.handle, not {type(h).__name__}")
    for name, value in (("silent", silent), ("disallow_null_token", disallow_null_token)):
        if not isinstance(value, bool):
            raise TypeError(f"{name} must be True or False, not {type(value).__name__}")
    _spawn.check_options(kwargs)
    if not h.authenticate(silent=silent, disallow_null_token=disallow_null_token):
        raise PamError.from_code(h.status)
    try:
        h.acct_mgmt(silent=silent, disallow_null_token=disallow_null_token)
    except PamError as e:
        if e.errno != PAM_NEW_AUTHTOK_REQD:
            raise
        h.chauthtok(silent=silent, change_expired_authtok=True)

    with _SignalGuard() as guard:
        h.establish_credentials(silent=silent)
        try:
            h.open_session(silent=silent)
            try:
                if guard.received:
                    raise InterruptedError(
                        errno.EINTR,
                        f"signal {signal.Signals(guard.received[0]).name} arrived before the program started",
                    )
                child = _spawn.start(h, args, kwargs)
                guard.attach(child)
                return _wait(child)
            finally:
                h.close_session(silent=silent)
        finally:
            h.delete_credentials(silent=silent)
