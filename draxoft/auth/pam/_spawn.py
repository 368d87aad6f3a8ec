"""handle.spawn(): start a program as the handle's user, in its PAM environment.

Everything that makes the child the user (supplementary groups, group,
user, environment, working directory) is handed to ``subprocess.Popen``
as its ``extra_groups=``, ``group=``, ``user=``, ``env=`` and ``cwd=``
arguments, which the child applies between ``fork`` and ``exec``. No Python
code runs in the child (no ``preexec_fn``), so a parent with threads is
safe, and the parent keeps its own identity: it is the one that closes
the session afterwards.
"""

from __future__ import annotations

import errno
import os
import pwd
import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence, Union

from ._text import StrOrBytes

if TYPE_CHECKING:
    from ._handle import handle

__all__ = ["DEFAULT_PATH", "DEFAULT_ROOT_PATH", "Args", "Plan", "check_options", "plan", "spawn"]

#: ``PATH`` for an ordinary user when PAM did not set one (as login(1) does).
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
#: ``PATH`` for uid 0 when PAM did not set one.
DEFAULT_ROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

#: What a program to run may be: a path, or a sequence of the program
#: and its arguments (as ``subprocess.Popen`` takes them, in the list form).
_Word = Union[StrOrBytes, "os.PathLike[str]", "os.PathLike[bytes]"]
Args = Union[_Word, Sequence[_Word]]

# Popen arguments that spawn() decides itself: giving them would run the
# program as someone else than the user, or run Python code in the child.
_DECIDED = ("user", "group", "preexec_fn")

# Linux capability numbers (linux/capability.h) that switching users needs.
_CAP_SETGID = 6
_CAP_SETUID = 7


def check_options(options: Mapping[str, Any]) -> None:
    """Refuse the ``subprocess.Popen`` arguments that spawn() sets itself.

    :raises TypeError: *user*, *group* or *preexec_fn* given, or an *env*
        that is not a mapping of str or bytes.
    """
    taken = [name for name in _DECIDED if name in options]
    if taken:
        raise TypeError(
            "spawn() runs the program as the handle's user and sets "
            + ", ".join(taken)
            + " itself; change the handle's user item instead"
            + (" (preexec_fn is not safe in a threaded parent)" if "preexec_fn" in taken else "")
        )
    env = options.get("env")
    if env is not None:
        if not isinstance(env, Mapping):
            raise TypeError(f"env must be a mapping of variables or None, not {type(env).__name__}")
        for name, value in env.items():
            if not isinstance(name, (str, bytes)) or not isinstance(value, (str, bytes)):
                raise TypeError(
                    f"env holds str or bytes names and values, not {name!r}: {value!r}"
                )


def _can_switch_users() -> bool:
    """Whether this process may take another uid and gid: root, or (Linux)
    a process holding CAP_SETUID and CAP_SETGID."""
    if os.geteuid() == 0:
        return True
    try:
        # Bytes: no codec to import, which a process that has just given
        # up root may no longer be able to read.
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"CapEff:"):
                    caps = int(line.split()[1], 16)
                    return bool(caps >> _CAP_SETUID & 1 and caps >> _CAP_SETGID & 1)
    except (OSError, ValueError, IndexError):
        pass
    return False


@dataclass(frozen=True)
class Plan:
    """Who the child becomes and where: what spawn() gives Popen."""

    #: The passwd entry of the handle's user.
    account: pwd.struct_passwd
    #: The complete environment of the child.
    env: dict[str, str]
    #: Its working directory.
    cwd: _Word
    #: ``user=``, ``group=``, ``extra_groups=`` for Popen; empty when the
    #: program runs as the caller, who already is the user (a caller's
    #: ``extra_groups`` then stays among the options).
    switch: dict[str, Any]


def plan(h: handle, options: Mapping[str, Any]) -> Plan:
    """Look the handle's user up and work out the child's identity,
    environment and directory. *options* are the caller's Popen arguments,
    already checked by :func:`check_options` (their ``env`` and ``cwd``
    count).

    :raises ValueError: the handle is closed, or its user item is not set.
    :raises KeyError: the user has no passwd entry.
    :raises PermissionError: this process may not become that user.
    """
    name = h.user
    if name is None:
        raise ValueError("spawn() needs the handle's user item, which is not set: authenticate first")
    try:
        account = pwd.getpwnam(name)
    except KeyError:
        raise KeyError(f"the handle's user {name!r} has no account on this system") from None
    except ValueError:  # a NUL byte can only come from a module
        raise KeyError(f"the handle's user {name!r} is not a valid account name") from None

    if account.pw_uid == os.getuid() == os.geteuid():
        switch: dict[str, Any] = {}  # already the user, with the groups we have
    elif _can_switch_users():
        groups = options.get("extra_groups")
        if groups is None:
            # What initgroups() would give: the groups that list the user,
            # plus the primary group.
            groups = os.getgrouplist(account.pw_name, account.pw_gid)
        switch = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": groups}
    else:
        raise PermissionError(
            errno.EPERM,
            f"cannot start a program as {account.pw_name!r} (uid {account.pw_uid}): "
            f"this process (uid {os.geteuid()}) may only start programs as itself; run it as root",
        )

    env = {
        "HOME": account.pw_dir,
        "USER": account.pw_name,
        "LOGNAME": account.pw_name,
        "SHELL": account.pw_shell or "/bin/sh",
        "PATH": DEFAULT_ROOT_PATH if account.pw_uid == 0 else DEFAULT_PATH,
    }
    extra = options.get("env")
    if extra is not None:
        env.update({os.fsdecode(k): os.fsdecode(v) for k, v in extra.items()})
    env.update(h.environment)  # the modules' word is final

    cwd = options.get("cwd")
    if cwd is None:
        cwd = account.pw_dir if os.path.isdir(account.pw_dir) else "/"
    return Plan(account, env, cwd, switch)


def start(h: handle, args: Args, options: Mapping[str, Any]) -> subprocess.Popen[Any]:
    """Start *args* as planned by :func:`plan`; *options* already checked."""
    planned = plan(h, options)
    popen = dict(options)
    popen.update(planned.switch, env=planned.env, cwd=planned.cwd)
    return subprocess.Popen(args, **popen)


def spawn(h: handle, args: Args, **options: Any) -> subprocess.Popen[Any]:
    """What :meth:`handle.spawn` does (see its docstring)."""
    check_options(options)
    return start(h, args, options)

