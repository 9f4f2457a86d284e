"""What a worker and its supervisor say to each other: the worker's side, and the names both use.

The supervisor starts each worker as ``python -m covet serve APP --fd N`` with
the write end of a pipe in ``COVET_WORKER_PIPE``. The worker writes one byte
on it when it is serving (``READY``), and one when it has served its
``--max-requests`` (``RETIRE``): the supervisor then starts its replacement
and drains it once that one is ready. Everything else the supervisor says is
a signal: SIGTERM drains, a second SIGTERM (or SIGINT) stops waiting. A
worker whose supervisor is gone drains and exits on its own.

A spare is a worker started ahead of need, with the read end of a second
pipe in ``COVET_WORKER_GO``: it loads the application, says ``STANDBY``, and
waits for ``GO`` before it runs the start-up hooks and serves. A worker that
dies is replaced by the spare in milliseconds, not by a fresh interpreter in
a second of CPU (more on two busy cores).
"""

from __future__ import annotations

import errno
import os
from typing import Final, final

__all__ = ["ARGS_ENV", "GO", "GO_ENV", "MAX_REQUESTS_ENV", "METRICS_FD_ENV", "METRICS_SLOT_ENV", "PARENT_ENV",
           "PIPE_ENV", "READY", "RETIRE", "STANDBY", "WorkerLink"]

PIPE_ENV: Final = "COVET_WORKER_PIPE"
PARENT_ENV: Final = "COVET_WORKER_PARENT"  # the supervisor's pid: a worker orphaned before it looked knows it
GO_ENV: Final = "COVET_WORKER_GO"
ARGS_ENV: Final = "COVET_WORKER_ARGS"  # the supervisor's parsed `covet serve` options, as JSON
MAX_REQUESTS_ENV: Final = "COVET_WORKER_MAX_REQUESTS"  # this worker's share, jitter included; 0 for no limit
# With --metrics: the descriptor of the supervisor's metrics segment, and the slot this worker counts into
# (covet/metrics.py, native/metrics.c).
METRICS_FD_ENV: Final = "COVET_METRICS_FD"
METRICS_SLOT_ENV: Final = "COVET_METRICS_SLOT"
READY: Final = b"R"
RETIRE: Final = b"M"
STANDBY: Final = b"S"
GO: Final = b"G"


@final
class WorkerLink:
    """A supervised worker's pipe to its supervisor, and the limits it was given."""

    __slots__ = ("fd", "parent", "max_requests", "retired", "go")

    def __init__(self, fd: int, parent: int, max_requests: int, go: int = -1) -> None:
        self.fd = fd
        self.parent = parent
        self.max_requests = max_requests
        self.retired = False
        self.go = go

    @classmethod
    def from_env(cls) -> WorkerLink | None:
        raw = os.environ.pop(PIPE_ENV, None)
        if raw is None:
            return None
        limit = int(os.environ.pop(MAX_REQUESTS_ENV, "0") or 0)
        parent = int(os.environ.pop(PARENT_ENV, "0") or 0) or os.getppid()
        return cls(int(raw), parent, limit, int(os.environ.pop(GO_ENV, "-1")))

    def stand_by(self) -> bool:
        """A spare: wait, loaded, until the supervisor needs a worker. False when it never will (exit)."""
        if self.go < 0:
            return True
        self._say(STANDBY)
        try:
            told = os.read(self.go, 1)
        except OSError:
            told = b""
        os.close(self.go)
        self.go = -1
        return told == GO

    def _say(self, what: bytes) -> None:
        try:
            os.write(self.fd, what)
        except OSError as exc:
            if exc.errno not in (errno.EPIPE, errno.EBADF):
                raise

    def ready(self) -> None:
        self._say(READY)

    def check(self, served: int) -> bool:
        """Once a second: False when the supervisor is gone (drain and exit). Asks to be replaced, once, when
        ``served`` reaches the request limit."""
        if os.getppid() != self.parent:
            return False
        if self.max_requests and served >= self.max_requests and not self.retired:
            self.retired = True
            self._say(RETIRE)
        return True
