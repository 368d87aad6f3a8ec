"""handle.environment: a live mapping over the PAM environment."""

from __future__ import annotations

from typing import Any, ContextManager, Iterator, MutableMapping, Protocol

from draxoft.auth import _pamlow

from ._constants import extensions, implementation
from ._errors import PamError, check
from ._text import StrOrBytes, decode, encode

__all__ = ["Environment"]


class _Owner(Protocol):
    """What the mapping needs of its handle; a protocol rather than the
    handle class, so that this module does not import the one that uses it."""

    @property
    def closed(self) -> bool: ...

    def _access(self) -> ContextManager[Any]: ...


def _calls(low: Any) -> Any:
    """The low layer's functions for the handle *low*: those of an
    isolated handle (draxoft/auth/pam/isolation.py) go to its worker."""
    return getattr(low, "api", _pamlow)


def _name(name: object) -> bytes:
    """Check a variable name and return it encoded."""
    if not isinstance(name, (str, bytes)):
        raise TypeError(f"an environment variable name must be str or bytes, not {type(name).__name__}")
    raw = encode(name)
    if not raw or b"=" in raw or b"\0" in raw:
        raise ValueError(f"invalid environment variable name {name!r}: empty, or with '=' or a NUL character")
    return raw


class Environment(MutableMapping[str, str]):
    """The PAM environment of a handle, read and written through PAM.

    Values are strings; anything else assigned is stored as ``str(value)``
    (bytes are taken as they are), except None, which is a TypeError. An
    empty value is a value. It holds a
    reference to its handle, so it is safe to keep; once the handle is
    closed, every access raises ValueError.

    Where PAM cannot delete a variable (``"unsetenv"`` not in
    :data:`extensions`, as on OpenPAM), ``del`` raises TypeError, and the
    scrub after :meth:`handle.authenticate` empties every value instead:
    the names stay, with ``""``, since that is what ``pam_getenvlist``
    hands to the user's programs.
    """

    __slots__ = ("_handle",)

    def __init__(self, owner: _Owner) -> None:
        self._handle = owner

    def _list(self) -> list[bytes]:
        with self._handle._access() as low:
            entries = _calls(low).pam_getenvlist(low)
        if entries is None:  # pam_getenvlist could not allocate
            raise PamError.from_code(_pamlow.PAM_BUF_ERR)
        return [entry.split(b"=", 1)[0] for entry in entries]

    def __getitem__(self, name: str) -> str:
        raw = _name(name)
        with self._handle._access() as low:
            value = _calls(low).pam_getenv(low, raw)
        if value is None:
            raise KeyError(name)
        return decode(value) or ""

    def __setitem__(self, name: str, value: object) -> None:
        raw = _name(name)
        if value is None:
            # str(None) would store "None": surely not what was meant.
            raise TypeError(f"the value of environment variable {name!r} must not be None (del it to unset)")
        data = value if isinstance(value, (str, bytes)) else str(value)
        entry = raw + b"=" + encode(data)
        if b"\0" in entry:
            raise ValueError(f"the value of environment variable {name!r} must not contain a NUL character")
        with self._handle._access() as low:
            rc = _calls(low).pam_putenv(low, entry)
        check(rc)

    def __delitem__(self, name: str) -> None:
        raw = _name(name)
        if "unsetenv" not in extensions:
            raise TypeError(
                f"{implementation or 'this PAM'} cannot delete environment variables "
                "(its pam_putenv takes only NAME=value): assign an empty value instead"
            )
        with self._handle._access() as low:
            if _calls(low).pam_getenv(low, raw) is None:
                raise KeyError(name)
            rc = _calls(low).pam_putenv(low, raw)
        check(rc)

    def __contains__(self, name: object) -> bool:
        raw = _name(name)
        with self._handle._access() as low:
            return _calls(low).pam_getenv(low, raw) is not None

    def __iter__(self) -> Iterator[str]:
        return iter([decode(n) or "" for n in self._list()])

    def __len__(self) -> int:
        return len(self._list())

    def __repr__(self) -> str:
        # Names only: values may be secrets.
        if self._handle.closed:
            return "<PAM environment of a closed handle>"
        return f"<PAM environment: {', '.join(self)}>"
