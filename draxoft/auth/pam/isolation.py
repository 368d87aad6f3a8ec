"""isolated=True: transactions whose modules run in a worker process.

Give ``isolated=True`` to :class:`~draxoft.auth.pam.handle`,
:func:`~draxoft.auth.pam.authenticate`, :class:`~draxoft.auth.pam.resident`
or their :mod:`~draxoft.auth.pam.aio` twins; this module holds the error a
dead worker raises and the controls of the pool of idle workers.

The application keeps the :class:`~draxoft.auth.pam.handle` object, its
callbacks, ``data`` and the checks of its arguments; libpam and the modules
run in a worker (draxoft/auth/pam/_worker.py), which this module starts,
talks to over a socket pair (draxoft/auth/pam/_wire.py), keeps warm in a
pool between transactions, and kills when a timeout runs out. A worker
that dies, or is killed, takes only its transaction with it.
"""

from __future__ import annotations

import atexit
import errno
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path
from typing import Any, Callable, Optional

from draxoft.auth import _pamlow

from . import _check, _wire
from ._errors import PamError
from ._handle import _CLOSED, PAM_SUCCESS, LowHandle, _start_failed, handle

__all__ = ["PASSED_ON", "POOL_SIZE", "WorkerDied", "prestart", "shutdown"]

PAM_CONV: int = _pamlow.PAM_CONV
PAM_SYSTEM_ERR: int = _pamlow.PAM_SYSTEM_ERR

#: The environment variables a worker gets from the application (when set):
#: what libpam, the modules and the C runtime read (locale, time zone, the
#: command path), what the dynamic loader and the sanitizers need to load
#: the binding at all, and where the interpreter lives and which allocator
#: it uses. Tokens, keys and passwords in the application's environment
#: stay there. Add the names your modules need (``KRB5_CONFIG``, say)
#: before the first isolated transaction: a worker keeps the environment
#: it started with. ``LC_*`` variables are always passed on.
PASSED_ON: tuple[str, ...] = (
    "PATH", "LANG", "LANGUAGE", "TZ", "LD_PRELOAD", "LD_LIBRARY_PATH",
    "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "PYTHONHOME", "PYTHONMALLOC",
)

# What the worker runs: the binding found where the application found it.
# The interpreter gets -s (no user site) and only the environment above
# (no PYTHONPATH), and starts in /; the current directory, which -c puts
# first on sys.path, is dropped. (-I would do all that, but would also
# ignore PYTHONMALLOC, which the sanitized test runs need.) The worker
# needs the low layer and the wire format only, so the package is entered
# without running its __init__ (the Pythonic layer): that halves the time
# a worker takes to start.
_BOOT = (
    "import os, sys, types; sys.path[:] = [p for p in sys.path if p]; "
    "sys.path[:0] = sys.argv[1].split(os.pathsep); "
    "package = types.ModuleType('draxoft.auth.pam'); package.__path__ = [sys.argv[2]]; "
    "sys.modules['draxoft.auth.pam'] = package; "
    "from draxoft.auth.pam._worker import main; main(sys.argv[3])"
)
_PACKAGE = Path(__file__).resolve().parent


def _roots() -> str:
    """The directories from which this process imported the binding's
    parts, for the worker's sys.path. Usually one; two where a build's
    tests run the sources of a checkout against an extension installed
    elsewhere (PYTHONPATH, which the worker does not get)."""
    roots = [str(_PACKAGE.parents[2])]  # <root>/draxoft/auth/pam
    for module in (_pamlow, sys.modules.get("draxoft.auth.__pamlow")):
        file = getattr(module, "__file__", None)
        root = str(Path(file).resolve().parents[2]) if file else None  # <root>/draxoft/auth/<file>
        if root is not None and root not in roots:
            roots.append(root)
    return os.pathsep.join(roots)


_ROOTS = _roots()

# Seconds a new worker may take to start (see _Remote.exchange).
_START_LIMIT = 60.0

#: How many idle workers are kept for the next isolated transactions
#: (each an interpreter of some megabytes); a worker a transaction gives
#: back when this many are idle is stopped. Set it to suit your load.
POOL_SIZE = 4


class WorkerDied(PamError):
    """The worker process of an isolated transaction died before it
    answered: a module crashed it (``signal`` says with what), or it
    exited (``exit_status``). ``errno`` is ``PAM_SYSTEM_ERR``; the handle
    is closed."""

    signal: Optional[int]
    exit_status: Optional[int]


def _died(returncode: Optional[int]) -> WorkerDied:
    if returncode is not None and returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        error = WorkerDied(PAM_SYSTEM_ERR, f"the PAM worker process died of {name} (signal {-returncode})")
        error.signal, error.exit_status = -returncode, None
    else:
        error = WorkerDied(PAM_SYSTEM_ERR, f"the PAM worker process exited (status {returncode})")
        error.signal, error.exit_status = None, returncode
    return error


def _environment() -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name in PASSED_ON or name.startswith("LC_")}
    env.setdefault("PATH", os.defpath)
    return env


def _descendants(root: int) -> list[int]:
    """The processes *root* started, and theirs (Linux, from /proc): a
    module's helper may leave the worker's process group (pam_exec's
    children start sessions of their own). Empty where /proc is not there."""
    parents: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 1:
            parents.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class _Process:
    """One worker process and the application's end of its socket."""

    def __init__(self) -> None:
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            # Popen forks and execs in C (no Python code in between, so a
            # threaded application is safe) and closes every other fd.
            self.popen = subprocess.Popen(
                [sys.executable, "-s", "-c", _BOOT, _ROOTS, str(_PACKAGE), str(theirs.fileno())],
                cwd="/",
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
                env=_environment(),
                # A group of its own, so that killing it takes the programs
                # a module started (pam_exec's) with it.
                start_new_session=True,
            )
        except BaseException:
            mine.close()
            raise
        finally:
            theirs.close()
        self.sock = mine
        self.pid = os.getpid()  # the process that may talk to it
        self.ready = False
        self.residents: frozenset[tuple[Any, Any]] = frozenset()

    def _kill_group(self) -> None:
        # Before the worker is reaped: until then its pid, which is the
        # group's id, cannot be reused by another process.
        for pid in _descendants(self.popen.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:  # gone meanwhile
                pass
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except OSError:  # the group is empty already
            pass

    def kill(self) -> None:
        """Kill the worker and what it started, and reap it (no zombie is
        left)."""
        if self.pid == os.getpid():
            self._kill_group()
            self.popen.wait()
        self.sock.close()

    def reap(self) -> WorkerDied:
        """The worker hung up: wait for it, end what it left running, and
        say how it ended."""
        self.sock.close()
        try:
            self.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:  # hung up but alive: a broken worker
            pass
        # The exit status stays readable: Popen has it, or the zombie does.
        self._kill_group()
        returncode = self.popen.wait()
        return _died(returncode)

    def stop(self) -> None:
        """An idle worker: hang up, which ends it (it is reaped later, by
        :meth:`_Pool.reap`: nobody waits for an interpreter to exit)."""
        self.sock.close()


class _Pool:
    """Idle workers, warm (the interpreter and the binding loaded, and the
    modules of resident services), for the next isolated transactions."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.idle: list[_Process] = []
        self.stopping: list[_Process] = []  # hung up on, not yet reaped
        # The services whose modules workers keep loaded, with how many
        # residents ask for each.
        self.kept: dict[tuple[Any, Any], int] = {}

    def take(self) -> _Process:
        self.reap()
        with self.lock:
            while self.idle:
                process = self.idle.pop()
                if process.popen.poll() is None:
                    return process
                process.sock.close()
        return _Process()

    def give(self, process: _Process) -> None:
        with self.lock:
            if process.pid != os.getpid():
                process.sock.close()
                return
            if len(self.idle) < POOL_SIZE:
                self.idle.append(process)
                return
            self.stopping.append(process)
        process.stop()

    def reap(self, wait: bool = False) -> None:
        """Wait for the workers that were told to stop and have exited (all
        of them if *wait*: a worker still running then is killed)."""
        with self.lock:
            stopping, self.stopping = self.stopping, []
        left = []
        for process in stopping:
            if wait:
                try:
                    process.popen.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    process.popen.kill()
                    process.popen.wait()
            elif process.popen.poll() is None:
                left.append(process)
        with self.lock:
            self.stopping.extend(left)

    def wanted(self) -> list[list[Any]]:
        with self.lock:
            return [[service, confdir] for service, confdir in self.kept]

    def clear(self) -> None:
        """Stop every idle worker and wait for them all to exit."""
        with self.lock:
            idle, self.idle = self.idle, []
            self.stopping.extend(idle)
        for process in idle:
            process.stop()
        self.reap(wait=True)

    def forget_in_child(self) -> None:
        """After fork(), in the child: the workers are the parent's."""
        self.lock = threading.Lock()
        for process in self.idle:
            process.sock.close()
        self.idle = []
        self.stopping = []


_pool = _Pool()
atexit.register(_pool.clear)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_pool.forget_in_child)


def prestart(count: int) -> None:
    """Start workers until *count* are idle (at most :data:`POOL_SIZE`),
    so that the first isolated transactions do not wait for one to start
    (a worker takes some tens of milliseconds: a new interpreter that
    imports the binding). Call it when a server starts, say.

    :raises TypeError: *count* not an int.
    :raises ValueError: *count* negative.
    """
    _check.integer(count, "count", 0, _check.INT_MAX)
    started = []
    with _pool.lock:
        missing = min(count, POOL_SIZE) - len(_pool.idle)
    for _ in range(max(0, missing)):
        started.append(_Process())
    for process in started:
        _pool.give(process)


def shutdown() -> None:
    """Stop every idle worker (the next isolated transaction starts one)."""
    _pool.clear()


def _keep(service: Any, confdir: Optional[str]) -> None:
    """Workers keep *service*'s modules loaded from their next transaction on."""
    with _pool.lock:
        _pool.kept[(service, confdir)] = _pool.kept.get((service, confdir), 0) + 1


def _unkeep(service: Any, confdir: Optional[str]) -> None:
    """Undo one :func:`_keep`."""
    with _pool.lock:
        left = _pool.kept.get((service, confdir), 0) - 1
        if left > 0:
            _pool.kept[(service, confdir)] = left
        else:
            _pool.kept.pop((service, confdir), None)


_REBUILT: dict[str, type[Exception]] = {
    "TypeError": TypeError,
    "ValueError": ValueError,
    "OverflowError": OverflowError,
    "UnicodeEncodeError": ValueError,
    "MemoryError": MemoryError,
    "RuntimeError": RuntimeError,
}


def _rebuilt(error: Optional[list[Any]]) -> Optional[Exception]:
    """An exception raised in the worker, as the application sees it."""
    if error is None:
        return None
    kind, text = str(error[0]), str(error[1])
    cls = _REBUILT.get(kind)
    return cls(text) if cls is not None else RuntimeError(f"{kind} in the PAM worker: {text}")


def _secret(value: Any) -> Any:
    """A value that may be a password, ready to cross: a str or bytes as a
    new bytearray to wipe once sent (a str encoded as the low layer
    encodes it, with no unwiped copy); anything else as it is."""
    if isinstance(value, (str, bytes)):
        return _pamlow.pamlow_secret_bytes(value)
    return value


def _sent(value: Any, original: Any) -> None:
    """Wipe what :func:`_secret` made, never the caller's own bytearray."""
    if value is not original and isinstance(value, bytearray):
        _wire.wipe(value)


def _plain(value: Any) -> Any:
    """A value from the worker as the low layer would give it: bytes, not
    bytearray (the bytearray is wiped), and tuples for pairs."""
    if isinstance(value, bytearray):
        result = bytes(value)
        _wire.wipe(value)
        return result
    if isinstance(value, list):
        return tuple(_plain(v) for v in value)
    return value


def _blocking(sock: socket.socket) -> None:
    """Make *sock* blocking, without the system calls when it is."""
    if sock.gettimeout() is not None:
        sock.settimeout(None)


class _Link:
    """What a transaction's finalizer needs: kept apart from the remote
    handle, which the finalizer must not keep alive."""

    def __init__(self, process: _Process) -> None:
        self.process: Optional[_Process] = process
        self.status = PAM_SUCCESS

    def abandon(self) -> None:
        """The transaction was dropped without close(): end it in the
        worker (no callback can run: the handle is gone), then give the
        worker back, or kill it if it does not answer."""
        process, self.process = self.process, None
        if process is None or process.pid != os.getpid():
            if process is not None:
                process.sock.close()
            return
        try:
            process.sock.settimeout(10)
            _wire.send(process.sock, "end", self.status)
            while True:
                reply = _wire.recv(process.sock)
                if reply[0] in ("done", "raise"):
                    break
                _wire.send(process.sock, "refuse")
        except (OSError, _wire.WireError):
            process.kill()
            return
        _pool.give(process)


class _Remote:
    """The low handle of an isolated transaction: stands where the low
    layer's capsule stands, and forwards each call to the worker."""

    #: The functions that take this handle (set below, once defined).
    api: Any

    def __init__(self, timeout: Optional[float], conv: Optional[Callable[..., Any]]) -> None:
        self.timeout = timeout
        self.conv = conv  # the handle's relay to its conversation
        self.delay: Optional[Callable[..., Any]] = None
        self.error: Optional[BaseException] = None
        self.lost = False
        self.link = _Link(_pool.take())
        self.finalizer = weakref.finalize(self, _Link.abandon, self.link)

    # -- the exchange ----------------------------------------------------

    def _recv(self, sock: socket.socket, deadline: Optional[float]) -> list[Any]:
        if deadline is None:
            _blocking(sock)
        else:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            sock.settimeout(left)
        return _wire.recv(sock)

    def _callback(self, request: list[Any]) -> tuple[list[Any], Any]:
        """A conversation or delay the worker forwards: run it here.
        Returns the reply, and the callback's own answer."""
        if self.error is not None:  # once a callback failed, PAM is told no
            return ["refuse"], None
        try:
            if request[0] == "conv" and len(request) == 3:
                if self.conv is None:
                    return ["refuse"], None
                style, message = int(request[1]), _plain(request[2])
                answer = self.conv(style, message)
                if answer is not None and not isinstance(answer, (str, bytes, bytearray)):
                    raise TypeError(
                        "a conversation response must be str, bytes, bytearray or None, "
                        f"not {type(answer).__name__}"
                    )
                return ["answer", _secret(answer)], answer
            if request[0] == "delay" and len(request) == 3:
                if self.delay is not None:
                    self.delay(int(request[1]), int(request[2]))
                return ["ok"], None
        except BaseException as e:  # kept, raised after the PAM call
            self.error = e
            return ["refuse"], None
        raise _wire.WireError(f"unexpected message {request[0]!r}")

    def exchange(self, *request: Any) -> tuple[Any, Optional[list[Any]]]:
        """Send a request; run the callbacks it brings; return its result
        and the error the worker reports with it."""
        process = self.link.process
        if process is None or self.lost:
            raise ValueError(_CLOSED)
        if process.pid != os.getpid():
            raise RuntimeError("an isolated PAM handle cannot be used in a child of fork()")
        reply = self._talk(process, request)
        if reply[0] == "raise":  # the worker refused the request itself
            raise _rebuilt(reply[1:]) or RuntimeError(reply)
        return reply[1], reply[2]

    def _talk(self, process: _Process, request: tuple[Any, ...]) -> list[Any]:
        """The exchange itself; whatever goes wrong in it ends the worker."""
        sock = process.sock
        limit = self.timeout
        try:
            if not process.ready:
                # "ready": the binding is loaded. Starting is not a PAM
                # call, and takes seconds under valgrind: it has a limit of
                # its own, for a worker that cannot start at all.
                limit = _START_LIMIT
                self._recv(sock, time.monotonic() + _START_LIMIT)
                process.ready = True
            limit = self.timeout
            deadline = None if limit is None else time.monotonic() + limit
            _blocking(sock)
            _wire.send(sock, *request)
            while True:
                reply = self._recv(sock, deadline)
                if reply[0] in ("done", "raise") and len(reply) == 3:
                    return reply
                # The time the application spends answering is not the
                # worker's: the deadline moves by as much.
                began = time.monotonic()
                answer, given = self._callback(reply)
                if deadline is not None:
                    deadline += time.monotonic() - began
                _blocking(sock)
                try:
                    _wire.send(sock, *answer)
                finally:
                    # An answer is the caller's password more often than
                    # not: the copy made to send it is wiped (the caller's
                    # own bytearray is the caller's to wipe).
                    if len(answer) > 1:
                        _sent(answer[1], given)
        except (TimeoutError, socket.timeout):
            self._lose().kill()
            raise TimeoutError(
                errno.ETIMEDOUT, f"the PAM worker did not answer within {limit} s: it was killed"
            ) from None
        except (_wire.WireError, OSError):
            raise self._lose().reap() from None
        except BaseException:
            # Interrupted (Ctrl-C) in the middle of an exchange: the worker
            # is in an unknown state and cannot be talked to again.
            self._lose().kill()
            raise

    def _lose(self) -> _Process:
        process = self.link.process
        assert process is not None
        self.link.process = None
        self.lost = True
        self.finalizer.detach()
        return process

    def take_error(self) -> Optional[BaseException]:
        error, self.error = self.error, None
        return error

    # -- the calls -------------------------------------------------------

    def start(self, service: Any, user: Any, confdir: Optional[str]) -> int:
        rc, error = self.exchange("start", service, user, self.conv is not None, confdir, _pool.wanted())
        self._raise_worker(error)
        if rc != PAM_SUCCESS:
            self._release()
        return int(rc)

    def _raise_worker(self, error: Optional[list[Any]]) -> None:
        exc = _rebuilt(error)
        if exc is not None and self.error is None:
            self.error = exc

    def operate(self, name: str, flags: int, scrub: bool) -> int:
        rc, error = self.exchange("op", name, flags, scrub)
        self._raise_worker(error)
        return int(rc)

    def call(self, name: str, *args: Any) -> Any:
        result, error = self.exchange("call", name, *args)
        exc = _rebuilt(error)
        if exc is not None:
            raise exc
        return _plain(result)

    def end(self, status: int) -> int:
        rc, error = self.exchange("end", status)
        self._raise_worker(error)
        self._release()
        return int(rc)

    def _release(self) -> None:
        """The worker holds no transaction of ours any more: back to the pool."""
        process = self.link.process
        self.link.process = None
        self.lost = True
        self.finalizer.detach()
        if process is not None:
            _pool.give(process)

    def drop_in_child(self) -> None:
        """In a child of fork(): forget the parent's worker."""
        process = self.link.process
        self.link.process = None
        self.lost = True
        self.finalizer.detach()
        if process is not None:
            process.sock.close()


def _authenticate(
    user: Any, password: Any, service: Any, confdir: Optional[str], items: dict[str, Any], timeout: Optional[float]
) -> bool:
    """pam.authenticate(isolated=True): the whole transaction in one
    request to a worker, which answers PAM's prompts as authenticate()
    does; the verdict and errors are authenticate()'s."""
    from ._simple import _REFUSALS

    remote = _Remote(timeout, None)
    codes = [[handle.__dict__[name].code, value] for name, value in items.items() if value is not None]
    secret = _secret(password)
    try:
        result, error = remote.exchange("authenticate", service, user, secret, confdir, codes, _pool.wanted())
    finally:
        _sent(secret, password)
    remote._release()
    exc = _rebuilt(error)
    if exc is not None:
        raise exc
    start_rc, item_rc, auth_rc, acct_rc, end_rc = result
    if start_rc != PAM_SUCCESS:
        _start_failed(service, confdir, start_rc)
    if item_rc is not None:
        raise PamError.from_code(item_rc)
    for rc in (auth_rc, acct_rc):
        if rc is not None and rc != PAM_SUCCESS:
            if rc in _REFUSALS:
                return False
            raise PamError.from_code(rc)
    if end_rc != PAM_SUCCESS:
        raise PamError.from_code(end_rc)
    return True


class _RemoteAPI:
    """The low layer's functions that :class:`handle` and its environment
    call with a handle, for a :class:`_Remote` handle."""

    @staticmethod
    def pam_end(low: _Remote, status: int) -> int:
        if low.lost:  # ended with its worker (a timeout, a crash)
            return PAM_SUCCESS
        if low.link.process is not None and low.link.process.pid != os.getpid():
            low.drop_in_child()  # the parent's transaction, in its worker
            return PAM_SUCCESS
        return low.end(status)

    @staticmethod
    def pamlow_take_error(low: _Remote) -> Optional[BaseException]:
        return low.take_error()

    @staticmethod
    def pam_get_item(low: _Remote, code: int) -> Any:
        return low.call("pam_get_item", code)

    @staticmethod
    def pam_set_item(low: _Remote, code: int, value: Any) -> int:
        if code == PAM_CONV or code == getattr(_pamlow, "PAM_FAIL_DELAY", None):
            rc = low.call("pam_set_item", code, value is not None)
            if rc == PAM_SUCCESS:
                if code == PAM_CONV:
                    low.conv = value
                else:
                    low.delay = value
            return int(rc)
        secret = _secret(value)  # PAM_AUTHTOK and PAM_OLDAUTHTOK are passwords
        try:
            return int(low.call("pam_set_item", code, secret))
        finally:
            _sent(secret, value)

    @staticmethod
    def pam_getenv(low: _Remote, name: Any) -> Optional[bytes]:
        result: Optional[bytes] = low.call("pam_getenv", name)
        return result

    @staticmethod
    def pam_putenv(low: _Remote, entry: Any) -> int:
        return int(low.call("pam_putenv", entry))

    @staticmethod
    def pam_getenvlist(low: _Remote) -> Any:
        result = low.call("pam_getenvlist")
        return list(result) if result is not None else None

    @staticmethod
    def pam_fail_delay(low: _Remote, usec: int) -> int:
        return int(low.call("pam_fail_delay", usec))


_Remote.api = _RemoteAPI  # what _environment's calls find on the handle


class _IsolatedHandle(handle):
    """A :class:`handle` whose transaction runs in a worker process
    (``pam.handle(..., isolated=True)`` makes one)."""

    _api: Any = _RemoteAPI

    def _begin(self, service: Any, user: Any, conv: Any, confdir: Optional[str]) -> tuple[int, LowHandle]:
        remote = _Remote(self._timeout, conv)
        return remote.start(service, user, confdir), remote

    @property
    def closed(self) -> bool:
        """True once the transaction has ended: by :meth:`close`, or with
        its worker (killed at a timeout, or dead)."""
        low = self._low
        return low is None or low.lost

    def _open(self) -> LowHandle:
        low = self._low
        if low is None or low.lost:
            self._low = None
            raise ValueError(_CLOSED)
        return low

    def _run(self, function: Any, operation: str, flags: int) -> int:
        self._refuse_reentry(operation)
        with self._lock:
            low = self._open()
            self._busy = threading.get_ident()
            try:
                rc: int = low.operate(operation, flags, operation == "authenticate" and not self._elevated)
            finally:
                self._busy = None
                if low.lost:
                    self._low = None
            exc = low.take_error()
            self._status = rc
            low.link.status = rc
        if exc is not None:
            raise exc
        return rc

    def _scrub(self, low: LowHandle) -> None:
        pass  # done by the worker, right after pam_authenticate

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<{__name__.rsplit('.', 1)[0]}.handle {state}, isolated, at {id(self):#x}>"
