"""The ``run`` step of pam-tester: the ``--spawn`` program, as the user.

The program starts through :meth:`draxoft.auth.pam.handle.spawn`, so it
runs as the handle's user, in the PAM environment, while pam-tester keeps
the transaction and runs the operations after ``run`` (``close_session``,
``setcred(PAM_DELETE_CRED)``) itself once the program has exited.
"""

from __future__ import annotations

import signal
import subprocess
import types
from typing import Any, Callable, Optional, Sequence, Union

from draxoft.auth import pam

__all__ = ["Programs", "exit_status"]

#: Signals that pam-tester passes on to the program, as login(1) does.
FORWARDED = (signal.SIGTERM, signal.SIGHUP)

_Handler = Union[Callable[[int, Optional[types.FrameType]], Any], int, signal.Handlers, None]


def exit_status(returncode: int) -> int:
    """A shell's exit status for a :attr:`subprocess.Popen.returncode`:
    128 + N for a program killed by signal N."""
    return 128 - returncode if returncode < 0 else returncode


class Programs:
    """Runs the program at each ``run`` step, with the signals handled.

    From the first ``run`` on, until :meth:`restore`: ``SIGTERM`` and
    ``SIGHUP`` go to the running program, if any, and are remembered (so
    pam-tester still closes the session, then ends with the signal's
    status); ``SIGINT`` is ignored by pam-tester, since a Ctrl-C at the
    terminal reaches the program too. Handlers set in Python are reset by
    ``exec``, so the program starts with the usual dispositions.
    """

    def __init__(self, argv: Sequence[str]) -> None:
        self.argv = list(argv)
        self.child: Optional[subprocess.Popen[Any]] = None
        self.received: Optional[int] = None
        self._previous: dict[int, _Handler] = {}

    def _on_signal(self, signum: int, frame: Optional[types.FrameType]) -> None:
        if signum == signal.SIGINT:
            return
        self.received = signum
        child = self.child
        if child is not None and child.returncode is None:
            child.send_signal(signum)

    def run(self, h: pam.handle) -> int:
        """Start the program as the handle's user and wait for it; its
        :attr:`subprocess.Popen.returncode`.

        :raises OSError: it could not start (``PermissionError`` when
            pam-tester may not become the user).
        """
        if not self._previous:
            for signum in (*FORWARDED, signal.SIGINT):
                self._previous[signum] = signal.signal(signum, self._on_signal)
        if self.received is not None:
            raise InterruptedError(f"{signal.Signals(self.received).name} came before the program started")
        self.child = h.spawn(self.argv)
        if self.received is not None:  # it came while the program started
            self.child.send_signal(self.received)
        try:
            return self.child.wait()
        except BaseException:
            # Never leave a program running in a session about to close.
            self.child.kill()
            self.child.wait()
            raise
        finally:
            self.child = None

    def restore(self) -> None:
        """Give the signals their handlers back."""
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()
