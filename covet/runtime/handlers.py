"""Calling the application's exception handlers from a route's glue, where the exception was raised."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from covet.requests import Request
from covet.runtime.encode import reply_of

__all__ = ["handled_error", "handled_error_async"]


async def _later(pending: Awaitable[Any]) -> Any:
    return reply_of(await pending)


def handled_error(handler: Callable[[Request, Any], Any], exc: BaseException, request: Request) -> Any:
    """The reply of ``handler``'s response to ``exc``; from a sync glue, a coroutine when the handler is async
    (the protocol layer then runs it as it runs a suspended handler)."""
    result = handler(request, exc)
    if inspect.isawaitable(result):
        return _later(result)
    return reply_of(result)


async def handled_error_async(handler: Callable[[Request, Any], Any], exc: BaseException, request: Request) -> Any:
    result = handler(request, exc)
    if inspect.isawaitable(result):
        result = await result
    return reply_of(result)
