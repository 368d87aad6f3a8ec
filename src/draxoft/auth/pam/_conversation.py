"""The default conversation: prompts on the controlling terminal."""

from __future__ import annotations

import contextlib
import getpass
import sys
from typing import IO, Any, Callable, Iterator, Union

from ._constants import constant

#: What a conversation callback may answer with.
Response = Union[str, bytes, bytearray, None]

#: ``conv(style, message, data) -> response``
ConvCallback = Callable[[int, Any, Any], Response]

#: ``delay(rc, usec, data)``
DelayCallback = Callable[[int, int, Any], object]

PAM_PROMPT_ECHO_OFF = constant("PAM_PROMPT_ECHO_OFF", 1)
PAM_PROMPT_ECHO_ON = constant("PAM_PROMPT_ECHO_ON", 2)
PAM_ERROR_MSG = constant("PAM_ERROR_MSG", 3)
PAM_TEXT_INFO = constant("PAM_TEXT_INFO", 4)
PAM_RADIO_TYPE = constant("PAM_RADIO_TYPE", -1)
PAM_BINARY_PROMPT = constant("PAM_BINARY_PROMPT", -2)


@contextlib.contextmanager
def _terminal() -> Iterator[tuple[IO[str], IO[str]]]:
    """The controlling terminal for reading and writing, or stdin/stderr without one."""
    try:
        tty = open("/dev/tty", "r+", encoding="utf-8", errors="surrogateescape")
    except OSError:
        yield sys.stdin, sys.stderr
        return
    with tty:
        yield tty, tty


def _ask(prompt: str) -> str:
    """Read one echoed line from the terminal, as for a user name."""
    with _terminal() as (reader, writer):
        writer.write(prompt)
        writer.flush()
        line = reader.readline()
    if not line:
        raise EOFError("no answer to PAM prompt: end of input")
    return line.rstrip("\n")


def _conv_callback(style: int, message: Any, data: Any) -> Response:
    """Talk to the user at the terminal on behalf of PAM.

    Echo-off prompts (passwords) are read without echo, echo-on and radio
    prompts are read with echo, error messages go to stderr and
    informational ones to stdout. Binary prompts get no answer. Ctrl-C
    raises :class:`KeyboardInterrupt`, which the PAM operation re-raises.
    """
    if style == PAM_PROMPT_ECHO_OFF:
        return getpass.getpass(message)
    if style in (PAM_PROMPT_ECHO_ON, PAM_RADIO_TYPE):
        return _ask(message)
    if style == PAM_ERROR_MSG:
        print(message, file=sys.stderr, flush=True)
        return None
    if style == PAM_TEXT_INFO:
        print(message, flush=True)
        return None
    return None
