"""Tests of web_login.py's login, against real PAM stacks in a temporary directory.

    python -m pytest docs/examples/test_web_login.py

Needs pam_wrapper's pam_matrix (Debian, Ubuntu: libpam-wrapper), and
Linux-PAM 1.4 or newer for confdir. No root, and /etc/pam.d is not read.
"""

from __future__ import annotations

import io
import logging
import urllib.parse

import pytest

import web_login
from sandbox import sandbox

USERS = [("alice", "wonderland", "webapp"), ("carol", "secret", "mail")]


@pytest.fixture
def confdir(tmp_path):
    """The stack of the tutorial: pam_matrix checks passwords and accounts."""
    return sandbox(
        {"webapp": """
            auth     required  {matrix} passdb={passdb}
            account  required  {matrix} passdb={passdb}
        """},
        users=USERS,
        directory=tmp_path / "pam.d",
    )


def check(user, password, confdir, client_ip="192.0.2.10"):
    return web_login.check_login(user, password, client_ip, "webapp", confdir)


def test_the_right_password_logs_in(confdir):
    assert check("alice", "wonderland", confdir) == "ok"


@pytest.mark.parametrize(
    "user, password",
    [
        ("alice", "wrong"),        # wrong password
        ("mallory", "wonderland"),  # unknown user
        ("carol", "secret"),       # right password, but not allowed to use webapp
        ("alice", ""),             # empty password
        ("al\0ice", "wonderland"),  # cannot even be passed to PAM
    ],
)
def test_every_refusal_looks_the_same(confdir, user, password):
    assert check(user, password, confdir) == "refused"


def test_an_expired_password(tmp_path):
    # pam_debug returns what it is told: here, "the password must be changed".
    confdir = sandbox(
        {"webapp": """
            auth     required  {matrix} passdb={passdb}
            account  required  pam_debug.so acct=new_authtok_reqd
        """},
        users=USERS,
        directory=tmp_path,
    )
    assert check("alice", "wonderland", confdir) == "expired"
    assert check("alice", "wrong", confdir) == "refused"


def test_a_failing_stack_is_unavailable_and_logged(tmp_path, caplog):
    confdir = sandbox(
        {"webapp": """
            auth     required  pam_debug.so auth=authinfo_unavail
            account  required  pam_permit.so
        """},
        directory=tmp_path,
    )
    with caplog.at_level(logging.ERROR, logger="web_login"):
        assert check("alice", "wonderland", confdir) == "unavailable"
    assert "PAM failed" in caplog.text
    assert "wonderland" not in caplog.text  # the password is never logged


def test_the_client_address_reaches_pam(tmp_path):
    # pam_exec runs a command with the PAM items in its environment; the
    # command fails unless PAM_RHOST is the client's address.
    confdir = sandbox(
        {"webapp": """
            auth    required {matrix} passdb={passdb}
            account required pam_exec.so quiet /bin/sh -c [test "$PAM_RHOST" = 192.0.2.10]
        """},
        users=USERS,
        directory=tmp_path,
    )
    assert check("alice", "wonderland", confdir, client_ip="192.0.2.10") == "ok"
    # pam_exec reports a failed command as a system error: PamError.
    result = check("alice", "wonderland", confdir, client_ip="198.51.100.7")
    assert result == "unavailable"


def post(app, client_ip="192.0.2.10", **form):
    """Send the WSGI application a login form; return (status, page)."""
    body = urllib.parse.urlencode(form).encode()
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/login",
        "CONTENT_LENGTH": str(len(body)),
        "REMOTE_ADDR": client_ip,
        "wsgi.input": io.BytesIO(body),
    }
    answer = []
    page = b"".join(app(environ, lambda status, headers: answer.append(status)))
    return answer[0], page.decode()


def test_the_login_page(confdir):
    app = web_login.make_app("webapp", confdir)
    status, page = post(app, user="alice", password="wonderland")
    assert status == "200 OK" and "Welcome, alice." in page
    refused = [post(app, user=user, password="wonderland")
               for user in ("mallory", "carol")]
    assert refused[0] == refused[1]  # not a byte of difference for the client
    assert refused[0][0] == "403 Forbidden"
