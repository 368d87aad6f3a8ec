"""Throw-away PAM stacks, for trying things out and for tests.

:func:`sandbox` writes PAM service files into a new temporary directory
and returns its path. Give that path as ``confdir=`` to
``pam.handle()`` or ``pam.authenticate()`` and PAM reads its stacks from
there instead of ``/etc/pam.d``: nothing on the system changes and no
root is needed.

The stacks check passwords with ``pam_matrix``, a module for tests that
pam_wrapper ships (Debian and Ubuntu: ``apt-get install libpam-wrapper``;
Fedora: ``dnf install pam_wrapper``). It reads users from a plain text
file, ``user:password:service`` per line, and lets a user in only through
the service named on that user's line. Never use it outside tests.

Example::

    confdir = sandbox(
        {"webapp": '''
            auth     required  {matrix} passdb={passdb}
            account  required  {matrix} passdb={passdb}
        '''},
        users=[("alice", "wonderland", "webapp")],
    )
    pam.authenticate("alice", "wonderland", "webapp", confdir=confdir)
"""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import subprocess
import tempfile
import textwrap
from pathlib import Path
from typing import Iterable, Mapping, Union

__all__ = ["pam_wrapper_module", "sandbox"]


def pam_wrapper_module(name: str = "pam_matrix.so") -> str:
    """The absolute path of one of pam_wrapper's modules.

    PAM finds a module given by a bare name only in its own directory
    (``/usr/lib/x86_64-linux-gnu/security`` on Debian); pam_wrapper's test
    modules live elsewhere, so stack lines name them by their full path.
    """
    places = []
    try:
        found = subprocess.run(
            ["pkg-config", "--variable=modules", "pam_wrapper"],
            capture_output=True, text=True, check=False,
        ).stdout.strip()
    except OSError:  # no pkg-config
        found = ""
    if found:
        places.append(found)
    places += sorted(glob.glob("/usr/lib*/pam_wrapper")
                     + glob.glob("/usr/lib*/*/pam_wrapper"))
    for place in places:
        path = Path(place, name)
        if path.is_file():
            return str(path)
    raise FileNotFoundError(
        f"{name} not found in {places or 'any pam_wrapper directory'}: "
        "install pam_wrapper (Debian, Ubuntu: libpam-wrapper; Fedora: pam_wrapper)"
    )


def sandbox(
    services: Mapping[str, str],
    users: Iterable[tuple[str, str, str]] = (),
    *,
    directory: Union[str, "os.PathLike[str]", None] = None,
) -> str:
    """Write a PAM configuration directory and return its path.

    :param services: the stack of each service, by service name: one
        module per line, as in a file of ``/etc/pam.d``. In the lines,
        ``{matrix}`` and ``{chatty}`` stand for the paths of pam_wrapper's
        ``pam_matrix.so`` and ``pam_chatty.so``, ``{passdb}`` for the
        password file of this directory and ``{dir}`` for the directory
        itself.
    :param users: ``(user, password, service)`` triples for that password
        file, ``<directory>/passdb``.
    :param directory: where to write; by default a new temporary
        directory, removed when the program exits.

    On OpenPAM, which reads all four facilities of a service when the
    transaction starts (and fails there when one has no lines and no
    ``other`` service stands in), the facilities a stack leaves out are
    written as ``pam_deny.so``, unless *services* has an ``other``.
    """
    if directory is None:
        directory = tempfile.mkdtemp(prefix="pam-sandbox-")
        atexit.register(shutil.rmtree, directory, True)
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    passdb = root / "passdb"
    passdb.write_text("".join(f"{user}:{password}:{service}\n"
                              for user, password, service in users))
    for name, stack in services.items():
        text = textwrap.dedent(stack).strip() + "\n"
        for module in ("matrix", "chatty"):
            if "{" + module + "}" in text:
                path = pam_wrapper_module(f"pam_{module}.so")
                text = text.replace("{" + module + "}", path)
        text = text.replace("{passdb}", str(passdb)).replace("{dir}", str(root))
        if "other" not in services:
            text += _missing_facilities(text)
        (root / name).write_text(text)
    return str(root)


def _missing_facilities(text: str) -> str:
    """On OpenPAM, a pam_deny line for each facility *text* lacks."""
    from draxoft.auth import pam

    if pam.implementation != "OpenPAM":
        return ""
    present = {line.split()[0] for line in text.splitlines() if line.strip() and not line.startswith("#")}
    return "".join(f"{kind} required pam_deny.so\n"
                   for kind in ("auth", "account", "password", "session") if kind not in present)
