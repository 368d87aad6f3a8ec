"""pam.authenticate(): the one call most programs need."""

from __future__ import annotations

import os
from typing import Any, Optional, Union

from . import _check
from ._constants import optional
from ._conversation import PAM_PROMPT_ECHO_OFF, PAM_PROMPT_ECHO_ON, ConvCallback
from ._errors import PamError
from ._handle import handle
from ._text import StrOrBytes

__all__ = ["authenticate"]

# Answers that mean "no": the caller learns nothing more than that, so a
# wrong password cannot be told from an unknown or locked account.
_REFUSALS = frozenset(
    code
    for code in map(optional, (
        "PAM_AUTH_ERR",
        "PAM_USER_UNKNOWN",
        "PAM_MAXTRIES",
        "PAM_PERM_DENIED",
        "PAM_ACCT_EXPIRED",
        "PAM_CRED_INSUFFICIENT",
    ))
    if code is not None
)


def authenticate(
    user: StrOrBytes,
    password: Union[str, bytes, bytearray],
    service: StrOrBytes = "login",
    *,
    confdir: Union[str, bytes, "os.PathLike[str]", None] = None,
    rhost: Optional[StrOrBytes] = None,
    tty: Optional[StrOrBytes] = None,
    ruser: Optional[StrOrBytes] = None,
    isolated: bool = False,
    timeout: Optional[float] = None,
) -> bool:
    """Check *user*'s *password* and that the account may log in now.

    Runs ``pam_authenticate`` and then ``pam_acct_mgmt`` (a locked or
    expired account fails the second), both refusing empty passwords.
    Every password prompt is answered with *password*, a prompt for the
    user name with *user*; messages are ignored.

    :param user: the user to check.
    :param password: the password; a ``bytearray`` can be wiped by the
        caller afterwards, a ``str`` cannot.
    :param service: the PAM service; give your program one of its own.
    :param confdir: a directory of service files to use instead of the
        system's policy, as for :class:`handle`.
    :param rhost: the client's IP address (not a host name).
    :param tty: the terminal the user is at, if any.
    :param ruser: the user on whose behalf the check is made, if another.
    :param isolated: run the transaction in a worker process (see
        :doc:`/topics/reliability`): a module that crashes or hangs costs
        this check only. The worker answers PAM's prompts as described
        above, so the password crosses to it once, and is wiped on both
        sides.
    :param timeout: with *isolated*, the seconds the whole check may
        take; when they run out the worker is killed and
        :class:`TimeoutError` is raised. None: no limit.
    :returns: True if both pass; False for every refusal (wrong password,
        unknown user, locked or expired account), which are deliberately
        not told apart.
    :raises TypeError: an argument of the wrong type, None for *user*,
        *password* or *service* included; the message names it.
    :raises ValueError: a NUL character in a string; a *timeout* that is
        not positive or comes without *isolated*.
    :raises FileNotFoundError: *confdir* does not exist, or PAM finds no
        file for *service* (the message says where it looked).
    :raises PamError: when PAM or a module fails (the caller should log
        it and answer "try later"), and with ``PAM_NEW_AUTHTOK_REQD`` when
        the password is right but must be changed: open a :class:`handle`
        and call :meth:`handle.chauthtok` to offer that.
    """

    path, items = _checked(user, password, service, confdir, rhost, tty, ruser)
    seconds = _check.timeout(timeout, isolated)
    if isolated:
        from .isolation import _authenticate as in_worker

        return in_worker(user, password, service, path, items, seconds)
    with handle._checked_by_caller(service, user, _answers(user, password), path, items) as h:
        return _verdict(h)


def _checked(
    user: object, password: object, service: object, confdir: object, rhost: object, tty: object, ruser: object
) -> tuple[Optional[str], dict[str, Optional[_check.Text]]]:
    """Check :func:`authenticate`'s arguments, in its words: a missing
    password (what ``form.get("password")`` hands over) must not look like
    a PAM outage. Returns *confdir* as a path and the items to set.
    (draxoft.auth.pam.aio checks its arguments here too.)"""
    _check.text(user, "user")
    _check.text(password, "password")
    _check.service(service)
    path = _check.confdir(confdir)
    items = {
        name: _check.text(value, name, optional=True) for name, value in (("rhost", rhost), ("tty", tty), ("ruser", ruser))
    }
    return path, items


def _answers(user: StrOrBytes, password: Union[str, bytes, bytearray]) -> ConvCallback:
    """The conversation of :func:`authenticate`: *password* for every
    password prompt, *user* for a user-name prompt, nothing for messages.
    (draxoft.auth.pam.aio uses it too.)"""

    def answer(style: int, message: Any, data: Any) -> Union[str, bytes, bytearray, None]:
        if style == PAM_PROMPT_ECHO_OFF:
            return password
        if style == PAM_PROMPT_ECHO_ON:
            return user
        return None

    return answer


def _verdict(h: handle) -> bool:
    """What :func:`authenticate` does on its open handle: the password
    check, then the account check; every refusal is False. (draxoft.auth.pam.aio
    runs it too, in a worker thread.)"""
    try:
        if not h.authenticate(disallow_null_token=True):
            return False
        h.acct_mgmt(disallow_null_token=True)
    except PamError as e:
        if e.errno in _REFUSALS:
            return False
        raise
    return True
