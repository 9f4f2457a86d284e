"""An in-process test client: the real parser and dispatch, no socket.

``TestClient`` writes each request as HTTP/1.1 bytes into the same
``AsyncioHTTP1`` connection the server uses, over an in-memory transport, and reads
the response bytes back.  Use it as a context manager to run the
application's start-up and shutdown hooks.
"""

from __future__ import annotations

import asyncio
import json as _json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from covet.app import Covet
from covet.requests import Headers, set_serving
from covet.runtime.asyncio_http1 import AsyncioHTTP1
from covet.runtime.config import Config
from covet.runtime.server import run_hooks
from covet.runtime.state import ServerState

__all__ = ["TestClient", "TestResponse"]


class TestResponse:
    """A response read back from the wire bytes."""

    __test__ = False

    def __init__(self, status_code: int, reason: str, headers: list[tuple[str, str]], content: bytes,
                 raw: bytes) -> None:
        self.status_code = status_code
        self.reason = reason
        self.headers = Headers([(k.lower(), v) for k, v in headers])
        self.content = content
        self.raw = raw

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return _json.loads(self.content)

    def __repr__(self) -> str:
        return f"<TestResponse {self.status_code}>"


class _MemoryTransport(asyncio.Transport):
    def __init__(self, client: tuple[str, int]) -> None:
        super().__init__()
        self.buffer = bytearray()
        self.closed = False
        self.changed: asyncio.Event = asyncio.Event()
        self._client = client

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.closed:
            return
        self.buffer += data
        self.changed.set()

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def close(self) -> None:
        self.closed = True
        self.changed.set()

    def abort(self) -> None:
        self.close()

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "peername":
            return self._client
        if name == "sockname":
            return ("testserver", 80)
        return default

    def can_write_eof(self) -> bool:
        return False

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def _parse_response(buf: bytes | bytearray, is_head: bool) -> tuple[TestResponse, int] | None:
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
    return TestResponse(code, reason[0] if reason else "", headers, body, bytes(buf[:pos])), pos


class TestClient:
    """Drive an application in-process.

    Args:
        app: the application.
        config: server limits and timeouts.
        client: the peer address the application sees.
    """

    __test__ = False

    def __init__(self, app: Covet, *, config: Config | None = None,
                 client: tuple[str, int] = ("testclient", 50000)) -> None:
        self.app = app
        self.config = config or Config(server_header=app.server_header, root_path=app.root_path)
        self.client = client
        self._loop: asyncio.AbstractEventLoop | None = None
        self._state: ServerState | None = None

    def __enter__(self) -> TestClient:
        loop = self._get_loop()
        loop.run_until_complete(run_hooks(self.app.startup_hooks))
        return self

    def __exit__(self, *exc: object) -> None:
        loop = self._get_loop()
        loop.run_until_complete(run_hooks(self.app.shutdown_hooks))
        loop.close()
        self._loop = None

    def _get_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        return self._loop

    def _get_state(self) -> ServerState:
        if self._state is None:
            self._state = ServerState(self.app.dispatcher(), self.config)
            if self.config.metrics:  # counted as `covet serve --metrics` counts, from zero for each client
                from covet._native import AccessLog
                from covet.metrics import open_metrics

                self._state.access = AccessLog(metrics=open_metrics(fresh=True), store=False)
                self._state.metered = True
        return self._state

    def raw(self, data: bytes, *, responses: int = 1, timeout: float = 10.0, head: bool = False) -> list[TestResponse]:
        """Send raw bytes on a fresh connection; read ``responses`` responses (fewer if it closes)."""
        return self._get_loop().run_until_complete(self._exchange(data, responses, timeout, head))

    async def _exchange(self, data: bytes, count: int, timeout: float, head: bool) -> list[TestResponse]:
        set_serving(self.app)  # request.app, when several clients of different applications take turns
        transport = _MemoryTransport(self.client)
        conn = AsyncioHTTP1(self._get_state())
        conn.connection_made(transport)
        loop = asyncio.get_running_loop()
        # From a plain callback, as a real transport would call it: outside any Task.
        loop.call_soon(conn.data_received, data)
        out: list[TestResponse] = []
        deadline = loop.time() + timeout
        while len(out) < count:
            parsed = _parse_response(transport.buffer, head)
            if parsed is not None:
                out.append(parsed[0])
                del transport.buffer[: parsed[1]]
                continue
            if transport.closed:
                if transport.buffer:
                    # A body delimited by the close (HTTP/1.0 streaming).
                    buf = bytes(transport.buffer)
                    hend = buf.find(b"\r\n\r\n")
                    if hend >= 0:
                        framed = b"\r\ncontent-length: %d\r\n\r\n" % (len(buf) - hend - 4)
                        resp = _parse_response(buf[:hend] + framed + buf[hend + 4:], head)
                        if resp is not None:
                            out.append(resp[0])
                break
            transport.changed.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"no complete response within {timeout}s")
            try:
                await asyncio.wait_for(transport.changed.wait(), remaining)
            except TimeoutError:
                raise TimeoutError(f"no complete response within {timeout}s") from None
        if not transport.closed:
            conn.connection_lost(None)
        return out

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
        cookies: Mapping[str, str] | None = None,
        content: bytes | str | None = None,
        json: Any = None,
    ) -> TestResponse:
        """Send one request and return its response."""
        target = url
        if params:
            target += ("&" if "?" in url else "?") + urlencode(params, doseq=True)
        hdrs: dict[str, str] = {"host": "testserver", "user-agent": "covet-testclient"}
        for k, v in (headers or {}).items():
            hdrs[k.lower()] = v
        if cookies:
            hdrs["cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        body = b""
        if json is not None:
            body = _json.dumps(json).encode()
            hdrs.setdefault("content-type", "application/json")
        elif content is not None:
            body = content.encode() if isinstance(content, str) else content
        if body or method.upper() in ("POST", "PUT", "PATCH"):
            hdrs["content-length"] = str(len(body))
        lines = [f"{method.upper()} {target} HTTP/1.1"] + [f"{k}: {v}" for k, v in hdrs.items()]
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        got = self.raw(raw, head=method.upper() == "HEAD")
        if not got:
            raise ConnectionError("the server closed the connection without a response")
        return got[0]

    def get(self, url: str, **kw: Any) -> TestResponse:
        return self.request("GET", url, **kw)

    def head(self, url: str, **kw: Any) -> TestResponse:
        return self.request("HEAD", url, **kw)

    def options(self, url: str, **kw: Any) -> TestResponse:
        return self.request("OPTIONS", url, **kw)

    def post(self, url: str, **kw: Any) -> TestResponse:
        return self.request("POST", url, **kw)

    def put(self, url: str, **kw: Any) -> TestResponse:
        return self.request("PUT", url, **kw)

    def patch(self, url: str, **kw: Any) -> TestResponse:
        return self.request("PATCH", url, **kw)

    def delete(self, url: str, **kw: Any) -> TestResponse:
        return self.request("DELETE", url, **kw)
