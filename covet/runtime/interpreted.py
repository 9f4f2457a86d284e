"""A function of a compiled module that runs interpreted: what ``covet build`` puts in place of an async generator.

mypyc cannot compile async generators. The build compiles the rest of their module, and in the text mypyc
compiles, each one's definition is replaced by a call of ``interpreted`` on the same lines: when the module loads,
it compiles the definition as written (its source, decorators included, at its own lines of its own file) with
CPython, in the module's namespace, and the module's name is bound to what it defines
(covet/compiler/asyncgens.py writes the calls).
"""

from __future__ import annotations

from typing import Any

__all__ = ["interpreted"]


def interpreted(namespace: dict[str, Any], name: str, source: str, filename: str, flags: int) -> Any:
    """What ``source`` binds to ``name`` once run in ``namespace`` (``source`` is padded with blank lines to the
    definition's first line, so that tracebacks name ``filename``'s lines)."""
    exec(compile(source, filename, "exec", flags, dont_inherit=True), namespace)
    return namespace[name]
