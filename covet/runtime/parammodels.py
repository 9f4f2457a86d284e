"""Reads a parameter model (FastAPI's pydantic model of query, header, cookie or form parameters) from a request.

The glue hands over the request's pairs for the model's source and the model's fields, planned once at start-up
(``signature._model_fields``) and written into the glue as constants. The model then validates what this
gathers: its fields by their keys, and every other key of the source, which the model ignores, keeps
(``extra="allow"``) or refuses with ``extra_forbidden`` errors (``extra="forbid"``), as FastAPI does.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterable
from typing import Annotated, Any

import pydantic
import pydantic_core

from covet.runtime.encode import add_errors
from covet.runtime.signature import model_keys

__all__ = ["model_input", "union_input", "form_union", "add_model_errors"]

# One field: (its key in the model's input, its name on the wire, whether it collects every value of its key).
Field = tuple[str, str, bool]


def model_input(pairs: Iterable[tuple[str, str]], fields: tuple[Field, ...], first: bool, form: bool,
                optional: bool, strict_extra: bool) -> dict[str, Any] | None:
    """The input a parameter model validates; None when the model is optional and the request gives none of it.

    ``first``: a key given several times counts once, by its first value (headers), else by its last (query, cookies
    and forms, as Starlette reads them). ``form``: an empty form field counts as absent (a browser sends every
    field of a form, filled or not). ``strict_extra``: the model allows or forbids other keys, so those alone
    make it given.
    """
    grouped: dict[str, list[str]] = {}
    for key, value in pairs:
        found = grouped.get(key)
        if found is None:
            grouped[key] = [value]
        else:
            found.append(value)
    out: dict[str, Any] = {}
    taken: set[str] = set()
    own = False
    for alias, key, multi in fields:
        taken.add(key)
        if alias != key:
            # A header field's own name (save_data, read as save-data) is no other key of the request.
            taken.add(alias.lower())
        values = grouped.get(key)
        if values is None:
            continue
        own = True
        if multi:
            out[alias] = values
            continue
        value = values[0] if first else values[-1]
        if form and value == "":
            continue
        out[alias] = value
    for key, values in grouped.items():
        if key not in taken:
            out[key] = values[0] if len(values) == 1 else values
    if optional and not own and not (strict_extra and out):
        return None
    return out


def union_input(pairs: Iterable[tuple[str, str]], names: tuple[str, ...], optional: bool,
                strict_extra: bool) -> dict[str, Any] | None:
    """The input of a union of form models: every field of the form (a repeated one as a list), which each member
    takes as its own (``form_union``); None when the union is optional and the form gives none of its fields."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        found = out.get(key)
        if found is None:
            out[key] = value
        elif isinstance(found, list):
            found.append(value)
        else:
            out[key] = [found, value]
    if optional and not any(n in out for n in names) and not (strict_extra and out):
        return None
    return out


def form_union(models: tuple[type[pydantic.BaseModel], ...], optional: bool, discriminator: str | None) -> Any:
    """The type a union of form models validates as: a member reads the form's fields as a lone form model does."""
    choices: list[Any] = [Annotated[m, pydantic.BeforeValidator(functools.partial(_as_form, model_keys(m)))]
                          for m in models]
    if optional:
        choices.append(type(None))
    union = functools.reduce(operator.or_, choices)
    return Annotated[union, pydantic.Discriminator(discriminator)] if discriminator else union


def _as_form(fields: tuple[Field, ...], value: Any) -> Any:
    """``value`` (``union_input``'s) as one model's input: its fields first (one value, or a list for a list field;
    an empty one as not sent), then the other keys."""
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    taken: set[str] = set()
    for alias, key, multi in fields:
        taken.add(key)
        found = value.get(key)
        if found is None:
            continue
        if multi:
            out[alias] = found if isinstance(found, list) else [found]
            continue
        one = found[-1] if isinstance(found, list) else found
        if one != "":
            out[alias] = one
    out.update((k, v) for k, v in value.items() if k not in taken)
    return out


def add_model_errors(errors: list[dict[str, Any]] | None, exc: pydantic_core.ValidationError, source: str,
                     renames: tuple[tuple[str, str], ...]) -> list[dict[str, Any]]:
    """``exc``'s errors under ``source``; a header field read under another name (save_data as save-data) is
    reported under the name the client sends."""
    errors = errors if errors is not None else []
    start = len(errors)
    add_errors(errors, exc, (source,))
    if renames:
        names = dict(renames)
        for item in errors[start:]:
            loc = item["loc"]
            if len(loc) > 1 and isinstance(loc[1], str) and loc[1] in names:
                loc[1] = names[loc[1]]
    return errors
