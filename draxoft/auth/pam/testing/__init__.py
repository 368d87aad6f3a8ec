"""A test kit for applications that log users in through PAM.

Tests of a login should run real PAM, not a mock, without root, system
accounts or a change to ``/etc/pam.d``. A :class:`Sandbox` is a directory
of PAM service files of the test's own (give :attr:`Sandbox.confdir` as
``confdir=``, or :meth:`Sandbox.activate` it), with a password database of
its own, checked by the kit's PAM module ``pam_sandbox.so``, which is
installed with this package and needs nothing else (no pam_wrapper), on
Linux-PAM and on OpenPAM. The same module forces any return code at any
step, makes a step slow, and sends messages of any style::

    from draxoft.auth import pam
    from draxoft.auth.pam.testing import Sandbox

    sandbox = Sandbox(tmp_path)
    sandbox.add_user("alice", "wonderland")
    service = sandbox.password_service("webapp", acct_mgmt=pam.PAM_ACCT_EXPIRED)
    pam.authenticate("alice", "wonderland", service, confdir=sandbox.confdir)

With pytest, the fixture ``pam_sandbox`` gives each test a Sandbox in its
own ``tmp_path``. Never use the kit's module outside tests: it keeps
passwords in a plain file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import textwrap
import threading
import urllib.parse
from pathlib import Path
from typing import Iterator, Optional, Union

from ... import _pamlow
from .. import _check
from .._constants import extensions, implementation
from .._conversation import PAM_ERROR_MSG, PAM_PROMPT_ECHO_OFF, PAM_PROMPT_ECHO_ON, PAM_TEXT_INFO

__all__ = ["Sandbox", "Step", "Conversation", "MODULE", "OPERATIONS"]

#: The kit's PAM module. The build puts it in this package's directory of
#: the tree it builds the extension into, so it is looked for beside the
#: extension that this process loaded (one and the same directory once
#: installed; a checkout's Python sources may run against an installed build).
MODULE = str(Path(_pamlow.__file__).resolve().parent / "pam" / "testing" / "pam_sandbox.so")

#: The steps of a transaction, by the name of the handle's method, and the
#: facility (the first word of a stack line) that serves each.
OPERATIONS = {
    "authenticate": "auth",
    "setcred": "auth",
    "acct_mgmt": "account",
    "chauthtok": "password",
    "open_session": "session",
    "close_session": "session",
}

_FACILITIES = ("auth", "account", "password", "session")

# The module's names for the message styles it can send.
_STYLE_NAMES = {
    PAM_TEXT_INFO: "info",
    PAM_ERROR_MSG: "error",
    PAM_PROMPT_ECHO_ON: "echo_on",
    PAM_PROMPT_ECHO_OFF: "echo_off",
}

# The activations of this process, innermost last; _check.confdir reads
# only the innermost path, which activate() publishes there under this
# lock. A plain global rather than a ContextVar: threads (aio's workers
# among them) must see it.
_lock = threading.Lock()
_active: list[tuple[object, str]] = []


def _encode(value: str) -> str:
    """A value for a stack line of the module: percent-encoded, so that
    no PAM's quoting rules apply to it (the module decodes it)."""
    return urllib.parse.quote(value, safe="/:._-,@+")


def _type_name(value: object) -> str:
    return type(value).__name__


def _checked_str(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be str, not {_type_name(value)}")
    return value


def _check_user(name: object, argument: str = "name") -> str:
    user = _checked_str(name, argument)
    if not user:
        raise ValueError(f"{argument} must not be empty")
    for char, what in (("\0", "a NUL character"), (":", "':'"), ("\n", "a newline"), ("\r", "a carriage return")):
        if char in user:
            raise ValueError(f"{argument} must not contain {what}: the database has one 'user:password' line a user")
    return user


def _check_password(value: object) -> str:
    password = _checked_str(value, "password")
    for char, what in (("\0", "a NUL character"), ("\n", "a newline"), ("\r", "a carriage return")):
        if char in password:
            raise ValueError(f"password must not contain {what}")
    return password


def _check_service(value: object) -> str:
    service = _checked_str(value, "name")
    if not service:
        raise ValueError("name (the service) must not be empty")
    if service in (".", ".."):
        raise ValueError(f"name (the service) must not be {service!r}")
    for char, what in (("/", "'/'"), ("\0", "a NUL character")):
        if char in service:
            raise ValueError(f"name (the service) must not contain {what}: it is a file name in confdir")
    return service


@dataclasses.dataclass(frozen=True)
class Step:
    """What the kit's module does at one step, before the stack's own lines.

    :param code: the code the step returns, a ``PAM_*`` constant; None
        lets the rest of the stack decide.
    :param delay: seconds the step sleeps first (a slow directory server).
    :param message: a text the step sends the application first, in one
        conversation call, with *style* (``PAM_TEXT_INFO``,
        ``PAM_ERROR_MSG``, ``PAM_PROMPT_ECHO_ON`` or
        ``PAM_PROMPT_ECHO_OFF``).
    :param answer: for a prompt, the reply the step demands; any other
        makes the step fail with ``PAM_AUTH_ERR``.
    :param user: act for this user only (``PAM_USER``); the step does
        nothing for the others: one refused account among many.
    """

    code: Optional[int] = None
    delay: float = 0.0
    message: Optional[str] = None
    style: int = PAM_TEXT_INFO
    answer: Optional[str] = None
    user: Optional[str] = None

    def __post_init__(self) -> None:
        if self.code is not None:
            _check.integer(self.code, "code", _check.INT_MIN, _check.INT_MAX)
        if not isinstance(self.delay, (int, float)) or isinstance(self.delay, bool):
            raise TypeError(f"delay must be a number of seconds, not {_type_name(self.delay)}")
        if not 0 <= self.delay <= 600:
            raise ValueError(f"delay must be between 0 and 600 seconds, not {self.delay}")
        if self.message is not None:
            _checked_str(self.message, "message")
            if "\0" in self.message:
                raise ValueError("message must not contain a NUL character")
        if self.style not in _STYLE_NAMES:
            raise ValueError(
                f"style must be PAM_TEXT_INFO, PAM_ERROR_MSG, PAM_PROMPT_ECHO_ON or PAM_PROMPT_ECHO_OFF, not {self.style!r}"
            )
        if self.answer is not None:
            _checked_str(self.answer, "answer")
            if "\0" in self.answer:
                raise ValueError("answer must not contain a NUL character")
            if self.message is None or self.style not in (PAM_PROMPT_ECHO_ON, PAM_PROMPT_ECHO_OFF):
                raise ValueError("answer needs a message with a prompt style")
        if self.user is not None:
            _check_user(self.user, "user")

    def options(self) -> list[str]:
        """The module's options for this step (without ``only=``)."""
        options = []
        if self.user is not None:
            options.append(f"user={_encode(self.user)}")
        if self.delay:
            options.append(f"sleep={max(1, round(self.delay * 1000))}")
        if self.message is not None:
            options.append(f"msg={_STYLE_NAMES[self.style]}:{_encode(self.message)}")
        if self.answer is not None:
            options.append(f"answer={_encode(self.answer)}")
        if self.code is not None:
            options.append(f"ret={self.code}")
        return options


class Conversation:
    """A conversation function for tests: it answers the prompts with
    *answers*, in order, and records every message it gets.

    ``Conversation("old", "new", "new")`` is what a password change with
    the kit's module asks for. A prompt with no answer left raises
    :exc:`AssertionError`, which comes out of the PAM call.
    """

    def __init__(self, *answers: str) -> None:
        for answer in answers:
            _checked_str(answer, "answer")
        self.answers = list(answers)
        #: ``(style, text)`` of each message, in order.
        self.messages: list[tuple[int, str]] = []

    def __call__(self, style: int, message: object, data: object) -> Optional[str]:
        """Record the message; a prompt gets the next answer."""
        text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
        self.messages.append((style, text))
        if style not in (PAM_PROMPT_ECHO_OFF, PAM_PROMPT_ECHO_ON):
            return None
        if not self.answers:
            raise AssertionError(f"the conversation has no answer left for the prompt {text!r}")
        return self.answers.pop(0)

    def texts(self, style: Optional[int] = None) -> list[str]:
        """The texts of the messages (of *style* only, if given)."""
        return [text for kind, text in self.messages if style is None or kind == style]


StepSpec = Union[int, Step, None]


class Sandbox:
    """A directory of PAM service files and a password database, for tests.

    :param directory: where to keep them (created if needed): service
        files in ``directory/pam.d`` (:attr:`confdir`), the database in
        ``directory/passwd``, mode 0600. Use a directory of the test's
        own, like pytest's ``tmp_path`` (the ``pam_sandbox`` fixture does).
        On OpenPAM, which loads policies only from directories that no one
        but root or the user can write, not one under ``/tmp``.
    """

    def __init__(self, directory: Union[str, os.PathLike[str]]) -> None:
        if not isinstance(directory, (str, os.PathLike)):
            raise TypeError(f"directory must be str or os.PathLike, not {_type_name(directory)}")
        root = Path(directory).resolve()
        if "\0" in str(root):
            raise ValueError("directory must not contain a NUL character")
        self._root = root
        self._confdir = root / "pam.d"
        self._database = root / "passwd"
        self._confdir.mkdir(parents=True, exist_ok=True)
        if not self._database.exists():
            self._write_database({})

    def __repr__(self) -> str:
        return f"Sandbox({str(self._root)!r})"

    @property
    def confdir(self) -> str:
        """The directory of service files, to pass as ``confdir=``."""
        return str(self._confdir)

    @property
    def database(self) -> str:
        """The password database: ``user:password`` lines, mode 0600."""
        return str(self._database)

    @property
    def module(self) -> str:
        """The absolute path of the kit's PAM module, ``pam_sandbox.so``.

        :raises FileNotFoundError: the package was installed without it.
        """
        if not os.path.isfile(MODULE):
            raise FileNotFoundError(
                f"the test kit's PAM module is missing ({MODULE}): "
                "this installation of draxoft.auth.pam was built without it"
            )
        return MODULE

    # -- the password database

    def _read_database(self) -> dict[str, str]:
        users: dict[str, str] = {}
        for line in self._database.read_text(encoding="utf-8", errors="surrogateescape").splitlines():
            name, _, password = line.partition(":")
            users[name] = password
        return users

    def _write_database(self, users: dict[str, str]) -> None:
        # A new file of mode 0600 renamed over the old one, as the module
        # does: never a moment with the passwords readable by others.
        text = "".join(f"{name}:{password}\n" for name, password in users.items())
        temporary = self._database.with_name(self._database.name + ".new")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, text.encode("utf-8", "surrogateescape"))
        finally:
            os.close(fd)
        os.replace(temporary, self._database)

    def add_user(self, name: str, password: str) -> None:
        """Add a user of the sandbox's own database (no system account).

        :raises ValueError: *name* is empty, already a user, or has ``:``,
            a newline or a NUL; *password* has a newline or a NUL.
        :raises TypeError: either is not a str.
        """
        name = _check_user(name)
        password = _check_password(password)
        users = self._read_database()
        if name in users:
            raise ValueError(f"name: {name!r} is already a user of this sandbox")
        users[name] = password
        self._write_database(users)

    def password(self, name: str) -> str:
        """The password of the user *name* now (after a change, the new one).

        :raises KeyError: no such user.
        """
        name = _check_user(name)
        return self._read_database()[name]

    # -- service files

    def line(self, operation: str, step: StepSpec) -> str:
        """A stack line of the kit's module that does *step* at *operation*
        (one of :data:`OPERATIONS`: ``"authenticate"``, ``"acct_mgmt"``, ...)
        and nothing at the others. Put it before the lines it should
        pre-empt, in a text for :meth:`service`.

        *step* is a :class:`Step`, or a return code for ``Step(code=...)``.
        A forced failure is a ``requisite`` line (the stack stops there
        with that code), a forced ``PAM_SUCCESS`` a ``sufficient`` one
        (the stack stops there and succeeds), anything else a
        ``requisite`` line that returns ``PAM_IGNORE`` after its message
        or delay (or ``PAM_AUTH_ERR`` when a demanded answer is wrong).
        """
        if not isinstance(operation, str):
            raise TypeError(f"operation must be str, not {_type_name(operation)}")
        if operation not in OPERATIONS:
            raise ValueError(f"operation must be one of {', '.join(OPERATIONS)}, not {operation!r}")
        if isinstance(step, int) and not isinstance(step, bool):
            step = Step(code=step)
        if not isinstance(step, Step):
            raise TypeError(f"step must be a Step or a PAM_* return code, not {_type_name(step)}")
        control = "sufficient" if step.code == 0 else "requisite"  # PAM_SUCCESS is 0 on every PAM
        options = " ".join([f"only={operation}", *step.options()])
        return f"{OPERATIONS[operation]} {control} {self.module} {options}"

    def password_service(
        self,
        name: str,
        *,
        authenticate: StepSpec = None,
        setcred: StepSpec = None,
        acct_mgmt: StepSpec = None,
        chauthtok: StepSpec = None,
        open_session: StepSpec = None,
        close_session: StepSpec = None,
    ) -> str:
        """Write the service *name*: every facility uses the sandbox's
        database, and returns *name*.

        - ``authenticate``: the right password of a user of the database
          logs in; a wrong one fails with ``PAM_AUTH_ERR``, an unknown
          user with ``PAM_USER_UNKNOWN``. The password comes from the
          conversation (a ``PAM_PROMPT_ECHO_OFF`` prompt) unless a module
          before set ``PAM_AUTHTOK``;
        - ``acct_mgmt``: users of the database pass, others get
          ``PAM_USER_UNKNOWN``;
        - ``chauthtok``: asks the current password (wrong:
          ``PAM_AUTH_ERR``), then the new one twice (different, empty or
          with a newline: ``PAM_AUTHTOK_ERR``), and writes the database;
        - ``setcred``, ``open_session``, ``close_session`` succeed.

        Each keyword, named after the handle's method, puts a
        :meth:`line` before that step's password line: a ``PAM_*`` code to
        force it, or a :class:`Step` for a delay, a message or both.

        :raises ValueError: *name* is empty, ``.`` or ``..``, or has a
            ``/`` or a NUL.
        """
        name = _check_service(name)
        steps = {
            "authenticate": authenticate,
            "setcred": setcred,
            "acct_mgmt": acct_mgmt,
            "chauthtok": chauthtok,
            "open_session": open_session,
            "close_session": close_session,
        }
        own = f"{self.module} db={_encode(self.database)}"
        lines = []
        for facility in _FACILITIES:
            for operation, step in steps.items():
                if OPERATIONS[operation] == facility and step is not None:
                    lines.append(self.line(operation, step))
            lines.append(f"{facility} required {own}")
        self._write_service(name, "\n".join(lines) + "\n")
        return name

    def service(self, name: str, text: str) -> str:
        """Write *text* as the service file *name* and return *name*.

        The text is a stack as in ``/etc/pam.d``, dedented; module names
        are left as written, so PAM resolves them as it always does (a
        bare name in its own module directory). ``{sandbox}`` stands for
        the kit's module with the sandbox's database (the password module
        of :meth:`password_service`), ``{sandbox_module}`` for the
        module's path alone.

        OpenPAM reads every facility of a service when the transaction
        starts, and fails there if one is missing: on OpenPAM the
        facilities *text* leaves out are filled with a line that refuses
        with ``PAM_PERM_DENIED``, so that the service starts.

        :raises ValueError: *name* is empty, ``.`` or ``..``, or has a
            ``/`` or a NUL; *text* has a NUL.
        """
        name = _check_service(name)
        text = _checked_str(text, "text")
        if "\0" in text:
            raise ValueError("text must not contain a NUL character")
        text = textwrap.dedent(text).strip("\n") + "\n"
        if "{sandbox" in text:
            text = text.replace("{sandbox}", f"{self.module} db={_encode(self.database)}")
            text = text.replace("{sandbox_module}", self.module)
        if implementation == "OpenPAM":
            present = {line.split()[0].lstrip("-") for line in text.splitlines()
                       if line.strip() and not line.lstrip().startswith("#")}
            for facility in _FACILITIES:
                if facility not in present:
                    text += f"{facility} required {self.module} ret={_check_code('PAM_PERM_DENIED')}\n"
        self._write_service(name, text)
        return name

    def _write_service(self, name: str, text: str) -> None:
        (self._confdir / name).write_text(text, encoding="utf-8")

    # -- the process's default

    @contextlib.contextmanager
    def activate(self) -> Iterator["Sandbox"]:
        """Make the sandbox the policy of every transaction this process
        starts without a ``confdir``, until the block ends.

        Under it, :class:`~draxoft.auth.pam.handle`,
        :func:`~draxoft.auth.pam.authenticate`,
        :class:`~draxoft.auth.pam.resident` and
        :mod:`~draxoft.auth.pam.aio`'s ``handle`` and ``authenticate``,
        started in any thread of this process without ``confdir``, read
        :attr:`confdir` instead of the system's policy: for applications
        that never pass one. An explicit ``confdir=`` still wins.
        Activations nest (the innermost wins) and each one's end restores
        what was before it.

        Only code in this process can activate a sandbox: no environment
        variable, file or anything else from outside the process does, so
        nothing a caller of a setuid program could set reaches it.

        :raises NotImplementedError: this PAM cannot start a transaction
            with a confdir.
        """
        if "confdir" not in extensions:
            raise NotImplementedError("activate() needs confdir, which this PAM lacks")
        token = object()
        with _lock:
            _active.append((token, self.confdir))
            _check.sandbox_confdir = self.confdir
        try:
            yield self
        finally:
            with _lock:
                _active[:] = [entry for entry in _active if entry[0] is not token]
                _check.sandbox_confdir = _active[-1][1] if _active else None


def _check_code(name: str) -> int:
    """The value of the ``PAM_*`` constant *name* in this build."""
    from .. import _constants

    value: int = getattr(_constants, name)
    return value
