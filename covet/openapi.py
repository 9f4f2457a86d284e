"""The OpenAPI 3.1 document of an application, from its handlers' signatures.

Built once, at start-up in interpreted mode and by ``covet build`` for a
build (compiled handlers carry no annotations to read). Schemas are
pydantic's JSON Schema (2020-12, which OpenAPI 3.1 uses as is), every named
type once under ``components/schemas``.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Final

import pydantic
import pydantic_core
from pydantic.json_schema import JsonSchemaMode

from covet.params import BodyParam
from covet.responses import JSONResponse, RedirectResponse
from covet.runtime.glue import embedded, result_kind
from covet.runtime.pathtrie import parse_template
from covet.runtime.signature import ParamSpec, RouteSpec, all_params, analyse

if TYPE_CHECKING:
    from covet.app import Covet
    from covet.routing import RouteDef

__all__ = ["openapi_document", "openapi_json"]

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


class _Schemas:
    """Collects every schema a document needs, so pydantic writes shared definitions once."""

    def __init__(self) -> None:
        self.inputs: list[tuple[int, JsonSchemaMode, pydantic.TypeAdapter[Any]]] = []
        self.slots: list[tuple[dict[str, Any], str]] = []
        self.named: dict[str, dict[str, Any]] = {}  # the document's own components: Body_<operation id>

    def body_object(self, name: str, props: dict[str, Any], required: list[str]) -> dict[str, Any]:
        """A reference to the component ``Body_<name>``, the object of ``props`` (FastAPI's name for a body of
        several parameters, or a form)."""
        schema: dict[str, Any] = {"properties": props, "type": "object"}
        if required:
            schema["required"] = required
        schema["title"] = f"Body_{name}"
        self.named[f"Body_{name}"] = schema
        return {"$ref": _REF.format(model=f"Body_{name}")}

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
        if not self.inputs:
            return {}
        found, defs = pydantic.TypeAdapter.json_schemas(self.inputs, ref_template=_REF)
        for (index, _mode), schema in found.items():
            into, key = self.slots[index]
            into[key] = schema
        return dict(defs.get("$defs", {}))


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


def _docstring(handler: Callable[..., Any]) -> tuple[str | None, str | None]:
    doc = inspect.getdoc(handler)
    if not doc:
        return None, None
    first, _, rest = doc.partition("\n")
    return first.strip() or None, rest.strip() or None


def openapi_path(template: str) -> str:
    """``/files/{rest:path}`` as OpenAPI writes it: ``/files/{rest}``."""
    return re.sub(r"\{(\w+):[^}]*\}", r"{\1}", template)


def _parameter(p: ParamSpec, schemas: _Schemas) -> dict[str, Any]:
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


def _body(params: list[ParamSpec], schemas: _Schemas, name: str) -> dict[str, Any]:
    media_type = "application/json"
    for p in params:
        if isinstance(p.marker, BodyParam) and p.marker.media_type != media_type:
            media_type = p.marker.media_type
    if len(params) == 1 and not embedded(params[0]):
        p = params[0]
        media: dict[str, Any] = {}
        schemas.want(p.annotation, "validation", media)
        required = p.required
        if p.marker is not None and p.marker.openapi_examples:
            media["examples"] = _jsonable(p.marker.openapi_examples)[1]
    else:
        props: dict[str, Any] = {}
        for p in params:
            schemas.want(p.annotation, "validation", props, p.key)
        media = {"schema": schemas.body_object(name, props, [p.key for p in params if p.required])}
        required = any(p.required for p in params)
    return {"required": required, "content": {media_type: media}}


def _form(params: list[ParamSpec], schemas: _Schemas, name: str) -> dict[str, Any]:
    props: dict[str, Any] = {}
    for p in params:
        if p.source == "file":
            one = {"type": "string", "contentMediaType": "application/octet-stream"}  # FastAPI's, for a file
            props[p.key] = {"type": "array", "items": one} if p.multi else one
        else:
            schemas.want(p.annotation, "validation", props, p.key)
    media = "multipart/form-data" if any(p.source == "file" for p in params) else "application/x-www-form-urlencoded"
    schema = schemas.body_object(name, props, [p.key for p in params if p.required])
    return {"required": any(p.required for p in params), "content": {media: {"schema": schema}}}


def _success(spec: RouteSpec, schemas: _Schemas) -> tuple[str, dict[str, Any]]:
    kind = result_kind(spec.return_annotation)
    status = spec.status
    out: dict[str, Any] = {"description": "Successful Response"}
    cls = spec.result.response_class
    if cls is not None and kind not in ("none", "response"):
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
    if kind == "text":
        out["content"] = {"text/plain": {"schema": {"type": "string"}}}
    elif kind == "bytes":
        out["content"] = {"application/octet-stream": {"schema": {}}}
    elif kind == "json":
        media: dict[str, Any] = {}
        schemas.want(spec.return_annotation, "serialization", media)
        out["content"] = {"application/json": media}
    elif kind == "any":  # any JSON value (a Response the handler returns may say otherwise), as FastAPI writes it
        out["content"] = {"application/json": {"schema": {}}}
    return str(status), out


def _security(spec: RouteSpec, schemes: dict[str, Any]) -> list[dict[str, list[str]]]:
    """The operation's security requirements (each scheme once, with every scope asked of it); its schemes go
    into ``schemes``."""
    required: dict[str, list[str]] = {}
    for scheme, scopes in spec.security:
        schemes[scheme.scheme_name] = scheme.openapi_scheme()
        found = required.setdefault(scheme.scheme_name, [])
        found.extend(s for s in scopes if s not in found)
    return [{name: scopes} for name, scopes in required.items()]


def _operation(rd: RouteDef, spec: RouteSpec, operation_id: str, schemas: _Schemas,
               schemes: dict[str, Any]) -> dict[str, Any]:
    first, rest = _docstring(rd.handler)
    op: dict[str, Any] = {}
    if rd.tags:
        op["tags"] = list(rd.tags)
    op["summary"] = rd.summary or first or rd.name.replace("_", " ").strip().title()
    description = rd.description or rest
    if description:
        op["description"] = description
    op["operationId"] = operation_id
    if spec.security:
        op["security"] = _security(spec, schemes)
    everything = all_params(spec)
    wire: list[ParamSpec] = []
    for p in everything:  # a key several dependencies read is one parameter of the operation
        if p.marker is not None and not p.marker.include_in_schema:
            continue
        if p.source in _WIRE and not any(q.source == p.source and q.key == p.key for q in wire):
            wire.append(p)
    if wire:
        op["parameters"] = [_parameter(p, schemas) for p in wire]
    bodies = [p for p in everything if p.source == "body"]
    if bodies:
        op["requestBody"] = _body(bodies, schemas, operation_id)
    fields = [p for p in everything if p.source in ("form", "file")]
    if fields:
        op["requestBody"] = _form(fields, schemas, operation_id)
    code, success = _success(spec, schemas)
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
            schemas.want(model, "serialization", schema)
            media["x-model"] = schema
        _merge(found, doc)
        found["description"] = doc.get("description") or found.get("description") or _phrase(status)
    if wire or bodies or fields:  # a form or a file can be refused too
        responses.setdefault("422", {
            "description": "Validation Error",
            "content": {"application/json": {"schema": {"$ref": _REF.format(model="HTTPValidationError")}}},
        })
    op["responses"] = responses
    if rd.deprecated:
        op["deprecated"] = True
    return op


def _merge(into: dict[str, Any], more: dict[str, Any]) -> None:
    """``more`` into ``into``, dicts merged key by key."""
    for key, value in more.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = dict(value) if isinstance(value, dict) else value


def _defaults(paths: dict[str, Any]) -> None:
    """Put each parameter's default into its (now generated) schema, and each response model's schema into its
    response."""
    for item in paths.values():
        for op in item.values():
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


def openapi_document(app: Covet) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``app``'s routes, as plain data."""
    schemas = _Schemas()
    paths: dict[str, dict[str, Any]] = {}
    seen_ids: set[str] = set()
    schemes: dict[str, Any] = {}
    for rd in app.routes:
        if not rd.include_in_schema:
            continue
        names = [p.param for p in parse_template(rd.path) if p.param is not None]
        for method in rd.methods:
            spec = analyse(method, rd.path, rd.handler, names, rd.status, rd.blocking, app.route_dependencies(rd),
                           result=rd.result)
            # FastAPI's: the function's name, the path and the method, non-word characters as "_".
            operation_id = rd.operation_id or re.sub(r"\W", "_", f"{rd.name}{openapi_path(rd.path)}_{method.lower()}")
            if operation_id in seen_ids:
                slug = re.sub(r"\W+", "_", rd.path).strip("_")
                operation_id = f"{rd.name}_{slug}_{method.lower()}"
                n = 2
                while operation_id in seen_ids:
                    operation_id = f"{rd.name}_{slug}_{method.lower()}_{n}"
                    n += 1
            seen_ids.add(operation_id)
            operation = _operation(rd, spec, operation_id, schemas, schemes)
            paths.setdefault(openapi_path(rd.path), {})[method.lower()] = operation
    defs = schemas.fill()
    for body in schemas.named.values():  # each property titled as FastAPI titles it (a reference keeps none)
        for key, prop in body["properties"].items():
            if "$ref" not in prop:
                prop.setdefault("title", key.title().replace("_", " "))
    _defaults(paths)
    used = pydantic_core.to_json(paths)
    components = {**defs, **schemas.named}
    for name, schema in _ERROR_SCHEMAS.items():
        if f'"{_REF.format(model=name)}"'.encode() in used:
            components[name] = schema
    if "HTTPValidationError" in components:
        components["ValidationError"] = _ERROR_SCHEMAS["ValidationError"]
    info: dict[str, Any] = {"title": app.title, "version": app.version}
    for key, value in (("summary", app.summary), ("description", app.description),
                       ("termsOfService", app.terms_of_service), ("contact", app.contact),
                       ("license", app.license_info)):
        if value:
            info[key] = value
    doc: dict[str, Any] = {"openapi": "3.1.0", "info": info, "paths": paths}
    if app.openapi_tags:
        doc["tags"] = app.openapi_tags
    if components or schemes:
        doc["components"] = {}
    if components:
        doc["components"]["schemas"] = dict(sorted(components.items()))
    if schemes:
        doc["components"]["securitySchemes"] = schemes
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

