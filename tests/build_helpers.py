"""Helpers for tests/test_build_chain.py: copies of the source tree, clean
environments, fresh venvs and a probe of an installed draxoft.auth.

Everything here runs real commands (git, sh ./configure, pip, python) and
never touches the developer's tree: builds happen in copies under tmp.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

#: The top of the source tree (the directory holding configure.ac).
ROOT = Path(__file__).resolve().parent.parent

@functools.lru_cache(maxsize=None)
def setup_module() -> Any:
    """The tree's setup.py as a module (it builds only when run as a
    script), so that tests use its parsers rather than copies of them."""
    spec = importlib.util.spec_from_file_location("draxoft_setup", ROOT / "setup.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def installed_package_under_test(root: Path = ROOT) -> bool:
    """Does the suite test an installed package (as when a distro tests what
    it built) rather than root's own Python sources?"""
    import importlib.util
    try:
        spec = importlib.util.find_spec("draxoft.auth.pam")  # found, not imported
    except ImportError:
        return False
    if spec is None or spec.origin is None:
        return False
    return not Path(spec.origin).resolve().is_relative_to((root / "draxoft").resolve())


def stale_extension_problem(root: Path = ROOT) -> str | None:
    """Why the importable ``_pamlow`` was not built from root's swig/ and
    config.h, or None when it was.

    The suite runs the Python sources it finds first (the tree's, when run
    from the repository root) with the extension that was built: both must
    come from the same sources.
    """
    if not (root / "config.h").exists():
        return f"{root}/config.h is missing: run ./configure && pip install . first"
    try:
        from draxoft.auth import _pamlow
    except ImportError as error:
        return f"draxoft.auth._pamlow cannot be imported ({error}): run ./configure && pip install . first"
    built = getattr(_pamlow, "PAMLOW_SOURCE_DIGEST", None)
    wanted = setup_module().source_digest(root)
    if built != wanted:
        return (f"{_pamlow.__file__} was built from other sources than {root}/swig and config.h "
                f"(digest {built}, the tree's is {wanted}): rebuild with pip install .")
    return None


#: Longest any single command may take before the test fails instead of hanging.
COMMAND_TIMEOUT = 600

#: Variables that would change what configure or the compiler does, or which
#: interpreter and packages a build sees; none may leak in from the caller.
_LEAKY_VARIABLES = (
    "CC", "CPP", "CFLAGS", "CPPFLAGS", "LDFLAGS", "LIBS", "PYTHON",
    "CONFIG_SITE", "CONFIG_SHELL",
    "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE",
    "PIP_USER", "PIP_TARGET", "PIP_PREFIX", "PIP_REQUIRE_VIRTUALENV",
    "PIP_NO_BUILD_ISOLATION", "PIP_CACHE_DIR", "PIP_NO_CACHE_DIR",
)

#: Files that configure or a build writes into the tree, and which a copy
#: made without git must therefore leave out.
_BUILD_OUTPUTS = (
    "config.h", "pamlow.cfg", "config.status", "config.log", "autom4te.cache",
    "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", ".git", ".venv",
    "_pamlow.py", "*.so",
)

#: Run inside a venv by :func:`probe_install`; prints one JSON object.
_PROBE = r"""
import importlib, json, sys
from draxoft.auth import _pamlow, pam
ext = importlib.import_module("draxoft.auth.__pamlow")
print(json.dumps({
    "prefix": sys.prefix,
    "pamlow_file": _pamlow.__file__,
    "extension_file": ext.__file__,
    "pam_file": pam.__file__,
    "names": sorted(dir(_pamlow)),
    "int_constants": {n: v for n, v in vars(_pamlow).items()
                      if n.startswith("PAM_") and type(v) is int},
    "extensions": list(_pamlow.pamlow_extensions()),
    "implementation": _pamlow.pamlow_implementation(),
}))
"""


class CommandFailed(AssertionError):
    """A command exited with an unexpected status; the message has its output."""


def run(
    cmd: Sequence[str | os.PathLike[str]],
    *,
    cwd: Path,
    env: Mapping[str, str],
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run cmd with stdout and stderr merged into ``.stdout``.

    With check, a non-zero exit raises :class:`CommandFailed` carrying the
    command, its directory and the tail of what it printed.
    """
    argv = [os.fspath(c) for c in cmd]
    proc = subprocess.run(
        argv, cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        timeout=COMMAND_TIMEOUT, check=False,
    )
    if check and proc.returncode != 0:
        raise CommandFailed(
            f"command failed with status {proc.returncode}: {argv}\n"
            f"in {cwd}\n--- output (last 8000 characters) ---\n{proc.stdout[-8000:]}"
        )
    return proc


def clean_env(pip_cache: Path, *, path_prefix: Path | None = None) -> dict[str, str]:
    """The caller's environment without build-changing variables.

    pip is quiet, asks nothing, keeps its cache in pip_cache and does not
    look for a newer pip. path_prefix (a venv's bin directory) goes first on
    PATH, as if that venv were activated.
    """
    env = {k: v for k, v in os.environ.items()
           if k not in _LEAKY_VARIABLES and not k.startswith("ac_cv_")}
    env.update(
        PIP_CACHE_DIR=str(pip_cache),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
        PIP_NO_WARN_SCRIPT_LOCATION="1",
        PYTHONDONTWRITEBYTECODE="1",
        LC_ALL="C",
    )
    if path_prefix is not None:
        env["PATH"] = f"{path_prefix}{os.pathsep}{env.get('PATH', os.defpath)}"
    return env


def source_files() -> list[str]:
    """The project's files, relative to ROOT: tracked ones plus new files
    that are not ignored (so uncommitted work is built too).

    Needs a git work tree; :func:`copy_source_tree` does without one.
    """
    proc = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True, timeout=COMMAND_TIMEOUT,
    )
    names = [n for n in proc.stdout.decode("utf-8", "surrogateescape").split("\0") if n]
    # --cached also lists files deleted in the work tree but not yet in git.
    return [n for n in names if os.path.lexists(ROOT / n)]


def _is_git_work_tree() -> bool:
    """True if ROOT is inside a git work tree and git is there to ask."""
    if shutil.which("git") is None:
        return False
    proc = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--is-inside-work-tree"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, check=False,
    )
    return proc.returncode == 0 and proc.stdout.strip() == "true"


def copy_source_tree(dest: Path) -> Path:
    """Copy the source tree into dest (created; must not exist) and return it.

    In a git work tree, exactly the files of :func:`source_files` are copied,
    modes and symlinks kept; otherwise the tree less its build outputs.
    """
    if not _is_git_work_tree():
        shutil.copytree(ROOT, dest, symlinks=True,
                        ignore=shutil.ignore_patterns(*_BUILD_OUTPUTS))
        return dest
    dest.mkdir(parents=True)
    for name in source_files():
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target, follow_symlinks=False)
    return dest


def make_venv(path: Path, env: Mapping[str, str]) -> Path:
    """Create a fresh venv (with pip) at path from the running interpreter;
    return its python."""
    run([sys.executable, "-m", "venv", path], cwd=path.parent, env=env)
    python = path / "bin" / "python"
    assert python.exists(), f"python -m venv made no {python}"
    return python


def probe_install(python: Path, env: Mapping[str, str], cwd: Path) -> dict[str, Any]:
    """Import draxoft.auth._pamlow and pam with python, in isolated mode from
    cwd (a directory outside any source tree), and report what it found."""
    proc = run([python, "-I", "-c", _PROBE], cwd=cwd, env=env)
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def parse_pamlow_cfg(path: Path) -> dict[str, str]:
    """pamlow.cfg as a dict, read by setup.py's own parser."""
    return setup_module().parse_cfg(path)


def config_h_defines(path: Path) -> dict[str, str]:
    """The macros a generated config.h defines, with their values."""
    defined: dict[str, str] = {}
    for match in re.finditer(r"^#define\s+(\w+)(?:[ \t]+(.*?))?\s*$", path.read_text(), re.M):
        defined[match.group(1)] = match.group(2) or ""
    return defined


def is_inside(path: str | Path, directory: Path) -> bool:
    """True if path (after resolving symlinks) lies under directory."""
    return Path(path).resolve().is_relative_to(directory.resolve())
