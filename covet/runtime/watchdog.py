"""The loop watchdog: a warning, naming the route, when code holds the event loop too long.

An inline handler that blocks (a sync database call, a ``time.sleep``, a long
loop) holds up every other request on the worker, and nothing else says so.
asyncio's debug mode reports slow callbacks, but times every callback to do it.
Here the loop only re-arms a timer a few times a second; a thread checks that it
keeps firing. When it stops for longer than ``--loop-watchdog`` seconds, the
thread reads the loop thread's stack (``sys._current_frames``) and names the
route whose handler or dependency is on it, and the line it is at. Nothing runs
per request.

Compiled handlers have no Python frames: their stall is reported with the
innermost Python frame found, or none.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
import types
from collections.abc import Iterable
from typing import Any, final

__all__ = ["LoopWatchdog", "code_labels"]

log = logging.getLogger("covet.watchdog")


def code_labels(plans: Iterable[Any]) -> dict[types.CodeType, str]:
    """Each interpreted handler's and dependency's code object, with the label of its route."""
    found: dict[types.CodeType, str] = {}
    for plan in plans:
        spec = getattr(plan, "spec", None)
        if spec is None:
            continue
        route = f"{spec.method} {spec.path}"
        for fn in (spec.handler, *(d.provider for d in spec.deps)):
            # (an instance's __call__ for a callable-object dependency)
            code = getattr(fn, "__code__", None) or getattr(type(fn).__call__, "__code__", None)
            if isinstance(code, types.CodeType):
                found.setdefault(code, route)
    return found


def _where(frame: types.FrameType | None, labels: dict[types.CodeType, str]) -> str:
    """The route on the stack (its innermost handler or dependency frame), and the innermost line."""
    if frame is None:
        return "no Python frame (compiled code?)"
    top = f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"
    f: types.FrameType | None = frame
    while f is not None:
        route = labels.get(f.f_code)
        if route is not None:
            at = f"{f.f_code.co_filename}:{f.f_lineno} in {f.f_code.co_name}"
            return f"route {route}, at {at}" + ("" if f is frame else f" (now in {top})")
        f = f.f_back
    return f"no route's handler on the stack; at {top}"


@final
class LoopWatchdog:
    """Watches ``loop`` from a daemon thread; ``start`` and ``stop`` on the loop's thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop, threshold: float, labels: dict[types.CodeType, str]) -> None:
        self.loop = loop
        self.threshold = threshold
        self.labels = labels
        # A beat per quarter of the threshold, at most ten a second: a stall is seen soon after it passes it.
        self.period = min(max(threshold / 4, 0.005), 0.1)
        self.last = time.monotonic()
        self.reported = 0.0  # the ``last`` beat a warning was given for (one warning per stall)
        self.stalls = 0
        self._timer: asyncio.TimerHandle | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="covet-watchdog", daemon=True)
        self._loop_thread = threading.get_ident()

    def start(self) -> None:
        self._loop_thread = threading.get_ident()
        self.last = time.monotonic()
        self._timer = self.loop.call_later(self.period, self._beat)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _beat(self) -> None:
        now = time.monotonic()
        if self.reported and self.reported == self.last:
            log.warning("the event loop is free again, after %.2f s", now - self.last)
            self.reported = 0.0
        self.last = now
        self._timer = self.loop.call_later(self.period, self._beat)

    def _watch(self) -> None:
        while not self._stop.wait(self.period):
            last = self.last
            held = time.monotonic() - last
            if held <= self.threshold + self.period or self.reported == last:
                continue
            self.reported = last
            self.stalls += 1
            where = _where(sys._current_frames().get(self._loop_thread), self.labels)
            log.warning("the event loop has been held for %.2f s by %s: every other request waits meanwhile; "
                        "await the slow work, or drop the route's inline=True so it runs in the thread pool",
                        held, where)
