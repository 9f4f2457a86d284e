"""``jsonable_encoder``: any value a handler holds, as data ``json.dumps`` takes (FastAPI's function)."""

from __future__ import annotations

import dataclasses
import decimal
from collections.abc import Callable, Mapping
from typing import Any

import pydantic
import pydantic_core

__all__ = ["jsonable_encoder"]

IncEx = set[int] | set[str] | Mapping[int, Any] | Mapping[str, Any] | None


def _decimal(value: decimal.Decimal) -> int | float:
    # FastAPI's choice: a whole Decimal is an int, any other a float (pydantic-core would give a string).
    exponent = value.as_tuple().exponent
    return int(value) if isinstance(exponent, int) and exponent >= 0 else float(value)


def jsonable_encoder(
    obj: Any,
    include: IncEx = None,
    exclude: IncEx = None,
    by_alias: bool = True,
    exclude_unset: bool = False,
    exclude_defaults: bool = False,
    exclude_none: bool = False,
    custom_encoder: Mapping[Any, Callable[[Any], Any]] | None = None,
    sqlalchemy_safe: bool = True,
) -> Any:
    """``obj`` as dicts, lists, strings, numbers, booleans and None: pydantic models and dataclasses become dicts
    (with the ``include``/``exclude``/``exclude_*`` choices of ``model_dump``), datetimes ISO 8601 strings, enums
    their values, UUIDs and paths strings, sets and tuples lists, timedeltas seconds, Decimals numbers.

    ``custom_encoder`` maps a type to the function that encodes its values (it wins over the above);
    ``exclude_none`` also drops the None values of plain dicts.
    """
    if custom_encoder:
        for cls in type(obj).__mro__:
            if cls in custom_encoder:
                return custom_encoder[cls](obj)
    if isinstance(obj, pydantic.BaseModel):
        data = obj.model_dump(mode="json", include=include, exclude=exclude, by_alias=by_alias,
                              exclude_unset=exclude_unset, exclude_defaults=exclude_defaults,
                              exclude_none=exclude_none)
        return jsonable_encoder(data, exclude_none=exclude_none, custom_encoder=custom_encoder)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        obj = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        keep = set(obj) if include is None else set(include)
        if exclude is not None:
            keep -= set(exclude)
        out: dict[Any, Any] = {}
        for key, value in obj.items():
            if key not in keep or (exclude_none and value is None):
                continue
            if sqlalchemy_safe and isinstance(key, str) and key.startswith("_sa"):
                continue
            out[jsonable_encoder(key, custom_encoder=custom_encoder)] = jsonable_encoder(
                value, by_alias=by_alias, exclude_unset=exclude_unset, exclude_defaults=exclude_defaults,
                exclude_none=exclude_none, custom_encoder=custom_encoder, sqlalchemy_safe=sqlalchemy_safe)
        return out
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [jsonable_encoder(v, by_alias=by_alias, exclude_unset=exclude_unset, exclude_defaults=exclude_defaults,
                                 exclude_none=exclude_none, custom_encoder=custom_encoder,
                                 sqlalchemy_safe=sqlalchemy_safe) for v in obj]
    if isinstance(obj, decimal.Decimal):
        return _decimal(obj)
    return pydantic_core.to_jsonable_python(obj, by_alias=by_alias, timedelta_mode="float")
