"""What runs after a response is sent: background tasks, then the rest of each generator dependency.

The glue wraps a reply in ``AfterReply`` only when a route has such work, so
every other reply stays a plain tuple and the protocol layers' fast path
never sees this module.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any, final

from covet.background import BackgroundTasks
from covet.exceptions import FastAPIError
from covet.responses import StreamingResponse

__all__ = ["AfterReply", "RouteExit", "after_reply", "finish", "finish_now", "finish_now_sync", "first_yield",
           "in_pool", "unwind", "unwind_sync"]

log = logging.getLogger("covet.error")


@final
class AfterReply:
    """A reply, and the work to run once it has been sent."""

    __slots__ = ("reply", "after")

    def __init__(self, reply: Any, after: Callable[[], Awaitable[None]]) -> None:
        self.reply = reply
        self.after = after


@final
class RouteExit:
    """A route's after-response work: its background tasks, then the rest of its generator dependencies.

    A stream that fails sets ``error`` first (Exchange's ``_AfterStream``): the tasks are dropped and the error is
    thrown into the dependencies, as FastAPI does, so that an ``except: rollback`` runs and an ``else: commit``
    does not.
    """

    __slots__ = ("exits", "tasks", "threaded", "error")

    def __init__(self, exits: list[Any] | None, tasks: BackgroundTasks | None, threaded: bool) -> None:
        self.exits = exits
        self.tasks = tasks
        self.threaded = threaded
        self.error: BaseException | None = None

    async def __call__(self) -> None:
        exits, error = self.exits, self.error
        if error is not None:
            if exits:
                try:
                    await unwind(exits, error, self.threaded)
                except BaseException as e:
                    if e is not error:  # a dependency's own failure while it handled the stream's
                        log.exception("dependency failed while handling a failed stream", exc_info=e)
            return
        if self.tasks is not None:
            await self.tasks.run()
        if exits:
            await finish(exits, self.threaded)


def after_reply(reply: Any, exits: list[Any] | None, tasks: BackgroundTasks | None, threaded: bool = False) -> Any:
    """``reply``, wrapped with its after-work when there is any; ``threaded``: sync generator dependencies finish
    in the thread pool, as they started."""
    # (A stream's tasks may still be added while it is sent: a generator handler adds them as it runs.)
    if not exits and (tasks is None or (not tasks.tasks and not isinstance(reply, StreamingResponse))):
        return reply
    return AfterReply(reply, RouteExit(exits, tasks, threaded))


def _name(gen: Any) -> str:
    code = getattr(gen, "gi_code", None) or getattr(gen, "ag_code", None)
    return f"{code.co_filename}:{code.co_firstlineno}:{code.co_name}" if code is not None else repr(gen)


async def _close_extra_yield(gen: Any, when: str) -> None:
    """A generator dependency yielded where it should have ended: say so, and close it."""
    log.error("dependency %s yielded %s; it was closed", _name(gen), when)
    if inspect.isasyncgen(gen):
        await gen.aclose()
    else:
        gen.close()


async def in_pool(call: Callable[[], Any]) -> Any:
    """``call()`` in the loop's thread pool, with the caller's context variables."""
    return await asyncio.get_running_loop().run_in_executor(None, contextvars.copy_context().run, call)


def first_yield(gen: Any) -> Any:
    """What a sync generator dependency yields, for a thread of the pool: a StopIteration cannot cross a Future."""
    try:
        return next(gen)
    except StopIteration:
        raise RuntimeError(f"dependency {_name(gen)} ended without yielding a value") from None


def _step(gen: Any) -> bool:
    """Run a sync generator dependency past its ``yield``: whether it ended (in a thread of the pool)."""
    try:
        next(gen)
    except StopIteration:
        return True
    return False


def _throw(gen: Any, exc: BaseException) -> bool:
    """``gen.throw(exc)`` in a thread of the pool: whether it ended; what it raises instead is raised."""
    try:
        gen.throw(exc)
    except StopIteration:
        return True
    return False


async def _advance(gen: Any, threaded: bool) -> bool:
    """Run a generator dependency past its ``yield``: whether it ended there (False: it yielded again)."""
    try:
        if inspect.isasyncgen(gen):
            await gen.__anext__()
        elif threaded:
            return bool(await in_pool(functools.partial(_step, gen)))
        else:
            next(gen)
    except (StopIteration, StopAsyncIteration):
        return True
    return False


async def finish(exits: list[Any], threaded: bool = False) -> None:
    """Run each generator dependency past its ``yield``, the last opened first."""
    for gen in reversed(exits):
        try:
            if await _advance(gen, threaded):
                continue
        except Exception:
            log.exception("dependency %s failed while cleaning up after the response", _name(gen))
            continue
        await _close_extra_yield(gen, "more than once")


def finish_now_sync(exits: list[Any]) -> None:
    """Run each ``scope="function"`` generator dependency past its ``yield`` before the response is sent, the last
    opened first. What one raises is raised, as FastAPI does: each is taken off ``exits`` as it goes, so that
    only those left are unwound with it."""
    while exits:
        gen = exits.pop()
        try:
            next(gen)
        except StopIteration:
            continue
        gen.close()
        raise RuntimeError(f"dependency {_name(gen)} yielded more than once")


async def finish_now(exits: list[Any], threaded: bool = False) -> None:
    """``finish_now_sync`` for a route with async generator dependencies too, or (``threaded``) whose sync ones
    run in the thread pool."""
    while exits:
        gen = exits.pop()
        if await _advance(gen, threaded):
            continue
        await _close_extra_yield(gen, "more than once")
        raise RuntimeError(f"dependency {_name(gen)} yielded more than once")


def _swallowed(gen: Any, exc: BaseException) -> BaseException:
    """What goes on once generator ``gen`` ended quietly when ``exc`` was thrown into it: for an exception it
    swallowed, FastAPI's error (a 500), saying why; else ``exc``."""
    if not isinstance(exc, Exception) or isinstance(exc, FastAPIError):
        return exc
    error = FastAPIError(
        "The application code is raising an exception and a dependency with yield has a block with a bare except, "
        f"or a block with except Exception, and is not raising the exception again: {_name(gen)} swallowed "
        f"{type(exc).__name__}, and there is no response to send. Raise it again in the dependency "
        "(docs/dependencies.md).")
    error.__cause__ = exc
    return error


def unwind_sync(exits: list[Any], exc: BaseException) -> None:
    """The handler (or a later dependency) raised ``exc``: throw it into each sync generator dependency.

    A dependency that raises another exception replaces it (it is raised here); one that swallows it leaves no
    response: ``FastAPIError`` is raised, as FastAPI does.
    """
    current = exc
    for gen in reversed(exits):
        try:
            gen.throw(current)
        except StopIteration:
            current = _swallowed(gen, current)
            continue
        except BaseException as e:  # the dependency re-raised, or raised something else instead
            current = e
            continue
        log.error("dependency %s yielded again after an exception; it was closed", _name(gen))
        gen.close()
    if current is not exc:
        raise current


async def unwind(exits: list[Any], exc: BaseException, threaded: bool = False) -> None:
    """``unwind_sync`` for a route with async generator dependencies too, or (``threaded``) whose sync ones run
    in the thread pool."""
    current = exc
    for gen in reversed(exits):
        try:
            if inspect.isasyncgen(gen):
                await gen.athrow(current)
            elif threaded:
                if await in_pool(functools.partial(_throw, gen, current)):
                    raise StopIteration
            else:
                gen.throw(current)
        except (StopIteration, StopAsyncIteration):
            current = _swallowed(gen, current)
            continue
        except BaseException as e:
            current = e
            continue
        await _close_extra_yield(gen, "again after an exception")
    if current is not exc:
        raise current
