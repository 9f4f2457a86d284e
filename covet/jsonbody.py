"""When a request body is read as JSON: FastAPI's content-type rule, around a route's plan.

FastAPI parses a body as JSON only when its ``Content-Type`` is ``application/json`` or ``application/*+json``
(parameters such as ``charset`` aside, in any case), or when there is none and ``strict_content_type`` is off.
Any other non-empty body is validated as the text it is: a model or a list then fails with 422, a ``str`` takes
the text, and a body of several parameters misses each of them. The check runs only for routes that take a
JSON body, before their glue; the errors are FastAPI's, and go to the application's handler of
``RequestValidationError`` when it has one.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any, Final, TypeAlias

import pydantic_core

from covet.exceptions import RequestValidationError
from covet.requests import Request
from covet.runtime.encode import add_errors, missing_error, validation_reply
from covet.runtime.glue import ErrorHandlers, RoutePlan
from covet.runtime.gluekit import _schema_validator
from covet.runtime.handlers import handled_error, handled_error_async
from covet.runtime.signature import ParamSpec, RouteSpec, all_params

__all__ = ["body_of", "is_json", "json_body_params", "strict_json"]

_APPLICATION: Final = "application/"


def is_json(content_type: str) -> bool:
    """Whether a ``Content-Type`` value names JSON: ``application/json`` or ``application/<anything>+json``."""
    media = content_type.partition(";")[0].strip().lower()
    if not media.startswith(_APPLICATION):
        return False
    sub = media[len(_APPLICATION):]
    return sub == "json" or sub.endswith("+json")


def _declared_json(headers: list[tuple[str, str]], strict: bool) -> bool:
    for name, value in headers:
        if name == "content-type":
            return is_json(value)
    return not strict


BodyParams: TypeAlias = "Sequence[tuple[str, Any, bool]]"


def json_body_params(spec: RouteSpec) -> list[ParamSpec]:
    """The route's JSON body parameters, its dependencies' too."""
    return [p for p in all_params(spec) if p.source == "body"]


def body_of(spec: RouteSpec) -> list[tuple[str, Any, bool]]:
    """(key, annotation, required) of each JSON body parameter, as a build records them (``RouteRow.json_body``)."""
    return [(p.key, p.annotation, p.required) for p in json_body_params(spec)]


def _text_check(body: BodyParams) -> Callable[[str], tuple[list[dict[str, Any]], bytes]]:
    """What a text body gives: its errors, or the JSON to hand the glue instead."""
    if len(body) == 1:  # the whole body is the parameter's value
        # The glue's own validator of the type (TypedDicts, compiled dataclasses and all), in Python mode.
        validator = _schema_validator(body[0][1])

        def one(text: str) -> tuple[list[dict[str, Any]], bytes]:
            try:
                validator.validate_python(text, from_attributes=True)  # as FastAPI validates a body
            except pydantic_core.ValidationError as exc:
                return add_errors(None, exc, ("body",)), b""
            return [], pydantic_core.to_json(text)

        return one
    required = [key for key, _, needed in body if needed]

    def several(text: str) -> tuple[list[dict[str, Any]], bytes]:
        errors: list[dict[str, Any]] = []
        for key in required:
            missing_error(errors, ("body", key))
        return errors, b"{}"

    return several


def strict_json(plan: RoutePlan, body: BodyParams, path_params: list[str], strict: bool,
                handlers: ErrorHandlers) -> RoutePlan:
    """``plan`` answering FastAPI's way to a body that is not declared JSON; ``plan`` itself for a route that reads
    no JSON body (``body``: see ``body_of``), or reads its body as a stream."""
    if plan.streams_body or not body:
        return plan
    glue = plan.glue
    check = _text_check(body)
    handler = next((h for c, h in handlers if c is RequestValidationError), None)

    def refused(m: str, p: str, q: str, h: list[tuple[str, str]], b: bytes, pp: list[str], c: Any,
                errors: list[dict[str, Any]]) -> Any:
        if handler is None:
            return validation_reply(errors)
        request = Request(m, p, q, h, b, c, dict(zip(path_params, pp, strict=False)))
        exc = RequestValidationError(errors, body=b.decode("utf-8", "replace"))
        return (handled_error_async if plan.is_async else handled_error)(handler, exc, request)

    if plan.is_async:
        async def checked_async(m: str, p: str, q: str, h: list[tuple[str, str]], b: Any, pp: list[str],
                                c: Any) -> Any:
            if b and type(b) is bytes and not _declared_json(h, strict):
                errors, instead = check(b.decode("utf-8", "replace"))
                if errors:
                    answer = refused(m, p, q, h, b, pp, c, errors)
                    return await answer if inspect.isawaitable(answer) else answer
                b = instead
            return await glue(m, p, q, h, b, pp, c)

        run: Callable[..., Any] = checked_async
    else:
        def checked(m: str, p: str, q: str, h: list[tuple[str, str]], b: Any, pp: list[str], c: Any) -> Any:
            if b and type(b) is bytes and not _declared_json(h, strict):
                errors, instead = check(b.decode("utf-8", "replace"))
                if errors:
                    return refused(m, p, q, h, b, pp, c, errors)
                b = instead
            return glue(m, p, q, h, b, pp, c)

        run = checked
    out = RoutePlan(run, plan.is_async, plan.label, plan.source, plan.spec)
    out.compiled = plan.compiled
    out.uses_conn = plan.uses_conn
    out.reads_headers = True  # the content type
    out.streams_body = plan.streams_body
    return out
