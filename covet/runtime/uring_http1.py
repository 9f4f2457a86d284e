"""HTTP/1.1 on the io_uring core: the Python half.

The C core (``covet._native.UringServer``) accepts, receives, parses and sends;
it calls ``request`` once per complete request, with the connection's id.
A request answered on the spot returns its response bytes, which the core
sends in order with the other responses of that connection. One that is
not (a suspended handler, a streaming response) goes on as an ``Exchange``
that answers through a ``UringChannel``; meanwhile the core holds the
connection's later input, so responses still leave in request order.

A body over ``max_body`` is handed to Python in pieces (``body``) while its
route runs; the core stops reading when the route has enough unread, until
``resume_body``.

Static paths with sync handlers skip ``request``: ``install`` hands them to
the core, which calls their glue itself and renders a plain reply whose head
is cached; anything else it hands back through ``reply_for`` and ``failed``.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Final, Protocol, final

from covet.exceptions import HTTPError
from covet.runtime.body import RequestBody, disconnected
from covet.runtime.connection import ConnectionInfo
from covet.runtime.encode import HeaderSet, Reply, error_reply
from covet.runtime.events import EV_REQUEST, EV_STREAM, PREFACE_HEAD
from covet.runtime.exchange import TOO_LARGE_REPLY, Exchange, answer_now, answer_streamed, failure_reply
from covet.runtime.glue import RoutePlan
from covet.runtime.h1_response import H1Channel, id_line, render, render_closing
from covet.runtime.h2c import SWITCH as H2C_SWITCH, settings_of as h2c_settings
from covet.runtime.state import ServerState
from covet.runtime.uring_contract import HEADERS_ALL, HEADERS_CONTENT_TYPE, HEADERS_NONE
from covet.runtime.uring_h2 import UringH2
from covet.runtime.uring_link import UringLink
from covet.runtime.uring_ws import UringWS
from covet.runtime.ws_session import WSLink
from covet.runtime.ws_upgrade import Upgrade, is_websocket, refusal, start as start_websocket

if TYPE_CHECKING:
    from covet._native import WSParser
    from covet.runtime.h2_session import H2Framing

__all__ = ["DirectCore", "UringCore", "UringChannel", "UringHTTP1"]

_UNUSED_CONN: Final = ConnectionInfo(None, None)


class UringCore(Protocol):
    """What the Python half uses of ``covet._native.UringServer``."""

    def reply(self, cid: int, data: bytes, keep_alive: bool, /) -> bool: ...

    def write(self, cid: int, data: bytes, /) -> int: ...

    def finish(self, cid: int, keep_alive: bool, /) -> bool: ...

    def close_after(self, cid: int, /) -> None: ...

    def resume_body(self, cid: int, /) -> None: ...

    def upgrade(self, cid: int, head: bytes, /) -> bytes: ...

    def ws_attach(self, cid: int, parser: WSParser, /) -> None: ...

    def abort(self, cid: int, /) -> None: ...

    def flush(self) -> None: ...

    def peer(self, cid: int, /) -> tuple[str, int] | None: ...

    def gone(self, cid: int, /) -> bool: ...

    def closed(self, cid: int, /) -> bool: ...

    def sockname(self, cid: int, /) -> tuple[str, int] | None: ...


class DirectCore(Protocol):
    """What ``install`` uses of the core: the routes it calls without going through ``request``."""

    def set_direct(self, header_set_type: type[HeaderSet], unused_conn: ConnectionInfo, /) -> None: ...

    def set_head_lines(self, lines: bytes, /) -> None: ...

    def add_route(self, method: str, path: str, glue: Any, plan: RoutePlan, headers: int, /) -> bool: ...


@final
class UringChannel(H1Channel):
    """The way out of the exchange the core's connection ``cid`` waits for."""

    __slots__ = ("owner", "cid", "exchange", "waiter")

    def __init__(self, owner: UringHTTP1, cid: int, is_head: bool, minor: int) -> None:
        super().__init__(owner.state.clock, is_head, minor)
        self.owner = owner
        self.cid = cid
        self.exchange: Exchange | Upgrade | None = None
        self.waiter: asyncio.Future[None] | None = None

    def switch(self, data: bytes) -> WSLink:
        return self.owner.switch(self.cid, data)

    def put(self, data: bytes) -> int:
        core = self.owner.core
        return -1 if core is None else core.write(self.cid, data)

    def done(self, data: bytes | None, keep_alive: bool) -> None:
        core = self.owner.forget(self.cid)
        if core is None:
            return
        if data is None:
            core.finish(self.cid, keep_alive)
        else:
            core.reply(self.cid, data, keep_alive)

    def abort(self) -> None:
        self.ended()
        core = self.owner.forget(self.cid)
        if core is not None:
            core.abort(self.cid)

    async def drained(self) -> None:
        fut = self.owner.loop.create_future()
        self.waiter = fut
        try:
            await fut
        finally:
            self.waiter = None

    def gone(self) -> bool:
        core = self.owner.core
        return core is None or core.closed(self.cid)

    def may_keep(self) -> bool:
        return not self.owner.state.closing

    def wake(self) -> bool:
        """The core says the output drained (or the connection died): True when a writer was waiting for it."""
        fut = self.waiter
        if fut is None:
            return False
        if not fut.done():
            fut.set_result(None)
        return True

    def resume_reading(self) -> None:
        core = self.owner.core
        if core is not None:
            core.resume_body(self.cid)

    def stop(self) -> None:
        core = self.owner.core
        if core is not None:
            core.abort(self.cid)


class UringHTTP1:
    """Answers the requests the core hands over; keeps the exchanges that were not answered on the spot."""

    def __init__(self, state: ServerState, loop: asyncio.AbstractEventLoop) -> None:
        self.state = state
        self.loop = loop
        self.core: UringCore | None = None
        self.live: dict[int, UringChannel] = {}  # by connection: the exchange it waits for
        self.bodies: dict[int, RequestBody] = {}  # by connection: the request body streaming in
        self.sockets: dict[int, UringLink] = {}  # by connection: those switched to another protocol (WebSocket, HTTP/2)

    # -- called by the core -------------------------------------------------

    def request(self, cid: int, ev: tuple[Any, ...]) -> bytes | None:
        """One complete request (or the head of one whose body streams): its response, or None when an exchange
        goes on with it."""
        if ev[0] != EV_REQUEST:
            if ev[0] == EV_STREAM:
                return self._open_body(cid, ev)
            if ev[1] == "PRI":  # HTTP/2's preface (events.PREFACE_HEAD): the connection speaks HTTP/2 from now on
                # (Switched once the core has taken this None: it holds what the client sends meanwhile.)
                self.loop.call_soon(self._h2, cid, ev[7], None, None)
                return None
            hit = self.state.dispatcher.resolve_ws(ev[2]) if is_websocket(ev[5]) else None
            if hit is not None:
                return self._upgrade(cid, ev, hit)
            if ev[4] == 1:
                settings = h2c_settings(ev[5])
                if settings is not None:
                    return self._h2c(cid, ev, settings)
            # (an upgrade to anything else is answered as the GET it also is)
        _, method, path, query, minor, headers, keep_alive, body = ev
        state = self.state
        plan, params = state.dispatcher.resolve(method, path)
        if state.metered:
            access = state.access
            assert access is not None
            access.route = plan.route_id  # the core counts the response it gets back under this route
        # Most routes never read their connection: only those that do get one (with addresses asked lazily).
        info = (ConnectionInfo(None, None, state.scheme, "1.1", self.core, cid, self, state.front, headers)
                if plan.uses_conn else _UNUSED_CONN)
        reply = answer_now(state, plan, method, path, query, headers, body, params, info)
        if type(reply) is not tuple:  # an exchange goes on with it: its channel records the response
            self._take(cid, plan, reply, keep_alive, method == "HEAD", minor, ev, len(body) if body is not None else 0)
            return None
        # (the core records the bytes returned here in the access log itself)
        return self._answer(cid, plan, reply, keep_alive, method == "HEAD", minor, headers)

    def _upgrade(self, cid: int, ev: tuple[Any, ...], hit: tuple[RoutePlan, list[str], list[str]]) -> bytes | None:
        """A WebSocket upgrade to the route ``hit``: refused at once (its response), or run (None)."""
        _, _, path, query, minor, headers, _, _ = ev
        state = self.state
        core = self.core
        assert core is not None
        refused = refusal(state, minor, headers)
        if refused is not None:
            core.close_after(cid)
            return render_closing(refused, state.clock.head_lines, minor)
        plan, names, params = hit
        info = ConnectionInfo(None, None, state.scheme, "1.1", core, cid, self, state.front, headers)
        channel = UringChannel(self, cid, False, minor)
        self._logs(channel, cid, ev, plan.route_id, 0)
        channel.exchange = start_websocket(state, channel, plan, path, query, headers, params, info, names, b"")
        self.live[cid] = channel
        return None

    def switch(self, cid: int, data: bytes) -> WSLink:
        """The 101 of ``cid``'s WebSocket: the core carries that protocol from now on (``body`` hands its bytes)."""
        core = self.core
        if core is None:
            raise ConnectionResetError("the server is stopping")
        self.live.pop(cid, None)
        held = core.upgrade(cid, data)
        link = UringWS(self, cid)
        self.sockets[cid] = link
        self.state.connections.add(link)
        if held:
            # What the client sent after its head, before the 101: fed once the session is attached.
            self.loop.call_soon(link.received, held)
        return link

    def _h2c(self, cid: int, ev: tuple[Any, ...], settings: bytes) -> bytes | None:
        """A request that asked to upgrade to h2c: 101, then HTTP/2, the request answered as its stream 1; a 400
        when its HTTP2-Settings are not valid."""
        from covet.runtime.h2_session import open_core

        try:
            h2 = open_core(self.state, settings)
        except ValueError as exc:
            core = self.core
            assert core is not None
            core.close_after(cid)
            return render_closing(error_reply(400, str(exc)), self.state.clock.head_lines)
        self.loop.call_soon(self._h2, cid, ev[7], h2, ev)
        return None

    def _h2(self, cid: int, rest: bytes, h2: H2Framing | None, upgrade: tuple[Any, ...] | None) -> None:
        """Switch ``cid`` to HTTP/2: after its preface (``rest`` followed it), or after the 101 to ``upgrade``, the
        request that asked for h2c (its core ``h2`` made already)."""
        core = self.core
        if core is None:
            return
        try:
            held = core.upgrade(cid, b"" if upgrade is None else H2C_SWITCH)
        except RuntimeError:  # the client went away meanwhile: the core lets go of it
            core.abort(cid)
            return
        link = UringH2(self, cid, h2)
        self.sockets[cid] = link
        self.state.connections.add(link)
        if upgrade is None:
            link.received(PREFACE_HEAD + rest + held)
        else:
            _, method, path, query, _, headers, _, _ = upgrade
            link.session.upgraded(method, path, query, headers)
            if held:
                link.received(held)
        if core.gone(cid):  # its FIN came while the switch waited for us: the core will not say it again
            link.eof()

    def _open_body(self, cid: int, ev: tuple[Any, ...]) -> bytes | None:
        _, method, path, query, minor, headers, keep_alive, _ = ev
        state = self.state
        plan, params = state.dispatcher.resolve(method, path)
        if state.metered:
            access = state.access
            assert access is not None
            access.route = plan.route_id
        info = (ConnectionInfo(None, None, state.scheme, "1.1", self.core, cid, self, state.front, headers)
                if plan.uses_conn else _UNUSED_CONN)
        channel = UringChannel(self, cid, method == "HEAD", minor)
        self._logs(channel, cid, ev, plan.route_id, 0)
        exchange = answer_streamed(state, channel, plan, method, path, query, headers, params, info, keep_alive,
                                   channel.resume_reading, channel.stop)
        if exchange is None:
            core = self.core
            assert core is not None
            core.close_after(cid)
            return render_closing(TOO_LARGE_REPLY, state.clock.head_lines, minor)
        channel.exchange = exchange
        self.live[cid] = channel
        if exchange.body is not None:
            self.bodies[cid] = channel.body = exchange.body
        return None

    def _logs(self, channel: UringChannel, cid: int, ev: tuple[Any, ...] | None, route: int, received: int) -> None:
        """The channel records its response in the access log, when it is on: ``ev`` is the request, or a direct
        route's (method, path, query) (the core hands no Request over for those); ``route`` its plan's route_id."""
        access = self.state.access
        core = self.core
        if access is None or core is None or ev is None:
            return
        if len(ev) == 3:
            channel.logs(access, core.peer(cid), ev[0], ev[1], ev[2], None, route, received)
        else:
            channel.logs(access, core.peer(cid), ev[1], ev[2], ev[3], ev[5], route, received)

    def _take(self, cid: int, plan: RoutePlan, reply: Any, keep_alive: bool, is_head: bool, minor: int,
              ev: tuple[Any, ...] | None, received: int = 0) -> None:
        channel = UringChannel(self, cid, is_head, minor)
        self._logs(channel, cid, ev, plan.route_id, received)
        exchange = Exchange(self.state, channel, plan, keep_alive)
        channel.exchange = exchange
        self.live[cid] = channel
        exchange.take(reply)

    def forget(self, cid: int) -> UringCore | None:
        """The exchange of ``cid`` has answered (or given up): the core, to let go of the connection."""
        self.live.pop(cid, None)
        body = self.bodies.get(cid)
        if body is not None and body.done:
            del self.bodies[cid]
            self.state.bodies.discard(body)
        return self.core

    def body(self, cid: int, item: bytes | list[tuple[Any, ...]] | tuple[int, str] | bool | None) -> bool:
        """A piece of a streamed body, None at its end, (status, message) when its framing broke, False when the
        connection is gone, True when the client shut its side (FIN) before the end (a ClientDisconnect either
        way, after what arrived in the second case); True back asks the core to stop reading until
        ``resume_body``."""
        body = self.bodies.get(cid)
        if body is None:
            link = self.sockets.get(cid)
            if link is None:
                return False
            if type(item) is list:  # (its frame parser's events: ws_attach)
                return link.parsed(item)
            if type(item) is bytes:
                return link.received(item)
            if item is True:
                link.eof()
            else:
                link.lost()
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
        # else the route still runs: its exchange sees the failure (and closes after its answer)
        return False

    def reply_for(self, cid: int, plan: RoutePlan, reply: Reply, keep_alive: bool, is_head: bool,
                  minor: int, line: tuple[str, str, str]) -> bytes | None:
        """A reply the core could not render itself, from a route it called directly: its response bytes, or None
        when an exchange goes on with it (``line``: the request's method, path and query)."""
        if type(reply) is not tuple:
            reply = self.state.unwrap(reply)
        if type(reply) is not tuple:
            self._take(cid, plan, reply, keep_alive, is_head, minor, line)
            return None
        return self._answer(cid, plan, reply, keep_alive, is_head, minor, [])

    def _answer(self, cid: int, plan: RoutePlan, reply: Any, keep_alive: bool, is_head: bool,
                minor: int, headers: list[tuple[str, str]]) -> bytes | None:
        """A reply tuple's response bytes (closing after them when they say so)."""
        state = self.state
        lines = state.clock.head_lines
        access = state.access
        if state.echo_id and access is not None:  # the core reads the id back from the response for the log
            lines += id_line(access.request_id(headers))
        data, keep = render(reply, lines, keep_alive, is_head, minor)
        if not keep:
            core = self.core
            assert core is not None
            core.close_after(cid)
        return data

    def failed(self, cid: int, plan: RoutePlan, exc: BaseException, keep_alive: bool, is_head: bool,
               minor: int, line: tuple[str, str, str]) -> bytes | None:
        """A route the core called directly raised ``exc``: its error response, as ``request`` would give."""
        return self.reply_for(cid, plan, failure_reply(plan.label, exc), keep_alive, is_head, minor, line)

    def install(self, core: DirectCore) -> int:
        """Hand the core the routes it may call itself: static paths with sync handlers; returns how many."""
        core.set_direct(HeaderSet, _UNUSED_CONN)
        core.set_head_lines(self.state.clock.head_lines)
        if self.state.echo_id:
            # A direct route's head is cached whole; a per-response x-request-id would need it rendered each time.
            return 0
        n = 0
        for method, path, plan in self.state.dispatcher.static_plans():
            if plan.is_async or plan.uses_conn or "%" in path:  # the router decodes paths with "%" first
                continue
            headers = (HEADERS_ALL if plan.reads_headers else
                       HEADERS_CONTENT_TYPE if plan.reads_content_type else HEADERS_NONE)
            if core.add_route(method, path, plan.glue, plan, headers):
                n += 1
        return n

    def error(self, status: int, message: str) -> bytes:
        """The response to a framing error; the core closes the connection after it."""
        return render_closing(error_reply(status, message), self.state.clock.head_lines)

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
        channel = self.live.get(cid)
        if channel is None:
            link = self.sockets.get(cid)
            if link is not None:
                link.wake()
                core = self.core
                if core is None or core.closed(cid):
                    link.lost()
            return
        exchange = channel.exchange
        if exchange is not None and self.gone(cid):
            exchange.client_left()
        if channel.wake():
            return
        # Nobody waits to write: the core says the connection is gone, or half-closed.
        core = self.core
        if exchange is not None and (core is None or core.closed(cid)):
            exchange.lost()

    def timeout_response(self) -> bytes:
        return render_closing(error_reply(408, "Request Timeout"), self.state.clock.head_lines)
