"""pamlow_secret_bytes: a secret as a bytearray its holder can wipe.

The isolated transactions (draxoft/auth/pam/isolation.py) send passwords
to their worker in such a bytearray; a str is encoded exactly as every
str that the low layer hands to PAM (UTF-8, surrogate escapes turned
back into the bytes they stand for).
"""

from __future__ import annotations

from typing import Any

import pytest

from draxoft.auth import _pamlow as low


@pytest.mark.parametrize("value, expected", [
    ("", b""),
    ("wonderland", b"wonderland"),
    ("pässwörd", "pässwörd".encode()),
    ("\udcff\udc80", b"\xff\x80"),
    (b"raw\xff", b"raw\xff"),
    (bytearray(b"\0binary\0"), b"\0binary\0"),
])
def test_secret_bytes(value: Any, expected: bytes) -> None:
    result = low.pamlow_secret_bytes(value)
    assert type(result) is bytearray and result == expected
    assert result is not value


@pytest.mark.parametrize("value", [None, 5, ["pw"], memoryview(b"pw")])
def test_secret_bytes_refuses_other_types(value: Any) -> None:
    with pytest.raises(TypeError, match="a secret must be str, bytes or bytearray"):
        low.pamlow_secret_bytes(value)


def test_secret_bytes_refuses_unencodable_text() -> None:
    with pytest.raises(UnicodeEncodeError):
        low.pamlow_secret_bytes("\ud800")
