"""Parsing a request's form (urlencoded or multipart) for the glue of routes with Form and File parameters.

Multipart bodies go through python-multipart, which keeps a file part in
memory up to ``SPOOL_BYTES`` and moves it to a temporary file past that.
The body itself is bounded by the server's body limit before any of this runs.
"""

from __future__ import annotations

from typing import Any, Final, final

import python_multipart
from python_multipart.multipart import parse_options_header
from python_multipart.exceptions import FormParserError

from covet.runtime.formdata import parse_query
from covet.uploads import UploadFile

__all__ = ["FormData", "parse_form", "SPOOL_BYTES", "MAX_PARTS"]

SPOOL_BYTES: Final = 1024 * 1024  # a file part larger than this goes to disk
MAX_PARTS: Final = 1000  # fields and files together: a form of a million empty parts is refused


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


def parse_form(headers: list[tuple[str, str]], body: bytes) -> FormData:
    """The form in ``body``; an empty one when the request sent none, with ``error`` set when it is malformed."""
    form = FormData()
    ctype = _content_type(headers)
    mime = ctype.split(";", 1)[0].strip().lower()
    if mime == "application/x-www-form-urlencoded":
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            form.error = "the form is not UTF-8"
            return form
        form.fields = parse_query(text)
        if len(form.fields) > MAX_PARTS:
            form.error = f"the form has more than {MAX_PARTS} fields"
            form.fields = []
        return form
    if mime != "multipart/form-data":
        if body:
            form.error = f"expected a form (multipart/form-data or application/x-www-form-urlencoded), got {mime or 'no content type'}"
        return form
    parts = 0

    def on_field(field: Any) -> None:
        nonlocal parts
        parts += 1
        if parts > MAX_PARTS:
            raise FormParserError(f"the form has more than {MAX_PARTS} parts")
        value = field.value or b""
        form.fields.append((field.field_name.decode("utf-8", "replace"), value.decode("utf-8", "replace")))

    def on_file(f: Any) -> None:
        nonlocal parts
        parts += 1
        if parts > MAX_PARTS:
            raise FormParserError(f"the form has more than {MAX_PARTS} parts")
        f.file_object.seek(0)
        name = f.file_name.decode("utf-8", "replace") if f.file_name else None
        ctype = f.content_type.decode("latin-1") if isinstance(f.content_type, bytes) else (f.content_type or "")
        form.files.append((f.field_name.decode("utf-8", "replace"),
                           UploadFile(name, ctype or "application/octet-stream", f.file_object, f.size)))

    _, options = parse_options_header(ctype)
    boundary = options.get(b"boundary")
    if not boundary:
        form.error = "the multipart form has no boundary"
        return form
    try:
        parser = python_multipart.FormParser("multipart/form-data", on_field, on_file, boundary=boundary,
                                            config={"MAX_MEMORY_FILE_SIZE": SPOOL_BYTES, "MAX_BODY_SIZE": len(body) + 1})
        parser.write(body)
        parser.finalize()
    except (FormParserError, ValueError) as exc:
        for _, upload in form.files:
            upload.file.close()
        form.fields, form.files = [], []
        form.error = f"the multipart form could not be read: {exc}"
    return form
