"""**transport**: a WebSocket connection on asyncio or uvloop, after its 101.

``AsyncioHTTP1`` hands its transport over (``transport.set_protocol``), so the HTTP/1.1 path keeps no check for a
connection that changed protocols. This class only moves bytes between the transport and the connection's
``WSSession`` (ws_session.py: the protocol itself), and is what the server's ticker and shutdown see of it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, final

from covet.runtime.asyncio_conn import forget, reset
from covet.runtime.connection import Left
from covet.runtime.ws_session import CLOSED, WSSession

if TYPE_CHECKING:
    from covet.runtime.state import ServerState

__all__ = ["AsyncioWS"]


@final
class AsyncioWS(asyncio.Protocol):
    """The ``WSLink`` of a WebSocket on an asyncio transport, and the server's ``Connection`` for it."""

    __slots__ = ("state", "transport", "session", "closed", "write_paused", "waiters", "left", "queue_full",
                 "reading", "paused_at")

    def __init__(self, state: ServerState, transport: asyncio.Transport, write_paused: bool, left: Left) -> None:
        self.state = state
        self.transport = transport
        self.session: WSSession | None = None
        self.closed = False
        self.write_paused = write_paused
        self.waiters: list[asyncio.Future[None]] = []
        self.left = left  # the HTTP request's liveness: the WebSocket's is_disconnected() reads it
        # Reading stops while the session's queue is full, and while the peer does not read what we send: a peer
        # that sends pings and reads no pongs would otherwise grow our output without bound.
        self.queue_full = False
        self.reading = True
        self.paused_at = state.clock.now if write_paused else 0.0  # since when the peer reads nothing

    def carry(self, session: WSSession) -> None:
        self.session = session

    # -- WSLink ---------------------------------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if not self.closed and not self.transport.is_closing():  # (a reset peer: asyncio would log each write)
            self.transport.write(data)

    def close(self) -> None:
        if not self.closed:
            self.transport.close()

    def abort(self) -> None:
        """Cut the connection with a reset: what the kernel still holds for a peer that reads nothing is dropped
        too (a plain close would keep sending it, for minutes, to a peer that reads a byte at a time)."""
        if not self.closed:
            reset(self.transport)

    def pause_reading(self) -> None:
        self.queue_full = True
        self.update_reading()

    def resume_reading(self) -> None:
        self.queue_full = False
        self.update_reading()

    def update_reading(self) -> None:
        want = not (self.queue_full or self.write_paused)
        if want != self.reading and not self.closed and not self.transport.is_closing():
            self.reading = want
            if want:
                self.transport.resume_reading()
            else:
                self.transport.pause_reading()

    def backed_up(self) -> bool:
        return self.write_paused and not self.closed

    async def drained(self) -> None:
        if not self.backed_up():
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        try:
            await waiter
        finally:
            if waiter in self.waiters:
                self.waiters.remove(waiter)

    def wake(self) -> None:
        self._wake()

    def _wake(self) -> None:
        waiters, self.waiters = self.waiters, []
        for w in waiters:
            if not w.done():
                w.set_result(None)

    # -- asyncio.Protocol -----------------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        session = self.session
        if session is not None:
            session.feed(data)

    def eof_received(self) -> bool | None:
        return None  # the peer is done sending: close (a session still open hears 1006)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        forget(self.state, self, self.left)
        session = self.session
        if session is not None:
            session.lost()
        self._wake()

    def pause_writing(self) -> None:
        self.write_paused = True
        self.paused_at = self.state.clock.now
        self.update_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        self.update_reading()
        self._wake()

    # -- the server's Connection ----------------------------------------------------------------------------------

    def tick(self, now: float) -> None:
        if self.closed:
            return
        if self.write_paused and now - self.paused_at >= self.state.config.write_timeout:
            self.abort()  # the peer has read nothing for --write-timeout (the HTTP/1.1 rule)
            return
        session = self.session
        if session is not None:
            session.tick(now)

    def shutdown(self) -> None:
        """Graceful shutdown: 1001 (going away); the peer's Close, or the close timeout, ends it."""
        session = self.session
        if session is not None and not self.closed:
            session.start_close(1001, "server shutting down")

    def quiet(self) -> bool:
        session = self.session
        return self.closed or (session is not None and session.state == CLOSED and self.transport.is_closing()
                               and self.transport.get_write_buffer_size() == 0)
