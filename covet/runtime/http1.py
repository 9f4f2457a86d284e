"""HTTP/1.1 over an asyncio transport: the C parser in, rendered responses out.

Rules this layer keeps:
1. Responses leave in request order.  While a handler is suspended (or a
   response streams), later pipelined requests wait in ``queue``; past
   ``max_pipeline`` of them the connection stops reading.
2. Everything answered in one ``data_received`` goes out in one write.
3. A framing error answers its status with ``connection: close``; nothing
   after it on that connection is answered (the parser is dead by then).
4. While the peer does not read (``pause_writing``), reading stops too, so
   a slow reader holds a bounded amount of memory.
5. Timeouts are judged by the server's one-second ticker, never by
   per-request timers: ``tick`` sees whether requests completed since the
   last tick and how long the parser has sat in its current state.
6. A body over ``max_body`` goes to its route in pieces (``RequestBody``)
   while the route runs, only to a route that reads a stream (413 for any
   other); its pieces never wait in ``queue``, and reading pauses while the
   route has enough unread.
7. Closing while the client may still be sending (a refused body, a framing
   error) lingers: our side is shut, what arrives is read and dropped for up
   to ``LINGER_SECONDS``, so the client reads its answer instead of a reset.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from http import HTTPStatus
from typing import Any, Final, cast

from covet._native import Parser
from covet._native import render_fields
from covet._native import render_reply
from covet.exceptions import ClientDisconnect, HTTPError
from covet.responses import StreamingResponse
from covet.runtime.body import (TOO_LARGE, BodyBudget, RequestBody, content_length, disconnected,
                                keep_alive_after, streamed_glue)
from covet.runtime.clock import Clock
from covet.runtime.config import Config
from covet.runtime.connection import ConnectionInfo, Left
from covet.runtime.dispatch import Dispatcher
from covet.runtime.exits import AfterReply
from covet.runtime.encode import HeaderSeq, HeaderSet, Reply, error_reply, http_error_reply, server_error_reply
from covet.runtime.glue import RoutePlan
from covet.runtime.lifetime import Watch
from covet.runtime.resume import resume
from covet.runtime.streaming import call_streamed, send_body

__all__ = ["HTTP1Connection", "ServerState", "prefix_of", "render", "stream_head", "task_reply"]

log = logging.getLogger("covet.http1")

CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"
LINGER_SECONDS: Final = 2.0


def _status_line(status: int) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Unknown"
    return f"HTTP/1.1 {status} {phrase}\r\n".encode()


# Final statuses only: a 1xx would leave the client waiting for the real answer, and pair it with the next
# request; 101 belongs to a protocol switch, which writes its own head.
_STATUS: Final = {s.value: _status_line(s.value) for s in HTTPStatus if 200 <= s.value}
_SERVER_ERROR: Final = (500, HeaderSet(((b"content-type", b"application/json"),)), b'{"detail":"Internal Server Error"}')


def prefix_of(status: int, headers: HeaderSeq) -> tuple[bytes, bool]:
    """Status line and headers, rendered; the flag says a header asked to close.

    Raises ValueError for a status or a header that cannot be sent (see ``native/fields.h``).
    """
    if type(headers) is HeaderSet:
        cached = headers.h1.get(status)
        if cached is None:
            cached = headers.h1[status] = _render_prefix(status, headers.pairs)[0]
        return cached, False
    return _render_prefix(status, headers)


def _render_prefix(status: int, headers: HeaderSeq) -> tuple[bytes, bool]:
    line = _STATUS.get(status)
    if line is None:
        if not 200 <= status <= 599:
            raise ValueError(f"invalid response status {status!r}: a response's status must be 200-599")
        line = _status_line(status)
    fields, close = render_fields(headers.pairs if type(headers) is HeaderSet else headers)
    return line + fields, close


def _unsendable(exc: ValueError) -> tuple[bytes, bool]:
    """The head of the 500 that replaces a response that cannot be sent; the developer reads why in the log."""
    log.error("response not sent, answered 500 instead: %s", exc)
    return prefix_of(_SERVER_ERROR[0], _SERVER_ERROR[1])


def render(reply: tuple[int, HeaderSeq, bytes], head_lines: bytes, keep_alive: bool, is_head: bool, minor: int) -> tuple[bytes, bool]:
    """One complete HTTP/1.1 response; returns it and whether to keep the connection."""
    status, headers, body = reply
    try:
        prefix, close = prefix_of(status, headers)
    except ValueError as exc:
        prefix, close = _unsendable(exc)
        status, body = 500, _SERVER_ERROR[2]
    if close:
        keep_alive = False
    return render_reply(prefix, status, head_lines, body, keep_alive, is_head, minor), keep_alive


def stream_head(resp: StreamingResponse, head_lines: bytes, keep_alive: bool, minor: int) -> tuple[bytes, bool, bool]:
    """The head of a streaming response, whether the connection stays open after it, and whether the body is
    chunked (on HTTP/1.1 when its length is not known)."""
    chunked = minor == 1 and resp.length is None
    if minor != 1:
        keep_alive = False  # HTTP/1.0: the close ends a body of unknown length, and is simplest for a known one
    try:
        prefix, close = prefix_of(resp.status, resp.headers)
    except ValueError as exc:
        # Nothing of the stream has been sent: it is replaced whole by a 500, and its source is left unread.
        prefix, close = _unsendable(exc)
        resp.length = len(_SERVER_ERROR[2])
        resp.content = (_SERVER_ERROR[2],)
        chunked = False
    if close:
        keep_alive = False
    if chunked:
        framing = b"transfer-encoding: chunked\r\n"
    elif resp.length is not None:
        framing = b"content-length: %d\r\n" % resp.length
    else:
        framing = b""
    conn = b"" if keep_alive else b"connection: close\r\n"
    return prefix + head_lines + framing + conn + b"\r\n", keep_alive, chunked


async def _guarded(after: Callable[[], Awaitable[None]]) -> None:
    try:
        await after()
    except Exception:
        log.exception("work after the response failed")


def task_reply(task: asyncio.Task[Any], label: str) -> Reply:
    """The reply of a handler's finished (not cancelled) Task: its result, or the error reply of what it raised."""
    exc = task.exception()
    if exc is None:
        reply: Reply = task.result()
        return reply
    if isinstance(exc, HTTPError):
        return http_error_reply(exc)
    if isinstance(exc, ClientDisconnect):  # nobody is left to answer: not a server error
        return error_reply(400, str(exc))
    return server_error_reply(label, exc)


class ServerState:
    """What every connection of one server shares."""

    def __init__(self, dispatcher: Dispatcher, config: Config) -> None:
        self.dispatcher = dispatcher
        self.config = config
        self.clock = Clock(config.server_header)
        self.connections: set[HTTP1Connection] = set()
        self.closing = False
        self.tasks: set[asyncio.Task[Any]] = set()
        self.bodies: set[RequestBody] = set()  # streamed request bodies not ended yet
        self.budget = BodyBudget(config.body_buffer)  # what they hold unread, together

    def unwrap(self, reply: Reply) -> Reply:
        """The reply to send; the work an ``AfterReply`` carries is scheduled to run once it is sent."""
        if type(reply) is not AfterReply:
            return reply
        inner: Reply = reply.reply
        if isinstance(inner, StreamingResponse):
            inner.after = reply.after  # run when the stream ends (_start_stream)
        else:
            # A task runs on a later turn of the loop: after the caller has written the response.
            self.run_after(reply.after)
        return inner

    def run_after(self, after: Callable[[], Awaitable[None]]) -> None:
        task = asyncio.get_running_loop().create_task(_guarded(after))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def new_parser(self) -> Parser:
        c = self.config
        return Parser(
            max_target=c.max_target,
            max_header_bytes=c.max_header_bytes,
            max_headers=c.max_headers,
            max_body=c.max_body,
            max_stream_body=c.max_upload,
        )

    def open_body(self, headers: list[tuple[str, str]], resume: Callable[[], None],
                  stop: Callable[[], None]) -> RequestBody:
        """A streamed request body, watched by ``tick_bodies`` until it ends."""
        body = RequestBody(content_length(headers), self.config.max_body, resume, stop, self.budget)
        self.bodies.add(body)
        return body

    def tick_bodies(self, now: float) -> None:
        """Once a second: a streamed body that stopped arriving fails (408)."""
        if not self.bodies:
            return
        timeout = self.config.body_timeout
        for body in list(self.bodies):
            if body.done:
                self.bodies.discard(body)
            else:
                body.tick(now, timeout)


class HTTP1Connection(asyncio.Protocol):
    """One HTTP/1.1 connection."""

    __slots__ = (
        "state", "transport", "parser", "info", "queue", "busy", "closed", "closing", "write_paused", "read_paused",
        "body_paused", "reading", "drain", "stream", "body", "nreq", "seen_nreq", "seen_state", "mark", "pause_mark",
        "lingering", "eof", "watch", "left",
    )

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.transport: asyncio.Transport | None = None
        self.parser = state.new_parser()
        self.info = ConnectionInfo(None, None)
        # A list, not a deque: an empty deque costs ~600 bytes per idle connection.
        self.queue: list[tuple[Any, ...]] = []
        self.busy = False
        self.closed = False
        self.closing = False
        self.write_paused = False  # the peer does not read
        self.read_paused = False  # too many requests wait in ``queue``
        self.body_paused = False  # the route has enough of its streamed body unread
        self.reading = True
        self.drain: asyncio.Future[None] | None = None
        self.stream: asyncio.Task[bool] | None = None  # the streaming response being sent
        self.body: RequestBody | None = None  # the request body streaming in
        self.lingering = False  # our side is shut; what the client still sends is dropped
        self.eof = False  # the client shut its side (FIN)
        self.watch: Watch | None = None  # the suspended handler's deadline and disconnect policy
        self.left = Left()  # whether the client left (FIN, reset, close), for ConnectionInfo.disconnected
        self.nreq = 0
        self.seen_nreq = 0
        self.seen_state = 0
        self.mark = state.clock.now
        self.pause_mark = 0.0

    # -- transport callbacks ------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, hence the cast.
        self.transport = transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        sock = transport.get_extra_info("sockname")
        self.info = ConnectionInfo(
            (peer[0], peer[1]) if isinstance(peer, tuple) else None,
            (sock[0], sock[1]) if isinstance(sock, tuple) else None,
            watch=self.left,
        )
        self.state.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.left.left = True
        self.queue.clear()
        self.state.connections.discard(self)
        watch = self.watch
        if watch is not None:
            watch.client_gone()
        stream = self.stream
        if stream is not None and not stream.done():
            # The client went away: close the stream's source now, not when it next has something to send.
            stream.cancel()
        drain = self.drain
        if drain is not None and not drain.done():
            drain.set_result(None)
        body = self.body
        if body is not None:
            body.fail(disconnected())
            self._end_body()

    def pause_writing(self) -> None:
        self.write_paused = True
        self.pause_mark = self.state.clock.now
        self._update_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        self._update_reading()
        drain = self.drain
        if drain is not None and not drain.done():
            drain.set_result(None)

    def _update_reading(self) -> None:
        """Reads while nothing asks to pause: the peer not reading, the queue, or a streamed body's route."""
        transport = self.transport
        if transport is None or self.closed:
            return
        want = not (self.write_paused or self.read_paused or self.body_paused)
        if want != self.reading:
            self.reading = want
            if want:
                transport.resume_reading()
            else:
                transport.pause_reading()

    def data_received(self, data: bytes) -> None:
        if self.lingering:
            return
        events = self.parser.feed(data)
        if self.body is not None:
            events = self._body_events(events, 0)
        if self.busy:
            if events:
                self.queue.extend(events)
                if len(self.queue) > self.state.config.max_pipeline and not self.read_paused:
                    self.read_paused = True
                    self._update_reading()
            return
        if events:
            self._run(events)

    def eof_received(self) -> bool | None:
        if self.lingering:
            return None  # the client has read our answer and is done: close
        self.eof = True
        self.left.left = True
        body = self.body
        if body is not None:
            # A FIN before the streamed body's end: it can never complete. Its route reads the ClientDisconnect a
            # reset gives (after what arrived before the FIN), now rather than at the body timeout, and the
            # connection closes after its answer.
            body.fail(disconnected(), keep_unread=True)
            self._end_body()
            self.closing = True
            self.queue.clear()
        # A half-closed client still gets the responses it asked for; its handler hears that it left (a FIN is
        # how most clients leave, and nginx and uvicorn read it so too).
        if self.busy or self.queue:
            self.closing = True
            watch = self.watch
            if watch is not None:
                watch.client_gone()
            return True
        return None

    # -- request processing ---------------------------------------------------

    def _run(self, events: list[tuple[Any, ...]]) -> None:
        """Answer parsed events in order until one suspends; queue the rest."""
        transport = self.transport
        assert transport is not None
        resolve = self.state.dispatcher.resolve
        head_lines = self.state.clock.head_lines
        out: list[bytes] = []
        n = len(events)
        i = 0
        while i < n:
            ev = events[i]
            i += 1
            if ev[0] == 0:
                _, method, path, query, minor, headers, keep_alive, body = ev
                self.nreq += 1
                if self.closing:
                    keep_alive = False
                plan, params = resolve(method, path)
                try:
                    if plan.is_async:
                        coro = plan.glue(method, path, query, headers, body, params, self.info)
                        try:
                            waiting = coro.send(None)
                        except StopIteration as stop:
                            reply = stop.value
                        else:
                            self._flush(out)
                            self._suspend(resume(coro, waiting), plan.label, method == "HEAD", keep_alive, minor,
                                          plan)
                            self.queue.extend(events[i:])
                            return
                    else:
                        reply = plan.glue(method, path, query, headers, body, params, self.info)
                except HTTPError as exc:
                    reply = http_error_reply(exc)
                except Exception as exc:
                    reply = server_error_reply(plan.label, exc)
                if type(reply) is not tuple:
                    reply = self.state.unwrap(reply)
                    if type(reply) is not tuple:
                        self._flush(out)
                        if isinstance(reply, Coroutine):  # an async exception handler's answer, still to come
                            self._suspend(reply, plan.label, method == "HEAD", keep_alive, minor, plan)
                        else:
                            self._start_stream(reply, method == "HEAD", keep_alive, minor)
                        self.queue.extend(events[i:])
                        return
                data, keep_alive = render(reply, head_lines, keep_alive, method == "HEAD", minor)
                out.append(data)
                if not keep_alive:
                    self._flush(out)
                    self._close()
                    return
            elif ev[0] == 1:
                out.append(CONTINUE)
            elif ev[0] == 3:  # a head whose body is too large to hold: only a route that reads a stream gets it
                _, method, path, query, minor, headers, keep_alive, _ = ev
                self.nreq += 1
                plan, params = resolve(method, path)
                glue = streamed_glue(plan.glue, plan.streams_body, headers)
                if glue is None:
                    out.append(render(error_reply(413, TOO_LARGE), head_lines, False, False, minor)[0])
                    self._flush(out)
                    self._close()
                    return
                if self.closing:
                    keep_alive = False
                body = self.state.open_body(headers, self._body_resume, self._close)
                self.body = body
                self._flush(out)
                self._suspend(call_streamed(glue, (method, path, query, headers, body, params, self.info)),
                              plan.label, method == "HEAD", keep_alive, minor, plan)
                self.queue.extend(self._body_events(events, i))
                return
            else:
                reply = error_reply(ev[1], ev[2])
                data, _ = render(reply, head_lines, False, False, 1)
                out.append(data)
                self._flush(out)
                self._close()
                return
        self._flush(out)

    def _flush(self, out: list[bytes]) -> None:
        if not out or self.closed:
            return
        assert self.transport is not None
        if len(out) == 1:
            self.transport.write(out[0])
        else:
            self.transport.write(b"".join(out))
        out.clear()

    def _close(self) -> None:
        self.closing = True
        self.queue.clear()
        transport = self.transport
        if transport is None or self.closed or self.lingering:
            return
        if self.parser.state != 0 and not self.eof and transport.can_write_eof():
            # A request is still arriving. Closing now would reset the connection while it has unread input,
            # and the client could lose the answer: shut our side after the answer, and read on for a while.
            # (Not once the client has shut its side: nothing more can arrive.)
            try:
                transport.write_eof()
            except OSError:  # the client is already gone (reset)
                transport.close()
                return
            self.lingering = True
            self.pause_mark = self.state.clock.now
            self.write_paused = self.read_paused = self.body_paused = False
            self._update_reading()
            return
        transport.close()

    def _suspend(self, coro: Any, label: str, is_head: bool, keep_alive: bool, minor: int,
                 plan: RoutePlan | None = None) -> None:
        self.busy = True
        loop = asyncio.get_running_loop()
        task = loop.create_task(coro)
        self.state.tasks.add(task)
        self.watch = Watch(task, plan, loop)
        task.add_done_callback(lambda t: self._handler_done(t, label, is_head, keep_alive, minor))

    def _handler_done(self, task: asyncio.Task[Any], label: str, is_head: bool, keep_alive: bool, minor: int) -> None:
        self.state.tasks.discard(task)
        body = self.body
        watch = self.watch
        self.watch = None
        late = watch.finished() if watch is not None and watch.task is task else None
        if task.cancelled() and (late is None or self.closed):
            if body is not None:
                body.discard()
            self._close()
            return
        reply = late if late is not None else task_reply(task, label)
        if self.closed:
            if type(reply) is AfterReply:  # nobody to answer, but the route's clean-up still runs
                self.state.run_after(reply.after)
            return
        if type(reply) is not tuple:
            reply = self.state.unwrap(reply)
            if type(reply) is not tuple:
                if body is not None and not body.done:
                    # The stream may still read the request body: it is dropped when the stream ends, and the
                    # connection closes after it.
                    keep_alive = False
                self._start_stream(reply, is_head, keep_alive, minor)
                return
        if body is not None:  # the route answered before its body ended: the rest is dropped
            if not keep_alive_after(body):
                keep_alive = False
            body.discard()
        if self.closing:
            keep_alive = False
        data, keep_alive = render(reply, self.state.clock.head_lines, keep_alive, is_head, minor)
        assert self.transport is not None
        self.transport.write(data)
        if not keep_alive:
            self._close()
            return
        self._resume_queue()

    def _resume_queue(self) -> None:
        self.busy = False
        if self.read_paused:
            self.read_paused = False
            self._update_reading()
        if self.queue:
            events = self.queue
            self.queue = []
            self._run(events)
        elif self.closing and not self.closed:
            self._close()

    # -- streamed request bodies ------------------------------------------

    def _body_events(self, events: list[tuple[Any, ...]], i: int) -> list[tuple[Any, ...]]:
        """Hand the streamed body its events from ``events[i]`` on; returns the events after its end."""
        body = self.body
        n = len(events)
        while i < n and body is not None:
            ev = events[i]
            i += 1
            kind = ev[0]
            if kind == 4:
                if body.feed(ev[1]) and not self.body_paused:
                    self.body_paused = True
                    self._update_reading()
            elif kind == 5:
                body.end()
                self._end_body()
                body = None
                if self.closing and not self.busy:  # shutting down, and this body's route has answered
                    self._close()
                    return []
            elif kind == 1:
                if self.transport is not None and not self.closed:
                    self.transport.write(CONTINUE)
            else:  # the framing broke inside the body: the parser is dead, the route reads the error
                body.fail(HTTPError(ev[1], ev[2]))
                self._end_body()
                self.closing = True
                if not self.busy:
                    self._close()
                return []
        return events[i:] if i else events

    def _end_body(self) -> None:
        body = self.body
        if body is not None:
            self.state.bodies.discard(body)
            self.body = None
        if self.body_paused:
            self.body_paused = False
            self._update_reading()

    def _body_resume(self) -> None:
        if self.body_paused:
            self.body_paused = False
            self._update_reading()

    # -- streaming responses ----------------------------------------------

    def _start_stream(self, reply: Reply, is_head: bool, keep_alive: bool, minor: int) -> None:
        assert isinstance(reply, StreamingResponse)
        self.busy = True
        task = asyncio.get_running_loop().create_task(self._stream(reply, is_head, keep_alive, minor))
        self.state.tasks.add(task)
        task.add_done_callback(self._stream_done)
        self.stream = task
        after = reply.after
        if after is not None:
            task.add_done_callback(lambda _t: self.state.run_after(after))

    def _stream_done(self, task: asyncio.Task[bool]) -> None:
        self.state.tasks.discard(task)
        self.stream = None
        if self.body is not None:
            self.body.discard()
        keep = False
        if not task.cancelled():
            exc = task.exception()
            if exc is None:
                keep = task.result()
            else:
                log.error("streaming response failed after its head was sent", exc_info=exc)
        if keep:
            self._resume_queue()
            return
        self.closing = True
        self.queue.clear()
        if self.transport is not None and not self.closed:
            # A body cut short must not look complete: no last chunk, and a reset.
            self.transport.abort()

    async def _stream(self, resp: StreamingResponse, is_head: bool, keep_alive: bool, minor: int) -> bool:
        """Send a streaming response; True when the connection may carry another request."""
        transport = self.transport
        assert transport is not None
        head, keep_alive, chunked = stream_head(resp, self.state.clock.head_lines, keep_alive and not self.closing,
                                                minor)
        transport.write(head)
        if not is_head and not await send_body(resp.content, resp.length, chunked, self._write_chunk, self._drained):
            return False
        if self.closed:
            return False
        if not keep_alive:
            self.closing = True
            transport.close()
        return keep_alive

    def _write_chunk(self, data: bytes) -> int:
        if self.closed:
            return -1
        assert self.transport is not None
        self.transport.write(data)
        return 1 if self.write_paused else 0

    async def _drained(self) -> None:
        loop = asyncio.get_running_loop()
        self.drain = loop.create_future()
        try:
            await self.drain
        finally:
            self.drain = None

    # -- timeouts and shutdown -----------------------------------------------

    def tick(self, now: float) -> None:
        """Called once a second by the server: enforce the timeouts."""
        if self.closed:
            return
        config = self.state.config
        if self.lingering:
            if now - self.pause_mark >= LINGER_SECONDS and self.transport is not None:
                self.transport.close()
            return
        if self.write_paused:
            if now - self.pause_mark >= config.write_timeout:
                self._abort("client did not read its response")
            return
        st = self.parser.state
        # (a streamed body's pauses are judged by ServerState.tick_bodies)
        if self.busy or self.body is not None or self.nreq != self.seen_nreq or st != self.seen_state:
            self.seen_nreq = self.nreq
            self.seen_state = st
            self.mark = now
            return
        age = now - self.mark
        if st == 0:
            if age >= config.keepalive_timeout or self.state.closing:
                self._close()
        elif st == 1:
            if age >= config.header_timeout:
                self._timeout()
        elif st == 2:
            if age >= config.body_timeout:
                self._timeout()
        else:
            self._close()

    def _timeout(self) -> None:
        data, _ = render(error_reply(408, "Request Timeout"), self.state.clock.head_lines, False, False, 1)
        if self.transport is not None and not self.closed:
            self.transport.write(data)
        self._close()

    def _abort(self, why: str) -> None:
        log.debug("aborting connection from %s: %s", self.info.client, why)
        self.closing = True
        self.queue.clear()
        if self.transport is not None and not self.closed:
            self.transport.abort()

    def shutdown(self) -> None:
        """Graceful shutdown: close now when idle, else after the response in flight."""
        self.closing = True
        if not self.busy and not self.queue and self.parser.state == 0:
            self._close()
