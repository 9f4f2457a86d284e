"""Middleware: code around a route, before and after it, typed.

A middleware is an async function ``(request, call_next) -> response``::

    async def timing(request: Request, call_next: CallNext) -> AnyResponse:
        start = time.perf_counter()
        response = await call_next(request)
        response.set_header("server-timing", f"app;dur={(time.perf_counter() - start) * 1000:.1f}")
        return response

It may answer without calling ``call_next``, or change the response it gets
back. Routes are wrapped when they are planned, each with exactly the
middleware that applies to it (the application's, then its routers'), so a
route with none runs as if middleware did not exist.

FastAPI's middleware classes live in submodules under FastAPI's names: ``covet.middleware.cors.CORSMiddleware``,
``.trustedhost.TrustedHostMiddleware``, ``.gzip.GZipMiddleware`` and ``.httpsredirect.HTTPSRedirectMiddleware``,
added as ``app.add_middleware(CORSMiddleware, allow_origins=[...])``. They are typed middleware like the
functions above (built from their options, then called with ``(request, call_next)``); pure ASGI middleware
classes (``__init__(app, ...)``, ``__call__(scope, receive, send)``) are refused at start-up, for now.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any, TypeAlias, cast

from covet.exceptions import HTTPError
from covet.middleware.checks import build_middleware, call_site, check_middleware
from covet.requests import Request, hand_on_state
from covet.responses import Response, StreamingResponse
from covet.runtime.body import RequestBody
from covet.runtime.encode import http_error_reply, reply_of
from covet.runtime.exits import AfterReply
from covet.runtime.glue import RoutePlan

__all__ = ["AnyResponse", "CallNext", "Middleware", "wrap_plan", "check_middleware", "build_middleware", "call_site"]

AnyResponse: TypeAlias = Response | StreamingResponse
CallNext: TypeAlias = Callable[[Request], Awaitable[AnyResponse]]
Middleware: TypeAlias = Callable[[Request, CallNext], Awaitable[AnyResponse]]


def response_of(reply: Any) -> AnyResponse:
    """The response object of a glue's reply, for middleware to read and change."""
    after = None
    if type(reply) is AfterReply:
        after, reply = reply.after, reply.reply
    if isinstance(reply, StreamingResponse):
        if after is not None:
            reply.after = after
        return reply
    status, headers, body = reply
    resp = Response.__new__(Response)
    resp.status = status
    resp.raw_headers = list(headers)
    resp.body = body
    resp.after = after
    return resp


def wrap_plan(plan: RoutePlan, chain: list[Middleware], path_params: list[str]) -> RoutePlan:
    """``plan`` with ``chain`` around it, the first middleware outermost."""
    glue = plan.glue
    is_async = plan.is_async

    async def innermost(request: Request) -> AnyResponse:
        # The route gets the request as it arrived (a middleware cannot swap it for another), and the state a
        # middleware set on it (request.state.user, say).
        hand_on_state(request)
        pp = list(request.path_params.values())
        try:
            reply = glue(request.method, request.path, request.query_string, request._raw_headers, request._body,
                         pp, request._conn)
            if is_async or isinstance(reply, Coroutine):  # (a sync glue's async exception handler)
                reply = await reply
        except HTTPError as exc:  # an error the route answers with is a response the middleware sees
            reply = http_error_reply(exc)
        if type(reply) is AfterReply:
            _AFTER.set(reply.after)  # kept even if a middleware answers with another response
        return response_of(reply)

    call: CallNext = innermost
    for mw in reversed(chain):
        call = _link(mw, call)

    async def wrapped(m: str, p: str, q: str, h: list[tuple[str, str]], b: bytes | RequestBody, pp: list[str],
                      c: Any) -> Any:
        # ``call`` is one of the async functions above, so calling it gives a coroutine.
        params = dict(zip(path_params, pp, strict=False))
        chain = cast(Coroutine[Any, Any, AnyResponse], call(Request(m, p, q, h, b, c, params)))
        ctx = contextvars.copy_context()
        try:
            response = await InContext(chain, ctx)
        except BaseException:
            pending = ctx.get(_AFTER)
            if pending is not None:  # the route's background tasks and clean-up run even so
                asyncio.get_running_loop().create_task(_run_after(pending))
            raise
        pending = ctx.get(_AFTER)
        if pending is not None and response.after is not pending:
            previous = response.after
            response.after = pending if previous is None else _both(previous, pending)
        return reply_of(response)

    out = RoutePlan(wrapped, True, plan.label, plan.source, plan.spec)
    out.compiled = plan.compiled
    out.uses_conn = True  # the middleware's Request can tell the client's address
    out.reads_headers = True
    out.streams_body = plan.streams_body
    return out


_AFTER: contextvars.ContextVar[Callable[[], Awaitable[None]] | None] = contextvars.ContextVar("covet_after",
                                                                                        default=None)
log = logging.getLogger("covet.error")


async def _run_after(after: Callable[[], Awaitable[None]]) -> None:
    try:
        await after()
    except Exception:
        log.exception("work after the response failed")


def _both(first: Callable[[], Awaitable[None]], second: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
    async def both() -> None:
        await _run_after(first)
        await second()

    return both


class InContext:
    """Awaits a coroutine with every step of it run in ``ctx``.

    Context variables a middleware sets (the session) then belong to this request alone: the protocol layers
    run many requests in one context, so a value left there would be seen by the next request. A Task would
    isolate them too, at the cost of a Task per request.
    """

    __slots__ = ("coro", "ctx")

    def __init__(self, coro: Coroutine[Any, Any, Any], ctx: contextvars.Context) -> None:
        self.coro = coro
        self.ctx = ctx

    def __await__(self) -> Generator[Any, Any, Any]:
        run = self.ctx.run
        coro = self.coro
        try:
            waiting = run(coro.send, None)
            while True:
                try:
                    sent = yield waiting
                except BaseException as exc:  # cancellation and throws go to the coroutine, in its context
                    waiting = run(coro.throw, exc)
                else:
                    waiting = run(coro.send, sent)
        except StopIteration as stop:
            return stop.value


def _link(mw: Middleware, call_next: CallNext) -> CallNext:
    async def call(request: Request) -> AnyResponse:
        return await mw(request, call_next)

    return call
