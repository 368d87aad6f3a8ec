"""pam.resident(): keep a service's modules loaded between transactions.

PAM reads a service's policy and loads its modules at every ``pam_start``,
and unloads them at ``pam_end``; loading is most of what a short
transaction costs. The dynamic loader counts references, so while one
handle of the process holds a module, loading it again for the next
handle only bumps a count. A resident is such a handle, started for the
service and never used for an operation.
"""

from __future__ import annotations

import os
from typing import Optional, Union

from . import _check
from ._handle import handle
from ._text import StrOrBytes

__all__ = ["resident"]


class resident:
    """Keep the modules of *service* loaded while this object is open.

    While it is open, every :class:`handle` and :func:`authenticate` call
    of the same service (and the same *confdir*) in this process starts
    without loading its modules again, with no change to the calling code.
    Use it as a context manager or call :meth:`close`; an object that is
    garbage collected is closed then. Any number may be open, for the same
    service or others, from any thread; a module is unloaded when the last
    one holding it closes.

    What stays the same: the policy file is still read at each
    ``pam_start``, so an edit to it applies to the next transaction. What
    changes: a module file replaced on disk (a package upgrade) is not
    loaded again until every resident holding it has closed, so close and
    reopen residents after upgrading PAM modules; and a module's global
    state lives on between transactions, as it already does while two
    handles are open at once.

    :param service: the PAM service, as for :class:`handle`.
    :param confdir: a directory of service files, as for :class:`handle`.
    :raises TypeError, ValueError: a bad *service* or *confdir*, as from
        :class:`handle`.
    :raises FileNotFoundError: *confdir* does not exist, or PAM finds no
        file for *service*.
    :raises NotImplementedError: *confdir* given where this PAM has no
        private policy directories.
    :raises PamError: PAM could not start a transaction for the service.
    """

    def __init__(
        self,
        service: StrOrBytes = "login",
        *,
        confdir: Union[str, bytes, os.PathLike[str], None] = None,
    ) -> None:
        # No user and no conversation: nothing ever runs on this handle, it
        # only holds the modules that pam_start loaded.
        _check.service(service)
        path = _check.confdir(confdir)
        self._handle: Optional[handle] = handle._checked_by_caller(service, None, None, path)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has let the modules go."""
        return self._handle is None

    def close(self) -> None:
        """Let the modules go (they stay loaded while another resident or
        an open handle still holds them). Closing twice does nothing."""
        # No lock of its own (which a fork could inherit held): two threads
        # closing at once both reach handle.close(), which is idempotent.
        held = self._handle
        self._handle = None
        if held is not None:
            held.close()

    def __enter__(self) -> resident:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        held = self._handle
        if held is None:
            return f"<{__name__.rsplit('.', 1)[0]}.resident closed at {id(self):#x}>"
        return f"<{__name__.rsplit('.', 1)[0]}.resident {held.service!r} at {id(self):#x}>"
