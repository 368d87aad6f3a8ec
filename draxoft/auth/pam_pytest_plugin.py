"""The pytest plugin of draxoft.auth.pam: the ``pam_sandbox`` fixture.

Installing draxoft.auth.pam registers this module with pytest (its
``pytest11`` entry point), so that every test suite can ask for
``pam_sandbox``: a :class:`draxoft.auth.pam.testing.Sandbox` in the test's
own ``tmp_path``. pytest loads it in every run on a machine with the
package, so it imports pytest alone; the binding is imported only when a
test uses the fixture. ``-p no:draxoft.auth.pam_pytest_plugin`` turns it
off.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pathlib import Path

    from draxoft.auth.pam.testing import Sandbox


@pytest.fixture
def pam_sandbox(tmp_path: Path) -> Sandbox:
    """A PAM sandbox of this test's own, in ``tmp_path / "pam-sandbox"``:
    add users, write services, pass its ``confdir`` or activate it (see
    :class:`draxoft.auth.pam.testing.Sandbox`)."""
    from draxoft.auth.pam.testing import Sandbox

    return Sandbox(tmp_path / "pam-sandbox")
