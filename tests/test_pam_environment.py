"""handle.environment, the scrubbing after authenticate(), and elevated."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest

from draxoft.auth import pam

from conftest import all_scrubbed, can_delete_environment, scrubbed
from pamstack import StackFactory


def quiet(style: int, message: Any, data: Any) -> None:
    return None


@pytest.fixture
def h(pam_stack: StackFactory) -> Any:
    with pam.handle("pytest", "alice", quiet, confdir=pam_stack(["auth required pam_permit.so"])) as handle:
        yield handle


def test_original_example(h: pam.handle) -> None:
    h.environment["answer"] = 42
    assert h.environment["answer"] == "42"
    if not can_delete_environment():
        return  # the deletion half: test_delete_where_pam_cannot
    assert "unsetenv" in pam.extensions
    del h.environment["answer"]
    assert "answer" not in h.environment


@pytest.mark.skipif(can_delete_environment(), reason=f"{pam.implementation} can delete environment variables")
def test_delete_where_pam_cannot(h: pam.handle) -> None:
    # OpenPAM's pam_putenv takes only NAME=value: no way to delete.
    env = h.environment
    env["answer"] = "42"
    with pytest.raises(TypeError) as info:
        del env["answer"]
    assert "cannot delete" in str(info.value) and "empty value" in str(info.value)
    assert env["answer"] == "42"
    with pytest.raises(TypeError):
        del env["never-set"]
    env["answer"] = ""  # what it suggests instead
    assert dict(env) == {"answer": ""}


def test_mapping_behaviour(h: pam.handle) -> None:
    env = h.environment
    assert len(env) == 0 and list(env) == []
    env["A"] = "1"
    env["B"] = b"two"
    env["C"] = 3.5
    assert env["A"] == "1" and env["B"] == "two" and env["C"] == "3.5"
    assert sorted(env) == ["A", "B", "C"]
    assert len(env) == 3
    assert dict(env) == {"A": "1", "B": "two", "C": "3.5"}
    assert env.get("missing") is None
    env["A"] = "changed"
    assert env["A"] == "changed"
    env.update({"D": "4"})
    if not can_delete_environment():
        with pytest.raises(TypeError):
            env.pop("D")
        return
    assert env.pop("D") == "4"
    assert "D" not in env
    env.clear()
    assert len(env) == 0


def test_empty_value_is_a_value(h: pam.handle) -> None:
    env = h.environment
    env["e"] = ""
    assert "e" in env
    assert env["e"] == ""
    assert list(env) == ["e"]


def test_values_that_are_not_utf8(h: pam.handle) -> None:
    env = h.environment
    env["RAW"] = b"\xff\xfe"
    assert env["RAW"] == "\udcff\udcfe"
    env["COPY"] = env["RAW"]
    assert h.environment["COPY"].encode("utf-8", "surrogateescape") == b"\xff\xfe"


def test_missing_name_is_a_key_error(h: pam.handle) -> None:
    with pytest.raises(KeyError):
        h.environment["NOPE"]
    with pytest.raises(KeyError if can_delete_environment() else TypeError):
        del h.environment["NOPE"]


@pytest.mark.parametrize("name", ["", "A=B", "A\0B", "=", b"", b"x=y"])
def test_bad_names_are_value_errors(h: pam.handle, name: Any) -> None:
    env = h.environment
    with pytest.raises(ValueError):
        env[name] = "x"
    with pytest.raises(ValueError):
        env[name]
    with pytest.raises(ValueError):
        del env[name]
    with pytest.raises(ValueError):
        name in env  # noqa: B015


def test_name_of_wrong_type(h: pam.handle) -> None:
    with pytest.raises(TypeError):
        h.environment[5] = "x"  # type: ignore[index]


def test_value_with_nul_is_a_value_error(h: pam.handle) -> None:
    with pytest.raises(ValueError):
        h.environment["A"] = "x\0y"


def test_view_outlives_its_handle_reference(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required pam_permit.so"])
    env = pam.handle("pytest", "alice", quiet, confdir=confdir).environment
    # The handle object is only reachable through the view now.
    env["kept"] = "yes"
    assert env["kept"] == "yes"
    del env


def test_view_of_closed_handle_raises(pam_stack: StackFactory) -> None:
    h = pam.handle("pytest", "alice", quiet, confdir=pam_stack(["auth required pam_permit.so"]))
    env = h.environment
    env["x"] = "1"
    h.close()
    for use in (lambda: env["x"], lambda: "x" in env, lambda: list(env), lambda: len(env)):
        with pytest.raises(ValueError):
            use()
    assert "closed" in repr(env)


def test_repr_names_only(h: pam.handle) -> None:
    h.environment["TOKEN"] = "s3cret-value"
    assert "TOKEN" in repr(h.environment)
    assert "s3cret" not in repr(h.environment)


def test_session_modules_set_variables(pam_stack: StackFactory, tmp_path: Path) -> None:
    conffile = tmp_path / "pam_env.conf"
    conffile.write_text('GREETING DEFAULT="hello world"\nWHO DEFAULT=@{PAM_USER}\n')
    envfile = tmp_path / "environment"
    envfile.write_text("FROM_ENVFILE=yes\n")
    confdir = pam_stack(
        [
            f"session required pam_env.so conffile={conffile} envfile={envfile}",
            "session required {pytest} setenv=FROM_MODULE=1",
        ]
    )
    with pam.handle("pytest", "alice", quiet, confdir=confdir) as h:
        h.open_session()
        env = dict(h.environment)
        h.close_session()
    assert env["GREETING"] == "hello world"
    assert env["FROM_ENVFILE"] == "yes"
    assert env["FROM_MODULE"] == "1"


# ----------------------------------------------------------------------
# Scrubbing and elevated


def test_environment_is_scrubbed_after_authenticate(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} setenv=SECRET=from-auth"])
    with pam.handle("pytest", "alice", quiet, confdir=confdir) as h:
        h.environment["SET_BEFORE"] = "x"
        assert h.authenticate()
        assert all_scrubbed(h.environment)


def test_scrubbed_when_authenticate_fails_or_raises(pam_stack: StackFactory) -> None:
    confdir = pam_stack(
        {
            "fails": ["auth required {pytest} setenv=SECRET=1 ret=PAM_AUTH_ERR"],
            "raises": ["auth required {pytest} setenv=SECRET=1 ret=PAM_USER_UNKNOWN"],
            "conv": ["auth required {pytest} setenv=SECRET=1 msg=echo_off:pw"],
        }
    )

    def boom(style: int, message: Any, data: Any) -> None:
        raise KeyError("x")

    with pam.handle("fails", "alice", quiet, confdir=confdir) as h:
        assert h.authenticate() is False
        assert scrubbed(h.environment, "SECRET")
    with pam.handle("raises", "alice", quiet, confdir=confdir) as h:
        with pytest.raises(pam.PamError):
            h.authenticate()
        assert scrubbed(h.environment, "SECRET")
    with pam.handle("conv", "alice", boom, confdir=confdir) as h:
        with pytest.raises(KeyError):
            h.authenticate()
        assert scrubbed(h.environment, "SECRET")


def test_other_operations_do_not_scrub(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["account required {pytest} setenv=KEPT=1"])
    with pam.handle("pytest", "alice", quiet, confdir=confdir) as h:
        h.acct_mgmt()
        assert h.environment["KEPT"] == "1"


@pytest.mark.skipif(os.geteuid() != 0, reason="elevated=True needs euid 0")
def test_elevated_keeps_the_environment(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required {pytest} setenv=SECRET=from-auth"])
    with pam.handle("pytest", "alice", quiet, confdir=confdir) as h:
        assert h.elevated is False
        h.elevated = True
        assert h.elevated is True
        assert h.authenticate()
        assert h.environment["SECRET"] == "from-auth"
        h.elevated = False
        assert h.authenticate()
        assert scrubbed(h.environment, "SECRET")


def test_elevated_refused_without_euid_0(pam_stack: StackFactory) -> None:
    confdir = pam_stack(["auth required pam_permit.so"])
    with pam.handle("pytest", "alice", quiet, confdir=confdir) as h:
        if os.geteuid() != 0:
            with pytest.raises(OSError) as info:
                h.elevated = True
            assert info.value.errno == errno.EACCES
            return
        # As root: check it in a child that gives up root first.
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child reports through the pipe
            code = b"?"
            try:
                os.setgid(65534)
                os.setuid(65534)
                try:
                    h.elevated = True
                    code = b"not refused"
                except OSError as e:
                    code = b"EACCES" if e.errno == errno.EACCES and not h.elevated else repr(e).encode()
                h.elevated = False  # always allowed
            finally:
                os.write(write_end, code)
                os._exit(0)
        os.close(write_end)
        answer = os.read(read_end, 200)
        os.close(read_end)
        os.waitpid(pid, 0)
        assert answer == b"EACCES"
