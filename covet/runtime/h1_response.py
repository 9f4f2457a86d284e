"""HTTP/1.1 responses: rendering a reply, and the channel an exchange writes one through.

Every head is checked on its way out (``native/fields.c``): a status or a
header that cannot be sent replaces the response with a 500, before any of
it reaches the wire. ``H1Channel`` is the HTTP/1.1 side of the exchange
seam (``exchange.Channel``); each transport subclasses it with the five
byte-level operations it knows how to do.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from http import HTTPStatus
from typing import Final

from covet._native import render_fields, render_reply
from covet.responses import StreamingResponse
from covet.runtime.access_record import AccessRecord, id_line
from covet.runtime.clock import Clock
from covet.runtime.encode import HeaderSeq, HeaderSet
from covet.runtime.ws_session import WSConfig, WSLink, WSSession

__all__ = ["CONTINUE", "H1Channel", "id_line", "prefix_of", "render", "render_closing", "stream_head"]

log = logging.getLogger("covet.http1")

CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"
_LAST_CHUNK: Final = b"0\r\n\r\n"


def _status_line(status: int) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Unknown"
    return f"HTTP/1.1 {status} {phrase}\r\n".encode()


# Final statuses only: a 1xx would leave the client waiting for the real answer, and pair it with the next
# request; 101 belongs to a protocol switch, which writes its own head.
_STATUS: Final = {s.value: _status_line(s.value) for s in HTTPStatus if 200 <= s.value}
_CLOSE: Final = b"connection: close\r\n"
_SERVER_ERROR: Final = (500, HeaderSet(((b"content-type", b"text/plain; charset=utf-8"),)), b"Internal Server Error")


def prefix_of(status: int, headers: HeaderSeq) -> tuple[bytes, bool]:
    """Status line and headers, rendered; the flag says a header asked to close.

    Raises ValueError for a status or a header that cannot be sent (see ``native/fields.h``).
    """
    if type(headers) is HeaderSet:
        cached = headers.h1.get(status)
        if cached is None:
            cached = headers.h1[status] = _render_prefix(status, headers.pairs)[0]
        return cached, False
    return _render_prefix(status, headers)


def _render_prefix(status: int, headers: HeaderSeq) -> tuple[bytes, bool]:
    line = _STATUS.get(status)
    if line is None:
        if not 200 <= status <= 599:
            raise ValueError(f"invalid response status {status!r}: a response's status must be 200-599")
        line = _status_line(status)
    fields, close = render_fields(headers.pairs if type(headers) is HeaderSet else headers)
    return line + fields, close


def _unsendable(exc: ValueError) -> tuple[bytes, bool]:
    """The head of the 500 that replaces a response that cannot be sent; the developer reads why in the log."""
    log.error("response not sent, answered 500 instead: %s", exc)
    return prefix_of(_SERVER_ERROR[0], _SERVER_ERROR[1])


def render(reply: tuple[int, HeaderSeq, bytes], head_lines: bytes, keep_alive: bool, is_head: bool,
           minor: int) -> tuple[bytes, bool]:
    """One complete HTTP/1.1 response; returns it and whether to keep the connection."""
    status, headers, body = reply
    try:
        prefix, close = prefix_of(status, headers)
    except ValueError as exc:
        prefix, close = _unsendable(exc)
        status, body = 500, _SERVER_ERROR[2]
    if close:
        keep_alive = False
    return render_reply(prefix, status, head_lines, body, keep_alive, is_head, minor), keep_alive


def render_closing(reply: tuple[int, HeaderSeq, bytes], head_lines: bytes, minor: int = 1) -> bytes:
    """A response after which the connection closes: a framing error, a refused body, a timeout."""
    return render(reply, head_lines, False, False, minor)[0]


def stream_head(resp: StreamingResponse, head_lines: bytes, keep_alive: bool, minor: int) -> tuple[bytes, bool, bool]:
    """The head of a streaming response, whether the connection stays open after it, and whether the body is
    chunked (on HTTP/1.1 when its length is not known)."""
    chunked = minor == 1 and resp.length is None
    if minor != 1:
        keep_alive = False  # HTTP/1.0: the close ends a body of unknown length, and is simplest for a known one
    try:
        prefix, close = prefix_of(resp.status, resp.raw_headers)
    except ValueError as exc:
        # Nothing of the stream has been sent: it is replaced whole by a 500, and its source is left unread.
        prefix, close = _unsendable(exc)
        resp.length = len(_SERVER_ERROR[2])
        resp.content = (_SERVER_ERROR[2],)
        chunked = False
    if close:
        keep_alive = False
    if chunked:
        framing = b"transfer-encoding: chunked\r\n"
    elif resp.length is not None:
        framing = b"content-length: %d\r\n" % resp.length
    else:
        framing = b""
    conn = b"" if keep_alive else _CLOSE
    return prefix + head_lines + framing + conn + b"\r\n", keep_alive, chunked


class H1Channel(AccessRecord):
    """One HTTP/1.1 response's way out, for an exchange that did not answer on the spot.

    The HTTP/1.1 rules live here (rendering, ``connection: close``, chunked framing, HEAD); a transport's subclass
    only moves bytes: ``put``, ``done``, ``abort``, ``drained``, ``gone`` and ``may_keep``.
    """

    __slots__ = ("chunked", "keep")

    def __init__(self, clock: Clock, is_head: bool, minor: int) -> None:
        super().__init__(clock, is_head, minor)
        self.chunked = False
        self.keep = False

    # -- the exchange's side (exchange.Channel) ----------------------------------

    def respond(self, reply: tuple[int, HeaderSeq, bytes], keep_alive: bool) -> None:
        lines = self.clock.head_lines
        if self.extra:
            lines += self.extra
        data, keep = render(reply, lines, keep_alive and self.may_keep(), self.is_head, self.minor)
        self.record(data, -1)
        self.done(data, keep)

    def start(self, resp: StreamingResponse, keep_alive: bool) -> bool:
        """Send a streamed response's head; False when the connection is gone. The body follows (``send``) unless
        the request was HEAD (``wants_body``)."""
        lines = self.clock.head_lines
        if self.extra:
            lines += self.extra
        head, self.keep, self.chunked = stream_head(resp, lines, keep_alive and self.may_keep(), self.minor)
        self.status = int(head[9:12])
        return self.put(head) >= 0

    def wants_body(self) -> bool:
        return not self.is_head

    def send(self, chunk: bytes) -> int:
        """-1 gone, 0 sent, 1 sent and the next must wait for ``drained()``."""
        self.sent += len(chunk)
        if self.chunked:
            return self.put(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        return self.put(chunk)

    def end(self) -> None:
        """The streamed response is complete."""
        self.ended()
        self.done(_LAST_CHUNK if self.chunked and not self.is_head else None, self.keep)

    def close(self) -> None:
        """Nothing will be answered (the handler was cancelled): close after what was sent."""
        self.ended()
        self.done(None, False)

    def upgrade(self, head: bytes, config: WSConfig) -> WSSession:
        """Answer 101 with ``head`` (its status line and fields, checked) and carry the WebSocket protocol on this
        connection from now on."""
        data = head + self.clock.head_lines + self.extra + b"\r\n"
        self.record(data, -1)
        link = self.switch(data)
        session = WSSession(link, config, self.clock)
        link.carry(session)
        return session

    # -- the transport's side ------------------------------------------------------

    def switch(self, data: bytes) -> WSLink:
        """Write ``data`` (a 101) and hand the connection over to another protocol: its link."""
        raise NotImplementedError

    def put(self, data: bytes) -> int:
        """Queue bytes: -1 gone, 0 queued, 1 queued and the peer is behind (wait for ``drained()``)."""
        raise NotImplementedError

    def done(self, data: bytes | None, keep_alive: bool) -> None:
        """The response ends with ``data``: the connection goes on to its next request, or closes after it."""
        raise NotImplementedError

    def abort(self) -> None:
        """The response was cut short: reset the connection, so the client cannot take it for complete."""
        raise NotImplementedError

    def drained(self) -> Awaitable[None]:
        raise NotImplementedError

    def gone(self) -> bool:
        """The connection is closed or reset."""
        raise NotImplementedError

    def may_keep(self) -> bool:
        """False when the connection closes after this response whatever it says (shutting down, half-closed)."""
        raise NotImplementedError
