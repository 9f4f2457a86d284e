"""Reads a handler's signature into a route spec: each parameter's source and type.

Runs once per route at start-up.  The spec is plain data, so the same glue
writer serves the interpreted runtime (spec from ``inspect``) and, later,
``covet build`` (spec from mypy's types).
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import inspect
import types
import typing
import uuid
from collections.abc import Callable
from typing import Annotated, Any, Final, Literal, Union, final, get_args, get_origin

from covet.exceptions import RouteDefinitionError
from covet.params import Body, Header, Param, Path, Query
from covet.requests import Request
from covet.runtime.connection import ConnectionInfo

__all__ = ["ParamSpec", "RouteSpec", "analyse", "location"]

MISSING: Final = inspect.Parameter.empty

_SCALARS: Final = (str, int, float, bool, uuid.UUID, decimal.Decimal, datetime.datetime,
                   datetime.date, datetime.time, datetime.timedelta, bytes)
_SEQUENCES: Final = (list, set, frozenset, tuple)


@final
@dataclasses.dataclass
class ParamSpec:
    """One handler parameter and where its value comes from."""

    name: str
    source: str  # path | query | header | cookie | body | request | connection
    key: str  # the name on the wire: query key, header name, cookie name
    annotation: Any
    default: Any
    multi: bool = False  # collects every value of a repeated key
    keyword_only: bool = False
    marker: Param | None = None  # as declared, for the OpenAPI document

    @property
    def required(self) -> bool:
        return self.default is MISSING


@final
@dataclasses.dataclass
class RouteSpec:
    """A handler and everything its glue needs, read once."""

    method: str
    path: str
    handler: Callable[..., Any]
    params: list[ParamSpec]
    return_annotation: Any
    is_async: bool
    status: int
    blocking: bool

    @property
    def label(self) -> str:
        return f"[{self.method} {self.path} -> {location(self.handler)}]"


def location(handler: Callable[..., Any]) -> str:
    """``file.py:name`` (with the line when known) for messages about a handler."""
    code = getattr(handler, "__code__", None)
    name = getattr(handler, "__qualname__", repr(handler))
    if code is None:
        return name
    return f"{code.co_filename}:{code.co_firstlineno}:{name}"


def _is_scalar(tp: Any) -> bool:
    if tp is Any or tp is object:
        return False
    if isinstance(tp, type):
        return issubclass(tp, _SCALARS) or issubclass(tp, enum.Enum)
    origin = get_origin(tp)
    if origin is Literal:
        return True
    if origin is Union or origin is types.UnionType:
        return all(a is type(None) or _is_scalar(a) for a in get_args(tp))
    if origin is Annotated:
        return _is_scalar(get_args(tp)[0])
    return False


def _scalar_sequence(tp: Any) -> bool:
    """``list[int]`` and friends: a query or header key given several times."""
    origin = get_origin(tp)
    if origin is Union or origin is types.UnionType:
        members = [a for a in get_args(tp) if a is not type(None)]
        return len(members) == 1 and _scalar_sequence(members[0])
    if origin in _SEQUENCES:
        args = get_args(tp)
        if origin is tuple:
            return len(args) == 2 and args[1] is Ellipsis and _is_scalar(args[0])
        return len(args) == 1 and _is_scalar(args[0])
    return False


def _is_request(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, Request)


def analyse(
    method: str,
    path: str,
    handler: Callable[..., Any],
    path_params: list[str],
    status: int,
    blocking: bool,
) -> RouteSpec:
    """Build the spec of one route, or raise ``RouteDefinitionError`` saying what to fix."""
    label = f"[{method} {path} -> {location(handler)}]"
    try:
        hints = typing.get_type_hints(handler, include_extras=True)
    except Exception as exc:  # NameError and friends from unresolvable annotations
        raise RouteDefinitionError(f"{label} cannot resolve the handler's annotations: {exc}") from exc
    sig = inspect.signature(handler)
    params: list[ParamSpec] = []
    seen_path: set[str] = set()
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise RouteDefinitionError(f"{label} handler parameter *{p.name} is not supported: declare each parameter")
        ann = hints.get(p.name, str)
        marker: Param | None = None
        # What the validator sees: the type with its constraints (a marker's and any other metadata).
        checked: Any = ann
        if get_origin(ann) is Annotated:
            args = get_args(ann)
            inner = args[0]
            extras: list[Any] = []
            for extra in args[1:]:
                if isinstance(extra, Param):
                    marker = extra
                    if extra.constraints:
                        extras.append(extra)
                elif isinstance(extra, type) and issubclass(extra, Param):
                    marker = extra()
                else:
                    extras.append(extra)
            if marker is not None:
                ann = inner
                checked = Annotated[(inner, *extras)] if extras else inner
        kw = p.kind is p.KEYWORD_ONLY
        default = p.default
        if _is_request(ann):
            params.append(ParamSpec(p.name, "request", p.name, ann, MISSING, keyword_only=kw))
            continue
        if ann is ConnectionInfo:
            params.append(ParamSpec(p.name, "connection", p.name, ann, MISSING, keyword_only=kw))
            continue
        if marker is None:
            if p.name in path_params:
                marker = Path()
            elif _is_scalar(ann) or _scalar_sequence(ann):
                marker = Query()
            else:
                marker = Body()
        source = marker.source
        if source == "path":
            key = marker.alias or p.name
            if key not in path_params:
                raise RouteDefinitionError(f"{label} parameter {p.name!r} is a path parameter but {path!r} has no {{{key}}}")
            if not _is_scalar(ann):
                raise RouteDefinitionError(f"{label} path parameter {p.name!r} must be a scalar type, not {ann!r}")
            seen_path.add(key)
            params.append(ParamSpec(p.name, "path", key, checked, MISSING, keyword_only=kw, marker=marker))
            continue
        if source == "body":
            params.append(ParamSpec(p.name, "body", marker.alias or p.name, checked, default, keyword_only=kw,
                                    marker=marker))
            continue
        multi = _scalar_sequence(ann)
        if not multi and not _is_scalar(ann):
            raise RouteDefinitionError(
                f"{label} {source} parameter {p.name!r} must be a scalar or a list of scalars, not {ann!r}"
            )
        if source == "header":
            if marker.alias:
                key = marker.alias.lower()
            elif isinstance(marker, Header) and not marker.convert_underscores:
                key = p.name.lower()
            else:
                key = p.name.replace("_", "-").lower()
        else:
            key = marker.alias or p.name
        params.append(ParamSpec(p.name, source, key, checked, default, multi=multi, keyword_only=kw, marker=marker))
    missing = [name for name in path_params if name not in seen_path]
    if missing:
        raise RouteDefinitionError(f"{label} path parameter {{{missing[0]}}} is not a parameter of the handler")
    return RouteSpec(
        method=method,
        path=path,
        handler=handler,
        params=params,
        return_annotation=hints.get("return", Any),
        is_async=inspect.iscoroutinefunction(handler),
        status=status,
        blocking=blocking,
    )


def path_param_names(path: str) -> list[str]:
    from covet.runtime.router import parse_template

    return [p.param for p in parse_template(path) if p.param is not None]


def is_query_param(ann: Any) -> bool:
    """True when an unmarked parameter of this type would be read from the query."""
    return _is_scalar(ann) or _scalar_sequence(ann)

