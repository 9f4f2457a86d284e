"""The thread pool ``def`` handlers, ``def`` dependencies and sync background tasks run in: the event loop's
default executor, of ``--threads`` threads (40, anyio's default under FastAPI).

It is asyncio's own pool, which also says how many calls are running. A call still
running when the drain's ``--graceful-timeout`` is over would keep the process alive
(the interpreter joins pool threads at exit), past the deadline that systemd,
Kubernetes and the supervisor count on. ``serve`` asks ``running`` then, and exits
without waiting for them.

Not compiled: a handler's call crosses it once, in the thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar, final

__all__ = ["HandlerPool"]

T = TypeVar("T")


@final
class HandlerPool(ThreadPoolExecutor):
    """asyncio's default executor, counting the calls in progress."""

    def __init__(self, size: int = 40) -> None:
        super().__init__(max_workers=size, thread_name_prefix="covet-handler")
        self._count_lock = threading.Lock()
        self._running = 0

    @property
    def running(self) -> int:
        return self._running

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        return super().submit(self._counted, fn, *args, **kwargs)

    def _counted(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        with self._count_lock:
            self._running += 1
        try:
            return fn(*args, **kwargs)
        finally:
            with self._count_lock:
                self._running -= 1
