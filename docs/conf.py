"""Sphinx configuration of the draxoft.auth.pam documentation.

Build from the root of the repository, after installing the package
(autodoc imports the installed one, not the source tree):

    apt-get install graphviz     # dot draws the diagrams of docs/diagrams
    pip install '.[docs]'
    sphinx-build -W -b html docs docs/_build/html
    sphinx-build -W -b doctest docs docs/_build/doctest

The doctest builder runs every example of these pages against real PAM
stacks, which each page writes into temporary directories itself.
scripts/docs-screenshots.py looks at the HTML pages in headless Chromium.
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent

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
    "sphinx.ext.graphviz",
    "pamdocs",
]

root_doc = "index"
exclude_patterns = ["_build", "examples/__pycache__"]
templates_path = ["_templates"]

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

# Furo: code blocks as wide as the text, a layout for phones, a dark mode
# and a search that works from the files alone. Its version is pinned in
# the "docs" and "test" extras of pyproject.toml.
html_theme = "furo"
# The name stands whole in the sidebar; the version is under it
# (_templates/sidebar/brand.html, _static/pamdocs.css).
html_title = "draxoft.auth.pam"
html_static_path = ["_static"]
html_css_files = ["pamdocs.css"]
html_theme_options = {
    "navigation_with_keys": True,
}

# Diagrams: the sources are .dot files in docs/diagrams, drawn by Graphviz's
# dot at build time (apt-get install graphviz) into SVG, so that they stay
# sharp at any size; each file sets its own fonts and colours.
graphviz_output_format = "svg"


# The doctests write their own PAM stacks; the :skipif: conditions of the
# examples that only root can run need os. The example programs that the
# pages show whole (docs/examples) can be imported by their doctests.
doctest_global_setup = f"""
import os
import sys
if {str(Path(__file__).resolve().parent / "examples")!r} not in sys.path:
    sys.path.insert(0, {str(Path(__file__).resolve().parent / "examples")!r})
"""
