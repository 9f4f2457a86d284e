"""The server side of the test client: the app's loop in its thread, and connections in memory.

Internal to ``covet.testclient``. ``InProcessServer`` holds what ``covet serve``
would: the server's state and an event loop (``Portal``, running in a daemon
thread); each request is a fresh ``AsyncioHTTP1`` connection over a
``MemoryTransport``, whose bytes the test's thread reads from a queue.

A request is fed to the server in a context where ``current_probe`` is set to
its ``Probe``: the server's callbacks, the tasks made for it and its thread-pool
calls run in copies of that context, so the probe collects the request's tasks
(the loop's task factory notes them) and the exceptions the runtime logs for it
(a handler on the ``covet`` logger reads them). Nothing of this touches the
server's own path: the factory and the handler are installed by a test client.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import logging
import queue
import threading
from collections.abc import Coroutine
from typing import Any, Final, TypeVar, final

from covet.app import Covet
from covet.requests import set_serving
from covet.runtime.asyncio_http1 import AsyncioHTTP1
from covet.runtime.asyncio_ws import AsyncioWS
from covet.runtime.config import Config
from covet.runtime.server import run_hooks
from covet.runtime.state import ServerState
from covet.runtime.threadpool import HandlerPool

__all__ = ["PIECE", "InProcessServer", "MemoryTransport", "Portal", "Probe", "current_probe", "install_capture"]

T = TypeVar("T")

# A request's body goes to the server in pieces this large, so that a server that pauses reading is obeyed.
PIECE: Final = 64 * 1024
# The response bytes the test has not read yet, past which the server is told to pause writing (and below which
# it resumes): an endless stream the test reads slowly holds bounded memory.
HIGH_WATER: Final = 256 * 1024
LOW_WATER: Final = 64 * 1024


# -- which request the loop is working for -------------------------------------------------------------------


@final
class Probe:
    """What one request of a test client left behind on the loop: its tasks, and the exceptions logged for it."""

    __slots__ = ("tasks", "errors")

    def __init__(self) -> None:
        self.tasks: list[asyncio.Task[Any]] = []
        self.errors: list[BaseException] = []


# Set in the context each request is fed to the server in: the server's callbacks, the handler's tasks and the
# thread-pool calls (run under a copy of that context) all see it.
current_probe: contextvars.ContextVar[Probe | None] = contextvars.ContextVar("covet_testclient_probe", default=None)


@final
class ErrorCapture(logging.Handler):
    """Reads back the exceptions the runtime logs (``covet.error`` and its siblings) for a test client's request."""

    def emit(self, record: logging.LogRecord) -> None:
        if _alone(self, record.name) and logging.lastResort is not None and record.levelno >= logging.lastResort.level:
            # Logging found no other handler: it would have printed the record with its last resort, had this
            # handler not been there. Print it the same.
            logging.lastResort.handle(record)
        probe = current_probe.get()
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


_capture: Final = ErrorCapture()


def install_capture() -> None:
    """Put the capture on the ``covet`` logger, again if a logging configuration replaced its handlers since."""
    logger = logging.getLogger("covet")
    if _capture not in logger.handlers:
        logger.addHandler(_capture)  # (addHandler takes logging's lock, and adds a handler once)


def track_tasks(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> Any:
    """The loop's task factory: a task made for a request is noted on its probe, so the request can wait for the
    ones the server tracks (a handler's, a stream's, its after-response work).

    ``kwargs`` are create_task's (``context`` on 3.11; ``name`` and more on later Pythons), passed on.
    """
    task: asyncio.Task[Any] = asyncio.Task(coro, loop=loop, **kwargs)
    context: contextvars.Context | None = kwargs.get("context")
    probe = context.get(current_probe) if context is not None else current_probe.get()
    if probe is not None:
        probe.tasks.append(task)
    return task


# -- the loop in its thread -------------------------------------------------------------------------------------


@final
class Portal:
    """One event loop running in a daemon thread; other threads hand it coroutines and wait for their results."""

    def __init__(self, use_uvloop: bool) -> None:
        if use_uvloop:
            import uvloop

            self.loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
        else:
            self.loop = asyncio.new_event_loop()
        self.loop.set_task_factory(track_tasks)
        self.pool = HandlerPool()
        self.loop.set_default_executor(self.pool)  # the pool `def` handlers run in under `covet serve`
        self.thread = threading.Thread(target=self._run, name="covet-testclient", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        loop = self.loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
            loop.run_until_complete(cancel_all())
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

    def stop(self, wait: bool = True) -> None:
        """Stop the loop; with ``wait``, return once its thread has cancelled what was left and closed it (unless
        called from that thread or its pool, which the closing waits for)."""
        if self.thread.is_alive():
            self.soon(self.loop.stop)
            here = threading.current_thread()
            if wait and here is not self.thread and here not in getattr(self.pool, "_threads", ()):
                self.thread.join()


async def cancel_all() -> None:
    """What the app left running when the client closes is cancelled, as a server's shutdown cancels it."""
    current = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not current]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


# -- one connection in memory ----------------------------------------------------------------------------------


class MemoryTransport(asyncio.Transport):
    """The server's side of an in-memory connection: what it writes is queued for the test's thread to read."""

    def __init__(self, conn: AsyncioHTTP1, peer: tuple[str, int], sock: tuple[str, int], portal: Portal) -> None:
        super().__init__()
        self.conn: AsyncioHTTP1 | AsyncioWS = conn
        self.portal = portal
        self.out: queue.Queue[bytes | None] = queue.Queue()  # None: the server closed the connection
        self.closed = False
        self.reading = True
        self.paused = False  # the server was told to pause writing
        self.written = 0  # bytes queued (the loop's thread counts them)
        self.taken = 0  # bytes the test took (the test's thread counts them)
        self.feeding: Feed | None = None
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

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        """A WebSocket's 101: what arrives from now on goes to its protocol (``AsyncioWS``)."""
        if not isinstance(protocol, (AsyncioHTTP1, AsyncioWS)):
            raise TypeError(f"an in-memory connection carries HTTP/1.1 or a WebSocket, not {protocol!r}")
        self.conn = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self.conn

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
class Feed:
    """A request's bytes, given to the server's ``data_received`` from plain callbacks (outside any Task, as a real
    transport calls it), in ``PIECE``-sized pieces while the server reads."""

    def __init__(self, transport: MemoryTransport, data: bytes, piece: int, ctx: contextvars.Context) -> None:
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


@final
class InProcessServer:
    """The application as a test client serves it: the server's state and config, and the loop it runs on."""

    def __init__(self, app: Covet, config: Config | None, root_path: str, peer: tuple[str, int],
                 use_uvloop: bool) -> None:
        self.app = app
        if config is None:
            config = Config(server_header=app.server_header, root_path=root_path or app.root_path)
        elif root_path:
            config = dataclasses.replace(config, root_path=root_path)
        self.config = config
        self.peer = peer
        self.use_uvloop = use_uvloop
        self.lock = threading.Lock()
        self.portal: Portal | None = None
        self.state: ServerState | None = None

    def get_portal(self) -> Portal:
        with self.lock:
            if self.portal is None:
                self.portal = Portal(self.use_uvloop)
            return self.portal

    def get_state(self) -> ServerState:
        """The server's state, made on the loop on first use (the routes are planned then)."""
        if self.state is not None and self.state.dispatcher is not self.app.dispatcher():
            # The application changed since (``app.dependency_overrides`` set, say): serve its new plan.
            self.state.dispatcher = self.app.dispatcher()
        if self.state is None:
            state = ServerState(self.app.dispatcher(), self.config)
            state.ws_origins = self.app.websocket_origins
            if self.config.metrics:  # counted as `covet serve --metrics` counts, from zero for each client
                from covet._native import AccessLog
                from covet.metrics import open_metrics

                state.access = AccessLog(metrics=open_metrics(fresh=True), store=False)
                state.metered = True
            self.state = state
            asyncio.get_running_loop().call_later(1.0, self._tick)
        return self.state

    def _tick(self) -> None:
        """Once a second, as the server's ticker: the Date header, and the timeouts of connections and bodies."""
        state = self.state
        if state is None:
            return
        asyncio.get_running_loop().call_later(1.0, self._tick)
        state.clock.update()
        now = state.clock.now
        for conn in list(state.connections):
            conn.tick(now)
        state.tick_bodies(now)

    async def connect(self, data: bytes, scheme: str, sock: tuple[str, int], probe: Probe | None,
                      piece: int) -> MemoryTransport:
        """A fresh connection with ``data`` arriving on it, fed in the context ``probe`` is set in."""
        set_serving(self.app)  # request.app, when clients of different applications take turns
        state = self.get_state()
        portal = self.portal
        assert portal is not None
        conn = AsyncioHTTP1(state)
        transport = MemoryTransport(conn, self.peer, sock, portal)
        state.scheme = scheme  # (read once, by connection_made: each connection gets its URL's scheme)
        conn.connection_made(transport)
        ctx = contextvars.copy_context()
        ctx.run(current_probe.set, probe)
        transport.feeding = feed = Feed(transport, data, piece, ctx)
        feed.schedule()
        return transport

    async def finish(self, transport: MemoryTransport, probe: Probe | None, wait: bool) -> None:
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

    def stop(self, wait: bool = True) -> None:
        with self.lock:
            portal, self.portal = self.portal, None
        if portal is not None:
            portal.stop(wait)
        self.state = None

    def drop(self) -> None:
        """The client was garbage-collected without close(): stop its loop, waiting for nothing (the collection
        may run in any thread, the loop's pool too)."""
        self.stop(wait=False)
