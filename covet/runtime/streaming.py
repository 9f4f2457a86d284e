"""Streamed bodies: sending a streaming response's, and running the route of a request whose body streams in
(kept out of mypyc: async generators, and awaits in ``finally``).

mypyc cannot compile async generators, and a compiled coroutine that is
cancelled while it awaits inside a ``finally`` has been seen to leave the
cancellation behind for the next Task the event loop runs. The loop that
pulls chunks, and closes the source, therefore lives here, in plain Python.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine, Iterable
from typing import Any, Final

from covet.runtime.exits import in_pool

__all__ = ["body_chunks", "call_streamed", "send_body", "stepped"]


async def call_streamed(glue: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    """The reply of a route whose body is still arriving: always run as a Task, as it will wait for it."""
    reply = glue(*args)
    if isinstance(reply, Coroutine):  # async glue, or a sync glue's async exception handler
        reply = await reply
    return reply


async def send_body(content: Any, length: int | None, write: Callable[[bytes], int],
                    drained: Callable[[], Awaitable[None]]) -> bool:
    """Send a streaming response's body through ``write`` (which frames it); False when the connection went away.

    ``write`` returns -1 (gone), 0 (sent) or 1 (sent; wait for ``drained()`` before the next). A source that
    gives more or fewer bytes than ``length`` raises ValueError: the caller resets the connection.
    """
    left = length
    chunks = body_chunks(content)
    try:
        async for chunk in chunks:
            if not chunk:
                continue
            if left is not None:
                left -= len(chunk)
                if left < 0:
                    raise ValueError(f"the stream gave more bytes than its content_length {length}")
            state = write(chunk)
            if state < 0:
                return False
            if state > 0:
                await drained()
    finally:
        await chunks.aclose()
    if left:
        raise ValueError(f"the stream ended {left} bytes short of its content_length {length}")
    return True


def _chunk(item: object, source: object) -> bytes:
    if type(item) is bytes:
        return item
    if isinstance(item, str):
        return item.encode()
    if isinstance(item, (bytes, bytearray, memoryview)):
        return bytes(item)
    # bytes(5) would be five NUL bytes: one mistake, and bytes(10**9) sends a gigabyte of them.
    raise TypeError(f"the StreamingResponse source {source!r} gave {type(item).__name__} {item!r:.40}; a source may "
                    "give bytes, bytearray, memoryview or str")


async def body_chunks(content: Any) -> AsyncGenerator[bytes, None]:
    """The body chunks of a streaming response, as bytes; closes the source when done."""
    if hasattr(content, "__aiter__"):
        source = content.__aiter__()
        try:
            async for item in source:
                yield _chunk(item, content)
        finally:
            aclose = getattr(source, "aclose", None)
            if aclose is not None:
                await aclose()
    elif type(content) in _IN_MEMORY:
        for item in content:
            yield _chunk(item, content)
    else:
        source = stepped(content)
        try:
            async for item in source:
                yield _chunk(item, content)
        finally:
            await source.aclose()


# Sources whose items are already in memory (and iterators over them): iterating them cannot block, so they skip
# the pool.
_IN_MEMORY: Final = frozenset({list, tuple, str, bytes, type(iter([1])), type(iter((1,)))})
_DONE: Final = object()


def _no_close() -> None:
    pass


async def stepped(items: Iterable[Any], pooled: bool = True) -> AsyncGenerator[Any, None]:
    """The items of a plain iterable, each ``next`` run in the thread pool (as Starlette does for a sync
    StreamingResponse source: it may read a file or a database), or on the loop when not ``pooled``. The source is
    closed when this ends, however it ends: after the step still running in the pool when a stream is cut."""
    it = iter(items)
    lock = threading.Lock()
    live = True  # not yet ended or failed: closing a mypyc-compiled nested generator that has ended raises

    def step() -> Any:
        nonlocal live
        with lock:
            try:
                item = next(it, _DONE)
            except BaseException:
                live = False
                raise
            if item is _DONE:
                live = False
            return item

    def close() -> None:
        with lock:
            if live:
                getattr(it, "close", _no_close)()

    try:
        while True:
            item = await in_pool(step) if pooled else next(it, _DONE)
            if item is _DONE:
                return
            yield item
    finally:
        if pooled:
            await in_pool(close)
        else:
            close()
