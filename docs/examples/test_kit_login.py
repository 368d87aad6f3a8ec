"""Tests of a small application's login with the pam_sandbox fixture.

    python -m pytest test_kit_login.py

Needs draxoft.auth.pam and pytest, nothing else: no root, no pam_wrapper,
no change to /etc/pam.d.
"""

from draxoft.auth import pam
from draxoft.auth.pam.testing import Conversation


# The application: it logs users in through the "myapp" service and
# never passes a confdir, as in production.
def login(user, password):
    return pam.authenticate(user, password, "myapp")


def change_password(user, old, new):
    conv = Conversation(old, new, new)
    with pam.handle("myapp", user, conv) as h:
        h.chauthtok()


# The tests.
def test_the_right_password_logs_in(pam_sandbox):
    pam_sandbox.add_user("alice", "wonderland")
    service = pam_sandbox.password_service("myapp")
    confdir = pam_sandbox.confdir
    assert pam.authenticate("alice", "wonderland", service,
                            confdir=confdir)


def test_a_wrong_password_is_refused(pam_sandbox):
    pam_sandbox.add_user("alice", "wonderland")
    service = pam_sandbox.password_service("myapp")
    confdir = pam_sandbox.confdir
    assert not pam.authenticate("alice", "looking glass", service,
                                confdir=confdir)
    assert not pam.authenticate("bob", "wonderland", service,
                                confdir=confdir)


def test_an_application_without_confdir(pam_sandbox):
    pam_sandbox.add_user("alice", "wonderland")
    pam_sandbox.password_service("myapp")
    with pam_sandbox.activate():
        assert login("alice", "wonderland")
        assert not login("alice", "looking glass")


def test_a_password_change(pam_sandbox):
    pam_sandbox.add_user("alice", "wonderland")
    pam_sandbox.password_service("myapp")
    with pam_sandbox.activate():
        change_password("alice", "wonderland", "looking glass")
        assert login("alice", "looking glass")
        assert not login("alice", "wonderland")
    assert pam_sandbox.password("alice") == "looking glass"


def test_an_expired_account(pam_sandbox):
    pam_sandbox.add_user("alice", "wonderland")
    pam_sandbox.password_service(
        "myapp", acct_mgmt=pam.PAM_ACCT_EXPIRED)
    with pam_sandbox.activate():
        with pam.handle("myapp", "alice",
                        Conversation("wonderland")) as h:
            assert h.authenticate()
            try:
                h.acct_mgmt()
            except pam.PamError as e:
                assert e.errno == pam.PAM_ACCT_EXPIRED
            else:
                raise AssertionError("the account was not refused")
        assert not login("alice", "wonderland")
