"""Server-Sent Events: a stream of events a browser's ``EventSource`` reads.

``EventSourceResponse(events)`` takes an (async) iterable of ``ServerSentEvent``,
dicts or strings, frames each as ``text/event-stream`` and sends a comment
every ``ping`` seconds while the source is quiet, so proxies keep the
connection open and a client that went away is noticed. When the client
disconnects, the source is closed: code after its ``yield`` (a ``finally``)
runs then, not at the next event.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from typing import Any, Final, final

from covet.responses import HeadersArg, StreamingResponse

__all__ = ["EventSourceResponse", "ServerSentEvent"]

_PING: Final = b": ping\n\n"


@final
class ServerSentEvent:
    """One event. ``data`` may span lines; ``id`` lets a reconnecting client resume (Last-Event-ID)."""

    __slots__ = ("data", "event", "id", "retry", "comment")

    def __init__(self, data: Any = "", *, event: str | None = None, id: str | None = None,
                 retry: int | None = None, comment: str | None = None) -> None:
        self.data = data
        self.event = event
        self.id = id
        self.retry = retry
        self.comment = comment

    def encode(self) -> bytes:
        lines: list[str] = []
        if self.comment is not None:
            lines.extend(f": {line}" for line in self.comment.splitlines() or [""])
        for name, value in (("event", self.event), ("id", self.id)):
            if value is not None:
                if "\n" in value or "\r" in value or (name == "id" and "\0" in value):
                    raise ValueError(f"an event's {name} cannot hold a line break")
                lines.append(f"{name}: {value}")
        if self.retry is not None:
            lines.append(f"retry: {int(self.retry)}")
        data = self.data if isinstance(self.data, str) else _json(self.data)
        lines.extend(f"data: {line}" for line in data.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
        return ("\n".join(lines) + "\n\n").encode()


def _json(value: Any) -> str:
    import pydantic_core

    return pydantic_core.to_json(value).decode()


def _event(item: Any) -> bytes:
    if isinstance(item, ServerSentEvent):
        return item.encode()
    if isinstance(item, Mapping):
        return ServerSentEvent(**item).encode()
    if isinstance(item, bytes):
        return ServerSentEvent(item.decode()).encode()
    return ServerSentEvent(item).encode()


async def _from_sync(items: Iterable[Any]) -> AsyncIterator[Any]:
    for item in items:
        yield item


async def _frames(source: AsyncIterable[Any] | Iterable[Any], ping: float | None) -> AsyncIterator[bytes]:
    it = source.__aiter__() if isinstance(source, AsyncIterable) else _from_sync(source)
    pending: asyncio.Future[Any] | None = None
    try:
        while True:
            if ping is None:
                try:
                    item = await it.__anext__()
                except StopAsyncIteration:
                    return
                yield _event(item)
                continue
            if pending is None:
                pending = asyncio.ensure_future(it.__anext__())
            done, _ = await asyncio.wait({pending}, timeout=ping)
            if not done:
                yield _PING
                continue
            fut, pending = pending, None
            try:
                item = fut.result()
            except StopAsyncIteration:
                return
            yield _event(item)
    finally:
        if pending is not None:
            pending.cancel()
            try:
                await pending
            except (asyncio.CancelledError, StopAsyncIteration):
                pass
        close = getattr(it, "aclose", None)
        if close is not None:
            await close()


class EventSourceResponse(StreamingResponse):
    """A ``text/event-stream`` response of the events ``content`` yields.

    Args:
        content: an async (or plain) iterable of ``ServerSentEvent``, dicts of its fields, or strings (data).
        ping: seconds of quiet after which a comment is sent; ``None`` sends none.
    """

    def __init__(self, content: AsyncIterable[Any] | Iterable[Any], status: int = 200, headers: HeadersArg = None,
                 *, ping: float | None = 15.0) -> None:
        super().__init__(_frames(content, ping), status=status, headers=headers, media_type="text/event-stream")
        names = {k for k, _ in self.raw_headers}
        if b"cache-control" not in names:
            self.raw_headers.append((b"cache-control", b"no-cache"))
        if b"x-accel-buffering" not in names:
            self.raw_headers.append((b"x-accel-buffering", b"no"))  # nginx would otherwise hold events back
