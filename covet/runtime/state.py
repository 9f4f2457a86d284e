"""What every connection of one server shares, whatever its transport and protocol."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from covet._native import AccessLog, Metrics, Parser
from covet.responses import StreamingResponse
from covet.runtime.body import BodyBudget, RequestBody, content_length
from covet.runtime.clock import Clock
from covet.runtime.config import Config
from covet.runtime.dispatch import Dispatcher
from covet.runtime.encode import Reply
from covet.runtime.exits import AfterReply
from covet.runtime.proxy import Front, Trust
from covet.runtime.resume import EagerTask
from covet.runtime.ws_session import WSConfig

__all__ = ["Connection", "ServerState"]

log = logging.getLogger("covet.server")


async def _guarded(after: Callable[[], Awaitable[None]]) -> None:
    try:
        await after()
    except Exception:
        log.exception("work after the response failed")


class Connection(Protocol):
    """What the server's ticker and shutdown ask of a connection it tracks (the asyncio transports')."""

    def tick(self, now: float, /) -> None: ...

    def shutdown(self) -> None: ...

    def quiet(self) -> bool: ...

    def abort(self) -> None: ...


class ServerState:
    """The routes, limits, clock, running tasks and streamed bodies of one server."""

    def __init__(self, dispatcher: Dispatcher, config: Config) -> None:
        self.dispatcher = dispatcher
        self.config = config
        self.clock = Clock(config.server_header, config.date_header)
        # Behind a proxy: who is believed, where the app is mounted; ``forwarding`` when requests must carry their
        # headers to their ConnectionInfo (read only if the route looks).
        trust = Trust.from_option(config.forwarded_allow_ips) if config.proxy_headers else None
        self.front = Front(trust, config.root_path)
        self.forwarding = trust is not None
        # --limit-concurrency: past this many open connections, requests are refused with 503 (an HTTP/1.1
        # connection carries at most one request in flight, so this bounds those too). PERF: "no limit" is the largest
        # int mypyc keeps unboxed (2**62 - 1); 1 << 62 was boxed, and every request's comparison took the slow path.
        self.max_connections: int = config.limit_concurrency if config.limit_concurrency else (1 << 62) - 1
        self.connections: set[Connection] = set()  # the asyncio transports' (the io_uring core counts its own)
        self.closing = False
        self.tasks: set[asyncio.Task[Any]] = set()
        self.bodies: set[RequestBody] = set()  # streamed request bodies not ended yet
        self.budget = BodyBudget(config.body_buffer)  # what they hold unread, together
        self.scheme = "http"  # "https" when the listener speaks TLS (ConnectionInfo.scheme)
        self.requests = 0  # requests of the asyncio transports, counted by their ticks (not per request)
        # How many requests were served so far: the io_uring core counts its own, and replaces this.
        self.served: Callable[[], int] = self.counted
        self.access: AccessLog | None = None  # the access log's buffer, when it is on (runtime/accesslog.py)
        self.echo_id = False  # responses carry the request id (``access`` is set then too)
        self.metered = False  # --metrics: ``access`` counts each response too (covet/metrics.py)
        self.metrics: Metrics | None = None  # and these are the counts (a gRPC call's status is counted apart)
        self.ws_config = WSConfig(config.ws_max_size, config.ws_max_queue, config.ws_ping_interval,
                                  config.ws_ping_timeout, deflate=config.ws_per_message_deflate)
        # The stand-in for the current task during async handlers' first steps (runtime/resume.py), reused while
        # nothing asks anything of it.
        self.eager = EagerTask()
        # The loop the server runs on (asyncio.get_running_loop() costs ~0.15 us a call); None when the state is
        # made outside one (a test), then asked for each time.
        try:
            self.loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self.loop = None
        # The Origin values a WebSocket handshake may carry (the application's websocket_origins); None: any.
        self.ws_origins: frozenset[str] | None = None
        # The gRPC methods the application serves ("/package.Service/Method" -> grpclib's Handler); None: none, and
        # application/grpc requests go to the routes like any other.
        self.grpc: dict[str, Any] | None = None

    def counted(self) -> int:
        return self.requests

    def unwrap(self, reply: Reply) -> Reply:
        """The reply to send; the work an ``AfterReply`` carries is scheduled to run once it is sent."""
        if type(reply) is not AfterReply:
            return reply
        inner: Reply = reply.reply
        if isinstance(inner, StreamingResponse):
            inner.after = reply.after  # run when the stream ends (Exchange._stream_done)
        else:
            # A task runs on a later turn of the loop: after the caller has written the response.
            self.run_after(reply.after)
        return inner

    def running_loop(self) -> asyncio.AbstractEventLoop:
        """The loop the server runs on; asked of asyncio (a getpid() system call each time) only when the state was
        made outside one."""
        loop = self.loop
        return loop if loop is not None else asyncio.get_running_loop()

    def run_after(self, after: Callable[[], Awaitable[None]]) -> None:
        task = self.running_loop().create_task(_guarded(after))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def new_parser(self) -> Parser:
        c = self.config
        return Parser(
            max_target=c.max_target,
            max_header_bytes=c.max_header_bytes,
            max_headers=c.max_headers,
            max_body=c.max_body,
            max_stream_body=c.max_upload,
        )

    def open_body(self, headers: list[tuple[str, str]], resume: Callable[[], None],
                  stop: Callable[[], None], limit: int = -1) -> RequestBody:
        """A streamed request body, watched by ``tick_bodies`` until it ends; ``limit``: the route's
        max_body_size (-1: none)."""
        body = RequestBody(content_length(headers), self.config.max_body, resume, stop, self.budget, limit)
        self.bodies.add(body)
        return body

    def tick_bodies(self, now: float) -> None:
        """Once a second: a streamed body that stopped arriving fails (408)."""
        if not self.bodies:
            return
        timeout = self.config.body_timeout
        for body in list(self.bodies):
            if body.done:
                self.bodies.discard(body)
            else:
                body.tick(now, timeout)
