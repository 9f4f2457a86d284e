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

import asyncio
import contextvars
import logging
import queue
import threading
import weakref
from collections.abc import Coroutine, Iterator
from types import TracebackType
from typing import Any, Final, TypeVar, final

try:
    import h11
    import httpx
except ImportError as exc:  # pragma: no cover - the test extra brings both
    raise ImportError(
        "covet.testclient needs httpx (which brings h11): pip install httpx, or pip install 'covet[testing]'"
    ) from exc

from covet.app import Covet
from covet.runtime.asyncio_http1 import AsyncioHTTP1
from covet.runtime.config import Config
from covet.runtime.server import run_hooks
from covet.runtime.state import ServerState
from covet.runtime.threadpool import HandlerPool

__all__ = ["TestClient", "RawResponse"]

T = TypeVar("T")

# A request's body goes to the server in pieces this large, so that a server that pauses reading is obeyed.
PIECE: Final = 64 * 1024
# The response bytes the test has not read yet, past which the server is told to pause writing (and below which
# it resumes): an endless stream the test reads slowly holds bounded memory.
HIGH_WATER: Final = 256 * 1024
LOW_WATER: Final = 64 * 1024


# -- which request the loop is working for -------------------------------------------------------------------


@final
class _Probe:
    """What one request of a test client left behind on the loop: its tasks, and the exceptions logged for it."""

    __slots__ = ("tasks", "errors")

    def __init__(self) -> None:
        self.tasks: list[asyncio.Task[Any]] = []
        self.errors: list[BaseException] = []


# Set in the context each request is fed to the server in: the server's callbacks, the handler's tasks and the
# thread-pool calls (run under a copy of that context) all see it.
_probe: contextvars.ContextVar[_Probe | None] = contextvars.ContextVar("covet_testclient_probe", default=None)


@final
class _ErrorCapture(logging.Handler):
    """Reads back the exceptions the runtime logs (``covet.error`` and its siblings) for a test client's request."""

    def emit(self, record: logging.LogRecord) -> None:
        if _alone(self, record.name) and logging.lastResort is not None and record.levelno >= logging.lastResort.level:
            # Logging found no other handler: it would have printed the record with its last resort, had this
            # handler not been there. Print it the same.
            logging.lastResort.handle(record)
        probe = _probe.get()
        if probe is None or record.levelno < logging.ERROR or not record.exc_info:
            return
        exc = record.exc_info[1]
        if exc is not None:
            probe.errors.append(exc)


def _alone(handler: logging.Handler, name: str) -> bool:
    """Whether ``handler`` is the only one a record of logger ``name`` reaches."""
    logger: logging.Logger | None = logging.getLogger(name)
    while logger is not None:
        if any(h is not handler for h in logger.handlers):
            return False
        logger = logger.parent if logger.propagate else None
    return True


_capture_lock = threading.Lock()
_capture: list[_ErrorCapture] = []


def _install_capture() -> None:
    with _capture_lock:
        if not _capture:
            _capture.append(_ErrorCapture())
            logging.getLogger("covet").addHandler(_capture[0])


def _track_tasks(loop: asyncio.AbstractEventLoop, coro: Any, *, context: contextvars.Context | None = None) -> Any:
    """The loop's task factory: a task made for a request is noted on its probe, so the request can wait for the
    ones the server tracks (a handler's, a stream's, its after-response work)."""
    task: asyncio.Task[Any] = asyncio.Task(coro, loop=loop, context=context)
    probe = context.get(_probe) if context is not None else _probe.get()
    if probe is not None:
        probe.tasks.append(task)
    return task


# -- the loop in its thread -------------------------------------------------------------------------------------


@final
class _Portal:
    """One event loop running in a daemon thread; other threads hand it coroutines and wait for their results."""

    def __init__(self, use_uvloop: bool) -> None:
        if use_uvloop:
            import uvloop

            self.loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
        else:
            self.loop = asyncio.new_event_loop()
        self.loop.set_task_factory(_track_tasks)
        self.loop.set_default_executor(HandlerPool())  # the pool `def` handlers run in under `covet serve`
        self.thread = threading.Thread(target=self._run, name="covet-testclient", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        loop = self.loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
            loop.run_until_complete(_cancel_all())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        if threading.current_thread() is self.thread:
            coro.close()
            raise RuntimeError("a TestClient cannot be used from its application's own event loop (it would wait "
                               "for itself): call it from the test, or from another thread")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def soon(self, fn: Any, *args: Any) -> None:
        """Run ``fn(*args)`` on the loop, unless it has stopped."""
        try:
            self.loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop is closed: nothing is left to tell
            pass

    def stop(self) -> None:
        if self.thread.is_alive():
            self.soon(self.loop.stop)
            if threading.current_thread() is not self.thread:
                self.thread.join()


async def _cancel_all() -> None:
    """What the app left running when the client closes is cancelled, as a server's shutdown cancels it."""
    current = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not current]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


# -- one connection in memory ----------------------------------------------------------------------------------


class _MemoryTransport(asyncio.Transport):
    """The server's side of an in-memory connection: what it writes is queued for the test's thread to read."""

    def __init__(self, conn: AsyncioHTTP1, peer: tuple[str, int], sock: tuple[str, int], portal: _Portal) -> None:
        super().__init__()
        self.conn = conn
        self.portal = portal
        self.out: queue.Queue[bytes | None] = queue.Queue()  # None: the server closed the connection
        self.closed = False
        self.reading = True
        self.paused = False  # the server was told to pause writing
        self.written = 0  # bytes queued (the loop's thread counts them)
        self.taken = 0  # bytes the test took (the test's thread counts them)
        self.feeding: _Feed | None = None
        self._peer = peer
        self._sock = sock

    # What the server calls, on the loop.

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.closed:
            return
        self.written += len(data)
        if not self.paused and self.written - self.taken > HIGH_WATER:
            self.paused = True  # (before the bytes are queued: the reader that takes them sees it)
            self.conn.pause_writing()
        self.out.put(bytes(data))

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.out.put(None)
        # As an asyncio transport does: the protocol hears of the close on a later turn of the loop.
        asyncio.get_running_loop().call_soon(self.conn.connection_lost, None)

    def abort(self) -> None:
        self.close()

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "peername":
            return self._peer
        if name == "sockname":
            return self._sock
        return default

    def get_write_buffer_size(self) -> int:
        return 0

    def can_write_eof(self) -> bool:
        return False

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True
        feed = self.feeding
        if feed is not None:
            feed.schedule()

    # What the test's thread calls.

    def take(self, timeout: float | None = None) -> bytes | None:
        """The next bytes the server wrote; None once it closed. Raises ``queue.Empty`` past ``timeout``."""
        data = self.out.get(timeout=timeout)
        if data is not None:
            self.taken += len(data)
            if self.paused and self.written - self.taken < LOW_WATER:
                self.portal.soon(self._resume)
        return data

    def _resume(self) -> None:
        if self.paused and not self.closed and self.written - self.taken < LOW_WATER:
            self.paused = False
            self.conn.resume_writing()


@final
class _Feed:
    """A request's bytes, given to the server's ``data_received`` from plain callbacks (outside any Task, as a real
    transport calls it), in ``PIECE``-sized pieces while the server reads."""

    def __init__(self, transport: _MemoryTransport, data: bytes, piece: int, ctx: contextvars.Context) -> None:
        self.transport = transport
        self.data = data
        self.piece = piece
        self.pos = 0
        self.ctx = ctx
        self.scheduled = False

    def schedule(self) -> None:
        if not self.scheduled:
            self.scheduled = True
            asyncio.get_running_loop().call_soon(self._next, context=self.ctx)

    def _next(self) -> None:
        self.scheduled = False
        transport = self.transport
        if transport.closed or transport.conn.closed:
            transport.feeding = None
            return
        if not transport.reading:
            return  # resume_reading() schedules the rest
        end = self.pos + self.piece
        piece = self.data[self.pos:end]
        self.pos = end
        if self.pos >= len(self.data):
            transport.feeding = None
        else:
            self.schedule()
        transport.conn.data_received(piece)


# -- the client ------------------------------------------------------------------------------------------------


@final
class _Server:
    """The application as the client serves it: its state, its loop, and whether its lifespan is running."""

    def __init__(self, app: Covet, config: Config | None, root_path: str, peer: tuple[str, int],
                 use_uvloop: bool) -> None:
        self.app = app
        self.config = config or Config(server_header=app.server_header, root_path=root_path or app.root_path)
        self.peer = peer
        self.use_uvloop = use_uvloop
        self.lock = threading.Lock()
        self.portal: _Portal | None = None
        self.state: ServerState | None = None

    def get_portal(self) -> _Portal:
        with self.lock:
            if self.portal is None:
                self.portal = _Portal(self.use_uvloop)
            return self.portal

    def get_state(self) -> ServerState:
        """The server's state, made on the loop on first use (the routes are planned then)."""
        if self.state is None:
            state = ServerState(self.app.dispatcher(), self.config)
            if self.config.metrics:  # counted as `covet serve --metrics` counts, from zero for each client
                from covet._native import AccessLog
                from covet.metrics import open_metrics

                state.access = AccessLog(metrics=open_metrics(fresh=True), store=False)
                state.metered = True
            self.state = state
        return self.state

    async def connect(self, data: bytes, scheme: str, sock: tuple[str, int], probe: _Probe | None,
                      piece: int) -> _MemoryTransport:
        """A fresh connection with ``data`` arriving on it, fed in the context ``probe`` is set in."""
        state = self.get_state()
        portal = self.portal
        assert portal is not None
        conn = AsyncioHTTP1(state)
        transport = _MemoryTransport(conn, self.peer, sock, portal)
        state.scheme = scheme  # (read once, by connection_made: each connection gets its URL's scheme)
        conn.connection_made(transport)
        ctx = contextvars.copy_context()
        ctx.run(_probe.set, probe)
        transport.feeding = feed = _Feed(transport, data, piece, ctx)
        feed.schedule()
        return transport

    async def finish(self, transport: _MemoryTransport, probe: _Probe | None, wait: bool) -> None:
        """Close the connection; with ``wait``, once the request's tracked tasks (its after-response work) end."""
        transport.close()
        if not wait or probe is None:
            return
        await asyncio.sleep(0)  # (connection_lost, and callbacks already due)
        state = self.get_state()
        while True:
            probe.tasks = [t for t in probe.tasks if not t.done()]
            pending = [t for t in probe.tasks if t in state.tasks]
            if not pending:
                return
            await asyncio.wait(pending)

    def startup(self) -> None:
        self.get_portal().call(run_hooks(self.app.startup_hooks))

    def shutdown(self) -> None:
        self.get_portal().call(run_hooks(self.app.shutdown_hooks))

    def stop(self) -> None:
        with self.lock:
            portal, self.portal = self.portal, None
        if portal is not None:
            portal.stop()
        self.state = None


@final
class _Transport(httpx.BaseTransport):
    """httpx's way to the server: each request on a fresh in-memory HTTP/1.1 connection."""

    def __init__(self, server: _Server, raise_server_exceptions: bool) -> None:
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
        url = request.url
        port = url.port or (443 if url.scheme == "https" else 80)
        server = self.server
        portal = server.get_portal()
        probe = _Probe()
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

    def __init__(self, owner: _Transport, wire: h11.Connection, transport: _MemoryTransport, probe: _Probe) -> None:
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
        _install_capture()
        self.app = app
        self._server = _Server(app, config, root_path, client, use_uvloop)
        headers = dict(headers or {})
        headers.setdefault("user-agent", "testclient")
        super().__init__(base_url=base_url, headers=headers, follow_redirects=follow_redirects, cookies=cookies,
                         transport=_Transport(self._server, raise_server_exceptions))
        # A client dropped without close() must not leave its loop's thread behind.
        weakref.finalize(self, self._server.stop)

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

    def raw(self, data: bytes, *, responses: int = 1, timeout: float = 10.0, head: bool = False) -> list[RawResponse]:
        """Send raw bytes on a fresh connection; read ``responses`` responses (fewer if it closes).

        For wire-level tests: nothing checks ``data``, and the responses are parsed loosely.
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
