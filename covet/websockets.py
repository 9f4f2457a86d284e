"""WebSocket handlers' side of a connection, in FastAPI's (Starlette's) names: ``WebSocket``, ``WebSocketDisconnect``,
``WebSocketState``. See docs/websockets.md."""

from __future__ import annotations

import enum
import functools
import json
from collections.abc import AsyncIterator, Awaitable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast, final, overload

import pydantic

from covet.requests import Request
from covet.runtime.ws_close import WebSocketDisconnect, sendable

if TYPE_CHECKING:
    from covet.runtime.connection import ConnectionInfo
    from covet.runtime.ws_session import WSSession
    from covet.runtime.ws_upgrade import Upgrade

__all__ = ["WebSocket", "WebSocketDisconnect", "WebSocketException", "WebSocketState"]

T = TypeVar("T")
_NOT_CONNECTED = 'WebSocket is not connected. Need to call "accept" first.'


@functools.lru_cache(maxsize=256)
def _adapter(model: Any) -> pydantic.TypeAdapter[Any]:
    """One validator per message type, made on first use (a handler's loop reuses it)."""
    return pydantic.TypeAdapter(model)


class WebSocketState(enum.Enum):
    CONNECTING = 0
    CONNECTED = 1
    DISCONNECTED = 2
    RESPONSE = 3


class WebSocketException(Exception):
    """Raised by a handler or a dependency: before ``accept`` it refuses the upgrade (403), after it closes the
    connection with ``code`` and ``reason``."""

    def __init__(self, code: int, reason: str | None = None) -> None:
        self.code = code
        self.reason = reason or ""
        super().__init__(code, self.reason)


@final
class WebSocket(Request):
    """One WebSocket connection, handed to a ``@app.websocket`` handler: ``accept`` it, then receive and send.

    Before ``accept`` nothing is sent: the handler (and its dependencies) may still refuse the upgrade, which the
    client then gets as an HTTP answer (403 for ``close()``, an ``HTTPException``'s own status).
    """

    __slots__ = ("_upgrade", "_session", "application_state")

    def __init__(self, path: str, query_string: str, headers: list[tuple[str, str]], conn: ConnectionInfo,
                 path_params: dict[str, str], upgrade: Upgrade) -> None:
        super().__init__("GET", path, query_string, headers, b"", conn, path_params)
        self._upgrade = upgrade
        self._session: WSSession | None = None
        self.application_state = WebSocketState.CONNECTING

    @property
    def client_state(self) -> WebSocketState:
        """``DISCONNECTED`` once the handler was told the connection is over (``WebSocketDisconnect``)."""
        session = self._session
        if session is None:
            return WebSocketState.CONNECTING
        return WebSocketState.DISCONNECTED if session.told else WebSocketState.CONNECTED

    @property
    def scope(self) -> dict[str, object]:
        scope = super().scope
        scope["type"] = "websocket"
        scope["scheme"] = "wss" if scope["scheme"] == "https" else "ws"
        scope.pop("method", None)
        scope["subprotocols"] = self._upgrade.protocols
        return scope

    @property
    def url(self) -> Any:
        url = super().url
        return url.replace(scheme="wss" if url.scheme == "https" else "ws")

    # -- the handshake --------------------------------------------------------------------------------------------

    async def accept(self, subprotocol: str | None = None,
                     headers: Mapping[str, str] | list[tuple[bytes, bytes]] | None = None) -> None:
        """Answer the upgrade (101) with ``subprotocol`` (one the client offered) and extra response headers."""
        if self.application_state != WebSocketState.CONNECTING:
            raise RuntimeError('Cannot call "accept" more than once, nor after "close"')
        pairs: list[tuple[str, str]] = []
        if headers is not None:
            items = headers.items() if isinstance(headers, Mapping) else headers
            for k, v in items:
                pairs.append((k.decode("latin-1") if isinstance(k, bytes) else str(k),
                              v.decode("latin-1") if isinstance(v, bytes) else str(v)))
        self._session = self._upgrade.accept(subprotocol, pairs)
        self.application_state = WebSocketState.CONNECTED

    async def send_denial_response(self, response: Any) -> None:
        """Refuse the upgrade with an HTTP ``response`` of the handler's own (instead of ``close()``'s 403)."""
        if self.application_state != WebSocketState.CONNECTING:
            raise RuntimeError("the WebSocket is accepted: an HTTP response can no longer be sent")
        self._upgrade.refuse_with(response)
        self.application_state = WebSocketState.RESPONSE

    # -- receiving ------------------------------------------------------------------------------------------------

    # The hot path (a message in, a message out) returns the session's compiled coroutines as they are: no coroutine
    # of this module's between the handler and the connection.

    def _connected(self) -> WSSession:
        session = self._session
        if session is None:
            raise RuntimeError(_NOT_CONNECTED)
        return session

    async def receive(self) -> dict[str, Any]:
        """The next message, as ASGI has it: ``{"type": "websocket.receive", "text": ...}`` (or ``"bytes"``), or
        ``{"type": "websocket.disconnect", "code": ..., "reason": ...}`` once the peer is gone."""
        try:
            data = await self._connected().receive()
        except WebSocketDisconnect as exc:
            return {"type": "websocket.disconnect", "code": exc.code, "reason": exc.reason}
        if type(data) is str:
            return {"type": "websocket.receive", "text": data}
        return {"type": "websocket.receive", "bytes": data}

    # PERF: each per-message method checks the session itself: a call of _connected() is one more interpreted frame
    # a message.
    def receive_text(self) -> Awaitable[str]:
        session = self._session
        if session is None:
            raise RuntimeError(_NOT_CONNECTED)
        return session.receive_text()

    def receive_bytes(self) -> Awaitable[bytes]:
        session = self._session
        if session is None:
            raise RuntimeError(_NOT_CONNECTED)
        return session.receive_bytes()

    @overload
    async def receive_json(self, mode: str = "text") -> Any: ...

    @overload
    async def receive_json(self, mode: str = "text", *, model: type[T]) -> T: ...

    async def receive_json(self, mode: str = "text", *, model: Any = None) -> Any:
        """The next message, decoded as JSON; ``mode="binary"`` reads it from a binary message.

        With ``model`` (a pydantic model, a dataclass, any type pydantic validates), the message is validated into
        it in one pass (pydantic-core parses the JSON itself). A message that is not JSON, or not valid for
        ``model``, closes the connection with 1007 and raises ``WebSocketDisconnect(1007, why)``.
        """
        if mode not in ("text", "binary"):
            raise RuntimeError('The "mode" argument should be "text" or "binary".')
        data = await (self.receive_text() if mode == "text" else self.receive_bytes())
        if model is None:
            return json.loads(data)
        try:
            return _adapter(model).validate_json(data)
        except pydantic.ValidationError as exc:
            errors = exc.errors(include_url=False, include_context=False)
            first = errors[0] if errors else {"msg": str(exc), "loc": ()}
            where = ".".join(str(x) for x in first.get("loc", ()))
            why = f"invalid message: {where + ': ' if where else ''}{first.get('msg', '')}"[:120]
        await self.close(1007, why)
        raise WebSocketDisconnect(1007, why)

    def iter_text(self) -> AsyncIterator[str]:
        """Each text message until the peer closes (then the loop ends, without an exception)."""
        return cast("AsyncIterator[str]", self._connected().messages(True))

    def iter_bytes(self) -> AsyncIterator[bytes]:
        return cast("AsyncIterator[bytes]", self._connected().messages(False))

    async def iter_json(self) -> AsyncIterator[Any]:
        try:
            while True:
                yield await self.receive_json()
        except WebSocketDisconnect:
            pass

    # -- sending --------------------------------------------------------------------------------------------------

    def _send(self, data: str | bytes) -> Awaitable[None]:
        session = self._session
        if session is None:
            raise RuntimeError(_NOT_CONNECTED)
        if self.application_state is WebSocketState.DISCONNECTED:
            raise RuntimeError('Cannot call "send" once a close message has been sent.')
        return session.send(data)

    if TYPE_CHECKING:
        def send_text(self, data: str) -> Awaitable[None]: ...
    else:
        send_text = _send

    def send_bytes(self, data: bytes) -> Awaitable[None]:
        return self._send(bytes(data))

    async def send_json(self, data: Any, mode: str = "text") -> None:
        if mode not in ("text", "binary"):
            raise RuntimeError('The "mode" argument should be "text" or "binary".')
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        await self._send(text if mode == "text" else text.encode())

    async def send(self, message: Mapping[str, Any]) -> None:
        """An ASGI message: ``websocket.accept``, ``websocket.send`` (``text`` or ``bytes``), ``websocket.close``."""
        kind = message.get("type")
        if kind == "websocket.accept":
            await self.accept(message.get("subprotocol"), message.get("headers"))
        elif kind == "websocket.send":
            text = message.get("text")
            await self._send(text if text is not None else bytes(message.get("bytes") or b""))
        elif kind == "websocket.close":
            await self.close(message.get("code", 1000), message.get("reason"))
        else:
            raise RuntimeError(f"unexpected ASGI message {kind!r}")

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Close the connection with ``code``; before ``accept``, refuse the upgrade (HTTP 403)."""
        if not sendable(code) or code == 1005:
            raise ValueError(f"close code {code} cannot be sent: use 1000-1003, 1007-1014 or 3000-4999")
        if self.application_state == WebSocketState.CONNECTING:
            self._upgrade.refuse(code)
            self.application_state = WebSocketState.DISCONNECTED
            return
        if self.application_state == WebSocketState.DISCONNECTED:
            raise RuntimeError('Cannot call "send" once a close message has been sent.')
        self.application_state = WebSocketState.DISCONNECTED
        await self._connected().close(code, reason or "")
