"""What every route's glue calls, interpreted or compiled: one import for all of it.

The generated glue (``covet.runtime.glue``, or the module ``covet build``
writes) refers only to these names, to the handler, and to the validators and
serializers it builds from the handler's types once at import.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import enum
import functools
import inspect
import operator
import sys
import types
import typing
from collections.abc import Callable
from functools import partial
from typing import Any, Final, TypeVar
from urllib.parse import unquote_plus

import pydantic
import pydantic_core
import typing_extensions
from pydantic_core import ValidationError, from_json

from covet.background import BackgroundTasks
from covet.exceptions import HTTPError, RequestValidationError, ResponseValidationError
from covet.requests import Request
from covet.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from covet.runtime.body import RequestBody
from covet.runtime.bodyerrors import body_errors, json_decode_errors, unparsed_errors
from covet.runtime.connection import ConnectionInfo
from covet.runtime.encode import (
    H_BYTES,
    H_JSON,
    H_NONE,
    H_TEXT,
    Reply,
    add_errors,
    encode_any,
    encode_untyped,
    missing_error,
    reply_of,
    untyped_json,
    validation_reply,
)
from covet.runtime.exits import after_reply, finish_now, finish_now_sync, first_yield, unwind, unwind_sync
from covet.runtime.formdata import json_declared, parse_cookies, parse_query
from covet.runtime.forms import read_form
from covet.runtime.handlers import handled_error, handled_error_async
from covet.runtime.parammodels import add_model_errors, model_input, union_input
from covet.runtime.signature import MISSING
from covet.runtime.streaming import stepped

__all__ = [
    "MISSING", "ValidationError", "from_json", "body_errors", "json_decode_errors", "unparsed_errors", "Request",
    "ConnectionInfo", "Reply", "RESPONSES",
    "H_BYTES", "H_JSON", "H_NONE", "H_TEXT", "add_errors", "encode_any", "encode_untyped",
    "missing_error", "reply_of",
    "validation_reply", "parse_cookies", "parse_query", "json_declared", "text_validator", "run_blocking",
    "partial", "validator", "json_validator",
    "serializer", "result_validator", "fields_validator", "BackgroundTasks", "after_reply", "finish_now",
    "finish_now_sync", "first_yield", "unwind", "unwind_sync",
    "handled_error", "handled_error_async", "HTTPError", "RequestValidationError", "read_form", "RequestBody",
    "temporal_response", "merge_response", "file_bytes", "class_reply", "json_class_reply", "JSONResponse",
    "model_input", "union_input", "add_model_errors", "received_json", "jsonl_reply", "scalar_table",
    "json_flat", "json_records",  # noqa: F822 (the native writers, bound when asked for: see __getattr__)
    "unquote_plus",
]

RESPONSES: Final = (Response, StreamingResponse)
T = TypeVar("T")


async def run_blocking(call: Callable[[], T]) -> T:
    """Run a sync handler or dependency in the loop's thread pool, with the caller's context variables."""
    return await asyncio.get_running_loop().run_in_executor(None, contextvars.copy_context().run, call)


def received_json(body: Any, headers: Any, strict: bool) -> Any:
    """FastAPI's ``RequestValidationError.body`` for a JSON body: what it decoded to, its text when it does not
    decode, the bytes when its Content-Type does not say JSON, None when there is none (only on the way to the
    application's own handler of the error)."""
    if not isinstance(body, bytes) or not body:
        return None
    if not json_declared(headers, strict):
        return body
    try:
        return from_json(body)
    except ValueError:
        return body.decode("utf-8", "replace")


def validator(tp: Any) -> Callable[[Any], Any]:
    """Validate-and-convert a Python value (a query string, a header) to ``tp``."""
    validate: Callable[[Any], Any] = _schema_validator(tp).validate_python
    return validate


# The strings a bool parameter is most often sent as; pydantic takes more (any case), which its validator still sees.
_BOOL_WORDS: Final = ("true", "false", "1", "0", "True", "False", "yes", "no", "on", "off")


def scalar_table(tp: Any) -> dict[str, Any] | None:
    """For a parameter of a bool, string Enum or string Literal type (perhaps ``| None``, perhaps in ``Annotated``
    with CovetPy's markers only), what its validator returns for each string it is commonly sent as; None for any
    other type.

    A build's glue looks the raw string up in this table first, and calls the validator only when it is not
    there: a dict lookup instead of a call into pydantic-core (about 30 ns less a parameter, measured in
    docs/compiling.md). Each entry is the validator's own answer, so a value reads the same either way.
    """
    from covet.params import Param

    core = tp
    if typing.get_origin(core) is typing.Annotated:
        core, *metadata = typing.get_args(core)
        if not all(isinstance(m, Param) for m in metadata):
            return None  # a validator function or a constraint of pydantic's own: it runs on every value
    args = typing.get_args(core)
    if typing.get_origin(core) in (typing.Union, types.UnionType) and len(args) == 2 and type(None) in args:
        core = args[0] if args[1] is type(None) else args[1]
    words: list[str]
    if core is bool:
        words = list(_BOOL_WORDS)
    elif isinstance(core, type) and issubclass(core, enum.Enum):
        words = [m.value for m in core if type(m.value) is str]
    elif typing.get_origin(core) is typing.Literal:
        words = [a for a in typing.get_args(core) if type(a) is str]
    else:
        return None
    validate = validator(tp)
    table: dict[str, Any] = {}
    for word in words:
        try:
            table[word] = validate(word)
        except ValidationError:
            continue
    return table or None


# The value types covet._native's json_flat and json_records write (their mask argument): the native module's
# JSON_* constants, which tests/test_json_flat.py holds equal to these.
JSON_STR: Final = 1
JSON_INT: Final = 2
JSON_FLOAT: Final = 4
JSON_BOOL: Final = 8
JSON_NONE: Final = 16


def __getattr__(name: str) -> Any:
    # The native writers are bound when a glue is (serving), not when covet is imported: a process that imports
    # covet without the native extension's runtime (native/tests/asan_server.sh's) must be able to.
    if name in ("json_flat", "json_records"):
        from covet import _native

        return getattr(_native, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_FLAT_BITS: Final[dict[Any, int]] = {str: JSON_STR, int: JSON_INT, float: JSON_FLOAT, bool: JSON_BOOL,
                                     type(None): JSON_NONE, None: JSON_NONE}
_FLAT_ANY: Final = JSON_STR | JSON_INT | JSON_FLOAT | JSON_BOOL | JSON_NONE


def flat_mask(tp: Any) -> int:
    """The value types ``json_flat`` may write for a result declared ``tp``: a dict of str keys whose values are
    scalars (``dict[str, int]``, ``dict[str, str | None]``) or anything (``dict[str, object]``); 0 for any other
    type.

    A value of exactly one of those types reads the same validated and serialized by pydantic-core (its smart
    union picks the exact type); anything else (an int declared float, a bool declared int, an Enum) makes
    ``json_flat`` decline, and the result takes pydantic-core's path.
    """
    if tp is dict:
        return _FLAT_ANY
    if typing.get_origin(tp) is not dict:
        return 0
    key, value = typing.get_args(tp)
    if key is not str:
        return 0
    if value is Any or value is object:
        return _FLAT_ANY
    members = typing.get_args(value) if typing.get_origin(value) in (typing.Union, types.UnionType) else (value,)
    mask = 0
    for member in members:
        bit = _FLAT_BITS.get(member, 0) if isinstance(member, type) or member is None else 0
        if not bit:
            return 0
        mask |= bit
    return mask


def record_fields(tp: Any) -> tuple[type, bool, tuple[str, ...], tuple[int, ...]] | None:
    """(class, a list of them, field names, field masks) when a result declared ``tp`` (a dataclass, a pydantic
    model or a TypedDict, whose class here is ``dict``; or a list of one) is written by ``json_records``: every
    field a scalar (perhaps ``| None``) serialized as itself under its own name, and the class adding nothing to
    its JSON (no alias, computed field, custom serializer or extra fields); None for any other type."""
    many = typing.get_origin(tp) is list
    found = typing.get_args(tp)[0] if many else tp
    if not isinstance(found, type):
        return None
    cls: type = found
    try:
        schema = pydantic.TypeAdapter(_for_pydantic(cls)).core_schema
    except Exception:
        return None
    while schema.get("type") == "definitions":
        schema = schema["schema"]
    if schema.get("type") == "typed-dict":
        # A TypedDict's values are a plain dict's: written in the declared order (the result is validated first,
        # which orders it so) without the keys it does not declare (validation drops them).
        if schema.get("extra_behavior") == "allow" or schema.get("serialization"):
            return None
        inner, cls = schema, dict
    elif schema.get("type") in ("model", "dataclass") and not schema.get("serialization") and schema.get("cls") is cls:
        inner = schema["schema"]
    else:
        return None
    if inner.get("type") not in ("model-fields", "dataclass-args", "typed-dict") or inner.get("computed_fields"):
        return None
    if inner.get("extras_schema") is not None or schema.get("config", {}).get("extra_fields_behavior") == "allow":
        return None
    fields = inner["fields"]
    items = fields.items() if isinstance(fields, dict) else [(f["name"], f) for f in fields]
    names: list[str] = []
    masks: list[int] = []
    for name, field in items:
        if field.get("serialization_alias") or field.get("serialization_exclude") or field.get("init_only"):
            return None
        mask = _scalar_schema_mask(field["schema"])
        if not mask:
            return None
        names.append(name)
        masks.append(mask)
    if cls.__dictoffset__ and any(_data_descriptor(cls, name) for name in names):
        return None  # json_records reads an instance's __dict__: a property of the same name would be bypassed
    return cls, many, tuple(names), tuple(masks)


def _data_descriptor(cls: type, name: str) -> bool:
    found = inspect.getattr_static(cls, name, None)
    return hasattr(type(found), "__set__") or hasattr(type(found), "__delete__")


# What a scalar's core schema may hold besides its type: constraints are checked when validating, never written.
_PLAIN_KEYS: Final = frozenset({"type", "strict", "metadata", "ref", "min_length", "max_length", "pattern", "gt", "ge",
                                "lt", "le", "multiple_of", "allow_inf_nan", "strip_whitespace", "to_lower",
                                "to_upper"})
_SCHEMA_BITS: Final = {"str": JSON_STR, "int": JSON_INT, "float": JSON_FLOAT, "bool": JSON_BOOL, "none": JSON_NONE}


def _scalar_schema_mask(schema: Any) -> int:
    """The json_flat mask of a field's core schema when it is a plain scalar (its default aside), else 0."""
    if schema.get("type") == "default":
        schema = schema["schema"]
    if schema.get("serialization"):
        return 0
    if schema.get("type") == "nullable":
        inner = _scalar_schema_mask(schema["schema"])
        return inner | JSON_NONE if inner else 0
    if set(schema) - _PLAIN_KEYS:
        return 0  # something that may change how it is written: pydantic-core's path
    return _SCHEMA_BITS.get(schema.get("type", ""), 0)


def json_validator(tp: Any) -> Callable[[bytes], Any]:
    """Parse and validate a JSON body as ``tp``."""
    validate: Callable[[bytes], Any] = _schema_validator(tp).validate_json
    return validate


def text_validator(tp: Any) -> Callable[[bytes], Any]:
    """Validate a body that is not declared JSON as ``tp``, as FastAPI does: the text it is, in Python mode."""
    validate = _schema_validator(tp).validate_python

    def from_text(body: bytes) -> Any:
        return validate(body.decode("utf-8", "replace"), from_attributes=True)

    return from_text


def dataclass_fields(tp: Any) -> list[str] | None:
    """The positional ``__init__`` fields of a dataclass pydantic fills plainly, or None.

    For such a class a build validates a JSON body into a dict of its fields
    (faster in pydantic-core than building the instance) and calls the
    compiled constructor itself. Anything that would make the two paths
    differ (``__post_init__``, keyword-only or init-only fields, a config)
    keeps the plain dataclass validator.
    """
    if not dataclasses.is_dataclass(tp) or not isinstance(tp, type):
        return None
    try:
        schema = pydantic.TypeAdapter(_for_pydantic(tp)).core_schema
    except Exception:
        return None
    if schema.get("type") != "dataclass" or schema.get("post_init") or set(schema.get("config", {})) - {"title"}:
        return None
    args = schema["schema"]
    if args.get("type") != "dataclass-args" or args.get("collect_init_only") or args.get("computed_fields"):
        return None
    fields = args["fields"]
    if any(not f.get("init", True) or f.get("kw_only") or f.get("init_only") for f in fields):
        return None
    return [f["name"] for f in fields]


def fields_validator(tp: Any) -> Callable[[bytes], dict[str, Any]]:
    """Parse and validate a JSON body into the ``__init__`` arguments of dataclass ``tp`` (see ``dataclass_fields``)."""
    plain = pydantic.TypeAdapter(_for_pydantic(tp)).core_schema
    schema = _native_dataclasses(plain) or plain
    td = pydantic_core.core_schema.typed_dict_schema({
        f["name"]: pydantic_core.core_schema.typed_dict_field(
            f["schema"], required=f["schema"].get("type") != "default")
        for f in schema["schema"]["fields"]
    })
    validate: Callable[[bytes], dict[str, Any]] = pydantic_core.SchemaValidator(td).validate_json
    return validate


def serializer(tp: Any, by_alias: bool = True, **options: Any) -> Callable[[Any], bytes]:
    """Encode a ``tp`` result as JSON bytes, fields under their alias (FastAPI's default); ``options`` are
    ``to_json``'s (``exclude_unset``, ``include``...)."""
    adapter = pydantic.TypeAdapter(_for_pydantic(tp))
    schema = _native_dataclasses(adapter.core_schema)
    encode = adapter.serializer.to_json if schema is None else pydantic_core.SchemaSerializer(schema).to_json
    if by_alias and _has_alias(adapter.core_schema):
        options["by_alias"] = True
    elif not by_alias:
        options["by_alias"] = False
    # Without options (no field has an alias: the usual case), the plain method saves a call per response.
    if not options:
        return encode
    bound: Callable[[Any], bytes] = partial(encode, **options)
    return bound


def _has_alias(schema: Any) -> bool:
    """Whether a core schema names a field's serialisation alias anywhere."""
    if isinstance(schema, dict):
        return "serialization_alias" in schema or any(_has_alias(v) for v in schema.values())
    if isinstance(schema, list):
        return any(_has_alias(v) for v in schema)
    return False


def temporal_response() -> Response:
    """The ``Response`` a handler parameter gets: what it sets on it goes into the reply (``merge_response``);
    its status stays 0 until the handler sets one."""
    return Response(b"", 0)


def merge_response(reply: Any, response: Response) -> Any:
    """``reply`` with the headers a handler set on its ``Response`` parameter, and its status when it set one."""
    extra = response.to_reply()[1]
    if isinstance(reply, StreamingResponse):  # a generator's stream: its head is not sent yet
        if response.status:
            reply.status = response.status
        reply.raw_headers = _with_headers(reply.raw_headers, extra)
        return reply
    status, headers, body = reply
    if response.status:
        status = response.status
    headers = _with_headers(headers, extra)
    if status in (204, 304) or status < 200:
        body = b""  # these statuses have no body (RFC 9110)
    return (status, headers, body)


def _with_headers(headers: Any, extra: list[tuple[bytes, bytes]]) -> Any:
    """``headers`` and then ``extra``, whose Content-Type replaces theirs."""
    if not extra:
        return headers
    names = {k for k, _ in extra if k == b"content-type"}
    return [*(h for h in headers if h[0] not in names), *extra]


async def file_bytes(upload: Any) -> Any:
    """The content of an uploaded file (or of each, for a list), for a ``bytes`` parameter read with ``File()``."""
    if isinstance(upload, list):
        return [await u.read() for u in upload]
    data: bytes = await upload.read()
    return data


def class_reply(cls: Any, result: Any, status: int, status_given: bool) -> Reply:
    """A result sent as the route's ``response_class``: the body of a text class, the URL of a redirect."""
    made: Response
    if isinstance(cls, type) and issubclass(cls, StreamingResponse):  # a generator handler's items, as they come
        return reply_of(cls(result, status))
    if isinstance(cls, type) and issubclass(cls, RedirectResponse):
        made = cls(str(result), status) if status_given else cls(str(result))
    elif isinstance(cls, type) and issubclass(cls, JSONResponse):
        made = cls(result, status)
    elif isinstance(result, (str, bytes)) or result is None:
        made = cls(result or b"", status)
    else:
        made = cls(str(result), status)
    return reply_of(made)


def jsonl_reply(items: Any, ser: Callable[[Any], bytes] | None, check: Callable[[Any], Any] | None, status: int,
                pooled: bool) -> StreamingResponse:
    """A generator handler's items as FastAPI streams them: JSON Lines, each item encoded as the declared item type
    (``ser(check(item))``), or as any JSON value when none is declared. A plain generator is stepped in the thread
    pool when its handler would run there."""
    encode: Callable[[Any], bytes]
    if ser is not None and check is not None:
        encode = functools.partial(_checked_line, ser, check)
    else:
        encode = untyped_json
    return StreamingResponse(_lines(items, encode, pooled), status, media_type="application/jsonl")


def _checked_line(ser: Callable[[Any], bytes], check: Callable[[Any], Any], item: Any) -> bytes:
    return ser(check(item))


async def _lines(items: Any, encode: Callable[[Any], bytes], pooled: bool) -> Any:
    # Closing this stream (the client went away) closes the handler's generator, so its finally runs.
    if hasattr(items, "__anext__"):
        try:
            async for item in items:
                yield encode(item) + b"\n"
        finally:
            await items.aclose()
        return
    source = stepped(items, pooled)
    try:
        async for item in source:
            yield encode(item) + b"\n"
    finally:
        await source.aclose()


def json_class_reply(cls: Any, body: bytes, status: int) -> Reply:
    """JSON a response model has already encoded, sent with ``cls``'s media type."""
    made = cls(None, status)
    made.body = body
    return reply_of(made)


def result_validator(tp: Any) -> Callable[[Any], Any]:
    """Check a handler's result against its declared type ``tp``, as FastAPI does: a dict is filtered to the
    declared fields, an object is read by attribute, and a result that does not fit raises
    ``ResponseValidationError`` (answered 500, with the reason in the log)."""
    validate: Callable[..., Any] = _schema_validator(tp, finite=False).validate_python
    name = getattr(tp, "__name__", None) or repr(tp)

    def check(value: Any) -> Any:
        try:
            return validate(value, from_attributes=True)
        except ValidationError as exc:
            raise ResponseValidationError([dict(e) for e in exc.errors(include_url=False)], name) from None

    return check


# Parameters refuse inf and NaN ("1e999999", "nan"), which JSON cannot carry back: a float that allows them says
# so with Annotated[float, AllowInfNan(True)] (pydantic's marker) or allow_inf_nan=True on its Query, Path, ...
_FINITE: Final = pydantic.ConfigDict(allow_inf_nan=False)


def param_adapter(tp: Any) -> pydantic.TypeAdapter[Any]:
    """The adapter that validates a parameter of type ``tp``: finite floats only, unless ``tp`` allows more."""
    tp = _for_pydantic(tp)
    try:
        return pydantic.TypeAdapter(tp, config=_FINITE)
    except pydantic.PydanticUserError as exc:
        if exc.code != "type-adapter-config-unused":
            raise
        return pydantic.TypeAdapter(tp)  # a model, dataclass or TypedDict: its own config decides


def _schema_validator(tp: Any, finite: bool = True) -> Any:
    adapter = param_adapter(tp) if finite else pydantic.TypeAdapter(_for_pydantic(tp))
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


