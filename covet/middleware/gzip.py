"""Gzip compression with FastAPI's (Starlette's) options: ``app.add_middleware(GZipMiddleware, minimum_size=1000)``.

Built on ``covet.compression.CompressionMiddleware`` restricted to gzip, which also offers zstd and brotli.
A body is compressed when the client's ``Accept-Encoding`` allows gzip, it is at least ``minimum_size`` bytes
(a stream always qualifies, each chunk flushed as it comes), its type is not in ``exclude_content_types``
(``"image/*"`` names a whole family), and it is not already encoded nor a range (206) answer.
"""

from __future__ import annotations

import asyncio
from typing import Final

from covet.compression import CompressionMiddleware
from covet.exceptions import RouteDefinitionError

__all__ = ["GZipMiddleware", "DEFAULT_EXCLUDED_CONTENT_TYPES"]

# Starlette's list: types that are already compressed, or (event streams) must not wait in a buffer.
DEFAULT_EXCLUDED_CONTENT_TYPES: Final = (
    "application/grpc", "application/gzip", "application/x-gzip", "application/zip", "audio/*", "font/woff",
    "font/woff2", "image/avif", "image/gif", "image/jpeg", "image/png", "image/webp", "text/event-stream", "video/*",
)


class GZipMiddleware(CompressionMiddleware):
    """Compresses responses with gzip for clients that accept it.

    Args:
        minimum_size: smaller bodies are sent as they are.
        compresslevel: 1 (fastest) to 9 (smallest).
        thread_minimum_size: bodies at least this large are compressed in a worker thread, so that the event loop
            keeps serving other requests meanwhile.
        exclude_content_types: media types never compressed; ``"type/*"`` excludes a whole family.
    """

    def __init__(self, minimum_size: int = 500, compresslevel: int = 9, thread_minimum_size: int = 128 * 1024, *,
                 exclude_content_types: tuple[str, ...] = DEFAULT_EXCLUDED_CONTENT_TYPES) -> None:
        if isinstance(compresslevel, bool) or not isinstance(compresslevel, int) or not -1 <= compresslevel <= 9:
            raise RouteDefinitionError(f"GZipMiddleware(compresslevel={compresslevel!r}) must be 0 to 9 (or -1, "
                                       "zlib's default)")
        super().__init__(minimum_size=minimum_size, gzip_level=compresslevel, codings=("gzip",))
        self.thread_minimum_size = thread_minimum_size
        self.excluded = frozenset(t.partition(";")[0].strip().lower() for t in exclude_content_types)

    def compressible(self, ctype: str) -> bool:
        base = ctype.partition(";")[0].strip().lower()
        family = base.partition("/")[0] + "/*"
        if base in self.excluded or family in self.excluded:
            return False
        return not (base.startswith("application/grpc+") and "application/grpc" in self.excluded)

    async def compress_body(self, coding: str, body: bytes) -> bytes:
        if len(body) >= self.thread_minimum_size:
            return await asyncio.to_thread(_gzip, self, coding, body)
        return _gzip(self, coding, body)


def _gzip(mw: GZipMiddleware, coding: str, body: bytes) -> bytes:
    compress, _, end = mw.compressor(coding)
    return compress(body) + end()
