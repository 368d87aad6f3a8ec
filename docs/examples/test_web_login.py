"""Tests of web_login.py's login, against real PAM stacks in a temporary directory.

    python -m pytest docs/examples/test_web_login.py

Needs pam_wrapper's pam_matrix (Debian, Ubuntu: libpam-wrapper), and
Linux-PAM 1.4 or newer for confdir. No root, and /etc/pam.d is not read.
"""

from __future__ import annotations

import glob
import io
import logging
import urllib.parse

import pytest

import web_login

USERS = [("alice", "wonderland", "webapp"), ("carol", "secret", "mail")]

# PAM finds a module named without a path only in its own directory;
# pam_wrapper's live elsewhere (Debian, Ubuntu: /usr/lib/<triplet>/pam_wrapper,
# Fedora: /usr/lib64/pam_wrapper), so the stacks name pam_matrix in full.
MATRIX = (glob.glob("/usr/lib*/pam_wrapper/pam_matrix.so")
          + glob.glob("/usr/lib*/*/pam_wrapper/pam_matrix.so") + [None])[0]


@pytest.fixture
def write_stack(tmp_path):
    """Writes the stack of the "webapp" service into tmp_path/pam.d, and
    pam_matrix's password file (USERS) beside that directory, not in it:
    every file of the directory is taken for a service. {matrix} and
    {passdb} in the stack stand for their absolute paths."""
    if MATRIX is None:
        pytest.fail("pam_matrix.so not found: install pam_wrapper "
                    "(Debian, Ubuntu: libpam-wrapper)")

    def write(stack):
        passdb = tmp_path / "passdb"
        lines = [f"{user}:{password}:{service}\n" for user, password, service in USERS]
        passdb.write_text("".join(lines))
        confdir = tmp_path / "pam.d"
        confdir.mkdir(exist_ok=True)
        (confdir / "webapp").write_text(stack.format(matrix=MATRIX, passdb=passdb))
        return str(confdir)

    return write


@pytest.fixture
def confdir(write_stack):
    """The stack of the tutorial: pam_matrix checks passwords and accounts."""
    return write_stack("""
        auth     required  {matrix} passdb={passdb}
        account  required  {matrix} passdb={passdb}
    """)


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


def test_an_expired_password(write_stack):
    # pam_debug returns what it is told: here, "the password must be changed".
    confdir = write_stack("""
        auth     required  {matrix} passdb={passdb}
        account  required  pam_debug.so acct=new_authtok_reqd
    """)
    assert check("alice", "wonderland", confdir) == "expired"
    assert check("alice", "wrong", confdir) == "refused"


def test_a_failing_stack_is_unavailable_and_logged(write_stack, caplog):
    confdir = write_stack("""
        auth     required  pam_debug.so auth=authinfo_unavail
        account  required  pam_permit.so
    """)
    with caplog.at_level(logging.ERROR, logger="web_login"):
        assert check("alice", "wonderland", confdir) == "unavailable"
    assert "PAM failed" in caplog.text
    assert "wonderland" not in caplog.text  # the password is never logged


def test_the_client_address_reaches_pam(write_stack):
    # pam_exec runs a command with the PAM items in its environment; the
    # command fails unless PAM_RHOST is the client's address.
    confdir = write_stack("""
        auth     required  {matrix} passdb={passdb}
        account  required  pam_exec.so quiet /bin/sh -c [test "$PAM_RHOST" = 192.0.2.10]
    """)
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
