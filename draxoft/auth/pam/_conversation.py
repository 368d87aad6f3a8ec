"""The default conversation: prompts on the controlling terminal."""

from __future__ import annotations

import contextlib
import sys
import termios
from typing import Any, BinaryIO, Callable, Iterator, TextIO, Union

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


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


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
                tty.write(_encode(prompt))
                line = _readline(tty)
            if not echo:
                tty.write(b"\n")  # the user's Enter was not echoed
    if not line:
        raise EOFError("end of input at a PAM prompt")
    return _decode(line.rstrip(b"\n").rstrip(b"\r"))


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
        buffer.write(_encode(text) + b"\n")
        buffer.flush()
    else:
        stream.write(text.encode("utf-8", "surrogateescape").decode("utf-8", "replace") + "\n")
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
