"""What every route's glue calls, interpreted or compiled: one import for all of it.

The generated glue (``covet.runtime.glue``, or the module ``covet build``
writes) refers only to these names, to the handler, and to the validators and
serializers it builds from the handler's types once at import.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from typing import Any, Final

import pydantic
from pydantic_core import ValidationError, from_json

from covet.requests import Request
from covet.responses import Response, StreamingResponse
from covet.runtime.connection import ConnectionInfo
from covet.runtime.encode import (
    H_BYTES,
    H_JSON,
    H_NONE,
    H_TEXT,
    Reply,
    add_errors,
    encode_any,
    missing_error,
    reply_of,
    validation_reply,
)
from covet.runtime.formdata import parse_cookies, parse_query
from covet.runtime.signature import MISSING

__all__ = [
    "MISSING", "ValidationError", "from_json", "Request", "ConnectionInfo", "Reply", "RESPONSES",
    "H_BYTES", "H_JSON", "H_NONE", "H_TEXT", "add_errors", "encode_any", "missing_error", "reply_of",
    "validation_reply", "parse_cookies", "parse_query", "run_blocking", "validator", "json_validator",
    "serializer",
]

RESPONSES: Final = (Response, StreamingResponse)


async def run_blocking(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a sync handler in the loop's thread pool, with the caller's context variables."""
    loop = asyncio.get_running_loop()
    ctx = contextvars.copy_context()
    return await loop.run_in_executor(None, functools.partial(ctx.run, func, *args, **kwargs))


def validator(tp: Any) -> Callable[[Any], Any]:
    """Validate-and-convert a Python value (a query string, a header) to ``tp``."""
    return pydantic.TypeAdapter(tp).validator.validate_python


def json_validator(tp: Any) -> Callable[[bytes], Any]:
    """Parse and validate a JSON body as ``tp``."""
    return pydantic.TypeAdapter(tp).validator.validate_json


def serializer(tp: Any) -> Callable[[Any], bytes]:
    """Encode a ``tp`` result as JSON bytes."""
    return pydantic.TypeAdapter(tp).serializer.to_json


