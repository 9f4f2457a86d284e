"""One HTTP/2 connection's life, whatever carries it: each stream's request through the exchange, its response out.

The protocol is ``h2_core``'s (bytes in, events out); what a request does is the exchange's, exactly as over
HTTP/1.1. A transport gives the session an ``H2Link`` (bytes out, reading paused and resumed) and calls ``feed``,
``writable``, ``lost``, ``tick`` and ``shutdown``; everything else is here, once.

Rules:
1. Every request goes through ``answer_now``; one not answered on the spot becomes an ``Exchange`` whose channel is
   its stream (``H2Channel``). Many are live on one connection; each is forgotten when its channel is told to
   respond, end, close or abort (the exchange's rule 3).
2. What one ``feed`` answers leaves in one write.
3. A streamed request body's flow-control credit goes back as the route is given its pieces, and is held back while
   the route has more than ``HIGH_WATER`` unread: a route that does not read stops its client, not the server.
4. While the link holds more than its high-water mark unsent, reading stops (what the peer provokes then waits in
   the peer); a stream that sends waits (``drained``) while its window is shut or the link is backed up.
5. Timeouts are judged by the server's one-second ticker: a connection with no stream open closes after
   ``keepalive_timeout``; a request held whole that stops arriving is answered 408 after ``body_timeout``; a stream
   whose window stays shut is reset after ``write_timeout``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any, Final, Protocol, final

from covet.exceptions import HTTPError
from covet.responses import StreamingResponse
from covet.runtime.access_record import HTTP2, AccessRecord
from covet.runtime.body import TOO_LARGE, RequestBody, content_length, disconnected
from covet.runtime.connection import ConnectionInfo
from covet.runtime.dispatch import route_id
from covet.runtime.encode import HeaderSeq, HeaderSet, error_reply
from covet.runtime.exchange import TOO_LARGE_REPLY, UNAVAILABLE_REPLY, Exchange, answer_now, answer_streamed
from covet.runtime.h2_core import (
    CANCEL,
    ENHANCE_YOUR_CALM,
    H2_DATA,
    H2_END,
    H2_GOAWAY,
    H2_REQUEST,
    H2_RESET,
    H2_STREAM,
    H2_WINDOW,
    INTERNAL_ERROR,
    REFUSED_STREAM,
    H2Core,
    H2Limits,
    is_grpc,
)
from covet.runtime.h2_framing import FRAMING, NATIVE_CORE
from covet.runtime.h2c import settings_payload
from covet.runtime.state import ServerState

__all__ = ["FRAMING", "H2Channel", "H2Framing", "H2Link", "H2Session", "NATIVE_CORE", "open_core"]

log = logging.getLogger("covet.http2")

_SERVER_ERROR: Final = (500, HeaderSet(((b"content-type", b"text/plain; charset=utf-8"),)), b"Internal Server Error")
_NO_BODY: Final = frozenset({204, 304})  # statuses whose responses carry no content-length (RFC 9110 8.6)
# HTTP/1.1's answers to requests past its limits (native/h1_parser.c's words), per stream here.
_LONG_TARGET_REPLY: Final = error_reply(414, "Request target too long")
_TOO_MANY_REPLY: Final = error_reply(431, "Too many header fields")
_TIMEOUT_REPLY: Final = error_reply(408, "Request Timeout")
MAX_HELD_OUT: Final = 16 * 1024 * 1024  # response bytes one connection holds for its client's windows


class H2Framing(Protocol):
    """What the session asks of the core that frames HTTP/2: ``h2_core.H2Core`` (on h2), or a native one. Its
    events are h2_core's (``H2_REQUEST``...); its docstrings say the rest."""

    closed: bool

    def feed(self, data: bytes, now: float, /) -> list[tuple[Any, ...]]: ...

    def data_to_send(self) -> bytes: ...

    def upgraded(self, method: str, path: str, query: str, headers: list[tuple[str, str]], /) -> tuple[Any, ...]: ...

    def respond(self, sid: int, status: int, headers: Iterable[tuple[bytes, bytes]], body: bytes = b"",
                end: bool = True, length: int = -1, /) -> bool: ...

    def send(self, sid: int, data: bytes, end: bool = False, /) -> int: ...

    def trailers(self, sid: int, fields: Iterable[tuple[bytes, bytes]], /) -> bool: ...

    def consume(self, sid: int, n: int, /) -> None: ...

    def reset(self, sid: int, code: int = CANCEL, /) -> None: ...

    def shutdown(self) -> None: ...

    def lost(self) -> None: ...

    def finished(self) -> bool: ...

    def busy(self) -> bool: ...

    def held(self, sid: int, /) -> int: ...

    def held_out(self) -> int: ...

    def request_head(self, sid: int, /) -> tuple[str, str, str, list[tuple[str, str]]]: ...

    def stalled(self, now: float, timeout: float, /) -> list[int]: ...

    def unfinished(self, now: float, timeout: float, /) -> list[int]: ...


class H2Link(Protocol):
    """What a transport gives an HTTP/2 session: its connection, after the preface."""

    def write(self, data: bytes, /) -> None: ...

    def close(self) -> None:
        """Close the connection once what was written is sent."""

    def abort(self) -> None:
        """Cut the connection now."""

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def backed_up(self) -> bool:
        """More is waiting to be sent than the high-water mark."""


def open_core(state: ServerState, upgrade: bytes | None = None) -> H2Framing:
    """An HTTP/2 connection's core, with the server's limits; ``upgrade``: an h2c upgrade's HTTP2-Settings, as sent
    (ValueError when they are not valid)."""
    config = state.config
    limits = H2Limits(max_header_bytes=config.max_header_bytes, max_body=config.max_body)
    if NATIVE_CORE is None:
        return H2Core(limits, upgrade)
    core: H2Framing = NATIVE_CORE(limits, None if upgrade is None else settings_payload(upgrade))
    return core


def _fields(headers: HeaderSeq) -> tuple[tuple[bytes, bytes], ...] | HeaderSeq:
    return headers.pairs if type(headers) is HeaderSet else headers


@final
class H2Channel(AccessRecord):
    """One stream's response: the ``exchange.Channel`` of a request that was not answered on the spot."""

    __slots__ = ("session", "sid", "exchange", "credit", "waiter", "reset", "closed", "call")

    def __init__(self, session: H2Session, sid: int, is_head: bool) -> None:
        super().__init__(session.state.clock, is_head, HTTP2)
        self.session = session
        self.sid = sid
        self.exchange: Exchange | None = None
        self.credit = 0  # flow-control credit held back while the route has enough of its body unread (rule 3)
        self.waiter: asyncio.Future[None] | None = None  # a stream waiting in ``drained``
        self.reset = False  # the client reset the stream, or the connection is gone
        self.closed = False  # told to respond, end, close or abort: the session forgot it
        self.call: Any = None  # the gRPC call the stream carries (grpc_call.GrpcCall), else None

    # -- exchange.Channel ---------------------------------------------------------------------------------------

    def respond(self, reply: tuple[int, HeaderSeq, bytes], keep_alive: bool) -> None:
        session = self.session
        status, nbytes = session.answer(self.sid, reply, self.is_head, self._rid())
        self.status = status
        self.record(status, nbytes)
        self._forget()

    def start(self, resp: StreamingResponse, keep_alive: bool) -> bool:
        self.status = self.session.start(self.sid, resp, self.is_head, self._rid())
        return self.status > 0

    def wants_body(self) -> bool:
        return not self.is_head

    def send(self, chunk: bytes) -> int:
        session = self.session
        if self.reset or session.closed:
            return -1
        self.sent += len(chunk)
        held = session.core.send(self.sid, chunk)
        session.flush()
        if held < 0:
            return -1
        return 1 if held > 0 or session.link.backed_up() else 0

    async def drained(self) -> None:
        session = self.session
        while not (self.reset or session.closed) and (session.core.held(self.sid) > 0 or session.link.backed_up()):
            waiter = self.waiter = session.state.running_loop().create_future()
            try:
                await waiter
            finally:
                self.waiter = None

    def end(self) -> None:
        self.ended()
        session = self.session
        if not (self.reset or session.closed):
            session.core.send(self.sid, b"", True)
            session.flush()
        self._forget()

    def close(self) -> None:
        self.ended()
        self.session.reset(self.sid, CANCEL)
        self._forget()

    def abort(self) -> None:
        self.ended()
        self.session.reset(self.sid, INTERNAL_ERROR)
        self._forget()

    def gone(self) -> bool:
        return self.reset or self.session.closed

    # -- a gRPC call's answer (grpc_call.GrpcCall): a head, messages (send), then trailers ------------------------

    def grpc_head(self, fields: list[tuple[bytes, bytes]]) -> bool:
        session = self.session
        if self.reset or session.closed:
            return False
        self.status = 200
        sent = session.core.respond(self.sid, 200, session.head_fields(fields, self._rid()), b"", False, -1)
        session.flush()
        return sent

    def grpc_trail(self, fields: list[tuple[bytes, bytes]]) -> None:
        """The call's status, after its messages."""
        session = self.session
        if not (self.reset or session.closed):
            try:
                session.core.trailers(self.sid, fields)
            except ValueError as exc:
                log.error("gRPC trailers not sent, the stream is reset: %s", exc)
                session.core.reset(self.sid, INTERNAL_ERROR)
            session.flush()
        self.ended()
        self._forget()

    def grpc_trail_only(self, fields: list[tuple[bytes, bytes]]) -> None:
        """The call's status as its whole answer (it failed before any message)."""
        session = self.session
        if not (self.reset or session.closed):
            self.status = 200
            try:
                session.core.respond(self.sid, 200, session.head_fields(fields, self._rid()), b"", True, -1)
            except ValueError as exc:
                log.error("gRPC status not sent, the stream is reset: %s", exc)
                session.core.reset(self.sid, INTERNAL_ERROR)
            session.flush()
        self.ended()
        self._forget()

    # -- the session's side -------------------------------------------------------------------------------------

    def wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def lost(self) -> None:
        """The client reset the stream, or the connection is gone."""
        if self.reset:
            return
        self.reset = True
        session = self.session
        credit = self.credit
        if credit:  # held back for the route (rule 3): the connection's share of it goes back to the client
            self.credit = 0
            session.core.consume(self.sid, credit)
            session.flush()
        body = self.body
        if body is not None:
            body.fail(disconnected())
            session.state.bodies.discard(body)
        exchange = self.exchange
        if exchange is not None:
            exchange.lost()
        call = self.call
        if call is not None:
            call.lost()
        self.wake()

    def body_resume(self) -> None:
        """The route read its body below the low-water mark: the credit held back goes to the client."""
        credit = self.credit
        if credit and not self.reset:
            self.credit = 0
            session = self.session
            session.core.consume(self.sid, credit)
            session.flush()

    def stop(self) -> None:
        """The body stopped arriving after the route was done with it."""
        self.session.reset(self.sid, CANCEL)

    def _rid(self) -> bytes:
        """The request id the response carries back, when the access log echoes it (``logs`` keeps it)."""
        rid = self.headers
        return rid.encode("ascii") if isinstance(rid, str) else b""

    def _forget(self) -> None:
        if not self.closed:
            self.closed = True
            self.session.forget(self)


@final
class H2Session:
    """One HTTP/2 connection: see the module's docstring."""

    __slots__ = ("state", "link", "core", "client", "server", "scheme", "info", "channels", "closed", "feeding",
                 "half_closed", "paused", "nreq", "seen_nreq", "mark")

    def __init__(self, state: ServerState, link: H2Link, client: tuple[str, int] | None,
                 server: tuple[str, int] | None, scheme: str, core: H2Framing | None = None) -> None:
        """``core``: one made already (``open_core``), for a connection upgraded from HTTP/1.1."""
        self.state = state
        self.link = link
        self.core: H2Framing = core if core is not None else open_core(state)
        self.client = client
        self.server = server
        self.scheme = scheme
        # What a route that does not read its connection is given (one that does gets its stream's: ``_info``).
        self.info = ConnectionInfo(client, server, scheme, "2", front=state.front)
        self.channels: dict[int, H2Channel] = {}  # the streams an exchange answers
        self.closed = False
        self.feeding = False  # inside ``feed``: writes wait for its end (rule 2)
        self.paused = False  # reading stopped while the link is backed up
        self.half_closed = False  # the client sent its FIN: no window will open again
        self.nreq = 0
        self.seen_nreq = 0
        self.mark = state.clock.now  # when the connection last made progress (the ticker's judge)

    # -- the transport's side -----------------------------------------------------------------------------------

    def upgraded(self, method: str, path: str, query: str, headers: list[tuple[str, str]]) -> None:
        """Answer, as stream 1, the HTTP/1.1 request that upgraded the connection to h2c (its 101 is sent)."""
        state = self.state
        access = state.access
        if access is not None:
            access.begin()
        _, sid, method, path, query, headers, body = self.core.upgraded(method, path, query, headers)
        self._request(sid, method, path, query, headers, body)
        self.flush()

    def feed(self, data: bytes) -> None:
        """Bytes from the peer (the preface first)."""
        if self.closed:
            return
        state = self.state
        access = state.access
        if access is not None:
            access.begin()
        core = self.core
        self.feeding = True
        try:
            for ev in core.feed(data, state.clock.now):
                kind = ev[0]
                if kind == H2_REQUEST:
                    self._request(ev[1], ev[2], ev[3], ev[4], ev[5], ev[6])
                elif kind == H2_DATA:
                    self._data(ev[1], ev[2])
                elif kind == H2_END:
                    channel = self.channels.get(ev[1])
                    if channel is not None and channel.body is not None:
                        channel.body.end()
                        state.bodies.discard(channel.body)
                elif kind == H2_STREAM:
                    self._stream(ev[1], ev[2], ev[3], ev[4], ev[5])
                elif kind == H2_RESET:
                    channel = self.channels.get(ev[1])
                    if channel is not None:
                        channel.lost()
                elif kind == H2_WINDOW:
                    self._wake(ev[1])
                elif kind == H2_GOAWAY:
                    if ev[1]:
                        log.debug("HTTP/2 connection from %s ended: %s (error %d)", self.client, ev[2], ev[1])
                    self._end()
        finally:
            self.feeding = False
        self.flush()
        if core.closed and not self.closed:
            self._end()
        elif self.link.backed_up() and not self.paused:
            self.paused = True  # rule 4
            self.link.pause_reading()

    def writable(self) -> None:
        """The link's unsent bytes fell below its low-water mark."""
        if self.paused:
            self.paused = False
            self.link.resume_reading()
        self._wake(0)

    def lost(self) -> None:
        """The connection is gone."""
        if self.closed and not self.channels:
            return
        self.closed = True
        self.core.lost()
        for channel in list(self.channels.values()):
            channel.lost()
        self._count()

    def tick(self, now: float) -> None:
        """Once a second: the timeouts (rule 5), and the end of a graceful shutdown."""
        if self.closed:
            return
        core = self.core
        config = self.state.config
        self._expire(now)
        progressed = self.nreq != self.seen_nreq
        self._count()
        if core.finished() and not self.channels:
            self._close()
            return
        if self.channels or progressed or core.busy():
            # (An open stream has its own timeouts: the 408 above, the write timeout, a streamed body's.)
            self.mark = now
            return
        if now - self.mark >= config.keepalive_timeout:
            self._close()

    def eof(self) -> None:
        """The client shut its side (FIN): what it asked is still answered, then the connection closes; but its gRPC
        calls end now (a gRPC client never half-closes a connection: it went away). A client that sends nothing more
        sends no WINDOW_UPDATE and no more of a request either: a stream waiting for its window, or for the rest of
        its request, would wait out its timeout, so it goes now (``_expire``), and any that comes to wait later
        goes at the next tick."""
        self.half_closed = True
        for channel in list(self.channels.values()):
            call = channel.call
            if call is not None:
                channel.close()
                call.lost()
        self._expire(self.state.clock.now)
        self.shutdown()

    def _expire(self, now: float) -> None:
        """Rule 5's timeouts: a stream whose held output has not moved for ``write_timeout`` is reset, a request held
        whole whose next piece has not come for ``body_timeout`` is answered 408. Once the client has sent its FIN
        neither can ever move again: both go at once."""
        config = self.state.config
        core = self.core
        for sid in core.stalled(now, 0.0 if self.half_closed else config.write_timeout):
            channel = self.channels.get(sid)
            self.reset(sid, CANCEL)  # the client kept its window shut: the stream goes, not the connection
            if channel is not None:
                channel.lost()
        for sid in core.unfinished(now, 0.0 if self.half_closed else config.body_timeout):  # HTTP/1.1's 408
            method, path, query, headers = core.request_head(sid)
            self._answer_logged(sid, _TIMEOUT_REPLY, method == "HEAD", method, path, query, headers, -1, 0)

    def shutdown(self) -> None:
        """Graceful GOAWAY: the streams already open finish, newer ones are refused; then the connection closes."""
        if self.closed:
            return
        self.core.shutdown()
        self.flush()
        if self.core.finished() and not self.channels:
            self._close()

    def abort(self) -> None:
        if not self.closed:
            self.link.abort()

    def quiet(self) -> bool:
        return self.closed or (self.core.finished() and not self.channels)

    def gone(self, sid: int, /) -> bool:
        """``ConnectionInfo.disconnected`` of a stream's request."""
        channel = self.channels.get(sid)
        return self.closed or (channel is not None and channel.reset)

    # -- requests -----------------------------------------------------------------------------------------------

    def _info(self, sid: int, headers: list[tuple[str, str]]) -> ConnectionInfo:
        state = self.state
        return ConnectionInfo(self.client, self.server, self.scheme, "2", watch=self, key=sid, front=state.front,
                              headers=headers if state.forwarding else None)

    def _request(self, sid: int, method: str, path: str, query: str, headers: list[tuple[str, str]],
                 body: bytes) -> None:
        state = self.state
        self.nreq += 1
        is_head = method == "HEAD"
        if self._refused(sid, method, path, query, headers, None):
            return
        if state.grpc is not None and is_grpc(headers):
            self._grpc(sid, method, path, query, headers, body)
            return
        plan, params = state.dispatcher.resolve(method, path)
        # (Most routes never read their connection: they share one ConnectionInfo instead of one a stream.)
        info = self._info(sid, headers) if plan.uses_conn else self.info
        reply = answer_now(state, plan, method, path, query, headers, body, params, info)
        if type(reply) is tuple:
            self._answer_logged(sid, reply, is_head, method, path, query, headers, plan.route_id, len(body))
            return
        channel = self._channel(sid, is_head, method, path, query, headers, plan.route_id, len(body))
        exchange = channel.exchange = Exchange(state, channel, plan, True)
        exchange.take(reply)

    def _stream(self, sid: int, method: str, path: str, query: str, headers: list[tuple[str, str]]) -> None:
        """A request whose body is past ``max_body``: only a route that reads a stream gets it (413 otherwise)."""
        state = self.state
        self.nreq += 1
        # (A body declared too large is refused before any of it is read, as over HTTP/1.1.)
        grpc = state.grpc is not None and is_grpc(headers)
        over = TOO_LARGE_REPLY if not grpc and (content_length(headers) or 0) > state.config.max_upload else None
        if self._refused(sid, method, path, query, headers, over):
            return
        if grpc:
            self._grpc(sid, method, path, query, headers, None)
            return
        plan, params = state.dispatcher.resolve(method, path)
        channel = self._channel(sid, method == "HEAD", method, path, query, headers, plan.route_id, 0)
        exchange = answer_streamed(state, channel, plan, method, path, query, headers, params,
                                   self._info(sid, headers), True, channel.body_resume, channel.stop)
        if exchange is None:
            channel.respond(TOO_LARGE_REPLY, True)  # the stream's rest is refused; the connection goes on
            return
        channel.exchange = exchange
        channel.body = exchange.body

    def _grpc(self, sid: int, method: str, path: str, query: str, headers: list[tuple[str, str]],
              whole: bytes | None) -> None:
        """A gRPC call (content-type application/grpc, on an app that serves gRPC): to its service's method, its
        messages streaming in, or ``whole`` when its request came complete (b"": with no message at all)."""
        from covet.runtime.grpc_call import GrpcCall, unimplemented

        state = self.state
        grpc = state.grpc
        handler = grpc.get(path) if grpc is not None else None
        # (A method's calls are counted on it, as a route's requests are: its path is its template.)
        route = route_id(path) if handler is not None else -1
        channel = self._channel(sid, False, method, path, query, headers, route, 0)
        if handler is None or method != "POST":
            channel.grpc_trail_only(unimplemented(path if handler is None else f"{method} {path} (calls are POSTs)"))
            return
        body = None
        if whole is None or whole:
            # (Not one of state.bodies: a call's messages may pause as long as its deadline allows, unlike a body
            # that stopped arriving.)
            body = channel.body = RequestBody(None, state.config.max_body, channel.body_resume, channel.stop,
                                              state.budget)
            if whole:
                body.feed(whole)
                body.end()
        call = channel.call = GrpcCall(channel, handler, path, headers, body, self.client, state.metrics, route,
                                       lambda: self._info(sid, headers))
        call.start()

    def _refused(self, sid: int, method: str, path: str, query: str, headers: list[tuple[str, str]],
                 over: tuple[int, HeaderSeq, bytes] | None) -> bool:
        """Whether the request is refused before its route runs: HTTP/1.1's limits (answered, and logged), ``over``
        (answered too), --limit-concurrency (503), or the stream refused (REFUSED_STREAM: its client may send it
        again)."""
        state = self.state
        config = state.config
        if self.core.held_out() > MAX_HELD_OUT:
            # Responses the client does not take already wait for its windows: no more until they go (each may be
            # as large as a handler makes it).
            self.core.reset(sid, REFUSED_STREAM)
            return True
        if len(path) + len(query) + (1 if query else 0) > config.max_target:
            over = _LONG_TARGET_REPLY
        elif len(headers) > config.max_headers:
            over = _TOO_MANY_REPLY
        elif len(state.connections) > state.max_connections:  # --limit-concurrency
            over = UNAVAILABLE_REPLY
        if over is None:
            return False
        self._answer_logged(sid, over, method == "HEAD", method, path, query, headers, -1, 0)
        return True

    def _channel(self, sid: int, is_head: bool, method: str, path: str, query: str, headers: list[tuple[str, str]],
                 route: int, received: int) -> H2Channel:
        channel = H2Channel(self, sid, is_head)
        access = self.state.access
        if access is not None:
            channel.logs(access, self.client, method, path, query, headers, route, received)
        self.channels[sid] = channel
        return channel

    def _data(self, sid: int, data: bytes) -> None:
        """A piece of a streamed body: to its route, with the credit back now or once it reads (rule 3)."""
        channel = self.channels.get(sid)
        body = channel.body if channel is not None else None
        n = len(data)
        if channel is None or body is None or body.done:
            self.core.consume(sid, n)  # nobody reads it: dropped
            return
        if body.received + n > self.state.config.max_upload:
            body.fail(HTTPError(413, TOO_LARGE))
            self.state.bodies.discard(body)
            self.core.consume(sid, n)
            return
        if body.feed(data) or channel.credit:
            channel.credit += n
        else:
            self.core.consume(sid, n)

    # -- responses ----------------------------------------------------------------------------------------------

    def _answer_logged(self, sid: int, reply: tuple[int, HeaderSeq, bytes], is_head: bool, method: str, path: str,
                       query: str, headers: list[tuple[str, str]], route: int, received: int) -> None:
        state = self.state
        access = state.access
        if access is None:
            self.answer(sid, reply, is_head, b"")
            return
        extra = b""
        rid: list[tuple[str, str]] | str = headers
        if state.echo_id:
            rid = access.request_id(headers)
            extra = rid.encode("ascii")
        status, nbytes = self.answer(sid, reply, is_head, extra)
        access.record(self.client, method, path, query, rid, HTTP2, status, nbytes, 0, route, received)

    def answer(self, sid: int, reply: tuple[int, HeaderSeq, bytes], is_head: bool, rid: bytes) -> tuple[int, int]:
        """Send a complete response on ``sid``; its status and body length (a field that cannot be sent makes it a
        500, as over HTTP/1.1). ``rid``: the request id it carries back (an ``id_line``, or b"")."""
        status, headers, body = reply
        if body and not self._room(sid):
            return 0, 0
        fields = self.head_fields(headers, rid)
        length = -1 if status in _NO_BODY else len(body)
        try:
            self.core.respond(sid, status, fields, b"" if is_head or length < 0 else body, True, length)
        except ValueError as exc:
            log.error("response not sent, answered 500 instead: %s", exc)
            status, headers, body = _SERVER_ERROR
            self.core.respond(sid, status, self.head_fields(headers, rid), b"" if is_head else body, True,
                              len(body))
            length = len(body)
        self.flush()
        return status, max(length, 0)

    def start(self, sid: int, resp: StreamingResponse, is_head: bool, rid: bytes) -> int:
        """Send a streamed response's head; its status (a 500 replacing one that cannot be sent), 0 when the stream
        is gone."""
        if not self._room(sid):
            return 0
        fields = self.head_fields(resp.raw_headers, rid)
        length = resp.length if resp.length is not None else -1
        status = resp.status
        try:
            sent = self.core.respond(sid, status, fields, b"", is_head, length)
        except ValueError as exc:
            log.error("response not sent, answered 500 instead: %s", exc)
            # Nothing of the stream went out: it is replaced whole by a 500, and its source is left unread.
            status, headers, body = _SERVER_ERROR
            resp.length = len(body)
            resp.content = (body,)
            sent = self.core.respond(sid, status, self.head_fields(headers, rid), b"", is_head, len(body))
        self.flush()
        return status if sent else 0

    def _room(self, sid: int) -> bool:
        """Whether a response may be queued on ``sid``: False (and the stream is reset, ENHANCE_YOUR_CALM) while the
        connection holds more than MAX_HELD_OUT for its client's windows. (Streams are refused before their
        handlers run too: ``_refused``.)"""
        core = self.core
        if core.held_out() <= MAX_HELD_OUT:
            return True
        core.reset(sid, ENHANCE_YOUR_CALM)
        self.flush()
        return False

    def head_fields(self, headers: HeaderSeq, rid: bytes) -> list[tuple[bytes, bytes]]:
        fields = list(_fields(headers))
        fields += self.state.clock.fields
        if rid:
            fields.append((b"x-request-id", rid))
        return fields

    def reset(self, sid: int, code: int) -> None:
        if not self.closed:
            self.core.reset(sid, code)
            self.flush()

    def forget(self, channel: H2Channel) -> None:
        if self.channels.get(channel.sid) is channel:
            del self.channels[channel.sid]
        if not self.closed and self.core.finished() and not self.channels:
            self._close()

    def flush(self) -> None:
        if self.feeding or self.closed:
            return
        data = self.core.data_to_send()
        if data:
            self.link.write(data)

    # -- the end --------------------------------------------------------------------------------------------------

    def _wake(self, sid: int) -> None:
        if sid:
            channel = self.channels.get(sid)
            if channel is not None:
                channel.wake()
            return
        for channel in self.channels.values():
            channel.wake()

    def _count(self) -> None:
        self.state.requests += self.nreq - self.seen_nreq
        self.seen_nreq = self.nreq

    def _close(self) -> None:
        """End the connection: a graceful GOAWAY first when none went out yet."""
        if self.closed:
            return
        self.core.shutdown()
        self.flush()
        self._end()

    def _end(self) -> None:
        """The core is done (our GOAWAY, or the peer's): what it still has goes out, then the connection closes."""
        if self.closed:
            return
        data = self.core.data_to_send()
        self.closed = True
        for channel in list(self.channels.values()):
            channel.lost()
        if data:
            self.link.write(data)
        self.link.close()
        self._count()

