"""handle.release(): let go of a handle in a child of fork() that will not exec.

After ``fork()`` both processes hold the transaction, with the modules'
data. The session belongs to the parent, which closes it; the child
(a worker that keeps running Python as the user, say) must end its copy
without the modules undoing the session: ``pam_end`` with
``PAM_DATA_SILENT`` added to the status tells their cleanup functions
that this is a copy being dropped, not the end of the transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from draxoft.auth import _pamlow

if TYPE_CHECKING:
    from ._handle import handle

__all__ = ["PAM_DATA_SILENT", "release"]

#: Linux-PAM has it; OpenPAM's headers do not.
PAM_DATA_SILENT: Optional[int] = getattr(_pamlow, "PAM_DATA_SILENT", None)


def release(h: handle) -> None:
    """What :meth:`handle.release` does (see its docstring)."""
    if PAM_DATA_SILENT is None:
        raise NotImplementedError(
            "release() needs PAM_DATA_SILENT, which this PAM lacks: in the child, "
            "leave the handle alone and end the child with os._exit()"
        )
    h._end("release", PAM_DATA_SILENT)
