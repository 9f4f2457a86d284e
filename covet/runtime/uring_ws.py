"""**transport**: a WebSocket connection on the io_uring core, after its 101.

``UringServer.upgrade`` switches the connection (``uring_link``); the core feeds what it reads to the session's
frame parser itself (``ws_attach``) and hands the events to ``parsed``.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, final

from covet.runtime.uring_link import UringLink
from covet.runtime.ws_session import CLOSED, WSSession

if TYPE_CHECKING:
    from covet.runtime.uring_http1 import UringHTTP1

__all__ = ["UringWS"]


@final
class UringWS(UringLink):
    """The ``WSLink`` of a WebSocket on the io_uring core, and the server's ``Connection`` for it."""

    __slots__ = ("session", "waiter")

    def __init__(self, owner: UringHTTP1, cid: int) -> None:
        super().__init__(owner, cid)
        self.session: WSSession | None = None
        self.waiter: asyncio.Future[None] | None = None

    def carry(self, session: WSSession) -> None:
        self.session = session
        core = self.owner.core
        if core is not None and not self.closed:
            # The core feeds what it reads to the session's parser itself, from its read buffer (``parsed``).
            core.ws_attach(self.cid, session.parser)

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
        session = self.session
        if session is not None:
            self.feeding = True
            try:
                session.handle(events)
            finally:
                self.feeding = False
        return self.paused

    def lost(self) -> None:
        session = self.session
        if session is not None:
            session.lost()
        self.gone()

    def wake(self) -> None:
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
