"""Response compression: zstd, brotli or gzip, as the client accepts, where it pays.

``app.add_middleware(CompressionMiddleware())`` compresses a response when:
- the client's Accept-Encoding allows one of the codings (zstd, then br, then
  gzip at equal preference; ``q=0`` refuses one);
- the body is at least ``minimum_size`` bytes (a stream always qualifies);
- its type is not already compressed (images, video, audio, archives, fonts
  such as woff2) and it is not an event stream, whose events must not wait
  in a compressor's buffer;
- it has no Content-Encoding yet and is not a range (206) answer.
Every response whose type could be compressed gets ``Vary: Accept-Encoding``.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from typing import Final

import brotli  # type: ignore[import-untyped, unused-ignore]  # (covet build reads untyped libraries as Any)
import zstandard

from covet.middleware import AnyResponse, CallNext
from covet.requests import Request
from covet.responses import Chunk, StreamingResponse
from covet.runtime.streaming import body_chunks

__all__ = ["CompressionMiddleware"]

_SKIP_PREFIXES: Final = ("image/", "video/", "audio/", "font/woff")
_SKIP_TYPES: Final = frozenset({
    "application/zip", "application/gzip", "application/x-gzip", "application/zstd", "application/x-bzip2",
    "application/x-xz", "application/x-7z-compressed", "application/x-rar-compressed", "application/pdf",
    "application/octet-stream", "application/wasm", "text/event-stream",
})
_COMPRESSIBLE_IMAGES: Final = frozenset({"image/svg+xml", "image/bmp", "image/x-icon"})


def _accepted(header: str) -> dict[str, float]:
    """Accept-Encoding as {coding: q}."""
    found: dict[str, float] = {}
    for part in header.split(","):
        name, *params = (p.strip() for p in part.split(";"))
        if not name:
            continue
        q = 1.0
        for p in params:
            if p.startswith("q="):
                try:
                    q = float(p[2:])
                except ValueError:
                    q = 0.0
        found[name.lower()] = q
    return found


def _compressible(ctype: str) -> bool:
    base = ctype.split(";", 1)[0].strip().lower()
    if not base or base in _SKIP_TYPES:
        return False
    if base in _COMPRESSIBLE_IMAGES:
        return True
    return not base.startswith(_SKIP_PREFIXES)


class CompressionMiddleware:
    """Compresses responses for clients that accept it (see the module's docstring for when).

    Args:
        minimum_size: smaller bodies are sent as they are (compression would not pay).
        gzip_level, brotli_quality, zstd_level: effort of each coding; the defaults favour speed.
        codings: the codings to offer, in the server's order of preference.
    """

    def __init__(self, *, minimum_size: int = 500, gzip_level: int = 6, brotli_quality: int = 4,
                 zstd_level: int = 3, codings: tuple[str, ...] = ("zstd", "br", "gzip")) -> None:
        self.minimum_size = minimum_size
        self.gzip_level = gzip_level
        self.brotli_quality = brotli_quality
        self.zstd_level = zstd_level
        unknown = [c for c in codings if c not in ("zstd", "br", "gzip")]
        if unknown:
            raise ValueError(f"unknown coding {unknown[0]!r}: choose among zstd, br and gzip")
        self.codings = codings

    def choose(self, accept_encoding: str) -> str | None:
        if not accept_encoding:
            return None
        accepted = _accepted(accept_encoding)
        best: str | None = None
        best_q = 0.0
        for coding in self.codings:
            q = accepted.get(coding, accepted.get("*", 0.0))
            if q > best_q:
                best, best_q = coding, q
        return best

    def compressor(self, coding: str) -> tuple[Callable[[bytes], bytes], Callable[[], bytes], Callable[[], bytes]]:
        """(compress a piece, flush what is buffered so the client can decode it now, end) for ``coding``."""
        if coding == "gzip":
            z = zlib.compressobj(self.gzip_level, zlib.DEFLATED, 31)  # 31: a gzip header and trailer
            return z.compress, lambda: z.flush(zlib.Z_SYNC_FLUSH), z.flush
        if coding == "br":
            b = brotli.Compressor(quality=self.brotli_quality)
            return b.process, b.flush, b.finish
        c = zstandard.ZstdCompressor(level=self.zstd_level).compressobj()
        return c.compress, lambda: c.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK), c.flush

    def compressible(self, ctype: str) -> bool:
        """Whether a body of type ``ctype`` (the Content-Type header, or "") is worth compressing."""
        return _compressible(ctype)

    async def compress_body(self, coding: str, body: bytes) -> bytes:
        """A whole body, compressed with ``coding``."""
        compress, _, end = self.compressor(coding)
        return compress(body) + end()

    async def __call__(self, request: Request, call_next: CallNext) -> AnyResponse:
        response = await call_next(request)
        headers = dict(response.raw_headers)
        ctype = headers.get(b"content-type", b"").decode("latin-1")
        if not self.compressible(ctype) or b"content-encoding" in headers or response.status == 204:
            return response
        _vary(response)  # a 304 or 206 of a resource that may be sent compressed varies too
        if response.status in (206, 304):
            return response
        coding = self.choose(request.headers.get("accept-encoding", ""))
        if coding is None:
            return response
        if isinstance(response, StreamingResponse):
            response.content = self._stream(response.content, coding)
            response.length = None  # the compressed length is not known in advance
        else:
            if len(response.body) < self.minimum_size:
                return response
            response.body = await self.compress_body(coding, response.body)
        response.set_header("content-encoding", coding)
        # Ranges would count the uncompressed bytes: none are offered on a compressed answer.
        response.raw_headers = [(k, v) for k, v in response.raw_headers if k != b"accept-ranges"]
        etag = headers.get(b"etag")
        if etag is not None and not etag.startswith(b"W/"):
            # The compressed bytes are not the bytes the strong validator names.
            response.set_header("etag", "W/" + etag.decode("latin-1"))
        return response

    async def _stream(self, content: AsyncIterable[Chunk] | Iterable[Chunk],
                      coding: str) -> AsyncIterator[bytes]:
        compress, flush, end = self.compressor(coding)
        async for chunk in body_chunks(content):
            # Each chunk goes out as the source gives it (a token, a line), not when the buffer fills.
            out = compress(chunk) + flush()
            if out:
                yield out
        yield end()


def _vary(response: AnyResponse) -> None:
    for k, v in response.raw_headers:
        if k == b"vary":
            if b"accept-encoding" not in v.lower() and v.strip() != b"*":
                response.set_header("vary", v.decode("latin-1") + ", Accept-Encoding")
            return
    response.append_header("vary", "Accept-Encoding")
