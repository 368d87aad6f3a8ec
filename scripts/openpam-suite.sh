#!/usr/bin/env bash
# The test suite against OpenPAM installed under PREFIX (headers in
# PREFIX/include/security, libpam in PREFIX/lib, modules in
# PREFIX/lib/openpam); prints the passed, skipped and failed counts and the
# skip reasons, grouped. Exits non-zero when a test fails.
#
#   scripts/openpam-suite.sh PREFIX [pytest arguments]
#
# OpenPAM is not part of this project: build it from its public sources
# under a private prefix (README, "Deeper checks").
#
# Like scripts/valgrind-suite.sh it works on a copy of the tree
# ($DRAXOFT_OPENPAM_DIR, default ~/.cache/draxoft-openpam) with its own venv,
# so config.h of the checkout (Linux-PAM's) is left alone. That directory
# is not under /tmp on purpose: OpenPAM loads modules and policy files only
# from paths whose every directory belongs to root or to the user and is
# unwritable by others, which /tmp (mode 1777) is not; pytest's --basetemp
# points into it for the same reason.
#
# The suite runs in a private mount namespace (unshare -m; as a normal user
# unshare -rm) where /etc/pam.d, /etc/pam.conf and their /usr/local/etc
# twins are empty: they hold this machine's Linux-PAM policy, whose modules
# crash OpenPAM if a pam_start without confdir ever reads them. Nothing of
# the machine is changed.
set -uo pipefail
[ $# -ge 1 ] || { echo "usage: $0 PREFIX [pytest arguments]" >&2; exit 2; }
P=$(cd "$1" && pwd) || { echo "openpam-suite: $1 is not a directory" >&2; exit 2; }
shift
[ -f "$P/include/security/openpam.h" ] || { echo "openpam-suite: no OpenPAM headers in $P/include/security" >&2; exit 2; }
cd "$(dirname "$0")/.."
SRC=$(pwd)
PYTHON=${PYTHON:-python3}
WORK=${DRAXOFT_OPENPAM_DIR:-$HOME/.cache/draxoft-openpam}
command -v unshare >/dev/null || { echo "openpam-suite: unshare (util-linux) is needed" >&2; exit 1; }

rm -rf "$WORK"
mkdir -p "$WORK" && chmod 700 "$WORK" || exit 1
mkdir -p "$WORK/src" "$WORK/tmp" "$WORK/empty.d" && : >"$WORK/empty.conf"
bash "$SRC/scripts/copy-tree.sh" "$SRC" "$WORK/src" || exit 1
"$PYTHON" -m venv "$WORK/venv" || exit 1
# shellcheck disable=SC1091
. "$WORK/venv/bin/activate"
cd "$WORK/src" || exit 1
echo "openpam-suite: building against OpenPAM in $P (log: $WORK/build.log)"
{ CPPFLAGS="-I$P/include" LDFLAGS="-L$P/lib -Wl,-rpath,$P/lib" ./configure &&
  python -m pip install -q --no-cache-dir '.[test]'; } >"$WORK/build.log" 2>&1 ||
    { tail -n 40 "$WORK/build.log"; echo "openpam-suite: the build failed" >&2; exit 1; }
grep -q '^#define HAVE_OPENPAM 1' config.h ||
    { echo "openpam-suite: configure did not find OpenPAM under $P" >&2; exit 1; }

# Inside the namespace: hide the system's policy, then run pytest.
inner='mount --make-rprivate / || exit 1
for place in /etc/pam.d /usr/local/etc/pam.d; do
    [ -d "$place" ] && { mount --bind "$WORK/empty.d" "$place" || exit 1; }
done
for place in /etc/pam.conf /usr/local/etc/pam.conf; do
    [ -f "$place" ] && { mount --bind "$WORK/empty.conf" "$place" || exit 1; }
done
exec python -m pytest -p no:cacheprovider -q -rs --basetemp="$WORK/tmp" \
    --junitxml="$WORK/junit.xml" --ignore=tests/test_build_chain.py "$@"'
if [ "$(id -u)" = 0 ]; then ns=(unshare -m); else ns=(unshare -r -m); fi
WORK=$WORK "${ns[@]}" bash -c "$inner" openpam-suite "$@" 2>&1 | tee "$WORK/pytest.log"
status=${PIPESTATUS[0]}

python - "$WORK/junit.xml" <<'EOF'
"""Counts from pytest's JUnit XML, and the skip reasons grouped."""
import collections
import re
import sys
import xml.etree.ElementTree as ET

try:
    root = ET.parse(sys.argv[1]).getroot()
except (OSError, ET.ParseError) as error:
    sys.exit(f"openpam-suite: no test report ({error})")
counts = collections.Counter()
reasons = collections.Counter()
for case in root.iter("testcase"):
    kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
    if not kinds:
        counts["passed"] += 1
    elif "skipped" in kinds:
        counts["skipped"] += 1
        message = case.find("skipped").get("message", "")
        reasons[re.sub(r"^Skipped: ", "", message)] += 1
    else:
        counts["failed"] += 1
print()
print("openpam-suite: {passed} passed, {skipped} skipped, {failed} failed".format(
    passed=counts["passed"], skipped=counts["skipped"], failed=counts["failed"]))
for reason, n in reasons.most_common():
    print(f"  {n:5d} skipped: {reason}")
EOF
exit "$status"
