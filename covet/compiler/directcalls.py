"""Lets the compiled glue call a compiled handler as the C function it is.

mypyc calls a decorated function through its Python entry point (the module
global, a vectorcall, arguments parsed and boxed again), because a decorator
may have replaced it. A route decorator does not: ``@app.get(...)`` registers
the function and returns it. For the handlers the build has seen returned
unchanged (``unchanged``), ``direct()`` makes mypyc emit a direct native call
instead, as it does for undecorated functions; the decorators still run when
the module loads, so the routes are registered as before.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable
from typing import Any

__all__ = ["direct", "unchanged"]

_installed: set[str] = set()  # the full names a specializer is registered for, in this process


def direct(names: set[str]) -> bool:
    """Have mypyc call each handler of ``names`` (full names, "package.module.function") directly, for the build
    about to compile; False when this mypyc's internals differ from those this was written against, and the
    handlers keep being called through their Python entry point.

    mypyc looks up a specializer by the full name a call's target has, before its generic call: each one
    registered here emits the native call mypyc emits for an undecorated function. mypyc is itself compiled, so
    this goes through its data (the specializer table), not by patching its code.
    """
    try:
        from mypy.nodes import ARG_NAMED, ARG_POS, Decorator
        from mypyc.irbuild import specialize
    except ImportError:
        return False
    table = getattr(specialize, "specializers", None)
    if not isinstance(table, dict):
        return False

    def native_call(builder: Any, expr: Any, callee: Any) -> Any:
        node = callee.node
        if not (isinstance(node, Decorator) and node.func.fullname in _wanted):
            return None
        decl = builder.mapper.func_to_decl.get(node.func)
        if decl is None or not all(kind in (ARG_POS, ARG_NAMED) for kind in expr.arg_kinds):
            return None
        args = [builder.accept(arg) for arg in expr.args]
        return builder.builder.call(decl, args, expr.arg_kinds, expr.arg_names, expr.line)

    _wanted.clear()
    _wanted.update(names)
    for name in names - _installed:
        table.setdefault((name, None), []).append(native_call)
        _installed.add(name)
    return True


_wanted: set[str] = set()


def unchanged(fn: Callable[..., Any], module: types.ModuleType) -> bool:
    """Whether ``fn`` is the function its source defines, bound to its own name in ``module`` (every decorator on
    it returned it as it was), so that calling its compiled body directly is calling it."""
    if not isinstance(fn, types.FunctionType) or hasattr(fn, "__wrapped__"):
        return False
    code = fn.__code__
    if code.co_name != fn.__name__ or fn.__qualname__ != fn.__name__ or getattr(module, fn.__name__, None) is not fn:
        return False
    try:
        return inspect.getsourcefile(fn) == inspect.getsourcefile(module)
    except TypeError:
        return False
