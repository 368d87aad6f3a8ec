"""Tests of web_login.py's login, against real PAM in a sandbox.

    python -m pytest test_web_login.py

The pam_sandbox fixture comes with draxoft.auth.pam (its pytest plugin):
no root, no pam_wrapper, and /etc/pam.d is not read.
"""

from __future__ import annotations

import io
import logging
import urllib.parse

import pytest

from draxoft.auth import pam
from draxoft.auth.pam.testing import Step

import web_login


@pytest.fixture
def webapp(pam_sandbox):
    """Users alice and carol; carol's account may not use webapp."""
    pam_sandbox.add_user("alice", "wonderland")
    pam_sandbox.add_user("carol", "secret")
    carol = Step(code=pam.PAM_PERM_DENIED, user="carol")
    pam_sandbox.password_service("webapp", acct_mgmt=carol)
    return pam_sandbox


def check(user, password, sandbox, client_ip="192.0.2.10"):
    return web_login.check_login(user, password, client_ip,
                                 "webapp", sandbox.confdir)


def test_the_right_password_logs_in(webapp):
    assert check("alice", "wonderland", webapp) == "ok"


@pytest.mark.parametrize(
    "user, password",
    [
        ("alice", "wrong"),         # wrong password
        ("mallory", "wonderland"),  # unknown user
        ("carol", "secret"),        # right password, account refused
        ("alice", ""),              # empty password
        ("al\0ice", "wonderland"),  # cannot even be passed to PAM
    ],
)
def test_every_refusal_looks_the_same(webapp, user, password):
    assert check(user, password, webapp) == "refused"


def test_an_expired_password(pam_sandbox):
    pam_sandbox.add_user("alice", "wonderland")
    pam_sandbox.password_service(
        "webapp", acct_mgmt=pam.PAM_NEW_AUTHTOK_REQD)
    assert check("alice", "wonderland", pam_sandbox) == "expired"
    assert check("alice", "wrong", pam_sandbox) == "refused"


def test_a_failing_stack_is_unavailable_and_logged(pam_sandbox, caplog):
    pam_sandbox.add_user("alice", "wonderland")
    pam_sandbox.password_service(
        "webapp", authenticate=pam.PAM_AUTHINFO_UNAVAIL)
    with caplog.at_level(logging.ERROR, logger="web_login"):
        result = check("alice", "wonderland", pam_sandbox)
    assert result == "unavailable"
    assert "PAM failed" in caplog.text
    assert "wonderland" not in caplog.text  # never logged


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


def test_the_login_page(webapp):
    app = web_login.make_app("webapp", webapp.confdir)
    status, page = post(app, user="alice", password="wonderland")
    assert status == "200 OK" and "Welcome, alice." in page
    refused = [post(app, user=user, password="wonderland")
               for user in ("mallory", "carol")]
    assert refused[0] == refused[1]  # not a byte of difference
    assert refused[0][0] == "403 Forbidden"
