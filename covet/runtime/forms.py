"""Reading a request's form (urlencoded or multipart) for the glue of routes with Form and File parameters.

Multipart bodies go through python-multipart's streaming parser, fed as the
body arrives: a file part is kept in memory up to ``SPOOL_BYTES`` and moves
to a temporary file past that, so an upload larger than memory is never
held whole.  Everything that must be held whole (urlencoded forms, the
values of multipart fields) counts against the in-memory body limit: 413
past it.

A route's form limits (FastAPI's ``form_limits``: most fields, most files,
largest field) answer 400 past them, in Starlette's words, which FastAPI's
clients see.
"""

from __future__ import annotations

import io
import tempfile
from typing import IO, Final, final

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from covet.exceptions import HTTPError
from covet.requests import Headers
from covet.runtime.body import RequestBody
from covet.runtime.fileio import run_file_io
from covet.uploads import UploadFile

__all__ = ["FormData", "FormReader", "parse_form", "read_form", "SPOOL_BYTES", "FORM_LIMITS"]

SPOOL_BYTES: Final = 1024 * 1024  # a file part larger than this goes to disk
# (max_fields, max_files, max_part_size) where the application sets none: Starlette's, as FastAPI has them.
FORM_LIMITS: Final = (1000, 1000, 1024 * 1024)
_UNLIMITED: Final = 1 << 62
_PART_SLACK: Final = 64 * 1024  # a field's name and part headers, held beside its value


@final
class FormData:
    """The fields and files of one request's form, in the order sent; ``error`` says why it could not be read."""

    __slots__ = ("fields", "files", "error")

    def __init__(self) -> None:
        self.fields: list[tuple[str, str]] = []
        self.files: list[tuple[str, UploadFile]] = []
        self.error: str | None = None


def _content_type(headers: list[tuple[str, str]]) -> str:
    for k, v in headers:
        if k == "content-type":
            return v
    return ""


@final
class _Spool:
    """A file part as it arrives: its pieces in memory up to ``SPOOL_BYTES``, then a temporary file.

    Past the threshold the pieces are written out as they are; ``tempfile.SpooledTemporaryFile`` would first grow
    one buffer to the threshold and then copy it, about three times the memory for each upload in flight.
    """

    __slots__ = ("pieces", "size", "disk")

    def __init__(self) -> None:
        self.pieces: list[bytes] = []
        self.size = 0
        self.disk: IO[bytes] | None = None

    def write(self, data: bytes) -> None:
        disk = self.disk
        if disk is not None:
            disk.write(data)
            return
        self.pieces.append(data)
        self.size += len(data)
        if self.size > SPOOL_BYTES:
            disk = self.disk = tempfile.TemporaryFile()  # unlinked: gone when closed
            disk.writelines(self.pieces)
            self.pieces = []

    def file(self) -> IO[bytes]:
        """The part's content, read from its start."""
        disk = self.disk
        if disk is None:
            return io.BytesIO(b"".join(self.pieces))
        disk.seek(0)
        return disk

    def close(self) -> None:
        self.pieces = []
        if self.disk is not None:
            self.disk.close()


def _too_many(what: str, limit: int) -> HTTPError:
    return HTTPError(400, f"Too many {what}. Maximum number of {what} is {limit}.")


def _too_large(limit: int) -> HTTPError:
    return HTTPError(413, f"The form's fields are too large (over {limit} bytes in memory)")


@final
class FormReader:
    """Parses a form from the pieces of its body, written in order; ``finish`` gives the ``FormData``.

    ``memory_limit`` bounds what is held in memory besides spooled files: past it, ``write`` raises
    ``HTTPError(413)``; past ``limits`` (``FORM_LIMITS``'s order), ``HTTPError(400)``.  A malformed form sets
    ``form.error`` and ignores the rest.
    """

    __slots__ = ("form", "memory_limit", "max_fields", "max_files", "max_part_size", "_kind", "_held", "_text",
                 "_mp", "_fields", "_files", "_headers", "_hname", "_hvalue", "_name", "_filename", "_ctype",
                 "_value", "_spool", "_size", "_ended")

    def __init__(self, headers: list[tuple[str, str]], memory_limit: int,
                 limits: tuple[int, int, int] = FORM_LIMITS) -> None:
        self.form = FormData()
        self.max_fields, self.max_files, self.max_part_size = limits
        # A route whose fields may be larger than the server's in-memory limit (its form_limits) holds one, with
        # its name and part headers.
        self.memory_limit = max(memory_limit, self.max_part_size + _PART_SLACK)
        self._held = 0
        self._text: list[bytes] = []
        self._mp: MultipartParser | None = None
        self._fields = 0
        self._files = 0
        self._headers: dict[bytes, bytes] = {}
        self._hname: list[bytes] = []
        self._hvalue: list[bytes] = []
        self._name = ""
        self._filename: str | None = None
        self._ctype = ""
        self._value: list[bytes] | None = None
        self._spool: _Spool | None = None
        self._size = 0
        self._ended = False
        ctype = _content_type(headers)
        mime = ctype.split(";", 1)[0].strip().lower()
        self._kind = mime
        if mime == "multipart/form-data":
            _, options = parse_options_header(ctype)
            boundary = options.get(b"boundary")
            if not boundary:
                self.form.error = "the multipart form has no boundary"
                return
            try:
                self._mp = MultipartParser(boundary, {
                    "on_part_begin": self._part_begin,
                    "on_header_field": self._header_field,
                    "on_header_value": self._header_value,
                    "on_header_end": self._header_end,
                    "on_headers_finished": self._headers_finished,
                    "on_part_data": self._part_data,
                    "on_part_end": self._part_end,
                    "on_end": self._end,
                })
            except (FormParserError, ValueError) as exc:
                self.form.error = f"the multipart form could not be read: {exc}"

    def write(self, data: bytes) -> None:
        """The next piece of the body."""
        if self.form.error is not None or not data:
            return
        if self._mp is not None:
            try:
                self._mp.write(data)
            except (FormParserError, ValueError) as exc:
                self._fail(f"the multipart form could not be read: {exc}")
            except BaseException:
                self._close_files()
                raise
            return
        if self._kind == "application/x-www-form-urlencoded":
            self._text.append(data)
            if self._held + len(data) > self.memory_limit:  # one field too large is the 400 FastAPI gives
                self._check_field_sizes(b"".join(self._text))
            self._hold(len(data))
        # Any other body (JSON, text, no content type) is no form: read as an empty one, each field then missing,
        # as in FastAPI.

    def finish(self) -> FormData:
        """The form, once the whole body was written."""
        form = self.form
        if form.error is not None:
            return form
        if self._mp is not None:
            if not self._ended:
                self._fail("the multipart form could not be read: it ends before its closing boundary")
            return form
        if self._kind == "application/x-www-form-urlencoded":
            raw = b"".join(self._text)
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                form.error = "the form is not UTF-8"
                return form
            # Imported here: `import covet` needs no native extension (see responses.check_field).
            from covet._native import parse_urlencoded

            self._check_field_sizes(raw)
            try:
                # In C, in one pass: unquote_plus's per-escape slow path made a form of '%' cost ~0.5 s per MiB.
                pairs = parse_urlencoded(raw, min(self.max_fields, _UNLIMITED))
            except ValueError:  # more than max_fields, found before any is decoded
                raise _too_many("fields", self.max_fields) from None
            form.fields = [(n.decode("utf-8", "replace"), v.decode("utf-8", "replace")) for n, v in pairs]
        return form

    def _check_field_sizes(self, raw: bytes) -> None:
        if len(raw) > self.max_part_size:  # else no field can be larger
            for piece in raw.split(b"&"):
                # Starlette counts a field's name and value as sent, without the "=".
                if len(piece) - (b"=" in piece) > self.max_part_size:
                    raise HTTPError(400, f"Field exceeded maximum size of {self.max_part_size // 1024}KB.")

    # -- multipart callbacks ---------------------------------------------------

    def _part_begin(self) -> None:
        self._headers = {}

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._hold(end - start)
        self._hname.append(data[start:end])

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._hold(end - start)
        self._hvalue.append(data[start:end])

    def _header_end(self) -> None:
        self._headers[b"".join(self._hname).lower()] = b"".join(self._hvalue).strip(b" \t")
        self._hname.clear()
        self._hvalue.clear()

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition"))
        name = options.get(b"name")
        if name is None:
            raise FormParserError("a part has no name in its Content-Disposition")
        self._name = name.decode("utf-8", "replace")
        filename = options.get(b"filename")
        self._filename = filename.decode("utf-8", "replace") if filename is not None else None
        self._ctype = self._headers.get(b"content-type", b"").decode("latin-1")
        self._size = 0
        if filename is None:
            self._fields += 1
            if self._fields > self.max_fields:
                raise _too_many("fields", self.max_fields)
            self._value = []
        else:
            self._files += 1
            if self._files > self.max_files:
                raise _too_many("files", self.max_files)
            self._value = None
            self._spool = _Spool()

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        n = end - start
        self._size += n
        spool = self._spool
        if spool is not None:
            spool.write(data[start:end])
        elif self._value is not None:
            if self._size > self.max_part_size:
                self._close_files()
                raise HTTPError(400, f"Part exceeded maximum size of {self.max_part_size // 1024}KB.")
            self._hold(n)
            self._value.append(data[start:end])

    def _part_end(self) -> None:
        spool = self._spool
        if spool is not None:
            self._spool = None
            headers = Headers([(k.decode("latin-1"), v.decode("latin-1")) for k, v in self._headers.items()])
            upload = UploadFile(self._filename or None, self._ctype or "application/octet-stream", spool.file(),
                                self._size, headers)
            self.form.files.append((self._name, upload))
        elif self._value is not None:
            self.form.fields.append((self._name, b"".join(self._value).decode("utf-8", "replace")))
            self._value = None

    def _end(self) -> None:
        self._ended = True

    # -- helpers -------------------------------------------------------------------

    def _hold(self, n: int) -> None:
        self._held += n
        if self._held > self.memory_limit:
            self._close_files()
            raise _too_large(self.memory_limit)

    def _fail(self, why: str) -> None:
        self._close_files()
        self.form.fields, self.form.files = [], []
        self.form.error = why

    def close(self) -> None:
        """Closes (and so removes) the files read so far: the form will not be used."""
        self._close_files()

    def _close_files(self) -> None:
        for _, upload in self.form.files:
            upload.file.close()
        if self._spool is not None:
            self._spool.close()
            self._spool = None


def parse_form(headers: list[tuple[str, str]], body: bytes, limits: tuple[int, int, int] = FORM_LIMITS) -> FormData:
    """The form in ``body`` (already within the body limit); an empty one when the request sent none, with
    ``error`` set when it is malformed."""
    reader = FormReader(headers, _UNLIMITED, limits)
    try:
        reader.write(body)
        return reader.finish()
    except BaseException:
        reader.close()
        raise


async def read_form(headers: list[tuple[str, str]], body: bytes | RequestBody,
                    limits: tuple[int, int, int] = FORM_LIMITS) -> FormData:
    """The form of a request whose body is in memory or still arriving (a ``RequestBody``).

    Pieces of a streamed body are parsed in a worker thread, since past ``SPOOL_BYTES`` a file part is written
    to disk; the event loop serves other requests meanwhile.
    """
    if isinstance(body, bytes):
        return parse_form(headers, body, limits)
    # A route's own max_body_size past the server's in-memory limit may all be form fields.
    reader = FormReader(headers, max(body.memory_limit, body.limit), limits)
    try:
        while reader.form.error is None:  # a malformed form is answered at once; the rest is dropped
            data = await body.read()
            if not data:
                break
            await run_file_io(reader.write, data)
    except BaseException:
        reader.close()
        raise
    return reader.finish()
