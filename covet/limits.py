"""Request body limits an application, a router or a route declares: FastAPI's ``max_body_size`` and
``form_limits``, checked when they are declared.

The most specific setting wins: a route's, else its router's (the innermost first), else the application's.
``form_limits`` are merged key by key, so a route that sets ``max_part_size`` keeps its application's
``max_fields``. The server's own limits (``covet serve --max-body``, ``--max-upload``) still bound every request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, TypedDict

from covet.exceptions import RouteDefinitionError

__all__ = ["FORM_DEFAULTS", "FormLimits", "check_form_limits", "check_max_body_size", "form_limits_tuple",
           "innermost"]


class FormLimits(TypedDict, total=False):
    """Limits of a form's parsing (form and file parameters), as FastAPI's ``form_limits=``.

    max_fields: most fields that are not files (400 past it).
    max_files: most files (400 past it).
    max_part_size: largest field that is not a file, in bytes (400 past it).
    """

    max_fields: int
    max_files: int
    max_part_size: int


# Starlette's defaults, which FastAPI's forms have always had.
FORM_DEFAULTS: Final[dict[str, int]] = {"max_fields": 1000, "max_files": 1000, "max_part_size": 1024 * 1024}


def _count(where: str, what: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise RouteDefinitionError(f"{where}: {what} must be a whole number of at least 0, not {value!r}")
    return value


def check_max_body_size(where: str, value: int | None) -> int | None:
    """``value`` (bytes, or None for the enclosing setting), or a start-up error naming ``where``."""
    return None if value is None else _count(where, "max_body_size", value)


def check_form_limits(where: str, limits: Mapping[str, object] | None) -> dict[str, int]:
    """``limits`` as a plain dict, or a start-up error naming ``where`` and the key at fault."""
    if limits is None:
        return {}
    if not isinstance(limits, Mapping):
        raise RouteDefinitionError(f"{where}: form_limits must be a dict such as {{'max_fields': 100}}, "
                                   f"not {limits!r}")
    checked = {}
    for key, value in limits.items():
        if key not in FORM_DEFAULTS:
            raise RouteDefinitionError(f"{where}: form_limits has {key!r}; it takes "
                                       f"{', '.join(sorted(FORM_DEFAULTS))}")
        checked[key] = _count(where, f"form_limits[{key!r}]", value)
    return checked


def innermost(*values: int | None) -> int | None:
    """The first setting that is not None: pass the innermost first."""
    for value in values:
        if value is not None:
            return value
    return None


def form_limits_tuple(*outermost_first: Mapping[str, int]) -> tuple[int, int, int]:
    """``(max_fields, max_files, max_part_size)`` of the defaults overridden by each mapping in turn."""
    merged = dict(FORM_DEFAULTS)
    for limits in outermost_first:
        merged.update(limits)
    return merged["max_fields"], merged["max_files"], merged["max_part_size"]
