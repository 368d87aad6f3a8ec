"""The package type-checks, and so does a program that uses it (py.typed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

USER_PROGRAM = '''
from typing import Any, Optional, Union
from draxoft.auth import pam

def answer(style: int, message: Any, data: Any) -> Union[str, None]:
    return "pw" if style == pam.PAM_PROMPT_ECHO_OFF else None

def main() -> bool:
    ok: bool = pam.authenticate("alice", bytearray(b"pw"), "login", rhost="192.0.2.1")
    with pam.handle("login", "alice", answer, confdir="/tmp") as h:
        h.rhost = "192.0.2.1"
        ok = h.authenticate(silent=True)
        h.acct_mgmt()
        env: dict[str, str] = dict(h.environment)
        user: Optional[str] = h.user
        pair: Optional[tuple[str, bytes]] = h.xauthdata
    try:
        pass
    except pam.PamError as e:
        code: Optional[int] = e.errno
    impl: Optional[str] = pam.implementation
    exts: frozenset[str] = pam.extensions
    return ok
'''


PACKAGE = Path(__file__).resolve().parents[1] / "draxoft"


def run_mypy(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        check=False,
    )


def test_sources_pass_mypy_strict(tmp_path: Path) -> None:
    # The sources, with the low layer's stub and the constants stub that
    # the installed build generated.
    import os

    import draxoft.auth._pamlow

    # The stub is written next to the extension by the build, which need
    # not be where the Python sources under test are.
    stub = Path(draxoft.auth._pamlow.__file__).parent / "pam" / "_constants.pyi"
    assert stub.is_file()
    tree = tmp_path / "src"
    import shutil

    shutil.copytree(PACKAGE, tree / "draxoft", ignore=shutil.ignore_patterns("__pycache__", "*.so", "_pamlow.py"))
    shutil.copy(stub, tree / "draxoft" / "auth" / "pam" / "_constants.pyi")
    env = dict(os.environ, MYPYPATH=str(tree))
    done = run_mypy("--explicit-package-bases", "-p", "draxoft.auth.pam", "--no-site-packages", cwd=tree, env=env)
    assert done.returncode == 0, done.stdout + done.stderr


def test_user_program_type_checks(tmp_path: Path) -> None:
    (tmp_path / "prog.py").write_text(USER_PROGRAM)
    done = run_mypy("prog.py", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_type_error_in_a_user_program_is_caught(tmp_path: Path) -> None:
    # The check above would pass vacuously if the package were seen as untyped.
    (tmp_path / "bad.py").write_text("from draxoft.auth import pam\nx: int = pam.handle\n")
    done = run_mypy("bad.py", cwd=tmp_path)
    assert done.returncode == 1
    assert "Incompatible types in assignment" in done.stdout
