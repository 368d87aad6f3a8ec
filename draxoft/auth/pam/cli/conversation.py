"""The conversations of the command line.

Two of them. On a terminal, the binding's default conversation
(:func:`draxoft.auth.pam.default_conversation`), which
:class:`TerminalConversation` adapts. Otherwise (input from a pipe
or a ``--responses`` file), :class:`LineConversation`, which behaves like
Linux-PAM's ``misc_conv``, the conversation of pamtester, so that a script
sees the same output from either tool.
"""

from __future__ import annotations

import os
import sys
from typing import IO, Any, Callable, Optional, Union

from draxoft.auth import pam

__all__ = [
    "Answer", "Conversation", "ConversationFailed", "LineConversation", "TerminalConversation", "emit", "show_message",
]

#: What a conversation may answer (see :attr:`draxoft.auth.pam.handle.conv`).
Answer = Union[str, bytes, bytearray, None]

#: ``conv(style, message, data) -> answer``, as :class:`draxoft.auth.pam.handle` takes it.
Conversation = Callable[[int, Any, Any], Answer]

# Linux-PAM's alone; elsewhere no message has this style.
PAM_BINARY_PROMPT: Optional[int] = getattr(pam, "PAM_BINARY_PROMPT", None)

# misc_conv reads at most this many bytes per answer (PAM_MISC_CONV_BUFSIZE
# less the NUL); a longer line is split across prompts, here too.
_MAX_ANSWER = 4095


class ConversationFailed(Exception):
    """Raised in a conversation to make PAM see ``PAM_CONV_ERR``.

    The handle re-raises it from the operation; the command line then
    reports the code that the operation returned.
    """


def emit(stream: IO[str], text: str) -> None:
    """Write *text* to a standard stream, byte for byte, and flush.

    PAM messages reach Python decoded with ``surrogateescape``; encoding
    them back the same way gives the module's exact bytes, whatever the
    locale (a strict stdout would raise on them instead).
    """
    stream.flush()
    buffer = getattr(stream, "buffer", None)
    if buffer is None:  # a replaced stream (io.StringIO): text is all it takes
        stream.write(text.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
        stream.flush()
        return
    buffer.write(text.encode("utf-8", "surrogateescape"))
    buffer.flush()


def show_message(style: int, message: str) -> bool:
    """Print an error (stderr) or informational (stdout) message, as misc_conv does.

    :returns: whether *style* was one of those two.
    """
    if style == pam.PAM_ERROR_MSG:
        emit(sys.stderr, f"{message}\n")
        return True
    if style == pam.PAM_TEXT_INFO:
        emit(sys.stdout, f"{message}\n")
        return True
    return False


class LineConversation:
    """Answers prompts with lines read from a file descriptor, as misc_conv does.

    Every prompt, echoed or not, is written to stderr and takes the next
    line (without its newline; an answer stops at a NUL byte, as a C
    string would). At end of input the answer is "no response" (NULL), not
    a failure. Informational messages go to stdout and error messages to
    stderr, each with a newline. A binary prompt, or a style this
    conversation does not know (such as a radio prompt), fails the whole
    conversation, the latter with the line ``erroneous conversation (N)``.
    """

    def __init__(self, fd: int) -> None:
        """Read answers from *fd* (0 for standard input, or an opened file)."""
        self.fd = fd

    def _readline(self) -> tuple[bytes, bool]:
        """One answer and whether input ended before its newline.

        Byte by byte, so that nothing past the line is consumed: a
        module's helper may read the same standard input afterwards.
        """
        data = bytearray()
        while len(data) < _MAX_ANSWER:
            chunk = os.read(self.fd, 1)
            if not chunk:
                return bytes(data), True
            data += chunk
            if chunk == b"\n":
                return bytes(data[:-1]), False
        return bytes(data), True

    def _prompt(self, message: str, echo: bool) -> Optional[bytes]:
        emit(sys.stderr, message)
        try:
            line, unterminated = self._readline()
        except OSError as error:
            if echo:
                emit(sys.stderr, "\n")
            raise ConversationFailed(f"cannot read an answer: {error.strerror}") from error
        # Without a terminal, the user's newline was not echoed: misc_conv
        # supplies one after an echoed prompt whose answer lacked it.
        if unterminated and echo:
            emit(sys.stderr, "\n")
        if unterminated and not line:
            return None
        return line.split(b"\0", 1)[0]

    def __call__(self, style: int, message: Any, data: Any) -> Answer:
        """Handle one PAM message; see the class documentation."""
        if style == pam.PAM_PROMPT_ECHO_OFF:
            return self._prompt(message, echo=False)
        if style == pam.PAM_PROMPT_ECHO_ON:
            return self._prompt(message, echo=True)
        if show_message(style, message):
            return None
        if style == PAM_BINARY_PROMPT:
            raise ConversationFailed("binary prompts are not supported")
        emit(sys.stderr, f"erroneous conversation ({style})\n")
        raise ConversationFailed(f"unknown message style {style}")


class TerminalConversation:
    """The default conversation at the terminal, with two changes.

    Messages are written byte for byte (see :func:`emit`), and the end of
    input (Ctrl-D) at a prompt answers "no response", as in misc_conv,
    instead of ending the program.
    """

    def __call__(self, style: int, message: Any, data: Any) -> Answer:
        """Handle one PAM message; prompts go to the default conversation."""
        if show_message(style, message):
            return None
        try:
            return pam.default_conversation(style, message, data)
        except EOFError:
            return None
