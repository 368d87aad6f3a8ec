"""The PAM_* constants, implementation and extensions, as the build found them.

Every value is read from the low layer, which took it from the PAM headers
at build time: the numbers differ between implementations (for instance
PAM_USER_UNKNOWN is 10 on Linux-PAM and 13 on OpenPAM).
"""

from __future__ import annotations

from typing import Optional

from draxoft.auth import _pamlow

#: ``"Linux-PAM"``, ``"OpenPAM"``, or None when the build could not tell.
implementation: Optional[str] = _pamlow.pamlow_implementation()

#: The optional features of this build: ``"confdir"`` (handles can use a
#: directory of service files), ``"fail_delay"`` (:meth:`handle.fail_delay`
#: and the ``delay`` callback), ``"unsetenv"`` (``del handle.environment[name]``),
#: and the optional items and message styles the headers define
#: (``"xdisplay"``, ``"xauthdata"``, ``"authtok_type"``, ``"binary_prompt"``,
#: ``"radio_type"``, ``"getenvlist"``).
extensions: frozenset[str] = frozenset(_pamlow.pamlow_extensions())

#: The names of every PAM_* constant this build exports.
names: tuple[str, ...] = tuple(sorted(n for n in dir(_pamlow) if n.startswith("PAM_")))

globals().update((n, getattr(_pamlow, n)) for n in names)

__all__ = ["implementation", "extensions", *names]


def optional(name: str) -> Optional[int]:
    """Return the constant called *name*, or None where this PAM's headers
    lack it (each implementation has names the other has not). There is no
    fallback number: a value that did not come from the headers could be
    another implementation's."""
    value = getattr(_pamlow, name, None)
    assert value is None or isinstance(value, int)
    return value
