"""A function of a compiled module that runs interpreted: what ``covet build`` puts in place of an async generator.

mypyc cannot compile async generators. The build compiles the rest of their module and writes, in each one's place,
a stub of the same type decorated with ``interpreted``: when the module loads, the decorator compiles the function
as written (its source, at its own lines of its own file) with CPython, in the module's namespace, and the module's
name is bound to that function, not to the stub (covet/compiler/asyncgens.py writes the stubs).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["interpreted"]

F = TypeVar("F")


def interpreted(namespace: dict[str, Any], name: str, source: str, filename: str,
                flags: int) -> Callable[[F], F]:
    """A decorator that discards the stub it decorates for ``name`` as ``source`` defines it (``source`` is padded
    with blank lines to the function's first line, so tracebacks name ``filename``'s lines)."""

    def replace(stub: F) -> F:
        del stub
        exec(compile(source, filename, "exec", flags, dont_inherit=True), namespace)
        defined: F = namespace[name]
        return defined

    return replace
