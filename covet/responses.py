"""Response classes a handler may return instead of a plain value.

Each response turns into the protocol-neutral *reply* the runtime sends:
``(status, headers, body)`` with ``headers`` a sequence of lower-cased
``(name, value)`` byte pairs.  Streaming responses stay objects: the
protocol layer drives their iterator.
"""

from __future__ import annotations

import datetime
import email.utils
import http.cookies
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Mapping
from typing import Literal, TypeAlias

import pydantic_core

from covet.headers import MutableHeaders

__all__ = [
    "Response",
    "JSONResponse",
    "PlainTextResponse",
    "HTMLResponse",
    "RedirectResponse",
    "StreamingResponse",
    "FileResponse",
    "ORJSONResponse",
    "UJSONResponse",
]

HeaderPairs: TypeAlias = "list[tuple[bytes, bytes]]"
HeadersArg: TypeAlias = "Mapping[str, str] | Iterable[tuple[str, str]] | None"
# What a streaming response's source may give; str is sent as UTF-8, anything else is an error.
Chunk: TypeAlias = "bytes | bytearray | memoryview | str"


_check: Callable[[bytes, bytes], None] | None = None


def check_field(name: bytes, value: bytes) -> None:
    """ValueError unless the header may be sent as it is (``covet._native.check_field``)."""
    global _check
    if _check is None:
        # Imported on first use: `import covet` needs no native extension (native/tests/asan_server.sh's test
        # process imports covet without the sanitizer runtime its instrumented extension needs).
        from covet._native import check_field as native_check

        _check = native_check
    _check(name, value)


def _encode_headers(headers: HeadersArg) -> list[tuple[bytes, bytes]]:
    if headers is None:
        return []
    items = headers.items() if isinstance(headers, Mapping) else headers
    out: list[tuple[bytes, bytes]] = []
    for name, value in items:
        bname = name.lower().encode("latin-1")
        bvalue = str(value).encode("latin-1")
        # Raised here, in the handler, for a clear traceback; the writer checks every header again on its way out.
        check_field(bname, bvalue)
        out.append((bname, bvalue))
    return out


_SAMESITE = ("lax", "strict", "none")


class _Headers:
    """Header and cookie methods every response has."""

    # What the server sends: lower-cased (name, value) byte pairs, as Starlette's ``raw_headers``.
    raw_headers: list[tuple[bytes, bytes]]

    @property
    def headers(self) -> MutableHeaders:
        """The headers as a case-insensitive mapping that changes the response: ``headers["x-a"] = "1"``,
        ``del headers["x-a"]``, ``headers.append(name, value)``, ``headers.getlist(name)``."""
        return MutableHeaders(raw=self.raw_headers)

    def set_header(self, name: str, value: str) -> None:
        """Set header ``name`` to ``value``, replacing any it had."""
        ((bname, bvalue),) = _encode_headers([(name, value)])
        self.raw_headers = [(k, v) for k, v in self.raw_headers if k != bname]
        self.raw_headers.append((bname, bvalue))

    def append_header(self, name: str, value: str) -> None:
        """Add a header line, keeping any others of the same name."""
        self.raw_headers.extend(_encode_headers([(name, value)]))

    def set_cookie(
        self,
        key: str,
        value: str = "",
        *,
        max_age: int | None = None,
        expires: datetime.datetime | None = None,
        path: str | None = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: Literal["lax", "strict", "none"] | None = "lax",
        partitioned: bool = False,
    ) -> None:
        """Add a ``Set-Cookie`` header; the value is quoted when it needs to be."""
        morsel: http.cookies.Morsel[str] = http.cookies.Morsel()
        try:
            morsel.set(key, value, http.cookies.SimpleCookie().value_encode(value)[1])
        except http.cookies.CookieError as exc:
            raise ValueError(f"invalid cookie name {key!r}") from exc
        if max_age is not None:
            morsel["max-age"] = str(max_age)
        if expires is not None:
            morsel["expires"] = email.utils.format_datetime(expires.astimezone(datetime.UTC), usegmt=True)
        if path is not None:
            morsel["path"] = path
        if domain is not None:
            morsel["domain"] = domain
        if secure or samesite == "none" or partitioned:  # browsers drop SameSite=None without Secure
            morsel["secure"] = True
        if httponly:
            morsel["httponly"] = True
        if samesite is not None:
            if samesite not in _SAMESITE:
                raise ValueError(f"samesite must be one of {_SAMESITE}, not {samesite!r}")
            morsel["samesite"] = samesite.capitalize()
        line = morsel.OutputString()
        if partitioned:
            line += "; Partitioned"
        self.append_header("set-cookie", line)

    def delete_cookie(self, key: str, *, path: str | None = "/", domain: str | None = None, secure: bool = False,
                      httponly: bool = False, samesite: Literal["lax", "strict", "none"] | None = "lax") -> None:
        """Tell the client to drop cookie ``key`` (the path and domain must be those it was set with)."""
        self.set_cookie(key, "", max_age=0, expires=datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC),
                        path=path, domain=domain, secure=secure, httponly=httponly, samesite=samesite)


class Response(_Headers):
    """A complete response: status, headers and a body of bytes or text.

    Args:
        content: the body; ``str`` is encoded as UTF-8.
        status: the HTTP status code.
        headers: extra headers, as a mapping or a list of pairs.
        media_type: the ``Content-Type``; a ``charset`` is added for text.
    """

    media_type: str | None = None
    charset: str = "utf-8"
    # Work to run once the response is sent (a route's background tasks and dependency clean-up).
    after: Callable[[], Awaitable[None]] | None = None

    def __init__(
        self,
        content: bytes | str = b"",
        status: int = 200,
        headers: HeadersArg = None,
        media_type: str | None = None,
        *,
        status_code: int | None = None,
    ) -> None:
        self.status = _status(status, status_code)
        if media_type is not None:
            self.media_type = media_type
        self.body = self.render(content)
        self.raw_headers = _encode_headers(headers)
        self._add_content_type()

    @property
    def status_code(self) -> int:
        """The status, as FastAPI (and Starlette) name it."""
        return self.status

    @status_code.setter
    def status_code(self, value: int) -> None:
        self.status = value

    def render(self, content: object) -> bytes:
        if isinstance(content, bytes):
            return content
        if isinstance(content, str):
            return content.encode(self.charset)
        if isinstance(content, (bytearray, memoryview)):
            return bytes(content)
        raise TypeError(f"{type(self).__name__} content must be bytes or str, not {type(content).__name__}")

    def _add_content_type(self) -> None:
        if self.media_type is None or any(k == b"content-type" for k, _ in self.raw_headers):
            return
        ctype = self.media_type
        if ctype.startswith("text/") and "charset=" not in ctype:
            ctype += f"; charset={self.charset}"
        self.raw_headers.extend(_encode_headers([("content-type", ctype)]))

    def to_reply(self) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        return (self.status, self.raw_headers, self.body)

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
        *,
        status_code: int | None = None,
    ) -> None:
        self.status = _status(status, status_code)
        if media_type is not None:
            self.media_type = media_type
        self.body = pydantic_core.to_json(content)
        self.raw_headers = _encode_headers(headers)
        self._add_content_type()


class RedirectResponse(Response):
    """A redirect to ``url`` (307 by default, which keeps the method and body)."""

    def __init__(self, url: str, status: int = 307, headers: HeadersArg = None, *,
                 status_code: int | None = None) -> None:
        super().__init__(b"", _status(status, status_code), headers)
        self.raw_headers.append((b"location", _safe_location(url)))


def _status(status: int, status_code: int | None) -> int:
    """``status_code=`` (FastAPI's and Starlette's spelling) wins over the positional default ``status``."""
    if status_code is None:
        return status
    if type(status_code) is not int:
        raise TypeError(f"status_code must be an int, not {status_code!r}")
    return status_code


def _safe_location(url: str) -> bytes:
    from urllib.parse import quote

    # Keep every reserved and already-escaped character; escape the rest so
    # the header cannot carry CR/LF or non-Latin-1 text.
    return quote(url, safe=":/%#?=@[]!$&'()*+,;~").encode("ascii")


class StreamingResponse(_Headers):
    """A response whose body comes from an async (or plain) iterable of chunks.

    Over HTTP/1.1 it is sent with chunked transfer coding, or with a
    Content-Length when ``content_length`` says how many bytes the chunks hold
    (a source that gives fewer or more has its connection reset). The next
    chunk is not pulled while the client is not reading, and when the client
    goes away the source is closed.
    """

    def __init__(
        self,
        content: AsyncIterable[Chunk] | Iterable[Chunk],
        status: int = 200,
        headers: HeadersArg = None,
        media_type: str | None = None,
        content_length: int | None = None,
        *,
        status_code: int | None = None,
    ) -> None:
        self.status = _status(status, status_code)
        self.content = content
        self.raw_headers = _encode_headers(headers)
        if content_length is not None and content_length < 0:
            raise ValueError("content_length cannot be negative")
        self.length = content_length  # the protocol layer frames the body with it
        # Work to run once the stream has ended (a route's background tasks and dependency clean-up).
        self.after: Callable[[], Awaitable[None]] | None = None
        if media_type is not None and not any(k == b"content-type" for k, _ in self.raw_headers):
            self.raw_headers.extend(_encode_headers([("content-type", media_type)]))

    def __repr__(self) -> str:
        return f"StreamingResponse(status={self.status})"


# FastAPI's other response classes (covet/fileresponse.py); imported last, since they build on those above.
from covet.fileresponse import FileResponse, ORJSONResponse, UJSONResponse  # noqa: E402
