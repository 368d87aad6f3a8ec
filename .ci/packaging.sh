#!/usr/bin/env bash
# CI, distro packaging: on Debian 12 as root, build the Debian package with
# dpkg-buildpackage (the suite runs during the build), lint it, install it
# into the system Python, run the suite against it from outside the source
# tree, purge it, then build the RPM with rpmbuild and lint and list it.
#
# Everything is built in a temporary directory from a copy of the tree (the
# tracked files plus new, non-ignored ones), so the tree is never written to.
# Exits non-zero on the first failure.  KEEP_WORKDIR=1 keeps the build
# directory; RPM_CHECK=0 skips the suite in the RPM's %check.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
spec="$repo/packaging/rpm/python-draxoft-auth-pam.spec"
deb_package=python3-draxoft-auth-pam
# The build must use the distro's tools and Python, not a python3 from pyenv,
# a venv or /usr/local that happens to come first on PATH.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export DEBIAN_FRONTEND=noninteractive
unset PYTHONPATH PYTHONHOME VIRTUAL_ENV

step_start=$SECONDS
step() {
    echo "== packaging: $* (at ${SECONDS}s)"
    step_start=$SECONDS
}
die() {
    echo "packaging: error: $*" >&2
    exit 1
}

work=$(mktemp -d /tmp/draxoft-packaging.XXXXXX)
installed=no
cleanup() {
    status=$?
    if [ "$installed" = yes ]; then
        echo "== packaging: purging $deb_package after a failure"
        apt-get purge -y -q "$deb_package" >/dev/null || true
    fi
    if [ "${KEEP_WORKDIR:-0}" = 1 ] || [ "$status" != 0 ]; then
        echo "== packaging: build directory kept: $work"
    else
        rm -rf "$work"
    fi
    exit "$status"
}
trap cleanup EXIT

# ---------------------------------------------------------------------------
step "installing the build dependencies and the packaging tools"
apt-get update -q >/dev/null
# Tools: lintian, rpm and rpmlint; the Debian package's build dependencies
# come from debian/control itself.
apt-get install -y -q --no-install-recommends \
    dpkg-dev build-essential file lintian rpm rpmlint >/dev/null
apt-get build-dep -y -q "$repo" >/dev/null
# A copy left installed by an interrupted run would be tested instead of the
# new build (apt does not reinstall the same version).
if dpkg -s "$deb_package" >/dev/null 2>&1; then
    apt-get purge -y -q "$deb_package" >/dev/null
fi

# ---------------------------------------------------------------------------
step "checking that every version comes from VERSION"
[ -f "$repo/LICENSE" ] || die "LICENSE is missing: the RPM installs it with %license"
version=$(cat "$repo/VERSION")
deb_version=$(dpkg-parsechangelog -l "$repo/debian/changelog" -S Version)
deb_upstream=${deb_version#*:}
deb_upstream=${deb_upstream%-*}
rpm_version=$(rpmspec -q --srpm --qf '%{VERSION}\n' "$spec" 2>/dev/null)
echo "VERSION $version, debian/changelog $deb_version, spec $rpm_version"
[ "$deb_upstream" = "$version" ] || die "debian/changelog is at $deb_upstream, VERSION says $version (dch -v $version-1)"
[ "$rpm_version" = "$version" ] || die "the spec's Version is $rpm_version, VERSION says $version"

# ---------------------------------------------------------------------------
step "making the source archive"
srcdir_name="draxoft-auth-pam-$version"
tarball="$work/$srcdir_name.tar.gz"
mkdir -p "$work/tree/$srcdir_name"
if git -C "$repo" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # Tracked and new files that .gitignore does not exclude, and that exist.
    (cd "$repo" && git ls-files -z --cached --others --exclude-standard \
        | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
        | tar --null --no-recursion -T - -cf -) | tar -C "$work/tree/$srcdir_name" -xf -
else
    tar -C "$repo" --exclude=.git -cf - . | tar -C "$work/tree/$srcdir_name" -xf -
fi
tar -C "$work/tree" --owner=0 --group=0 --sort=name -czf "$tarball" "$srcdir_name"

# ---------------------------------------------------------------------------
step "building the Debian package (dpkg-buildpackage -us -uc -b, runs the suite)"
mkdir -p "$work/deb"
tar -C "$work/deb" -xzf "$tarball"
log="$work/deb/build.log"
if ! (cd "$work/deb/$srcdir_name" && dpkg-buildpackage -us -uc -b) >"$log" 2>&1; then
    tail -n 150 "$log"
    die "dpkg-buildpackage failed (log: $log)"
fi
# The suite's closing line, from the test run during the build.
grep -E '^=+ .*(passed|failed).* =+$' "$log" | tail -n 1 || true
deb=$(ls "$work"/deb/${deb_package}_*.deb)
changes=$(ls "$work"/deb/*.changes)
echo "built $(basename "$deb") in $((SECONDS - step_start))s"
dpkg-deb --contents "$deb" | grep -E '__pamlow|pam/__init__.py|dist-info/METADATA' \
    || die "the .deb lacks the extension or the Python layer"
# The test kit: its PAM module, its pytest plugin and the plugin's entry point.
dpkg-deb --contents "$deb" >"$work/deb-files.txt"
for pattern in '/draxoft/auth/pam/testing/pam_sandbox\.so$' '/draxoft/auth/pam_pytest_plugin\.py$' \
    '\.dist-info/entry_points\.txt$'; do
    grep -Eq "$pattern" "$work/deb-files.txt" || die "the .deb has no file matching $pattern"
done

# ---------------------------------------------------------------------------
step "building the Debian source package (dpkg-source -b)"
# The same archive as the upstream tarball, so that lintian sees the source
# package as well as the binary one.
mkdir -p "$work/dsc"
cp "$tarball" "$work/dsc/draxoft-auth-pam_$version.orig.tar.gz"
tar -C "$work/dsc" -xzf "$tarball"
(cd "$work/dsc" && dpkg-source -b "$srcdir_name" >/dev/null)
dsc=$(ls "$work"/dsc/*.dsc)

step "lintian"
# Errors fail the job; warnings and infos are printed.
lintian --fail-on error --display-info "$dsc" "$changes"

# ---------------------------------------------------------------------------
step "installing the .deb into the system Python"
installed=yes
apt-get install -y -q --no-install-recommends "$deb" >/dev/null
outside=$(mktemp -d "$work/outside.XXXXXX")
(cd "$outside" && /usr/bin/python3 -c '
import sys
from draxoft.auth import _pamlow, pam
for module in (_pamlow, pam):
    assert module.__file__.startswith("/usr/lib/python3/dist-packages/"), module.__file__
print("imports from", pam.__file__, "on", sys.version.split()[0], pam.implementation)
')
/usr/bin/pam-tester --help >/dev/null || die "the pam-tester script does not run"

step "running the suite against the installed package (debian/tests/upstream)"
# The package's autopkgtest, run as autopkgtest would: from the source tree,
# with an empty directory of its own to work in.
(cd "$repo" && AUTOPKGTEST_TMP="$outside" sh debian/tests/upstream)

step "purging the package"
apt-get purge -y -q "$deb_package" >/dev/null
installed=no
if /usr/bin/python3 -c 'import draxoft.auth.pam' 2>/dev/null; then
    die "draxoft.auth.pam still imports after the purge"
fi

# ---------------------------------------------------------------------------
step "building the RPM (rpmbuild -bb --nodeps)"
top="$work/rpmbuild"
mkdir -p "$top/SOURCES"
cp "$tarball" "$top/SOURCES/"
rpm_args=(--define "_topdir $top")
[ "${RPM_CHECK:-1}" = 1 ] || rpm_args+=(--without check)
log="$work/rpmbuild.log"
if ! rpmbuild -bb --nodeps "${rpm_args[@]}" "$spec" >"$log" 2>&1; then
    tail -n 150 "$log"
    die "rpmbuild failed (log: $log)"
fi
grep -E '^=+ .*(passed|failed).* =+$' "$log" | tail -n 1 || true
rpm_file=$(ls "$top"/RPMS/*/python3-draxoft-auth-pam-"$version"-*.rpm)
echo "built $(basename "$rpm_file") in $((SECONDS - step_start))s"

step "checking the RPM's file list"
rpm -qlp "$rpm_file" >"$work/rpm-files.txt"
echo "$(wc -l <"$work/rpm-files.txt") entries; without byte-code and the Python layer's modules:"
grep -Ev '\.pyc$|/draxoft/auth/pam/[^/]+\.pyi?$' "$work/rpm-files.txt"
for pattern in \
    '/draxoft/auth/__pamlow\.cpython-[^/]*\.so$' \
    '/draxoft/auth/_pamlow\.py$' \
    '/draxoft/auth/pam/__init__\.py$' \
    '/draxoft/auth/pam/py\.typed$' \
    '/draxoft/auth/pam/testing/pam_sandbox\.so$' \
    '/draxoft/auth/pam_pytest_plugin\.py$' \
    '/draxoft[._]auth[._]pam-[^/]*\.dist-info/METADATA$'; do
    grep -Eq "$pattern" "$work/rpm-files.txt" || die "the RPM has no file matching $pattern"
done

step "rpmlint"
# With Fedora's settings (see the file); rpmlint exits non-zero on errors,
# and prints warnings only.
rpmlint -c "$repo/packaging/rpm/rpmlint.toml" "$spec" "$rpm_file"

echo "== packaging: all done in ${SECONDS}s"
