"""Work a handler leaves to run after its response is sent."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any, ParamSpec, final

__all__ = ["BackgroundTasks"]

P = ParamSpec("P")
log = logging.getLogger("covet.error")


@final
class BackgroundTasks:
    """Declare a parameter of this type to get the request's list of background tasks.

    ``add_task(func, *args, **kwargs)`` queues a call; the queue runs in order once the response has been sent,
    async functions on the event loop and sync ones in the loop's thread pool. A task that raises is logged and
    the rest still run.
    """

    __slots__ = ("tasks",)

    def __init__(self) -> None:
        self.tasks: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = []

    def add_task(self, func: Callable[P, Any], /, *args: P.args, **kwargs: P.kwargs) -> None:
        self.tasks.append((func, args, kwargs))

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for func, args, kwargs in self.tasks:
            try:
                if inspect.iscoroutinefunction(func):
                    await func(*args, **kwargs)
                else:
                    ctx = contextvars.copy_context()
                    await loop.run_in_executor(None, functools.partial(ctx.run, func, *args, **kwargs))
            except Exception:
                log.exception("background task %s failed", getattr(func, "__qualname__", func))

    def __len__(self) -> int:
        return len(self.tasks)
