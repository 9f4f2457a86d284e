"""``TestClient.websocket_connect``: a WebSocket to the application, in process, as Starlette's test client has it.

The handshake and every frame go through the server's own code (``AsyncioHTTP1``, the upgrade, ``WSSession`` and
the C frame parser) over the client's in-memory transport; this module is the client's end: it masks what it sends
and reads the server's frames back.
"""

from __future__ import annotations

import base64
import contextvars
import json
import os
import queue
import re
import struct
from types import TracebackType
from typing import TYPE_CHECKING, Any, final
from urllib.parse import urlsplit

import httpx

from covet._inprocess import MemoryTransport, Probe, current_probe
from covet.websockets import WebSocketDisconnect

if TYPE_CHECKING:
    from covet.testclient import TestClient

__all__ = ["WebSocketTestSession", "WebSocketDenialResponse", "connect"]

_TEXT, _BINARY, _CLOSE, _PING, _PONG = 1, 2, 8, 9, 10


# (httpx.Response and BaseException both define __setstate__: pickling one is not something a test does.)
class WebSocketDenialResponse(httpx.Response, WebSocketDisconnect):  # type: ignore[misc]
    """The upgrade was refused with an HTTP answer other than a close before ``accept`` (a dependency's
    ``HTTPException``, a crash): raised by ``websocket_connect``, and readable as the response it is."""

    def __init__(self, status_code: int, headers: list[tuple[str, str]], content: bytes) -> None:
        httpx.Response.__init__(self, status_code, headers=headers, content=content)
        WebSocketDisconnect.__init__(self, 1008, f"the upgrade was refused: {status_code}")


def _frame(opcode: int, payload: bytes) -> bytes:
    """A client frame: final, masked (a server must refuse unmasked ones)."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    mask = os.urandom(4)
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes((mask * (n // 4 + 1))[:n], "big")).to_bytes(n, "big")
    return head + mask + masked


@final
class WebSocketTestSession:
    """One WebSocket opened by ``TestClient.websocket_connect``: Starlette's ``WebSocketTestSession`` methods."""

    def __init__(self, client: TestClient, transport: MemoryTransport, probe: Probe, head: dict[str, str],
                 rest: bytes, timeout: float) -> None:
        self._client = client
        self._transport = transport
        self._probe = probe
        self._buf = bytearray(rest)
        self._message: list[bytes] = []  # the fragments of a message arriving
        self._message_op = 0
        self._closed: tuple[int, str] | None = None  # the server's Close
        self._timeout = timeout
        self._ctx = contextvars.copy_context()
        self._ctx.run(current_probe.set, probe)
        self.accepted_subprotocol = head.get("sec-websocket-protocol")
        self.extra_headers = list(head.items())

    def __enter__(self) -> WebSocketTestSession:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        tasks = list(self._probe.tasks)  # (finish() forgets those that are done)
        try:
            if self._closed is None:
                self.close(1000)
        finally:
            portal = self._client._server.get_portal()
            portal.call(self._client._server.finish(self._transport, self._probe, True))
        if not self._client.raise_server_exceptions or exc_type is not None:
            return
        if self._probe.errors:
            raise self._probe.errors[0]
        # As Starlette's test client does: what the handler raised (the WebSocketDisconnect the close above gave a
        # handler that does not catch it, say) is raised here, once it has ended.
        for task in tasks:
            if task.done() and not task.cancelled():
                exc = task.exception()
                if exc is not None:
                    raise exc

    # -- sending --------------------------------------------------------------------------------------------------

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        portal = self._client._server.get_portal()
        portal.loop.call_soon_threadsafe(self._deliver, self._transport, _frame(opcode, payload), context=self._ctx)

    @staticmethod
    def _deliver(transport: MemoryTransport, data: bytes) -> None:
        conn = transport.conn
        if not transport.closed and not conn.closed:
            conn.data_received(data)

    def send(self, message: dict[str, Any]) -> None:
        """An ASGI-style message: ``websocket.receive`` with ``text`` or ``bytes``, or ``websocket.disconnect``."""
        if message.get("type") == "websocket.disconnect":
            self.close(message.get("code", 1000), message.get("reason", ""))
        elif message.get("text") is not None:
            self.send_text(message["text"])
        else:
            self.send_bytes(message.get("bytes") or b"")

    def send_text(self, data: str) -> None:
        self._send_frame(_TEXT, data.encode())

    def send_bytes(self, data: bytes) -> None:
        self._send_frame(_BINARY, bytes(data))

    def send_json(self, data: Any, mode: str = "text") -> None:
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        if mode == "text":
            self.send_text(text)
        else:
            self.send_bytes(text.encode())

    def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Send a Close (the server answers with its own)."""
        self._send_frame(_CLOSE, struct.pack("!H", code) + (reason or "").encode())

    # -- receiving ------------------------------------------------------------------------------------------------

    def _read_frame(self) -> tuple[int, bool, bytes] | None:
        buf = self._buf
        while True:
            if len(buf) >= 2:
                n = buf[1] & 0x7F
                at = 2
                if n == 126 and len(buf) >= 4:
                    n, at = struct.unpack("!H", buf[2:4])[0], 4
                elif n == 127 and len(buf) >= 10:
                    n, at = struct.unpack("!Q", buf[2:10])[0], 10
                if (n < 126 or at > 2) and len(buf) >= at + n:
                    op, fin = buf[0] & 0x0F, bool(buf[0] & 0x80)
                    payload = bytes(buf[at:at + n])
                    del buf[:at + n]
                    return op, fin, payload
            try:
                data = self._transport.take(self._timeout)
            except queue.Empty:
                raise TimeoutError(f"the application sent nothing within {self._timeout}s") from None
            if data is None:
                return None
            buf += data

    def receive(self) -> dict[str, Any]:
        """The next message: ``{"type": "websocket.send", "text"|"bytes": ...}``, or ``{"type": "websocket.close",
        "code": ..., "reason": ...}`` once the application closed."""
        if self._closed is not None:
            code, reason = self._closed
            return {"type": "websocket.close", "code": code, "reason": reason}
        while True:
            got = self._read_frame()
            if got is None:
                self._closed = (1006, "")
                return {"type": "websocket.close", "code": 1006, "reason": ""}
            op, fin, payload = got
            if op == _PING:
                self._send_frame(_PONG, payload)
                continue
            if op == _PONG:
                continue
            if op == _CLOSE:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                reason = payload[2:].decode(errors="replace")
                self._closed = (code, reason)
                self._send_frame(_CLOSE, payload[:2])  # the answer the close handshake wants
                return {"type": "websocket.close", "code": code, "reason": reason}
            if op in (_TEXT, _BINARY):
                self._message_op = op
                self._message = []
            self._message.append(payload)
            if fin:
                data = b"".join(self._message)
                self._message = []
                if self._message_op == _TEXT:
                    return {"type": "websocket.send", "text": data.decode()}
                return {"type": "websocket.send", "bytes": data}

    def _data(self) -> dict[str, Any]:
        message = self.receive()
        if message["type"] == "websocket.close":
            raise WebSocketDisconnect(message["code"], message.get("reason"))
        return message

    def receive_text(self) -> str:
        message = self._data()
        if "text" not in message:
            raise TypeError("receive_text: the application sent a binary message")
        return str(message["text"])

    def receive_bytes(self) -> bytes:
        message = self._data()
        if "bytes" not in message:
            raise TypeError("receive_bytes: the application sent a text message")
        return bytes(message["bytes"])

    def receive_json(self, mode: str = "text") -> Any:
        message = self._data()
        return json.loads(message["text"] if mode == "text" else message["bytes"])


def connect(client: TestClient, url: str, subprotocols: list[str] | None, headers: dict[str, str] | None,
            timeout: float) -> WebSocketTestSession:
    """Open a WebSocket to ``url`` (relative to the client's base URL) through the application's own server code."""
    full = client._merge_url(url)
    parts = urlsplit(str(full))
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    key = base64.b64encode(os.urandom(16)).decode()
    fields = {k.lower(): v for k, v in client.headers.items()}
    fields.update({"host": parts.netloc, "upgrade": "websocket", "connection": "Upgrade", "sec-websocket-key": key,
                   "sec-websocket-version": "13"})
    if subprotocols:
        fields["sec-websocket-protocol"] = ", ".join(subprotocols)
    cookies = "; ".join(f"{c.name}={c.value}" for c in client.cookies.jar)
    if cookies:
        fields["cookie"] = cookies
    for k, v in (headers or {}).items():
        fields[k.lower()] = v
    data = f"GET {target} HTTP/1.1\r\n".encode() + b"".join(
        f"{k}: {v}\r\n".encode("latin-1") for k, v in fields.items()) + b"\r\n"
    server = client._server
    portal = server.get_portal()
    probe = Probe()
    scheme = "https" if parts.scheme in ("https", "wss") else "http"
    transport = portal.call(server.connect(data, scheme, ("testserver", 80), probe, len(data)))
    buf = b""
    while b"\r\n\r\n" not in buf:
        try:
            chunk = transport.take(timeout)
        except queue.Empty:
            portal.call(server.finish(transport, probe, False))
            raise TimeoutError(f"the application did not answer the handshake within {timeout}s") from None
        if chunk is None:
            break
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1]) if lines and lines[0].startswith("HTTP/") else 0
    answer = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:] if ": " in line)}
    if status == 101:
        return WebSocketTestSession(client, transport, probe, answer, rest, timeout)
    # Refused: read the whole answer, then say why as Starlette's test client does.
    while True:
        try:
            chunk = transport.take(timeout)
        except queue.Empty:
            break
        if chunk is None:
            break
        rest += chunk
    portal.call(server.finish(transport, probe, True))
    if probe.errors and client.raise_server_exceptions:
        raise probe.errors[0]
    said = re.search(rb"close code (\d+)", rest)
    if status == 403 and said is not None:  # the application closed before it accepted: its code
        raise WebSocketDisconnect(int(said.group(1)))
    raise WebSocketDenialResponse(status, list(answer.items()), rest)
