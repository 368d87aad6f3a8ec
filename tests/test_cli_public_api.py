"""pam-tester (draxoft.auth.pam.cli) uses only the public API of the library.

Read from the sources with :mod:`ast`, without running them: any import of
an underscore module or name of draxoft (``_pamlow``, ``.._handle``,
``pam._conv_callback``) fails, and so does any underscore attribute of an
object other than ``self`` (``h._status``; the cli needs no one else's).
The cli's own modules may import each other freely.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CLI = Path(__file__).resolve().parent.parent / "draxoft" / "auth" / "pam" / "cli"
PACKAGE = "draxoft.auth.pam.cli"


def _private(dotted: str) -> bool:
    """Whether a dotted name has a part with a leading underscore (dunders aside)."""
    return any(part.startswith("_") and not part.endswith("__") for part in dotted.split("."))


def _absolute(module: str | None, level: int, package: str) -> str:
    """The absolute module of ``from <dots><module> import ...`` in *package*."""
    if level == 0:
        return module or ""
    base = package.split(".")
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, module] if module else base)


def violations(source: str, package: str = PACKAGE, filename: str = "<source>") -> list[str]:
    """Each use of a private name of draxoft in *source*, as ``line: what``."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("draxoft") and _private(alias.name):
                    found.append(f"{node.lineno}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(node.module, node.level, package)
            own = module == package or module.startswith(package + ".")
            if not module.startswith("draxoft") or own:
                continue
            if _private(module):
                found.append(f"{node.lineno}: from {module} import ...")
            found += [f"{node.lineno}: from {module} import {a.name}" for a in node.names if _private(a.name)]
        elif isinstance(node, ast.Attribute):
            is_self = isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")
            if _private(node.attr) and not is_self:
                found.append(f"{node.lineno}: .{node.attr}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            # getattr(pam, "_x") reaches a private name as surely as pam._x.
            if node.func.id in ("getattr", "hasattr", "setattr") and len(node.args) >= 2:
                name = node.args[1]
                if isinstance(name, ast.Constant) and isinstance(name.value, str) and _private(name.value):
                    found.append(f"{node.lineno}: {node.func.id}(..., {name.value!r})")
    return found


def cli_sources() -> list[Path]:
    return sorted(CLI.glob("*.py"))


def test_the_cli_package_is_there() -> None:
    names = {path.name for path in cli_sources()}
    assert {"__init__.py", "__main__.py"} <= names and len(names) >= 4, names


@pytest.mark.parametrize("path", cli_sources(), ids=lambda p: p.name)
def test_the_cli_uses_no_private_name_of_the_library(path: Path) -> None:
    assert violations(path.read_text(encoding="utf-8"), filename=str(path)) == []


@pytest.mark.parametrize(
    "source",
    [
        "from draxoft.auth import _pamlow",
        "import draxoft.auth._pamlow",
        "from draxoft.auth._pamlow import pam_end",
        "from draxoft.auth.pam import _conv_callback",
        "from draxoft.auth.pam._handle import handle",
        "from .. import _constants",
        "from .._errors import PamError",
        "from ... import _pamlow",
        "from draxoft.auth import pam\npam._conv_callback",
        "def f(h):\n    return h._operation(1, 0)",
        "def f(h):\n    return h._status",
        "getattr(pam, '_constants')",
    ],
)
def test_the_check_catches(source: str) -> None:
    assert violations(source) != [], source


@pytest.mark.parametrize(
    "source",
    [
        "from draxoft.auth import pam\npam.handle\npam.PAM_SUCCESS\npam.__name__",
        "from .. import handle, PamError",
        "from .conversation import emit",
        "from .flags import _helper",  # the cli's own modules
        "from . import _own",
        "class C:\n    def f(self):\n        return self._x",
        "from __future__ import annotations",
    ],
)
def test_the_check_lets_pass(source: str) -> None:
    assert violations(source) == [], source
