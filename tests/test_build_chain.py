"""The build chain, end to end: configure.ac -> configure -> config.h and
pamlow.cfg -> setup.py -> SWIG -> draxoft.auth._pamlow, on the real system.

Every build happens in a copy of the source tree (the tracked files plus
new, non-ignored ones) under pytest's tmp directory, into fresh venvs made
with ``python -m venv``; the developer's tree is never written to. Builds
are shared between the tests that look at them through module-scoped
fixtures. pip keeps one cache for the module, under tmp.

Slow (a minute or two): several venvs, pip installs and compilations.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib.machinery
import os
import re
import shlex
import shutil
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from build_helpers import (
    ROOT,
    config_h_defines,
    clean_env,
    copy_source_tree,
    is_inside,
    make_venv,
    parse_pamlow_cfg,
    probe_install,
    run,
)

#: Debian, Fedora and Alpine package names configure must name for PAM.
PAM_PACKAGES = ("libpam0g-dev", "pam-devel", "linux-pam-dev")

#: The macro the fake PAM prefix adds to its copy of the headers.
PREFIX_MARK = "PAM_DRAXOFT_PREFIX_MARK"
PREFIX_MARK_VALUE = 4242

#: What config.h must define on the reference machine (Debian 12, Linux-PAM
#: 1.5 with libpam0g-dev, glibc 2.36).
EXPECTED_CONFIG_MACROS = (
    "HAVE_LINUX_PAM",
    "HAVE_PAM_START_CONFDIR",
    "HAVE_PAM_FAIL_DELAY_FN",
    "HAVE_PAM_FAIL_DELAY_ITEM",
    "HAVE_PAM_GETENVLIST",
    "HAVE_PAM_PUTENV_DELETE",
    "HAVE_PAM_XDISPLAY",
    "HAVE_PAM_XAUTHDATA",
    "HAVE_PAM_AUTHTOK_TYPE",
    "HAVE_PAM_BINARY_PROMPT",
    "HAVE_PAM_RADIO_TYPE",
    "HAVE_EXPLICIT_BZERO",
)

#: Each name pamlow_extensions() may report, and the config.h macros that
#: must all be defined for it (mirrors pamlow_extensions in swig/pamlow.i).
EXTENSION_MACROS: dict[str, tuple[str, ...]] = {
    "confdir": ("HAVE_PAM_START_CONFDIR",),
    "fail_delay": ("HAVE_PAM_FAIL_DELAY_FN", "HAVE_PAM_FAIL_DELAY_ITEM"),
    "unsetenv": ("HAVE_PAM_PUTENV_DELETE",),
    "getenvlist": ("HAVE_PAM_GETENVLIST",),
    "xdisplay": ("HAVE_PAM_XDISPLAY",),
    "xauthdata": ("HAVE_PAM_XAUTHDATA", "HAVE_STRUCT_PAM_XAUTH_DATA"),
    "authtok_type": ("HAVE_PAM_AUTHTOK_TYPE",),
    "binary_prompt": ("HAVE_PAM_BINARY_PROMPT",),
    "radio_type": ("HAVE_PAM_RADIO_TYPE",),
}

#: Optional functions of _pamlow and the macro that pamlow.i wraps them under.
OPTIONAL_FUNCTIONS = {
    "pam_start_confdir": "HAVE_PAM_START_CONFDIR",
    "pam_getenvlist": "HAVE_PAM_GETENVLIST",
    "pam_fail_delay": "HAVE_PAM_FAIL_DELAY_FN",
}

_SHA_RE = re.compile(r"configure\.ac sha256 ([0-9A-Fa-f]+)")


# ---------------------------------------------------------------------------
# Shared state.

@dataclass
class Install:
    """A copy of the tree built and installed into a venv of its own."""

    src: Path
    venv: Path
    python: Path
    build_output: str
    probe: dict[str, Any]


# Every test here checks the source tree; those that build it with pip
# fetch setuptools and swig from PyPI, in fresh venvs, which takes minutes.
pytestmark = pytest.mark.source_tree


def NEEDS_PYPI(test: Any) -> Any:  # noqa: N802  (used as a marker)
    """Marks a test that installs from PyPI: network, and slow."""
    return pytest.mark.network(pytest.mark.slow(test))


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This module's scratch directory."""
    return tmp_path_factory.mktemp("build-chain")


@pytest.fixture(scope="module")
def pip_cache(work: Path) -> Path:
    """One pip cache for all the module's installs, so that setuptools and
    the swig wheel are fetched once."""
    path = work / "pip-cache"
    path.mkdir()
    return path


@pytest.fixture(scope="module")
def outside(work: Path) -> Path:
    """An empty directory, away from every source tree, to import from."""
    path = work / "outside"
    path.mkdir()
    return path


def install_here(src: Path, venv: Path, python: Path, pip_cache: Path,
                 outside: Path, *pip_args: str) -> Install:
    """pip install src into venv (already made), then probe the result."""
    env = clean_env(pip_cache, path_prefix=venv / "bin")
    proc = run([python, "-m", "pip", "install", *pip_args, "."], cwd=src, env=env)
    return Install(src, venv, python, proc.stdout, probe_install(python, env, outside))


def assert_installed_in_venv(install: Install) -> None:
    """The modules come from the venv's site-packages, not from a source
    tree, and the basic constant is right."""
    probe = install.probe
    for key in ("pamlow_file", "extension_file", "pam_file"):
        assert is_inside(probe[key], install.venv), f"{key} {probe[key]} is not in {install.venv}"
        assert not is_inside(probe[key], install.src), f"{key} {probe[key]} is the source tree's"
        assert not is_inside(probe[key], ROOT), f"{key} {probe[key]} is the developer's tree"
    assert probe["int_constants"].get("PAM_SUCCESS") == 0


@pytest.fixture(scope="module")
def configured_install(work: Path, pip_cache: Path, outside: Path) -> Install:
    """The documented way: ``./configure && pip install .`` with a fresh
    venv active."""
    src = copy_source_tree(work / "configured-src")
    venv = work / "configured-venv"
    python = make_venv(venv, clean_env(pip_cache))
    env = clean_env(pip_cache, path_prefix=venv / "bin")
    run(["sh", "./configure"], cwd=src, env=env)
    return install_here(src, venv, python, pip_cache, outside, "-q")


@pytest.fixture(scope="module")
def plain_install(work: Path, pip_cache: Path, outside: Path) -> Install:
    """``pip install .`` (verbose, to see configure's output) in a tree that
    was never configured."""
    src = copy_source_tree(work / "plain-src")
    assert not (src / "config.h").exists() and not (src / "pamlow.cfg").exists(), \
        "the copy should not have configure's outputs"
    venv = work / "plain-venv"
    python = make_venv(venv, clean_env(pip_cache))
    return install_here(src, venv, python, pip_cache, outside, "-v")


# ---------------------------------------------------------------------------
# 1. configure is generated from the configure.ac of the tree.

def recorded_digests(path: Path) -> list[str]:
    """The ``configure.ac sha256 <hex>`` digests written into path."""
    return _SHA_RE.findall(path.read_text(errors="replace"))


@pytest.mark.parametrize("generated", ["configure", "config.h.in"])
def test_generated_file_records_current_configure_ac(generated: str) -> None:
    """configure and config.h.in carry the sha256 of the configure.ac they
    came from (AC_REVISION, AH_TOP); it must be today's configure.ac."""
    digest = hashlib.sha256((ROOT / "configure.ac").read_bytes()).hexdigest()
    found = recorded_digests(ROOT / generated)
    assert found, f"{generated} records no 'configure.ac sha256'; regenerate it with ./autogen.sh"
    assert set(found) == {digest}, (
        f"{generated} was made from another configure.ac (records {sorted(set(found))}, "
        f"configure.ac is {digest}): run ./autogen.sh and commit the result"
    )


def _autoconf_version(text: str) -> str | None:
    """The version in 'autoconf (GNU Autoconf) 2.71' or 'Generated by GNU Autoconf 2.71'."""
    match = re.search(r"GNU Autoconf\)? (\d+(?:\.\d+)+)", text)
    return match.group(1) if match else None


def test_autogen_reproduces_committed_files(work: Path, pip_cache: Path) -> None:
    """./autogen.sh in a copy gives byte for byte the committed configure
    and config.h.in (this also catches a VERSION change that was not
    carried into configure).

    Needs autoconf of the version that made configure. In CI (CI set in the
    environment; .ci/run installs autoconf) a missing or different autoconf
    is a failure; elsewhere it is a skip.
    """
    committed = (ROOT / "configure").read_text()
    wanted = _autoconf_version(committed)
    assert wanted, "configure does not say which autoconf generated it"
    in_ci = bool(os.environ.get("CI"))
    if shutil.which("autoconf") is None or shutil.which("autoheader") is None:
        message = "autoconf/autoheader not installed (apt-get install autoconf)"
        if in_ci:
            pytest.fail(message + ", but CI must have it: .ci/run installs it", pytrace=False)
        pytest.skip(message)
    env = clean_env(pip_cache)
    have = _autoconf_version(run(["autoconf", "--version"], cwd=work, env=env).stdout)
    if have != wanted:
        message = f"configure was generated by autoconf {wanted}, this machine has {have}"
        if in_ci:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)

    src = copy_source_tree(work / "autogen-src")
    run(["sh", "./autogen.sh"], cwd=src, env=env)
    for name in ("configure", "config.h.in"):
        fresh = (src / name).read_text()
        old = (ROOT / name).read_text()
        if fresh != old:
            diff = "".join(list(difflib.unified_diff(
                old.splitlines(True), fresh.splitlines(True),
                f"committed/{name}", f"regenerated/{name}"))[:60])
            pytest.fail(f"{name} is not what ./autogen.sh makes of configure.ac; "
                        f"run ./autogen.sh and commit:\n{diff}", pytrace=False)


# ---------------------------------------------------------------------------
# 2. ./configure && pip install .

@NEEDS_PYPI
def test_configure_then_pip_install(configured_install: Install) -> None:
    """After ./configure && pip install ., draxoft.auth._pamlow and
    draxoft.auth.pam import from the venv, outside the source tree."""
    assert_installed_in_venv(configured_install)
    cfg = parse_pamlow_cfg(configured_install.src / "pamlow.cfg")
    assert "-lpam" in cfg["LIBS"].split()
    assert (Path(cfg["PAM_INCLUDEDIR"]) / "security" / "pam_appl.h").is_file()
    # The mark lives only in the fake prefix of the --with-pam tests.
    assert PREFIX_MARK not in configured_install.probe["int_constants"]


@NEEDS_PYPI
def test_constants_match_the_c_compiler(configured_install: Install, work: Path,
                                        pip_cache: Path) -> None:
    """Every PAM_* macro SWIG turned into an int has the value the C
    compiler gives it from the same headers."""
    constants: dict[str, int] = configured_install.probe["int_constants"]
    cfg = parse_pamlow_cfg(configured_install.src / "pamlow.cfg")
    env = clean_env(pip_cache)
    scratch = work / "constants"
    scratch.mkdir()
    includes = "#include <security/pam_appl.h>\n"
    if (Path(cfg["PAM_INCLUDEDIR"]) / "security" / "pam_modules.h").exists():
        includes += "#include <security/pam_modules.h>\n"
    header = scratch / "h.c"
    header.write_text(includes)
    cppflags = shlex.split(cfg["CPPFLAGS"]) + [f"-I{cfg['PAM_INCLUDEDIR']}"]
    cc = shlex.split(cfg["CC"])
    macros = run([*cc, *cppflags, "-dM", "-E", header], cwd=scratch, env=env).stdout
    names = sorted(set(re.findall(r"^#define (PAM_\w+) ", macros, re.M)) & constants.keys())
    assert len(names) >= 40, f"only {len(names)} PAM_* macros both in the headers and in _pamlow"
    program = scratch / "values.c"
    program.write_text(
        f"#include <stdio.h>\n{includes}int main(void) {{\n"
        + "".join(f'    printf("{n} %lld\\n", (long long)({n}));\n' for n in names)
        + "    return 0;\n}\n")
    run([*cc, *cppflags, "-o", scratch / "values", program], cwd=scratch, env=env)
    out = run([scratch / "values"], cwd=scratch, env=env).stdout
    from_c = {name: int(value) for name, value in (line.split() for line in out.splitlines())}
    wrong = {n: (constants[n], from_c[n]) for n in names if constants[n] != from_c[n]}
    assert not wrong, f"_pamlow value vs C value: {wrong}"


# ---------------------------------------------------------------------------
# 3. pip install . runs configure itself.

@NEEDS_PYPI
def test_plain_pip_install_runs_configure(plain_install: Install,
                                         configured_install: Install) -> None:
    """Without config.h, pip install . runs ./configure itself, and the
    result works and finds what an explicit ./configure finds."""
    assert "config.status: creating config.h" in plain_install.build_output, \
        "configure did not run during pip install ."
    assert "config.status: creating pamlow.cfg" in plain_install.build_output
    assert_installed_in_venv(plain_install)
    for key in ("implementation", "extensions", "int_constants"):
        assert plain_install.probe[key] == configured_install.probe[key], key


# ---------------------------------------------------------------------------
# 4. python -m build: an sdist and a wheel.

@dataclass
class Dists:
    """What python -m build made, and the files it should have packed."""

    sdist: Path
    wheel: Path
    src: Path


@pytest.fixture(scope="module")
def dists(work: Path, pip_cache: Path) -> Dists:
    """Run python -m build (sdist, then a wheel from the sdist) in a copy
    that was configured first, so that config.h and pamlow.cfg are there to
    be left out."""
    src = copy_source_tree(work / "dist-src")
    venv = work / "build-venv"
    python = make_venv(venv, clean_env(pip_cache))
    env = clean_env(pip_cache, path_prefix=venv / "bin")
    run([python, "-m", "pip", "install", "-q", "build"], cwd=work, env=env)
    run(["sh", "./configure"], cwd=src, env=env)
    assert (src / "config.h").exists() and (src / "pamlow.cfg").exists()
    outdir = work / "dist"
    run([python, "-m", "build", "--outdir", outdir, "."], cwd=src, env=env)
    sdists = sorted(outdir.glob("*.tar.gz"))
    wheels = sorted(outdir.glob("*.whl"))
    assert len(sdists) == 1 and len(wheels) == 1, f"python -m build made {sorted(outdir.iterdir())}"
    return Dists(sdists[0], wheels[0], src)


def sdist_members(sdist: Path) -> dict[str, tarfile.TarInfo]:
    """The sdist's members by path below its top directory."""
    with tarfile.open(sdist) as tar:
        members = tar.getmembers()
    tops = {m.name.split("/", 1)[0] for m in members}
    assert len(tops) == 1, f"sdist has several top directories: {tops}"
    return {m.name.split("/", 1)[1]: m for m in members if "/" in m.name}


@NEEDS_PYPI
def test_sdist_contents(dists: Dists) -> None:
    """The sdist carries what a user needs to configure and build (all of
    swig/'s sources, generated configure included and executable) and none
    of one machine's configure results."""
    members = sdist_members(dists.sdist)
    swig_sources = sorted(p.relative_to(dists.src).as_posix()
                          for p in (dists.src / "swig").iterdir() if p.suffix in (".c", ".h", ".i"))
    assert "swig/pamlow.i" in swig_sources and any(s.endswith(".c") for s in swig_sources)
    needed = ["configure", "configure.ac", "config.h.in", "pamlow.cfg.in", "setup.py",
              "pyproject.toml", "VERSION", *swig_sources]
    missing = [n for n in needed if n not in members]
    assert not missing, f"sdist lacks {missing}"
    assert members["configure"].mode & 0o111, "configure is not executable in the sdist"
    unwanted = [n for n in members
                if n in ("config.h", "pamlow.cfg", "config.status", "config.log")
                or n.endswith(".so") or n.endswith("/_pamlow.py") or n.endswith(".pyi") or n.startswith("build/")]
    assert not unwanted, f"sdist has build outputs: {unwanted}"


@NEEDS_PYPI
def test_wheel_contents(dists: Dists) -> None:
    """The wheel has the SWIG proxy and the extension side by side in
    draxoft/auth, and the pam package."""
    with zipfile.ZipFile(dists.wheel) as whl:
        names = set(whl.namelist())
    assert "draxoft/auth/_pamlow.py" in names
    # The stubs the build generated: the low layer's and the constants'.
    assert {"draxoft/auth/_pamlow.pyi", "draxoft/auth/pam/_constants.pyi"} <= names
    extensions = [f"draxoft/auth/__pamlow{suffix}"
                  for suffix in importlib.machinery.EXTENSION_SUFFIXES]
    assert names & set(extensions), f"no extension among {sorted(names)} (wanted one of {extensions})"
    assert "draxoft/auth/pam/__init__.py" in names
    assert not {"config.h", "pamlow.cfg"} & {n.rsplit("/", 1)[-1] for n in names}


@NEEDS_PYPI
@pytest.mark.parametrize("kind", ["sdist", "wheel"])
def test_dist_installs_into_fresh_venv(kind: str, dists: Dists, work: Path, pip_cache: Path,
                                       outside: Path) -> None:
    """pip install of the sdist (a build from scratch) or of the wheel, each
    into a fresh venv, gives a working import."""
    venv = work / f"{kind}-venv"
    python = make_venv(venv, clean_env(pip_cache))
    env = clean_env(pip_cache, path_prefix=venv / "bin")
    target = dists.sdist if kind == "sdist" else dists.wheel
    run([python, "-m", "pip", "install", "-q", target], cwd=outside, env=env)
    install = Install(outside, venv, python, "", probe_install(python, env, outside))
    assert_installed_in_venv(install)
    assert not is_inside(install.probe["pamlow_file"], dists.src)


# ---------------------------------------------------------------------------
# 5. PAM from another prefix.

@pytest.fixture(scope="module")
def fake_prefix(work: Path, pip_cache: Path) -> Path:
    """A PAM "installed" under a prefix of its own: the system's headers with
    one extra macro in _pam_types.h, and libpam.so linking to the system's
    libpam.so.0."""
    prefix = work / "fake-pam"
    security = prefix / "include" / "security"
    security.mkdir(parents=True)
    headers = sorted(Path("/usr/include/security").glob("*.h"))
    assert headers, "no PAM headers in /usr/include/security (apt-get install libpam0g-dev)"
    for header in headers:
        shutil.copy2(header, security / header.name)
    types_h = security / "_pam_types.h"
    text = types_h.read_text()
    at = text.rindex("#endif")
    types_h.write_text(f"{text[:at]}#define {PREFIX_MARK} {PREFIX_MARK_VALUE}\n{text[at:]}")
    found = run(["gcc", "-print-file-name=libpam.so.0"], cwd=work, env=clean_env(pip_cache))
    libpam = Path(found.stdout.strip())
    assert libpam.is_absolute() and libpam.exists(), f"no system libpam.so.0 ({found.stdout!r})"
    (prefix / "lib").mkdir()
    (prefix / "lib" / "libpam.so").symlink_to(libpam)
    return prefix


@pytest.fixture(scope="module", params=["--with-pam", "CPPFLAGS+LDFLAGS"])
def prefix_install(request: pytest.FixtureRequest, fake_prefix: Path, work: Path,
                   pip_cache: Path, outside: Path) -> tuple[str, Install]:
    """The tree configured for the fake prefix, either way, and installed."""
    how: str = request.param
    tag = "with-pam" if how == "--with-pam" else "flags"
    src = copy_source_tree(work / f"prefix-{tag}-src")
    venv = work / f"prefix-{tag}-venv"
    python = make_venv(venv, clean_env(pip_cache))
    env = clean_env(pip_cache, path_prefix=venv / "bin")
    if how == "--with-pam":
        run(["sh", "./configure", f"--with-pam={fake_prefix}"], cwd=src, env=env)
    else:
        env_flags = dict(env, CPPFLAGS=f"-I{fake_prefix}/include", LDFLAGS=f"-L{fake_prefix}/lib")
        run(["sh", "./configure"], cwd=src, env=env_flags)
    return how, install_here(src, venv, python, pip_cache, outside, "-q")


@NEEDS_PYPI
def test_prefix_recorded_in_pamlow_cfg(prefix_install: tuple[str, Install],
                                       fake_prefix: Path, work: Path, pip_cache: Path) -> None:
    """pamlow.cfg sends the compiler, SWIG and the linker to the prefix;
    with --with-pam the extension also finds the prefix's libpam at run time."""
    how, install = prefix_install
    cfg = parse_pamlow_cfg(install.src / "pamlow.cfg")
    assert f"-I{fake_prefix}/include" in cfg["CPPFLAGS"].split(), cfg
    assert f"-L{fake_prefix}/lib" in cfg["LDFLAGS"].split(), cfg
    assert cfg["PAM_INCLUDEDIR"] == f"{fake_prefix}/include", cfg
    if how == "--with-pam":
        dynamic = run(["readelf", "-d", install.probe["extension_file"]],
                      cwd=work, env=clean_env(pip_cache)).stdout
        paths = re.findall(r"\((?:RUNPATH|RPATH)\).*\[(.*)\]", dynamic)
        assert any(f"{fake_prefix}/lib" in p.split(":") for p in paths), \
            f"the extension has no run path to {fake_prefix}/lib: {paths}"


@NEEDS_PYPI
def test_prefix_headers_reach_swig(prefix_install: tuple[str, Install]) -> None:
    """SWIG read its PAM_* constants from the prefix's headers."""
    _, install = prefix_install
    assert_installed_in_venv(install)
    assert install.probe["int_constants"].get(PREFIX_MARK) == PREFIX_MARK_VALUE


# ---------------------------------------------------------------------------
# 6. What is missing is named, with the package to install.

@pytest.fixture(scope="module")
def failing_tree(work: Path) -> Path:
    """A copy in which configure is made to fail, one way after another."""
    return copy_source_tree(work / "failing-src")


@pytest.fixture(scope="module")
def path_without_compiler(work: Path) -> str:
    """A PATH of symlinks to every command on PATH except C compilers."""
    farm = work / "no-cc-bin"
    farm.mkdir()
    for directory in os.environ.get("PATH", os.defpath).split(os.pathsep):
        if not directory or not os.path.isdir(directory):
            continue
        for entry in sorted(os.listdir(directory)):
            is_cc = (entry in ("cc", "c89", "c99", "tcc", "icc", "pcc") or "gcc" in entry
                     or "clang" in entry or entry.endswith("-cc"))
            if not is_cc and not (farm / entry).exists() and not (farm / entry).is_symlink():
                (farm / entry).symlink_to(Path(directory) / entry)
    return str(farm)


#: Stands, in a case's overrides, for the PATH of path_without_compiler.
NO_COMPILER_PATH = "<PATH without a C compiler>"



@pytest.mark.parametrize(
    ("overrides", "packages"),
    [
        pytest.param({"ac_cv_header_security_pam_appl_h": "no",
                      "ac_cv_header_pam_pam_appl_h": "no"}, PAM_PACKAGES, id="pam-headers"),
        pytest.param({"ac_cv_search_pam_start": "no"}, PAM_PACKAGES, id="libpam"),
        pytest.param({"PYTHON": "/bin/false"}, ("python3-dev", "python3-devel"), id="python-headers"),
        pytest.param({"CC": "/nonexistent/cc"}, ("apt-get install gcc", "dnf install gcc"),
                     id="cc-set-but-missing"),
        pytest.param({"PATH": NO_COMPILER_PATH}, ("apt-get install gcc", "dnf install gcc"),
                     id="no-compiler-on-path"),
    ],
)
def test_missing_dependency_is_named(overrides: dict[str, str], packages: tuple[str, ...],
                                     failing_tree: Path, path_without_compiler: str,
                                     pip_cache: Path) -> None:
    """configure stops with one error that names the package to install on
    Debian, Fedora and Alpine."""
    env = clean_env(pip_cache)
    env["PYTHON"] = sys.executable
    env.update(overrides)
    if env["PATH"] == NO_COMPILER_PATH:
        env["PATH"] = path_without_compiler
    proc = run(["/bin/sh", "./configure"], cwd=failing_tree, env=env, check=False)
    assert proc.returncode != 0, f"configure succeeded:\n{proc.stdout[-3000:]}"
    errors = [line for line in proc.stdout.splitlines() if line.startswith("configure: error:")]
    assert len(errors) == 1, f"expected one error, got {errors}:\n{proc.stdout[-3000:]}"
    message = proc.stdout[proc.stdout.index("configure: error:"):]
    missing = [p for p in packages if p not in message]
    assert not missing, f"the error does not mention {missing}:\n{message}"


# ---------------------------------------------------------------------------
# 7. config.h here, and what the built module reports.

@NEEDS_PYPI
def test_config_h_on_this_machine(configured_install: Install) -> None:
    """configure finds every optional feature of Debian 12's Linux-PAM."""
    defined = config_h_defines(configured_install.src / "config.h")
    missing = [m for m in EXPECTED_CONFIG_MACROS if defined.get(m) != "1"]
    assert not missing, f"config.h lacks {missing}"
    assert defined.get("PAMLOW_IMPLEMENTATION") == '"Linux-PAM"'


@NEEDS_PYPI
def test_extensions_agree_with_config_h(configured_install: Install) -> None:
    """pamlow_extensions(), pamlow_implementation() and the optional
    functions of _pamlow are exactly what config.h says."""
    defined = config_h_defines(configured_install.src / "config.h")
    probe = configured_install.probe
    unknown = set(probe["extensions"]) - EXTENSION_MACROS.keys()
    assert not unknown, f"pamlow_extensions() has names this test does not know: {unknown}"
    expected = {name for name, macros in EXTENSION_MACROS.items()
                if all(defined.get(m) == "1" for m in macros)}
    assert set(probe["extensions"]) == expected
    assert len(probe["extensions"]) == len(set(probe["extensions"]))
    assert expected == set(EXTENSION_MACROS), "on this machine every extension is there"
    implementation = defined.get("PAMLOW_IMPLEMENTATION", "").strip('"') or None
    assert probe["implementation"] == implementation
    for function, macro in OPTIONAL_FUNCTIONS.items():
        assert (function in probe["names"]) == (macro in defined), \
            f"_pamlow.{function} present={function in probe['names']} but {macro} defined={macro in defined}"

