"""Response classes a handler may return instead of a plain value.

Each response turns into the protocol-neutral *reply* the runtime sends:
``(status, headers, body)`` with ``headers`` a sequence of lower-cased
``(name, value)`` byte pairs.  Streaming responses stay objects: the
protocol layer drives their iterator.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Mapping
from typing import TypeAlias

import pydantic_core

__all__ = [
    "Response",
    "JSONResponse",
    "PlainTextResponse",
    "HTMLResponse",
    "RedirectResponse",
    "StreamingResponse",
]

HeaderPairs: TypeAlias = "list[tuple[bytes, bytes]]"
HeadersArg: TypeAlias = "Mapping[str, str] | Iterable[tuple[str, str]] | None"


def _encode_headers(headers: HeadersArg) -> list[tuple[bytes, bytes]]:
    if headers is None:
        return []
    items = headers.items() if isinstance(headers, Mapping) else headers
    out: list[tuple[bytes, bytes]] = []
    for name, value in items:
        bname = name.lower().encode("latin-1")
        bvalue = str(value).encode("latin-1")
        # A header value with CR or LF would let a handler split the response.
        if b"\r" in bvalue or b"\n" in bvalue or b"\r" in bname or b"\n" in bname or b":" in bname:
            raise ValueError(f"invalid character in response header {name!r}")
        out.append((bname, bvalue))
    return out


class Response:
    """A complete response: status, headers and a body of bytes or text.

    Args:
        content: the body; ``str`` is encoded as UTF-8.
        status: the HTTP status code.
        headers: extra headers, as a mapping or a list of pairs.
        media_type: the ``Content-Type``; a ``charset`` is added for text.
    """

    media_type: str | None = None
    charset: str = "utf-8"

    def __init__(
        self,
        content: bytes | str = b"",
        status: int = 200,
        headers: HeadersArg = None,
        media_type: str | None = None,
    ) -> None:
        self.status = status
        if media_type is not None:
            self.media_type = media_type
        self.body = self.render(content)
        self.headers = _encode_headers(headers)
        self._add_content_type()

    def render(self, content: object) -> bytes:
        if isinstance(content, bytes):
            return content
        if isinstance(content, str):
            return content.encode(self.charset)
        if isinstance(content, (bytearray, memoryview)):
            return bytes(content)
        raise TypeError(f"{type(self).__name__} content must be bytes or str, not {type(content).__name__}")

    def _add_content_type(self) -> None:
        if self.media_type is None or any(k == b"content-type" for k, _ in self.headers):
            return
        ctype = self.media_type
        if ctype.startswith("text/") and "charset=" not in ctype:
            ctype += f"; charset={self.charset}"
        self.headers.append((b"content-type", ctype.encode("latin-1")))

    def to_reply(self) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        return (self.status, self.headers, self.body)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, {len(self.body)} bytes)"


class PlainTextResponse(Response):
    """A ``text/plain`` response."""

    media_type = "text/plain"


class HTMLResponse(Response):
    """A ``text/html`` response."""

    media_type = "text/html"


class JSONResponse(Response):
    """A JSON response; ``content`` is any value pydantic-core can serialise."""

    media_type = "application/json"

    def __init__(
        self,
        content: object = None,
        status: int = 200,
        headers: HeadersArg = None,
        media_type: str | None = None,
    ) -> None:
        self.status = status
        if media_type is not None:
            self.media_type = media_type
        self.body = pydantic_core.to_json(content)
        self.headers = _encode_headers(headers)
        self._add_content_type()


class RedirectResponse(Response):
    """A redirect to ``url`` (307 by default, which keeps the method and body)."""

    def __init__(self, url: str, status: int = 307, headers: HeadersArg = None) -> None:
        super().__init__(b"", status, headers)
        self.headers.append((b"location", _safe_location(url)))


def _safe_location(url: str) -> bytes:
    from urllib.parse import quote

    # Keep every reserved and already-escaped character; escape the rest so
    # the header cannot carry CR/LF or non-Latin-1 text.
    return quote(url, safe=":/%#?=@[]!$&'()*+,;~").encode("ascii")


class StreamingResponse:
    """A response whose body comes from an async (or plain) iterable of chunks.

    Over HTTP/1.1 it is sent with chunked transfer coding, and the next
    chunk is not pulled while the client is not reading.
    """

    def __init__(
        self,
        content: AsyncIterable[bytes | str] | Iterable[bytes | str],
        status: int = 200,
        headers: HeadersArg = None,
        media_type: str | None = None,
    ) -> None:
        self.status = status
        self.content = content
        self.headers = _encode_headers(headers)
        # Work to run once the stream has ended (a route's background tasks and dependency clean-up).
        self.after: Callable[[], Awaitable[None]] | None = None
        if media_type is not None and not any(k == b"content-type" for k, _ in self.headers):
            self.headers.append((b"content-type", media_type.encode("latin-1")))

    def __repr__(self) -> str:
        return f"StreamingResponse(status={self.status})"
