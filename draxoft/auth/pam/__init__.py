"""Python binding to PAM, the Pluggable Authentication Modules.

Authenticate users, check their accounts, change their passwords and open
their sessions through the system's PAM policy::

    from draxoft.auth import pam

    if pam.authenticate("alice", password, service="myapp", rhost=peer):
        ...

or, for the whole transaction, a :class:`handle`. Every ``PAM_*``
constant of the PAM headers is an attribute of this module, with the
value the headers give it.
"""

from __future__ import annotations

from . import _constants
from ._constants import *  # noqa: F403  (every PAM_* constant)
from ._constants import extensions, implementation
from ._conversation import _conv_callback, default_conversation
from ._environment import Environment
from ._errors import PamError
from ._handle import handle
from .isolation import WorkerDied
from ._resident import resident
from ._session import login_session
from ._simple import authenticate

# Tracebacks, reprs and pickles name the public module, not the private one
# that defines them (draxoft.auth.pam.PamError, not ..._errors.PamError).
for _public in (handle, resident, PamError, WorkerDied, Environment):
    _public.__module__ = __name__
del _public

__all__ = [
    "handle",
    "authenticate",
    "login_session",
    "resident",
    "PamError",
    "WorkerDied",
    "Environment",
    "default_conversation",
    "implementation",
    "extensions",
    *_constants.names,
]
