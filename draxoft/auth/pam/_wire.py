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


def _encode(value: Any, out: bytearray) -> None:
    if value is None:
        out += b"N"
    elif value is True:
        out += b"T"
    elif value is False:
        out += b"F"
    elif isinstance(value, int):
        out += b"i"
        out += _INT.pack(value)
    elif isinstance(value, str):
        data = value.encode("utf-8", "surrogatepass")
        out += b"s"
        out += _LEN.pack(len(data))
        out += data
    elif isinstance(value, (bytes, bytearray, memoryview)):
        out += b"b"
        out += _LEN.pack(len(value))
        out += value
    elif isinstance(value, (list, tuple)):
        out += b"l"
        out += _LEN.pack(len(value))
        for item in value:
            _encode(item, out)
    else:  # a bug of ours, not of the peer
        raise TypeError(f"cannot send {type(value).__name__}")


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
    frame = bytearray(4)
    try:
        _encode(list(values), frame)
        _LEN.pack_into(frame, 0, len(frame) - 4)
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
