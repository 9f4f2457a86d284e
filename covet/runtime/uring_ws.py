"""**transport**: a WebSocket connection on the io_uring core, after its 101.

``UringServer.upgrade`` switches the connection: the core stops parsing HTTP/1.1 on it and hands every byte it reads
to ``UringHTTP1.body``, which gives them to this link's session. Writes, the drain wait and closing are the core's
(``write``, ``drained``, ``finish``, ``abort``), by connection id, as for a streamed HTTP response.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, final

from covet.runtime.ws_session import CLOSED, WSSession

if TYPE_CHECKING:
    from covet.runtime.uring_http1 import UringCore, UringHTTP1

__all__ = ["UringWS"]


@final
class UringWS:
    """The ``WSLink`` of a WebSocket on the io_uring core, and the server's ``Connection`` for it."""

    __slots__ = ("owner", "cid", "session", "closed", "backed", "paused", "waiter", "feeding")

    def __init__(self, owner: UringHTTP1, cid: int) -> None:
        self.owner = owner
        self.cid = cid
        self.session: WSSession | None = None
        self.closed = False  # let go of (closed or cut): the core forgets it
        self.backed = False  # the core holds more than its high-water mark unsent
        self.paused = False  # the session's queue is full: the next read asks the core to stop reading
        self.waiter: asyncio.Future[None] | None = None
        self.feeding = False  # inside the core's call: letting go must wait until it has returned

    def carry(self, session: WSSession) -> None:
        self.session = session
        core = self.owner.core
        if core is not None and not self.closed:
            # The core feeds what it reads to the session's parser itself, from its read buffer (``parsed``).
            core.ws_attach(self.cid, session.parser)

    # -- WSLink ---------------------------------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        core = self.owner.core
        if core is None or self.closed:
            return
        if core.write(self.cid, data) == 1:
            self.backed = True

    def close(self) -> None:
        if self.feeding:
            self.owner.loop.call_soon(self.close)
            return
        core = self._let_go()
        if core is not None:
            core.finish(self.cid, False)

    def abort(self) -> None:
        """Cut the connection now (with a reset), even one closing already: the core drops what it still held."""
        if self.feeding:
            self.owner.loop.call_soon(self.abort)
            return
        self._let_go()
        core = self.owner.core
        if core is not None:
            core.abort(self.cid)

    def _let_go(self) -> UringCore | None:
        """No more writes; the link stays known (ticks, the core's news) until the core says the connection is gone
        (``lost``)."""
        if self.closed:
            return None
        self.closed = True
        self.wake()
        return self.owner.core

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False
        core = self.owner.core
        if core is not None and not self.closed:
            core.resume_body(self.cid)

    def backed_up(self) -> bool:
        return self.backed and not self.closed

    async def drained(self) -> None:
        if not self.backed_up():
            return
        fut = self.waiter = asyncio.get_running_loop().create_future()
        try:
            await fut
        finally:
            self.waiter = None

    # -- from the core (through UringHTTP1) -----------------------------------------------------------------------

    def received(self, data: bytes) -> bool:
        """Bytes read before the parser was attached (what came behind the handshake); as ``parsed``."""
        session = self.session
        return self.parsed(session.parser.feed(data)) if session is not None else self.paused

    def parsed(self, events: list[tuple[Any, ...]]) -> bool:
        """What the core read, through the session's parser (``ws_attach``); True asks it to stop reading until
        ``resume_body``."""
        session = self.session
        if session is not None:
            self.feeding = True
            try:
                session.handle(events)
            finally:
                self.feeding = False
        return self.paused

    def lost(self) -> None:
        """The peer shut its side, or the connection died (the core is in the middle of telling: it is let go of
        on the loop's next turn)."""
        session = self.session
        if session is not None:
            session.lost()
        self.owner.sockets.pop(self.cid, None)
        self.owner.state.connections.discard(self)
        self.owner.loop.call_soon(self.close)

    def wake(self) -> None:
        """The output drained below the low-water mark (or the connection went, or the session is over)."""
        self.backed = False
        fut = self.waiter
        if fut is not None and not fut.done():
            fut.set_result(None)

    # -- the server's Connection ----------------------------------------------------------------------------------

    def tick(self, now: float) -> None:
        session = self.session
        if session is not None:
            session.tick(now)  # (closing too: a peer that does not take our Close is cut after close_timeout)

    def shutdown(self) -> None:
        session = self.session
        if session is not None and not self.closed:
            session.start_close(1001, "server shutting down")

    def quiet(self) -> bool:
        session = self.session
        return self.closed or (session is not None and session.state == CLOSED)
