"""Defaults that the compiled glue takes from the function itself instead of evaluating their expression again.

A parameter's default is evaluated once, when its ``def`` runs, and the interpreted plan reads that value from the
function's signature. The glue cannot: a function mypyc compiled has no signature. So, for a default that is not
a constant written out (``token: str = secrets.token_hex(8)``, ``limit: int = LIMIT``), ``covet build`` compiles
the module from a text where that expression is wrapped in ``keep(key, ...)`` (covet/compiler/keptdefaults.py):
the ``def`` still evaluates it once, and hands the value to this registry on its way. The glue asks
``kept(key, ...)`` for it at import, after the module ran. A module the build left interpreted was not rewritten;
its functions have their signatures, and ``kept`` reads the default there. Writing the expression into the glue
instead would evaluate it a second time, with its effects, to a value that can differ from the function's own (a
call's, or a name's bound again since).
"""

from __future__ import annotations

import inspect
from typing import Any, TypeVar

__all__ = ["keep", "kept"]

T = TypeVar("T")

_values: dict[str, Any] = {}


def keep(key: str, value: T) -> T:
    """Called by a compiled module's ``def`` (the build's rewrite of a default): note ``value`` under ``key``."""
    _values[key] = value
    return value


def kept(key: str, owner: Any, name: str) -> Any:
    """The default of parameter ``name`` of ``owner`` (a handler or a dependency), evaluated once, by its ``def``."""
    if key in _values:
        return _values[key]
    try:
        return inspect.signature(owner).parameters[name].default
    except (TypeError, ValueError, KeyError) as exc:
        raise RuntimeError(f"covet: the default of parameter {name!r} of {owner!r} ({key}) was not kept when its "
                           "module loaded; the build is out of date: run covet build again") from exc
