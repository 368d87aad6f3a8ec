"""Sphinx configuration of the draxoft.auth.pam documentation.

Build from the root of the repository, after installing the package
(autodoc imports the installed one, not the source tree):

    pip install '.[docs]'
    sphinx-build -W -b html docs docs/_build/html
    sphinx-build -W -b doctest docs docs/_build/doctest

The doctest builder runs every example of these pages against real PAM
stacks written into temporary directories (see docs/examples/sandbox.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
EXAMPLES = DOCS / "examples"

sys.path.insert(0, str(DOCS / "_ext"))

try:
    from draxoft.auth import pam  # noqa: F401  (autodoc needs the installed package)
except ImportError as error:  # pragma: no cover - a setup problem, said plainly
    raise RuntimeError(
        f"draxoft.auth.pam cannot be imported ({error}): install it first, "
        "with ./configure && pip install '.[docs]' from the root of the repository"
    ) from error

project = "draxoft.auth.pam"
author = "draxoft developers"
copyright = "draxoft developers"
release = (ROOT / "VERSION").read_text(encoding="utf-8").strip()
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
    "pamdocs",
]

root_doc = "index"
exclude_patterns = ["_build", "examples/__pycache__"]
templates_path: list[str] = []
pygments_style = "sphinx"

# Every cross-reference must resolve (sphinx-build -W makes it an error).
nitpicky = True
nitpick_ignore = [
    ("py:class", "os.PathLike"),
    ("py:class", "PathLike"),
    # Type aliases of the annotations, explained in api.rst ("Types").
    ("py:class", "StrOrBytes"),
    ("py:class", "ConvCallback"),
    ("py:class", "DelayCallback"),
    ("py:class", "AsyncConvCallback"),
    ("py:class", "AsyncDelayCallback"),
    # The standard library's executors, in draxoft.auth.pam.aio's signatures.
    ("py:class", "concurrent.futures.Executor"),
    ("py:class", "concurrent.futures._base.Executor"),
    ("py:class", "concurrent.futures.thread.ThreadPoolExecutor"),
]

autodoc_member_order = "bysource"
# Show defaults as written in the source (``user=_DEFAULT_USER``), not as
# the repr of the object behind them.
autodoc_preserve_defaults = True
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented"

html_theme = "alabaster"
html_title = f"draxoft.auth.pam {release}"
html_theme_options = {
    "description": "Python binding to PAM",
    "fixed_sidebar": True,
}

# The doctests: every example runs against real PAM. The helper module of
# docs/examples (sandbox) is importable from them.
doctest_global_setup = f"""
import os
import sys
if {str(EXAMPLES)!r} not in sys.path:
    sys.path.insert(0, {str(EXAMPLES)!r})
"""
