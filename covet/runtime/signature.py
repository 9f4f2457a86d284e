"""Reads a handler's signature into a route spec: each parameter's source and type.

Runs once per route, at start-up or in ``covet build`` (which plans the
application the same way, then reads each handler's annotations from its source
for the compiled glue: ``covet.compiler.sourcetypes``). The spec is plain data,
so the one glue writer serves both.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import datetime
import decimal
import enum
import inspect
import ipaddress
import pathlib
import types
import typing
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Final, Literal, Union, final, get_args, get_origin

import pydantic
import pydantic_core

from covet.background import BackgroundTasks
from covet.exceptions import RouteDefinitionError
from covet.manifest import GRPC_METHOD
from covet.params import (
    MARKER_FUNCTIONS,
    BodyParam,
    Depends,
    FileParam,
    FormParam,
    HeaderParam,
    Param,
    PathParam,
    QueryParam,
    Security,
)
from covet.requests import Request
from covet.responses import Response
from covet.runtime.connection import ConnectionInfo
from covet.runtime.forms import FORM_LIMITS
from covet.security.base import SecurityBase
from covet.security.oauth2 import SecurityScopes
from covet.uploads import UploadFile

__all__ = ["ParamSpec", "DepSpec", "RouteSpec", "ResultOptions", "UNSET", "analyse", "location", "all_params"]

MISSING: Final = inspect.Parameter.empty

# FastAPI reads any parameter of a type that is not a model, mapping or sequence from the query; these are the
# types of that kind a query string can hold (pydantic's URLs, ip addresses and paths among them).
_SCALARS: Final = (str, int, float, bool, uuid.UUID, decimal.Decimal, datetime.datetime,
                   datetime.date, datetime.time, datetime.timedelta, bytes, pydantic.AnyUrl,
                   ipaddress.IPv4Address, ipaddress.IPv6Address, ipaddress.IPv4Network, ipaddress.IPv6Network,
                   ipaddress.IPv4Interface, ipaddress.IPv6Interface, pathlib.PurePath)
_SEQUENCES: Final = (list, set, frozenset, tuple)


@final
@dataclasses.dataclass
class ParamSpec:
    """One handler parameter and where its value comes from."""

    name: str
    # path | query | header | cookie | body | file | form | request | connection | background | response | message
    source: str
    # | depends | scopes
    key: str  # the name on the wire: query key, header name, cookie name
    annotation: Any
    default: Any
    multi: bool = False  # collects every value of a repeated key
    keyword_only: bool = False
    marker: Param | None = None  # as declared, for the OpenAPI document
    local: str = ""  # its variable in the glue (p_<local>): unique across the handler and its dependencies
    owner: Callable[..., Any] | None = None  # the dependency provider it belongs to; None: the handler
    dep: DepSpec | None = None  # source "depends": the provider that computes it
    group: int = -1  # the index of the dependency it is a parameter of; -1: the handler's
    scopes: tuple[str, ...] = ()  # source "scopes": the OAuth2 scopes required along the way to its provider
    marker_default: bool = False  # the marker is the parameter's default (``q: str = Query(None)``)
    # A pydantic model read field by field from the query, headers, cookies or form (FastAPI's parameter models):
    # the class, and each field as a parameter of its own (``name``: the key of the model's input, ``key``: the
    # name on the wire).
    model: type[pydantic.BaseModel] | None = None
    fields: list[ParamSpec] = dataclasses.field(default_factory=list)
    # A form read as one of several models (``A | B``, perhaps ``| None``), each taking the form's fields as its own.
    choices: tuple[type[pydantic.BaseModel], ...] = ()

    @property
    def is_model(self) -> bool:
        """Whether it is a parameter model (one model, or a union of form models)."""
        return self.model is not None or bool(self.choices)

    def __post_init__(self) -> None:
        if not self.local:
            self.local = self.name

    @property
    def required(self) -> bool:
        return self.default is MISSING


@final
@dataclasses.dataclass
class DepSpec:
    """A dependency provider of a route: what it takes, and how it is called."""

    provider: Callable[..., Any]
    params: list[ParamSpec]
    kind: str  # call | await | gen (sync generator) | agen (async generator)
    index: int  # its place in the route's run order; its value is _d<index> in the glue
    label: str
    returns_none: bool = False  # declared to return (or yield) None: its value is not taken from the call
    # A security scheme's value: declared ``T | None`` but never None while it answers 401 (``auto_error``), so
    # the glue takes it untyped, as a handler declaring ``token: str`` expects.
    loose: bool = False
    # A generator's: finished once the response is sent ("request") or once the handler returned ("function").
    scope: str = "request"


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset()


@final
@dataclasses.dataclass
class ResultOptions:
    """How a route turns its handler's result into a response (FastAPI's ``response_model*`` and
    ``response_class`` route options).

    ``model``: the type the result is filtered and validated as; UNSET: the return annotation; None: no filtering.
    The other fields are pydantic's serialisation options. ``response_class`` wraps a result that is not
    already a response. ``status_given``: the route named its status (else a ``RedirectResponse`` keeps its 307).
    """

    model: Any = UNSET
    include: Any = None
    exclude: Any = None
    by_alias: bool = True
    exclude_unset: bool = False
    exclude_defaults: bool = False
    exclude_none: bool = False
    response_class: type[Any] | None = None
    status_given: bool = True

    def serialize_options(self) -> dict[str, Any]:
        """The keyword arguments of ``gluekit.serializer`` that differ from its defaults."""
        out: dict[str, Any] = {}
        for name in ("include", "exclude"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if not self.by_alias:
            out["by_alias"] = False  # serializer() writes aliases unless told not to, as FastAPI does
        for name in ("exclude_unset", "exclude_defaults", "exclude_none"):
            if getattr(self, name):
                out[name] = True
        return out


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
    deps: list[DepSpec] = dataclasses.field(default_factory=list)  # in the order they run
    # The security schemes among its dependencies, each with the OAuth2 scopes required of it, for the OpenAPI
    # document: in the order FastAPI lists them (depth first, the route's own first).
    security: list[tuple[SecurityBase, list[str]]] = dataclasses.field(default_factory=list)
    result: ResultOptions = dataclasses.field(default_factory=ResultOptions)
    declared_return: Any = Any  # the handler's own return annotation (return_annotation may be a response_model)
    # No return annotation and no response_model: the result is encoded as FastAPI encodes it (a str as JSON too).
    untyped_result: bool = False
    # A generator handler: each item it yields is a line of JSON Lines (FastAPI's), of type return_annotation.
    streams_items: bool = False
    # Its form's (max_fields, max_files, max_part_size): FastAPI's form_limits, merged (covet/limits.py).
    form_limits: tuple[int, int, int] = FORM_LIMITS

    @property
    def label(self) -> str:
        return f"[{self.method} {self.path} -> {location(self.handler)}]"


def location(handler: Callable[..., Any]) -> str:
    """``file.py:name`` (with the line when known) for messages about a handler."""
    if isinstance(handler, type):
        code = getattr(vars_init(handler), "__code__", None)
        return f"{code.co_filename}:{code.co_firstlineno}:{handler.__qualname__}" if code else handler.__qualname__
    if inspect.isbuiltin(handler):  # a mypyc-compiled function: no code object, but its module and name
        module = getattr(handler, "__module__", None)
        return f"{module}:{handler.__name__}" if module else handler.__name__
    if not (inspect.isfunction(handler) or inspect.ismethod(handler)) and callable(handler):
        return f"{location(type(handler))} instance"
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
        return len(args) == 1 and (args[0] is Any or _is_scalar(args[0]))
    return False


def _is_websocket(tp: Any) -> bool:
    from covet.websockets import WebSocket

    return isinstance(tp, type) and issubclass(tp, WebSocket)


def _is_request(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, Request)


@final
class _Walk:
    """State of one route's analysis: the dependencies found so far, in the order they must run."""

    def __init__(self, label: str, path_params: list[str], overrides: Mapping[Any, Any]) -> None:
        self.label = label
        self.path_params = path_params
        self.overrides = overrides
        self.deps: list[DepSpec] = []
        self.cached: dict[Any, DepSpec] = {}
        self.scoped: dict[Any, bool] = {}  # provider -> whether it (or one below it) reads the scopes
        self.security: list[tuple[SecurityBase, list[str]]] = []
        self.active: list[Any] = []  # the providers being analysed, to find cycles
        self.seen_path: set[str] = set()
        self.counter = 0  # names each provider's parameters apart in the glue
        self.message = False  # a gRPC method: the handler's first parameter is the call's message (or messages)


def _dependency(walk: _Walk, dep: Depends, annotated: Any, scopes: list[str]) -> DepSpec:
    """The spec of ``dep``, analysed or taken from the cache; ``annotated`` is the type of the parameter that asks
    for it (the class a bare ``Depends()`` builds), ``scopes`` those required by the ``Security`` above it."""
    declared = dep.provider
    if declared is None:
        if not isinstance(annotated, type):
            raise RouteDefinitionError(
                f"{walk.label} Depends() without a provider needs a class as the parameter's type, not {annotated!r}")
        declared = annotated
    provider = walk.overrides.get(declared, declared)
    if isinstance(dep, Security):
        scopes = [*scopes, *(s for s in dep.scopes if s not in scopes)]
    if isinstance(provider, SecurityBase):
        walk.security.append((provider, scopes))
    # As FastAPI does: a provider that needs no scopes is one value per request, whichever scopes are above it.
    scoped = bool(isinstance(dep, Security) and dep.scopes) or walk.scoped.get(provider, False)
    body = _body_of(provider)
    if inspect.isasyncgenfunction(body):
        kind = "agen"
    elif inspect.isgeneratorfunction(body):
        kind = "gen"
    elif inspect.iscoroutinefunction(body):
        kind = "await"
    else:
        kind = "call"
    # FastAPI's: a generator is request-scoped unless told otherwise; the scope is part of what is cached.
    scope = dep.scope or ("request" if kind in ("gen", "agen") else "")
    key = (declared, tuple(sorted(set(scopes))) if scoped else (), scope)
    if dep.use_cache and key in walk.cached:
        return walk.cached[key]
    if provider in walk.active:
        chain = " -> ".join(getattr(f, "__qualname__", repr(f)) for f in [*walk.active, provider])
        raise RouteDefinitionError(f"{walk.label} dependencies form a cycle: {chain}")
    walk.active.append(provider)
    walk.counter += 1
    first = len(walk.deps)
    # A digit first: no Python parameter name starts with one, so these locals cannot meet the handler's.
    params = _params(walk, provider, f"{walk.counter}_", scopes)
    walk.active.pop()
    if isinstance(provider, type):
        returns: Any = provider
    else:
        returns = typing.get_type_hints(body).get("return", Any)  # _params has already resolved them
    if kind in ("gen", "agen"):
        args = get_args(returns)
        returns = args[0] if args else Any  # what it yields: Iterator[T], Generator[T, ...], AsyncIterator[T]
    if scope == "request" and kind in ("gen", "agen"):
        for p in params:
            if p.dep is not None and p.dep.scope == "function":
                raise RouteDefinitionError(
                    f'{walk.label} the dependency {location(provider)} has scope "request" (a generator\'s '
                    f'default) and cannot depend on {p.dep.label}, of scope "function", which is finished before '
                    'it: give it Depends(..., scope="function") too, or the other scope="request"')
    spec = DepSpec(provider, params, kind, len(walk.deps), location(provider),
                   returns_none=returns is None or returns is type(None), loose=isinstance(provider, SecurityBase),
                   scope=scope or "request")
    for p in params:
        p.group = spec.index
    walk.deps.append(spec)
    uses = (isinstance(provider, SecurityBase) or any(p.source == "scopes" for p in params)
            or any(walk.scoped.get(d.provider, False) for d in walk.deps[first:-1]))
    walk.scoped[provider] = uses
    if dep.use_cache:
        walk.cached[(declared, tuple(sorted(set(scopes))) if uses or scoped else (), scope)] = spec
    return spec


def _body_of(provider: Callable[..., Any]) -> Callable[..., Any]:
    """The function a provider runs: itself, a class's ``__init__``, or a callable instance's ``__call__``."""
    if isinstance(provider, type):
        return vars_init(provider)
    if inspect.isfunction(provider) or inspect.ismethod(provider):
        return provider
    call: Callable[..., Any] = type(provider).__call__
    return call


def vars_init(cls: type) -> Callable[..., Any]:
    """The ``__init__`` a class's instances are made with (its own or inherited)."""
    init: Callable[..., Any] = getattr(cls, "__init__")  # noqa: B009 (mypy refuses cls.__init__ as unsound)
    return init


def _params(walk: _Walk, fn: Callable[..., Any], prefix: str, scopes: list[str]) -> list[ParamSpec]:
    """The parameters of a handler (prefix "") or of a dependency provider, each with where its value comes from.

    A class provider's are its constructor's, a callable instance's its ``__call__``'s.
    """
    label = walk.label
    name = getattr(fn, "__qualname__", None) or f"{type(fn).__qualname__} instance"
    what = "handler" if not prefix else f"dependency {name!r}"
    if not prefix and not (inspect.isfunction(fn) or inspect.ismethod(fn)):
        raise RouteDefinitionError(f"{label} {what} must be a function")
    is_dataclass = isinstance(fn, type) and dataclasses.is_dataclass(fn)
    if isinstance(fn, type) and vars_init(fn) is object.__init__ and not is_dataclass:
        raise RouteDefinitionError(f"{label} {what} is a class without an __init__ to take its parameters from")
    try:
        if is_dataclass:
            hints = typing.get_type_hints(fn, include_extras=True)  # the generated __init__ takes its fields
        else:
            hints = typing.get_type_hints(_body_of(fn), include_extras=True)
    except Exception as exc:  # NameError and friends from unresolvable annotations
        raise RouteDefinitionError(f"{label} cannot resolve the {what}'s annotations: {exc}") from exc
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        raise RouteDefinitionError(f"{label} cannot read the signature of {what}: {exc}") from exc
    owner = fn if prefix else None
    path_params = walk.path_params
    params: list[ParamSpec] = []
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise RouteDefinitionError(f"{label} {what} parameter *{p.name} is not supported: declare each parameter")
        local = prefix + p.name
        ann = hints.get(p.name, str)
        marker: Param | None = None
        depends: Depends | None = None
        # What the validator sees: the type with its constraints (a marker's and any other metadata).
        checked: Any = ann
        if get_origin(ann) is Annotated:
            args = get_args(ann)
            inner = args[0]
            extras: list[Any] = []
            for extra in args[1:]:
                if isinstance(extra, Depends):
                    depends = extra
                elif isinstance(extra, Param):
                    marker = extra
                    if extra.constraints:
                        extras.append(extra)
                elif isinstance(extra, type) and issubclass(extra, Param):
                    marker = extra()
                elif extra in MARKER_FUNCTIONS:
                    marker = MARKER_FUNCTIONS[extra]()
                else:
                    extras.append(extra)
            if marker is not None or depends is not None:
                ann = inner
                checked = Annotated[(inner, *extras)] if extras else inner
        if isinstance(p.default, Depends):
            depends = p.default
        kw = p.kind is p.KEYWORD_ONLY
        if walk.message and not prefix and not params:
            if kw or isinstance(p.default, Depends) or depends is not None:
                raise RouteDefinitionError(f"{label} a gRPC method's first parameter is its request message, "
                                           f"positional and without Depends: {p.name!r} is not")
            params.append(ParamSpec(p.name, "message", p.name, ann, MISSING, local=local, owner=owner))
            continue
        default = p.default
        from_default = False
        if marker is not None and marker.has_default:
            raise RouteDefinitionError(
                f"{label} {what} parameter {p.name!r}: {type(marker).__name__.removesuffix('Param')}() inside "
                f"Annotated cannot set the default; write it after the annotation: {p.name}: ... = {marker.default!r}")
        if isinstance(default, Param):
            # FastAPI's older spelling: the marker is the default, and holds the real one (``...``: required).
            if marker is not None:
                raise RouteDefinitionError(
                    f"{label} {what} parameter {p.name!r} has a marker both in Annotated and as its default; "
                    "keep one")
            marker = default
            default = marker.default if marker.has_default else MISSING
            from_default = True
            if marker.constraints:
                checked = Annotated[ann, marker]
        if depends is not None:
            dep = _dependency(walk, depends, ann, scopes)
            params.append(ParamSpec(p.name, "depends", p.name, ann, MISSING, keyword_only=kw, local=local,
                                    owner=owner, dep=dep))
            continue
        if ann is SecurityScopes:
            params.append(ParamSpec(p.name, "scopes", p.name, ann, MISSING, keyword_only=kw, local=local, owner=owner,
                                    scopes=tuple(scopes)))
            continue
        if _is_websocket(ann):
            params.append(ParamSpec(p.name, "websocket", p.name, ann, MISSING, keyword_only=kw, local=local,
                                    owner=owner))
            continue
        if _is_request(ann):
            params.append(ParamSpec(p.name, "request", p.name, ann, MISSING, keyword_only=kw, local=local, owner=owner))
            continue
        if ann is ConnectionInfo:
            params.append(ParamSpec(p.name, "connection", p.name, ann, MISSING, keyword_only=kw, local=local,
                                    owner=owner))
            continue
        if ann is Response:
            # FastAPI's temporal response: the handler sets headers, cookies and a status on it, and they are
            # merged into the response sent.
            params.append(ParamSpec(p.name, "response", p.name, ann, MISSING, keyword_only=kw, local="0response",
                                    owner=owner))
            continue
        if ann is BackgroundTasks:
            params.append(ParamSpec(p.name, "background", p.name, ann, MISSING, keyword_only=kw, local="0tasks",
                                    owner=owner))
            continue
        if marker is None and is_upload(ann):
            marker = FileParam()
        if marker is None:
            if p.name in path_params:
                marker = PathParam()
            elif _is_scalar(ann) or _scalar_sequence(ann):
                marker = QueryParam()
            else:
                marker = BodyParam()
        source = marker.source
        if ann is list and source in ("query", "header", "cookie", "form"):
            # FastAPI reads a bare ``list`` as ``list[Any]``: each value given, as the string it came as
            ann = list[Any]
            checked = Annotated[(ann, *get_args(checked)[1:])] if get_origin(checked) is Annotated else ann
        if source == "path":
            key = marker.alias or p.name
            if key not in path_params:
                raise RouteDefinitionError(
                    f"{label} {what} parameter {p.name!r} is a path parameter but the path has no {{{key}}}")
            if not _is_scalar(ann):
                raise RouteDefinitionError(f"{label} path parameter {p.name!r} must be a scalar type, not {ann!r}")
            walk.seen_path.add(key)
            params.append(ParamSpec(p.name, "path", key, checked, MISSING, keyword_only=kw, marker=marker,
                                    marker_default=from_default,
                                    local=local, owner=owner))
            continue
        if source == "file":
            if not is_upload(ann) and not is_file_bytes(ann):
                raise RouteDefinitionError(
                    f"{label} file parameter {p.name!r} must be an UploadFile, bytes, or a list of them, not {ann!r}")
            params.append(ParamSpec(p.name, "file", marker.alias or p.name, ann, default,
                                    multi=get_origin(ann) in _SEQUENCES or _upload_list(ann) or _bytes_list(ann),
                                    keyword_only=kw,
                                    marker=marker, marker_default=from_default, local=local, owner=owner))
            continue
        if source == "body":
            params.append(ParamSpec(p.name, "body", marker.alias or p.name, checked, default, keyword_only=kw,
                                    marker=marker, marker_default=from_default, local=local, owner=owner))
            continue
        choices = form_models(ann) if source == "form" else ()
        if choices:
            params.append(ParamSpec(p.name, source, p.name, checked, default, keyword_only=kw, marker=marker,
                                    marker_default=from_default, local=local, owner=owner, choices=choices))
            continue
        model = param_model(ann)
        if model is not None and source in _MODEL_SOURCES:
            params.append(ParamSpec(p.name, source, p.name, checked, default, keyword_only=kw, marker=marker,
                                    marker_default=from_default, local=local, owner=owner, model=model,
                                    fields=_model_fields(model, marker, model is not ann)))
            continue
        multi = _scalar_sequence(ann)
        if not multi and not _is_scalar(ann):
            raise RouteDefinitionError(
                f"{label} {source} parameter {p.name!r} must be a scalar, a list of scalars or a pydantic model, "
                f"not {ann!r}"
            )
        if source == "header":
            if marker.alias:
                key = marker.alias.lower()
            elif isinstance(marker, HeaderParam) and not marker.convert_underscores:
                key = p.name.lower()
            else:
                key = p.name.replace("_", "-").lower()
        else:
            key = marker.alias or p.name
        params.append(ParamSpec(p.name, source, key, checked, default, multi=multi, keyword_only=kw, marker=marker,
                                    marker_default=from_default,
                                local=local, owner=owner))
    return params


_MODEL_SOURCES: Final = ("query", "header", "cookie", "form")


def param_model(tp: Any) -> type[pydantic.BaseModel] | None:
    """The pydantic model of a ``Model`` or ``Model | None`` parameter, else None."""
    tp = _optional_member(tp)
    if isinstance(tp, type) and issubclass(tp, pydantic.BaseModel):
        return tp
    return None


def form_models(tp: Any) -> tuple[type[pydantic.BaseModel], ...]:
    """The models of a union of several (``A | B``, ``A | B | None``); empty for anything else."""
    if get_origin(tp) is not Union and get_origin(tp) is not types.UnionType:
        return ()
    found: list[type[pydantic.BaseModel]] = []
    for arg in get_args(tp):
        if arg is type(None):
            continue
        if get_origin(arg) is Annotated:
            arg = get_args(arg)[0]
        if not (isinstance(arg, type) and issubclass(arg, pydantic.BaseModel)):
            return ()
        found.append(arg)
    return tuple(found) if len(found) > 1 else ()


def model_keys(model: type[pydantic.BaseModel]) -> tuple[tuple[str, str, bool], ...]:
    """(key of the model's input, name in a form, whether it collects a repeated key) of each field of a form
    model."""
    return tuple((f.name, f.key, f.multi) for f in _model_fields(model, FormParam(), False))


def _is_sequence(tp: Any) -> bool:
    """A list (or other sequence) field, optional or not: it collects every value of a repeated key."""
    tp = _optional_member(tp)
    return tp in _SEQUENCES or get_origin(tp) in _SEQUENCES


def _model_fields(model: type[pydantic.BaseModel], marker: Param, optional: bool) -> list[ParamSpec]:
    """Each field of a parameter model as the parameter FastAPI documents and reads it as.

    A header field without an alias is read with its underscores as hyphens, unless the marker says
    ``convert_underscores=False``. Fields of an optional model are optional.
    """
    convert = not isinstance(marker, HeaderParam) or marker.convert_underscores
    out: list[ParamSpec] = []
    for name, info in model.model_fields.items():
        alias = info.validation_alias if isinstance(info.validation_alias, str) else info.alias or name
        key = alias
        if marker.source == "header":
            key = (alias.replace("_", "-") if convert and alias == name else alias).lower()
        field_marker = type(marker)(title=info.title or name.replace("_", " ").title(),
                                    description=info.description, deprecated=bool(info.deprecated),
                                    examples=info.examples, include_in_schema=marker.include_in_schema)
        ann = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        required = info.is_required() and not optional
        if required:
            default: Any = MISSING
        elif info.default is pydantic_core.PydanticUndefined or optional:
            default = None  # (a default_factory's value is the model's to make; None is left out of the document)
        else:
            default = info.default
        out.append(ParamSpec(alias, marker.source, key, ann, default, multi=_is_sequence(info.annotation),
                             marker=field_marker))
    return out


def analyse(
    method: str,
    path: str,
    handler: Callable[..., Any],
    path_params: list[str],
    status: int,
    blocking: bool,
    dependencies: Sequence[Depends] = (),
    overrides: Mapping[Any, Any] | None = None,
    result: ResultOptions | None = None,
    form_limits: tuple[int, int, int] = FORM_LIMITS,
) -> RouteSpec:
    """Build the spec of one route, or raise ``RouteDefinitionError`` saying what to fix.

    ``dependencies`` run before the handler for their effect (a check that raises ``HTTPError``); their values
    are not passed to it. ``overrides`` maps a provider to the one that replaces it (``app.dependency_overrides``).
    """
    label = f"[{method} {path} -> {location(handler)}]"
    walk = _Walk(label, path_params, overrides or {})
    walk.message = method == GRPC_METHOD
    for d in dependencies:
        if not isinstance(d, Depends):
            raise RouteDefinitionError(f"{label} dependencies must be Depends(...), not {d!r}")
        if d.provider is None:
            raise RouteDefinitionError(f"{label} a route's dependencies must name their provider: Depends(provider)")
        _dependency(walk, d, None, [])
    params = _params(walk, handler, "", [])
    if walk.message:
        _grpc_params(label, params, walk.deps)
    sources = {p.source for d in walk.deps for p in d.params} | {p.source for p in params}
    if "body" in sources and sources & {"form", "file"}:
        raise RouteDefinitionError(f"{label} a route reads its body as JSON or as a form, not both")
    missing = [name for name in path_params if name not in walk.seen_path]
    if missing:
        raise RouteDefinitionError(f"{label} path parameter {{{missing[0]}}} is not a parameter of the handler")
    result = result or ResultOptions()
    hints = typing.get_type_hints(handler, include_extras=True)
    declared = hints.get("return", Any)
    returns = declared
    streams = (inspect.isasyncgenfunction(handler) or inspect.isgeneratorfunction(handler)
               # compiled by mypyc, a generator is a builtin: its declared iterator says what it is
               or (inspect.isbuiltin(handler) and get_origin(declared) in _STREAMS))
    if result.model is not UNSET:
        returns = Any if result.model is None else result.model
    if streams:  # its items are of the type it declares it yields (FastAPI leaves response_model out of it)
        returns = stream_item(declared)
    return RouteSpec(
        method=method,
        path=path,
        handler=handler,
        params=params,
        result=result,
        declared_return=declared,
        untyped_result="return" not in hints and result.model is UNSET,
        return_annotation=returns,
        streams_items=streams,
        is_async=inspect.iscoroutinefunction(handler),
        status=status,
        blocking=blocking,
        deps=walk.deps,
        security=walk.security,
        form_limits=form_limits,
    )


# What a gRPC call has no part for: its message is the method's first parameter, its metadata are headers.
_NOT_IN_A_CALL: Final = {"body": "a body", "form": "a form", "file": "files", "path": "a path parameter",
                         "response": "an HTTP response", "websocket": "a WebSocket", "query": "a query string"}


def _grpc_params(label: str, params: list[ParamSpec], deps: list[DepSpec]) -> None:
    """Refuse, where a gRPC method is declared, the parameters its calls could never fill. A dependency shared
    with routes may read the query if it need not (an optional parameter is then its default)."""
    if not params:
        raise RouteDefinitionError(f"{label} a gRPC method takes its request message as its first parameter")
    for p, own in [*((q, True) for q in params), *((q, False) for d in deps for q in d.params)]:
        what = _NOT_IN_A_CALL.get(p.source)
        if what is None or (p.source == "query" and not own and not p.required):
            continue
        whose = "" if own else f"(of a dependency, {location(p.owner) if p.owner is not None else '?'}) "
        raise RouteDefinitionError(
            f"{label} parameter {p.name!r} {whose}reads {what}, which a gRPC call does not have: its message is the "
            "method's first parameter, and its metadata are read with Header()")


_STREAMS: Final = (collections.abc.AsyncIterable, collections.abc.AsyncIterator, collections.abc.AsyncGenerator,
                   collections.abc.Iterable, collections.abc.Iterator, collections.abc.Generator)


def stream_item(declared: Any) -> Any:
    """What a generator handler declared to return ``AsyncIterable[Item]`` (or another iterable) yields: ``Item``;
    ``Any`` when it does not say."""
    if get_origin(declared) in _STREAMS and get_args(declared):
        return get_args(declared)[0]
    return Any


def _optional_member(tp: Any) -> Any:
    """``X`` for ``X | None`` (``tp`` itself otherwise; None for a union of several types)."""
    origin = get_origin(tp)
    if origin is Union or origin is types.UnionType:
        members = [a for a in get_args(tp) if a is not type(None)]
        return members[0] if len(members) == 1 else None
    return tp


def _list_of(tp: Any, item: type) -> bool:
    """A list (or other sequence) of ``item``, optional or not."""
    tp = _optional_member(tp)
    return get_origin(tp) in _SEQUENCES and get_args(tp) == (item,)


def _upload_list(tp: Any) -> bool:
    return _list_of(tp, UploadFile)


def _bytes_list(tp: Any) -> bool:
    return _list_of(tp, bytes)


def is_file_bytes(tp: Any) -> bool:
    """``bytes`` (or ``bytes | None``, or a list of bytes) read with ``File()``: the files' content."""
    return _optional_member(tp) is bytes or _bytes_list(tp)


def is_upload(tp: Any) -> bool:
    """``UploadFile``, ``UploadFile | None`` or a list of them: read from a multipart form's files."""
    return _optional_member(tp) is UploadFile or _upload_list(tp)


def all_params(spec: RouteSpec) -> list[ParamSpec]:
    """Every parameter the route's glue fills: its dependencies' (in run order), then the handler's."""
    return [p for d in spec.deps for p in d.params] + spec.params


def path_param_names(path: str) -> list[str]:
    from covet.runtime.pathtrie import parse_template

    return [p.param for p in parse_template(path) if p.param is not None]


def is_query_param(ann: Any) -> bool:
    """True when an unmarked parameter of this type would be read from the query."""
    return _is_scalar(ann) or _scalar_sequence(ann)

