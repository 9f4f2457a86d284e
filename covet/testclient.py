"""The test client: httpx's whole API, answered in-process by the server's own protocol code.

``TestClient`` is an ``httpx.Client`` whose transport writes each request as
HTTP/1.1 bytes into the ``AsyncioHTTP1`` connection the server uses, over an
in-memory transport, and parses the bytes that come back with h11. Nothing
binds a socket, yet the parser, dispatch, glue and response rendering are the
server's. It behaves as Starlette's (and FastAPI's) ``TestClient``:

- The application runs on one event loop in a background thread, for the
  client's life: started by the first request (or by ``with``), stopped by
  ``close()`` or at the end of the ``with`` block. ``def`` handlers and sync
  background tasks run in that loop's thread pool, as under ``covet serve``.
- ``with TestClient(app) as client:`` runs the start-up hooks on entry and the
  shutdown hooks on exit; without ``with`` they do not run.
- A request returns once its response has been read and the work its route
  left to run after the response (background tasks, dependency clean-up) is
  done.
- ``raise_server_exceptions=True``: an exception the application did not
  handle is raised in the test, rather than read as a 500. The runtime logs
  every such failure with its exception on a ``covet.*`` logger, and answers
  500; a log handler reads the exception back when it is logged for a request
  of this client (a context variable the client sets says which). The server
  pays nothing for it: the handler is only installed by a test client.
"""

from __future__ import annotations

import queue
import weakref
from collections.abc import Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any, final

try:
    import h11
    import httpx
except ImportError as exc:  # pragma: no cover - the test extra brings both
    raise ImportError(
        "covet.testclient needs httpx (which brings h11): pip install httpx, or pip install 'covet[testing]'"
    ) from exc

from covet._inprocess import PIECE, InProcessServer, MemoryTransport, Probe, install_capture
from covet.app import Covet
from covet.runtime.config import Config

if TYPE_CHECKING:
    from covet.testclient_ws import WebSocketTestSession

__all__ = ["TestClient", "RawResponse"]


@final
class _Transport(httpx.BaseTransport):
    """httpx's way to the server: each request on a fresh in-memory HTTP/1.1 connection."""

    def __init__(self, server: InProcessServer, raise_server_exceptions: bool) -> None:
        self.server = server
        self.raise_server_exceptions = raise_server_exceptions

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        wire = h11.Connection(h11.CLIENT)
        try:
            data = wire.send(h11.Request(method=request.method, target=request.url.raw_path,
                                         headers=list(request.headers.raw)))
            for chunk in request.stream:  # type: ignore[union-attr]
                if chunk:
                    data += wire.send(h11.Data(data=chunk))
            data += wire.send(h11.EndOfMessage())
        except h11.LocalProtocolError as exc:  # (a header with CR or LF in it, a body longer than its length, ...)
            raise httpx.LocalProtocolError(f"the request cannot be sent as HTTP/1.1: {exc}") from exc
        install_capture()
        url = request.url
        port = url.port or (443 if url.scheme == "https" else 80)
        server = self.server
        portal = server.get_portal()
        probe = Probe()
        transport = portal.call(server.connect(data, url.scheme, (url.host, port), probe, PIECE))
        reader = _Reader(self, wire, transport, probe)
        try:
            head = reader.head()
        finally:
            if probe.errors and self.raise_server_exceptions:
                reader.finish(wait=True)  # raises what the app raised
        return httpx.Response(
            head.status_code,
            headers=head.headers.raw_items(),
            stream=reader,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": head.reason},
            request=request,
        )

    def close(self) -> None:
        self.server.stop()


@final
class _Reader(httpx.SyncByteStream):
    """One response read off its connection: the head, then the body as the test iterates it."""

    def __init__(self, owner: _Transport, wire: h11.Connection, transport: MemoryTransport, probe: Probe) -> None:
        self.owner = owner
        self.wire = wire
        self.transport = transport
        self.probe = probe
        self.done = False  # the whole response was read
        self.finished = False

    def _event(self) -> Any:
        """The next h11 event, taking what the server wrote as needed; httpx's error for a response h11 refuses."""
        wire = self.wire
        try:
            while True:
                event = wire.next_event()
                if event is not h11.NEED_DATA:
                    return event
                data = self.transport.take()
                wire.receive_data(data if data is not None else b"")
        except h11.RemoteProtocolError as exc:
            # (Closed mid-body, an aborted stream, is one: the server logged why, and that is raised instead.)
            self.finish(wait=False)
            raise httpx.RemoteProtocolError(f"the server's response is not valid HTTP/1.1: {exc}") from exc

    def head(self) -> h11.Response:
        while True:
            event = self._event()
            if isinstance(event, h11.Response):
                return event
            if isinstance(event, h11.ConnectionClosed):
                self.finish(wait=False)
                raise httpx.RemoteProtocolError("the server closed the connection without sending a response")
            # (an InformationalResponse, such as 100 Continue, is not the answer)

    def __iter__(self) -> Iterator[bytes]:
        while not self.done:
            event = self._event()
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                self.done = True

    def close(self) -> None:
        self.finish(wait=self.done)

    def finish(self, wait: bool) -> None:
        """Close the connection; after a complete response, wait for its after-response work and raise what the
        app raised, as Starlette's client does."""
        if self.finished:
            return
        self.finished = True
        server = self.owner.server
        portal = server.portal
        if portal is not None:
            portal.call(server.finish(self.transport, self.probe, wait))
        if self.probe.errors and self.owner.raise_server_exceptions:
            raise self.probe.errors[0]


class TestClient(httpx.Client):
    """An ``httpx.Client`` that serves ``app`` in-process, as FastAPI's and Starlette's ``TestClient`` do.

    Args:
        app: the application.
        base_url: the URL requests are relative to; its host is the ``Host`` header, its scheme the request's.
        raise_server_exceptions: raise an exception the app did not handle in the test, instead of answering 500.
        root_path: where the app is mounted behind its proxy (the app's own ``root_path`` when empty).
        backend: ``"asyncio"`` (the only one: trio is not supported).
        backend_options: ``{"use_uvloop": True}`` runs the app on uvloop.
        cookies: cookies sent with every request (the jar also keeps those the app sets).
        headers: headers sent with every request.
        follow_redirects: follow redirects.
        client: the peer address the application sees (``request.client``).
        config: server limits and timeouts (CovetPy's own).
    """

    __test__ = False

    def __init__(
        self,
        app: Covet,
        base_url: str = "http://testserver",
        raise_server_exceptions: bool = True,
        root_path: str = "",
        backend: str = "asyncio",
        backend_options: dict[str, Any] | None = None,
        cookies: httpx._types.CookieTypes | None = None,
        headers: dict[str, str] | None = None,
        follow_redirects: bool = True,
        client: tuple[str, int] = ("testclient", 50000),
        *,
        config: Config | None = None,
    ) -> None:
        if backend != "asyncio":
            raise ValueError(f"TestClient backend {backend!r}: CovetPy runs on asyncio only (uvloop with "
                             "backend_options={'use_uvloop': True})")
        options = dict(backend_options or {})
        use_uvloop = bool(options.pop("use_uvloop", False))
        if options:
            raise ValueError(f"unknown TestClient backend_options {sorted(options)}: only 'use_uvloop' is supported")
        install_capture()
        self.app = app
        self.raise_server_exceptions = raise_server_exceptions
        self._server = InProcessServer(app, config, root_path, client, use_uvloop)
        headers = dict(headers or {})
        headers.setdefault("user-agent", "testclient")
        super().__init__(base_url=base_url, headers=headers, follow_redirects=follow_redirects, cookies=cookies,
                         transport=_Transport(self._server, raise_server_exceptions))
        # A client dropped without close() must not leave its loop's thread behind.
        weakref.finalize(self, self._server.drop)

    @property
    def config(self) -> Config:
        return self._server.config

    def __enter__(self) -> TestClient:
        try:
            self._server.startup()
        except BaseException:
            self._server.stop()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None = None, exc_value: BaseException | None = None,
                 traceback: TracebackType | None = None) -> None:
        try:
            self._server.shutdown()
        finally:
            self._server.stop()

    def websocket_connect(self, url: str, subprotocols: list[str] | None = None,
                          headers: dict[str, str] | None = None, timeout: float = 10.0) -> WebSocketTestSession:
        """Open a WebSocket to ``url`` through the application's own server code, in process (Starlette's
        ``websocket_connect``): use it in a ``with`` block. A refused upgrade raises ``WebSocketDisconnect`` (the
        handler closed before it accepted: its code) or ``WebSocketDenialResponse`` (an HTTP answer)."""
        from covet.testclient_ws import connect

        return connect(self, url, subprotocols, headers, timeout)

    def raw(self, data: bytes, *, responses: int = 1, timeout: float = 10.0, head: bool = False) -> list[RawResponse]:
        """Send raw bytes on a fresh connection; read ``responses`` responses (fewer if it closes).

        For wire-level tests: nothing checks ``data``, the responses are parsed loosely, and they are the server's
        answers as they are (an exception the app raised is a 500 here, not raised).
        """
        server = self._server
        portal = server.get_portal()
        transport = portal.call(server.connect(data, "http", ("testserver", 80), None, max(len(data), 1)))
        out: list[RawResponse] = []
        buf = bytearray()
        closed = False
        loop_time = portal.loop.time
        deadline = loop_time() + timeout
        try:
            while len(out) < responses:
                parsed = _parse_response(buf, head)
                if parsed is not None:
                    out.append(parsed[0])
                    del buf[: parsed[1]]
                    continue
                if closed:
                    if buf:
                        # A body delimited by the close (HTTP/1.0 streaming).
                        whole = bytes(buf)
                        hend = whole.find(b"\r\n\r\n")
                        if hend >= 0:
                            framed = b"\r\ncontent-length: %d\r\n\r\n" % (len(whole) - hend - 4)
                            resp = _parse_response(whole[:hend] + framed + whole[hend + 4:], head)
                            if resp is not None:
                                out.append(resp[0])
                    break
                remaining = deadline - loop_time()
                if remaining <= 0:
                    raise TimeoutError(f"no complete response within {timeout}s")
                try:
                    data_in = transport.take(remaining)
                except queue.Empty:
                    raise TimeoutError(f"no complete response within {timeout}s") from None
                if data_in is None:
                    closed = True
                else:
                    buf += data_in
        finally:
            portal.call(server.finish(transport, None, False))
        return out


@final
class RawResponse:
    """A response read back from the wire bytes by ``TestClient.raw``."""

    __test__ = False

    def __init__(self, status_code: int, reason: str, headers: list[tuple[str, str]], content: bytes,
                 raw: bytes) -> None:
        self.status_code = status_code
        self.reason = reason
        self.headers = httpx.Headers(headers)
        self.content = content
        self.raw = raw

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        import json

        return json.loads(self.content)

    def __repr__(self) -> str:
        return f"<RawResponse {self.status_code}>"


def _parse_response(buf: bytes | bytearray, is_head: bool) -> tuple[RawResponse, int] | None:
    """One response off the front of ``buf``, or None while incomplete."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buf[:end]).decode("latin-1").split("\r\n")
    _, status, *reason = head[0].split(" ", 2)
    headers = [(k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in head[1:])]
    lowered = {k.lower(): v for k, v in headers}
    pos = end + 4
    code = int(status)
    if is_head or code in (204, 304) or code < 200:
        body = b""
    elif "content-length" in lowered:
        n = int(lowered["content-length"])
        if len(buf) < pos + n:
            return None
        body = bytes(buf[pos:pos + n])
        pos += n
    elif lowered.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            line_end = buf.find(b"\r\n", pos)
            if line_end < 0:
                return None
            size = int(bytes(buf[pos:line_end]).split(b";")[0], 16)
            if len(buf) < line_end + 2 + size + 2:
                return None
            parts.append(bytes(buf[line_end + 2:line_end + 2 + size]))
            pos = line_end + 2 + size + 2
            if size == 0:
                break
        body = b"".join(parts)
    else:
        return None  # read to close: the caller waits for the close
    return RawResponse(code, reason[0] if reason else "", headers, body, bytes(buf[:pos])), pos
