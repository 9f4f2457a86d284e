"""What every route's glue calls, interpreted or compiled: one import for all of it.

The generated glue (``covet.runtime.glue``, or the module ``covet build``
writes) refers only to these names, to the handler, and to the validators and
serializers it builds from the handler's types once at import.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import operator
import sys
import types
import typing
from collections.abc import Callable
from typing import Any, Final

import pydantic
import pydantic_core
import typing_extensions
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
    validate: Callable[[Any], Any] = _schema_validator(tp).validate_python
    return validate


def json_validator(tp: Any) -> Callable[[bytes], Any]:
    """Parse and validate a JSON body as ``tp``."""
    validate: Callable[[bytes], Any] = _schema_validator(tp).validate_json
    return validate


def serializer(tp: Any) -> Callable[[Any], bytes]:
    """Encode a ``tp`` result as JSON bytes."""
    adapter = pydantic.TypeAdapter(_for_pydantic(tp))
    schema = _native_dataclasses(adapter.core_schema)
    if schema is None:
        return adapter.serializer.to_json
    return pydantic_core.SchemaSerializer(schema).to_json


def _schema_validator(tp: Any) -> Any:
    adapter = pydantic.TypeAdapter(_for_pydantic(tp))
    schema = _native_dataclasses(adapter.core_schema)
    if schema is None:
        return adapter.validator
    return pydantic_core.SchemaValidator(schema)


def _native_dataclasses(schema: Any) -> Any:
    """A copy of ``schema`` that sets fields one by one on mypyc-compiled dataclasses, or None.

    A dataclass compiled by mypyc is a native class: its instances have no
    ``__dict__``, which pydantic-core fills directly unless told the class uses
    slots. Setting each field through the class's descriptors works for both.
    """
    found = False

    def walk(node: Any) -> Any:
        nonlocal found
        if isinstance(node, dict):
            out = {k: walk(v) for k, v in node.items()}
            cls = node.get("cls")
            if node.get("type") == "dataclass" and isinstance(cls, type) and cls.__dictoffset__ == 0:
                out["slots"] = True
                found = True
            return out
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    copied = walk(schema)
    return copied if found else None


_TYPEDDICTS: dict[Any, Any] = {}


def _for_pydantic(tp: Any) -> Any:
    """``tp`` with each TypedDict remade with ``typing_extensions``.

    mypyc compiles a ``typing_extensions.TypedDict`` class into a ``typing`` one,
    which pydantic refuses on Python < 3.12; the fields are the same.
    """
    if sys.version_info >= (3, 12):
        return tp
    if typing_extensions.is_typeddict(tp):
        if type(tp).__module__ == "typing_extensions":
            return tp
        cached = _TYPEDDICTS.get(tp)
        if cached is None:
            hints = typing.get_type_hints(tp, include_extras=True)
            fields = {k: _for_pydantic(v) for k, v in hints.items()}
            make: Any = typing_extensions.TypedDict
            cached = make(tp.__name__, fields, total=getattr(tp, "__total__", True))
            cached.__module__ = tp.__module__
            _TYPEDDICTS[tp] = cached
        return cached
    args = typing.get_args(tp)
    origin = typing.get_origin(tp)
    if not args or origin is None:
        return tp
    new = tuple(_for_pydantic(a) for a in args)
    if new == args:
        return tp
    if origin is typing.Union or origin is types.UnionType:
        return functools.reduce(operator.or_, new)
    if origin is typing.Annotated:
        return typing.Annotated[new]
    return origin[new]


