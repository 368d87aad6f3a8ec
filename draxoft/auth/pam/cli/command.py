"""``pam-tester`` (``python -m draxoft.auth.pam``): check a PAM stack by hand.

It takes pamtester's command line and gives pamtester's output and exit
status, so that an administrator who knows one knows the other::

    pam-tester [-v] [-I item=value] [-E var=value] service user operation...

and adds ``--confdir``, ``--responses``, ``--print-env``, ``--timing``, and
``--spawn PROGRAM ARG...`` with the ``run`` step, which runs a program as
the user inside the transaction (a minimal su/login).
Exit status: 0 when every operation succeeded, 1 at the first failure (the
later operations are not run), 2 for a usage error, 130 on Ctrl-C; with
``--spawn``, the program's status when every operation succeeded.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import time
from dataclasses import dataclass
from typing import Any, NoReturn, Optional, Sequence

from draxoft.auth import pam

from .conversation import Conversation, ConversationFailed, LineConversation, TerminalConversation, emit
from .flags import FLAG_NAMES, FlagError, parse_flags
from .program import Programs, exit_status

__all__ = ["PROG", "Operation", "OPERATIONS", "ITEMS", "UsageError", "main"]

#: The name in every message; pamtester's messages start with "pamtester:".
PROG = "pam-tester"

#: Exit status for a usage error (pamtester uses 1 or 255: the one
#: deliberate difference).
EXIT_USAGE = 2
EXIT_FAILURE = 1
#: 128 + SIGINT, what a shell reports for a program stopped by Ctrl-C.
EXIT_INTERRUPTED = 130

# What pam_putenv says when asked to unset a name that is not set; the
# binding reports the same where PAM lacks the code.
PAM_BAD_ITEM: int = getattr(pam, "PAM_BAD_ITEM", pam.PAM_SYSTEM_ERR)


@dataclass(frozen=True)
class Operation:
    """One operation of the command line and the PAM call behind it."""

    #: The name :meth:`draxoft.auth.pam.handle.call` takes.
    name: str
    #: What is printed when it succeeds (pamtester's words).
    done: str


#: The operations, by lower-case name.
OPERATIONS: dict[str, Operation] = {
    op.name: op
    for op in (
        Operation("authenticate", "successfully authenticated"),
        Operation("acct_mgmt", "account management done."),
        Operation("open_session", "successfully opened a session"),
        Operation("close_session", "session has successfully been closed."),
        Operation("chauthtok", "authentication token altered successfully."),
        Operation("setcred", "credential info has successfully been set."),
    )
}

#: The step that runs the ``--spawn`` program (not a PAM call).
RUN = Operation("run", "")

#: What ``--spawn`` does when no operation is given: a whole login.
LOGIN_STEPS = (
    "authenticate",
    "acct_mgmt",
    "setcred(PAM_ESTABLISH_CRED)",
    "open_session",
    "run",
    "close_session",
    "setcred(PAM_DELETE_CRED)",
)

#: ``-I`` item names (pamtester's) -> attribute of :class:`draxoft.auth.pam.handle`.
ITEMS = {
    "service": "service",
    "user": "user",
    "prompt": "user_prompt",
    "tty": "tty",
    "ruser": "ruser",
    "rhost": "rhost",
}

_SPEC = re.compile(r"\s*(?P<name>[^\s()]+)\s*(?:\((?P<flags>.*)\))?\s*", re.DOTALL)


class UsageError(Exception):
    """A command line that cannot be run; the message is one line."""


@dataclass(frozen=True)
class Step:
    """An operation as written on the command line, with its flags."""

    written: str  # the name as typed, for -v (pamtester echoes it so)
    operation: Operation
    flags: int


def parse_step(spec: str) -> Step:
    """Read ``name`` or ``name(flags)``; names and flags in any case.

    :raises UsageError: an unknown operation or flag, or a malformed spec.
    """
    match = _SPEC.fullmatch(spec)
    if match is None:
        if "(" in spec and ")" not in spec:
            raise UsageError(f"malformed operation {spec!r}: the flags need a closing ')'")
        raise UsageError(f"malformed operation {spec!r}: write NAME or NAME(FLAGS)")
    name = match.group("name")
    flags = match.group("flags")
    if name.lower() == RUN.name:
        if flags is not None:
            raise UsageError(f"operation {spec!r}: run takes no flags")
        return Step(name, RUN, 0)
    operation = OPERATIONS.get(name.lower())
    if operation is None:
        raise UsageError(f"unknown operation {name!r} (operations: {', '.join(OPERATIONS)}, {RUN.name})")
    try:
        value = parse_flags(flags) if flags is not None else 0
    except FlagError as error:
        raise UsageError(f"operation {spec!r}: {error}") from None
    return Step(name, operation, value)


def parse_item(text: str) -> tuple[str, str]:
    """Read ``-I item=value`` into (handle attribute, value)."""
    name, sep, value = text.partition("=")
    if not sep:
        raise UsageError(f"-I {text!r}: write ITEM=VALUE")
    attribute = ITEMS.get(name.lower())
    if attribute is None:
        raise UsageError(f"-I {text!r}: unknown item {name!r} (items: {', '.join(ITEMS)})")
    return attribute, value


def parse_env(text: str) -> tuple[str, Optional[str]]:
    """Read ``-E var=value`` into (name, value); ``-E var`` unsets var (value None)."""
    name, sep, value = text.partition("=")
    if not name or "\0" in name:
        raise UsageError(f"-E {text!r}: write NAME=VALUE (or NAME to unset it)")
    if not sep and "unsetenv" not in pam.extensions:
        # OpenPAM's pam_putenv takes only NAME=value: there is no call to
        # make, so say so before PAM is touched.
        raise UsageError(
            f"-E {text!r}: {pam.implementation or 'this PAM'} cannot unset environment variables "
            f"(write {name}= to set it empty)"
        )
    return name, (value if sep else None)


class _Parser(argparse.ArgumentParser):
    """argparse with errors on one line, raised rather than printed."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _parser() -> _Parser:
    parser = _Parser(
        prog=PROG,
        usage=f"{PROG} [options] service user operation[(flags)]...",
        description=(
            "Run PAM operations for a user through a service's stack and report each "
            "result, like pamtester(1). Also run as: python -m draxoft.auth.pam."
        ),
        epilog=(
            f"operations: {', '.join(OPERATIONS)}, {RUN.name} (runs the --spawn program). "
            f"flags, combined with | & ^ ~ and parentheses: {', '.join(FLAG_NAMES)} "
            "(or numbers), e.g. 'authenticate(PAM_SILENT|PAM_DISALLOW_NULL_AUTHTOK)'. "
            f"items: {', '.join(ITEMS)}. "
            "Exit status: 0 if every operation succeeded, 1 at the first failure "
            "(later operations are not run), 2 for a usage error, 130 on Ctrl-C; with "
            "--spawn, the program's status if every operation succeeded. "
            "Prompts are asked on the terminal, or answered from the lines of standard "
            "input when it is not a terminal (as pamtester does) or of --responses FILE."
        ),
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="say what is being done")
    parser.add_argument(
        "-I", "--item", action="append", default=[], metavar="ITEM=VALUE",
        help=f"set a PAM item before the operations ({', '.join(ITEMS)})",
    )
    parser.add_argument(
        "-E", "--env", action="append", default=[], metavar="VAR=VALUE",
        help="set a PAM environment variable before the operations (VAR alone unsets it)",
    )
    parser.add_argument(
        "--confdir", metavar="DIR",
        help="use the service files of DIR instead of the system's policy (pam_start_confdir)",
    )
    parser.add_argument(
        "--responses", metavar="FILE",
        help="answer prompts with the lines of FILE, in order ('-': standard input, "
        "which is the default unless it is a terminal)",
    )
    parser.add_argument(
        "--print-env", action="store_true",
        help="print the PAM environment (NAME=value lines) after the operations; "
        "unless run by root, authenticate clears it (the binding's rule)",
    )
    parser.add_argument(
        "--timing", action="store_true", help="print how long each operation took (to stderr)"
    )
    # Only for --help: parse_args() takes the words after --spawn itself.
    parser.add_argument(
        "--spawn", nargs="+", metavar=("PROGRAM", "ARG"),
        help="the program that the run step starts as USER, in the PAM environment; every "
        "word after --spawn belongs to it, so it comes last. Without operations: "
        + " ".join(LOGIN_STEPS),
    )
    parser.add_argument("service", help="the PAM service (its stack is used)")
    parser.add_argument("user", help="the user to operate on")
    # Options may also follow the operations (pamtester would take them for
    # operations and fail): "... open_session --print-env" just works.
    parser.add_argument(
        "operations", nargs="*", metavar="operation",
        help="what to do, in order: NAME or NAME(FLAGS), names below",
    )
    return parser


@dataclass
class Request:
    """Everything the command line asks for, checked."""

    service: str
    user: str
    steps: list[Step]
    items: list[tuple[str, str]]
    env: list[tuple[str, Optional[str]]]
    confdir: Optional[str]
    responses: Optional[str]
    verbose: bool
    print_env: bool
    timing: bool
    #: The ``--spawn`` program and its arguments, or None.
    program: Optional[list[str]] = None


def parse_args(argv: Sequence[str]) -> Request:
    """Check the whole command line before PAM is touched.

    :raises UsageError: anything pamtester would reject or stumble on.
    """
    words, program = _split_program(list(argv))
    args = _parser().parse_intermixed_args(words)
    if program is not None and not args.operations:
        args.operations = list(LOGIN_STEPS)
    if not args.operations:
        raise UsageError("no operation given (operations: " + ", ".join(OPERATIONS) + ")")
    if not args.service:
        # PAM would quietly use "other"; the library refuses it too.
        raise UsageError("the service name is empty")
    steps = [parse_step(spec) for spec in args.operations]
    runs = any(step.operation is RUN for step in steps)
    if runs and program is None:
        raise UsageError("the run step needs a program: --spawn PROGRAM [ARG...], last on the line")
    if program is not None and not runs:
        raise UsageError("--spawn needs a run step among the operations (or no operation: a whole login)")
    if args.confdir is not None:
        if "confdir" not in pam.extensions:
            raise UsageError("--confdir needs pam_start_confdir, which this PAM lacks")
        if not os.path.isdir(args.confdir):
            raise UsageError(f"--confdir {args.confdir!r}: not a directory")
    return Request(
        service=args.service,
        user=args.user,
        steps=steps,
        items=[parse_item(text) for text in args.item],
        env=[parse_env(text) for text in args.env],
        confdir=args.confdir,
        responses=args.responses,
        verbose=args.verbose,
        print_env=args.print_env,
        timing=args.timing,
        program=program,
    )


def _split_program(argv: list[str]) -> tuple[list[str], Optional[list[str]]]:
    """The words before ``--spawn`` and the program after it (None without)."""
    for i, word in enumerate(argv):
        if word == "--":
            break  # what follows is positional
        if word == "--spawn" or word.startswith("--spawn="):
            program = ([word.split("=", 1)[1]] if "=" in word else []) + argv[i + 1:]
            if not program or not program[0]:
                raise UsageError("--spawn needs a program: --spawn PROGRAM [ARG...]")
            return argv[:i], program
    return argv, None


def say(text: str, stream: Any = None) -> None:
    """Print one ``pam-tester: ...`` line (stdout unless *stream*)."""
    emit(stream or sys.stdout, f"{PROG}: {text}\n")


def _reason(error: pam.PamError) -> str:
    """PAM's text for a failure, as pamtester prints it (pam_strerror)."""
    return error.strerror or f"PAM error {error.errno}"


def _conversation(request: Request) -> tuple[Conversation, Optional[int]]:
    """The conversation to use, and a file descriptor to close afterwards."""
    if request.responses is None or request.responses == "-":
        if os.isatty(0):
            return TerminalConversation(), None
        return LineConversation(0), None
    if os.path.isdir(request.responses):  # opens fine, then fails every read
        raise UsageError(f"--responses {request.responses!r}: is a directory")
    try:
        fd = os.open(request.responses, os.O_RDONLY)
    except OSError as error:
        raise UsageError(f"--responses {request.responses!r}: {error.strerror}") from None
    return LineConversation(fd), fd


def _invoke(h: pam.handle, step: Step) -> int:
    """Run one operation with exactly the flags written; its return code.

    The flags go to PAM as they are, as pamtester passes them: the
    keyword methods of the handle cannot say, for instance,
    ``setcred(PAM_SILENT)`` without a credential flag. A conversation that
    failed (:class:`ConversationFailed`, or any error of the terminal) has
    told the module ``PAM_CONV_ERR``; what the module made of it is the
    operation's return code.
    """
    try:
        return h.call(step.operation.name, step.flags)
    except ConversationFailed:
        return h.status
    except Exception as error:  # noqa: BLE001 - any failure of the terminal
        # The default conversation broke (the terminal, the encoding of what
        # was typed): say why, then report the module's verdict as usual.
        say(f"conversation failed: {error}", sys.stderr)
        return h.status


def _set_env(h: pam.handle, name: str, value: Optional[str]) -> None:
    """``-E``: set, or unset, as pamtester does through pam_putenv."""
    env: Any = h.environment  # takes bytes names too, for any encoding
    if value is not None:
        env[os.fsencode(name)] = os.fsencode(value)
        return
    try:
        del env[os.fsencode(name)]
    except KeyError:
        # pam_putenv("NAME") of an unset name: PAM_BAD_ITEM, as pamtester reports.
        raise pam.PamError.from_code(PAM_BAD_ITEM) from None


def run(request: Request) -> int:
    """Run the transaction; the exit status."""
    conv, fd = _conversation(request)
    try:
        return _transaction(request, conv)
    finally:
        if fd is not None:
            os.close(fd)


def _transaction(request: Request, conv: Conversation) -> int:
    if request.verbose:
        where = f", {request.confdir}" if request.confdir is not None else ""
        call = "pam_start_confdir" if request.confdir is not None else "pam_start"
        say(f"invoking {call}({request.service}, {request.user}, ...{where})", sys.stderr)
    try:
        # Bytes, so that arguments in any encoding reach PAM unchanged.
        h = pam.handle(os.fsencode(request.service), os.fsencode(request.user), conv, confdir=request.confdir)
    except (pam.PamError, FileNotFoundError):
        # pamtester's words for any pam_start failure (typically: no file for
        # the service and no "other" either, which the binding reports as
        # FileNotFoundError).
        say("Initialization failure", sys.stderr)
        return EXIT_FAILURE
    with h:
        # The binding clears the environment after authenticate() unless
        # the handle is elevated, which only root may ask for; pamtester
        # never clears it, and root is who runs it.
        if os.geteuid() == 0:
            h.elevated = True
        try:
            for attribute, value in request.items:
                setattr(h, attribute, os.fsencode(value))
            for name, env_value in request.env:
                _set_env(h, name, env_value)
        except pam.PamError as error:
            say(_reason(error), sys.stderr)
            return EXIT_FAILURE
        programs = Programs(request.program) if request.program is not None else None
        status = 0
        try:
            for step in request.steps:
                if request.verbose:
                    say(f"performing operation - {step.written}", sys.stderr)
                if step.operation is RUN:
                    assert programs is not None  # parse_args saw to it
                    outcome = _run_program(h, programs)
                    if outcome is None:
                        status = EXIT_FAILURE
                        break
                    status = outcome
                    continue
                start = time.perf_counter()
                rc = _invoke(h, step)
                if request.timing:
                    took = (time.perf_counter() - start) * 1000
                    say(f"{step.operation.name} took {took:.3f} ms", sys.stderr)
                if rc != pam.PAM_SUCCESS:
                    say(_reason(pam.PamError.from_code(rc)), sys.stderr)
                    status = EXIT_FAILURE
                    break
                say(step.operation.done)
        finally:
            if programs is not None:
                programs.restore()
        if request.print_env:
            for name, value in h.environment.items():
                emit(sys.stdout, f"{name}={value}\n")
        if programs is not None and programs.received is not None:
            # Asked to stop while the program ran: the session is closed
            # now; end as the signal would have ended us.
            return 128 + programs.received
        return status


def _run_program(h: pam.handle, programs: Programs) -> Optional[int]:
    """The run step: the program's exit status, or None when it could not
    start (the reason is printed)."""
    try:
        returncode = programs.run(h)
    except OSError as error:
        where = f"{os.fsdecode(error.filename)}: " if error.filename is not None else ""
        say(f"run: {where}{error.strerror or error}", sys.stderr)
        return None
    except (KeyError, ValueError) as error:  # no account for the user
        say(f"run: {error.args[0] if error.args else error}", sys.stderr)
        return None
    name = programs.argv[0]
    if returncode < 0:
        say(f"{name} was killed by {signal.Signals(-returncode).name}")
    else:
        say(f"{name} exited with status {returncode}")
    return exit_status(returncode)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; return the exit status (the console script's entry)."""
    try:
        request = parse_args(sys.argv[1:] if argv is None else argv)
        return run(request)
    except UsageError as error:
        emit(sys.stderr, f"{PROG}: {error} (see {PROG} --help)\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        # A clean line for the shell's prompt, no traceback.
        emit(sys.stderr, "\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (| head): stop quietly, and keep Python from
        # complaining when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILURE
