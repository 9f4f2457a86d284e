"""Serving a directory of files: validators, conditional requests, ranges, and nothing outside the root.

``app.include_router(StaticFiles("/static", directory="public"))``, or FastAPI's
``app.mount("/static", StaticFiles(directory="public"), name="static")``, adds one
GET (and HEAD) route under the prefix. Files are looked up in a thread (the
``blocking`` route mode), read whole when small and streamed with a known
length when not.
"""

from __future__ import annotations

import contextlib
import email.utils
import mimetypes
import os
import re
import stat
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Annotated, BinaryIO, Final

from covet.exceptions import HTTPError, RouteDefinitionError
from covet.params import Header
from covet.responses import Response, StreamingResponse
from covet.routing import Router
from covet.runtime.fileio import file_chunks, run_file_io

__all__ = ["StaticFiles"]

_WHOLE: Final = 1024 * 1024  # files up to this size are read into one response
_TEXT_TYPES: Final = ("text/", "application/javascript", "application/json", "image/svg+xml", "application/xml")


def _content_type(path: Path) -> str:
    ctype, encoding = mimetypes.guess_type(path.name, strict=False)
    if encoding is not None or ctype is None:
        # A .gz file is the compressed bytes themselves, not a document sent compressed.
        return "application/octet-stream"
    if ctype.startswith(_TEXT_TYPES) and "charset" not in ctype:
        ctype += "; charset=utf-8"
    return ctype


def _etag(st: os.stat_result) -> str:
    return f'"{st.st_mtime_ns:x}-{st.st_size:x}"'


def _etag_matches(header: str, etag: str) -> bool:
    """If-None-Match: the weak comparison of RFC 9110, any of a list, or ``*``."""
    if header.strip() == "*":
        return True
    bare = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == bare for tag in header.split(","))


_RANGE: Final = re.compile(r"[Bb][Yy][Tt][Ee][Ss]=[ \t]*([0-9]*)-([0-9]*)[ \t]*", re.ASCII)


def _parse_range(header: str, size: int) -> tuple[int, int] | bool | None:
    """One byte range as (first, last), None to send the whole file, False when unsatisfiable.

    Several ranges are answered with the whole file (RFC 9110 allows it), as is a header that does not parse.
    """
    # By the grammar (RFC 9110 14.1.1): int() would also take "1_0", " 1", "+1" and other digits than ASCII's.
    m = _RANGE.fullmatch(header)
    if m is None:
        return None
    first_s, last_s = m.group(1), m.group(2)
    if first_s == "":
        if last_s == "":
            return None
        n = int(last_s)  # the last n bytes
        if n <= 0:
            return False
        return (max(size - n, 0), size - 1) if size else False
    first = int(first_s)
    last = int(last_s) if last_s else size - 1
    if first >= size:
        return False
    if last < first:
        return None
    return first, min(last, size - 1)


def _open_binary(path: Path) -> BinaryIO:
    return path.open("rb")


async def _read_chunks(path: Path, first: int, length: int) -> AsyncIterator[bytes]:
    f = await run_file_io(_open_binary, path)
    try:
        await run_file_io(f.seek, first)
    except BaseException:
        await run_file_io(f.close)
        raise
    async with contextlib.aclosing(file_chunks(f, length)) as chunks:  # closed with this one, at once
        async for chunk in chunks:
            yield chunk


class StaticFiles(Router):
    """A router serving the files under ``directory`` at ``prefix``.

    Args:
        prefix: where the files appear, e.g. ``/static``; ``""`` for one given to ``app.mount("/static", ...)``.
        directory: the root; nothing outside it is ever served.
        html: serve ``index.html`` for a directory, and ``404.html`` (if there is one) when nothing matches.
        follow_symlinks: serve symlinks that point outside the root (off: such files are 404); Starlette's
            ``follow_symlink`` is the same.
        check_dir: refuse a directory that does not exist (at start-up); off, its files are 404 until it does.
        cache_control: the ``Cache-Control`` of every file.
    """

    def __init__(self, prefix: str = "", directory: str | os.PathLike[str] | None = None, *, html: bool = False,
                 follow_symlinks: bool = False, follow_symlink: bool | None = None, check_dir: bool = True,
                 cache_control: str = "public, max-age=3600") -> None:
        super().__init__(prefix=prefix)
        if directory is None:
            raise RouteDefinitionError("StaticFiles needs a directory: StaticFiles(directory='static')")
        if follow_symlink is not None:
            follow_symlinks = follow_symlink
        root = Path(directory).resolve()
        if check_dir and not root.is_dir():
            raise ValueError(f"StaticFiles: {directory} is not a directory")
        self.root = root
        self.html = html
        self.follow_symlinks = follow_symlinks
        self.cache_control = cache_control
        # Async handlers that do their file work on the file pool (runtime/fileio.py): as blocking=True routes they
        # queued behind the application's slow blocking handlers on the default executor.
        self.get("/{path:path}", include_in_schema=False)(self._make_handler())
        if html:
            self.get("/", include_in_schema=False)(self._make_index())

    def resolve(self, rel: str) -> Path | None:
        """The file ``rel`` names under the root, or None when it does not exist or would leave the root."""
        parts = rel.split("/")
        # The router has decoded %2e%2e and %2f already: a dot segment or a NUL here is an attempt, not a name.
        if any(p in (".", "..") or "\x00" in p or "\\" in p for p in parts):
            return None
        real = self._resolved(self.root.joinpath(*[p for p in parts if p]))
        if real is not None and real.is_dir():
            return self._inside(real / "index.html") if self.html else None
        return real

    def _resolved(self, path: Path) -> Path | None:
        """``path`` with its symlinks resolved, when it exists and (unless symlinks may leave) stays under the root."""
        try:
            real = path.resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        if not self.follow_symlinks and not real.is_relative_to(self.root):
            return None
        return real

    def _inside(self, path: Path) -> Path | None:
        """``path`` resolved, when it is a file that stays under the root."""
        real = self._resolved(path)
        return real if real is not None and real.is_file() else None

    def answer(self, path: Path | None, if_none_match: str, if_modified_since: str, range_: str, if_range: str,
               status: int = 200) -> Response | StreamingResponse:
        if path is None:
            missing = self._inside(self.root / "404.html") if self.html else None
            if missing is not None:
                return self.answer(missing, "", "", "", "", status=404)
            raise HTTPError(404)
        try:
            st = path.stat()
        except OSError:
            raise HTTPError(404) from None
        if not stat.S_ISREG(st.st_mode):
            raise HTTPError(404)
        etag = _etag(st)
        last_modified = email.utils.formatdate(st.st_mtime, usegmt=True)
        headers = {"etag": etag, "last-modified": last_modified, "cache-control": self.cache_control,
                   "accept-ranges": "bytes"}
        if status == 200:
            if if_none_match:
                if _etag_matches(if_none_match, etag):
                    return Response(b"", status=304, headers=headers)
            elif if_modified_since:
                try:
                    since = email.utils.parsedate_to_datetime(if_modified_since).timestamp()
                except (TypeError, ValueError):
                    since = None
                if since is not None and int(st.st_mtime) <= since:
                    return Response(b"", status=304, headers=headers)
        size = st.st_size
        first, last = 0, size - 1
        if range_ and status == 200 and (not if_range or if_range == etag or if_range == last_modified):
            found = _parse_range(range_, size)
            if found is False:
                return Response(b"", status=416, headers={**headers, "content-range": f"bytes */{size}"})
            if isinstance(found, tuple):
                first, last = found
                status = 206
                headers["content-range"] = f"bytes {first}-{last}/{size}"
        length = last - first + 1 if size else 0
        ctype = _content_type(path)
        if length <= _WHOLE:
            with path.open("rb") as f:
                f.seek(first)
                body = f.read(length)
            return Response(body, status=status, headers=headers, media_type=ctype)
        return StreamingResponse(_read_chunks(path, first, length), status=status,
                                 headers={**headers, "content-type": ctype}, content_length=length)

    def serve(self, rel: str, if_none_match: str, if_modified_since: str, range_: str,
              if_range: str) -> Response | StreamingResponse:
        """The answer for the file ``rel`` names (blocking: run it on the file pool)."""
        return self.answer(self.resolve(rel), if_none_match, if_modified_since, range_, if_range)

    def _make_handler(self) -> Callable[..., Awaitable[Response | StreamingResponse]]:
        files = self

        async def static_file(path: str, if_none_match: Annotated[str, Header()] = "",
                              if_modified_since: Annotated[str, Header()] = "",
                              range_: Annotated[str, Header(alias="range")] = "",
                              if_range: Annotated[str, Header()] = "") -> Response | StreamingResponse:
            return await run_file_io(files.serve, path, if_none_match, if_modified_since, range_, if_range)

        return static_file

    def _make_index(self) -> Callable[..., Awaitable[Response | StreamingResponse]]:
        files = self

        async def static_index(if_none_match: Annotated[str, Header()] = "",
                               if_modified_since: Annotated[str, Header()] = "") -> Response | StreamingResponse:
            return await run_file_io(files.serve, "", if_none_match, if_modified_since, "", "")

        return static_index
