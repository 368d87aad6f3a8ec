"""The default conversation: prompts on the controlling terminal."""

from __future__ import annotations

import contextlib
import sys
import termios
from typing import Any, BinaryIO, Callable, Iterator, TextIO, Union

from draxoft.auth import _pamlow

from ._constants import optional
from ._text import decode, encode

#: What a conversation callback may answer with.
Response = Union[str, bytes, bytearray, None]

#: ``conv(style, message, data) -> response``
ConvCallback = Callable[[int, Any, Any], Response]

#: ``delay(rc, usec, data)``
DelayCallback = Callable[[int, int, Any], object]

# The four styles every PAM has; the other two exist only where the
# headers define them (None otherwise, which no message style equals).
PAM_PROMPT_ECHO_OFF: int = _pamlow.PAM_PROMPT_ECHO_OFF
PAM_PROMPT_ECHO_ON: int = _pamlow.PAM_PROMPT_ECHO_ON
PAM_ERROR_MSG: int = _pamlow.PAM_ERROR_MSG
PAM_TEXT_INFO: int = _pamlow.PAM_TEXT_INFO
PAM_RADIO_TYPE = optional("PAM_RADIO_TYPE")
PAM_BINARY_PROMPT = optional("PAM_BINARY_PROMPT")


@contextlib.contextmanager
def _echo_off(fd: int) -> Iterator[None]:
    """Turn the terminal's echo off while reading a secret, and back on.

    Signals stay enabled, so Ctrl-C still raises KeyboardInterrupt.
    """
    old = termios.tcgetattr(fd)
    new = termios.tcgetattr(fd)
    new[3] &= ~(termios.ECHO | termios.ECHONL)
    termios.tcsetattr(fd, termios.TCSAFLUSH, new)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSAFLUSH, old)


def _read_answer(prompt: str, echo: bool) -> str:
    """Prompt on the controlling terminal and read one line of bytes.

    Bytes that are not UTF-8 come back as surrogates, which the binding
    turns into the same bytes again on their way to PAM. Without a
    terminal, the prompt goes to stderr and the line comes from stdin.
    """
    try:
        tty = open("/dev/tty", "r+b", buffering=0)
    except OSError:
        sys.stderr.write(prompt)
        sys.stderr.flush()
        line = sys.stdin.buffer.readline()
    else:
        with tty:
            # Echo goes off before the prompt shows, so that nothing typed
            # after it is echoed or flushed away.
            with contextlib.nullcontext() if echo else _echo_off(tty.fileno()):
                tty.write(encode(prompt))
                line = _readline(tty)
            if not echo:
                tty.write(b"\n")  # the user's Enter was not echoed
    if not line:
        raise EOFError("end of input at a PAM prompt")
    return decode(line.rstrip(b"\n").rstrip(b"\r")) or ""


def _readline(tty: BinaryIO) -> bytes:
    """Read up to the end of the line, one byte at a time (unbuffered)."""
    out = bytearray()
    while True:
        byte = tty.read(1)
        if not byte:
            break
        out += byte
        if byte == b"\n":
            break
    return bytes(out)


def _show(text: str, stream: TextIO) -> None:
    """Write a module's message with its bytes intact, whatever the encoding of stream."""
    buffer = getattr(stream, "buffer", None)
    stream.flush()
    if buffer is not None:
        buffer.write(encode(text) + b"\n")
        buffer.flush()
    else:
        stream.write(encode(text).decode("utf-8", "replace") + "\n")
        stream.flush()


def default_conversation(style: int, message: Any, data: Any) -> Response:
    """Talk to the user at the terminal on behalf of PAM.

    Echo-off prompts (passwords) are read without echo, echo-on and radio
    prompts are read with echo, error messages go to stderr and
    informational ones to stdout. Binary prompts get no answer. Ctrl-C
    raises :class:`KeyboardInterrupt`, which the PAM operation re-raises.
    """
    if style == PAM_PROMPT_ECHO_OFF:
        return _read_answer(message, echo=False)
    if style in (PAM_PROMPT_ECHO_ON, PAM_RADIO_TYPE):
        return _read_answer(message, echo=True)
    if style == PAM_ERROR_MSG:
        _show(message, sys.stderr)
        return None
    if style == PAM_TEXT_INFO:
        _show(message, sys.stdout)
        return None
    return None


# The name of earlier releases, which programs may still use.
_conv_callback = default_conversation
