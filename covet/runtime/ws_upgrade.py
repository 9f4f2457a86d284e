"""A WebSocket request's life until its handler accepts or refuses it, whatever transport carried it.

The transport hands over a request that asked to upgrade (``EV_UPGRADE``) to a path with a WebSocket route:
``start`` checks the handshake (RFC 6455 4.2.1; a bad one is answered 400, a version other than 13 is 426) and the
allowed origins, then runs the route's glue in a Task with a ``covet.websockets.WebSocket``. Its parameters and
dependencies are resolved first, as on any route: one that fails refuses the upgrade with an HTTP answer (403 for
invalid parameters, a dependency's ``HTTPException`` its own), never a half-open socket.

``accept`` writes the 101 through the exchange's channel (``H1Channel.upgrade``); the transport then carries the
WebSocket protocol (``ws_session.WSSession``) on that connection. Whatever the handler does next, the session
closes once it returns: 1000 when it returned, 1011 when it raised.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import logging
from typing import TYPE_CHECKING, Any, Final, TypeGuard, final

from covet._native import render_fields
from covet.exceptions import HTTPError, RequestValidationError
from covet.runtime.connection import ConnectionInfo
from covet.runtime.encode import encode_any, error_reply, http_error_reply, server_error_reply
from covet.runtime.exits import AfterReply
from covet.runtime.ws_close import ABNORMAL
from covet.runtime.ws_deflate import negotiate
from covet.runtime.ws_session import WSSession
from covet.websockets import WebSocket, WebSocketDisconnect, WebSocketException, WebSocketState

if TYPE_CHECKING:
    from covet.runtime.glue import RoutePlan
    from covet.runtime.h1_response import H1Channel
    from covet.runtime.state import ServerState

__all__ = ["start", "refusal", "Upgrade", "accept_key", "handshake_error", "is_websocket"]

log = logging.getLogger("covet.websocket")

_GUID: Final = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_VERSION: Final = ((b"sec-websocket-version", b"13"),)
# The fields of a 101 that the handshake sets (or that would make it no 101): accept(headers=...) may not.
_RESERVED: Final = frozenset({b"upgrade", b"connection", b"sec-websocket-accept", b"sec-websocket-extensions",
                              b"sec-websocket-protocol", b"content-length", b"transfer-encoding"})


def accept_key(key: str) -> str:
    """``Sec-WebSocket-Accept`` for the client's ``Sec-WebSocket-Key`` (RFC 6455 4.2.2)."""
    return base64.b64encode(hashlib.sha1(key.encode("latin-1") + _GUID).digest()).decode()


def _tokens(headers: list[tuple[str, str]], name: str) -> list[str]:
    return [t.strip().lower() for k, v in headers if k == name for t in v.split(",")]


def handshake_error(minor: int, headers: list[tuple[str, str]]) -> tuple[int, Any, bytes] | None:
    """The HTTP answer to an upgrade request that is not a valid WebSocket opening handshake, else None."""
    if minor != 1:
        return error_reply(400, "a WebSocket handshake needs HTTP/1.1")
    if "websocket" not in _tokens(headers, "upgrade"):
        return None  # not a WebSocket upgrade at all: the caller answers it as the GET it also is
    if "upgrade" not in _tokens(headers, "connection"):
        return error_reply(400, "the WebSocket handshake lacks 'Connection: Upgrade'")
    versions = [v.strip() for k, v in headers if k == "sec-websocket-version"]
    if versions != ["13"]:
        return error_reply(426, "only WebSocket version 13 is supported", _VERSION)
    keys = [v for k, v in headers if k == "sec-websocket-key"]
    if len(keys) != 1:
        return error_reply(400, "the WebSocket handshake needs one Sec-WebSocket-Key")
    try:
        raw = base64.b64decode(keys[0].strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 16:
        return error_reply(400, "Sec-WebSocket-Key is not 16 bytes in base64")
    return None


def is_websocket(headers: list[tuple[str, str]]) -> bool:
    return "websocket" in _tokens(headers, "upgrade")


@final
class Upgrade:
    """The request between its head and the handler's answer: ``accept`` (101, then the WebSocket protocol) or
    ``refuse`` (an HTTP answer). Exactly one of them reaches the channel; ``lost`` when the client went first."""

    __slots__ = ("state", "channel", "key", "protocols", "rest", "session", "answered", "task", "websocket", "path",
                 "headers", "gone", "handler_result")

    def __init__(self, state: ServerState, channel: H1Channel, key: str, protocols: list[str], rest: bytes,
                 path: str, headers: list[tuple[str, str]]) -> None:
        self.state = state
        self.path = path
        self.headers = headers
        self.channel: H1Channel | None = channel  # until answered: then the WebSocket needs none of it
        self.key = key
        self.protocols = protocols
        self.rest = rest  # what the client sent after its head: the first frames, already
        self.session: WSSession | None = None
        self.answered = False
        self.task: asyncio.Task[Any] | None = None
        self.websocket: WebSocket | None = None
        self.gone = False  # the client left before the handler answered
        # The Task's result is the handler's own (its glue handed back its coroutine), never a glue's reply: a
        # handler that returns (500, "x", b"") is a handler that returned.
        self.handler_result = False

    def accept(self, subprotocol: str | None, headers: list[tuple[str, str]]) -> WSSession:
        if self.answered:
            raise RuntimeError("the WebSocket handshake was already answered")
        channel = self.channel
        if self.gone or channel is None or channel.gone():
            raise WebSocketDisconnect(ABNORMAL)
        if self.state.closing:
            # Draining: a WebSocket opened now would only be cut at the graceful timeout.
            self.refuse_reply(error_reply(503, "the server is shutting down"))
            raise WebSocketDisconnect(1001)
        if subprotocol is not None and subprotocol not in self.protocols:
            raise RuntimeError(f"accept(subprotocol={subprotocol!r}): the client offered {self.protocols}")
        extra = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        for name, _ in extra:
            if name in _RESERVED:
                raise RuntimeError(f"accept(headers=...): {name.decode()} is the handshake's own field")
        if subprotocol is not None:
            extra.append((b"sec-websocket-protocol", subprotocol.encode("latin-1")))
        deflate = negotiate(self.headers) if self.state.ws_config.deflate else None
        if deflate is not None:
            extra.append((b"sec-websocket-extensions", deflate[0].encode()))
        lines, _ = render_fields(extra)  # every byte checked: no CR, LF or NUL reaches the head
        head = (b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n"
                b"sec-websocket-accept: " + accept_key(self.key).encode() + b"\r\n" + lines)
        self.answered = True
        session = self.session = channel.upgrade(head, self.state.ws_config)
        self.channel = None  # (held for the connection's life, idle or not, it cost 200 bytes and more a connection)
        self.key = ""
        if deflate is not None:
            session.use_deflate(deflate[1])
        if self.rest:
            rest, self.rest = self.rest, b""
            session.feed(rest)
        return session

    def refuse(self, code: int = 1000) -> None:
        """The handler closed (with ``code``) before it accepted: 403, as uvicorn answers it."""
        self.refuse_reply(error_reply(403, f"WebSocket connection refused: close code {code}"))

    def refuse_with(self, response: Any) -> None:
        reply = encode_any(response, 200)
        if type(reply) is not tuple:
            raise TypeError("send_denial_response: a streamed response cannot refuse a WebSocket; give a Response")
        self.refuse_reply(reply)

    def refuse_reply(self, reply: tuple[int, Any, bytes]) -> None:
        if self.answered:
            return
        self.answered = True
        channel, self.channel = self.channel, None
        if channel is not None:
            channel.respond(reply, False)  # what the client sent after its head is not HTTP: the connection ends

    # -- the transport's side (the exchange it holds while the handler has not answered) ---------------------------

    def client_left(self) -> None:
        self.lost()

    def lost(self) -> None:
        """The client left (FIN, reset): before the 101, the handler is cancelled, and the channel let go of once it
        has ended (``done``), never here: a transport may be telling from inside its own bookkeeping."""
        session = self.session
        if session is not None:
            session.lost()
            return
        if self.answered or self.gone:
            return
        self.gone = True
        task = self.task
        if task is not None and not task.done():
            task.cancel()
        else:
            asyncio.get_running_loop().call_soon(self._let_go)

    def _let_go(self) -> None:
        if not self.answered:
            self.answered = True
            channel, self.channel = self.channel, None
            if channel is not None:
                channel.close()

    # -- the handler ----------------------------------------------------------------------------------------------

    def done(self, task: asyncio.Task[Any]) -> None:
        self.state.tasks.discard(task)
        exc = None if task.cancelled() else task.exception()
        reply = None if task.cancelled() or exc is not None or self.handler_result else task.result()
        if type(reply) is AfterReply:
            # The route's yield dependencies finish now that its handler is over (had it raised, the glue would
            # have unwound them already), as FastAPI's exit stack does for a WebSocket endpoint.
            self.state.run_after(reply.after)
            reply = reply.reply
        session = self.session
        if self.gone and not self.answered:
            self._let_go()  # nobody is left to answer
            return
        if not self.answered:
            # The handler ended (or failed) before it accepted: the client gets an HTTP answer.
            if exc is not None:
                if isinstance(exc, (WebSocketException, WebSocketDisconnect)):
                    self.refuse(exc.code)
                elif isinstance(exc, RequestValidationError):
                    self.refuse_reply(error_reply(403, exc.errors()))
                elif isinstance(exc, HTTPError):
                    self.refuse_reply(http_error_reply(exc))
                else:
                    self.refuse_reply(server_error_reply(f"WebSocket {self.path}", exc))
            elif _glue_error(reply):
                self.refuse_reply((403, reply[1], reply[2]) if reply[0] == 422 else reply)
            else:
                self.refuse()
            return
        if session is None:
            return  # refused (denial response, or close() before accept)
        ws = self.websocket
        if exc is None and not task.cancelled():
            if _glue_error(reply):
                log.error("WebSocket %s: an error after accept (%d) closes it with 1011", self.path,
                          reply[0])
                self._close(1011, "")
            else:
                self._close(1000, "")
        elif isinstance(exc, WebSocketDisconnect):
            self._close(exc.code, exc.reason)
        elif isinstance(exc, WebSocketException):
            self._close(exc.code, exc.reason)
        elif exc is not None:
            log.error("WebSocket %s: the handler raised", self.path, exc_info=exc)
            self._close(1011, "")
        else:  # cancelled: the server stops
            self._close(1001, "")
        if ws is not None:
            ws.application_state = WebSocketState.DISCONNECTED

    def _close(self, code: int, reason: str) -> None:
        session = self.session
        if session is not None and not session.close_sent:
            try:
                session.start_close(code, reason)
            except ValueError as exc:  # (a WebSocketException with a code no Close may carry)
                log.error("WebSocket %s: %s; closing with 1011", self.path, exc)
                session.start_close(1011, "")


def refusal(state: ServerState, minor: int, headers: list[tuple[str, str]]) -> tuple[int, Any, bytes] | None:
    """The HTTP answer to a WebSocket upgrade refused before its route runs (a bad handshake, an Origin not
    allowed), else None. The connection closes after it: what the client sent next is not HTTP."""
    bad = handshake_error(minor, headers)
    if bad is not None:
        return bad
    origins = state.ws_origins
    if origins is not None:
        origin = next((v for k, v in headers if k == "origin"), None)
        if origin is None or (origin not in origins and "*" not in origins):
            return error_reply(403, "this Origin may not open a WebSocket here")
    return None


def _glue_error(reply: object) -> TypeGuard[tuple[int, Any, Any]]:
    """Whether a glue's result is its error reply (a parameter or a dependency refused)."""
    return type(reply) is tuple and len(reply) == 3 and type(reply[0]) is int and reply[0] >= 400


def start(state: ServerState, channel: H1Channel, plan: RoutePlan, path: str, query: str,
          headers: list[tuple[str, str]], params: list[str], info: ConnectionInfo, names: list[str],
          rest: bytes) -> Upgrade:
    """Run the WebSocket route ``plan`` for an upgrade request ``refusal`` has passed."""
    key = next(v for k, v in headers if k == "sec-websocket-key").strip()
    protocols = [t.strip() for k, v in headers if k == "sec-websocket-protocol" for t in v.split(",") if t.strip()]
    upgrade = Upgrade(state, channel, key, protocols, rest, path, headers)
    ws = upgrade.websocket = WebSocket(path, query, headers, info, dict(zip(names, params, strict=True)), upgrade)
    # The Task settles the upgrade whatever the route does (done): a glue that is no coroutine (it hands back the
    # handler's, or it refused at once, or a dependency raised in it) has its outcome passed through one.
    fut: asyncio.Future[Any] | None = None
    try:
        result = plan.glue("GET", path, query, headers, ws, params, info)
    except (Exception, asyncio.CancelledError) as exc:  # (a cancelled Task refuses with 403, like one that returned)
        fut = asyncio.get_running_loop().create_future()
        fut.set_exception(exc)
    else:
        if not asyncio.iscoroutine(result):
            fut = asyncio.get_running_loop().create_future()
            fut.set_result(result)
        elif not plan.is_async:
            upgrade.handler_result = True
    if fut is not None:
        result = _value(fut)
    task = upgrade.task = asyncio.get_running_loop().create_task(result)
    state.tasks.add(task)
    task.add_done_callback(upgrade.done)
    return upgrade


async def _value(fut: asyncio.Future[Any]) -> Any:
    return await fut

