"""``UploadFile``: a file a client sent in a multipart form."""

from __future__ import annotations

from typing import IO, final

from covet.requests import Headers
from covet.runtime.fileio import run_file_io

__all__ = ["UploadFile"]


@final
class UploadFile:
    """One uploaded file.

    ``file`` is a binary file object: in memory while small, on disk (a temporary file, removed when it is
    closed) past the form parser's threshold. The async methods run the file operations in the thread pool,
    so a large file on disk does not block the event loop.
    """

    __slots__ = ("filename", "content_type", "file", "size", "headers")

    def __init__(self, filename: str | None, content_type: str, file: IO[bytes], size: int,
                 headers: Headers | None = None) -> None:
        self.filename = filename
        self.content_type = content_type
        self.file = file
        self.size = size
        self.headers = headers if headers is not None else Headers([])  # the part's own headers

    async def read(self, size: int = -1) -> bytes:
        return await run_file_io(self.file.read, size)

    async def seek(self, offset: int) -> int:
        return await run_file_io(self.file.seek, offset)

    async def close(self) -> None:
        await run_file_io(self.file.close)

    def __repr__(self) -> str:
        return f"UploadFile(filename={self.filename!r}, content_type={self.content_type!r}, size={self.size})"
