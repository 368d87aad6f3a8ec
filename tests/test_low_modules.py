"""_pamlow against real third-party modules: pam_wrapper's pam_matrix and
pam_chatty (Linux-PAM only), the pam_unix of the implementation."""

from __future__ import annotations

from typing import Any, Callable

import pamstack
from draxoft.auth import _pamlow as low

USER = "alice"


def _matrix_stack(pam_stack: pamstack.StackFactory, passdb: str) -> str:
    """All four stack types on pam_matrix with this password file."""
    return pam_stack([f"{kind} required pam_matrix.so passdb={passdb}"
                      for kind in ("auth", "account", "password", "session")])


def _with_handle(confdir: str, conv: Any, body: Callable[[Any], None],
                 service: str = "pytest", user: str = USER) -> None:
    """Runs body on a started handle, ending it whatever happens."""
    rc, h = low.pam_start_confdir(service, user, conv, confdir)
    assert rc == low.PAM_SUCCESS
    try:
        body(h)
        assert low.pamlow_take_error(h) is None
    finally:
        low.pam_end(h, low.PAM_SUCCESS)


def test_matrix_authenticate(pam_stack: pamstack.StackFactory, matrix_passdb: Any) -> None:
    """pam_matrix asks 'Password: ' and checks the answer."""
    confdir = _matrix_stack(pam_stack, matrix_passdb([(USER, "secret", "pytest")]))
    good = pamstack.RecordingConv(["secret"])
    _with_handle(confdir, good,
                 lambda h: _expect(low.pam_authenticate(h, 0), low.PAM_SUCCESS))
    assert good.calls == [(low.PAM_PROMPT_ECHO_OFF, b"Password: ")]
    _with_handle(confdir, pamstack.RecordingConv([b"wrong"]),
                 lambda h: _expect(low.pam_authenticate(h, 0), low.PAM_AUTH_ERR))


def _expect(actual: int, expected: int) -> None:
    """Asserts a PAM code, naming both in the failure."""
    assert actual == expected, (low.pam_strerror(None, actual), low.pam_strerror(None, expected))


def test_matrix_account_and_session(pam_stack: pamstack.StackFactory, matrix_passdb: Any) -> None:
    """Account: the service must be the user's; session and setcred put
    variables into the PAM environment."""
    passdb = matrix_passdb([(USER, "secret", "pytest"), ("bob", "pw", "elsewhere")])
    confdir = _matrix_stack(pam_stack, passdb)

    def body(h: Any) -> None:
        _expect(low.pam_acct_mgmt(h, 0), low.PAM_SUCCESS)
        _expect(low.pam_setcred(h, low.PAM_ESTABLISH_CRED), low.PAM_SUCCESS)
        assert low.pam_getenv(h, "CRED") == f"/tmp/{USER}".encode()
        _expect(low.pam_open_session(h, 0), low.PAM_SUCCESS)
        assert low.pam_getenv(h, "HOMEDIR") == f"/home/{USER}".encode()
        _expect(low.pam_close_session(h, 0), low.PAM_SUCCESS)
        assert low.pam_getenv(h, "HOMEDIR") is None

    _with_handle(confdir, None, body)
    _with_handle(confdir, None, lambda h: _expect(low.pam_acct_mgmt(h, 0), low.PAM_PERM_DENIED),
                 user="bob")


def test_matrix_chauthtok_then_new_password(
    pam_stack: pamstack.StackFactory, matrix_passdb: Any
) -> None:
    """Changing the password through the conversation (old, new, verify)
    rewrites the database; the new password then authenticates and the
    old one no longer does."""
    passdb = matrix_passdb([(USER, "old-secret", "pytest"), ("bob", "pw", "pytest")])
    confdir = _matrix_stack(pam_stack, passdb)
    answers = {b"Old password: ": "old-secret",
               b"New Password :": "n\u00e9w-secret",
               b"Verify New Password :": b"n\xc3\xa9w-secret"}
    conv = pamstack.RecordingConv(lambda style, message: answers[message])
    _with_handle(confdir, conv, lambda h: _expect(low.pam_chauthtok(h, 0), low.PAM_SUCCESS))
    assert conv.messages == list(answers)
    assert all(style == low.PAM_PROMPT_ECHO_OFF for style, _ in conv.calls)
    assert pamstack.read_matrix_passdb(passdb) == [
        (USER, "n\u00e9w-secret", "pytest"), ("bob", "pw", "pytest")]
    _with_handle(confdir, pamstack.RecordingConv(["n\u00e9w-secret"]),
                 lambda h: _expect(low.pam_authenticate(h, 0), low.PAM_SUCCESS))
    _with_handle(confdir, pamstack.RecordingConv(["old-secret"]),
                 lambda h: _expect(low.pam_authenticate(h, 0), low.PAM_AUTH_ERR))


def test_matrix_chauthtok_mismatch(pam_stack: pamstack.StackFactory, matrix_passdb: Any) -> None:
    """New and verify differ: the change fails and the database stays."""
    passdb = matrix_passdb([(USER, "old", "pytest")])
    confdir = _matrix_stack(pam_stack, passdb)
    answers = iter(["old", "new1", "new2", None])
    _with_handle(confdir, pamstack.RecordingConv(lambda s, m: next(answers)),
                 lambda h: _expect(low.pam_chauthtok(h, 0), low.PAM_AUTHINFO_UNAVAIL))
    assert pamstack.read_matrix_passdb(passdb) == [(USER, "old", "pytest")]


def test_matrix_wrong_old_password(pam_stack: pamstack.StackFactory, matrix_passdb: Any) -> None:
    """A wrong old password stops the change in the preliminary pass."""
    passdb = matrix_passdb([(USER, "old", "pytest")])
    conv = pamstack.RecordingConv(["not-old", "x", "x"])
    _with_handle(_matrix_stack(pam_stack, passdb), conv,
                 lambda h: _expect(low.pam_chauthtok(h, 0), low.PAM_AUTH_ERR))
    assert conv.messages == [b"Old password: "]
    assert pamstack.read_matrix_passdb(passdb) == [(USER, "old", "pytest")]


def test_chatty_messages_arrive(pam_stack: pamstack.StackFactory) -> None:
    """pam_chatty's info and error lines arrive in order, one call each."""
    conv = pamstack.RecordingConv()
    confdir = pam_stack(["auth required pam_chatty.so num_lines=5 info error"])
    _with_handle(confdir, conv, lambda h: _expect(low.pam_authenticate(h, 0), low.PAM_SUCCESS))
    assert conv.calls == (
        [(low.PAM_TEXT_INFO, b"Authentication succeeded")] * 5
        + [(low.PAM_ERROR_MSG, b"Authentication generated an error")] * 5
    )


def test_unix_unknown_user(pam_stack: pamstack.StackFactory, unknown_user: str) -> None:
    """pam_unix with a user this machine does not have: it still asks for a
    password, then answers PAM_USER_UNKNOWN, in auth and in account
    (OpenPAM's pam_unix answers without asking, in auth only: its account
    check always succeeds)."""
    conv = pamstack.RecordingConv(["whatever"])
    confdir = pam_stack(["auth required pam_unix.so nodelay",
                         "account required pam_unix.so"])

    def body(h: Any) -> None:
        _expect(low.pam_authenticate(h, 0), low.PAM_USER_UNKNOWN)
        _expect(low.pam_acct_mgmt(h, 0),
                low.PAM_SUCCESS if pamstack.is_openpam() else low.PAM_USER_UNKNOWN)

    _with_handle(confdir, conv, body, user=unknown_user)
    # OpenPAM's pam_unix gives up before it asks.
    asked = [] if pamstack.is_openpam() else [(low.PAM_PROMPT_ECHO_OFF, b"Password: ")]
    assert conv.calls == asked
