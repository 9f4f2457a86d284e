"""**transport**: an HTTP/2 connection on the io_uring core.

The core's parser reports a connection that opens with HTTP/2's preface as an upgrade (``events.PREFACE_HEAD``), and
an HTTP/1.1 request may ask for ``h2c``; ``UringHTTP1`` switches the connection (``uring_link``) and this link hands
what the core reads to the connection's ``H2Session`` (h2_session.py: the protocol's life).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, final

from covet.runtime.h2_session import H2Framing, H2Session
from covet.runtime.uring_link import UringLink

if TYPE_CHECKING:
    from covet.runtime.uring_http1 import UringHTTP1

__all__ = ["UringH2"]


@final
class UringH2(UringLink):
    """The ``H2Link`` of an HTTP/2 connection on the io_uring core, and the server's ``Connection`` for it."""

    __slots__ = ("session",)

    def __init__(self, owner: UringHTTP1, cid: int, h2: H2Framing | None = None) -> None:
        super().__init__(owner, cid)
        core = owner.core
        assert core is not None
        state = owner.state
        self.session = H2Session(state, self, core.peer(cid), core.sockname(cid), state.scheme, h2)

    def received(self, data: bytes) -> bool:
        self.feeding = True
        try:
            self.session.feed(data)
        finally:
            self.feeding = False
        return self.paused

    def parsed(self, events: list[tuple[Any, ...]]) -> bool:
        raise RuntimeError("an HTTP/2 connection is given no parser by the core")

    def lost(self) -> None:
        self.session.lost()
        self.gone()

    def eof(self) -> None:
        # What the peer asked for is still answered (as on asyncio, and over HTTP/1.1), then the connection closes.
        # (Inside the core's call, as for ``received``: closing waits until it has returned.)
        self.feeding = True
        try:
            self.session.eof()
        finally:
            self.feeding = False

    def wake(self) -> None:
        self.backed = False
        if not self.closed:
            self.session.writable()

    def tick(self, now: float) -> None:
        self.session.tick(now)

    def shutdown(self) -> None:
        self.session.shutdown()

    def quiet(self) -> bool:
        return self.closed or self.session.quiet()
