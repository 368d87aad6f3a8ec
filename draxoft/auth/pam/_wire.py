"""The messages between an application and its isolated PAM workers.

A message is a list of plain values, sent as one frame over a stream
socket: four bytes of length (big endian), then the values, each a tag
byte and its body. Only None, bools, ints, str, bytes and lists travel:
nothing is ever unpickled, so a worker that a module has taken over can
make the application read wrong values at worst, never run code.

Byte strings arrive as ``bytearray`` and every frame is built and read in
a ``bytearray`` that is wiped once used: conversation answers (passwords)
cross here, and no copy of them may linger on either side.
"""

from __future__ import annotations

import socket
import struct
from typing import Any, Optional

__all__ = ["WireError", "recv", "send", "wipe"]

# A frame larger than this is a broken or hostile peer, not a message:
# the largest honest one is a module's message or a caller's answer.
MAX_FRAME = 64 * 1024 * 1024

_LEN = struct.Struct(">I")
_INT = struct.Struct(">q")


class WireError(Exception):
    """The peer sent something that is not a message, or hung up."""


def wipe(buffer: Optional[bytearray]) -> None:
    """Overwrite *buffer* with zeros (a no-op for None)."""
    if buffer:
        buffer[:] = bytes(len(buffer))


def _size(value: Any) -> int:
    """The encoded length of *value*: the frame is allocated once, at its
    size, since a bytearray that grows leaves its old buffers to the
    allocator unwiped."""
    if value is None or value is True or value is False:
        return 1
    if isinstance(value, int):
        return 1 + 8
    if isinstance(value, str):
        return 1 + 4 + len(value.encode("utf-8", "surrogatepass"))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return 1 + 4 + len(value)
    if isinstance(value, (list, tuple)):
        return 1 + 4 + sum(_size(item) for item in value)
    raise TypeError(f"cannot send {type(value).__name__}")  # a bug of ours, not of the peer


def _put(value: Any, frame: bytearray, pos: int) -> int:
    """Write *value* into *frame* at *pos*; return the position after it."""
    if value is None:
        frame[pos] = 0x4E  # N
        return pos + 1
    if value is True or value is False:
        frame[pos] = 0x54 if value else 0x46  # T, F
        return pos + 1
    if isinstance(value, int):
        frame[pos] = 0x69  # i
        _INT.pack_into(frame, pos + 1, value)
        return pos + 9
    if isinstance(value, (list, tuple)):
        frame[pos] = 0x6C  # l
        _LEN.pack_into(frame, pos + 1, len(value))
        pos += 5
        for item in value:
            pos = _put(item, frame, pos)
        return pos
    if isinstance(value, str):  # names and the like: never a secret
        frame[pos] = 0x73  # s
        value = value.encode("utf-8", "surrogatepass")
    else:
        frame[pos] = 0x62  # b
    _LEN.pack_into(frame, pos + 1, len(value))
    pos += 5
    frame[pos:pos + len(value)] = value
    return pos + len(value)


def _decode(frame: bytearray, pos: int, depth: int) -> tuple[Any, int]:
    if depth > 8:
        raise WireError("message nested too deeply")
    try:
        tag = frame[pos]
        pos += 1
        if tag == 0x4E:  # N
            return None, pos
        if tag == 0x54:  # T
            return True, pos
        if tag == 0x46:  # F
            return False, pos
        if tag == 0x69:  # i
            return _INT.unpack_from(frame, pos)[0], pos + 8
        (n,) = _LEN.unpack_from(frame, pos)
        pos += 4
        if tag == 0x6C:  # l
            items = []
            for _ in range(min(n, len(frame))):
                item, pos = _decode(frame, pos, depth + 1)
                items.append(item)
            if len(items) != n:
                raise WireError("truncated list")
            return items, pos
        end = pos + n
        if end > len(frame):
            raise WireError("truncated string")
        if tag == 0x73:  # s
            with memoryview(frame) as view:
                return str(view[pos:end], "utf-8", "surrogatepass"), end
        if tag == 0x62:  # b
            # Through a view: slicing the frame itself would make a copy
            # that nobody wipes.
            with memoryview(frame) as view:
                return bytearray(view[pos:end]), end
    except (IndexError, struct.error, UnicodeDecodeError) as e:
        raise WireError(f"malformed message: {e}") from None
    raise WireError(f"unknown tag {tag:#x}")


def send(sock: socket.socket, *values: Any) -> None:
    """Send one message; the frame that held it is wiped afterwards."""
    message = list(values)
    size = _size(message)
    frame = bytearray(4 + size)
    try:
        _LEN.pack_into(frame, 0, size)
        _put(message, frame, 4)
        sock.sendall(frame)
    finally:
        wipe(frame)


def _read_exactly(sock: socket.socket, n: int) -> bytearray:
    buffer = bytearray(n)
    view = memoryview(buffer)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:])
        if k == 0:
            wipe(buffer)
            raise WireError("the peer hung up")
        got += k
    view.release()
    return buffer


def recv(sock: socket.socket) -> list[Any]:
    """Read one message (a list). The frame is wiped once decoded; byte
    strings in it come as bytearrays for the reader to wipe.

    :raises WireError: end of stream or a malformed frame.
    :raises OSError, TimeoutError: as the socket raises them.
    """
    header = _read_exactly(sock, 4)
    (n,) = _LEN.unpack(header)
    if n > MAX_FRAME:
        raise WireError(f"frame of {n} bytes")
    frame = _read_exactly(sock, n)
    try:
        value, end = _decode(frame, 0, 0)
    finally:
        wipe(frame)
    if end != n or not isinstance(value, list) or not value:
        raise WireError("malformed message")
    return value
