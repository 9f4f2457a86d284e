"""FastAPI's other response classes: a file sent from disk, and the JSON responses named after other encoders."""

from __future__ import annotations

import email.utils
import mimetypes
import os
import stat
from typing import BinaryIO
from urllib.parse import quote

from covet.responses import HeadersArg, JSONResponse, StreamingResponse, _status
from covet.runtime.fileio import file_chunks

__all__ = ["FileResponse", "ORJSONResponse", "UJSONResponse"]

def _open(path: str | os.PathLike[str]) -> BinaryIO:
    return open(path, "rb")


class FileResponse(StreamingResponse):
    """The file at ``path``, streamed with its length, ``Last-Modified`` and ``ETag`` (Starlette's FileResponse).

    Args:
        path: the file; it is opened here, in the handler: a missing one raises ``FileNotFoundError`` there.
        status: the status; ``status_code=`` is the same.
        headers: extra headers.
        media_type: the ``Content-Type``; guessed from ``filename`` or ``path`` when not given.
        filename: sent as a ``Content-Disposition`` of ``content_disposition_type``, so a browser saves it.

    Ranges and conditional requests are answered by ``StaticFiles``, not here: this always sends the whole file.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        status: int = 200,
        headers: HeadersArg = None,
        media_type: str | None = None,
        filename: str | None = None,
        stat_result: os.stat_result | None = None,
        content_disposition_type: str = "attachment",
        *,
        status_code: int | None = None,
    ) -> None:
        f = _open(path)
        try:
            st = stat_result or os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise IsADirectoryError(f"FileResponse: {os.fspath(path)} is not a file")
        except BaseException:
            f.close()
            raise
        if media_type is None:
            media_type = mimetypes.guess_type(filename or os.fspath(path))[0] or "application/octet-stream"
        if media_type.startswith("text/") and "charset=" not in media_type:
            media_type += "; charset=utf-8"
        self.path = path
        self.filename = filename
        super().__init__(file_chunks(f, st.st_size), _status(status, status_code), headers, media_type, st.st_size)
        have = {k for k, _ in self.raw_headers}
        extra = {
            "accept-ranges": "bytes",
            "last-modified": email.utils.formatdate(st.st_mtime, usegmt=True),
            "etag": f'"{st.st_mtime_ns:x}-{st.st_size:x}"',
        }
        if filename is not None:
            quoted = quote(filename)
            extra["content-disposition"] = (f'{content_disposition_type}; filename="{filename}"' if quoted == filename
                                            else f"{content_disposition_type}; filename*=utf-8''{quoted}")
        for name, value in extra.items():
            if name.encode() not in have:
                self.append_header(name, value)


class ORJSONResponse(JSONResponse):
    """FastAPI's ``ORJSONResponse``: the same JSON, serialised by pydantic-core (no ``orjson`` needed)."""


class UJSONResponse(JSONResponse):
    """FastAPI's ``UJSONResponse``: the same JSON, serialised by pydantic-core (no ``ujson`` needed)."""
