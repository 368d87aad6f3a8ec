"""Throw-away PAM configurations for the draxoft.auth.pam test suite.

Nothing here imports the binding, so the raw-layer tests and the Python-layer
tests share it.  It finds the PAM module directories of this machine,
compiles the C test modules in ``tests/modules``, writes service files into a
private configuration directory (for ``pam_start_confdir``) and prepares the
inputs of the pam_wrapper and Linux-PAM test modules (pam_matrix, pam_debug).

Anything missing (gcc, the PAM headers, a module) raises
:class:`PamTestSetupError` with a message that says what to install: the
suite must fail loudly rather than skip.

The tree's ``config.h`` and ``pamlow.cfg`` (what ./configure found) say
which PAM the extension is built against. On OpenPAM the test modules are
compiled against its headers, system modules come from its own module
directory, arguments are quoted its way, and what OpenPAM cannot do (a
Linux-PAM or pam_wrapper module, ``[value=action]`` controls) raises
:class:`PamUnavailable`, which pytest reports as a skip naming it.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence, Union

__all__ = [
    "DEBUG_STAGES",
    "MODULE_SOURCES",
    "PAM_RETURN_CODE_NAMES",
    "PamTestSetupError",
    "PamUnavailable",
    "RecordingConv",
    "Stack",
    "StackFactory",
    "compile_modules",
    "debug_lines",
    "debug_token",
    "env_dict",
    "openpam_return_code_names",
    "header_constants",
    "linux_pam_module_dir",
    "build_config",
    "implementation",
    "is_openpam",
    "no_service_code_name",
    "password_prompt",
    "user_prompt",
    "module_path",
    "openpam_module_dir",
    "multiarch",
    "pam_arg",
    "pam_include_dir",
    "pam_wrapper_module_dir",
    "read_matrix_passdb",
    "resolve_line",
    "run_isolated",
    "write_confdir",
    "write_matrix_passdb",
]

#: Directory of the C sources of the test modules (one module per file).
MODULE_SOURCES = Path(__file__).resolve().parent / "modules"

#: The source tree: its config.h and pamlow.cfg describe the build.
TREE = Path(__file__).resolve().parent.parent

#: Flags every test module is built with; part of the build cache key.
#: OpenPAM's headers draw warnings from code written for Linux-PAM's (its
#: ``pam_message.msg`` is not const), so -Werror is for Linux-PAM only.
CFLAGS = ("-shared", "-fPIC", "-Wall", "-Wextra", "-Werror", "-O2", "-g")

#: The modules OpenPAM ships (in ``LIBDIR/openpam``).
OPENPAM_MODULES = frozenset({"pam_permit.so", "pam_deny.so", "pam_return.so", "pam_unix.so"})

#: The four stack types a service file may configure.
FACILITIES = ("auth", "account", "session", "password")

#: Modules shipped by pam_wrapper (libpam-wrapper), not by Linux-PAM.
PAM_WRAPPER_MODULES = frozenset(
    {"pam_matrix.so", "pam_chatty.so", "pam_get_items.so", "pam_set_items.so"}
)

#: Linux-PAM return code names, in the order of their values (0..31).
PAM_RETURN_CODE_NAMES = (
    "PAM_SUCCESS",
    "PAM_OPEN_ERR",
    "PAM_SYMBOL_ERR",
    "PAM_SERVICE_ERR",
    "PAM_SYSTEM_ERR",
    "PAM_BUF_ERR",
    "PAM_PERM_DENIED",
    "PAM_AUTH_ERR",
    "PAM_CRED_INSUFFICIENT",
    "PAM_AUTHINFO_UNAVAIL",
    "PAM_USER_UNKNOWN",
    "PAM_MAXTRIES",
    "PAM_NEW_AUTHTOK_REQD",
    "PAM_ACCT_EXPIRED",
    "PAM_SESSION_ERR",
    "PAM_CRED_UNAVAIL",
    "PAM_CRED_EXPIRED",
    "PAM_CRED_ERR",
    "PAM_NO_MODULE_DATA",
    "PAM_CONV_ERR",
    "PAM_AUTHTOK_ERR",
    "PAM_AUTHTOK_RECOVERY_ERR",
    "PAM_AUTHTOK_LOCK_BUSY",
    "PAM_AUTHTOK_DISABLE_AGING",
    "PAM_TRY_AGAIN",
    "PAM_IGNORE",
    "PAM_ABORT",
    "PAM_AUTHTOK_EXPIRED",
    "PAM_MODULE_UNKNOWN",
    "PAM_BAD_ITEM",
    "PAM_CONV_AGAIN",
    "PAM_INCOMPLETE",
)

#: pam_debug's option names per stack type, with the call they answer.
DEBUG_STAGES = {
    "auth": ("auth", "pam_authenticate"),
    "cred": ("auth", "pam_setcred"),
    "acct": ("account", "pam_acct_mgmt"),
    "prechauthtok": ("password", "pam_chauthtok (PAM_PRELIM_CHECK pass)"),
    "chauthtok": ("password", "pam_chauthtok (PAM_UPDATE_AUTHTOK pass)"),
    "open_session": ("session", "pam_open_session"),
    "close_session": ("session", "pam_close_session"),
}

Lines = Sequence[str]
ServiceLines = Union[Mapping[str, Lines], Lines]
#: Type of the ``pam_stack`` fixture: ``make(lines_or_services, service=...)``.
StackFactory = Callable[..., str]


class PamTestSetupError(RuntimeError):
    """Something the tests need is missing from this machine."""


class PamUnavailable(PamTestSetupError, unittest.SkipTest):
    """Something a test needs that this PAM implementation does not have
    (a Linux-PAM module on OpenPAM, say): pytest reports it as a skip."""


def _parse_cfg(path: Path) -> dict[str, str]:
    """A ``name = value`` file (pamlow.cfg) as a dict."""
    table: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#") and "=" in line:
            name, _, value = line.partition("=")
            table[name.strip()] = value.strip()
    return table


@functools.lru_cache(maxsize=None)
def build_config() -> dict[str, str]:
    """What ./configure found for this tree (pamlow.cfg), or {} before it ran."""
    path = TREE / "pamlow.cfg"
    return _parse_cfg(path) if path.is_file() else {}


@functools.lru_cache(maxsize=None)
def _config_h() -> str:
    """The text of the tree's config.h ("" before ./configure ran)."""
    path = TREE / "config.h"
    return path.read_text() if path.is_file() else ""


def config_defines(name: str) -> bool:
    """Whether the tree's config.h defines ``name``."""
    return re.search(rf"^#define {re.escape(name)}\b", _config_h(), re.M) is not None


@functools.lru_cache(maxsize=None)
def implementation() -> str:
    """``"OpenPAM"`` or ``"Linux-PAM"``, as ./configure found it (Linux-PAM
    when the tree was not configured: the other helpers then look at the
    system's PAM)."""
    return "OpenPAM" if config_defines("HAVE_OPENPAM") else "Linux-PAM"


def is_openpam() -> bool:
    """Whether the build under test uses OpenPAM."""
    return implementation() == "OpenPAM"


def user_prompt() -> bytes:
    """The prompt pam_get_user asks the user name with, by default."""
    return b"Login:" if is_openpam() else b"login:"


def password_prompt() -> bytes:
    """The prompt pam_get_authtok asks the password with."""
    return b"Password:" if is_openpam() else b"Password: "


def no_service_code_name() -> str:
    """The code pam_start gives when the service has no file and no
    ``other`` stands in: Linux-PAM aborts, OpenPAM (whose pam_start loads
    every stack type at once) reports a system error."""
    return "PAM_SYSTEM_ERR" if is_openpam() else "PAM_ABORT"


def _flag_dirs(flags: str, prefix: str) -> list[Path]:
    """The directories of ``-I``/``-L`` options in a flag string."""
    words = shlex.split(flags)
    dirs: list[Path] = []
    for i, word in enumerate(words):
        if word == prefix and i + 1 < len(words):
            dirs.append(Path(words[i + 1]))
        elif word.startswith(prefix) and len(word) > len(prefix):
            dirs.append(Path(word[len(prefix):]))
    return dirs


def build_library_dirs() -> list[Path]:
    """The ``-L`` directories configure was given (a private PAM's lib)."""
    return _flag_dirs(build_config().get("LDFLAGS", ""), "-L")


@functools.lru_cache(maxsize=None)
def openpam_module_dir() -> Path:
    """The directory of OpenPAM's own modules (``LIBDIR/openpam``)."""
    tried = [d / "openpam" for d in build_library_dirs() + _library_dirs()]
    for candidate in tried:
        if (candidate / "pam_permit.so").is_file():
            return candidate
    raise PamTestSetupError(
        "OpenPAM's modules (openpam/pam_permit.so) were not found in any of "
        + ", ".join(map(str, tried))
        + " (install OpenPAM with its modules, see README: Deeper checks)"
    )


def _module_cflags() -> tuple[str, ...]:
    """CFLAGS for the test modules of this build."""
    if is_openpam():
        return tuple(f for f in CFLAGS if f != "-Werror")
    return CFLAGS


def _module_link_flags() -> list[str]:
    """Where the modules find the headers and libpam of this build."""
    flags = []
    configured = build_config().get("PAM_INCLUDEDIR", "")
    if configured and configured not in ("/usr/include", "/usr/local/include"):
        flags.append(f"-I{configured}")
    for libdir in build_library_dirs():
        flags += [f"-L{libdir}", f"-Wl,-rpath,{libdir}"]
    return flags


def _run(command: Sequence[str]) -> str | None:
    """Runs a short query command; its stripped stdout, None if it fails."""
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, check=False, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


def _compiler() -> str:
    """The C compiler: $CC if set, else gcc; error when it is absent."""
    name = os.environ.get("CC", "gcc")
    found = shutil.which(name)
    if found is None:
        raise PamTestSetupError(
            f"C compiler {name!r} not found: the PAM test modules in "
            f"{MODULE_SOURCES} must be compiled (apt-get install gcc)"
        )
    return found


@functools.lru_cache(maxsize=None)
def multiarch() -> str | None:
    """The multiarch triplet (e.g. ``x86_64-linux-gnu``), None if unknown."""
    return _run([os.environ.get("CC", "gcc"), "-print-multiarch"])


def _library_dirs() -> list[Path]:
    """Library directories where distributions put PAM modules, best first."""
    dirs: list[Path] = []
    libdir = _run(["pkg-config", "--variable=libdir", "pam"])
    if libdir:
        dirs.append(Path(libdir))
    triplet = multiarch()
    if triplet:
        dirs += [Path("/lib") / triplet, Path("/usr/lib") / triplet]
    dirs += [Path(p) for p in ("/lib64", "/usr/lib64", "/lib", "/usr/lib")]
    dirs.append(Path("/usr/local/lib"))
    unique: list[Path] = []
    for d in dirs:
        if d not in unique:
            unique.append(d)
    return unique


@functools.lru_cache(maxsize=None)
def linux_pam_module_dir() -> Path:
    """The directory of Linux-PAM's own modules (where pam_permit.so is)."""
    tried = [d / "security" for d in _library_dirs()]
    for candidate in tried:
        if (candidate / "pam_permit.so").is_file():
            return candidate
    raise PamTestSetupError(
        "Linux-PAM's modules (pam_permit.so) were not found in any of "
        + ", ".join(map(str, tried))
        + " (apt-get install libpam-modules)"
    )


@functools.lru_cache(maxsize=None)
def pam_wrapper_module_dir() -> Path:
    """The directory of pam_wrapper's test modules (pam_matrix.so, ...)."""
    tried: list[Path] = []
    declared = _run(["pkg-config", "--variable=modules", "pam_wrapper"])
    if declared:
        tried.append(Path(declared))
    tried += [d / "pam_wrapper" for d in _library_dirs()]
    for candidate in tried:
        if (candidate / "pam_matrix.so").is_file():
            return candidate
    raise PamTestSetupError(
        "pam_wrapper's modules (pam_matrix.so) were not found in any of "
        + ", ".join(map(str, tried))
        + " (apt-get install libpam-wrapper)"
    )


def module_path(name: str) -> Path:
    """The absolute path of a system PAM module given by its file name.

    On OpenPAM only OpenPAM's modules are found: any other raises
    :class:`PamUnavailable` (OpenPAM must never load a Linux-PAM module).
    """
    if "/" in name:
        return Path(name)
    if is_openpam():
        if name not in OPENPAM_MODULES:
            raise PamUnavailable(
                f"{name} is a "
                + ("pam_wrapper" if name in PAM_WRAPPER_MODULES else "Linux-PAM")
                + " module, which OpenPAM cannot load"
            )
        path = openpam_module_dir() / name
        if not path.is_file():
            raise PamTestSetupError(f"OpenPAM module {name} not found at {path}")
        return path
    base = (
        pam_wrapper_module_dir()
        if name in PAM_WRAPPER_MODULES
        else linux_pam_module_dir()
    )
    path = base / name
    if not path.is_file():
        raise PamTestSetupError(f"PAM module {name} not found at {path}")
    return path


def _build_key(source: Path, compiler: str) -> str:
    """Hash of what decides the build result, so a changed source rebuilds."""
    digest = hashlib.sha256()
    digest.update(source.read_bytes())
    for header in sorted(source.parent.glob("*.h")):  # shared by every module
        digest.update(header.read_bytes())
    digest.update("\0".join((compiler, *_module_cflags(), *_module_link_flags())).encode())
    return digest.hexdigest()[:16]


def compile_modules(build_dir: Path | str) -> dict[str, Path]:
    """Compiles every ``tests/modules/*.c`` into a shared object.

    Objects are named after a hash of their source and flags, so calling
    this again with the same ``build_dir`` reuses them.  Returns a mapping
    from module stem (``pam_pytest``) to the object's path.
    """
    build_dir = Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    sources = sorted(MODULE_SOURCES.glob("*.c"))
    if not sources:
        raise PamTestSetupError(f"no test module sources in {MODULE_SOURCES}")
    compiler = _compiler()
    built: dict[str, Path] = {}
    for source in sources:
        target = build_dir / f"{source.stem}-{_build_key(source, compiler)}.so"
        if not target.is_file():
            _compile_one(compiler, source, target)
        built[source.stem] = target
    return built


def _compile_one(compiler: str, source: Path, target: Path) -> None:
    """Builds one module; a failed build raises with the compiler's words."""
    # Build under a private name then rename, so a concurrent session never
    # dlopen()s a half-written object.
    fd, partial = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(fd)
    command = [
        compiler, *_module_cflags(), *_module_link_flags(), "-o", partial, str(source), "-lpam"
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        os.unlink(partial)
        hint = ""
        if "security/pam_" in done.stderr:
            hint = " (the PAM headers are missing: apt-get install libpam0g-dev)"
        raise PamTestSetupError(
            f"building {source.name} failed{hint}:\n"
            f"$ {' '.join(command)}\n{done.stderr}"
        )
    os.replace(partial, target)


def rounds(count: int) -> int:
    """How many rounds a repetition test runs: ``count`` times the factor
    in ``DRAXOFT_TEST_ROUNDS`` (default 1), and never fewer than 20.

    scripts/valgrind-suite.sh lowers the factor: under memcheck a round
    costs fifty times more, and memcheck already watches every one of them.
    """
    factor = float(os.environ.get("DRAXOFT_TEST_ROUNDS", "1") or "1")
    return max(20, int(count * factor))


def pam_arg(text: str) -> str:
    """Quotes one module argument for a PAM config line.

    Linux-PAM reads ``[...]`` as one argument, spaces included; a ``]``
    inside is written ``\\]``. OpenPAM reads ``'...'`` literally and
    ``"..."`` with ``\\`` escapes.
    """
    if "\n" in text:
        raise ValueError("a PAM module argument cannot hold a newline")
    if is_openpam():
        if text and not re.search(r"[\s'\"\\#]", text):
            return text
        if "'" not in text:
            return "'" + text + "'"
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if not text or re.search(r"[\s\[\]]", text):
        return "[" + text.replace("]", "\\]") + "]"
    return text


_LINE = re.compile(
    r"""^(?P<lead>\s*-?\w+\s+            # stack type, '-' = quiet if absent
          (?:\[[^\]]*\]|\S+)\s+)        # control: word or [value=action ...]
        (?P<module>\S+)                 # module path
        (?P<rest>.*)$""",
    re.VERBOSE | re.DOTALL,
)


def resolve_line(line: str, placeholders: Mapping[str, Path | str]) -> str:
    """Rewrites one stack line so that its module is an absolute path.

    ``{name}`` placeholders (e.g. ``{pytest}``) become the given paths; a
    bare ``pam_*.so`` becomes the path of that module in Linux-PAM's or
    pam_wrapper's directory.  Blank lines and comments pass unchanged.
    """
    for name, path in placeholders.items():
        line = line.replace("{" + name + "}", str(path))
    if not line.strip() or line.lstrip().startswith("#"):
        return line
    if line.lstrip().startswith("@"):
        if is_openpam():
            raise PamUnavailable("OpenPAM has no @include lines")
        return line
    match = _LINE.match(line)
    if match is None:
        raise ValueError(f"not a PAM stack line: {line!r}")
    module = match.group("module")
    if is_openpam():
        lead = match.group("lead").lstrip()
        if lead.startswith("-"):
            raise PamUnavailable("OpenPAM has no '-type' lines (quiet when the module is absent)")
        if "[" in lead:
            raise PamUnavailable("OpenPAM has no [value=action] controls")
    if "{" in module:
        raise PamTestSetupError(f"unknown module placeholder in {line!r}")
    if "/" not in module:
        module = str(module_path(module))
    rest = match.group("rest")
    if is_openpam() and rest.strip():
        # The suite writes arguments Linux-PAM's way: requote them.
        args = _linux_pam_args(rest)
        for arg in args:
            for prefix, missing in _OPENPAM_MISSING_ARGS.items():
                if arg.startswith(prefix):
                    raise PamUnavailable(f"OpenPAM lacks {missing} (test module option {prefix!r})")
        rest = " " + " ".join(pam_arg(a) for a in args)
    return match.group("lead") + module + rest


#: Options of the test modules that need what OpenPAM does not have.
_OPENPAM_MISSING_ARGS = {
    "msg=radio:": "PAM_RADIO_TYPE",
    "msg=binary:": "PAM_BINARY_PROMPT",
    "delay=": "pam_fail_delay",
    "unsetenv=": "environment deletion (pam_putenv of a bare name)",
    "shortbinary": "PAM_BINARY_PROMPT",
}


def _linux_pam_args(text: str) -> list[str]:
    """Module arguments as Linux-PAM reads them: words, or ``[...]`` with
    ``\\]`` for a ``]`` inside."""
    args: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        if text[i] == "[":
            i += 1
            word = []
            while i < n and text[i] != "]":
                if text.startswith("\\]", i):
                    word.append("]")
                    i += 2
                else:
                    word.append(text[i])
                    i += 1
            i += 1  # the closing ']'
            args.append("".join(word))
        else:
            start = i
            while i < n and not text[i].isspace():
                i += 1
            args.append(text[start:i])
    return args


def _check_service(service: str) -> None:
    """Refuses names that Linux-PAM would not look up verbatim."""
    # pam_start lowercases the service and keeps only what follows a '/'.
    if not service or "/" in service or service != service.lower():
        raise ValueError(f"use a lowercase service name without '/': {service!r}")


def write_confdir(
    confdir: Path | str,
    services: ServiceLines,
    service: str = "pytest",
    placeholders: Mapping[str, Path | str] | None = None,
) -> str:
    """Writes PAM service files into ``confdir`` and returns it as a str.

    ``services`` maps service names to their stack lines; a plain sequence
    of lines is the stack of ``service``.
    """
    if isinstance(services, (str, bytes)):
        raise TypeError("give the stack as a list of lines, not one string")
    if isinstance(services, Mapping):
        table = dict(services)
    else:
        table = {service: list(services)}
    confdir = Path(confdir)
    confdir.mkdir(parents=True, exist_ok=True)
    for name, lines in table.items():
        _check_service(name)
        if isinstance(lines, (str, bytes)):
            raise TypeError(f"stack of {name!r} must be a list of lines")
        resolved = [resolve_line(l, placeholders or {}) for l in lines]
        if is_openpam() and (name == "other" or "other" not in table):
            resolved += _openpam_padding(resolved)
        (confdir / name).write_text("".join(l + "\n" for l in resolved))
    return str(confdir)


def _openpam_padding(lines: Sequence[str]) -> list[str]:
    """Lines for the stack types a service file leaves out, on OpenPAM.

    OpenPAM's pam_start loads every type and fails (PAM_SYSTEM_ERR) when one
    has neither lines nor an ``other`` service to fall back to; Linux-PAM
    starts and answers PAM_PERM_DENIED when that type is called. These lines
    give the same answer, so one stack means the same on both.
    """
    present = {l.split()[0] for l in lines if l.strip() and not l.lstrip().startswith("#")}
    module = openpam_module_dir() / "pam_return.so"
    return [
        f"{kind} required {module} error=PAM_PERM_DENIED"
        for kind in FACILITIES
        if kind not in present
    ]


class Stack:
    """A configuration directory being filled with service files.

    Example::

        stack = Stack(tmp_path / "pam.d", {"pytest": "/tmp/pam_pytest.so"})
        stack.add("login", ["auth required {pytest} ret=PAM_AUTH_ERR"])
        low.pam_start_confdir("login", "bob", conv, stack.confdir)
    """

    def __init__(
        self, confdir: Path | str, placeholders: Mapping[str, Path | str]
    ) -> None:
        """Prepares ``confdir``; ``placeholders`` names modules for lines."""
        self.path = Path(confdir)
        self.path.mkdir(parents=True, exist_ok=True)
        self.placeholders = dict(placeholders)

    @property
    def confdir(self) -> str:
        """The directory, as the str that pam_start_confdir takes."""
        return str(self.path)

    def add(self, service: str, lines: Lines) -> "Stack":
        """Writes (or replaces) the service file ``service``."""
        write_confdir(self.path, {service: lines}, placeholders=self.placeholders)
        return self


def write_matrix_passdb(
    path: Path | str, entries: Iterable[tuple[str, str, str]]
) -> str:
    """Writes a pam_matrix password file: ``user:password:service`` lines.

    pam_matrix finds it through its ``passdb=PATH`` argument.  Its parser
    splits on ':' and skips blanks after one, so fields may not hold ':',
    newlines or leading blanks.
    """
    lines = []
    for fields in entries:
        if len(fields) != 3:
            raise ValueError(f"pam_matrix entry needs 3 fields: {fields!r}")
        for field in fields:
            if ":" in field or "\n" in field or field[:1].isspace():
                raise ValueError(f"pam_matrix cannot store field {field!r}")
        lines.append(":".join(fields) + "\n")
    Path(path).write_text("".join(lines))
    return str(path)


def read_matrix_passdb(path: Path | str) -> list[tuple[str, str, str]]:
    """Reads back a pam_matrix password file (to see what chauthtok wrote)."""
    entries = []
    for line in Path(path).read_text().splitlines():
        if line and not line.startswith("#"):
            user, password, service = line.split(":", 2)
            entries.append((user, password, service))
    return entries


def debug_token(code: str | int) -> str:
    """pam_debug's word for a return code.

    pam_debug takes Linux-PAM's internal lowercase tokens (``user_unknown``),
    not the macro names: it silently ignores ``PAM_USER_UNKNOWN``.  Accepts a
    macro name, a bare token or a Linux-PAM code number.
    """
    if isinstance(code, int):
        if not 0 <= code < len(PAM_RETURN_CODE_NAMES):
            raise ValueError(f"pam_debug cannot return code {code}")
        name = PAM_RETURN_CODE_NAMES[code]
    elif code.upper() in PAM_RETURN_CODE_NAMES:
        name = code.upper()
    elif "PAM_" + code.upper() in PAM_RETURN_CODE_NAMES:
        name = "PAM_" + code.upper()
    elif code == "authtok_recover_err":
        return code
    else:
        raise ValueError(f"pam_debug has no token for {code!r}")
    if name == "PAM_AUTHTOK_RECOVERY_ERR":
        return "authtok_recover_err"  # pam_debug's spelling differs here
    return name[len("PAM_"):].lower()


def debug_lines(**codes: str | int | None) -> list[str]:
    """Stack lines making pam_debug.so return the given code per call.

    Keywords are pam_debug's stages (see :data:`DEBUG_STAGES`): ``auth``,
    ``cred``, ``acct``, ``prechauthtok``, ``chauthtok``, ``open_session``,
    ``close_session``; unnamed ones return PAM_SUCCESS.  One ``required``
    line per stack type is returned.  Note that pam_debug's auth stage needs
    a user (it calls pam_get_user) and reports the forced code as a
    PAM_TEXT_INFO message through the conversation.  On OpenPAM, which
    cannot load pam_debug, pam_pytest lines stand in (see
    :func:`_openpam_debug_lines`): codes by name only.
    """
    unknown = set(codes) - set(DEBUG_STAGES)
    if unknown:
        raise TypeError(f"pam_debug has no stage {sorted(unknown)}")
    if is_openpam():
        return _openpam_debug_lines(codes)
    module = module_path("pam_debug.so")
    args: dict[str, list[str]] = {"auth": [], "account": [], "password": [], "session": []}
    for stage, code in codes.items():
        if code is not None:
            args[DEBUG_STAGES[stage][0]].append(f"{stage}={debug_token(code)}")
    return [
        " ".join([kind, "required", str(module), *words])
        for kind, words in args.items()
    ]


#: pam_debug's stages as pam_pytest names them (its ``only=`` option).
_PYTEST_STAGE_OF_DEBUG = {
    "auth": "auth", "cred": "setcred", "acct": "acct", "prechauthtok": "prechauthtok",
    "chauthtok": "chauthtok", "open_session": "open", "close_session": "close",
}


def _openpam_debug_lines(codes: Mapping[str, str | int | None]) -> list[str]:
    """What :func:`debug_lines` gives on OpenPAM, which cannot load
    pam_debug: one pam_pytest line per stage (``{pytest}``, resolved by
    the ``pam_stack`` fixture), acting only in its stage, that announces
    ``stage=token`` as pam_debug does and returns the code; pam_permit for
    a stack type with no stage named."""
    lines: dict[str, list[str]] = {"auth": [], "account": [], "password": [], "session": []}
    for stage, code in codes.items():
        if code is None:
            continue
        if isinstance(code, int):
            raise PamUnavailable("pam_debug's code numbers are Linux-PAM's; OpenPAM has its own")
        token = debug_token(code)
        name = "PAM_AUTHTOK_RECOVERY_ERR" if token == "authtok_recover_err" else "PAM_" + token.upper()
        if name not in header_constants():
            raise PamUnavailable(f"OpenPAM lacks {name}")
        lines[DEBUG_STAGES[stage][0]].append(
            f"{DEBUG_STAGES[stage][0]} required {{pytest}} only={_PYTEST_STAGE_OF_DEBUG[stage]} "
            f"msg=info:{stage}={token} ret={name}"
        )
    return [line for kind, stack in lines.items() for line in (stack or [f"{kind} required pam_permit.so"])]


def child_environment(changes: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment for a Python child: this ``sys.path`` as
    ``PYTHONPATH`` (so it imports the same binding), then ``changes``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    env.update(changes or {})
    return env


def run_isolated(
    code: str, *args: str, timeout: float = 120.0, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Runs Python ``code`` in a child interpreter with this ``sys.path``
    and this environment, changed by ``env``.

    For checks that may crash the interpreter (a NULL pointer handed to the
    binding): a crash then fails one test instead of killing the session.
    ``faulthandler`` makes a crash print where it happened.
    """
    return subprocess.run(
        [sys.executable, "-X", "faulthandler", "-W", "error", "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=child_environment(env),
        check=False,
    )


def pam_include_dir() -> Path:
    """The directory holding ``security/pam_appl.h``: the one configure
    found for this build, else the system's."""
    tried: list[Path] = []
    configured = build_config().get("PAM_INCLUDEDIR")
    if configured:
        tried.append(Path(configured))
    declared = _run(["pkg-config", "--variable=includedir", "pam"])
    if declared:
        tried.append(Path(declared))
    triplet = multiarch()
    if triplet:
        tried.append(Path("/usr/include") / triplet)
    tried += [Path("/usr/include"), Path("/usr/local/include")]
    for candidate in tried:
        if (candidate / "security" / "pam_appl.h").is_file():
            return candidate
    raise PamTestSetupError(
        "security/pam_appl.h not found under "
        + ", ".join(map(str, tried))
        + " (apt-get install libpam0g-dev)"
    )


_NUMERIC_DEFINE = re.compile(
    r"^\s*#\s*define\s+(PAM_[A-Z0-9_]+)\s+\(?\s*(0[xX][0-9a-fA-F]+|\d+)[uUlL]*\s*\)?"
    r"\s*(?:/\*.*)?$"
)
#: An enum member with a number, as OpenPAM's pam_constants.h has them.
_NUMERIC_ENUM = re.compile(
    r"^\s*(PAM_[A-Z0-9_]+)\s*=\s*\(?\s*(0[xX][0-9a-fA-F]+|\d+)[uUlL]*\s*\)?\s*,?"
    r"\s*(?:/\*.*)?$"
)

#: An enum member written as INT_MIN is, ``(-0x7fffffff - 1)`` (OpenPAM's PAM_SILENT).
_INT_MIN_ENUM = re.compile(
    r"^\s*(PAM_[A-Z0-9_]+)\s*=\s*\(\s*-\s*(0[xX][0-9a-fA-F]+|\d+)\s*-\s*1\s*\)\s*,?\s*(?:/\*.*)?$"
)


def header_constants(*headers: str) -> dict[str, int]:
    """Numeric ``PAM_*`` macros of the installed PAM headers.

    ``headers`` are names under ``security/`` (default: the application's
    headers, ``_pam_types.h`` and ``pam_appl.h``; on OpenPAM
    ``pam_constants.h``).  Only object-like macros and enum members whose
    value is a plain number (or ``(-N - 1)``) count; a name defined twice
    must agree.
    """
    names = headers or (("pam_constants.h",) if is_openpam() else ("_pam_types.h", "pam_appl.h"))
    found: dict[str, int] = {}
    base = pam_include_dir() / "security"
    for header in names:
        path = base / header
        if not path.is_file():
            raise PamTestSetupError(f"PAM header {path} not found")
        for line in path.read_text(errors="replace").splitlines():
            match = _NUMERIC_DEFINE.match(line) or _NUMERIC_ENUM.match(line)
            negative = None if match else _INT_MIN_ENUM.match(line)
            if negative:
                match = negative
                value = -int(negative.group(2), 0) - 1
            elif match:
                value = int(match.group(2), 0)
            if match:
                if found.setdefault(match.group(1), value) != value:
                    raise PamTestSetupError(f"{match.group(1)} defined twice")
    return found


def openpam_return_code_names() -> list[str]:
    """OpenPAM's return codes, in the order of pam_constants.h (the enum
    that ends with PAM_NUM_ERRORS); [] on other implementations."""
    if not is_openpam():
        return []
    names: list[str] = []
    text = (pam_include_dir() / "security" / "pam_constants.h").read_text(errors="replace")
    for line in text.splitlines():
        if re.match(r"^\s*PAM_NUM_ERRORS\b", line):
            return names
        match = _NUMERIC_ENUM.match(line)
        if match:
            names.append(match.group(1))
    raise PamTestSetupError("PAM_NUM_ERRORS not found in OpenPAM's pam_constants.h")


def env_dict(entries: Iterable[bytes] | None) -> dict[str, str]:
    """``pam_getenvlist`` entries (``b"NAME=value"``) as a str dict.

    Bytes that are not UTF-8 survive as surrogates, so nothing is lost.
    """
    table: dict[str, str] = {}
    for entry in entries or ():
        name, sep, value = entry.decode("utf-8", "surrogateescape").partition("=")
        if not sep:
            raise ValueError(f"environment entry without '=': {entry!r}")
        table[name] = value
    return table


class RecordingConv:
    """A conversation callable that records its calls and answers by rule.

    Works for both layers: extra positional arguments (the Python layer's
    ``data``) are recorded too.  ``answer`` is either a callable
    ``(style, message) -> response`` or an iterable of responses used one per
    call (``None`` once it runs out).
    """

    def __init__(
        self,
        answer: Callable[[int, Any], Any] | Iterable[Any] | None = None,
    ) -> None:
        """Sets the answering rule; see the class docstring."""
        self.calls: list[tuple[int, Any]] = []
        self.extra: list[tuple[Any, ...]] = []
        self._rule: Callable[[int, Any], Any] | None = None
        self._queue: Iterator[Any] | None = None
        if callable(answer):
            self._rule = answer
        elif answer is not None:
            self._queue = iter(answer)

    def __call__(self, style: int, message: Any, *extra: Any) -> Any:
        """Records one message and returns the response for it."""
        self.calls.append((style, message))
        self.extra.append(extra)
        if self._rule is not None:
            return self._rule(style, message)
        if self._queue is not None:
            return next(self._queue, None)
        return None

    @property
    def messages(self) -> list[Any]:
        """The message texts received so far, in order."""
        return [message for _, message in self.calls]
