"""Reads a parameter model (FastAPI's pydantic model of query, header, cookie or form parameters) from a request.

The glue hands over the request's pairs for the model's source and the model's fields, planned once at start-up
(``signature._model_fields``) and written into the glue as constants. The model then validates what this
gathers: its fields by their keys, and every other key of the source, which the model ignores, keeps
(``extra="allow"``) or refuses with ``extra_forbidden`` errors (``extra="forbid"``), as FastAPI does.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pydantic_core

from covet.runtime.encode import add_errors

__all__ = ["model_input", "add_model_errors"]

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
