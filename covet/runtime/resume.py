"""Continue a coroutine that has already run up to its first suspension.

An async handler is started with ``coro.send(None)`` on the connection's own
stack: when it finishes without suspending it costs no Task.  When it does
suspend, the future it yielded must go to a Task *as if* the Task had run it
from the start; this wrapper does exactly that.
"""

from __future__ import annotations

from collections.abc import Coroutine, Generator
from typing import Any

__all__ = ["resume"]


class _Yield:
    """Awaitable that hands one already-yielded value to the running Task."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __await__(self) -> Generator[Any, Any, Any]:
        return (yield self.value)


async def resume(coro: Coroutine[Any, Any, Any], waiting: Any) -> Any:
    """Drive ``coro`` to the end, starting from the value it last yielded."""
    while True:
        try:
            sent = await _Yield(waiting)
        except BaseException as exc:  # cancellation and throws go to the handler
            try:
                waiting = coro.throw(exc)
            except StopIteration as stop:
                return stop.value
        else:
            try:
                waiting = coro.send(sent)
            except StopIteration as stop:
                return stop.value
