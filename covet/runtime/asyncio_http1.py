"""HTTP/1.1 over an asyncio (or uvloop) transport: the C parser in, rendered responses out.

This is a transport: what a request does is the exchange's (``exchange``);
how a response is written in HTTP/1.1 is ``h1_response``'s. What is left
here is the connection: reading, pipelining, flow control and timeouts.

Rules this layer keeps:
1. Responses leave in request order.  While an exchange is live (a handler
   suspended, a response streaming), later pipelined requests wait in
   ``queue``; past ``max_pipeline`` of them the connection stops reading.
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
from typing import TYPE_CHECKING, Any, Final, cast, final

from covet._native import Parser
from covet.exceptions import HTTPError
from covet.runtime.asyncio_conn import reset
from covet.runtime.body import RequestBody, disconnected
from covet.runtime.connection import ConnectionInfo, Left
from covet.runtime.encode import error_reply
from covet.runtime.events import EV_CONTINUE, EV_DATA, EV_END, EV_REQUEST, EV_STREAM, EV_UPGRADE, PREFACE_HEAD
from covet.runtime.exchange import TOO_LARGE_REPLY, UNAVAILABLE_REPLY, Exchange, answer_now, answer_streamed
from covet.runtime.glue import RoutePlan
from covet.runtime.h1_response import CONTINUE, H1Channel, id_line, render, render_closing
from covet.runtime.h2c import SWITCH as H2C_SWITCH, settings_of as h2c_settings
from covet.runtime.state import ServerState
from covet.runtime.ws_session import WSLink
from covet.runtime.ws_upgrade import Upgrade, is_websocket, refusal, start as start_websocket

if TYPE_CHECKING:
    from covet.runtime.h2_session import H2Framing, H2Session

__all__ = ["AsyncioHTTP1", "AsyncioChannel"]

log = logging.getLogger("covet.http1")

LINGER_SECONDS: Final = 2.0
# Draining, an idle keep-alive connection closes once two ticks saw no progress on it (a second at least), not at
# once: its client may be sending the next request as we close, and would read a reset where it expected an answer
# (wrk against a reload counted such errors). A busy one gets `connection: close` on its next response instead.
DRAIN_IDLE_SECONDS: Final = 1.5


@final
class AsyncioChannel(H1Channel):
    """The way out of the one exchange an asyncio connection runs at a time."""

    __slots__ = ("conn",)

    def __init__(self, conn: AsyncioHTTP1, is_head: bool, minor: int) -> None:
        super().__init__(conn.state.clock, is_head, minor)
        self.conn = conn

    def put(self, data: bytes) -> int:
        conn = self.conn
        transport = conn.transport
        if conn.closed or transport is None:
            return -1
        transport.write(data)
        return 1 if conn.write_paused else 0

    def done(self, data: bytes | None, keep_alive: bool) -> None:
        self.conn.exchange_done(data, keep_alive)

    def abort(self) -> None:
        self.ended()
        self.conn.exchange_aborted()

    async def drained(self) -> None:
        await self.conn.drained()

    def gone(self) -> bool:
        return self.conn.closed

    def may_keep(self) -> bool:
        return not self.conn.closing

    def switch(self, data: bytes) -> WSLink:
        return self.conn.switch(data)


class AsyncioHTTP1(asyncio.Protocol):
    """One HTTP/1.1 connection on an asyncio transport."""

    __slots__ = (
        "state", "transport", "parser", "info", "queue", "busy", "closed", "closing", "write_paused", "read_paused",
        "body_paused", "reading", "drain", "exchange", "body", "nreq", "seen_nreq", "seen_state", "mark",
        "pause_mark", "lingering", "eof", "left",
    )

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.transport: asyncio.Transport | None = None
        self.parser: Parser = state.new_parser()
        self.info = ConnectionInfo(None, None)
        # A list, not a deque: an empty deque costs ~600 bytes per idle connection.
        self.queue: list[tuple[Any, ...]] = []
        self.busy = False  # an exchange is live: later requests wait in ``queue``
        self.closed = False
        self.closing = False
        self.write_paused = False  # the peer does not read
        self.read_paused = False  # too many requests wait in ``queue``
        self.body_paused = False  # the route has enough of its streamed body unread
        self.reading = True
        self.drain: asyncio.Future[None] | None = None
        # The request not answered on the spot: an HTTP exchange, or a WebSocket's upgrade its handler has not
        # answered yet.
        self.exchange: Exchange | Upgrade | None = None
        self.body: RequestBody | None = None  # the request body streaming in (it may outlive its exchange)
        self.lingering = False  # our side is shut; what the client still sends is dropped
        self.eof = False  # the client shut its side (FIN)
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
            self.state.scheme,
            watch=self.left,
            front=self.state.front,
        )
        self.state.connections.add(self)
        if self.state.closing:  # taken from the listening socket's queue by a graceful stop: one answer, then closed
            self.closing = True
        access = self.state.access
        if access is not None:
            access.connections(1)  # (the metrics' open connections)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.left.left = True
        self.queue.clear()
        self.state.connections.discard(self)
        access = self.state.access
        if access is not None:
            access.connections(-1)
        self.state.requests += self.nreq - self.seen_nreq
        self.seen_nreq = self.nreq
        exchange = self.exchange
        if exchange is not None:
            exchange.lost()
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
        access = self.state.access
        if access is not None:
            access.begin()  # durations count from the read that brought the request
        events = self.parser.feed(data)
        if events and events[-1][0] == EV_UPGRADE:
            events = self._upgrade_events(events)
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
            exchange = self.exchange
            if exchange is not None:
                exchange.client_left()
            return True
        return None

    def _upgrade_events(self, events: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """The parser stopped after a request to switch protocols (``EV_UPGRADE``), decided here, as it is parsed,
        so that the bytes after it keep their order. To a WebSocket route: reading stops until its handler answers
        (what the client sends meanwhile waits in the kernel; what came with the head is the event's). Otherwise it
        is the GET it also is, and what followed it is parsed now."""
        while events and events[-1][0] == EV_UPGRADE:
            _, method, path, query, minor, headers, keep_alive, rest = events[-1]
            if method == "PRI":  # HTTP/2's preface: the parser reports it only as a connection's first bytes
                self.to_h2(PREFACE_HEAD + rest)
                return []
            if ((is_websocket(headers) and self.state.dispatcher.resolve_ws(path) is not None)
                    or (minor == 1 and h2c_settings(headers) is not None)):
                self.read_paused = True
                self._update_reading()
                return events
            events[-1] = (EV_REQUEST, method, path, query, minor, headers, keep_alive, b"")
            events.extend(self.parser.feed(rest))
        return events

    # -- requests ---------------------------------------------------------------

    def _run(self, events: list[tuple[Any, ...]]) -> None:
        """Answer parsed events in order until one is not answered on the spot; queue the rest."""
        transport = self.transport
        assert transport is not None
        state = self.state
        resolve = state.dispatcher.resolve
        head_lines = state.clock.head_lines
        access = state.access
        # PERF: bound once a batch; ``access.record(...)`` looked the method up on every request (~170 instructions).
        record = access.record if access is not None else None
        out: list[bytes] = []
        n = len(events)
        i = 0
        while i < n:
            ev = events[i]
            i += 1
            kind = ev[0]
            if kind == EV_REQUEST:
                _, method, path, query, minor, headers, keep_alive, body = ev
                self.nreq += 1
                if len(state.connections) > state.max_connections:  # --limit-concurrency
                    self._refuse(out, minor, method, path, query, headers)
                    return
                if self.closing:
                    keep_alive = False
                plan, params = resolve(method, path)
                info = self.info
                if state.forwarding and plan.uses_conn:  # the route may read what a proxy says: give it the headers
                    info = info.for_request(headers)
                reply = answer_now(state, plan, method, path, query, headers, body, params, info)
                if type(reply) is not tuple:
                    self._flush(out)
                    channel = AsyncioChannel(self, method == "HEAD", minor)
                    if access is not None:
                        channel.logs(access, self.info.client, method, path, query, headers, plan.route_id,
                                     len(body) if body is not None else 0)
                    self._take(reply, plan, channel, keep_alive)
                    self.queue.extend(events[i:])
                    return
                if access is not None and record is not None:
                    if state.echo_id:
                        lines = head_lines + id_line(access.request_id(headers))
                        data, keep_alive = render(reply, lines, keep_alive, method == "HEAD", minor)
                    else:
                        data, keep_alive = render(reply, head_lines, keep_alive, method == "HEAD", minor)
                    # (the body's length spares the log from scanning for the head's end)
                    record(self.info.client, method, path, query, headers, minor, data, len(reply[2]), 0,
                           plan.route_id, len(body) if body is not None else 0)
                else:
                    data, keep_alive = render(reply, head_lines, keep_alive, method == "HEAD", minor)
                out.append(data)
                if not keep_alive:
                    self._flush(out)
                    self._close()
                    return
            elif kind == EV_CONTINUE:
                out.append(CONTINUE)
            elif kind == EV_STREAM:  # a head whose body is too large to hold: only a route that reads a stream gets it
                _, method, path, query, minor, headers, keep_alive, _ = ev
                self.nreq += 1
                if len(state.connections) > state.max_connections:
                    self._refuse(out, minor, method, path, query, headers)
                    return
                if self.closing:
                    keep_alive = False
                plan, params = resolve(method, path)
                info = self.info.for_request(headers) if state.forwarding and plan.uses_conn else self.info
                channel = AsyncioChannel(self, method == "HEAD", minor)
                if access is not None:
                    channel.logs(access, self.info.client, method, path, query, headers, plan.route_id, 0)
                exchange = answer_streamed(state, channel, plan, method, path, query, headers, params, info,
                                           keep_alive, self._body_resume, self._close)
                if exchange is None:
                    data = render_closing(TOO_LARGE_REPLY, head_lines, minor)
                    if access is not None:
                        access.record(self.info.client, method, path, query, headers, minor, data, -1, 0,
                                      plan.route_id, 0)
                    out.append(data)
                    self._flush(out)
                    self._close()
                    return
                self.busy = True
                self.exchange = exchange
                self.body = channel.body = exchange.body
                self._flush(out)
                self.queue.extend(self._body_events(events, i))
                return
            elif kind == EV_UPGRADE:
                _, method, path, query, minor, headers, keep_alive, rest = ev
                hit = state.dispatcher.resolve_ws(path) if is_websocket(headers) else None
                if hit is None:  # (_upgrade_events let through only WebSocket routes' upgrades, and h2c's)
                    self.nreq += 1
                    self._flush(out)
                    self._h2c(method, path, query, headers, rest)
                    return
                self.nreq += 1
                refused = refusal(state, minor, headers)
                if refused is not None:
                    data = render_closing(refused, head_lines, minor)
                    if access is not None:
                        access.record(self.info.client, method, path, query, headers, minor, data, -1, 0, -1, 0)
                    out.append(data)
                    self._flush(out)
                    self._close()
                    return
                self._flush(out)
                plan, names, params = hit
                channel = AsyncioChannel(self, False, minor)
                if access is not None:
                    channel.logs(access, self.info.client, method, path, query, headers, plan.route_id, 0)
                self.busy = True
                self.exchange = start_websocket(state, channel, plan, path, query, headers, params, self.info,
                                                names, rest)
                return
            else:
                data = render_closing(error_reply(ev[1], ev[2]), head_lines)
                if access is not None:
                    access.record(self.info.client, None, None, None, None, 1, data, -1, 0, -1, 0)
                out.append(data)
                self._flush(out)
                self._close()
                return
        self._flush(out)

    def _refuse(self, out: list[bytes], minor: int, method: str, path: str, query: str,
                headers: list[tuple[str, str]]) -> None:
        """Past ``--limit-concurrency``: 503, and this connection closes (uvicorn's answer), so the load sheds."""
        data = render_closing(UNAVAILABLE_REPLY, self.state.clock.head_lines, minor)
        access = self.state.access
        if access is not None:
            access.record(self.info.client, method, path, query, headers, minor, data, -1, 0, -1, 0)
        out.append(data)
        self._flush(out)
        self._close()

    def _take(self, reply: Any, plan: RoutePlan, channel: AsyncioChannel, keep_alive: bool) -> None:
        """An exchange goes on with a request ``answer_now`` could not finish; the connection waits for it."""
        self.busy = True
        exchange = Exchange(self.state, channel, plan, keep_alive)
        self.exchange = exchange
        exchange.take(reply)

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

    # -- what the exchange's channel does -------------------------------------------

    def exchange_done(self, data: bytes | None, keep_alive: bool) -> None:
        """The live exchange's response ends with ``data``: read on, or close after it."""
        self.exchange = None
        if data is not None and not self.closed and self.transport is not None:
            self.transport.write(data)
        if not keep_alive:
            self._close()
            return
        self._resume_queue()

    def switch(self, data: bytes) -> WSLink:
        """The WebSocket handshake's 101: this connection carries the WebSocket protocol from now on."""
        from covet.runtime.asyncio_ws import AsyncioWS

        transport = self.transport
        assert transport is not None and not self.closed
        transport.write(data)
        ws = AsyncioWS(self.state, transport, self.write_paused, self.left)
        transport.set_protocol(ws)
        self.read_paused = False
        self.closed = True  # for this object: what the transport says now goes to ``ws``
        self.exchange = None
        self.queue.clear()
        connections = self.state.connections
        connections.discard(self)
        connections.add(ws)
        if not self.reading:
            transport.resume_reading()  # (paused while the handler had not answered)
        ws.update_reading()
        return ws

    def _h2c(self, method: str, path: str, query: str, headers: list[tuple[str, str]], rest: bytes) -> None:
        """A request that asked to upgrade to h2c: 101, then HTTP/2, the request answered as its stream 1; a 400
        when its HTTP2-Settings are not valid."""
        from covet.runtime.h2_session import open_core

        transport = self.transport
        settings = h2c_settings(headers)
        assert transport is not None and settings is not None
        try:
            core = open_core(self.state, settings)
        except ValueError as exc:
            data = render_closing(error_reply(400, str(exc)), self.state.clock.head_lines)
            access = self.state.access
            if access is not None:
                access.record(self.info.client, method, path, query, headers, 1, data, -1, 0, -1, 0)
            transport.write(data)
            self._close()
            return
        transport.write(H2C_SWITCH)
        self.to_h2(rest, core).upgraded(method, path, query, headers)

    def to_h2(self, data: bytes, core: H2Framing | None = None) -> H2Session:
        """The connection speaks HTTP/2 from now on: an ``AsyncioH2`` takes the transport over, and is fed ``data``
        (the preface on); ``core``: an upgrade's (``_h2c``)."""
        from covet.runtime.asyncio_h2 import AsyncioH2

        transport = self.transport
        assert transport is not None and not self.closed
        h2 = AsyncioH2(self.state, transport, self.write_paused, self.left, core)
        transport.set_protocol(h2)
        if not self.reading:
            transport.resume_reading()  # (paused while the upgrade waited its turn)
        self.closed = True  # for this object: what the transport says now goes to ``h2``
        connections = self.state.connections
        connections.discard(self)
        connections.add(h2)
        session = h2.session
        if data:
            session.feed(data)
        return session

    def exchange_aborted(self) -> None:
        self.exchange = None
        self._abort("its response was cut short")

    async def drained(self) -> None:
        """Until the peer has read enough of what was written, or is gone."""
        if self.closed or not self.write_paused:
            return
        self.drain = self.state.running_loop().create_future()
        try:
            await self.drain
        finally:
            self.drain = None

    def _resume_queue(self) -> None:
        self.busy = False
        if self.read_paused:
            self.read_paused = False
            self._update_reading()
        if self.queue:
            events = self.queue
            self.queue = []
            access = self.state.access
            if access is not None:
                access.begin()  # (the queued requests' durations count from here, not from their read)
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
            if kind == EV_DATA:
                if body.feed(ev[1]) and not self.body_paused:
                    self.body_paused = True
                    self._update_reading()
            elif kind == EV_END:
                body.end()
                self._end_body()
                body = None
                if self.closing and not self.busy:  # shutting down, and this body's route has answered
                    self._close()
                    return []
            elif kind == EV_CONTINUE:
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

    # -- timeouts and shutdown -----------------------------------------------

    def tick(self, now: float) -> None:
        """Called once a second by the server: enforce the timeouts."""
        if self.closed:
            return
        config = self.state.config
        if self.lingering:
            age = now - self.pause_mark
            if self.transport is not None:
                if age >= LINGER_SECONDS + config.write_timeout:
                    self.transport.abort()  # close() waits for the peer to read its answer: it never did
                elif age >= LINGER_SECONDS:
                    self.transport.close()
            return
        if self.write_paused:
            if now - self.pause_mark >= config.write_timeout:
                self._abort("client did not read its response")
            return
        st = self.parser.state
        # (a streamed body's pauses are judged by ServerState.tick_bodies)
        if self.busy or self.body is not None or self.nreq != self.seen_nreq or st != self.seen_state:
            self.state.requests += self.nreq - self.seen_nreq
            self.seen_nreq = self.nreq
            self.seen_state = st
            self.mark = now
            return
        age = now - self.mark
        if st == 0:
            if age >= config.keepalive_timeout or (self.state.closing and age >= DRAIN_IDLE_SECONDS):
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
        data = render_closing(error_reply(408, "Request Timeout"), self.state.clock.head_lines)
        access = self.state.access
        if access is not None:
            access.record(self.info.client, None, None, None, None, 1, data, -1, 0, -1, 0)
        if self.transport is not None and not self.closed:
            self.transport.write(data)
        self._close()

    def abort(self) -> None:
        """Reset the connection now (the server's graceful timeout is over)."""
        if self.transport is not None and not self.closed:
            self.transport.abort()

    def _abort(self, why: str) -> None:
        log.debug("aborting connection from %s: %s", self.info.client, why)
        self.closing = True
        self.queue.clear()
        if self.transport is not None and not self.closed:
            reset(self.transport)  # (a client that did not read would hold what the kernel still has for it)

    def quiet(self) -> bool:
        """Closed by this side with nothing left to answer, send or read. All that may remain is TLS's wait for
        the peer's close_notify (asyncio's and uvloop's TLS close waits up to 30 s for it, and an idle client
        does not read), which graceful shutdown does not wait for."""
        transport = self.transport
        return (self.closing and not self.busy and not self.queue and not self.lingering and self.body is None
                and not self.write_paused and transport is not None and transport.is_closing()
                and transport.get_write_buffer_size() == 0)

    def shutdown(self) -> None:
        """Graceful shutdown: close now when idle for a tick, else after the next response or once idle that long."""
        self.closing = True
        st = self.parser.state
        if (not self.busy and not self.queue and self.body is None and st == 0 and self.nreq == self.seen_nreq
                and self.seen_state == 0 and self.state.clock.now - self.mark >= DRAIN_IDLE_SECONDS):
            self._close()
