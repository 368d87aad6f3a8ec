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
import weakref
from typing import Optional, Union

from . import _check, isolation
from ._handle import _service_name, handle
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
    :param isolated: keep the modules loaded in the worker processes of
        isolated transactions (``isolated=True``, see
        :doc:`/topics/reliability`) instead of in this process, which
        then never loads them. Each worker opens such a resident when it
        next starts a transaction, and lets it go when it starts one after
        this object has closed.
    :param timeout: with *isolated*, the seconds the check of the service
        (one pam_start and pam_end in a worker) may take.
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
        isolated: bool = False,
        timeout: Optional[float] = None,
    ) -> None:
        # No user and no conversation: nothing ever runs on this handle, it
        # only holds the modules that pam_start loaded.
        _check.service(service)
        path = _check.confdir(confdir)
        seconds = _check.timeout(timeout, isolated)
        self._service = service
        self._kept: Optional[tuple[StrOrBytes, Optional[str]]] = None
        self._handle: Optional[handle] = None
        if not isolated:
            self._handle = handle._checked_by_caller(service, None, None, path)
            return
        # Workers hold the modules from their next transaction on; this
        # one, in a worker, shows at once that the service can start.
        service = _service_name(service)  # a key: a bytearray is not one
        isolation._keep(service, path)
        try:
            handle._checked_by_caller(service, None, None, path, isolated=True, timeout=seconds).close()
        except BaseException:
            isolation._unkeep(service, path)
            raise
        self._kept = (service, path)
        # Garbage collected without close(): let go as close() would.
        self._unkeep = weakref.finalize(self, isolation._unkeep, service, path)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has let the modules go."""
        return self._handle is None and self._kept is None

    def close(self) -> None:
        """Let the modules go (they stay loaded while another resident or
        an open handle still holds them). Closing twice does nothing."""
        # No lock of its own (which a fork could inherit held): two threads
        # closing at once both reach handle.close(), which is idempotent.
        held, kept = self._handle, self._kept
        self._handle = self._kept = None
        if held is not None:
            held.close()
        if kept is not None:
            self._unkeep()

    def __enter__(self) -> resident:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        if self.closed:
            return f"<{__name__.rsplit('.', 1)[0]}.resident closed at {id(self):#x}>"
        where = ", isolated" if self._kept is not None else ""
        return f"<{__name__.rsplit('.', 1)[0]}.resident {self._service!r}{where} at {id(self):#x}>"
