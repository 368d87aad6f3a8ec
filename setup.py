"""Build draxoft.auth._pamlow from swig/pamlow.i with what ./configure found.

./configure writes config.h (for the C code and for SWIG) and pamlow.cfg
(compiler, flags and libraries, for this file). There is no second
detection here: if they are missing, configure is run.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent
# setuptools wants paths relative to this directory.
SWIG_DIR = Path("swig")
C_SOURCES = ["pamlow_handle.c", "pamlow_items.c", "pamlow_buf.c", "pamlow_callbacks.c", "pamlow_openpam.c"]
#: The test kit's PAM module (draxoft.auth.pam.testing), built beside it.
KIT_PACKAGE = Path("draxoft", "auth", "pam", "testing")
KIT_MODULE = "pam_sandbox"


def parse_cfg(path: Path) -> dict[str, str]:
    """pamlow.cfg as a dict: one ``name = value`` per line, ``#`` comments."""
    results: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            results[name.strip()] = value.strip()
    return results


def read_configure_results() -> dict[str, str]:
    """Return pamlow.cfg as a dict, running ./configure first if needed."""
    cfg = ROOT / "pamlow.cfg"
    if not (cfg.exists() and (ROOT / "config.h").exists()):
        env = dict(os.environ, PYTHON=sys.executable)
        print("setup.py: running ./configure", flush=True)
        subprocess.run(["sh", "./configure"], cwd=ROOT, env=env, check=True)
    return parse_cfg(cfg)


def source_digest(root: Path = ROOT) -> str:
    """A digest of everything the extension is made from: the interface,
    the C beside it and config.h (and the test kit's module, built with it). The build records it in the extension,
    so that the test suite can refuse to run Python sources against an
    extension built from other ones."""
    digest = hashlib.sha256()
    files = sorted(p for p in (root / "swig").iterdir() if p.suffix in (".i", ".c", ".h"))
    for path in files + [root / KIT_PACKAGE / f"{KIT_MODULE}.c", root / "config.h"]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


class BuildFlags:
    """The preprocessor, compiler and linker flags, split the way setuptools wants them."""

    def __init__(self, cfg: dict[str, str]) -> None:
        self.include_dirs: list[str] = [".", str(SWIG_DIR)]
        self.macros: list[tuple[str, str | None]] = []
        self.other_cppflags: list[str] = []
        for flag in shlex.split(cfg.get("CPPFLAGS", "")):
            if flag.startswith("-I") and len(flag) > 2:
                self.include_dirs.append(flag[2:])
            elif flag.startswith("-D") and len(flag) > 2:
                name, eq, value = flag[2:].partition("=")
                self.macros.append((name, value if eq else None))
            else:
                self.other_cppflags.append(flag)
        pam_incdir = cfg.get("PAM_INCLUDEDIR", "")
        if pam_incdir and pam_incdir not in self.include_dirs:
            self.include_dirs.append(pam_incdir)
        self.cflags = shlex.split(cfg.get("CFLAGS", ""))
        self.library_dirs: list[str] = []
        self.libraries: list[str] = []
        self.link_args: list[str] = []
        for flag in shlex.split(cfg.get("LDFLAGS", "")) + shlex.split(cfg.get("LIBS", "")):
            if flag.startswith("-L") and len(flag) > 2:
                self.library_dirs.append(flag[2:])
            elif flag.startswith("-l") and len(flag) > 2:
                self.libraries.append(flag[2:])
            else:
                self.link_args.append(flag)
        self.cc = cfg.get("CC", "")

    def swig_args(self) -> list[str]:
        """The -I and -D that the C compiler gets, in the form SWIG takes."""
        args = [f"-I{d}" for d in self.include_dirs]
        for name, value in self.macros:
            args.append(f"-D{name}" if value is None else f"-D{name}={value}")
        return args


def swig_command() -> list[str]:
    """SWIG from the build environment (the swig wheel), else from PATH."""
    try:
        import swig  # noqa: F401  (the PyPI package that ships the binary)
    except ImportError:
        exe = shutil.which("swig") or shutil.which("swig4.0")
        if exe is None:
            sys.exit("setup.py: SWIG not found: pip install swig, or install your distro's swig package")
        return [exe]
    return [sys.executable, "-c", "import swig; swig.swig()"]


class BuildSwigExt(build_ext):
    """Run SWIG with the compiler's flags, then build; the proxy module goes
    next to the extension so that it lands in the wheel."""

    def run(self) -> None:
        # Only a build needs configure's results: sdist and metadata do not.
        flags = BuildFlags(read_configure_results())
        if flags.cc and "CC" not in os.environ:
            os.environ["CC"] = flags.cc
        sanitize = sanitizer_flags()
        if sanitize:
            # Objects of an earlier, unsanitized build must not be reused.
            self.force = True
            print("setup.py: sanitized build:", " ".join(sanitize), flush=True)
        digest = source_digest()
        for ext in self.extensions:
            apply_flags(ext, flags)
            ext.define_macros.append(("PAMLOW_SOURCE_DIGEST", f'"{digest}"'))
            ext.extra_compile_args += sanitize
            ext.extra_link_args += sanitize
            self.swig_one(ext, flags)
        super().run()
        self.build_kit_module(flags, sanitize)

    def build_kit_module(self, flags: BuildFlags, sanitize: list[str]) -> None:
        """Build the test kit's PAM module, pam_sandbox.so, with the
        extension's compiler, flags and libraries, into the package
        directory of draxoft.auth.pam.testing (package data of the wheel)."""
        source = KIT_PACKAGE / f"{KIT_MODULE}.c"
        outdir = (ROOT if self.inplace else Path(self.build_lib)) / KIT_PACKAGE
        outdir.mkdir(parents=True, exist_ok=True)
        target = outdir / f"{KIT_MODULE}.so"
        objects = self.compiler.compile(
            [str(source)],
            output_dir=self.build_temp,
            macros=list(flags.macros),
            include_dirs=list(flags.include_dirs),
            extra_postargs=flags.other_cppflags + flags.cflags + ["-Wall", "-fPIC"] + sanitize,
        )
        self.compiler.link_shared_object(
            objects,
            str(target),
            libraries=list(flags.libraries),
            library_dirs=list(flags.library_dirs),
            extra_postargs=flags.link_args + sanitize,
        )

    def swig_one(self, ext: Extension, flags: BuildFlags) -> None:
        """Generate the C wrapper and the Python proxy for ext."""
        interface = SWIG_DIR / "pamlow.i"
        wrap_c = Path(self.build_temp) / "pamlow_wrap.c"
        wrap_c.parent.mkdir(parents=True, exist_ok=True)
        if self.inplace:
            outdir = ROOT / "draxoft" / "auth"
        else:
            outdir = Path(self.build_lib) / "draxoft" / "auth"
        outdir.mkdir(parents=True, exist_ok=True)
        cmd = swig_command() + ["-python", "-Wall", "-outdir", str(outdir), "-o", str(wrap_c)]
        cmd += flags.swig_args() + [str(interface)]
        print("swig:", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)
        write_constants_stub(wrap_c, outdir / "pam" / "_constants.pyi")
        write_pamlow_stub(outdir / "_pamlow.py", outdir / "_pamlow.pyi")
        ext.sources = [str(wrap_c)] + [
            str(SWIG_DIR / s) for s in C_SOURCES
        ]


def write_constants_stub(wrap_c: Path, stub: Path) -> None:
    """Declare for type checkers the PAM_* constants that SWIG took from the
    headers, so that they are exactly this build's."""
    names = sorted(set(re.findall(r'SWIG_Python_SetConstant\(d, "(PAM_[A-Z0-9_]+)"', wrap_c.read_text())))
    lines = [
        "# Generated by setup.py from the PAM headers this build used; do not edit.",
        "from typing import Optional",
        "",
        "implementation: Optional[str]",
        "extensions: frozenset[str]",
        "names: tuple[str, ...]",
        "",
        "def optional(name: str) -> Optional[int]: ...",
        "",
        *(f"{name}: int" for name in names),
        "",
        "__all__ = [" + ", ".join(repr(n) for n in ["implementation", "extensions", *names]) + "]",
        "",
    ]
    stub.parent.mkdir(parents=True, exist_ok=True)
    stub.write_text("\n".join(lines))


#: The names the signatures in swig/pamlow.i's autodoc strings use.
PAMLOW_STUB_HEADER = """\
# Generated by setup.py from the signatures in swig/pamlow.i; do not edit.
from typing import Any, Callable, Optional, Union

_Str = Union[str, bytes, bytearray]
_Handle = Any  # a capsule
_Conv = Optional[Callable[[int, bytes], Union[str, bytes, bytearray, None]]]

PAMLOW_SOURCE_DIGEST: str
"""


def write_pamlow_stub(proxy: Path, stub: Path) -> None:
    """Declare the low layer's functions for type checkers, from the
    signatures that swig/pamlow.i gives each as its docstring. A function
    without one, or whose signature names other parameters than the
    function has, stops the build: the stub must say what the code does."""
    text = proxy.read_text()
    lines = [PAMLOW_STUB_HEADER]
    for name, params, doc in re.findall(r'^def (\w+)\(([^)]*)\):\n\s+r"""(.*?)"""', text, re.M | re.S):
        if name.startswith("_"):
            continue
        signature = re.fullmatch(rf"{name}\((.*)\) -> (.+)", doc.strip())
        if signature is None:
            sys.exit(f"setup.py: swig/pamlow.i gives {name} no signature (%feature autodoc)")
        declared = [p.split(":")[0].strip() for p in re.split(r",\s*(?![^\[]*\])", signature[1]) if p.strip()]
        actual = [p.strip() for p in params.split(",") if p.strip()]
        if declared != actual:
            sys.exit(f"setup.py: swig/pamlow.i's signature of {name} names {declared}, the function takes {actual}")
        lines.append(f"def {doc.strip()}: ...")
    lines += ["def __getattr__(name: str) -> int: ...  # the PAM_* constants", ""]
    stub.write_text("\n".join(lines))


def sanitizer_flags() -> list[str]:
    """Compiler and linker flags for a sanitized build, from the environment.

    DRAXOFT_SANITIZE=address,undefined (any list that -fsanitize= takes)
    builds the extension with those sanitizers, frame pointers kept for
    their stack traces. Unset or empty: a normal build. Such an extension
    only loads into a process that has the sanitizer runtime first (see
    .ci/sanitizers.sh).
    """
    wanted = os.environ.get("DRAXOFT_SANITIZE", "").strip()
    if not wanted:
        return []
    if not re.fullmatch(r"[a-z][a-z0-9-]*(,[a-z][a-z0-9-]*)*", wanted):
        sys.exit(f"setup.py: DRAXOFT_SANITIZE={wanted!r}: give a comma-separated list like address,undefined")
    return [f"-fsanitize={wanted}", "-fno-omit-frame-pointer", "-g"]


def make_extension() -> Extension:
    """The extension module; build_ext gives it configure's flags and,
    once SWIG has run, its sources."""
    return Extension(
        "draxoft.auth.__pamlow",
        sources=[str(SWIG_DIR / s) for s in C_SOURCES],
        depends=[str(SWIG_DIR / "pamlow.h"), str(SWIG_DIR / "pamlow.i"), "config.h"],
    )


def apply_flags(ext: Extension, flags: BuildFlags) -> None:
    """Give ext the directories, macros, libraries and flags configure found."""
    ext.include_dirs = list(flags.include_dirs)
    ext.define_macros = list(flags.macros)
    ext.library_dirs = list(flags.library_dirs)
    ext.libraries = list(flags.libraries)
    ext.extra_compile_args = flags.other_cppflags + flags.cflags + ["-Wall"]
    ext.extra_link_args = list(flags.link_args)


def main() -> None:
    """Build; configure runs (if it has not) only when something is compiled."""
    os.chdir(ROOT)
    setup(
        ext_modules=[make_extension()],
        cmdclass={"build_ext": BuildSwigExt},
    )


if __name__ == "__main__":
    main()
