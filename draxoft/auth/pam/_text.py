"""How text crosses between Python and PAM.

PAM deals in C strings of unknown encoding. Going in, ``str`` is encoded as
UTF-8 (by the low layer) and ``bytes`` pass as they are; coming out, bytes
are decoded as UTF-8 with ``surrogateescape``, so that a name or prompt in
another encoding survives a round trip byte for byte.
"""

from __future__ import annotations

from typing import Optional, Union

StrOrBytes = Union[str, bytes]


def decode(value: Optional[bytes]) -> Optional[str]:
    """Decode bytes from PAM into str without losing a byte; None stays None."""
    if value is None:
        return None
    return value.decode("utf-8", "surrogateescape")


def encode(value: StrOrBytes) -> bytes:
    """Encode a name or value the way the low layer does."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    return bytes(value)
