"""The worker process of isolated transactions (``isolated=True``).

Started by the application (draxoft/auth/pam/isolation.py) with the same
interpreter, it owns the PAM handles: the modules are loaded here and only
here, so a module that crashes or hangs takes this process down, not the
application. It runs one transaction at a time, for as many transactions
as the application gives it, and obeys the requests of _wire messages on
the socket it was given; the conversation and fail-delay callbacks go back
over the same socket to the application, which runs its own callables.

This is not a program for people: it talks only to the process that
started it, and exits when that one hangs up.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
from typing import Any, Optional

from draxoft.auth import _pamlow

from . import _wire
from ._constants import extensions

# The calls the application may make on the open handle, by name. The
# handle itself never crosses: the worker has at most one.
_CALLS = frozenset({
    "pam_authenticate", "pam_setcred", "pam_acct_mgmt", "pam_open_session", "pam_close_session",
    "pam_chauthtok", "pam_get_item", "pam_set_item", "pam_getenv", "pam_putenv", "pam_getenvlist",
    "pam_fail_delay",
})
_CALLBACK_ITEMS = {getattr(_pamlow, name) for name in ("PAM_CONV", "PAM_FAIL_DELAY") if hasattr(_pamlow, name)}


class _Refused(Exception):
    """The application answered a callback with an error (it keeps the
    exception itself); PAM gets PAM_CONV_ERR."""


class Worker:
    """One worker's state: the socket, the open transaction, the residents."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.low: Any = None
        # Callbacks may come from a thread a module started: one exchange
        # with the application at a time.
        self.talk = threading.Lock()
        # Answers handed to PAM during the current request: wiped after it.
        self.secrets: list[bytearray] = []
        self.residents: dict[tuple[Any, Any], Any] = {}

    # -- callbacks, forwarded to the application ------------------------

    def _ask(self, *message: Any) -> list[Any]:
        with self.talk:
            _wire.send(self.sock, *message)
            reply = _wire.recv(self.sock)
        if reply[0] == "refuse":
            raise _Refused()
        return reply

    def conv(self, style: int, message: bytes) -> Any:
        reply = self._ask("conv", style, message)
        answer = reply[1] if len(reply) > 1 else None
        if isinstance(answer, bytearray):
            self.secrets.append(answer)
        return answer

    def delay(self, rc: int, usec: int) -> None:
        self._ask("delay", rc, usec)

    # -- requests -------------------------------------------------------

    def _error(self) -> Optional[list[Any]]:
        """What went wrong in this process during the last PAM call, other
        than a refusal the application already knows of."""
        exc = _pamlow.pamlow_take_error(self.low) if self.low is not None else None
        if exc is None or isinstance(exc, _Refused):
            return None
        return [type(exc).__name__, str(exc)]

    def _keep(self, wanted: list[Any]) -> None:
        """Hold handles (with their modules) for the services the
        application keeps resident, and only those."""
        keys = {(service, confdir) for service, confdir in wanted}
        for key in list(self.residents):
            if key not in keys:
                _pamlow.pam_end(self.residents.pop(key), _pamlow.PAM_SUCCESS)
        for service, confdir in keys - set(self.residents):
            if confdir is None:
                rc, low = _pamlow.pam_start(service, None, None)
            else:
                rc, low = _pamlow.pam_start_confdir(service, None, None, confdir)
            if rc == _pamlow.PAM_SUCCESS:
                self.residents[(service, confdir)] = low

    def start(self, service: Any, user: Any, with_conv: bool, confdir: Any, keep: list[Any]) -> list[Any]:
        self._keep(keep)
        conv = self.conv if with_conv else None
        if confdir is None:
            rc, low = _pamlow.pam_start(service, user, conv)
        else:
            rc, low = _pamlow.pam_start_confdir(service, user, conv, confdir)
        self.low = low
        return ["done", rc, self._error()]

    def operate(self, name: str, flags: int, scrub: bool) -> list[Any]:
        rc = getattr(_pamlow, "pam_" + name)(self.low, flags)
        error = self._error()
        if scrub:
            _scrub(self.low)
        return ["done", rc, error]

    def authenticate(
        self, service: Any, user: Any, password: bytearray, confdir: Any, items: list[Any], keep: list[Any]
    ) -> list[Any]:
        """What pam.authenticate(isolated=True) asks: the whole transaction
        in one request, PAM's prompts answered here as authenticate()
        answers them (the password to hidden prompts, the user name to
        visible ones), so that it costs one exchange with the application.
        Returns the codes of pam_start, the failed pam_set_item if any,
        pam_authenticate, pam_acct_mgmt and pam_end (None: not run)."""
        self.secrets.append(password)
        self._keep(keep)

        def answer(style: int, message: bytes) -> Any:
            if style == _pamlow.PAM_PROMPT_ECHO_OFF:
                return password
            if style == _pamlow.PAM_PROMPT_ECHO_ON:
                return user
            return None

        if confdir is None:
            rc, low = _pamlow.pam_start(service, user, answer)
        else:
            rc, low = _pamlow.pam_start_confdir(service, user, answer, confdir)
        codes: list[Any] = [rc, None, None, None, None]
        if rc != _pamlow.PAM_SUCCESS:
            return ["done", codes, None]
        status = _pamlow.PAM_SUCCESS
        try:
            for code, value in items:
                rc = _pamlow.pam_set_item(low, code, value)
                if rc != _pamlow.PAM_SUCCESS:
                    codes[1] = rc
                    break
            else:
                flags = _pamlow.PAM_DISALLOW_NULL_AUTHTOK
                status = codes[2] = _pamlow.pam_authenticate(low, flags)
                _scrub(low)
                if status == _pamlow.PAM_SUCCESS:
                    status = codes[3] = _pamlow.pam_acct_mgmt(low, flags)
        finally:
            codes[4] = _pamlow.pam_end(low, status)
        exc = _pamlow.pamlow_take_error(low)
        return ["done", codes, None if exc is None else [type(exc).__name__, str(exc)]]

    def call(self, name: str, args: list[Any]) -> list[Any]:
        if name not in _CALLS:
            raise ValueError(f"no such call {name!r}")
        # A value set (a token, say) is wiped once PAM has its copy.
        self.secrets.extend(a for a in args if isinstance(a, bytearray))
        if name == "pam_set_item" and args[0] in _CALLBACK_ITEMS:
            callback = self.conv if args[0] == getattr(_pamlow, "PAM_CONV") else self.delay
            args = [args[0], callback if args[1] else None]
        result = getattr(_pamlow, name)(self.low, *args)
        return ["done", result, self._error()]

    def end(self, status: int) -> list[Any]:
        low, self.low = self.low, None
        rc = _pamlow.pam_end(low, status)
        exc = _pamlow.pamlow_take_error(low)
        error = None if exc is None or isinstance(exc, _Refused) else [type(exc).__name__, str(exc)]
        return ["done", rc, error]

    def serve(self) -> None:
        """Answer requests until the application hangs up."""
        _wire.send(self.sock, "ready", os.getpid())
        while True:
            try:
                request = _wire.recv(self.sock)
            except _wire.WireError:
                return
            kind, args = request[0], request[1:]
            try:
                if kind == "start":
                    reply = self.start(*args)
                elif kind == "op":
                    reply = self.operate(*args)
                elif kind == "call":
                    reply = self.call(args[0], args[1:])
                elif kind == "authenticate":
                    reply = self.authenticate(*args)
                elif kind == "end":
                    reply = self.end(*args)
                else:
                    reply = ["raise", "ValueError", f"unknown request {kind!r}"]
            except _wire.WireError:
                return
            except Exception as e:  # the application raises it again
                reply = ["raise", type(e).__name__, str(e)]
            finally:
                for secret in self.secrets:
                    _wire.wipe(secret)
                self.secrets.clear()
            _wire.send(self.sock, *reply)


def _scrub(low: Any) -> None:
    """What handle._scrub does in process: no secret a module left in the
    environment outlives the authentication."""
    delete = "unsetenv" in extensions
    for entry in _pamlow.pam_getenvlist(low) or ():
        key = entry.split(b"=", 1)[0]
        _pamlow.pam_putenv(low, key if delete else key + b"=")


def _die_with_parent() -> tuple[threading.Event, threading.Thread]:
    """End this process once the application is gone, even while a module
    holds the main thread in a call that never returns (the low layer
    lets go of the GIL during PAM calls, so this thread still runs).
    Linux's PR_SET_PDEATHSIG would fire when the application's *thread*
    that started the worker ends, which a pooled worker outlives.
    Returns the event that stops the watch and its thread, for a clean
    exit."""
    parent = os.getppid()
    done = threading.Event()

    def watch() -> None:
        while not done.wait(1):
            if os.getppid() != parent:
                os._exit(0)

    watcher = threading.Thread(target=watch, name="parent-watch", daemon=True)
    watcher.start()
    return done, watcher


def main(fd: str) -> None:
    """Serve the application on the socket with file descriptor *fd*."""
    done, watcher = _die_with_parent()
    # The application handles Ctrl-C; the worker ends when it hangs up.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sock = socket.socket(fileno=int(fd))
    try:
        Worker(sock).serve()
    finally:
        # The watch ends with the worker: no thread is left running while
        # the interpreter finalizes (the leak checkers would see its state).
        done.set()
        watcher.join()


if __name__ == "__main__":
    main(sys.argv[1])
