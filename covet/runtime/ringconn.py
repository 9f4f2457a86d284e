"""HTTP/1.1 on the io_uring core: the Python half.

The C core (``covet._native.RingServer``) accepts, receives, parses and sends;
it calls ``request`` once per complete request, with the connection's id.
A handler that finishes on the spot is answered by the bytes returned, in
order with the other responses of that connection.  One that suspends, and a
streaming response, keep the connection: the core holds its later input
until ``reply`` or ``finish`` hands it back, so responses still leave in
request order.  The rules of ``http1`` (framing errors close, HEAD has no
body, a cut-short stream ends in a reset) hold here too.

A body over ``max_body`` is handed to Python in pieces (``body``) while its
route runs, as in ``http1``; the core stops reading when the route has
enough unread, until ``resume_body``.

Static paths with sync handlers skip ``request``: ``install`` hands them to
the core, which calls their glue itself and renders a plain reply whose head
is cached; anything else it hands back through ``reply_for`` and ``failed``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, Final, Protocol

from covet.exceptions import HTTPError
from covet.responses import StreamingResponse
from covet.runtime.body import TOO_LARGE, RequestBody, disconnected, keep_alive_after, streamed_glue
from covet.runtime.connection import ConnectionInfo
from covet.runtime.encode import HeaderSet, Reply, error_reply, http_error_reply, server_error_reply
from covet.runtime.glue import RoutePlan
from covet.runtime.http1 import ServerState, render, stream_head, task_reply
from covet.runtime.lifetime import Watch
from covet.runtime.resume import resume
from covet.runtime.streaming import call_streamed, send_body

__all__ = ["DirectCore", "RingCore", "RingHTTP"]

log = logging.getLogger("covet.http1")

_UNUSED_CONN: Final = ConnectionInfo(None, None)


class RingCore(Protocol):
    """What the Python half uses of ``covet._native.RingServer``."""

    def reply(self, cid: int, data: bytes, keep_alive: bool, /) -> bool: ...

    def write(self, cid: int, data: bytes, /) -> int: ...

    def finish(self, cid: int, keep_alive: bool, /) -> bool: ...

    def close_after(self, cid: int, /) -> None: ...

    def resume_body(self, cid: int, /) -> None: ...

    def abort(self, cid: int, /) -> None: ...

    def flush(self) -> None: ...

    def peer(self, cid: int, /) -> tuple[str, int] | None: ...

    def gone(self, cid: int, /) -> bool: ...

    def sockname(self, cid: int, /) -> tuple[str, int] | None: ...


class DirectCore(Protocol):
    """What ``install`` uses of the core: the routes it calls without going through ``request``."""

    def set_direct(self, header_set_type: type[HeaderSet], unused_conn: ConnectionInfo, /) -> None: ...

    def set_head_lines(self, lines: bytes, /) -> None: ...

    def add_route(self, method: str, path: str, glue: Any, plan: RoutePlan, reads_headers: bool, /) -> bool: ...


class RingHTTP:
    """Answers the requests the core hands over; owns the handlers it suspended."""

    def __init__(self, state: ServerState, loop: asyncio.AbstractEventLoop) -> None:
        self.state = state
        self.loop = loop
        self.core: RingCore | None = None
        self.drains: dict[int, asyncio.Future[None]] = {}
        self.streams: dict[int, asyncio.Task[bool]] = {}
        self.bodies: dict[int, RequestBody] = {}
        self.watches: dict[int, Watch] = {}  # the suspended handlers' deadlines and disconnect policies

    # -- called by the core -------------------------------------------------

    def request(self, cid: int, ev: tuple[Any, ...]) -> bytes | None:
        """One complete request (or the head of one whose body streams): its response, or None when Python keeps
        the connection."""
        if ev[0] == 3:
            return self._open_body(cid, ev)
        _, method, path, query, minor, headers, keep_alive, body = ev
        state = self.state
        core = self.core
        assert core is not None
        plan, params = state.dispatcher.resolve(method, path)
        # Most routes never read their connection: only those that do get one (with addresses asked lazily).
        info = ConnectionInfo(None, None, "http", "1.1", core, cid, self) if plan.uses_conn else _UNUSED_CONN
        is_head = method == "HEAD"
        reply: Reply
        try:
            if plan.is_async:
                coro = plan.glue(method, path, query, headers, body, params, info)
                try:
                    waiting = coro.send(None)
                except StopIteration as stop:
                    reply = stop.value
                else:
                    self._suspend(cid, resume(coro, waiting), plan.label, is_head, keep_alive, minor, plan)
                    return None
            else:
                reply = plan.glue(method, path, query, headers, body, params, info)
        except HTTPError as exc:
            reply = http_error_reply(exc)
        except Exception as exc:
            reply = server_error_reply(plan.label, exc)
        return self.reply_for(cid, reply, keep_alive, is_head, minor)

    def _open_body(self, cid: int, ev: tuple[Any, ...]) -> bytes | None:
        """A head whose body is too large to hold: only a route that reads a stream gets it, others answer 413."""
        _, method, path, query, minor, headers, keep_alive, _ = ev
        state = self.state
        core = self.core
        assert core is not None
        plan, params = state.dispatcher.resolve(method, path)
        glue = streamed_glue(plan.glue, plan.streams_body, headers)
        if glue is None:
            core.close_after(cid)
            return render(error_reply(413, TOO_LARGE), state.clock.head_lines, False, False, minor)[0]
        info = ConnectionInfo(None, None, "http", "1.1", core, cid, self) if plan.uses_conn else _UNUSED_CONN

        def resume() -> None:
            core.resume_body(cid)

        def stop() -> None:
            core.abort(cid)

        body = state.open_body(headers, resume, stop)
        self.bodies[cid] = body
        self._suspend(cid, call_streamed(glue, (method, path, query, headers, body, params, info)), plan.label,
                      method == "HEAD", keep_alive, minor, plan)
        return None

    def body(self, cid: int, item: bytes | tuple[int, str] | bool | None) -> bool:
        """A piece of a streamed body, None at its end, (status, message) when its framing broke, False when the
        connection is gone, True when the client shut its side (FIN) before the end (a ClientDisconnect either
        way, after what arrived in the second case); True back asks the core to stop reading until
        ``resume_body``."""
        body = self.bodies.get(cid)
        if body is None:
            return False
        if type(item) is bytes:
            return body.feed(item)
        self.state.bodies.discard(body)
        if item is None:
            body.end()
        elif isinstance(item, tuple):
            body.fail(HTTPError(item[0], item[1]))
        else:
            body.fail(disconnected(), keep_unread=item is True)
        if item is None or body.discarding:
            del self.bodies[cid]
        # else the route still runs: _handler_done sees the failure (and closes after its answer)
        return False

    def reply_for(self, cid: int, reply: Reply, keep_alive: bool, is_head: bool, minor: int) -> bytes | None:
        """The response bytes of a reply (None when it streams); closes after it when it says so."""
        if type(reply) is not tuple:
            reply = self.state.unwrap(reply)
            if type(reply) is not tuple:
                if isinstance(reply, Coroutine):  # an async exception handler's answer, still to come
                    self._suspend(cid, reply, "[exception handler]", is_head, keep_alive, minor)
                else:
                    self._start_stream(cid, reply, is_head, keep_alive, minor)
                return None
        data, keep = render(reply, self.state.clock.head_lines, keep_alive, is_head, minor)
        if not keep:
            core = self.core
            assert core is not None
            core.close_after(cid)
        return data

    def failed(self, cid: int, plan: RoutePlan, exc: BaseException, keep_alive: bool, is_head: bool,
               minor: int) -> bytes | None:
        """A route the core called directly raised ``exc``: its error response, as ``request`` would give."""
        if isinstance(exc, HTTPError):
            reply = http_error_reply(exc)
        elif isinstance(exc, Exception):
            reply = server_error_reply(plan.label, exc)
        else:
            raise exc  # KeyboardInterrupt and the like are not a route's answer
        return self.reply_for(cid, reply, keep_alive, is_head, minor)

    def install(self, core: DirectCore) -> int:
        """Hand the core the routes it may call itself: static paths with sync handlers; returns how many."""
        core.set_direct(HeaderSet, _UNUSED_CONN)
        core.set_head_lines(self.state.clock.head_lines)
        n = 0
        for method, path, plan in self.state.dispatcher.static_plans():
            if plan.is_async or plan.uses_conn or "%" in path:  # the router decodes paths with "%" first
                continue
            if core.add_route(method, path, plan.glue, plan, plan.reads_headers):
                n += 1
        return n

    def error(self, status: int, message: str) -> bytes:
        """The response to a framing error; the core closes the connection after it."""
        return render(error_reply(status, message), self.state.clock.head_lines, False, False, 1)[0]

    def gone(self, cid: int, /) -> bool:
        """Whether the client of ``cid`` has gone (``ConnectionInfo.disconnected``): closed, reset or half-closed."""
        core = self.core
        return core is None or core.gone(cid)

    def wake(self) -> None:
        """Work was queued outside the core's own pass: send it on the loop's next turn."""
        core = self.core
        if core is not None:
            self.loop.call_soon(core.flush)

    def drained(self, cid: int) -> None:
        """The connection's output fell below the low-water mark, or its client left (FIN, reset, close)."""
        watch = self.watches.get(cid)
        if watch is not None and self.gone(cid):
            watch.client_gone()
        fut = self.drains.pop(cid, None)
        if fut is not None:
            if not fut.done():
                fut.set_result(None)
            return
        # Nobody waits to write: the core says the connection of a stream is gone. Close the stream's source
        # now, not when it next has something to send.
        stream = self.streams.get(cid)
        core = self.core
        if stream is not None and not stream.done() and core is not None and core.peer(cid) is None:
            stream.cancel()

    def timeout_response(self) -> bytes:
        return render(error_reply(408, "Request Timeout"), self.state.clock.head_lines, False, False, 1)[0]

    # -- suspended handlers ---------------------------------------------------

    def _suspend(self, cid: int, coro: Any, label: str, is_head: bool, keep_alive: bool, minor: int,
                 plan: RoutePlan | None = None) -> None:
        task = self.loop.create_task(coro)
        self.state.tasks.add(task)
        self.watches[cid] = Watch(task, plan, self.loop)
        task.add_done_callback(lambda t: self._handler_done(cid, t, label, is_head, keep_alive, minor))

    def _handler_done(self, cid: int, task: asyncio.Task[Any], label: str, is_head: bool, keep_alive: bool,
                      minor: int) -> None:
        self.state.tasks.discard(task)
        watch = self.watches.get(cid)
        late = None
        if watch is not None and watch.task is task:
            del self.watches[cid]
            late = watch.finished()
        core = self.core
        if core is None:
            return
        if task.cancelled() and (late is None or core.peer(cid) is None):
            body = self.bodies.get(cid)
            if body is not None:
                self._drop_body(cid, body)
            core.abort(cid)
            return
        reply = late if late is not None else task_reply(task, label)
        body = self.bodies.get(cid)
        if type(reply) is not tuple:
            reply = self.state.unwrap(reply)
            if type(reply) is not tuple:
                if body is not None and not body.done:
                    # The stream may still read the request body: it is dropped when the stream ends, and the
                    # connection closes after it.
                    keep_alive = False
                self._start_stream(cid, reply, is_head, keep_alive, minor)
                return
        if body is not None:  # the route answered before its body ended: the rest is dropped
            self._drop_body(cid, body)
            if not keep_alive_after(body):
                keep_alive = False
        if self.state.closing:
            keep_alive = False
        data, keep = render(reply, self.state.clock.head_lines, keep_alive, is_head, minor)
        core.reply(cid, data, keep)

    # -- streaming responses ----------------------------------------------

    def _start_stream(self, cid: int, reply: Reply, is_head: bool, keep_alive: bool, minor: int) -> None:
        assert isinstance(reply, StreamingResponse)
        task = self.loop.create_task(self._stream(cid, reply, is_head, keep_alive, minor))
        self.state.tasks.add(task)
        self.streams[cid] = task
        task.add_done_callback(lambda t: self._stream_done(cid, t))
        after = reply.after
        if after is not None:
            task.add_done_callback(lambda _t: self.state.run_after(after))

    def _drop_body(self, cid: int, body: RequestBody) -> None:
        """The route is done with its body: what still arrives is dropped (or, if it failed, forgotten)."""
        body.discard()
        if body.done:
            del self.bodies[cid]
            self.state.bodies.discard(body)

    def _stream_done(self, cid: int, task: asyncio.Task[bool]) -> None:
        self.state.tasks.discard(task)
        body = self.bodies.get(cid)
        if body is not None:
            self._drop_body(cid, body)
        if self.streams.get(cid) is task:
            del self.streams[cid]
        core = self.core
        if core is None:
            return
        if not task.cancelled():
            exc = task.exception()
            if exc is None:
                core.finish(cid, task.result())
                return
            log.error("streaming response failed after its head was sent", exc_info=exc)
        # A body cut short must not look complete: no last chunk, and a reset.
        core.abort(cid)

    async def _stream(self, cid: int, resp: StreamingResponse, is_head: bool, keep_alive: bool, minor: int) -> bool:
        """Send a streaming response; True when the connection may carry another request (False once it is gone)."""
        core = self.core
        assert core is not None
        head, keep_alive, chunked = stream_head(resp, self.state.clock.head_lines,
                                                keep_alive and not self.state.closing, minor)
        if core.write(cid, head) < 0:
            return False
        if not is_head:
            def write(data: bytes) -> int:
                return core.write(cid, data)

            async def drained() -> None:
                fut = self.loop.create_future()
                self.drains[cid] = fut
                try:
                    await fut
                finally:
                    self.drains.pop(cid, None)

            if not await send_body(resp.content, resp.length, chunked, write, drained):
                return False
        return keep_alive
