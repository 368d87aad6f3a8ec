#!/usr/bin/env bash
# CI: the whole test suite against an extension built with AddressSanitizer
# and UndefinedBehaviorSanitizer, leak detection on. Exits non-zero when a
# test fails or when any process of the run (pytest, the Python children the
# tests start, pamtester ...) wrote a sanitizer report.
#
# What it does, on Debian 12 as root:
#   1. installs the compiler, PAM, pam_wrapper and Python headers (apt-get);
#   2. copies the working tree to $DRAXOFT_SAN_DIR (default
#      /tmp/draxoft-sanitizers), so nothing of an unsanitized build is reused
#      and the checkout is left alone;
#   3. builds it there into its own venv with DRAXOFT_SANITIZE=address,undefined
#      (setup.py adds -fsanitize=address,undefined -fno-omit-frame-pointer)
#      and checks that the extension really links libasan and libubsan;
#   4. runs pytest with gcc's libasan preloaded (CPython itself is not
#      sanitized), PYTHONMALLOC=malloc so that every Python object goes
#      through ASan's allocator, ASan/LSan/UBSan reports written to
#      $DRAXOFT_SAN_DIR/reports/ (one file per process that reported).
#
# Deselected: tests/test_build_chain.py only. Those tests build fresh,
# unsanitized copies of the project (configure, sdist, wheel, pip into new
# venvs); they test the build chain, not the C layer, and under the
# preloaded runtime they would triple the run time. Set
# DRAXOFT_SAN_BUILD_CHAIN=1 to run them too. Nothing else is skipped.
#
# Environment: PYTHON (default python3), DRAXOFT_SAN_DIR, DRAXOFT_SAN_TIMEOUT
# (seconds for the pytest run, default 1500), extra pytest arguments as
# arguments of this script.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$(pwd)
PYTHON=${PYTHON:-python3}
WORK=${DRAXOFT_SAN_DIR:-/tmp/draxoft-sanitizers}
TIMEOUT=${DRAXOFT_SAN_TIMEOUT:-1500}
start=$(date +%s)

say() { printf '\n=== sanitizers: %s\n' "$*"; }

# ---------------------------------------------------------------------------
say "installing build and test dependencies"
packages=(gcc libc6-dev make autoconf binutils libpam0g-dev libpam-modules
          libpam-modules-bin libpam-wrapper pamtester python3-dev python3-venv
          graphviz)
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    missing=()
    for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        apt-get update -q
        apt-get install -y -q --no-install-recommends "${missing[@]}"
    fi
fi

CC_REAL=$(command -v "${CC:-gcc}")
LIBASAN=$(readlink -f "$("$CC_REAL" -print-file-name=libasan.so)")
[ -f "$LIBASAN" ] || { echo "sanitizers: libasan not found ($CC_REAL -print-file-name=libasan.so)" >&2; exit 1; }

# ---------------------------------------------------------------------------
say "copying the tree to $WORK/src"
rm -rf "$WORK"
mkdir -p "$WORK/src" "$WORK/reports"
bash "$SRC/scripts/copy-tree.sh" "$SRC" "$WORK/src"

say "building the sanitized extension into $WORK/venv"
"$PYTHON" -m venv "$WORK/venv"
# shellcheck disable=SC1091
. "$WORK/venv/bin/activate"
cd "$WORK/src"
./configure >"$WORK/configure.log" 2>&1 || { cat "$WORK/configure.log"; exit 1; }
DRAXOFT_SANITIZE=address,undefined python -m pip install -q --no-cache-dir '.[test]'

# _pamlow.py is SWIG's proxy; the C part is draxoft/auth/__pamlow*.so.
ext=$(python - <<'EOF'
import glob, os, draxoft.auth
found = [p for d in draxoft.auth.__path__ for p in glob.glob(os.path.join(d, "_*pamlow*.so"))]
print(found[0] if found else "")
EOF
)
[ -n "$ext" ] || { echo "sanitizers: the extension was not installed" >&2; exit 1; }
echo "extension: $ext"
needed=$(readelf -d "$ext" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
echo "NEEDED: $needed"
case "$needed" in *libasan*) ;; *) echo "sanitizers: $ext does not link libasan" >&2; exit 1 ;; esac
case "$needed" in *libubsan*) ;; *) echo "sanitizers: $ext does not link libubsan" >&2; exit 1 ;; esac

# ---------------------------------------------------------------------------
say "running the test suite under ASan + UBSan (leak detection on)"
# dlclose() made a no-op, so that reports at exit can name the functions of
# PAM modules that pam_end() unloaded (scripts/nodlclose.c).
"$CC_REAL" -shared -fPIC -O2 -o "$WORK/nodlclose.so" "$WORK/src/scripts/nodlclose.c"
site=$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
# (a .pth line, not sitecustomize.py, which Debian's python has already)
echo "import draxoft_lsan_at_exit" >"$site/draxoft_lsan_at_exit.pth"
cat >"$site/draxoft_lsan_at_exit.py" <<'EOF'
"""Written by .ci/sanitizers.sh into its own venv: LeakSanitizer's check
runs once the interpreter has finalized (Py_AtExit), and reports without
ending the process with a failure status."""
import ctypes

try:
    _check = ctypes.CDLL(None).__lsan_do_recoverable_leak_check
except AttributeError:  # not under the sanitizer runtime
    pass
else:
    ctypes.pythonapi.Py_AtExit(ctypes.cast(_check, ctypes.c_void_p))
EOF
export LD_PRELOAD="$LIBASAN:$WORK/nodlclose.so"
export PYTHONMALLOC=malloc
# quarantine_size_mb=16: freed memory is still held back (use after free is
# caught), but the quarantine fills during the warm-up of
# tests/test_pam_memory.py::test_memory_stays_flat, whose RSS must then stay
# flat; with the default 256 MiB it grows for the whole test.
# Leaks: checked once CPython has finalized (Py_AtExit, from the venv's
# draxoft_lsan_at_exit.py written above) with __lsan_do_recoverable_leak_check(),
# instead of by LSan's own exit hook (leak_check_at_exit=0): the report goes
# to the report directory without changing the exit status, so a child
# whose allowed third-party leak (libpam's failed pam_start) would otherwise
# exit 1 does not fail the test that runs it; scripts/sanitizer_reports.py
# judges every leak. Memory errors still stop the process at once.
export ASAN_OPTIONS="detect_leaks=1:leak_check_at_exit=0:halt_on_error=1:quarantine_size_mb=16:malloc_context_size=40:check_initialization_order=1:detect_stack_use_after_return=1:strict_string_checks=1:log_path=$WORK/reports/asan"
export LSAN_OPTIONS="suppressions=$WORK/src/scripts/lsan-python.supp:print_suppressions=0"
# UBSan: gcc's runtime, loaded beside ASan's, ignores log_path and reports on
# stderr; halt_on_error=1 ends the process with status 1, which fails the
# test that ran it, or the whole run when it is pytest itself.
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$WORK/reports/ubsan"
# Compilers run by the tests must not run under the runtime (scripts/cc-unsanitized).
export DRAXOFT_REAL_CC="$CC_REAL"
export CC="$WORK/src/scripts/cc-unsanitized"
# Tells tests/test_hardening_sanitizers.py that this run must be sanitized.
export DRAXOFT_EXPECT_SANITIZERS=address,undefined

deselect=()
[ "${DRAXOFT_SAN_BUILD_CHAIN:-0}" = 1 ] || deselect=(--deselect tests/test_build_chain.py)

set +e
timeout --kill-after=30 "$TIMEOUT" python -m pytest -p no:cacheprovider -q -ra \
    --junitxml="$WORK/junit.xml" "${deselect[@]}" "$@"
status=$?
set -e
unset LD_PRELOAD PYTHONMALLOC ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS

# ---------------------------------------------------------------------------
# pytest's status tells a failed test, or a sanitizer stopping pytest
# itself; the JUnit file tells the tests, the report files the rest.
say "judging"
tests_ok=0
python - "$WORK/junit.xml" <<'EOF' && tests_ok=1
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except (OSError, ET.ParseError) as e:
    sys.exit(f"no test results: {e}")
suites = [root] if root.tag == "testsuite" else list(root)
count = lambda k: sum(int(s.get(k, 0)) for s in suites)
tests, failed = count("tests"), count("failures") + count("errors")
print(f"tests: {tests} run, {count('skipped')} skipped, {failed} failed or errors")
sys.exit(1 if failed or not tests else 0)
EOF
reports_ok=0
python "$WORK/src/scripts/sanitizer_reports.py" "$WORK/reports" && reports_ok=1
elapsed=$(( $(date +%s) - start ))
say "pytest status $status, tests ok: $tests_ok, reports ok: $reports_ok, ${elapsed}s in all"
case "$status" in
    0|1) ;;
    124|137) echo "sanitizers: the test run timed out after ${TIMEOUT}s" >&2; exit 1 ;;
    *) echo "sanitizers: pytest ended with status $status" >&2; exit 1 ;;
esac
[ "$tests_ok" = 1 ] && [ "$reports_ok" = 1 ]
