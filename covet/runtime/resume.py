"""Start a coroutine on the caller's stack, and continue it in a Task if it suspends.

An async handler is started with ``coro.send(None)`` on the connection's own
stack: when it finishes without suspending it costs no Task.  When it does
suspend, the future it yielded must go to a Task *as if* the Task had run it
from the start; ``resume`` does exactly that.

During that first step the handler still expects to run in a Task:
``asyncio.timeout()``, redis-py, aiohttp and anyio ask ``asyncio.current_task()``
and fail without one. ``EagerTask`` stands in for the Task the handler will
get if it suspends: it is the current task for the first step, and once the
real Task exists, whatever was asked of the stand-in (a cancel, a callback)
goes to it. As in Python 3.12's eager tasks, a handler that finishes at once
never gets a Task at all.
"""

from __future__ import annotations

import asyncio
from asyncio.tasks import _enter_task, _leave_task
from collections.abc import Callable, Coroutine, Generator
from typing import Any, final

__all__ = ["EagerTask", "resume"]


@final
class EagerTask:
    """``asyncio.current_task()`` during a handler's first step: the Task it will run in if it suspends."""

    __slots__ = ("real", "cancel_asked", "callbacks", "cancels", "used", "__weakref__")

    def __init__(self) -> None:
        self.real: asyncio.Task[Any] | None = None
        # Asked anything: it is not handed to the next handler (one that was not is, and costs no allocation).
        self.used = False
        self.cancel_asked: list[Any] = []  # cancel(msg) calls made before the real Task existed
        self.callbacks: list[tuple[Callable[[Any], object], Any]] = []
        self.cancels = 0  # cancelling(), before the real Task

    def adopt(self, task: asyncio.Task[Any]) -> None:
        """The handler suspended and now runs in ``task``: everything asked of the stand-in goes to it."""
        self.real = task
        for msg in self.cancel_asked:
            task.cancel(msg)
        for fn, context in self.callbacks:
            task.add_done_callback(fn, context=context)
        self.cancel_asked = []
        self.callbacks = []

    # The Task methods asyncio.timeout(), aiohttp's timers and anyio's cancel scopes use.

    def cancel(self, msg: Any = None) -> bool:
        self.used = True
        real = self.real
        if real is not None:
            return real.cancel(msg)
        self.cancel_asked.append(msg)
        self.cancels += 1
        return True

    def cancelling(self) -> int:
        self.used = True
        real = self.real
        return real.cancelling() if real is not None else self.cancels

    def uncancel(self) -> int:
        self.used = True
        real = self.real
        if real is not None:
            return real.uncancel()
        if self.cancels:
            self.cancels -= 1
            if self.cancel_asked:
                self.cancel_asked.pop()
        return self.cancels

    def done(self) -> bool:
        self.used = True
        real = self.real
        return real.done() if real is not None else False

    def cancelled(self) -> bool:
        self.used = True
        real = self.real
        return real.cancelled() if real is not None else False

    def add_done_callback(self, fn: Callable[[Any], object], *, context: Any = None) -> None:
        self.used = True
        real = self.real
        if real is not None:
            real.add_done_callback(fn, context=context)
        else:
            self.callbacks.append((fn, context))

    def remove_done_callback(self, fn: Callable[[Any], object]) -> int:
        self.used = True
        real = self.real
        if real is not None:
            return real.remove_done_callback(fn)
        before = len(self.callbacks)
        self.callbacks = [(f, c) for f, c in self.callbacks if f != fn]
        return before - len(self.callbacks)

    def get_name(self) -> str:
        self.used = True
        real = self.real
        return real.get_name() if real is not None else "covet-handler"

    def get_loop(self) -> asyncio.AbstractEventLoop:
        self.used = True
        return asyncio.get_running_loop()

    def __getattr__(self, name: str) -> Any:
        self.used = True
        real = self.real
        if real is None:
            raise AttributeError(f"{name!r}: the handler has not suspended yet, so it runs in no Task so far")
        return getattr(real, name)

    def __repr__(self) -> str:
        return f"<EagerTask of {self.real!r}>" if self.real is not None else "<EagerTask (first step)>"


class _Yield:
    """Awaitable that hands one already-yielded value to the running Task."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __await__(self) -> Generator[Any, Any, Any]:
        return (yield self.value)


_NO_TASK: Any = None  # (stands for the Task when ``resume`` runs in none: then it never swaps tasks)


async def resume(coro: Coroutine[Any, Any, Any], waiting: Any, stand_in: EagerTask | None = None) -> Any:
    """Drive ``coro`` to the end, starting from the value it last yielded, in the Task ``stand_in`` stood for.

    The handler keeps seeing ``stand_in`` as its current task (anyio's cancel scopes require the task a scope is left
    in to be the one it was entered in), and what it asks of it goes to the Task this runs in.
    """
    loop = asyncio.get_running_loop()
    found = asyncio.current_task()
    task: asyncio.Task[Any] = found if found is not None else _NO_TASK
    if stand_in is not None and found is not None:
        stand_in.adopt(found)
    else:
        stand_in = None
    while True:
        try:
            sent = await _Yield(waiting)
        except BaseException as exc:  # cancellation and throws go to the handler
            thrown: BaseException | None = exc
        else:
            thrown = None
        if stand_in is not None:
            _leave_task(loop, task)
            _enter_task(loop, stand_in)  # type: ignore[arg-type]
        try:
            waiting = coro.send(sent) if thrown is None else coro.throw(thrown)
        except StopIteration as stop:
            return stop.value
        finally:
            if stand_in is not None:
                _leave_task(loop, stand_in)  # type: ignore[arg-type]
                _enter_task(loop, task)
