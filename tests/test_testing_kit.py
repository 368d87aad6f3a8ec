"""The test kit, draxoft.auth.pam.testing, against real PAM: its module
pam_sandbox.so (the password database, forced codes, slow steps, messages),
the Sandbox's files and checks, activate(), and the pam_sandbox fixture,
which these tests use as any suite would."""

from __future__ import annotations

import asyncio
import ctypes
import importlib.metadata
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from draxoft.auth import pam
from draxoft.auth.pam import _check, aio
from draxoft.auth.pam.testing import MODULE, OPERATIONS, Conversation, Sandbox, Step

#: Every return code the headers of this build define.
RETURN_CODES = [
    name for name in (
        "PAM_OPEN_ERR", "PAM_SYMBOL_ERR", "PAM_SERVICE_ERR", "PAM_SYSTEM_ERR", "PAM_BUF_ERR",
        "PAM_PERM_DENIED", "PAM_AUTH_ERR", "PAM_CRED_INSUFFICIENT", "PAM_AUTHINFO_UNAVAIL",
        "PAM_USER_UNKNOWN", "PAM_MAXTRIES", "PAM_NEW_AUTHTOK_REQD", "PAM_ACCT_EXPIRED",
        "PAM_SESSION_ERR", "PAM_CRED_UNAVAIL", "PAM_CRED_EXPIRED", "PAM_CRED_ERR",
        "PAM_NO_MODULE_DATA", "PAM_CONV_ERR", "PAM_AUTHTOK_ERR", "PAM_AUTHTOK_RECOVERY_ERR",
        "PAM_AUTHTOK_LOCK_BUSY", "PAM_AUTHTOK_DISABLE_AGING", "PAM_TRY_AGAIN", "PAM_ABORT",
        "PAM_AUTHTOK_EXPIRED", "PAM_MODULE_UNKNOWN", "PAM_BAD_ITEM", "PAM_CONV_AGAIN",
    )
    if hasattr(pam, name)
]

# Flags the operations are called with in call(); pam_setcred wants one.
FLAGS = {"setcred": pam.PAM_ESTABLISH_CRED}


@pytest.fixture
def sandbox(pam_sandbox: Sandbox) -> Sandbox:
    pam_sandbox.add_user("alice", "wonderland")
    pam_sandbox.add_user("carol", "secret:with colon")
    return pam_sandbox


def start(sandbox: Sandbox, service: str, conv: Any = None, user: str = "alice") -> pam.handle:
    return pam.handle(service, user, conv or Conversation(), confdir=sandbox.confdir)


# ---------------------------------------------------------------------------
# The password service


def test_the_right_password_logs_in(sandbox: Sandbox) -> None:
    service = sandbox.password_service("app")
    assert pam.authenticate("alice", "wonderland", service, confdir=sandbox.confdir)
    assert pam.authenticate("carol", "secret:with colon", service, confdir=sandbox.confdir)


def test_a_wrong_password_and_an_unknown_user_are_refused(sandbox: Sandbox) -> None:
    service = sandbox.password_service("app")
    assert not pam.authenticate("alice", "wrong", service, confdir=sandbox.confdir)
    assert not pam.authenticate("alice", "", service, confdir=sandbox.confdir)
    assert not pam.authenticate("bob", "wonderland", service, confdir=sandbox.confdir)
    with start(sandbox, service, Conversation("wrong")) as h:
        assert h.authenticate() is False
    with start(sandbox, service, Conversation("x"), user="bob") as h:
        with pytest.raises(pam.PamError) as info:
            h.authenticate()
        assert info.value.errno == pam.PAM_USER_UNKNOWN
        with pytest.raises(pam.PamError) as info:
            h.acct_mgmt()
        assert info.value.errno == pam.PAM_USER_UNKNOWN


def test_the_password_is_asked_once_and_kept_as_the_authtok(sandbox: Sandbox) -> None:
    service = sandbox.password_service("app")
    conv = Conversation("wonderland")
    with start(sandbox, service, conv) as h:
        h.elevated = True  # keep the items for the check below
        assert h.authenticate()
        assert conv.messages == [(pam.PAM_PROMPT_ECHO_OFF, "Password: ")]


def test_an_empty_password_and_disallow_null_token(pam_sandbox: Sandbox) -> None:
    pam_sandbox.add_user("empty", "")
    service = pam_sandbox.password_service("app")
    with start(pam_sandbox, service, Conversation("", ""), user="empty") as h:
        assert h.authenticate()
        assert h.authenticate(disallow_null_token=True) is False


def test_sessions_and_credentials(sandbox: Sandbox) -> None:
    service = sandbox.password_service("app")
    with start(sandbox, service, Conversation("wonderland")) as h:
        assert h.authenticate()
        h.acct_mgmt()
        h.establish_credentials()
        h.open_session()
        h.refresh_credentials()
        h.close_session()
        h.delete_credentials()


def test_a_password_change(sandbox: Sandbox) -> None:
    service = sandbox.password_service("app")
    before = Path(sandbox.database).stat().st_ino
    conv = Conversation("wonderland", "looking glass", "looking glass")
    with start(sandbox, service, conv) as h:
        h.chauthtok()
    assert conv.texts() == ["Current password: ", "New password: ", "Retype new password: "]
    assert sandbox.password("alice") == "looking glass"
    assert sandbox.password("carol") == "secret:with colon"  # the other lines are kept
    info = Path(sandbox.database).stat()
    assert stat.S_IMODE(info.st_mode) == 0o600
    assert info.st_ino != before  # a new file, renamed over the old one
    assert sorted(os.listdir(Path(sandbox.database).parent)) == ["pam.d", "passwd"]  # no leftovers
    assert pam.authenticate("alice", "looking glass", service, confdir=sandbox.confdir)
    assert not pam.authenticate("alice", "wonderland", service, confdir=sandbox.confdir)


@pytest.mark.parametrize(
    "answers, code",
    [
        (("wrong", "new", "new"), "PAM_AUTH_ERR"),          # the old password is wrong
        (("wonderland", "new", "other"), "PAM_AUTHTOK_ERR"),  # the new ones differ
        (("wonderland", "", ""), "PAM_AUTHTOK_ERR"),        # empty
    ],
)
def test_a_refused_password_change(sandbox: Sandbox, answers: tuple[str, ...], code: str) -> None:
    service = sandbox.password_service("app")
    before = Path(sandbox.database).read_bytes()
    with start(sandbox, service, Conversation(*answers)) as h:
        with pytest.raises(pam.PamError) as info:
            h.chauthtok()
    assert info.value.errno == getattr(pam, code)
    assert Path(sandbox.database).read_bytes() == before


def test_the_database_file(pam_sandbox: Sandbox, tmp_path: Path) -> None:
    path = Path(pam_sandbox.database)
    assert path.parent == tmp_path / "pam-sandbox"
    assert Path(pam_sandbox.confdir) == tmp_path / "pam-sandbox" / "pam.d"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    old = os.umask(0)
    try:
        pam_sandbox.add_user("alice", "wonderland")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == "alice:wonderland\n"
    assert pam_sandbox.password("alice") == "wonderland"
    with pytest.raises(KeyError):
        pam_sandbox.password("bob")


# ---------------------------------------------------------------------------
# Forced codes, slow steps, messages


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_every_code_can_be_forced_at_every_step(sandbox: Sandbox, operation: str) -> None:
    for name in RETURN_CODES:
        code = getattr(pam, name)
        service = sandbox.password_service("forced", **{operation: code})
        with start(sandbox, service, Conversation("wonderland", "wonderland", "n", "n")) as h:
            assert h.call(operation, FLAGS.get(operation, 0)) == code, name


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_a_forced_success_skips_the_password_line(sandbox: Sandbox, operation: str) -> None:
    service = sandbox.password_service("forced", **{operation: pam.PAM_SUCCESS})
    # An unknown user and no answers: only the forced line can succeed.
    with start(sandbox, service, Conversation(), user="nobody") as h:
        assert h.call(operation, FLAGS.get(operation, 0)) == pam.PAM_SUCCESS


def test_a_forced_code_acts_at_its_step_only(sandbox: Sandbox) -> None:
    service = sandbox.password_service("expired", acct_mgmt=pam.PAM_ACCT_EXPIRED)
    with start(sandbox, service, Conversation("wonderland")) as h:
        assert h.authenticate()
        with pytest.raises(pam.PamError) as info:
            h.acct_mgmt()
        assert info.value.errno == pam.PAM_ACCT_EXPIRED
        h.open_session()
        h.close_session()
    assert not pam.authenticate("alice", "wonderland", service, confdir=sandbox.confdir)


def test_a_slow_step(sandbox: Sandbox) -> None:
    service = sandbox.password_service("slow", authenticate=Step(delay=0.5))
    with start(sandbox, service, Conversation("wonderland")) as h:
        began = time.monotonic()
        assert h.authenticate()
        assert time.monotonic() - began >= 0.45
        began = time.monotonic()
        h.acct_mgmt()  # only the step asked for is slow
        assert time.monotonic() - began < 0.45


def test_a_slow_step_with_a_forced_code(sandbox: Sandbox) -> None:
    step = Step(code=pam.PAM_AUTHINFO_UNAVAIL, delay=0.3)
    service = sandbox.password_service("slow", authenticate=step)
    began = time.monotonic()
    with pytest.raises(pam.PamError) as info:
        pam.authenticate("alice", "wonderland", service, confdir=sandbox.confdir)
    assert info.value.errno == pam.PAM_AUTHINFO_UNAVAIL
    assert time.monotonic() - began >= 0.25


@pytest.mark.parametrize("style", ["PAM_TEXT_INFO", "PAM_ERROR_MSG", "PAM_PROMPT_ECHO_ON", "PAM_PROMPT_ECHO_OFF"])
def test_a_message_of_each_style_reaches_the_conversation(sandbox: Sandbox, style: str) -> None:
    text = "Höhe: 100% [a b]  {x}\ttab"
    step = Step(message=text, style=getattr(pam, style))
    service = sandbox.password_service("chatty", acct_mgmt=step)
    prompt = "PROMPT" in style
    conv = Conversation("any answer") if prompt else Conversation()
    with start(sandbox, service, conv) as h:
        h.acct_mgmt()
    assert conv.messages == [(getattr(pam, style), text)]


@pytest.mark.parametrize("style", ["PAM_PROMPT_ECHO_ON", "PAM_PROMPT_ECHO_OFF"])
def test_a_prompt_can_demand_its_answer(sandbox: Sandbox, style: str) -> None:
    step = Step(message="Token code: ", style=getattr(pam, style), answer="123456")
    service = sandbox.password_service("otp", authenticate=step)
    with start(sandbox, service, Conversation("123456", "wonderland")) as h:
        assert h.authenticate()
    with start(sandbox, service, Conversation("654321", "wonderland")) as h:
        assert h.authenticate() is False  # refused at the prompt: PAM_AUTH_ERR
    assert not pam.authenticate("alice", "wonderland", service, confdir=sandbox.confdir)


def test_messages_at_every_step(sandbox: Sandbox) -> None:
    steps = {op: Step(message=f"at {op}", style=pam.PAM_TEXT_INFO) for op in OPERATIONS}
    service = sandbox.password_service("chatty", **steps)
    conv = Conversation("wonderland", "wonderland", "new", "new")
    with start(sandbox, service, conv) as h:
        for operation in OPERATIONS:
            assert h.call(operation, FLAGS.get(operation, 0)) == pam.PAM_SUCCESS
    assert conv.texts(pam.PAM_TEXT_INFO) == [f"at {op}" for op in OPERATIONS]


def test_service_text_and_the_placeholders(sandbox: Sandbox) -> None:
    service = sandbox.service("custom", f"""
        {sandbox.line("authenticate", Step(message="hi"))}
        auth     required  {{sandbox}}
        account  required  {{sandbox_module}} ret={pam.PAM_PERM_DENIED}
    """)
    text = (Path(sandbox.confdir) / service).read_text()
    assert text.startswith("auth requisite " + MODULE)
    assert f"auth     required  {MODULE} db=" in text
    conv = Conversation("wonderland")
    with start(sandbox, service, conv) as h:
        assert h.authenticate()
        with pytest.raises(pam.PamError) as info:
            h.acct_mgmt()
        assert info.value.errno == pam.PAM_PERM_DENIED
    assert conv.texts(pam.PAM_TEXT_INFO) == ["hi"]


def test_service_modules_by_bare_name(sandbox: Sandbox) -> None:
    # Resolved by PAM in its own module directory, on either PAM.
    service = sandbox.service("deny", "auth required pam_deny.so\naccount required pam_permit.so\n")
    assert (Path(sandbox.confdir) / service).read_text().startswith("auth required pam_deny.so\n")
    assert not pam.authenticate("alice", "wonderland", service, confdir=sandbox.confdir)


def test_a_facility_the_text_leaves_out(sandbox: Sandbox) -> None:
    # Linux-PAM refuses a step without lines with PAM_PERM_DENIED; on
    # OpenPAM the kit writes such a line, without which no step would start.
    service = sandbox.service("authonly", "auth required {sandbox}")
    with start(sandbox, service, Conversation("wonderland")) as h:
        assert h.authenticate()
        with pytest.raises(pam.PamError) as info:
            h.acct_mgmt()
        assert info.value.errno == pam.PAM_PERM_DENIED


def test_a_bad_option_is_a_service_error_that_says_why(sandbox: Sandbox) -> None:
    service = sandbox.service("typo", "account required {sandbox_module} ret=PAM_NO_SUCH_CODE")
    with start(sandbox, service) as h:
        with pytest.raises(pam.PamError) as info:
            h.acct_mgmt()
        assert info.value.errno == pam.PAM_SERVICE_ERR
        assert h.environment["PAM_SANDBOX_ERROR"] == "unknown return code: ret=PAM_NO_SUCH_CODE"


@pytest.mark.parametrize(
    "options",
    ["only=login", "sleep=-1", "sleep=x", "msg=shout:x", "msg=nostyle", "db=relative", "bogus=1",
     "ret", "msg=info:%zz", "msg=info:a%00b", "answer=x"],
)
def test_every_bad_option_is_refused(sandbox: Sandbox, options: str) -> None:
    service = sandbox.service("typo", f"account required {{sandbox_module}} {options}")
    with start(sandbox, service) as h:
        assert h.call("acct_mgmt") == pam.PAM_SERVICE_ERR
        assert "PAM_SANDBOX_ERROR" in h.environment


# ---------------------------------------------------------------------------
# activate()


@pytest.fixture
def only_here(sandbox: Sandbox) -> str:
    """A service that exists in the sandbox alone: it logs alice in only
    when the sandbox is the policy."""
    name = f"kit-only-{os.getpid()}-{id(sandbox)}"
    assert not Path("/etc/pam.d", name).exists()
    return sandbox.password_service(name)


def test_activate_reaches_every_entry_point(sandbox: Sandbox, only_here: str) -> None:
    assert _check.confdir(None) is None
    with sandbox.activate() as active:
        assert active is sandbox
        assert _check.confdir(None) == sandbox.confdir
        assert pam.authenticate("alice", "wonderland", only_here)
        assert not pam.authenticate("alice", "wrong", only_here)
        with pam.handle(only_here, "alice", Conversation("wonderland")) as h:
            assert h.authenticate()
        with pam.resident(only_here):
            pass
        assert asyncio.run(aio.authenticate("alice", "wonderland", only_here))

        async def with_aio_handle() -> bool:
            async with aio.handle(only_here, "alice", Conversation("wonderland")) as h:
                return await h.authenticate()

        assert asyncio.run(with_aio_handle())
    assert _check.confdir(None) is None


def test_an_explicit_confdir_wins(sandbox: Sandbox, tmp_path: Path) -> None:
    other = Sandbox(tmp_path / "other")
    other.add_user("alice", "other password")
    service = other.password_service("app")
    sandbox.password_service("app")
    with sandbox.activate():
        assert pam.authenticate("alice", "other password", service, confdir=other.confdir)
        assert not pam.authenticate("alice", "wonderland", service, confdir=other.confdir)
        assert pam.authenticate("alice", "wonderland", service)


def test_activations_nest_and_restore(sandbox: Sandbox, tmp_path: Path) -> None:
    inner = Sandbox(tmp_path / "inner")
    inner.add_user("alice", "inner")
    inner.password_service("app")
    sandbox.password_service("app")
    with sandbox.activate():
        with inner.activate():
            assert _check.confdir(None) == inner.confdir
            assert pam.authenticate("alice", "inner", "app")
        assert _check.confdir(None) == sandbox.confdir
        with pytest.raises(RuntimeError):
            with inner.activate():
                raise RuntimeError("the block fails")
        assert pam.authenticate("alice", "wonderland", "app")
    assert _check.confdir(None) is None


def test_an_activation_is_seen_by_other_threads(sandbox: Sandbox, only_here: str) -> None:
    results: list[bool] = []
    with sandbox.activate():
        threads = [threading.Thread(target=lambda: results.append(
            pam.authenticate("alice", "wonderland", only_here))) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert results == [True] * 4


def test_activations_ending_out_of_order(sandbox: Sandbox, tmp_path: Path) -> None:
    other = Sandbox(tmp_path / "other")
    first, second = sandbox.activate(), other.activate()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)  # another thread's block may end first
    assert _check.confdir(None) == other.confdir
    second.__exit__(None, None, None)
    assert _check.confdir(None) is None


def test_nothing_outside_the_process_activates_a_sandbox(sandbox: Sandbox, only_here: str) -> None:
    # A child given the sandbox's path every way a caller could (environment
    # variables of likely names, files in its directory) reads the system's
    # policy all the same.
    names = ["PAM_SANDBOX", "PAM_CONFDIR", "DRAXOFT_PAM_CONFDIR", "DRAXOFT_SANDBOX", "PAM_SANDBOX_CONFDIR"]
    env = dict(os.environ, **{name: sandbox.confdir for name in names})
    Path(sandbox.confdir, "..", "active").write_text(sandbox.confdir)
    code = (
        "import sys\n"
        "from draxoft.auth import pam\n"
        "from draxoft.auth.pam import _check, testing\n"
        "assert _check.confdir(None) is None\n"
        "try:\n"
        "    ok = pam.authenticate('alice', 'wonderland', sys.argv[1])\n"
        "except Exception:\n"
        "    ok = False\n"
        "print('logged in' if ok else 'refused')\n"
    )
    done = subprocess.run([sys.executable, "-c", code, only_here], env=env, cwd=Path(sandbox.confdir).parent,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "refused"


# ---------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize("name", ["", "al:ice", "al\nice", "al\0ice", "al\rice"])
def test_bad_user_names(pam_sandbox: Sandbox, name: str) -> None:
    with pytest.raises(ValueError, match="name"):
        pam_sandbox.add_user(name, "pw")


@pytest.mark.parametrize("password", ["pass\0word", "pass\nword", "pass\rword"])
def test_bad_passwords(pam_sandbox: Sandbox, password: str) -> None:
    with pytest.raises(ValueError, match="password"):
        pam_sandbox.add_user("alice", password)


def test_a_user_twice(pam_sandbox: Sandbox) -> None:
    pam_sandbox.add_user("alice", "one")
    with pytest.raises(ValueError, match="already"):
        pam_sandbox.add_user("alice", "two")


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "../etc", "/abs", "a\0b"])
def test_bad_service_names(pam_sandbox: Sandbox, name: str) -> None:
    with pytest.raises(ValueError, match="name"):
        pam_sandbox.password_service(name)
    with pytest.raises(ValueError, match="name"):
        pam_sandbox.service(name, "auth required pam_permit.so")
    assert os.listdir(pam_sandbox.confdir) == []


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.add_user(b"alice", "pw"),
        lambda s: s.add_user("alice", None),
        lambda s: s.password_service(b"app"),
        lambda s: s.service("app", b"auth required pam_permit.so"),
        lambda s: s.password_service("app", acct_mgmt="PAM_ACCT_EXPIRED"),
        lambda s: s.password_service("app", acct_mgmt=True),
        lambda s: s.line(1, pam.PAM_AUTH_ERR),
        lambda s: Sandbox(42),
        lambda s: Step(code="PAM_AUTH_ERR"),
        lambda s: Step(delay="1"),
        lambda s: Step(message=b"x"),
        lambda s: Conversation(b"x"),
    ],
)
def test_wrong_types(pam_sandbox: Sandbox, call: Any) -> None:
    with pytest.raises(TypeError):
        call(pam_sandbox)


@pytest.mark.parametrize(
    "call, word",
    [
        (lambda s: s.line("login", pam.PAM_AUTH_ERR), "operation"),
        (lambda s: s.service("app", "auth required pam_permit.so a\0b"), "text"),
        (lambda s: Step(delay=-1), "delay"),
        (lambda s: Step(style=12345, message="x"), "style"),
        (lambda s: Step(message="a\0b"), "message"),
        (lambda s: Step(answer="x"), "answer"),
        (lambda s: Step(message="x", answer="x"), "answer"),
        (lambda s: Step(code=2**31), "code"),
    ],
)
def test_bad_values(pam_sandbox: Sandbox, call: Any, word: str) -> None:
    with pytest.raises(ValueError, match=word):
        call(pam_sandbox)


# ---------------------------------------------------------------------------
# The package


def test_the_module_is_installed_with_the_package() -> None:
    from draxoft.auth import _pamlow

    # Beside the extension (and, installed, beside testing/__init__.py).
    module = Path(MODULE)
    assert module.parent == Path(_pamlow.__file__).resolve().parent / "pam" / "testing"
    assert module.is_file()
    assert module.read_bytes()[:4] == b"\x7fELF"
    loaded = ctypes.CDLL(str(module))
    for operation in ("authenticate", "setcred", "acct_mgmt", "chauthtok", "open_session", "close_session"):
        assert getattr(loaded, f"pam_sm_{operation}")


def test_the_plugin_imports_nothing_but_pytest() -> None:
    code = (
        "import sys\n"
        "import draxoft.auth.pam_pytest_plugin\n"
        "loaded = [m for m in sys.modules if m.startswith('draxoft.auth.')]\n"
        "assert loaded == ['draxoft.auth.pam_pytest_plugin'], loaded\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr


def test_the_plugin_is_registered_with_pytest(pytestconfig: pytest.Config) -> None:
    assert pytestconfig.pluginmanager.has_plugin("draxoft.auth.pam_pytest_plugin")
    try:
        distribution = importlib.metadata.distribution("draxoft.auth.pam")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("the package under test is not installed (a build tested from PYTHONPATH)")
    points = [ep for ep in distribution.entry_points if ep.group == "pytest11"]
    assert [(ep.name, ep.value) for ep in points] == [("draxoft.auth.pam_pytest_plugin",) * 2]


def test_activate_reaches_isolated_transactions(sandbox: Sandbox, only_here: str) -> None:
    from draxoft.auth.pam import isolation

    # The confdir is resolved in this process, before a worker gets it.
    try:
        with sandbox.activate():
            assert pam.authenticate("alice", "wonderland", only_here, isolated=True)
            with pam.handle(only_here, "alice", Conversation("wonderland"), isolated=True) as h:
                assert h.authenticate()
    finally:
        isolation.shutdown()  # no worker of this test outlives it
