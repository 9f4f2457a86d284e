"""How long a suspended handler may live: its deadline, and whether its client leaving cancels it.

Both protocol layers hand each handler Task they suspend to a ``Watch``
with its route's plan. By default a handler runs to its end even when its
client has gone (as Starlette and uvicorn do): a handler halfway through a
database write must not be cut off because a client left. A route, or the
application, may opt in to cancelling it (``cancel_on_disconnect``), and may
set a ``timeout`` past which it is cancelled and answered 504.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final, final

from covet.runtime.encode import HeaderSeq, error_reply
from covet.runtime.glue import RoutePlan

__all__ = ["Watch", "TIMEOUT_STATUS"]

TIMEOUT_STATUS: Final = 504


@final
class Watch:
    """The deadline and disconnect policy of one suspended handler ``task``."""

    __slots__ = ("task", "timer", "timed_out", "cancel_on_gone", "seconds")

    def __init__(self, task: asyncio.Task[Any], plan: RoutePlan | None, loop: asyncio.AbstractEventLoop) -> None:
        self.task = task
        self.timed_out = False
        self.seconds = plan.timeout if plan is not None else 0.0
        self.cancel_on_gone = plan is not None and plan.cancel_on_disconnect
        self.timer = loop.call_later(self.seconds, self._expire) if self.seconds > 0 else None

    def _expire(self) -> None:
        self.timer = None
        if not self.task.done():
            self.timed_out = True
            self.task.cancel()

    def client_gone(self) -> None:
        """The connection closed: cancel the handler if its route asked for that."""
        if self.cancel_on_gone and not self.task.done():
            self.task.cancel()

    def finished(self) -> tuple[int, HeaderSeq, bytes] | None:
        """Called when the task is done: the reply to send for a handler cancelled by its deadline, else None."""
        timer = self.timer
        if timer is not None:
            timer.cancel()
            self.timer = None
        if self.timed_out and self.task.cancelled():
            return error_reply(TIMEOUT_STATUS, f"The request took longer than {self.seconds:g} s")
        return None
