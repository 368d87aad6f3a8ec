"""Checks of what callers pass, in the caller's words.

Every public entry point checks its arguments here, once, before anything
reaches the low layer, so that a mistake is reported with the name the
caller used and with one message whichever entry point finds it. The low
layer keeps its own guards, which only code that bypasses this one meets.
"""

from __future__ import annotations

import errno
import os
import re
from typing import Any, Optional, Union

from ._constants import extensions

# A str crosses to PAM as UTF-8 with surrogateescape: only the surrogates
# U+DC80..U+DCFF (escaped bytes) survive that; any other cannot be encoded.
# Found by a search rather than by encoding, which would leave an unwiped
# copy of a password behind.
_UNENCODABLE = re.compile("[\ud800-\udc7f\udd00-\udfff]")

#: The range of a C int (PAM flags and return codes) and the largest C
#: unsigned int (pam_fail_delay's microseconds).
INT_MIN = -(2**31)
INT_MAX = 2**31 - 1
UINT_MAX = 2**32 - 1

TEXT_TYPES = (str, bytes, bytearray)

#: What the low layer takes as a C string.
Text = Union[str, bytes, bytearray]


def _type_name(value: object) -> str:
    return "None" if value is None else type(value).__name__


def text(value: Any, name: str, *, optional: bool = False) -> Optional[Text]:
    """Check a string argument for PAM and return it unchanged.

    :raises TypeError: not str, bytes or bytearray (None too unless
        *optional*).
    :raises ValueError: a NUL byte, or a surrogate that UTF-8 cannot carry.
    """
    if value is None and optional:
        return None
    if not isinstance(value, TEXT_TYPES):
        allowed = "str, bytes, bytearray or None" if optional else "str, bytes or bytearray"
        raise TypeError(f"{name} must be {allowed}, not {_type_name(value)}")
    if isinstance(value, str):
        if "\0" in value:
            raise ValueError(f"{name} must not contain a NUL character")
        if _UNENCODABLE.search(value):
            raise ValueError(f"{name} contains a surrogate character that cannot be encoded in UTF-8")
    elif b"\0" in value:
        raise ValueError(f"{name} must not contain a NUL character")
    checked: Text = value  # older mypy does not narrow Any through the isinstance above
    return checked


def service(value: Any) -> Text:
    """Check a service name: a string, and not empty (PAM would quietly
    take an empty name for a service that has no file, and use "other")."""
    checked = text(value, "service")
    assert checked is not None
    if not checked:
        raise ValueError("service must not be empty")
    return checked


def boolean(value: Any, name: str) -> bool:
    """Check a True-or-False argument; truthy stand-ins are refused."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, not {_type_name(value)}")
    return value


def flag(value: Any, name: str) -> bool:
    """Check an operation's flag argument: True or False only.

    A PAM flag constant is an int, and so is True: were ints accepted,
    ``h.authenticate(PAM_DISALLOW_NULL_AUTHTOK)`` would quietly mean
    ``silent=True`` and skip the check it asks for.
    """
    if isinstance(value, bool):
        return value
    raise TypeError(
        f"{name} must be True or False, not {_type_name(value)}: operation methods take "
        f"each flag as a bool ({name}=True); PAM_* flag values go to handle.call(operation, flags)"
    )


def integer(value: Any, name: str, low: int, high: int) -> int:
    """Check an int argument (bool excluded) against a closed range.

    :raises TypeError: not an int, or a bool.
    :raises ValueError: outside ``low..high``.
    """
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be int, not {_type_name(value)}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, not {value}")
    return value


def timeout(value: Any, isolated: Any) -> Optional[float]:
    """Check *isolated* (a bool) and *timeout* (None, or seconds > 0 given
    with isolated=True: only a worker process can be stopped when it runs
    out). Returns the timeout as a float, or None."""
    isolated = boolean(isolated, "isolated")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"timeout must be a number of seconds or None, not {_type_name(value)}")
    if not value > 0 or value == float("inf"):
        raise ValueError(f"timeout must be a positive number of seconds, not {value!r}")
    if not isolated:
        raise ValueError(
            "timeout needs isolated=True: a PAM call in this process cannot be stopped, "
            "only a worker process can be killed"
        )
    return float(value)


def callback(value: Any, name: str) -> Any:
    """Check a callback argument: callable or None."""
    if value is not None and not callable(value):
        raise TypeError(f"{name} must be callable or None, not {_type_name(value)}")
    return value


#: The confdir of the innermost active draxoft.auth.pam.testing sandbox,
#: which its activate() sets: what a transaction started without confdir
#: uses. Only code of this process sets it (no environment variable or
#: file does), and every entry point reads it here, through confdir().
sandbox_confdir: Optional[str] = None


def confdir(value: Any) -> Optional[str]:
    """Check a *confdir* argument and return it as a str path, or None.

    None stands for the system's policy, unless a test kit sandbox is
    active (:meth:`draxoft.auth.pam.testing.Sandbox.activate`): then it
    stands for that sandbox's directory.

    Whether the directory exists is asked only once PAM has failed to
    start (:func:`confdir_problem`): a check on every transaction would
    cost two system calls for an answer PAM gives anyway.

    :raises TypeError: not a path.
    :raises ValueError: a NUL character in it.
    :raises NotImplementedError: this PAM has no ``pam_start_confdir``.
    """
    if value is None:
        return sandbox_confdir
    if "confdir" not in extensions:
        raise NotImplementedError("confdir needs pam_start_confdir, which this PAM lacks")
    if not isinstance(value, (str, bytes, os.PathLike)):
        raise TypeError(f"confdir must be str, bytes, os.PathLike or None, not {_type_name(value)}")
    path = os.fsdecode(os.fspath(value))
    if "\0" in path:
        raise ValueError("confdir must not contain a NUL character")
    return path


def confdir_problem(path: str) -> Optional[OSError]:
    """Why PAM could not start with the checked *path* as its confdir, when
    the reason is the directory itself; PAM only says "Critical error -
    immediate abort" (PAM_ABORT) then."""
    if not os.path.exists(path):
        return FileNotFoundError(errno.ENOENT, "confdir: no such directory", path)
    if not os.path.isdir(path):
        return NotADirectoryError(errno.ENOTDIR, "confdir: not a directory", path)
    return None
