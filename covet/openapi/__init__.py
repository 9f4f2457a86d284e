"""The OpenAPI 3.1 document of an application, from its handlers' signatures.

Built once, at start-up in interpreted mode and by ``covet build`` for a
build (compiled handlers carry no annotations to read). Schemas are
pydantic's JSON Schema (2020-12, which OpenAPI 3.1 uses as is), every named
type once under ``components/schemas``.
"""

from __future__ import annotations

import copy
import inspect
import re
from collections.abc import Callable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Final, get_args

import pydantic
import pydantic.json_schema
import pydantic_core
from pydantic.json_schema import JsonSchemaMode, JsonSchemaValue
from pydantic_core import core_schema

from covet.exceptions import RouteDefinitionError
from covet.params import BodyParam, Depends
from covet.responses import JSONResponse, RedirectResponse, StreamingResponse
from covet.runtime.glue import embedded, result_kind
from covet.runtime.pathtrie import parse_template
from covet.runtime.signature import ParamSpec, RouteSpec, all_params, analyse

if TYPE_CHECKING:
    from covet.app import Covet
    from covet.routing import RouteDef

__all__ = ["build_document", "openapi_document", "openapi_json"]

_REF: Final = "#/components/schemas/{model}"
_WIRE: Final = ("path", "query", "header", "cookie")

# FastAPI's, exactly: clients generated from either document see the same error types.
_ERROR_SCHEMAS: Final[dict[str, Any]] = {
    "ValidationError": {
        "title": "ValidationError",
        "type": "object",
        "properties": {
            "loc": {"title": "Location", "type": "array",
                    "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
            "msg": {"title": "Message", "type": "string"},
            "type": {"title": "Error Type", "type": "string"},
            "input": {"title": "Input"},
            "ctx": {"title": "Context", "type": "object"},
        },
        "required": ["loc", "msg", "type"],
    },
    "HTTPValidationError": {
        "title": "HTTPValidationError",
        "type": "object",
        "properties": {"detail": {"title": "Detail", "type": "array",
                                  "items": {"$ref": _REF.format(model="ValidationError")}}},
    },
    "HTTPError": {
        "type": "object",
        "title": "HTTPError",
        "properties": {"detail": {"title": "Detail"}},
        "required": ["detail"],
    },
}


class _SchemaWriter(pydantic.json_schema.GenerateJsonSchema):
    """pydantic's writer, with bytes as FastAPI documents them: a string of octets, base64 where the model's
    ``val_json_bytes``/``ser_json_bytes`` says so (pydantic says ``format: binary`` either way)."""

    def bytes_schema(self, schema: core_schema.BytesSchema) -> JsonSchemaValue:
        out: JsonSchemaValue = {"type": "string", "contentMediaType": "application/octet-stream"}
        mode = self._config.ser_json_bytes if self.mode == "serialization" else self._config.val_json_bytes
        if mode == "base64":
            out["contentEncoding"] = "base64"
        self.update_with_validations(out, schema, self.ValidationsMapping.bytes)
        return out


class _Schemas:
    """Collects every schema a document needs, so pydantic writes shared definitions once."""

    def __init__(self, output_mode: JsonSchemaMode = "serialization") -> None:
        # FastAPI's separate_input_output_schemas=False documents results with their input schema.
        self.output_mode: JsonSchemaMode = output_mode
        self.inputs: list[tuple[int, JsonSchemaMode, pydantic.TypeAdapter[Any]]] = []
        self.slots: list[tuple[dict[str, Any], str]] = []
        self.named: dict[str, dict[str, Any]] = {}  # the document's own components: Body_<operation id>
        # (into, key, keywords): what a field's marker adds to its schema once written; "title" is left out of a
        # bare reference, as FastAPI titles only an inline schema.
        self.fields: list[tuple[dict[str, Any], str, dict[str, Any]]] = []

    def body_object(self, name: str, props: dict[str, Any], required: list[str]) -> dict[str, Any]:
        """A reference to the component ``Body_<name>``, the object of ``props`` (FastAPI's name for a body of
        several parameters, or a form)."""
        schema: dict[str, Any] = {"properties": props, "type": "object"}
        if required:
            schema["required"] = required
        schema["title"] = f"Body_{name}"
        self.named[f"Body_{name}"] = schema
        return {"$ref": _REF.format(model=f"Body_{name}")}

    def field(self, ann: Any, mode: JsonSchemaMode, into: dict[str, Any], key: str, keywords: dict[str, Any]) -> None:
        """As ``want``, then ``keywords`` (a title, a description...) merged into the schema written."""
        self.want(ann, mode, into, key)
        self.fields.append((into, key, keywords))

    def result_mode(self, ann: Any) -> JsonSchemaMode:
        """The mode a result of type ``ann`` is documented in: a computed field exists in the output only, so its
        model keeps its output schema even when inputs and outputs share theirs."""
        return "serialization" if _computed(ann, set()) else self.output_mode

    def want(self, ann: Any, mode: JsonSchemaMode, into: dict[str, Any], key: str = "schema") -> None:
        """Put the schema of ``ann`` at ``into[key]`` once ``fill`` runs ({} for a type without one)."""
        try:
            adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(ann)
            adapter.json_schema(mode=mode)
        except Exception:  # a type pydantic cannot describe is documented as "anything"
            into[key] = {}
            return
        self.inputs.append((len(self.slots), mode, adapter))
        self.slots.append((into, key))

    def fill(self) -> dict[str, Any]:
        """Write every wanted schema; returns the shared definitions."""
        defs: dict[str, Any] = {}
        if self.inputs:
            found, defs = pydantic.TypeAdapter.json_schemas(self.inputs, ref_template=_REF,
                                                            schema_generator=_SchemaWriter)
            for (index, _mode), schema in found.items():
                into, key = self.slots[index]
                into[key] = schema
        for into, key, keywords in self.fields:
            schema = into.setdefault(key, {})
            for name, value in keywords.items():
                if not (name == "title" and "$ref" in schema):
                    schema[name] = value
        return dict(defs.get("$defs", {}))


def _computed(ann: Any, seen: set[int]) -> bool:
    """``ann`` is, or holds, a model or dataclass with a computed field."""
    if id(ann) in seen:
        return False
    seen.add(id(ann))
    fields = getattr(ann, "__pydantic_fields__", None)
    if isinstance(fields, dict):
        if getattr(ann, "__pydantic_computed_fields__", None):
            return True
        if any(_computed(f.annotation, seen) for f in fields.values()):
            return True
    return any(_computed(arg, seen) for arg in get_args(ann))


def _jsonable(value: Any) -> tuple[bool, Any]:
    try:
        return True, pydantic_core.to_jsonable_python(value)
    except Exception:  # a default that is not JSON is left out of the document
        return False, None


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Response"


def _docstring(handler: Callable[..., Any]) -> str:
    """The operation's description from the handler's docstring, as FastAPI takes it: all of it, cut at a form
    feed (what follows ``\\f`` is for the code's readers only)."""
    return inspect.cleandoc(handler.__doc__ or "").split("\f")[0].strip()


def openapi_path(template: str) -> str:
    """``/files/{rest:path}`` as OpenAPI writes it: ``/files/{rest}``."""
    return re.sub(r"\{(\w+):[^}]*\}", r"{\1}", template)


def _untyped(rd: RouteDef, p: ParamSpec) -> bool:
    """``p`` was declared without a type (read as a string, documented as anything, as FastAPI does)."""
    try:
        declared = inspect.signature(p.owner or rd.handler).parameters.get(p.name)
    except (TypeError, ValueError):
        return False
    return declared is not None and declared.annotation is inspect.Parameter.empty


def _parameter(p: ParamSpec, schemas: _Schemas, untyped: bool = False) -> dict[str, Any]:
    item: dict[str, Any] = {"name": p.key, "in": p.source, "required": p.source == "path" or p.required}
    marker = p.marker
    # Moved into the schema once it exists (see _defaults): FastAPI titles every inline schema.
    extra: dict[str, Any] = {"title": (marker.title if marker is not None and marker.title else None)
                             or p.key.title().replace("_", " ")}
    if marker is not None and marker.description:
        item["description"] = extra["description"] = marker.description
    if marker is not None and marker.deprecated:
        item["deprecated"] = extra["deprecated"] = True
    if marker is not None and marker.examples:
        extra["examples"] = _jsonable(marker.examples)[1]
    if marker is not None and marker.json_schema_extra:
        extra.update(marker.json_schema_extra)
    if untyped:
        item["schema"] = {}
    else:
        schemas.want(p.annotation, "validation", item)
    # As FastAPI titles a parameter: the marker's title, else its name on the wire, title-cased.
    item["x-title"] = getattr(marker, "title", None) or p.key.title().replace("_", " ")
    if not p.required and p.default is not None:  # (FastAPI leaves a None default out)
        ok, value = _jsonable(p.default)
        if ok:
            item["x-default"] = value
    item["x-schema"] = extra
    if marker is not None and marker.openapi_examples:
        item["examples"] = _jsonable(marker.openapi_examples)[1]
    return item


def _title(name: str) -> str:
    """A field's title as pydantic (and so FastAPI) writes it from its name."""
    return name.title().replace("_", " ")


def _keywords(p: ParamSpec) -> dict[str, Any]:
    """What a body or form field's declaration adds to its schema: its title, description, examples, default..."""
    marker = p.marker
    out: dict[str, Any] = {"title": (marker.title if marker is not None and marker.title else None)
                           or _title(p.key)}
    if marker is not None:
        if marker.description:
            out["description"] = marker.description
        if marker.deprecated:
            out["deprecated"] = True
        if marker.examples:
            out["examples"] = _jsonable(marker.examples)[1]
        if marker.json_schema_extra:
            out.update(marker.json_schema_extra)
    if not p.required and p.default is not None:
        ok, value = _jsonable(p.default)
        if ok:
            out["default"] = value
    return out


def _nullable(ann: Any) -> bool:
    return type(None) in get_args(ann)


def _body(params: list[ParamSpec], schemas: _Schemas, name: str) -> dict[str, Any]:
    media_type = "application/json"
    for p in params:
        if isinstance(p.marker, BodyParam) and p.marker.media_type != media_type:
            media_type = p.marker.media_type
    if len(params) == 1 and not embedded(params[0]):
        p = params[0]
        media: dict[str, Any] = {}
        schemas.field(p.annotation, "validation", media, "schema", _keywords(p))
        required = p.required
        if p.marker is not None and p.marker.openapi_examples:
            media["examples"] = _jsonable(p.marker.openapi_examples)[1]
    else:
        props: dict[str, Any] = {}
        for p in params:
            schemas.field(p.annotation, "validation", props, p.key, _keywords(p))
        media = {"schema": schemas.body_object(name, props, [p.key for p in params if p.required])}
        required = any(p.required for p in params)
    # FastAPI writes "required" only when it is true.
    return {"required": True, "content": {media_type: media}} if required else {"content": {media_type: media}}


def _model_type(p: ParamSpec) -> Any:
    """What a form model parameter's schema is of: its model, or its union of models."""
    return p.model if p.model is not None else p.annotation


def _form(params: list[ParamSpec], schemas: _Schemas, name: str) -> dict[str, Any]:
    media = "multipart/form-data" if any(p.source == "file" for p in params) else "application/x-www-form-urlencoded"
    models = [p for p in params if p.is_model]
    if len(params) == 1 and models:
        # One form model: the form is the model (FastAPI documents its schema as the body's).
        whole: dict[str, Any] = {}
        schemas.want(_model_type(models[0]), "validation", whole)
        return {"required": True, "content": {media: whole}} if models[0].required else {"content": {media: whole}}
    props: dict[str, Any] = {}
    for p in params:
        if p.is_model:
            continue
        if p.source == "file":
            one: dict[str, Any] = {"type": "string", "contentMediaType": "application/octet-stream"}  # FastAPI's
            schema = {"type": "array", "items": one} if p.multi else one
            if _nullable(p.annotation):
                schema = {"anyOf": [schema, {"type": "null"}]}
            props[p.key] = {**schema, **_keywords(p)}
        else:
            schemas.field(p.annotation, "validation", props, p.key, _keywords(p))
    schema = schemas.body_object(name, props, [p.key for p in params if p.required and not p.is_model])
    if models:
        # Each form model's fields are the form's too: FastAPI joins the models' schemas to the others' fields.
        parts: list[dict[str, Any]] = []
        for p in models:
            part: dict[str, Any] = {}
            schemas.want(_model_type(p), "validation", part)
            parts.append(part)
        named = schemas.named[f"Body_{name}"]
        schemas.named[f"Body_{name}"] = {"allOf": parts, **named}
    body: dict[str, Any] = {"content": {media: {"schema": schema}}}
    if any(p.required for p in params):
        body["required"] = True  # FastAPI writes "required" only when it is true
    return body


def _success(spec: RouteSpec, schemas: _Schemas, operation_id: str, description: str) -> tuple[str, dict[str, Any]]:
    kind = result_kind(spec.return_annotation)
    status = spec.status
    out: dict[str, Any] = {"description": description}
    cls = spec.result.response_class
    if cls is not None and kind != "none":
        if issubclass(cls, RedirectResponse) and not spec.result.status_given:
            status = 307
        media_type = getattr(cls, "media_type", None)
        if media_type and not issubclass(cls, JSONResponse):
            out["content"] = {media_type: {"schema": {"type": "string"}}}
            return str(status), out
        if media_type is None:
            return str(status), out
    if kind == "none":
        return str(204 if status == 200 else status), out
    if spec.streams_items:  # JSON Lines, each line an item (OpenAPI 3.2's itemSchema, as FastAPI writes it)
        items: dict[str, Any] = {"itemSchema": {}}
        if kind != "any":
            schemas.want(spec.return_annotation, schemas.result_mode(spec.return_annotation), items, "itemSchema")
        out["content"] = {"application/jsonl": items}
        return str(status), out
    if kind == "text":
        out["content"] = {"text/plain": {"schema": {"type": "string"}}}
    elif kind == "bytes":
        out["content"] = {"application/octet-stream": {"schema": {}}}
    elif kind == "json":
        media: dict[str, Any] = {}
        schemas.field(spec.return_annotation, schemas.result_mode(spec.return_annotation), media, "schema",
                      {"title": _title(f"Response_{operation_id}")})
        out["content"] = {"application/json": media}
    elif kind == "any" or (kind == "response" and status not in (204, 304) and _may_be_json(spec.return_annotation)):
        # Any JSON value (a Response the handler returns may say otherwise), as FastAPI writes it.
        out["content"] = {"application/json": {"schema": {}}}
    return str(status), out


def _may_be_json(cls: Any) -> bool:
    """A result declared as the response class ``cls`` may be JSON: FastAPI documents it as any JSON value; a
    stream or a class of another media type is left without content rather than documented wrongly."""
    if not isinstance(cls, type) or issubclass(cls, StreamingResponse):
        return False
    return getattr(cls, "media_type", None) in (None, "application/json")


def _security(spec: RouteSpec, schemes: dict[str, Any]) -> list[dict[str, list[str]]]:
    """The operation's security requirements (each scheme once, with every scope asked of it); its schemes go
    into ``schemes``."""
    required: dict[str, list[str]] = {}
    for scheme, scopes in spec.security:
        schemes[scheme.scheme_name] = scheme.openapi_scheme()
        found = required.setdefault(scheme.scheme_name, [])
        found.extend(s for s in scopes if s not in found)
    return [{name: scopes} for name, scopes in required.items()]


def _operation(rd: RouteDef, spec: RouteSpec, operation_id: str, unique_id: str, schemas: _Schemas,
               schemes: dict[str, Any], seen_ids: set[str]) -> dict[str, Any]:
    """``unique_id`` names the operation's own components (``Body_<id>``, ``Response_<id>``), as FastAPI's
    ``route.unique_id`` does."""
    op: dict[str, Any] = {}
    if rd.tags:
        op["tags"] = list(rd.tags)
    op["summary"] = rd.summary or rd.name.replace("_", " ").title()
    description = (rd.description or "").split("\f")[0].strip() or _docstring(rd.handler)
    if description:
        op["description"] = description
    op["operationId"] = operation_id
    if spec.security:
        op["security"] = _security(spec, schemes)
    everything = all_params(spec)
    wire: list[ParamSpec] = []
    hidden = False
    # FastAPI's order: the path's parameters, then the query's, the headers and the cookies, each in declaration
    # order (the dependencies' first); a key several dependencies read is one parameter of the operation.
    for p in sorted(everything, key=lambda p: _WIRE.index(p.source) if p.source in _WIRE else len(_WIRE)):
        if p.source not in _WIRE:
            continue
        if p.marker is not None and not p.marker.include_in_schema:
            hidden = True  # still validated: the operation can answer 422
            continue
        # A parameter model is documented as its fields, each a parameter of its own (as FastAPI does).
        for one in p.fields if p.model is not None else [p]:
            if one.source in _WIRE and not any(q.source == one.source and q.key == one.key for q in wire):
                wire.append(one)
    if wire:
        op["parameters"] = [_parameter(p, schemas, _untyped(rd, p)) for p in wire]
    bodies = [p for p in everything if p.source == "body"]
    if bodies:
        op["requestBody"] = _body(bodies, schemas, unique_id)
    fields = [p for p in everything if p.source in ("form", "file")]
    if fields:
        op["requestBody"] = _form(fields, schemas, unique_id)
    code, success = _success(spec, schemas, unique_id, rd.response_description)
    responses: dict[str, Any] = {code: success}
    for status, doc in sorted(rd.responses.items()):
        if isinstance(doc, str):
            responses[str(status)] = {
                "description": doc,
                "content": {"application/json": {"schema": {"$ref": _REF.format(model="HTTPError")}}},
            }
            continue
        # FastAPI's form: an OpenAPI response object, with "model" for the type of its JSON body.
        doc = dict(doc)
        model = doc.pop("model", None)
        found = responses.setdefault(str(status), {})
        if model is not None:
            content = doc.setdefault("content", {})
            media = content.setdefault("application/json", {})
            schema: dict[str, Any] = {}
            schemas.field(model, schemas.result_mode(model), schema, "schema",
                          {"title": _title(f"Response_{status}_{unique_id}")})
            media["x-model"] = schema
        _merge(found, doc)
        found["description"] = doc.get("description") or found.get("description") or _phrase(status)
    if wire or hidden or bodies or fields:  # a form or a file can be refused too
        responses.setdefault("422", {
            "description": "Validation Error",
            "content": {"application/json": {"schema": {"$ref": _REF.format(model="HTTPValidationError")}}},
        })
    op["responses"] = responses
    if rd.deprecated:
        op["deprecated"] = True
    if rd.callbacks:
        # Each callback's operation, under its route's name and its runtime-expression path (FastAPI's layout).
        op["callbacks"] = {cb.name: _operations([cb], lambda r: r.dependencies, False, schemas, seen_ids, schemes,
                                             None)
                           for cb in rd.callbacks}
    if rd.openapi_extra:
        _merge(op, copy.deepcopy(rd.openapi_extra))  # (the document is edited further: the route's stays as is)
    return op


def _merge(into: dict[str, Any], more: dict[str, Any]) -> None:
    """``more`` into ``into``, dicts merged key by key and lists appended (FastAPI's way)."""
    for key, value in more.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        elif isinstance(value, list) and isinstance(into.get(key), list):
            into[key] = into[key] + value
        else:
            into[key] = dict(value) if isinstance(value, dict) else value


def _defaults(paths: dict[str, Any]) -> None:
    """Put each parameter's default into its (now generated) schema, and each response model's schema into its
    response."""
    for item in paths.values():
        for op in item.values():
            for callback in op.get("callbacks", {}).values():
                _defaults(callback)
            for response in op.get("responses", {}).values():
                for media in response.get("content", {}).values():
                    if isinstance(media, dict) and "x-model" in media:
                        found = media.pop("x-model")
                        media["schema"] = {**media.get("schema", {}), **found.get("schema", {})}
            for param in op.get("parameters", []):
                title = param.pop("x-title", None)
                extra = param.pop("x-schema", {})
                if "$ref" not in param["schema"]:
                    param["schema"].update(extra)
                    if title is not None:
                        param["schema"].setdefault("title", title)
                if "x-default" in param:
                    value = param.pop("x-default")
                    schema = param["schema"]
                    if "$ref" in schema:
                        param["schema"] = {"allOf": [schema], "default": value}
                    else:
                        schema["default"] = value


def _operations(routes: list[RouteDef], dependencies_of: Callable[[RouteDef], list[Depends]], served: bool,
                schemas: _Schemas, seen_ids: set[str], schemes: dict[str, Any],
                unique_id: Callable[[RouteDef], str] | None) -> dict[str, dict[str, Any]]:
    """The document's path items of ``routes`` (``served``: the application's, else its webhooks').
    ``unique_id``: the application's ``generate_unique_id_function``, where a route and its routers set none."""
    paths: dict[str, dict[str, Any]] = {}
    for rd in routes:
        if not rd.include_in_schema:
            continue
        names = [p.param for p in parse_template(rd.path) if p.param is not None] if served else []
        for method in rd.methods:
            spec = analyse(method, rd.path, rd.handler, names, rd.status, rd.blocking, dependencies_of(rd),
                           result=rd.result)
            # FastAPI's: the function's name, the path and the method, non-word characters as "_"; or what the
            # route's generate_unique_id_function makes of it (innermost first).
            generate = rd.generate_unique_id_function or unique_id
            uid = (_generated_id(generate, rd) if generate is not None
                   else re.sub(r"\W", "_", f"{rd.name}{openapi_path(rd.path)}_{method.lower()}"))
            operation_id = rd.operation_id or uid
            if operation_id in seen_ids:
                slug = re.sub(r"\W+", "_", rd.path).strip("_")
                operation_id = f"{rd.name}_{slug}_{method.lower()}"
                n = 2
                while operation_id in seen_ids:
                    operation_id = f"{rd.name}_{slug}_{method.lower()}_{n}"
                    n += 1
            seen_ids.add(operation_id)
            # (A default id made unique above names the components too: two would otherwise share them.)
            named = uid if rd.operation_id or generate is not None else operation_id
            operation = _operation(rd, spec, operation_id, named, schemas, schemes, seen_ids)
            paths.setdefault(openapi_path(rd.path), {})[method.lower()] = operation
    return paths


def _generated_id(generate: Callable[[RouteDef], str], rd: RouteDef) -> str:
    made = generate(rd)
    if not isinstance(made, str) or not made:
        raise RouteDefinitionError(f"{rd.path}: generate_unique_id_function {generate!r} gave {made!r}, not an id "
                                   "(a non-empty string)")
    return made


def openapi_document(app: Covet) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``app``'s routes, as plain data."""
    return build_document(
        app.routes, app.webhooks.routes, app.route_dependencies, title=app.title, version=app.version,
        summary=app.summary, description=app.description, terms_of_service=app.terms_of_service,
        contact=app.contact, license_info=app.license_info, tags=app.openapi_tags, servers=app.servers,
        separate_input_output_schemas=app.separate_input_output_schemas,
        generate_unique_id_function=app.generate_unique_id_function)


def build_document(routes: list[RouteDef], webhooks: list[RouteDef],
                   dependencies_of: Callable[[RouteDef], list[Depends]], *, title: str, version: str,
                   openapi_version: str = "3.1.0", summary: str | None = None, description: str | None = None,
                   terms_of_service: str | None = None, contact: dict[str, Any] | None = None,
                   license_info: dict[str, Any] | None = None, tags: list[dict[str, Any]] | None = None,
                   servers: list[dict[str, Any]] | None = None, separate_input_output_schemas: bool = True,
                   external_docs: dict[str, Any] | None = None,
                   generate_unique_id_function: Callable[[RouteDef], str] | None = None) -> dict[str, Any]:
    """The document of ``routes`` and ``webhooks``, each route running ``dependencies_of(route)`` first."""
    schemas = _Schemas("serialization" if separate_input_output_schemas else "validation")
    seen_ids: set[str] = set()
    schemes: dict[str, Any] = {}
    paths = _operations(routes, dependencies_of, True, schemas, seen_ids, schemes, generate_unique_id_function)
    hooks = _operations(webhooks, dependencies_of, False, schemas, seen_ids, schemes, generate_unique_id_function)
    defs = schemas.fill()
    for named in schemas.named.values():
        if "allOf" in named:  # the form models' schemas, each wanted into a holder of its own (see _form)
            named["allOf"] = [part["schema"] for part in named["allOf"]]
    _defaults(paths)
    _defaults(hooks)
    used = pydantic_core.to_json([paths, hooks])
    components = {**defs, **schemas.named}
    for name, schema in _ERROR_SCHEMAS.items():
        if f'"{_REF.format(model=name)}"'.encode() in used:
            components[name] = schema
    if "HTTPValidationError" in components:
        components["ValidationError"] = _ERROR_SCHEMAS["ValidationError"]
    info: dict[str, Any] = {"title": title, "version": version}
    # FastAPI's info, each field only when given.
    for key, value in (("summary", summary), ("description", description), ("termsOfService", terms_of_service),
                       ("contact", contact), ("license", license_info)):
        if value:
            info[key] = value
    doc: dict[str, Any] = {"openapi": openapi_version, "info": info}
    if servers:
        doc["servers"] = list(servers)
    doc["paths"] = paths
    if hooks:
        doc["webhooks"] = hooks
    if components or schemes:
        doc["components"] = {}
    if components:
        doc["components"]["schemas"] = dict(sorted(components.items()))
    if schemes:
        doc["components"]["securitySchemes"] = schemes
    if tags:
        doc["tags"] = list(tags)
    if external_docs:
        doc["externalDocs"] = external_docs
    _without_none_defaults(doc)
    return doc


def _without_none_defaults(node: Any) -> None:
    """Drop every ``"default": null``, as FastAPI's document has none (it is written with ``exclude_none``): a
    field that defaults to None is optional already, and clients read the two documents alike."""
    if isinstance(node, dict):
        if "default" in node and node["default"] is None:
            del node["default"]
        for value in node.values():
            _without_none_defaults(value)
    elif isinstance(node, list):
        for value in node:
            _without_none_defaults(value)


def openapi_json(app: Covet) -> bytes:
    """The document as the JSON ``/openapi.json`` serves."""
    return pydantic_core.to_json(openapi_document(app))

