"""The suite tests the tree's Python sources with the extension that was
built: both must come from the same sources, or the suite does not start."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from build_helpers import ROOT, copy_source_tree, installed_package_under_test, stale_extension_problem

# A configured tree (config.h) against its build: an installed package has neither.
pytestmark = pytest.mark.source_tree


def stale_copy(tmp_path: Path) -> Path:
    """A configured copy of the tree whose C differs from what was built."""
    tree = copy_source_tree(tmp_path / "tree")
    shutil.copy(ROOT / "config.h", tree / "config.h")
    with open(tree / "swig" / "pamlow_buf.c", "a") as f:
        f.write("/* a change the installed extension was not built from */\n")
    return tree


def test_the_extension_under_test_was_built_from_this_tree() -> None:
    if not installed_package_under_test():
        assert stale_extension_problem(ROOT) is None
    else:  # an installed package: its Python layer and extension side by side
        from draxoft.auth import _pamlow, pam
        assert Path(_pamlow.__file__).parent == Path(pam.__file__).parent.parent


def test_an_installed_package_is_told_from_the_tree(tmp_path: Path) -> None:
    from draxoft.auth import pam
    from_tree = Path(pam.__file__).resolve().is_relative_to((ROOT / "draxoft").resolve())
    assert installed_package_under_test(ROOT) is not from_tree
    assert installed_package_under_test(tmp_path), "another tree's sources are not these"


def test_a_changed_c_source_is_found(tmp_path: Path) -> None:
    problem = stale_extension_problem(stale_copy(tmp_path))
    assert problem is not None and "built from other sources" in problem


def test_a_changed_config_h_is_found(tmp_path: Path) -> None:
    tree = copy_source_tree(tmp_path / "tree")
    (tree / "config.h").write_text((ROOT / "config.h").read_text() + "#define PAMLOW_NEW 1\n")
    assert stale_extension_problem(tree) is not None


def test_the_suite_refuses_to_run_against_a_stale_extension(tmp_path: Path) -> None:
    tree = stale_copy(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "tests/test_versions.py"],
        cwd=tree, capture_output=True, text=True, check=False, timeout=300,
    )
    assert done.returncode == 4, done.stdout + done.stderr
    assert "stale build" in done.stdout + done.stderr
    assert "passed" not in done.stdout
