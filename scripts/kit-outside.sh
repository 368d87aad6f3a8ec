#!/usr/bin/env bash
# The test kit as a user meets it: a wheel of this tree installed into a
# fresh venv with pytest and nothing else, and docs/examples/test_kit_login.py
# run from a directory outside the tree, where only the installed package's
# pytest plugin gives it the pam_sandbox fixture. Then the same run again
# in a private mount namespace where pam_wrapper's module directories are
# empty, to show that the kit needs none of pam_wrapper.
#
#   scripts/kit-outside.sh
#
# Needs the network (or pip's cache) for the build requirements and pytest,
# and unshare (util-linux); as a normal user unshare -r -m is used. Nothing
# of the machine is changed; the work directory is removed at the end
# (KEEP_WORKDIR=1 keeps it).
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$(pwd)
PYTHON=${PYTHON:-python3}
EXPECTED="5 passed"

work=$(mktemp -d "${TMPDIR:-/tmp}/draxoft-kit-outside.XXXXXX")
cleanup() {
    status=$?
    if [ "${KEEP_WORKDIR:-0}" = 1 ] || [ "$status" != 0 ]; then
        echo "kit-outside: work directory kept: $work"
    else
        rm -rf "$work"
    fi
    exit "$status"
}
trap cleanup EXIT

echo "== kit-outside: building a wheel of $SRC"
# From a copy, so that the tree gets no build/ or egg-info of this run.
mkdir -p "$work/src"
bash "$SRC/scripts/copy-tree.sh" "$SRC" "$work/src"
"$PYTHON" -m pip wheel -q --no-deps -w "$work/wheel" "$work/src" >"$work/wheel.log" 2>&1 ||
    { tail -n 40 "$work/wheel.log"; echo "kit-outside: the wheel did not build" >&2; exit 1; }
wheel=$(ls "$work"/wheel/*.whl)
"$PYTHON" -c 'import sys, zipfile; sys.exit("draxoft/auth/pam/testing/pam_sandbox.so" not in zipfile.ZipFile(sys.argv[1]).namelist())' "$wheel" ||
    { echo "kit-outside: the wheel has no pam_sandbox.so" >&2; exit 1; }

echo "== kit-outside: a fresh venv with $(basename "$wheel") and pytest only"
"$PYTHON" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q "$wheel" pytest
"$work/venv/bin/python" -m pip list --format=freeze

mkdir -p "$work/tests"
cp "$SRC/docs/examples/test_kit_login.py" "$work/tests/"
run='cd "$WORK/tests" && "$WORK/venv/bin/python" -m pytest -p no:cacheprovider -q -W error test_kit_login.py'

echo "== kit-outside: the test file, outside the tree"
out=$(WORK=$work bash -c "$run" 2>&1) || { echo "$out"; echo "kit-outside: failed" >&2; exit 1; }
echo "$out" | tail -n 1
echo "$out" | grep -q "$EXPECTED" || { echo "$out"; echo "kit-outside: expected $EXPECTED" >&2; exit 1; }

echo "== kit-outside: again, with pam_wrapper's modules out of sight"
mkdir -p "$work/empty"
inner='mount --make-rprivate / || exit 1
hidden=0
for place in /usr/lib*/pam_wrapper /usr/lib*/*/pam_wrapper; do
    [ -d "$place" ] || continue
    mount --bind "$WORK/empty" "$place" || exit 1
    [ -z "$(ls -A "$place")" ] || { echo "kit-outside: $place is still visible" >&2; exit 1; }
    echo "hidden: $place"
    hidden=$((hidden + 1))
done
[ "$hidden" -gt 0 ] || echo "no pam_wrapper directory on this machine: nothing to hide"
'"$run"
if [ "$(id -u)" = 0 ]; then ns=(unshare -m); else ns=(unshare -r -m); fi
out=$(WORK=$work "${ns[@]}" bash -c "$inner" 2>&1) || { echo "$out"; echo "kit-outside: failed" >&2; exit 1; }
echo "$out" | grep '^hidden\|^no pam_wrapper' || true
echo "$out" | tail -n 1
echo "$out" | grep -q "$EXPECTED" || { echo "$out"; echo "kit-outside: expected $EXPECTED" >&2; exit 1; }
echo "== kit-outside: passed, with and without pam_wrapper"
