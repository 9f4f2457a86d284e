"""**transport**: an HTTP/2 connection on asyncio or uvloop.

``AsyncioHTTP1`` hands its transport over (``transport.set_protocol``) when the connection opens with HTTP/2's
preface (with prior knowledge, or after TLS agreed on ``h2``), or after the 101 to an upgrade to ``h2c``. This class
only moves bytes between the transport and the connection's ``H2Session`` (h2_session.py: the protocol's life), and
is what the server's ticker and shutdown see of it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, final

from covet.runtime.asyncio_conn import forget, reset
from covet.runtime.connection import Left
from covet.runtime.h2_session import H2Framing, H2Session

if TYPE_CHECKING:
    from covet.runtime.state import ServerState

__all__ = ["AsyncioH2"]


@final
class AsyncioH2(asyncio.Protocol):
    """The ``H2Link`` of an HTTP/2 connection on an asyncio transport, and the server's ``Connection`` for it."""

    __slots__ = ("state", "transport", "session", "closed", "write_paused", "paused_at", "left", "reading")

    def __init__(self, state: ServerState, transport: asyncio.Transport, write_paused: bool, left: Left,
                 core: H2Framing | None = None) -> None:
        self.state = state
        self.transport = transport
        self.closed = False
        self.write_paused = write_paused
        self.paused_at = state.clock.now if write_paused else 0.0  # since when the peer reads nothing
        self.left = left
        self.reading = True
        peer = transport.get_extra_info("peername")
        sock = transport.get_extra_info("sockname")
        self.session = H2Session(state, self, (peer[0], peer[1]) if isinstance(peer, tuple) else None,
                                 (sock[0], sock[1]) if isinstance(sock, tuple) else None, state.scheme, core)

    # -- H2Link -------------------------------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if not self.closed and not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        if not self.closed:
            self.transport.close()

    def abort(self) -> None:
        if not self.closed:
            reset(self.transport)  # (a peer that reads nothing would hold what the kernel still has for it)

    def pause_reading(self) -> None:
        if self.reading and not self.closed and not self.transport.is_closing():
            self.reading = False
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if not self.reading and not self.closed and not self.transport.is_closing():
            self.reading = True
            self.transport.resume_reading()

    def backed_up(self) -> bool:
        return self.write_paused and not self.closed

    # -- asyncio.Protocol -----------------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self.session.feed(data)

    def eof_received(self) -> bool | None:
        # The peer is done sending; what it asked for is still answered (as over HTTP/1.1, and on io_uring), then the
        # connection closes (a graceful GOAWAY first).
        session = self.session
        session.eof()
        return None if session.closed else True

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        forget(self.state, self, self.left)
        self.session.lost()

    def pause_writing(self) -> None:
        self.write_paused = True
        self.paused_at = self.state.clock.now

    def resume_writing(self) -> None:
        self.write_paused = False
        self.session.writable()

    # -- the server's Connection ----------------------------------------------------------------------------------

    def tick(self, now: float) -> None:
        if self.closed:
            return
        if self.write_paused and now - self.paused_at >= self.state.config.write_timeout:
            self.abort()  # the peer has read nothing for --write-timeout (the HTTP/1.1 rule)
            return
        self.session.tick(now)

    def shutdown(self) -> None:
        self.session.shutdown()

    def quiet(self) -> bool:
        return self.closed or (self.session.quiet() and self.transport.get_write_buffer_size() == 0)
