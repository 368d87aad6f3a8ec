"""Fixtures shared by all draxoft.auth.pam tests.

They build private PAM stacks (for ``pam_start_confdir``) from the compiled
test modules and the system's modules, and never import the binding, so
the raw-layer (``_pamlow``) and the Python-layer tests both use them.
"""

from __future__ import annotations

import itertools
import os
import pwd
import re
import secrets
import signal
from pathlib import Path
from typing import Any, Callable, Iterable

import pytest

import pamstack
from build_helpers import installed_package_under_test, stale_extension_problem

# The test kit's fixture (pam_sandbox). An installed package registers it
# through its pytest11 entry point, under this same name, which makes this
# a no-op; a build tested from PYTHONPATH (the Debian build) has no entry
# point, and this loads it.
pytest_plugins = ["draxoft.auth.pam_pytest_plugin"]


def pytest_configure(config: pytest.Config) -> None:
    """Makes warnings errors even when the suite runs without its ini file,
    and declares the markers of the suite."""
    # A suite started in the background (nohup, "&" in a script) inherits
    # SIGINT ignored, and an ignored signal stays ignored across exec: the
    # children of the Ctrl-C tests would never see their KeyboardInterrupt.
    # A handler, unlike SIG_IGN, is reset to the default by exec.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if "error" not in config.getini("filterwarnings"):
        config.addinivalue_line("filterwarnings", "error")
    config.addinivalue_line(
        "markers",
        "linux_pam(what): the test needs WHAT, which only Linux-PAM has; "
        "skipped on other implementations with that reason",
    )
    # What a packager leaves out, with one expression (README.md, "Tests"):
    #   -m "not network and not source_tree"
    config.addinivalue_line(
        "markers",
        "network: the test needs the network (it installs from PyPI into fresh venvs)",
    )
    config.addinivalue_line(
        "markers",
        "source_tree: the test checks the source tree (configure, docs/, the build "
        "from source), not the installed package",
    )
    config.addinivalue_line("markers", "slow: the test takes a minute or more")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skips ``linux_pam``-marked tests on other PAMs, naming what is missing,
    and tests parametrized with a ``PAM_*`` name this build's headers lack."""
    have = set(pamstack.header_constants())
    lacks = f"{pamstack.implementation()} lacks"
    for item in items:
        callspec = getattr(item, "callspec", None)
        for value in callspec.params.values() if callspec is not None else ():
            if isinstance(value, str) and re.fullmatch(r"PAM_[A-Z0-9_]+", value) and value not in have:
                item.add_marker(pytest.mark.skip(reason=f"{lacks} {value}"))
    if not pamstack.is_openpam():
        return
    for item in items:
        for mark in item.iter_markers("linux_pam"):
            what = mark.args[0] if mark.args else mark.kwargs.get("what", "")
            if not what:
                raise pytest.UsageError(f"{item.nodeid}: linux_pam() must say what it needs")
            item.add_marker(pytest.mark.skip(reason=f"OpenPAM lacks {what}"))


def pytest_sessionstart(session: pytest.Session) -> None:
    """Refuses to test the tree's Python sources against an extension that
    was built from other C sources or another config.h. An installed
    package (a distro's autopkgtest) brings its sources and extension
    together and has no config.h to compare with."""
    problem = None if installed_package_under_test() else stale_extension_problem()
    if problem is not None:
        pytest.exit(f"stale build: {problem}", returncode=4)
    if pamstack.is_openpam():
        problem = openpam_system_policy_problem()
        if problem is not None:
            pytest.exit(problem, returncode=4)


def openpam_system_policy_problem() -> str | None:
    """Why the system policy is unsafe for an OpenPAM build, or None.

    A pam_start without confdir reads /etc/pam.d, /etc/pam.conf and
    /usr/local/etc/pam.{d,conf}: on a Linux machine they name Linux-PAM's
    modules, which crash OpenPAM. scripts/openpam-suite.sh runs the suite
    in a private mount namespace with empty ones mounted over them.
    """
    for place in ("/etc/pam.d", "/etc/pam.conf", "/usr/local/etc/pam.d", "/usr/local/etc/pam.conf"):
        path = Path(place)
        busy = (path.is_dir() and any(path.iterdir())) or (path.is_file() and path.stat().st_size > 0)
        if busy:
            return (
                f"OpenPAM build, but {place} holds a policy (for Linux-PAM's modules, "
                "which crash OpenPAM): run the suite through scripts/openpam-suite.sh, "
                "which hides it in a private mount namespace"
            )
    return None


def _openpam_insecure(path: Path) -> Path | None:
    """The first directory from ``path`` up to / that OpenPAM's ownership
    check (OPENPAM_VERIFY_MODULE_FILE, _POLICY_FILE) refuses, or None."""
    for place in [path, *path.parents]:
        st = place.stat()
        if st.st_uid not in (0, os.geteuid()) or st.st_mode & 0o022:
            return place
    return None


@pytest.fixture(scope="session", autouse=True)
def openpam_safe_basetemp(tmp_path_factory: pytest.TempPathFactory) -> None:
    """On OpenPAM, refuses a temporary directory that OpenPAM would not
    load modules or policies from: every component of the path must belong
    to root or to us and be unwritable by group and others, which /tmp
    (mode 1777) is not. Give ``--basetemp`` a private directory (as
    scripts/openpam-suite.sh does) rather than weakening OpenPAM's check."""
    if not pamstack.is_openpam():
        return
    base = tmp_path_factory.getbasetemp().resolve()
    bad = _openpam_insecure(base)
    if bad is not None:
        pytest.exit(
            f"OpenPAM refuses modules and policies under {bad} (group/other-writable or "
            f"foreign owner); run with --basetemp in a private directory", returncode=4
        )


@pytest.fixture(scope="session")
def pam_modules(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The test modules of ``tests/modules``, compiled once per session.

    Maps the module stem (``pam_pytest``) to its shared object.
    """
    try:
        return pamstack.compile_modules(
            tmp_path_factory.getbasetemp() / "pam-modules"
        )
    except pamstack.PamTestSetupError as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="session")
def pam_pytest_module(pam_modules: dict[str, Path]) -> str:
    """Absolute path of the compiled ``pam_pytest.so``."""
    return str(pam_modules["pam_pytest"])


@pytest.fixture(scope="session")
def module_placeholders(pam_modules: dict[str, Path]) -> dict[str, str]:
    """What ``{name}`` in a stack line stands for.

    ``{pytest}`` and ``{pam_pytest}`` are the compiled pam_pytest.so; every
    other module in ``tests/modules`` is ``{<stem>}``.
    """
    table = {stem: str(path) for stem, path in pam_modules.items()}
    for stem, path in pam_modules.items():
        if stem.startswith("pam_"):
            table.setdefault(stem[len("pam_"):], str(path))
    return table


@pytest.fixture(scope="session")
def system_modules_present() -> None:
    """Fails early, with the reason, when a system module dir is missing."""
    try:
        if pamstack.is_openpam():
            pamstack.openpam_module_dir()
            return
        pamstack.linux_pam_module_dir()
        pamstack.pam_wrapper_module_dir()
    except pamstack.PamTestSetupError as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture
def pam_stack(
    tmp_path: Path,
    module_placeholders: dict[str, str],
    system_modules_present: None,
) -> pamstack.StackFactory:
    """A factory writing a fresh PAM configuration directory.

    ``make(lines, service="pytest")`` writes ``lines`` as the stack of
    ``service``; ``make({"svc1": [...], "svc2": [...]})`` writes several
    services into one directory.  Each call gets its own directory; the
    result is its path as a str, ready for ``pam_start_confdir``.  Module
    names are resolved as :func:`pamstack.resolve_line` describes.
    """
    counter = itertools.count()

    def make(service_lines: pamstack.ServiceLines, service: str = "pytest") -> str:
        confdir = tmp_path / f"pam.d-{next(counter)}"
        try:
            return pamstack.write_confdir(
                confdir, service_lines, service, module_placeholders
            )
        except pamstack.PamUnavailable as missing:
            pytest.skip(str(missing))
        except pamstack.PamTestSetupError as error:
            pytest.fail(str(error), pytrace=False)

    return make


@pytest.fixture
def matrix_passdb(tmp_path: Path) -> Callable[[Iterable[tuple[str, str, str]]], str]:
    """A factory writing a pam_matrix password file; returns its path.

    ``make([("alice", "secret", "pytest")])``; pass the path to pam_matrix
    as ``passdb=PATH``.
    """
    counter = itertools.count()

    def make(entries: Iterable[tuple[str, str, str]]) -> str:
        return pamstack.write_matrix_passdb(
            tmp_path / f"passdb-{next(counter)}", entries
        )

    return make


@pytest.fixture
def unknown_user() -> str:
    """A user name that no passwd entry of this machine has."""

    while True:
        name = "nouser" + secrets.token_hex(6)
        try:
            pwd.getpwnam(name)
        except KeyError:
            return name


def keep_environment(h: object) -> None:
    """Keep the PAM environment through authenticate(), to read what a
    module recorded there.

    As root this is ``h.elevated = True``. Package builds run as a normal
    user, where that is refused by design (tested on its own in
    test_pam_environment.py): there the tests switch the scrubbing off
    through the private flag instead.
    """
    if os.geteuid() == 0:
        h.elevated = True  # type: ignore[attr-defined]
    else:
        h._elevated = True  # type: ignore[attr-defined]


def can_delete_environment() -> bool:
    """Whether this PAM deletes environment variables (``"unsetenv"``).
    Where it cannot (OpenPAM), the scrub after authenticate() leaves every
    name with an empty value instead."""
    from draxoft.auth import pam  # here, not at the top: see the module doc

    return "unsetenv" in pam.extensions


def scrubbed(env: Any, name: str) -> bool:
    """Whether variable *name* of the mapping *env* is as the scrub leaves
    it: gone, or empty where PAM cannot delete."""
    if can_delete_environment():
        return name not in env
    return env.get(name, "") == ""


def all_scrubbed(env: Any) -> bool:
    """Whether the whole mapping *env* is as the scrub leaves it."""
    if can_delete_environment():
        return dict(env) == {}
    return all(value == "" for value in env.values())
