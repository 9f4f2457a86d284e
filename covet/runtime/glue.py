"""Writes and loads the per-route glue: extract, convert, call, encode.

Each route gets one small generated Python function, specialised to exactly
the parameters it declares, so the request path runs no loops over parameter
lists and no per-request introspection.  The source is kept (``covet
explain``) and registered with ``linecache`` so tracebacks show it.

Glue calling convention, shared by every protocol::

    glue(method, path, query, headers, body, path_params, conn) -> Reply

``async`` glue returns a coroutine, which the caller drives.

The writer does not hold the objects the glue refers to (handler,
validators, defaults, serializer): a *binder* does.  ``ObjectBinder`` puts
live objects in the namespace the glue is exec'd in (interpreted mode);
``covet build`` supplies a binder that writes import and assignment lines
instead, so the same glue becomes a module mypyc compiles.
"""

from __future__ import annotations

import dataclasses
import inspect
import linecache
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any, Final, TypeAlias, Union, final, get_args, get_origin

import pydantic

from covet.exceptions import HTTPError, RequestValidationError, RouteDefinitionError
from covet.manifest import GRPC_METHOD
from covet.params import BodyParam
from covet.runtime import gluekit
from covet.runtime.encode import Reply
from covet.runtime.forms import FORM_LIMITS
from covet.runtime.parammodels import form_union
from covet.runtime.routeplan import RoutePlan, reads_content_type, reads_headers, reads_stream
from covet.runtime.signature import UNSET, DepSpec, ParamSpec, RouteSpec, all_params, is_file_bytes, model_keys
from covet.security.oauth2 import SecurityScopes

__all__ = ["RoutePlan", "Binder", "ObjectBinder", "build_plan", "constant_plan", "glue_source", "result_kind",
           "GLUE_SIGNATURE", "STREAM_GLUE_SIGNATURE", "WS_GLUE_SIGNATURE", "WS_METHOD", "reads_stream", "reads_headers",
           "reads_content_type"]

_RESPONSE_TYPES: Final = gluekit.RESPONSES

# Typed, so mypyc compiles the glue's arguments as native str/bytes/list.
GLUE_SIGNATURE: Final = (
    "(_m: str, _p: str, _q: str, _h: list[tuple[str, str]], _b: bytes, _pp: list[str], _c: ConnectionInfo)"
)
# A route that reads a stream may be handed a body too large to hold (see runtime/body.py) instead of bytes.
STREAM_GLUE_SIGNATURE: Final = GLUE_SIGNATURE.replace("_b: bytes", "_b: bytes | RequestBody")
# A WebSocket route's glue is handed its WebSocket where a body would be (it has none).
WS_METHOD: Final = "WEBSOCKET"
WS_GLUE_SIGNATURE: Final = GLUE_SIGNATURE.replace("_b: bytes", "_b: Any")


def embedded(p: ParamSpec) -> bool:
    """A body parameter read from its key of the body object even when it is the only one (``Body(embed=True)``)."""
    return isinstance(p.marker, BodyParam) and p.marker.embed


def constant_plan(reply: Reply, label: str) -> RoutePlan:
    """A plan that answers the same reply to every request (404, 405)."""

    def glue(*_: Any) -> Reply:
        return reply

    plan = RoutePlan(glue, False, label, "", None)
    plan.uses_conn = plan.reads_headers = plan.reads_content_type = False
    # It never reads the body, so a large one may come: the answer (404, say) is sent and the body dropped.
    plan.streams_body = True
    return plan


def _adapter(ann: Any, label: str, what: str) -> pydantic.TypeAdapter[Any]:
    try:
        return gluekit.param_adapter(ann)
    except Exception as exc:  # pydantic raises several types for schema problems
        raise RouteDefinitionError(f"{label} cannot validate {what} of type {ann!r}: {exc}") from exc


class Binder:
    """Supplies the names the glue of one route refers to.

    ``typed`` says the handlers were type-checked (a build): a result whose
    declared type cannot be a response is then encoded without checking.
    """

    typed = False
    # Whether the glue splits the query string itself rather than calling ``parse_query``: compiled, the loop is C
    # with no list of pairs built; interpreted, the compiled ``parse_query`` is faster than the loop as bytecode.
    inline_query = False

    def __init__(self, spec: RouteSpec, prefix: str = "") -> None:
        self.spec = spec
        self.prefix = prefix

    def handler(self) -> str:
        raise NotImplementedError

    def validator(self, p: ParamSpec, json: bool, rereads: bool = False) -> str:
        """Name of the validator of ``p``'s type, from JSON bytes or from Python values; ``rereads``: the
        Python-mode one of a JSON body, beside its JSON one, for its errors (``bodyerrors``)."""
        raise NotImplementedError

    def text_validator(self, p: ParamSpec) -> str:
        """Name of the check of a body that does not say it is JSON (``gluekit.text_validator``)."""
        raise NotImplementedError

    def default(self, p: ParamSpec) -> str:
        raise NotImplementedError

    def model_validator(self, p: ParamSpec) -> str:
        """Name of the validator of a parameter model's class (``p.model``), which its gathered input goes to."""
        raise NotImplementedError

    def serializer(self) -> str | None:
        raise NotImplementedError

    def result_validator(self) -> str:
        """Name of the check of a result against the declared return type (``gluekit.result_validator``)."""
        raise NotImplementedError

    def result_class(self) -> str:
        """An expression for the declared return type, when it is a class (see ``result_guard``)."""
        raise NotImplementedError

    def provider(self, dep: DepSpec) -> str:
        raise NotImplementedError

    def security_scopes(self) -> str:
        """Name of the ``SecurityScopes`` class, for parameters of that type."""
        raise NotImplementedError

    def response_class(self) -> str:
        """An expression for the route's ``response_class``."""
        raise NotImplementedError

    def exception_handler(self, index: int, pair: tuple[type[BaseException], Callable[..., Any]]) -> tuple[str, str]:
        """Names of an exception class and of the application's handler for it."""
        raise NotImplementedError

    def origin(self, fn: Callable[..., Any]) -> str:
        """A comment naming the function a glue line calls, so a type error there can be traced back to the
        user's code (build mode); empty when not needed."""
        return ""

    def fields(self, p: ParamSpec) -> tuple[str, str, list[str]] | None:
        """(validator into a dict of fields, the class, its positional fields) for a dataclass body, or None."""
        return None

    def class_ref(self, cls: type) -> str | None:
        """An expression for class ``cls`` in the glue; None when the glue cannot name it."""
        return None

    def scalar_table(self, p: ParamSpec) -> str | None:
        """Name of ``p``'s table of raw strings to values (``gluekit.scalar_table``), looked up before its validator
        is called; None to call the validator on every value. Only a build uses one: compiled, the lookup is a
        C dict lookup, interpreted it would cost what it saves."""
        return None


@final
class ObjectBinder(Binder):
    """Interpreted mode: bind live objects into the namespace the glue runs in."""

    def __init__(self, spec: RouteSpec, ns: dict[str, Any]) -> None:
        super().__init__(spec)
        self.ns = ns

    def handler(self) -> str:
        self.ns["_handler"] = self.spec.handler
        return "_handler"

    def validator(self, p: ParamSpec, json: bool, rereads: bool = False) -> str:
        name = f"_V{'P' if rereads else ''}_{p.local}"
        what = f"{'body ' if p.source == 'body' else ''}parameter {p.name!r}"
        v = _adapter(p.annotation, self.spec.label, what).validator
        self.ns[name] = v.validate_json if json else v.validate_python
        return name

    def text_validator(self, p: ParamSpec) -> str:
        name = f"_T_{p.local}"
        self.ns[name] = gluekit.text_validator(p.annotation)
        return name

    def model_validator(self, p: ParamSpec) -> str:
        name = f"_M_{p.local}"
        tp = p.model if p.model is not None else form_union(p.choices, optional_model(p), discriminator(p))
        self.ns[name] = _adapter(tp, self.spec.label, f"parameter {p.name!r}").validator.validate_python
        return name

    def default(self, p: ParamSpec) -> str:
        name = f"_D_{p.local}"
        self.ns[name] = p.default
        return name

    def provider(self, dep: DepSpec) -> str:
        name = f"_P{dep.index}"
        self.ns[name] = dep.provider
        return name

    def security_scopes(self) -> str:
        self.ns["SecurityScopes"] = SecurityScopes
        return "SecurityScopes"

    def exception_handler(self, index: int, pair: tuple[type[BaseException], Callable[..., Any]]) -> tuple[str, str]:
        self.ns[f"_E{index}"], self.ns[f"_H{index}"] = pair
        return f"_E{index}", f"_H{index}"

    def serializer(self) -> str | None:
        try:
            self.ns["_SER"] = gluekit.serializer(self.spec.return_annotation, **self.spec.result.serialize_options())
        except Exception:
            return None
        return "_SER"

    def response_class(self) -> str:
        self.ns["_RC"] = self.spec.result.response_class
        return "_RC"

    def result_validator(self) -> str:
        self.ns["_RV"] = gluekit.result_validator(self.spec.return_annotation)
        return "_RV"

    def result_class(self) -> str:
        self.ns["_RT"] = self.spec.return_annotation
        return "_RT"

    def class_ref(self, cls: type) -> str | None:
        self.ns["_RK"] = cls
        return "_RK"


def optional_model(p: ParamSpec) -> bool:
    """Whether a parameter model is declared ``Model | None`` (or ``A | B | None``)."""
    declared = get_args(p.annotation)[0] if get_origin(p.annotation) is typing.Annotated else p.annotation
    if p.model is not None:
        return declared is not p.model
    return type(None) in get_args(declared)


def discriminator(p: ParamSpec) -> str | None:
    """The discriminator a union of form models is declared with (``Form(discriminator="kind")``)."""
    return p.marker.discriminator if p.marker is not None else None


def result_kind(ann: Any) -> str:
    """How a result of this declared type is encoded: text, bytes, none, response, json or any."""
    if ann is str:
        return "text"
    if ann is bytes:
        return "bytes"
    if ann is None or ann is type(None):
        return "none"
    if ann is Any or ann is object:
        return "any"
    if isinstance(ann, type) and issubclass(ann, _RESPONSE_TYPES):
        return "response"
    origin = get_origin(ann)
    if origin is Union or origin is types.UnionType:
        if any(isinstance(a, type) and issubclass(a, _RESPONSE_TYPES) for a in get_args(ann)):
            return "any"
    if origin is typing.Annotated:
        return result_kind(get_args(ann)[0])
    return "json"


_ANY: Final = (Any, object)
_SCALARS: Final = (int, float, bool, str)


def result_guard(ann: Any) -> str | None:
    """A test under which a result of declared type ``ann`` is sent as it is, without validating it; None when
    every result must be validated. ``{T}`` stands for the declared class.

    Each test is a few nanoseconds against a validation's few hundred: an instance of the declared class (its
    subclasses included: the serializer writes the declared fields only), a container whose items may be
    anything, a scalar of the exact type.
    """
    if ann in _SCALARS:
        return f"type(_r) is {ann.__name__}"
    if isinstance(ann, type) and (dataclasses.is_dataclass(ann) or issubclass(ann, pydantic.BaseModel)):
        return "isinstance(_r, {T})"
    origin = get_origin(ann)
    if origin in (dict, list) or ann in (dict, list):
        args = get_args(ann)
        if all(a in _ANY for a in args[1 if origin is dict else 0:]):
            return f"type(_r) is {(origin or ann).__name__}"
    return None


def can_be_response(ann: Any) -> bool:
    """Whether a value of this declared type may be a Response (Any and object may be anything)."""
    origin = get_origin(ann)
    if origin is Union or origin is types.UnionType:
        return any(can_be_response(a) for a in get_args(ann))
    cls = origin if origin is not None else ann
    if not isinstance(cls, type) or cls is object or cls is Any:
        return True
    try:
        return any(issubclass(r, cls) or issubclass(cls, r) for r in _RESPONSE_TYPES)
    except TypeError:  # TypedDict and its like refuse class checks, and are no responses
        return False


def _is_plain_str(ann: Any) -> bool:
    """``str`` or ``str | None``: a raw value needs no conversion."""
    if ann is str:
        return True
    origin = get_origin(ann)
    if origin is Union or origin is types.UnionType:
        return set(get_args(ann)) == {str, type(None)}
    return False


def _one_line(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n")


def _can_fail(p: ParamSpec) -> bool:
    """Whether the glue may record an error for the parameter: it is validated, or required."""
    plain = p.source == "file" or (p.source != "body" and _is_plain_str(p.annotation) and not p.multi)
    return p.required or not plain


# Parameters whose value cannot be invalid: they hold no error list.
_INFALLIBLE: Final = ("request", "connection", "background", "depends", "scopes", "response", "websocket", "message")


def _signature(spec: RouteSpec) -> str:
    if spec.method in (WS_METHOD, GRPC_METHOD):
        return WS_GLUE_SIGNATURE
    return STREAM_GLUE_SIGNATURE if reads_stream(spec) else GLUE_SIGNATURE


def glue_function_name(spec: RouteSpec) -> str:
    return "glue_" + "".join(c if c.isalnum() else "_" for c in getattr(spec.handler, "__name__", "handler"))


ErrorHandlers: TypeAlias = "Sequence[tuple[type[BaseException], Callable[..., Any]]]"


def hands_back_handler(spec: RouteSpec, errors: ErrorHandlers = ()) -> bool:
    """Whether the glue returns the handler's coroutine unawaited: a WebSocket route with nothing to run after its
    handler (no exits, no exception handlers, no dependency to await). The connection's Task then runs the handler
    itself, and each message resumes one frame less."""
    return (spec.method == WS_METHOD and spec.is_async and not spec.blocking and not errors
            and not any(d.kind in ("await", "agen", "gen") for d in spec.deps)
            and not any(p.source == "background" for p in all_params(spec)))


def glue_is_async(spec: RouteSpec, errors: ErrorHandlers = ()) -> bool:
    """Whether the route's glue is a coroutine function: the handler, or a dependency, must be awaited."""
    if hands_back_handler(spec, errors):
        return False
    return (spec.is_async or spec.blocking or any(d.kind in ("await", "agen") for d in spec.deps)
            or any(p.source in ("form", "file") for p in all_params(spec)))  # a streamed form is awaited


def error_order(handlers: ErrorHandlers) -> list[tuple[int, type[BaseException]]]:
    """(index, class) of each exception handler, the most specific class first, as ``except`` clauses need."""
    return sorted(enumerate(cls for cls, _ in handlers), key=lambda ic: -len(ic[1].__mro__))


def glue_source(
    spec: RouteSpec, binder: Binder, path_params: list[str], fname: str | None = None, label: str | None = None,
    errors: ErrorHandlers = (), strict_json: bool = True,
) -> str:
    """Generate the glue function of one route, binding what it names through ``binder``.

    ``errors`` are the application's exception handlers: an exception of one of their classes raised by a
    dependency or the handler is answered by it (a ``try`` costs nothing until something is raised).
    ``strict_json`` is the application's ``strict_content_type``: a JSON body without a ``Content-Type`` is
    then read as the text it is.
    """
    is_async = glue_is_async(spec, errors)
    fname = fname or glue_function_name(spec)
    out: list[str] = [
        f"# {_one_line(label or spec.label)}",
        f"# generated by covet from {_one_line(spec.method + ' ' + spec.path)}; edit the handler, not this",
        (f"{'async ' if is_async else ''}def {fname}"
         f"{_signature(spec)} -> Any:"),
    ]
    body: list[str] = []
    w = body.append
    params = all_params(spec)
    by_source: dict[str, list[ParamSpec]] = {}
    for p in params:
        by_source.setdefault(p.source, []).append(p)
    fallible = [p for p in params if p.source not in _INFALLIBLE]
    need_errs = bool(fallible)
    if need_errs:
        w("_errs: list[dict[str, Any]] | None = None")
    # Each dependency's parameters' errors are kept apart: as in FastAPI, a dependency runs unless its own
    # parameters (or those of one it needs) are invalid, and those errors are answered once all have run, with the
    # handler's. So a dependency that refuses the request (401) is heard before the body's 422.
    failing = sorted({p.group for p in fallible if p.group >= 0 and _can_fail(p)})
    for g in failing:
        w(f"_e{g}: list[dict[str, Any]] | None = None")
    late = need_errs and bool(spec.deps)  # errors answered once the dependencies have run
    # A body that cannot be read at all (not JSON, a broken form) is answered before any dependency runs, as
    # FastAPI reads the body before solving them.
    has_early = late and any(p.source in ("body", "form", "file") for p in params)
    unread = "_early" if late else "_errs"
    if has_early:
        w("_early: list[dict[str, Any]] | None = None")

    def err(p: ParamSpec) -> str:
        return "_errs" if p.group < 0 else f"_e{p.group}"

    def default(p: ParamSpec) -> str:
        name = binder.default(p)
        if isinstance(p.default, (list, dict, set)):
            # A mutable default is copied per request, so one request cannot leak into the next.
            return f"{name}.copy()"
        return name

    def convert(p: ParamSpec, raw: str, loc: tuple[str, ...], pad: str = "    ") -> None:
        """Emit code converting local ``raw`` into ``p_<local>``."""
        if p.source == "file":
            if is_file_bytes(p.annotation):
                w(f"{pad}p_{p.local} = await file_bytes({raw})")  # FastAPI's bytes: the content, read whole
            else:
                w(f"{pad}p_{p.local} = {raw}")
            return
        if _is_plain_str(p.annotation) and not p.multi:
            w(f"{pad}p_{p.local} = {raw}")
            return
        vname = binder.validator(p, json=False)
        table = binder.scalar_table(p) if p.source in ("path", "query", "header", "cookie") and not p.multi else None
        if table is not None:
            w(f"{pad}p_{p.local}: Any = {table}.get({raw}, MISSING)")
            w(f"{pad}if p_{p.local} is MISSING:")
            pad += "    "
        w(f"{pad}try:")
        w(f"{pad}    p_{p.local} = {vname}({raw})")
        w(f"{pad}except ValidationError as _e:")
        w(f"{pad}    {err(p)} = add_errors({err(p)}, _e, {loc!r})")
        w(f"{pad}    p_{p.local} = None")

    # Path parameters: always present once the route matched.
    for p in by_source.get("path", []):
        convert(p, f"_pp[{path_params.index(p.key)}]", ("path", p.key), "")

    def model(source: str, p: ParamSpec, pairs_expr: str) -> None:
        """Gather a parameter model's input from the source's pairs, and validate it (see runtime/parammodels)."""
        optional = optional_model(p)
        models = [p.model] if p.model is not None else list(p.choices)
        strict = any(m.model_config.get("extra") in ("allow", "forbid") for m in models)
        renames: tuple[tuple[str, str], ...] = ()
        vname = binder.model_validator(p)
        if p.model is None:
            names = tuple(dict.fromkeys(key for m in models for _, key, _ in model_keys(m)))
            w(f"r_{p.local}: dict[str, Any] | None = union_input({pairs_expr}, {names!r}, {optional!r}, {strict!r})")
        else:
            fields = tuple((f.name, f.key, f.multi) for f in p.fields)
            if source == "header" and p.model.model_config.get("loc_by_alias", True):
                renames = tuple((f.name, f.key) for f in p.fields if f.key != f.name.lower())
            w(f"r_{p.local}: dict[str, Any] | None = model_input({pairs_expr}, {fields!r}, {source == 'header'!r}, "
              f"{source == 'body'!r}, {optional!r}, {strict!r})")
        pad = ""
        if optional:
            w(f"if r_{p.local} is not None:")
            pad = "    "
        w(f"{pad}try:")
        w(f"{pad}    p_{p.local} = {vname}(r_{p.local})")
        w(f"{pad}except ValidationError as _e:")
        w(f"{pad}    {err(p)} = add_model_errors({err(p)}, _e, {source!r}, {renames!r})")
        w(f"{pad}    p_{p.local} = None")
        if optional:
            w("else:")
            absent(p, (source,))

    def keyed(source: str, params: list[ParamSpec], pairs_expr: str, guard: str | None, v: str = "_v",
              checked: bool = True) -> None:
        # ``v``: the loop's value variable; files get their own, as mypy types a variable once. Parameter models
        # read the pairs themselves, after the loop: every parameter is then converted in the order declared, so
        # their errors come in FastAPI's order. ``checked``: False leaves converting the values to ``check`` (and
        # ``model``), for the caller to order.
        declared = params
        params = [p for p in params if not p.is_model]
        for p in params:
            # (Files: Any, or a required list of them would be typed ``list[Any] | None`` where the handler is called.)
            collected = "Any = []" if p.source == "file" else "list[str] = []"
            w(f"r_{p.local}: {collected if p.multi else 'Any = MISSING'}")
        lines: list[str] = []
        keys: dict[str, list[ParamSpec]] = {}
        for p in params:
            keys.setdefault(p.key, []).append(p)  # a key several parameters read is matched once
        for i, (key, same) in enumerate(keys.items()):
            kw = "if" if i == 0 else "elif"
            lines.append(f"    {kw} _k == {key!r}:")
            for p in same:
                lines.append(f"        r_{p.local}{f'.append({v})' if p.multi else f' = {v}'}")
        if lines and guard and source == "query" and binder.inline_query:
            # parse_query's loop, written out (formdata.parse_query: its twin, which the tests hold them to).
            w(f"if {guard}:")
            w(f"    for _qs in {guard}.split('&'):")
            w("        if not _qs:")
            w("            continue")
            w(f"        _k, _qe, {v} = _qs.partition('=')")
            w("        if '%' in _qs or '+' in _qs:")
            w("            _k = unquote_plus(_k, errors='replace')")
            w(f"            {v} = unquote_plus({v}, errors='replace')")
            body.extend("    " + line for line in lines)
        elif lines and guard:
            w(f"if {guard}:")
            w(f"    for _k, {v} in {pairs_expr}:")
            body.extend("    " + line for line in lines)
        elif lines:
            w(f"for _k, {v} in {pairs_expr}:")
            body.extend(lines)
        if checked:
            for p in declared:
                if p.is_model:
                    model(source, p, pairs_expr)
                else:
                    check(source, p)

    def check(source: str, p: ParamSpec) -> None:
        loc = (source, p.key)
        present = f"r_{p.local}" if p.multi else f"r_{p.local} is not MISSING"
        w(f"if {present}:")
        convert(p, f"r_{p.local}", loc)
        w("else:")
        absent(p, loc)

    def absent(p: ParamSpec, loc: tuple[str, ...]) -> None:
        """The branch of a parameter the request did not give: missing, or its default."""
        if p.required:
            w(f"    {err(p)} = missing_error({err(p)}, {loc!r})")
            w(f"    p_{p.local} = None")
        else:
            w(f"    p_{p.local} = {default(p)}")

    if "query" in by_source:
        if any(p.is_model for p in by_source["query"]):
            w("_qp = parse_query(_q)")  # parsed once for the models and the plain parameters
            keyed("query", by_source["query"], "_qp", None)
        else:
            keyed("query", by_source["query"], "parse_query(_q)", "_q")
    if "header" in by_source:
        keyed("header", by_source["header"], "_h", None)
    if "cookie" in by_source:
        w("_ck: dict[str, str] = {}")
        w("for _k, _v in _h:")
        w("    if _k == 'cookie':")
        w("        for _n, _x in parse_cookies(_v).items():")
        w("            _ck.setdefault(_n, _x)")
        keyed("cookie", by_source["cookie"], "_ck.items()", None)

    if "form" in by_source or "file" in by_source:
        limits = "" if spec.form_limits == FORM_LIMITS else f", {spec.form_limits!r}"
        w(f"_fm = await read_form(_h, _b{limits})")
        w("if _fm.error is not None:")
        w(f"    {unread} = ({unread} or []) + [{{'type': 'form_invalid', 'loc': ['body'], 'msg': _fm.error,"
          " 'input': None}]")
        if "form" in by_source:
            keyed("body", by_source["form"], "_fm.fields", None, checked=False)
        if "file" in by_source:
            keyed("body", by_source["file"], "_fm.files", None, "_u", checked=False)
        for p in params:  # in the order declared, as FastAPI lists their errors
            if p.is_model:
                model("body", p, "_fm.fields")
            elif p.source in ("form", "file"):
                check("body", p)

    bodies = by_source.get("body", [])
    if len(bodies) == 1 and not embedded(bodies[0]):
        p = bodies[0]
        vname = binder.validator(p, json=True)
        fast = binder.fields(p)
        if fast is not None:
            w(f"p_{p.local}: Any")
        # FastAPI reads a body whose Content-Type does not say JSON as the text it is: a model then fails, a str
        # takes the text. The check is here, compiled with the glue, rather than around it.
        w(f"if _b and not json_declared(_h, {strict_json!r}):")
        w("    try:")
        w(f"        p_{p.local} = {binder.text_validator(p)}(_b)")
        w("    except ValidationError as _e:")
        w(f"        {err(p)} = add_errors({err(p)}, _e, ('body',))")
        w(f"        p_{p.local} = None")
        w("elif _b:")
        pad = "    "
        if fast is not None:
            # Fields into a dict, then the constructor; a body the fields reject goes through the
            # class's own validator, so errors read exactly as in interpreted mode.
            fname, cls, names = fast
            w("    _a: dict[str, Any] | None")
            w("    try:")
            w(f"        _a = {fname}(_b)")
            w("    except ValidationError:")
            w("        _a = None")
            w("    if _a is not None:")
            w(f"        p_{p.local} = {cls}({', '.join(f'_a[{n!r}]' for n in names)})")
            w("    else:")
            pad = "        "
        w(f"{pad}try:")
        w(f"{pad}    p_{p.local} = {vname}(_b)")
        w(f"{pad}except ValidationError as _e:")
        # FastAPI's words (bodyerrors); a body that does not parse is its only error, as FastAPI reads it first.
        w(f"{pad}    _je = json_decode_errors(_b, _e)")
        w(f"{pad}    if _je is not None:")
        w(f"{pad}        {unread} = _je")
        w(f"{pad}    else:")
        w(f"{pad}        {err(p)} = body_errors({err(p)}, _e, _b, {binder.validator(p, json=False, rereads=True)})")
        w(f"{pad}    p_{p.local} = None")
        w("else:")
        absent(p, ("body",))
    elif bodies:
        # Several body parameters: the body is an object with one key each (FastAPI's "embed").
        w("_obj: Any = {}")
        w("_je: list[dict[str, Any]] | None = None")
        # A body that does not say it is JSON is not an object: each parameter is missing, as in FastAPI.
        w(f"if _b and json_declared(_h, {strict_json!r}):")
        w("    try:")
        w("        _obj = from_json(_b)")
        w("    except ValueError as _x:")
        w("        _je = unparsed_errors(_b, str(_x))")
        # A body that is no object (a list, a scalar, null) misses each parameter, the optional ones too.
        w("_embed = isinstance(_obj, dict)")
        w("if not _embed:")
        w("    _obj = {}")
        for p in bodies:
            vname = binder.validator(p, json=False)
            w(f"r_{p.local} = _obj.get({p.key!r}, MISSING)")
            w(f"if r_{p.local} is not MISSING:")
            w("    try:")
            w(f"        p_{p.local} = {vname}(r_{p.local})")
            w("    except ValidationError as _e:")
            w(f"        {err(p)} = add_errors({err(p)}, _e, ('body', {p.key!r}))")
            w(f"        p_{p.local} = None")
            if p.required:
                w("else:")
                w(f"    {err(p)} = missing_error({err(p)}, ('body', {p.key!r}))")
                w(f"    p_{p.local} = None")
            else:
                w("elif _embed:")
                w(f"    p_{p.local} = {default(p)}")
                w("else:")
                w(f"    {err(p)} = missing_error({err(p)}, ('body', {p.key!r}))")
                w(f"    p_{p.local} = None")
        w("if _je is not None:")
        w(f"    {unread} = _je  # alone, as FastAPI reads the body before any parameter")

    requests = by_source.get("request", [])
    # (A gRPC call's Request has no body: its message is the method's first parameter, not bytes.)
    request_body = 'b""' if spec.method == GRPC_METHOD else "_b"
    for i, p in enumerate(requests):
        if i == 0:
            pairs = ", ".join(f"{k!r}: _pp[{j}]" for j, k in enumerate(path_params))
            w(f"p_{p.local} = Request(_m, _p, _q, _h, {request_body}, _c, {{{pairs}}})")
        else:
            w(f"p_{p.local} = p_{requests[0].local}")  # one Request per request, whoever asks
    for p in by_source.get("connection", []):
        w(f"p_{p.local} = _c")
    for p in by_source.get("websocket", []):
        w(f"p_{p.local} = _b  # (a WebSocket route's glue is handed its WebSocket where a body would be)")
    for p in by_source.get("message", []):
        w(f"p_{p.local} = _b  # (a gRPC method's glue is handed the call's message, or messages, there)")
    for p in by_source.get("scopes", []):
        w(f"p_{p.local} = {binder.security_scopes()}({list(p.scopes)!r})")
    background = bool(by_source.get("background"))
    if background:
        w("p_0tasks = BackgroundTasks()")
    merge = bool(by_source.get("response"))
    if merge:
        w("p_0response = temporal_response()")
    # The application may answer validation errors itself: they are then raised inside the handlers' try.
    raise_invalid = any(cls is RequestValidationError for cls, _ in errors)
    # FastAPI hands such a handler the body it read as ``exc.body``
    received = f", body=received_json(_b, _h, {strict_json!r})" if by_source.get("body") else ""
    early = "_early" if late else "_errs"
    answer_early = (need_errs and not late) or has_early
    if answer_early and not raise_invalid:
        w(f"if {early} is not None:")
        w(f"    return validation_reply({early})")

    guarded = len(body)  # what follows runs inside the exception handlers' try, when there are any
    if answer_early and raise_invalid:
        w(f"if {early} is not None:")
        w(f"    raise RequestValidationError({early}{received})")

    def value(p: ParamSpec) -> str:
        return f"_d{p.dep.index}" if p.dep is not None else f"p_{p.local}"

    def arguments(ps: list[ParamSpec]) -> str:
        return ", ".join(f"{p.name}={value(p)}" if p.keyword_only else value(p) for p in ps)

    exits = any(d.kind in ("gen", "agen") for d in spec.deps)
    # Generators of scope "function" finish once the handler has returned, before the response is sent; they
    # are unwound first when something raises, as FastAPI's inner exit stack is.
    now = any(d.kind in ("gen", "agen") and d.scope == "function" for d in spec.deps)
    unwound = "_exits + _fexits" if now else "_exits"
    wrapped = exits or background
    pad = ""
    if wrapped:
        # Generator dependencies are finished, and background tasks run, once the response is sent; if the
        # handler or a dependency raises, the generators opened so far see the exception first.
        if exits:
            w("_exits: list[Any] = []")
        if now:
            w("_fexits: list[Any] = []")
        w("_reply: Any")
        w("try:")
        pad = "    "
    used = {p.dep.index for p in params if p.dep is not None}
    # A route's sync code runs in the thread pool unless the route is inline (FastAPI's rule for ``def``):
    # ``partial`` keeps the call's arguments checked against the function's signature in a build.
    threaded = spec.blocking
    blocked: dict[int, list[int]] = {}  # dependency -> the error lists that, when set, keep it from running
    outer = pad
    for d in spec.deps:
        below = {g for q in d.params if q.dep is not None for g in blocked[q.dep.index]}
        blocked[d.index] = sorted(below | ({d.index} if d.index in failing else set()))
        pad = outer
        if blocked[d.index]:
            w(f"{pad}if {' and '.join(f'_e{g} is None' for g in blocked[d.index])}:")
            pad += "    "
        fn = binder.provider(d)
        call = f"{fn}({arguments(d.params)}){binder.origin(d.provider)}"
        if d.kind == "call" and threaded:
            args_ = f"{', ' if d.params else ''}{arguments(d.params)}"
            call = f"await run_blocking(partial({fn}{args_})){binder.origin(d.provider)}"
        if d.kind in ("call", "await"):
            call = f"await {call}" if d.kind == "await" else call
            if d.index in used and not d.returns_none:
                w(f"{pad}_d{d.index}{': Any' if d.loose else ''} = {call}")
            else:
                # A provider declared to return None is called as a statement, as mypy requires.
                w(pad + call)
                if d.index in used:
                    w(f"{pad}_d{d.index}: None = None")
        else:
            if d.kind == "agen":
                step = f"await _g{d.index}.__anext__()"
            else:
                step = f"await run_blocking(partial(first_yield, _g{d.index}))" if threaded else f"next(_g{d.index})"
            w(f"{pad}_g{d.index} = {call}")
            if d.index in used and not d.returns_none:
                w(f"{pad}_d{d.index}{': Any' if d.loose else ''} = {step}")
            else:
                w(pad + step)
                if d.index in used:
                    w(f"{pad}_d{d.index}: None = None")
            w(f"{pad}{'_fexits' if d.scope == 'function' else '_exits'}.append(_g{d.index})")
    pad = outer
    if late:
        if failing:
            w(f"{pad}if {' or '.join(f'_e{g} is not None' for g in failing)}:")
            w(f"{pad}    _errs = {' + '.join(f'(_e{g} or [])' for g in failing)} + (_errs or [])")
        w(f"{pad}if _errs is not None:")
        if raise_invalid or wrapped:
            w(f"{pad}    raise RequestValidationError(_errs{received})")
        else:
            w(f"{pad}    return validation_reply(_errs)")

    handler = binder.handler()
    args = arguments(spec.params)
    if spec.streams_items:
        call = f"{handler}({args})"  # a generator: calling it runs none of its code
    elif threaded and not spec.is_async:
        call = f"await run_blocking(partial({handler}{', ' if args else ''}{args}))"
    elif spec.is_async:
        call = f"await {handler}({args})"
    else:
        call = f"{handler}({args})"

    if hands_back_handler(spec, errors):
        w(f"{pad}return {handler}({args}){binder.origin(spec.handler)}")
        out.extend("    " + line for line in body)
        return "\n".join(out) + "\n"

    status = spec.status
    kind = result_kind(spec.return_annotation)
    overridden = spec.result.model is not UNSET  # a response_model: the handler may still return a Response
    if spec.method == GRPC_METHOD:
        kind = "raw"  # the message, or the generator of them, for covet.runtime.grpc_method to send
    elif spec.result.response_class is not None and (kind not in ("none", "response") or spec.streams_items):
        kind = "class"
    elif spec.streams_items:
        kind = "jsonl"
    # A handler declared to return None is called as a statement: its type says
    # there is no value to encode (and mypy rejects using one).
    w(pad + (call if kind == "none" else f"_r = {call}") + binder.origin(spec.handler))
    # (condition, reply) pairs tried in order, then the reply when none holds.
    cases: list[tuple[str, str]] = []
    if kind == "text":
        cases.append(("type(_r) is str", f"({status}, H_TEXT, _r.encode())"))
        last = f"encode_any(_r, {status})"
    elif kind == "bytes":
        cases.append(("type(_r) is bytes", f"({status}, H_BYTES, _r)"))
        last = f"encode_any(_r, {status})"
    elif kind == "none":
        last = f"({204 if status == 200 else status}, H_NONE, b'')"
    elif kind == "raw":
        last = "_r"
    elif kind == "response":
        cases.append(("isinstance(_r, RESPONSES)", "reply_of(_r)"))
        last = f"encode_any(_r, {status})"
    elif kind == "json":
        ser = binder.serializer()
        if ser is None:
            last = f"encode_any(_r, {status})"
        else:
            plain = not spec.result.serialize_options()
            record = gluekit.record_fields(spec.return_annotation) if plain else None
            cls_name = binder.class_ref(record[0]) if record is not None else None
            if record is not None and cls_name is not None:
                # Dataclasses or models of scalar fields (or a list of them): written in C too, when every field holds
                # a value of exactly its type (covet._native.json_records); else pydantic-core's path below.
                _, many, fields, masks = record
                test = "type(_r) is list" if many else f"type(_r) is {cls_name}"
                cases.append((f"{test} and (_j := json_records(_r, {cls_name}, {fields!r}, {masks!r})) is not None",
                              f"({status}, H_JSON, _j)"))
            mask = gluekit.flat_mask(spec.return_annotation) if plain else 0
            if mask:
                # A flat dict of scalars: written in C (covet._native.json_flat), the same bytes as validating and
                # serializing it; anything else it declines takes the lines below.
                cases.append((f"type(_r) is dict and (_j := json_flat(_r, {mask})) is not None",
                              f"({status}, H_JSON, _j)"))
            if overridden or not (binder.typed and not can_be_response(spec.return_annotation)):
                cases.append(("isinstance(_r, RESPONSES)", "reply_of(_r)"))
            # The declared type filters and validates the result, as FastAPI's response model does: a dict
            # returned for a model loses the fields the model does not declare (a password hash, say).
            guard = result_guard(spec.return_annotation)
            if guard is not None:
                cases.append((guard.replace("{T}", binder.result_class()) if "{T}" in guard else guard,
                              f"({status}, H_JSON, {ser}(_r))"))
            last = f"({status}, H_JSON, {ser}({binder.result_validator()}(_r)))"
    elif kind == "jsonl":
        ser = None if spec.untyped_result or result_kind(spec.return_annotation) == "any" else binder.serializer()
        item_check = binder.result_validator() if ser is not None else "None"
        pooled = threaded and not inspect.isasyncgenfunction(spec.handler)  # a plain generator, stepped in the pool
        last = f"reply_of(jsonl_reply(_r, {ser}, {item_check}, {status}, {pooled!r}))"
    elif kind == "class":
        cases.append(("isinstance(_r, RESPONSES)", "reply_of(_r)"))
        rc = binder.response_class()
        given = spec.result.status_given
        declared = result_kind(spec.return_annotation)
        ser = binder.serializer() if declared == "json" else None
        if ser is not None and issubclass(spec.result.response_class or object, gluekit.JSONResponse):
            # The declared type filters the result; the class only names the media type.
            last = f"json_class_reply({rc}, {ser}({binder.result_validator()}(_r)), {status})"
        else:
            last = f"class_reply({rc}, _r, {status}, {given!r})"
    elif spec.untyped_result:
        last = f"encode_untyped(_r, {status})"
    else:
        last = f"encode_any(_r, {status})"
    if merge:
        # The handler's changes to its Response parameter go into the reply, unless it returned a Response itself.
        cases = [(c, r if r == "reply_of(_r)" else f"merge_response({r}, p_0response)") for c, r in cases]
        last = f"merge_response({last}, p_0response)"
        if kind != "none":
            last = f"(reply_of(_r) if isinstance(_r, RESPONSES) else {last})"
    if not wrapped:
        for cond, reply in cases:
            w(f"if {cond}:")
            w(f"    return {reply}")
        w(f"return {last}")
    else:
        for i, (cond, reply) in enumerate(cases):
            w(f"    {'if' if i == 0 else 'elif'} {cond}:")
            w(f"        _reply = {reply}")
        if cases:
            w("    else:")
            w(f"        _reply = {last}")
        else:
            w(f"    _reply = {last}")
        if now:
            in_pool = ", True" if threaded and any(d.kind == "gen" for d in spec.deps) else ""
            w(f"    {f'await finish_now(_fexits{in_pool})' if is_async else 'finish_now_sync(_fexits)'}")
        if late and not raise_invalid:
            # The dependencies' and the handler's parameters' errors, once the dependencies have run.
            w("except RequestValidationError as _x:")
            if exits:
                w(f"    {'await unwind' if is_async else 'unwind_sync'}({unwound}, _x)")
            w("    return validation_reply(_x.errors())")
        w("except BaseException as _x:")
        sync_exits = threaded and any(d.kind == "gen" for d in spec.deps)
        if exits:
            w(f"    {'await unwind' if is_async else 'unwind_sync'}({unwound}, _x{', True' if sync_exits else ''})")
        # ``raise _x``, not a bare ``raise``: compiled, a bare one after an ``await`` in the except block freed the
        # exception once too often (mypyc), and the server crashed logging it (FastAPI's dependencies/tutorial008c).
        w("    raise _x")
        w(f"return after_reply(_reply, {'_exits' if exits else 'None'}, {'p_0tasks' if background else 'None'}"
          f"{', True' if sync_exits else ''})")
    if errors:
        inner = body[guarded:]
        del body[guarded:]
        w("try:")
        body.extend("    " + line for line in inner)
        passthrough = not any(c is HTTPError for c, _ in errors)
        pairs = ", ".join(f"{k!r}: _pp[{j}]" for j, k in enumerate(path_params))
        request = f"Request(_m, _p, _q, _h, {request_body}, _c, {{{pairs}}})"
        for index, klass in error_order(errors):
            if passthrough and issubclass(HTTPError, klass):
                # An HTTPError is the route's own answer, not an error for a handler of Exception to catch
                # (a handler registered for a subclass of HTTPError, being more specific, comes before this).
                w("except HTTPError:")
                w("    raise")
                passthrough = False
            exc_name, fn_name = binder.exception_handler(index, errors[index])
            w(f"except {exc_name} as _x:")
            if is_async:
                w(f"    return await handled_error_async({fn_name}, _x, {request})")
            else:
                w(f"    return handled_error({fn_name}, _x, {request})")
    out.extend("    " + line for line in body)
    return "\n".join(out) + "\n"


_counter = 0


def build_plan(spec: RouteSpec, path_params: list[str], errors: ErrorHandlers = (),
               strict_json: bool = True) -> RoutePlan:
    """Generate, compile and load one route's glue (interpreted mode); ``strict_json``: see ``glue_source``."""
    global _counter
    ns: dict[str, Any] = {"__name__": "covet.glue", "Any": Any}
    ns.update((name, getattr(gluekit, name)) for name in gluekit.__all__)
    fname = glue_function_name(spec)
    source = glue_source(spec, ObjectBinder(spec, ns), path_params, fname, errors=errors, strict_json=strict_json)
    _counter += 1
    filename = f"<covet glue {_counter}: {_one_line(spec.method + ' ' + spec.path)}>"
    code = compile(source, filename, "exec")
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(code, ns)
    plan = RoutePlan(ns[fname], glue_is_async(spec, errors), spec.label, source, spec)
    if errors:
        # An exception handler's Request has the headers. Its connection is left to routes that read theirs:
        # asking for it on every route would take all of them off the io_uring core's direct path.
        plan.reads_headers = True
    return plan
