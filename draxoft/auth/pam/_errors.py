"""PamError, the exception for every failure that PAM itself reports."""

from __future__ import annotations

from draxoft.auth import _pamlow

from . import _check

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
        """Return the error for a PAM return code, with PAM's own text.

        :raises TypeError: *code* not an int.
        :raises ValueError: *code* outside a C ``int``.
        """
        # Checked here, not by SWIG, whose message names pam_strerror.
        _check.integer(code, "code", _check.INT_MIN, _check.INT_MAX)
        return cls(code, _pamlow.pam_strerror(None, code))


def check(code: int) -> None:
    """Raise :class:`PamError` unless *code* is ``PAM_SUCCESS``."""
    if code != _pamlow.PAM_SUCCESS:
        raise PamError.from_code(code)
