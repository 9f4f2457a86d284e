"""Accepting connections on the asyncio loop, with a pause when descriptors run out.

asyncio's own accept loop (CPython 3.11, ``_accept_connection``) keeps going
after EMFILE: each of up to ``backlog`` further tries fails, logs a traceback
and schedules another retry, so a server at its descriptor limit spun at
100% CPU and logged 280,000 tracebacks in 17 s. Here the first such error
pauses accepting for ``PAUSE_SECONDS`` and is logged once per episode; the
connections waiting in the kernel's queue stay there until descriptors are
free again. uvloop and the io_uring core accept on their own.

A graceful stop takes the queue (``take_queued``) on asyncio and uvloop alike,
before the socket is closed: closing it would reset those connections.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import ssl
from collections.abc import Callable
from typing import Final

__all__ = ["Acceptor", "PAUSE_SECONDS"]

log = logging.getLogger("covet.server")

PAUSE_SECONDS: Final = 0.5
_OUT_OF_RESOURCES: Final = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


class Acceptor:
    """Accepts up to ``batch`` connections per readiness of ``sock``, handing each to ``factory``'s protocol."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket,
                 factory: Callable[[], asyncio.Protocol], batch: int, tls: ssl.SSLContext | None = None,
                 handshake_timeout: float | None = None) -> None:
        self.loop = loop
        self.tls = tls  # each connection's TLS handshake starts from it (covet.runtime.tls)
        self.handshake_timeout = handshake_timeout if tls is not None else None
        self.sock = sock
        self.factory = factory
        self.batch = max(1, batch)
        self.paused: asyncio.TimerHandle | None = None
        self.pauses = 0  # in the current episode
        self.closed = False
        self.started = False  # accepting as connections arrive (not only take_queued's, for a stop)
        # Connections still being set up: with TLS, a handshake can take up to handshake_timeout.
        self.pending: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self.started = True
        self.loop.add_reader(self.sock.fileno(), self._ready)

    def close(self) -> None:
        """Stop accepting and close the listening socket: a client that connects from now on is refused at once,
        and any still waiting in the kernel's queue are reset (take_queued first takes them). Connections still
        being set up go on (cancel_pending ends them)."""
        self.closed = True
        if self.paused is not None:
            self.paused.cancel()
            self.paused = None
        elif self.started:
            self.loop.remove_reader(self.sock.fileno())
        self.sock.close()

    def cancel_pending(self) -> None:
        for task in list(self.pending):  # else they would be destroyed pending when the loop closes
            task.cancel()

    def take_queued(self) -> None:
        """Accept every connection in the kernel's queue now: a graceful stop serves them rather than reset them
        with the close. Bounded by ``batch`` (the backlog): with new SYNs refused that is all the queue can hold."""
        for _ in range(self.batch):
            try:
                conn, _addr = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:  # out of descriptors, or the socket no longer listens: nothing more to take
                log.debug("taking the queued connections: %s", exc)
                return
            self._serve(conn)

    def _ready(self) -> None:
        for _ in range(self.batch):
            try:
                conn, _addr = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:  # the client gave up while it waited in the queue
                continue
            except OSError as exc:
                if exc.errno in _OUT_OF_RESOURCES:
                    self._pause(exc)
                elif exc.errno == errno.EINVAL:
                    # The socket no longer listens (the supervisor shut it for a stop): nothing more to accept.
                    self.loop.remove_reader(self.sock.fileno())
                else:
                    log.error("accepting a connection failed: %s", exc)
                return
            if self.pauses:
                log.warning("accepting connections again (paused %d times for want of %s)", self.pauses,
                            "descriptors or memory")
                self.pauses = 0
            self._serve(conn)

    def _serve(self, conn: socket.socket) -> None:
        conn.setblocking(False)
        task = self.loop.create_task(self._connect(conn))
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def _connect(self, conn: socket.socket) -> None:
        try:
            await self.loop.connect_accepted_socket(self.factory, sock=conn, ssl=self.tls,
                                                    ssl_handshake_timeout=self.handshake_timeout)
        except OSError as exc:  # e.g. the client reset before its transport was made, or its TLS handshake failed
            log.debug("could not set up an accepted connection: %s", exc)
            conn.close()
        except asyncio.CancelledError:  # the server is closing
            conn.close()
            raise

    def _pause(self, exc: OSError) -> None:
        if self.pauses == 0:
            log.error("cannot accept connections: %s; pausing accept for %.1f s at a time until it passes "
                      "(raise the descriptor limit, ulimit -n, to serve more connections)", exc, PAUSE_SECONDS)
        self.pauses += 1
        self.loop.remove_reader(self.sock.fileno())
        self.paused = self.loop.call_later(PAUSE_SECONDS, self._resume)

    def _resume(self) -> None:
        self.paused = None
        if not self.closed:
            self.loop.add_reader(self.sock.fileno(), self._ready)
