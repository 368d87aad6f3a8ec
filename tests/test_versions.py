"""One version everywhere: the VERSION file is the single source.

debian/changelog, the RPM spec, configure (made from configure.ac, which
reads VERSION) and the metadata of the installed distribution must all say
what VERSION says, so that a release cannot ship two numbers.  A file that
is not in this tree (an sdist carries neither debian/ nor packaging/) skips
its own check; the metadata check always runs.

The distro packages run the suite while they build, so they must also
declare what the suite needs: each requirement of the ``test`` extra is a
build dependency of both.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DIST_NAME = "draxoft.auth.pam"
CHANGELOG = ROOT / "debian" / "changelog"
CONTROL = ROOT / "debian" / "control"
SPEC = ROOT / "packaging" / "rpm" / "python-draxoft-auth-pam.spec"
CONFIGURE = ROOT / "configure"

#: Debian package names that are not python3-<distribution name>.
DEBIAN_NAMES: dict[str, str] = {"pyyaml": "python3-yaml", "furo": "furo"}

#: A PEP 440 release such as 0.1.0, 1.2rc1 or 2.0.post1 (no local part).
PEP440_PUBLIC = re.compile(
    r"^\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?$"
)


@pytest.fixture(scope="module")
def version() -> str:
    """The contents of VERSION, the one place a release number is written."""
    path = ROOT / "VERSION"
    if not path.is_file():
        pytest.fail(f"{path} is missing: it is the source of the version", pytrace=False)
    text = path.read_text(encoding="utf-8")
    assert text == text.strip() + "\n", "VERSION must hold one line and nothing else"
    return text.strip()


def _needs(path: Path) -> None:
    if not path.is_file():
        pytest.skip(f"{path.relative_to(ROOT)} is not in this tree")


def debian_upstream_version(changelog_text: str) -> str:
    """The upstream part of the newest debian/changelog entry.

    ``pkg (1:0.1.0-2) unstable; ...`` gives ``0.1.0``: no epoch, no Debian
    revision.
    """
    first = changelog_text.lstrip().splitlines()[0]
    found = re.match(r"^\S+ \(([^)\s]+)\) ", first)
    assert found, f"not a debian/changelog heading: {first!r}"
    full = found.group(1)
    full = full.split(":", 1)[1] if ":" in full else full
    upstream, dash, _revision = full.rpartition("-")
    return upstream if dash else full


def spec_version(spec_text: str) -> str:
    """The literal ``Version:`` tag of the spec (it must not be a macro)."""
    found = re.findall(r"^Version:\s*(\S+)\s*$", spec_text, flags=re.MULTILINE)
    assert len(found) == 1, f"expected one Version: tag in the spec, found {found}"
    return str(found[0])


def test_version_is_a_pep440_release(version: str) -> None:
    """Debian and RPM compare versions differently from Python; a plain
    release number sorts the same way in all three."""
    assert PEP440_PUBLIC.match(version), version


def test_debian_changelog_matches(version: str) -> None:
    _needs(CHANGELOG)
    text = CHANGELOG.read_text(encoding="utf-8")
    assert debian_upstream_version(text) == version, (
        "debian/changelog's newest entry is for another upstream version: "
        "add an entry (dch -v VERSION-1) when VERSION changes"
    )


def test_debian_changelog_source_name() -> None:
    _needs(CHANGELOG)
    first = CHANGELOG.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("draxoft-auth-pam ("), first


def test_rpm_spec_matches(version: str) -> None:
    _needs(SPEC)
    assert spec_version(SPEC.read_text(encoding="utf-8")) == version, (
        "the RPM spec's Version: differs from VERSION"
    )


def test_configure_matches(version: str) -> None:
    """configure takes its version from VERSION when ./autogen.sh runs."""
    _needs(CONFIGURE)
    found = re.search(
        r"^PACKAGE_VERSION='([^']*)'$",
        CONFIGURE.read_text(encoding="utf-8"),
        flags=re.MULTILINE,
    )
    assert found, "configure has no PACKAGE_VERSION"
    assert found.group(1) == version, "configure is older than VERSION: run ./autogen.sh"


def test_installed_metadata_matches(version: str) -> None:
    """The distribution under test reports VERSION."""
    assert importlib.metadata.version(DIST_NAME) == version


def test_metadata_belongs_to_the_imported_package() -> None:
    """The metadata read above is that of the package the suite imports,
    not of another copy elsewhere on sys.path."""
    from draxoft.auth import pam

    dist = importlib.metadata.distribution(DIST_NAME)
    direct_url = dist.read_text("direct_url.json")
    if direct_url and json.loads(direct_url).get("dir_info", {}).get("editable"):
        pytest.skip("editable install: its files stay in the source tree")
    recorded = Path(dist.locate_file("draxoft/auth/pam/__init__.py"))
    assert recorded.resolve() == Path(pam.__file__).resolve()


def _test_extra() -> list[str]:
    """Names of the distribution's ``test`` extra, from its metadata."""
    names = []
    for requirement in importlib.metadata.requires(DIST_NAME) or []:
        spec, _, marker = requirement.partition(";")
        if re.search(r"""extra\s*==\s*["']test["']""", marker):
            found = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", spec)
            assert found, requirement
            names.append(found.group(1))
    return names


def debian_build_depends(control_text: str) -> set[str]:
    """Package names in the source stanza's Build-Depends (and -Indep/-Arch)."""
    source = control_text.split("\n\n", 1)[0]
    fields = re.findall(
        r"^Build-Depends(?:-Indep|-Arch)?:((?:.*\n?)(?:[ \t].*\n?)*)", source, flags=re.MULTILINE
    )
    names = set()
    for field in fields:
        for alternative in re.split(r"[,|]", field):
            found = re.match(r"\s*([a-z0-9][a-z0-9+.-]+)", alternative)
            if found:
                names.add(found.group(1))
    return names


def test_debian_build_depends_on_the_test_requirements() -> None:
    _needs(CONTROL)
    declared = debian_build_depends(CONTROL.read_text(encoding="utf-8"))
    wanted = {DEBIAN_NAMES.get(name.lower(), f"python3-{name.lower().replace('_', '-')}") for name in _test_extra()}
    assert wanted, "the distribution declares no test extra"
    assert wanted <= declared, f"add to Build-Depends (with <!nocheck>): {sorted(wanted - declared)}"


def test_rpm_build_requires_the_test_requirements() -> None:
    _needs(SPEC)
    declared = set(
        re.findall(r"^BuildRequires:\s*python3dist\(([^)]+)\)", SPEC.read_text(encoding="utf-8"), flags=re.MULTILINE)
    )
    wanted = {name.lower() for name in _test_extra()}
    assert wanted, "the distribution declares no test extra"
    assert wanted <= {name.lower() for name in declared}, (
        f"add BuildRequires: python3dist(NAME) under %if %{{with check}}: {sorted(wanted - declared)}"
    )
