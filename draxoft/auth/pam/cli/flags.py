"""Flag expressions of the command line: ``authenticate(PAM_SILENT|PAM_DISALLOW_NULL_AUTHTOK)``.

pamtester's syntax: flag names (any case) and decimal numbers, combined
with ``|``, ``&``, ``^`` and unary ``~``, with C's precedence (``~``, then
``&``, then ``^``, then ``|``). This parser also takes parentheses for
grouping, hexadecimal numbers and ``PAM_DELETE_CRED``. What pamtester
silently accepts although it is malformed (a dangling operator, ``~`` after
a value) is an error here.
"""

from __future__ import annotations

import re
from typing import Iterator

from draxoft.auth import pam

__all__ = ["FLAG_NAMES", "FlagError", "parse_flags"]

#: The flags an operation may be given, by name. pamtester knows all but
#: PAM_DELETE_CRED, which is here so that ``setcred(PAM_DELETE_CRED)`` works.
FLAG_NAMES = (
    "PAM_SILENT",
    "PAM_DISALLOW_NULL_AUTHTOK",
    "PAM_ESTABLISH_CRED",
    "PAM_DELETE_CRED",
    "PAM_REINITIALIZE_CRED",
    "PAM_REFRESH_CRED",
    "PAM_CHANGE_EXPIRED_AUTHTOK",
)

# Flags are a C int: what is written may be given as a signed or an
# unsigned 32-bit value.
_INT_MIN = -(2**31)
_UINT_MAX = 2**32 - 1

_NUMBER = re.compile(r"[+-]?(?:(?P<hex>0[xX][0-9a-fA-F]+)|[0-9]+)")
_TOKEN = re.compile(r"\s*(?:(?P<op>[|&^~()])|(?P<word>[^\s|&^~()]+))")


class FlagError(ValueError):
    """A flag expression that cannot be read; the message says why."""


def _flag_values() -> dict[str, int]:
    """Upper-case flag name -> value, from this PAM's headers."""
    return {name: getattr(pam, name) for name in FLAG_NAMES if hasattr(pam, name)}


def _tokens(text: str) -> Iterator[str]:
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:  # pragma: no cover - the pattern matches any non-blank
            raise FlagError(f"cannot read flags at {text[pos:]!r}")
        yield match.group("op") or match.group("word")
        pos = match.end()


class _Parser:
    """Recursive descent over the tokens, one method per precedence level."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = list(_tokens(text))
        self.pos = 0
        self.names = _flag_values()

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise FlagError(f"flags {self.text!r} end too early")
        self.pos += 1
        return token

    def parse(self) -> int:
        if not self.tokens:
            return 0  # "authenticate()": no flags, as in pamtester
        value = self.union()
        if self.peek() is not None:
            raise FlagError(f"unexpected {self.peek()!r} in flags {self.text!r}")
        return value

    def binary(self, operator: str, operand: str) -> int:
        value: int = getattr(self, operand)()
        while self.peek() == operator:
            self.take()
            value = self.combine(operator, value, getattr(self, operand)())
        return value

    @staticmethod
    def combine(operator: str, left: int, right: int) -> int:
        if operator == "|":
            return left | right
        if operator == "^":
            return left ^ right
        return left & right

    def union(self) -> int:
        return self.binary("|", "exclusive")

    def exclusive(self) -> int:
        return self.binary("^", "intersection")

    def intersection(self) -> int:
        return self.binary("&", "unary")

    def unary(self) -> int:
        if self.peek() == "~":
            self.take()
            return ~self.unary()
        return self.atom()

    def atom(self) -> int:
        token = self.take()
        if token == "(":
            value = self.union()
            if self.peek() != ")":
                raise FlagError(f"missing ')' in flags {self.text!r}")
            self.take()
            return value
        if token in ("|", "&", "^", "~", ")"):
            raise FlagError(f"unexpected {token!r} in flags {self.text!r}")
        return self.word(token)

    def word(self, token: str) -> int:
        if token.upper() in self.names:
            return self.names[token.upper()]
        number = _NUMBER.fullmatch(token)
        if number is None:
            known = ", ".join(sorted(self.names, key=FLAG_NAMES.index))
            raise FlagError(f"unknown flag {token!r} (known flags: {known})")
        # Decimal as in pamtester, leading zeros included ("010" is ten).
        value = int(token, 16 if number.group("hex") else 10)
        if not _INT_MIN <= value <= _UINT_MAX:
            raise FlagError(f"flag value {token} does not fit in 32 bits")
        return value


def parse_flags(text: str) -> int:
    """The value of a flag expression, as the C ``int`` that PAM gets.

    :raises FlagError: an unknown name, a number out of range, or an
        expression that is not well formed.
    """
    value = _Parser(text).parse() & _UINT_MAX
    # Back to a signed int, as C would see the bits ("~PAM_SILENT" < 0).
    return value - 2**32 if value > 2**31 - 1 else value
