"""The access-log record of one response an exchange sends, whatever protocol carries it.

A channel (``h1_response.H1Channel``, ``h2_session.H2Channel``) inherits this: ``logs`` is told the request when the
channel is made, and the response is recorded once, when it is answered or ends however it ends.
"""

from __future__ import annotations

from typing import Final

from covet._native import AccessLog
from covet.runtime.body import RequestBody
from covet.runtime.clock import Clock

__all__ = ["AccessRecord", "HTTP2", "id_line"]

HTTP2: Final = 2
"""The ``minor`` an HTTP/2 response is recorded with (the log writes ``HTTP/2``; ``native/accesslog.c``)."""


def id_line(rid: str) -> bytes:
    """The ``x-request-id`` line of a response (the id is sane ASCII: ``AccessLog.request_id``)."""
    return b"x-request-id: " + rid.encode("ascii") + b"\r\n"


class AccessRecord:
    """One response's record in the access log, kept by the channel that sends it."""

    __slots__ = ("clock", "is_head", "minor", "access", "client", "method", "path", "query", "headers", "began",
                 "status", "sent", "extra", "route", "received", "body")

    def __init__(self, clock: Clock, is_head: bool, minor: int) -> None:
        self.clock = clock
        self.is_head = is_head
        self.minor = minor  # 0 or 1: HTTP/1.<minor>; HTTP2
        # The access log's record of this response (``logs``): made once, when it ends however it ends.
        self.access: AccessLog | None = None
        self.client: tuple[str, int] | None = None
        self.method = ""
        self.path = ""
        self.query = ""
        self.headers: list[tuple[str, str]] | str | None = None  # (or the request id, when it is echoed)
        self.began = 0
        self.status = 0  # of a streamed response's head, once sent
        self.sent = 0  # body bytes of a streamed response queued so far
        self.extra = b""  # head lines of this response only (its x-request-id)
        self.route = -1  # the plan's route_id, and the request body's bytes held in memory, for the metrics
        self.received = 0
        self.body: RequestBody | None = None  # a body that streams in: its bytes count when the response does

    def logs(self, access: AccessLog, client: tuple[str, int] | None, method: str, path: str, query: str,
             headers: list[tuple[str, str]] | None, route: int, received: int) -> None:
        """Record the response in ``access`` when it ends (the request's own read began at ``access.started()``,
        which also counts it in flight for the metrics until then); ``route`` is its plan's route_id."""
        self.access = access
        self.route = route
        self.received = received
        self.client = client
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.began = access.started()
        if access.echo:
            rid = access.request_id(headers if headers is not None else [])
            self.extra = id_line(rid)
            self.headers = rid  # the record names the id the response carried

    def record(self, response: bytes | int, nbytes: int) -> None:
        """Record the response: its rendered HTTP/1.1 bytes (``nbytes`` -1), or its status and body bytes."""
        access = self.access
        if access is not None:
            self.access = None
            body = self.body
            access.record(self.client, self.method, self.path, self.query, self.headers, self.minor, response,
                          nbytes, self.began, self.route, self.received if body is None else body.received)

    def ended(self) -> None:
        """Record a response that was not answered whole: a stream (ended or aborted: the status of its head and
        the body bytes queued), or nothing at all (closed: status 0)."""
        self.record(self.status, self.sent)
