"""``RequestBody``: a request body that arrives while its route already runs.

A body over the server's ``max_body`` is not buffered by the HTTP core: it
is handed, piece by piece, to a route that can read a stream (one with form
or file parameters, or a ``Request``); any other route answers 413 at once.
The protocol layer feeds pieces in; the route reads them out.  Reading
stops while more than ``HIGH_WATER`` bytes wait unread, so a slow consumer
holds a bounded amount of memory whatever the client sends.

A body the route leaves unread is dropped as it arrives once the response
is sent, so the connection can carry the next request.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, Final, NoReturn, final

from covet.exceptions import ClientDisconnect, HTTPError
from covet.runtime.encode import H_TEXT, HeaderSet

__all__ = ["BodyBudget", "RequestBody", "HIGH_WATER", "LOW_WATER", "DRAIN_LIMIT", "content_length", "disconnected",
           "keep_alive_after",
           "streamed_glue", "OVER_LIMIT", "OVER_LIMIT_REPLY", "TOO_LARGE"]

HIGH_WATER: Final = 512 * 1024  # unread bytes past which the server stops reading the connection
LOW_WATER: Final = 128 * 1024  # ...and below which it reads again
DRAIN_LIMIT: Final = 4 * 1024 * 1024  # the most left unread that is read and dropped to keep a connection


@final
class BodyBudget:
    """What the streamed bodies of one server hold unread, together, against one limit.

    Past it, every connection pauses as soon as it has anything unread (instead of at ``HIGH_WATER``), and reads
    again once its route has taken that: the total stays near the limit however many clients upload at once.
    """

    __slots__ = ("queued", "limit")

    def __init__(self, limit: int) -> None:
        self.queued = 0
        self.limit = limit


_UNBOUNDED: Final = 1 << 62


@final
class RequestBody:
    """The pieces of one streamed request body, in order.

    ``resume`` is called when reading may start again after ``feed`` asked to
    stop; ``stop`` drops the connection (the body stalled after the route was
    done with it, so nobody else would notice).
    """

    __slots__ = ("length", "memory_limit", "limit", "received", "_chunks", "_queued", "_ended", "_error", "_waiter",
                 "_resume", "_stop", "_paused", "_discarding", "_seen", "_mark", "_budget")

    def __init__(self, length: int | None, memory_limit: int, resume: Callable[[], None],
                 stop: Callable[[], None], budget: BodyBudget | None = None, limit: int = -1) -> None:
        self.length = length  # the Content-Length, None when chunked
        self.memory_limit = memory_limit  # the most ``read_all`` gathers (the server's max_body)
        self.limit = limit  # the route's max_body_size (-1: none): past it, reading fails with 413
        self.received = 0
        self._chunks: list[bytes] = []
        self._queued = 0
        self._ended = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._resume = resume
        self._stop = stop
        self._paused = False
        self._discarding = False
        self._seen = 0
        self._mark = -1.0
        self._budget = budget if budget is not None else BodyBudget(_UNBOUNDED)

    # -- the protocol layer's side -------------------------------------------

    @property
    def done(self) -> bool:
        """Whether the last piece arrived (or the body failed)."""
        return self._ended or self._error is not None

    @property
    def failed(self) -> bool:
        return self._error is not None

    @property
    def discarding(self) -> bool:
        """Whether the route is done with the body (what still arrives is dropped)."""
        return self._discarding

    @property
    def left(self) -> int | None:
        """Bytes still to come when the length is known, else None."""
        return None if self.length is None else self.length - self.received

    def feed(self, data: bytes) -> bool:
        """One piece arrived; True asks the caller to stop reading until ``resume``."""
        self.received += len(data)
        if self._discarding or self.done:
            return False
        if 0 <= self.limit < self.received:
            self.fail(HTTPError(413, OVER_LIMIT))
            return False
        self._chunks.append(data)
        self._queued += len(data)
        budget = self._budget
        budget.queued += len(data)
        self._wake()
        if self._queued >= HIGH_WATER or budget.queued >= budget.limit:
            self._paused = True
            return True
        return False

    def end(self) -> None:
        """The last piece arrived."""
        if not self.done:
            self._ended = True
            self._wake()

    def fail(self, exc: BaseException, keep_unread: bool = False) -> None:
        """The body cannot complete: the reader gets ``exc`` at its next read.

        What was unread is dropped at once (nobody is left to answer a client that reset), unless
        ``keep_unread``: a client that half-closed (FIN) after part of its body sent that part, and its route
        reads it before the error.
        """
        if not self.done:
            self._error = exc
            if not keep_unread:
                self._chunks.clear()
                self._take()
            self._unpause()
            self._wake()

    def discard(self) -> None:
        """The route is done with the body: what it did not read, and what is still to come, is dropped."""
        self._discarding = True
        self._chunks.clear()
        self._take()
        self._unpause()

    def tick(self, now: float, timeout: float) -> None:
        """Called once a second: a body that stops arriving for ``timeout`` seconds fails with 408."""
        if self.done:
            return
        if self.received != self._seen or self._paused or self._mark < 0:
            self._seen = self.received
            self._mark = now
            return
        if now - self._mark >= timeout:
            self.fail(HTTPError(408, "The request body stopped arriving"))
            if self._discarding:
                self._stop()

    # -- the route's side -------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self.chunks()

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives, in pieces, until its end."""
        while True:
            data = await self.read()
            if not data:
                return
            yield data

    async def read(self) -> bytes:
        """What arrived since the last read, waiting for more when nothing did; ``b""`` once the body ended.

        Raises what the body failed with (``ClientDisconnect``, ``HTTPError(408)`` for a client that stopped
        sending, ``HTTPError(400)`` for broken chunked framing).
        """
        while not self._chunks:
            if self._error is not None:
                raise self._error
            if self._ended:
                return b""
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        chunks = self._chunks
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self._take()
        self._unpause()
        return data

    async def read_all(self) -> bytes:
        """The whole body in memory; past ``memory_limit`` bytes, ``HTTPError(413)``."""
        if self.length is not None and self.length > self.memory_limit:  # known now: refuse before reading
            raise HTTPError(413, f"Request body too large (over {self.memory_limit} bytes in memory)")
        parts: list[bytes] = []
        size = 0
        while True:
            data = await self.read()
            if not data:
                return b"".join(parts)
            size += len(data)
            if size > self.memory_limit:
                raise HTTPError(413, f"Request body too large (over {self.memory_limit} bytes in memory)")
            parts.append(data)

    # -- helpers ------------------------------------------------------------------

    def _take(self) -> None:
        """Everything queued was taken (read or dropped)."""
        self._budget.queued -= self._queued
        self._queued = 0

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _unpause(self) -> None:
        if self._paused:
            self._paused = False
            self._resume()

    def __repr__(self) -> str:
        return f"<RequestBody {self.received} bytes received{', ended' if self._ended else ''}>"


def disconnected() -> ClientDisconnect:
    """What a reader gets when the connection closes before the body's end."""
    return ClientDisconnect("the client closed the connection before sending the whole body")


def keep_alive_after(body: RequestBody) -> bool:
    """Whether a connection whose route answered before its body ended may carry the next request: only when the
    rest is known to be at most ``DRAIN_LIMIT`` bytes, read and dropped meanwhile. Past that it closes, rather
    than read a large body nobody wants."""
    left = body.left
    return not body.failed and left is not None and left <= DRAIN_LIMIT


def content_length(headers: list[tuple[str, str]]) -> int | None:
    """The request's Content-Length (the parser has checked it), None when the body is chunked."""
    for name, value in headers:
        if name == "content-length":
            return int(value.split(",", 1)[0])  # "5, 5": the parser accepted a list of equal values
    return None


TOO_LARGE: Final = "Request body too large"


def streamed_glue(plan_glue: Callable[..., Any], streams_body: bool, headers: list[tuple[str, str]],
                  max_body: int = -1) -> Callable[..., Any] | None:
    """What runs for a head whose body is past the in-memory limit: the route's glue when it reads a stream and
    the body's length is not past the route's own ``max_body`` (-1: none). Past that, a glue answering FastAPI's
    413. Otherwise a glue answering 413 when the body is better read and dropped than cut off (the client sends it
    anyway, no ``Expect: 100-continue``, and it is short enough: closing while it still sends would lose it the
    answer); None when the 413 goes out at once and the connection closes."""
    length = content_length(headers)
    if max_body >= 0 and length is not None and length > max_body:
        return _over_route_limit  # the exchange drains what is short enough, else closes
    if streams_body:
        return plan_glue
    if length is not None and length <= DRAIN_LIMIT and not any(name == "expect" for name, _ in headers):
        return _too_large
    return None


def _too_large(*_: Any) -> NoReturn:
    raise HTTPError(413, TOO_LARGE)


OVER_LIMIT: Final = "Content Too Large"  # FastAPI's words for a body past its route's max_body_size


OVER_LIMIT_REPLY: Final = (413, H_TEXT, OVER_LIMIT.encode())


def _over_route_limit(*_: Any) -> tuple[int, HeaderSet, bytes]:
    return OVER_LIMIT_REPLY
