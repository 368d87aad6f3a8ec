"""PamError, the exception for every failure that PAM itself reports."""

from __future__ import annotations

from draxoft.auth import _pamlow

__all__ = ["PamError"]


class PamError(OSError):
    """A PAM call failed.

    ``errno`` is the PAM return code (compare it with the ``PAM_*``
    constants of this module) and ``strerror`` is the implementation's
    ``pam_strerror`` text for it. Built like :class:`OSError`:
    ``PamError(code, text)``.
    """

    @classmethod
    def from_code(cls, code: int) -> PamError:
        """Return the error for a PAM return code, with PAM's own text."""
        return cls(code, _pamlow.pam_strerror(None, code))


def check(code: int) -> None:
    """Raise :class:`PamError` unless *code* is ``PAM_SUCCESS``."""
    if code != _pamlow.PAM_SUCCESS:
        raise PamError.from_code(code)
