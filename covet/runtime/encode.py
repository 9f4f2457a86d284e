"""Turns handler results and errors into protocol-neutral replies.

A reply is ``(status, headers, body)``: ``headers`` a tuple (constant,
so the HTTP/1 writer can cache its rendering) or a list of lower-cased
``(name, value)`` byte pairs.  A ``StreamingResponse`` travels as itself.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Final, TypeAlias, final

import pydantic_core

from covet.exceptions import HTTPError
from covet.responses import Response, StreamingResponse
from covet.runtime.exits import AfterReply

__all__ = [
    "HeaderSet",
    "Reply",
    "H_TEXT",
    "H_BYTES",
    "H_JSON",
    "H_NONE",
    "encode_any",
    "encode_untyped",
    "reply_of",
    "error_reply",
    "http_error_reply",
    "validation_reply",
    "server_error_reply",
    "INTERNAL_ERROR",
    "set_debug",
    "add_errors",
    "missing_error",
]


@final
class HeaderSet:
    """A fixed set of response headers; each protocol caches its rendering here.

    Replies built by the glue share a few of these, so the HTTP/1 status line
    and header lines are rendered once per (set, status), not per request.
    """

    __slots__ = ("pairs", "h1")

    def __init__(self, pairs: Iterable[tuple[bytes, bytes]]) -> None:
        self.pairs = tuple(pairs)
        self.h1: dict[int, bytes] = {}

    def __iter__(self) -> Iterator[tuple[bytes, bytes]]:
        return iter(self.pairs)

    def __add__(self, other: Iterable[tuple[bytes, bytes]]) -> HeaderSet:
        return HeaderSet(self.pairs + tuple(other))

    def __repr__(self) -> str:
        return f"HeaderSet({self.pairs!r})"


HeaderSeq: TypeAlias = HeaderSet | Sequence[tuple[bytes, bytes]]
# A route with work to run after its response (background tasks, generator dependencies) returns an AfterReply.
Reply: TypeAlias = tuple[int, HeaderSeq, bytes] | StreamingResponse | AfterReply

H_TEXT: Final = HeaderSet(((b"content-type", b"text/plain; charset=utf-8"),))
H_BYTES: Final = HeaderSet(((b"content-type", b"application/octet-stream"),))
H_JSON: Final = HeaderSet(((b"content-type", b"application/json"),))
H_NONE: Final = HeaderSet(())

log = logging.getLogger("covet.error")


def reply_of(result: Response | StreamingResponse) -> Reply:
    if isinstance(result, StreamingResponse):
        return result
    after = result.after
    if after is not None:  # a response middleware handed on, with its route's work still to run
        return AfterReply((result.status, result.raw_headers, result.body), after)
    return (result.status, result.raw_headers, result.body)


def encode_any(result: object, status: int) -> Reply:
    """Encode a result whose type was not known when the route was planned."""
    if isinstance(result, str):
        return (status, H_TEXT, result.encode())
    if isinstance(result, (Response, StreamingResponse)):
        return reply_of(result)
    if result is None:
        return (204 if status == 200 else status, H_NONE, b"")
    if isinstance(result, (bytes, bytearray, memoryview)):
        return (status, H_BYTES, bytes(result))
    # (Typed, if only as Any: FastAPI serializes it with pydantic, a timedelta as ISO 8601.)
    return (status, H_JSON, pydantic_core.to_json(result, fallback=_json_fallback))


def encode_untyped(result: object, status: int) -> Reply:
    """Encode the result of a handler that declares no type as FastAPI does: JSON whatever it is (a ``str`` as a
    JSON string, None as ``null``), unless it is a response; no body for a status that has none."""
    if isinstance(result, (Response, StreamingResponse)):
        return reply_of(result)
    if status < 200 or status == 204 or status == 304:
        return (status, H_NONE, b"")
    return (status, H_JSON, untyped_json(result))


def untyped_json(value: object) -> bytes:
    """Any value as JSON, as an unannotated handler's result is written: FastAPI's ``jsonable_encoder`` writes a
    timedelta as its seconds. (It also writes a Decimal as a number and a UTC datetime with ``+00:00``; pydantic-core
    has no such modes: docs/migrating-from-fastapi.md.)"""
    return pydantic_core.to_json(value, timedelta_mode="float", fallback=_json_fallback)


def _json_fallback(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def error_reply(
    status: int, detail: object, headers: Sequence[tuple[bytes, bytes]] = ()
) -> tuple[int, HeaderSeq, bytes]:
    body = pydantic_core.to_json({"detail": detail}, fallback=str)
    return (status, H_JSON + headers if headers else H_JSON, body)


def http_error_reply(exc: HTTPError) -> tuple[int, HeaderSeq, bytes]:
    try:
        extra = tuple((str(k).lower().encode("latin-1"), str(v).encode("latin-1")) for k, v in exc.headers.items())
    except UnicodeEncodeError as err:  # the writer checks every other byte of a header (native/fields.h)
        log.error("response not sent, answered 500 instead: a header of %r is not Latin-1: %s", exc, err)
        return INTERNAL_ERROR
    return error_reply(exc.status, exc.detail, extra)


# What an unhandled exception answers: FastAPI's (Starlette's ServerErrorMiddleware) plain text, not a JSON detail.
INTERNAL_ERROR: Final = (500, H_TEXT, b"Internal Server Error")


@final
class _Debug:
    """Whether a 500 shows its traceback (``Covet(debug=True)``, ``covet dev``): never in production."""

    on: bool = False


_DEBUG: Final = _Debug()


def set_debug(on: bool) -> None:
    _DEBUG.on = on


def server_error_reply(label: str, exc: BaseException) -> tuple[int, HeaderSeq, bytes]:
    log.error("unhandled exception in %s", label, exc_info=exc)
    if _DEBUG.on:
        import traceback

        page = f"500 Internal Server Error in {label}\n\n" + "".join(traceback.format_exception(exc))
        return 500, [(b"content-type", b"text/plain; charset=utf-8")], page.encode("utf-8", "replace")
    return INTERNAL_ERROR


def add_errors(
    errors: list[dict[str, Any]] | None, exc: pydantic_core.ValidationError, loc: tuple[str | int, ...]
) -> list[dict[str, Any]]:
    """Append ``exc``'s errors in FastAPI's shape, ``loc`` prefixed by the source."""
    if errors is None:
        errors = []
    for err in exc.errors(include_url=False):
        value = err["input"]
        if isinstance(value, bytes):
            # A body that is not UTF-8 is echoed as text all the same: the error reply must stay JSON.
            value = value.decode("utf-8", "replace")
        item: dict[str, Any] = {
            "type": err["type"],
            "loc": [*loc, *err["loc"]],
            "msg": err["msg"],
            "input": value,
        }
        ctx = err.get("ctx")
        if ctx:
            item["ctx"] = {k: v if isinstance(v, (str, int, float, bool)) else str(v) for k, v in ctx.items()}
        errors.append(item)
    return errors


def missing_error(errors: list[dict[str, Any]] | None, loc: tuple[str | int, ...]) -> list[dict[str, Any]]:
    if errors is None:
        errors = []
    errors.append({"type": "missing", "loc": list(loc), "msg": "Field required", "input": None})
    return errors


def validation_reply(errors: list[dict[str, Any]]) -> tuple[int, HeaderSeq, bytes]:
    try:
        body = pydantic_core.to_json({"detail": errors}, fallback=str)
    except pydantic_core.PydanticSerializationError:  # an input JSON cannot hold: the errors go without inputs
        body = pydantic_core.to_json({"detail": [{**e, "input": None} for e in errors]}, fallback=str)
    return (422, H_JSON, body)
