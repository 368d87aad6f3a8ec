"""The sanitized run checks what it runs against.

.ci/sanitizers.sh builds the extension with AddressSanitizer and
UndefinedBehaviorSanitizer and sets DRAXOFT_EXPECT_SANITIZERS. These tests
make sure that such a run really exercises a sanitized extension with a live
runtime (a run against a plain build would pass and prove nothing), and that
a memory error or undefined behaviour inside the binding's own C code is
reported: canaries, in child processes, whose reports go to a private
directory so that the run's own report directory stays clean.

In a normal run they check the opposite: the extension is not sanitized.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pamstack
from draxoft.auth import _pamlow

EXPECTED = os.environ.get("DRAXOFT_EXPECT_SANITIZERS", "")


def extension_path() -> Path:
    """The C extension behind draxoft.auth._pamlow (SWIG's proxy module)."""
    import draxoft.auth

    for directory in draxoft.auth.__path__:
        for candidate in sorted(Path(directory).glob("_*pamlow*.so")):
            return candidate
    raise AssertionError("the _pamlow extension was not found")


def needed_libraries(path: Path) -> list[str]:
    """DT_NEEDED entries of a shared object, read from its ELF header."""
    done = subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True, check=True)
    return re.findall(r"\(NEEDED\).*\[(.+?)\]", done.stdout)


def loaded_objects() -> str:
    return Path("/proc/self/maps").read_text()


def child_env(report_dir: Path) -> dict[str, str]:
    """The run's environment, with sanitizer reports sent to report_dir."""
    env = pamstack.child_environment()
    for name, key in (("ASAN_OPTIONS", "asan"), ("UBSAN_OPTIONS", "ubsan")):
        options = [o for o in env.get(name, "").split(":") if o and not o.startswith("log_path=")]
        options.append(f"log_path={report_dir / key}")
        env[name] = ":".join(options)
    return env


def run_canary(code: str, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], str]:
    reports = tmp_path / "reports"
    reports.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        env=child_env(reports),
        check=False,
    )
    text = "".join(p.read_text(errors="replace") for p in sorted(reports.iterdir()))
    return done, text


def test_extension_is_built_as_the_run_expects() -> None:
    needed = needed_libraries(extension_path())
    maps = loaded_objects()
    if EXPECTED:
        assert "address" in EXPECTED and "undefined" in EXPECTED
        assert any(n.startswith("libasan") for n in needed), needed
        assert any(n.startswith("libubsan") for n in needed), needed
        # The runtime is really in this process (preloaded), with leak
        # detection, and Python's objects go through its allocator.
        assert re.search(r"/libasan\.so", maps), "libasan is not loaded"
        assert "detect_leaks=1" in os.environ.get("ASAN_OPTIONS", "")
        if "leak_check_at_exit=0" in os.environ.get("ASAN_OPTIONS", ""):
            # .ci/sanitizers.sh then checks leaks after finalization instead.
            assert "draxoft_lsan_at_exit" in sys.modules
        assert os.environ.get("PYTHONMALLOC") == "malloc"
        assert "halt_on_error=1" in os.environ.get("UBSAN_OPTIONS", "")
    else:
        assert not any(n.startswith(("libasan", "libubsan")) for n in needed), needed


# A double free inside the binding's own code: pamlow_buf_free() is an
# exported C function of the extension, called twice on the same buffer.
DOUBLE_FREE = """
    # DRAXOFT-CANARY: a deliberate memory error (not traced by valgrind-suite.sh)
    import ctypes
    from draxoft.auth import _pamlow
    import draxoft.auth, glob, os
    path = [p for d in draxoft.auth.__path__ for p in glob.glob(os.path.join(d, "_*pamlow*.so"))][0]
    lib = ctypes.PyDLL(path)
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    class Buf(ctypes.Structure):
        _fields_ = [("p", ctypes.c_void_p), ("n", ctypes.c_size_t)]
    p = libc.malloc(16)
    first, second = Buf(p, 8), Buf(p, 8)
    lib.pamlow_buf_free(ctypes.byref(first))
    lib.pamlow_buf_free(ctypes.byref(second))
    print("survived")
"""

# Undefined behaviour inside the binding: the conversation trampoline
# given a misaligned handle pointer reads its fields through it.
MISALIGNED = """
    # DRAXOFT-CANARY: deliberate undefined behaviour (not traced by valgrind-suite.sh)
    import ctypes
    from draxoft.auth import _pamlow
    import draxoft.auth, glob, os
    path = [p for d in draxoft.auth.__path__ for p in glob.glob(os.path.join(d, "_*pamlow*.so"))][0]
    lib = ctypes.PyDLL(path)
    class Message(ctypes.Structure):
        _fields_ = [("msg_style", ctypes.c_int), ("msg", ctypes.c_char_p)]
    message = Message(4, b"canary")
    pointers = (ctypes.POINTER(Message) * 1)(ctypes.pointer(message))
    resp = ctypes.c_void_p()
    raw = ctypes.create_string_buffer(256)          # zeroed: no callable, no error
    handle = ctypes.addressof(raw) + 1              # misaligned
    rc = lib.pamlow_conv(1, pointers, ctypes.byref(resp), ctypes.c_void_p(handle))
    print("survived", rc)
"""


def test_asan_reports_a_double_free_in_the_binding(tmp_path: Path) -> None:
    done, reports = run_canary(DOUBLE_FREE, tmp_path)
    assert "survived" not in done.stdout
    assert done.returncode != 0
    if EXPECTED:
        assert "AddressSanitizer: attempting double-free" in reports, reports or done.stderr
        assert "pamlow_buf_free" in reports
    else:
        # Without ASan, glibc's own check stops it: the canary is real.
        assert done.returncode == -6, done.stderr


def test_ubsan_reports_undefined_behaviour_in_the_binding(tmp_path: Path) -> None:
    done, reports = run_canary(MISALIGNED, tmp_path)
    if not EXPECTED:
        # x86 forgives the misaligned reads: the trampoline refuses the
        # call (no callable), which shows the canary reaches that code.
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == ["survived", str(_pamlow.PAM_CONV_ERR)]
        return
    # gcc's UBSan runtime, beside ASan, writes to stderr whatever log_path
    # says; halt_on_error=1 then ends the process with a failure status.
    assert "survived" not in done.stdout, "halt_on_error did not stop the process"
    assert done.returncode != 0
    assert re.search(
        r"pamlow_callbacks\.c:\d+:\d+: runtime error: member access within misaligned address",
        reports + done.stderr,
    ), done.stderr


def test_leak_detection_sees_a_handle_the_binding_never_ends(tmp_path: Path) -> None:
    # A PAM handle kept alive by an extra reference that is then lost:
    # LeakSanitizer must report what the binding and libpam allocated for
    # it, through every suppression the run uses.
    confdir = tmp_path / "pam.d"
    confdir.mkdir()
    (confdir / "pytest").write_text("auth required pam_permit.so\n")
    code = f"""
        # DRAXOFT-CANARY: a deliberate leak (not traced by valgrind-suite.sh)
        import ctypes
        from draxoft.auth import _pamlow
        rc, h = _pamlow.pam_start_confdir("pytest", "alice", None, {str(confdir)!r})
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(h))
        del h
        print("leaked")
    """
    done, reports = run_canary(code, tmp_path)
    assert "leaked" in done.stdout
    if not EXPECTED:
        assert done.returncode == 0 and not reports, done.stderr
        return
    assert "ERROR: LeakSanitizer: detected memory leaks" in reports, done.stderr
    assert "pamlow_handle_new" in reports
    scripts = Path(__file__).resolve().parent.parent / "scripts" / "sanitizer_reports.py"
    if scripts.is_file():
        judged = subprocess.run(
            [sys.executable, str(scripts), str(tmp_path / "reports")], capture_output=True, text=True, check=False
        )
        assert judged.returncode == 1, judged.stdout
        assert "pamlow_handle_new" in judged.stdout


def test_sanitized_extension_is_the_one_imported() -> None:
    # The tests import the installed package, not the source tree.
    assert Path(_pamlow.__file__).resolve().parent == extension_path().resolve().parent
