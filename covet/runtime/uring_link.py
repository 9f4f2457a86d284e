"""**transport**: a connection the io_uring core hands over raw, after HTTP/1.1 switched protocols.

``UringServer.upgrade`` stops the core parsing HTTP/1.1 on the connection; from then on it hands every byte it reads
to ``UringHTTP1.body``, which gives them to the connection's ``UringLink`` (a WebSocket's, ``uring_ws``; HTTP/2's,
``uring_h2``). Writes, the drain wait and closing are the core's (``write``, ``drained``, ``finish``, ``abort``), by
connection id, as for a streamed HTTP response. This class holds what both protocols do with them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from covet.runtime.uring_http1 import UringCore, UringHTTP1

__all__ = ["UringLink"]


class UringLink:
    """A raw connection on the io_uring core: bytes out, reading paused and resumed, closing; the protocol's
    subclass takes what arrives (``received``, ``parsed``) and hears of the end (``lost``) and of drains (``wake``)."""

    __slots__ = ("owner", "cid", "closed", "backed", "paused", "feeding")

    def __init__(self, owner: UringHTTP1, cid: int) -> None:
        self.owner = owner
        self.cid = cid
        self.closed = False  # let go of (closed or cut): the core forgets it
        self.backed = False  # the core holds more than its high-water mark unsent
        self.paused = False  # the protocol asked to stop reading: the next read asks the core to stop
        self.feeding = False  # inside the core's call: letting go must wait until it has returned

    def write(self, data: bytes) -> None:
        core = self.owner.core
        if core is None or self.closed:
            return
        if core.write(self.cid, data) == 1:
            self.backed = True

    def close(self) -> None:
        """Close once what was written is sent."""
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

    def gone(self) -> None:
        """The core is telling that the connection is gone: it is let go of on the loop's next turn."""
        owner = self.owner
        owner.sockets.pop(self.cid, None)
        owner.state.connections.discard(self)
        owner.loop.call_soon(self.close)

    # -- the protocol's side ------------------------------------------------------------------------------------

    def received(self, data: bytes) -> bool:
        """Bytes the core read; True asks it to stop reading until ``resume_body``."""
        raise NotImplementedError

    def parsed(self, events: list[tuple[Any, ...]]) -> bool:
        """What the core read, through a parser it was given (``ws_attach``); as ``received``."""
        raise NotImplementedError

    def lost(self) -> None:
        """The connection died (or, unless ``eof`` says otherwise, the peer shut its side)."""
        raise NotImplementedError

    def eof(self) -> None:
        """The peer shut its side (FIN): it sends nothing more, and may still read."""
        self.lost()

    def wake(self) -> None:
        """The output drained below the low-water mark (or the connection went)."""
        raise NotImplementedError

    def tick(self, now: float) -> None:
        raise NotImplementedError

    def shutdown(self) -> None:
        raise NotImplementedError

    def quiet(self) -> bool:
        raise NotImplementedError
