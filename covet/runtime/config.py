"""Server settings: limits and timeouts, each with the status it answers."""

from __future__ import annotations

import dataclasses
from typing import final

__all__ = ["Config"]


@final
@dataclasses.dataclass(frozen=True)
class Config:
    """Limits and timeouts of one server.

    Attributes:
        max_target: longest request target, in bytes (414 past it).
        max_header_bytes: largest header section (431 past it).
        max_headers: most header fields (431 past it).
        max_body: largest request body held in memory, in bytes (413 past it, except below).
        max_upload: largest request body a route that reads a stream (form or file parameters, or the
            ``Request``) gets; past ``max_body`` it arrives in pieces, never whole in memory (413 past it).
        body_buffer: most bytes of streamed bodies held unread, all connections together; past it, each
            connection stops reading as soon as it has anything unread.
        header_timeout: seconds a client may take to send its header section (408).
        body_timeout: seconds a client may take to send a body once its head arrived (408); for a body
            past ``max_body``, the longest it may pause.
        keepalive_timeout: seconds an idle keep-alive connection stays open.
        write_timeout: seconds a client may leave a response unread before it is dropped.
        graceful_timeout: seconds shutdown waits for in-flight requests.
        max_pipeline: requests queued on one connection behind a running handler
            before the server stops reading from it.
        server_header: the ``Server`` header value, or None for none.
        date_header: whether responses carry a ``Date`` header.
        proxy_headers: whether a trusted peer's ``X-Forwarded-*`` and ``Forwarded`` headers set the client, scheme
            and host (``covet/runtime/proxy.py``).
        forwarded_allow_ips: the peers trusted with them: comma-separated addresses and networks, ``*`` for all;
            None reads ``$FORWARDED_ALLOW_IPS``, else 127.0.0.1.
        root_path: where the application is mounted behind its proxy (ASGI's ``root_path``).
        limit_concurrency: most open connections (and so requests in flight); past it, requests get 503. None:
            no limit.
        access_log: the access log's format, ``"line"`` (uvicorn's) or ``"json"``; None for no access log.
        request_id_header: responses carry the request id back (``x-request-id``); see docs/logging.md.
        metrics: count every response for Prometheus (``covet.metrics``; docs/metrics.md).
        threads: the thread pool's size: most ``def`` handlers, ``def`` dependencies and sync background tasks
            running at once (anyio's default under FastAPI is 40 too); the rest wait their turn.
        loop_watchdog: seconds the event loop may be held by one piece of code before a warning names it
            (``covet.runtime.watchdog``); 0 turns the watchdog off.
        ws_max_size: largest WebSocket message, in bytes (the connection closes with 1009 past it).
        ws_max_queue: WebSocket messages received and not yet read by the handler before reading stops.
        ws_ping_interval: seconds of silence from a WebSocket peer before a keep-alive ping; 0: none.
        ws_ping_timeout: seconds a keep-alive ping may go unanswered before the connection closes (1011).
        ws_per_message_deflate: agree to permessage-deflate when a client offers it (docs/websockets.md).
    """

    max_target: int = 8192
    max_header_bytes: int = 65536
    max_headers: int = 100
    max_body: int = 1 << 20
    max_upload: int = 100 << 20
    body_buffer: int = 64 << 20
    header_timeout: float = 10.0
    body_timeout: float = 60.0
    keepalive_timeout: float = 5.0
    write_timeout: float = 60.0
    graceful_timeout: float = 10.0
    max_pipeline: int = 64
    server_header: str | None = "covet"
    date_header: bool = True
    proxy_headers: bool = True
    forwarded_allow_ips: str | None = None
    root_path: str = ""
    limit_concurrency: int | None = None
    access_log: str | None = None
    request_id_header: bool = False
    metrics: bool = False
    threads: int = 40
    loop_watchdog: float = 0.5
    ws_max_size: int = 16 << 20
    ws_max_queue: int = 32
    ws_ping_interval: float = 20.0
    ws_ping_timeout: float = 20.0
    ws_per_message_deflate: bool = True
