"""Lifts a module's async generators out of what mypyc compiles, so that the rest of the module compiles.

mypyc has no async generators ("async generators are unimplemented"), and a yield dependency, a lifespan or a
streaming handler is one. Rather than keep their whole module interpreted, the text mypyc is given has, in place of
each module-level async generator, a stub with the same signature and decorators, which
``covet.runtime.interpreted`` replaces when the module loads by the function as written, compiled by CPython from
the original source at its original lines. Callers see the same object as interpreted: the function itself, with
its own name, module and ``inspect.isasyncgenfunction``. mypyc calls a decorated function through the module's
name, so compiled callers reach it too.

A decorator is kept on the stub only when applying it twice is harmless and its type matters to callers
(``contextlib.asynccontextmanager``). A route decorator (``@app.get(...)``, ``@router.post(...)``) or a gRPC
service's ``@service.method`` returns the function unchanged: it runs once, on the real function. An async
generator anywhere else (in a class, in a function) or under another decorator keeps its module interpreted, as
before, and the build says where.
"""

from __future__ import annotations
import __future__

import ast
import contextlib
import types
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Lifted", "lift"]

# Methods of covet.routing.Routes that register a handler and return it unchanged (as GrpcService.method does).
_ROUTE_DECORATORS = frozenset({"route", "api_route", "get", "post", "put", "patch", "delete", "head", "options",
                               "trace"})
_HELPER = "_covet_interpreted"


@dataclass
class Lifted:
    """The text mypyc compiles for a module, and the functions of it that run interpreted (name, line)."""

    text: str
    functions: list[tuple[str, int]] = field(default_factory=list)


def lift(source: str, path: Path, module: types.ModuleType) -> Lifted | tuple[str, str] | None:
    """The module's text for mypyc with its async generators lifted out; (why, fix) when one cannot be; None when
    it has none."""
    tree = ast.parse(source, str(path))
    found = [node for node in ast.walk(tree) if isinstance(node, ast.AsyncFunctionDef) and _yields(node)]
    if not found:
        return None
    top = {id(node) for node in tree.body}
    lines = source.splitlines(keepends=True)
    flags = _future_flags(tree)
    lifted = Lifted("")
    spans: list[tuple[int, int, list[str]]] = []  # (first line, last line, the stub's lines), 1-based
    for node in sorted(found, key=lambda n: n.lineno):
        where = f"{path.name}:{node.lineno}"
        if id(node) not in top:
            why = (f"its async generator {node.name} ({where}) is not a module-level function, and mypyc cannot "
                   "compile async generators")
            return why, "define it at module level to compile the rest of the module"
        kept: list[str] = []
        for deco in node.decorator_list:
            kind = _decorator(deco, module)
            if kind is None:
                why = (f"its async generator {node.name} ({where}) has a decorator the build cannot lift it past "
                       f"(@{ast.unparse(deco)}), and mypyc cannot compile async generators")
                return why, "move it to a module of its own to compile the rest"
            if kind == "keep":
                kept.append(f"@{ast.unparse(deco)}\n")
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        last = node.end_lineno or node.lineno
        real = "".join(lines[first - 1:last])
        padded = "\n" * (first - 1) + real
        returns = f" -> {ast.unparse(node.returns)}" if node.returns is not None else ""
        stub = [
            f"@{_HELPER}(globals(), {node.name!r}, {padded!r}, {str(path)!r}, {flags})\n",
            *kept,
            f"def {node.name}({ast.unparse(node.args)}){returns}: raise NotImplementedError\n",
        ]
        spans.append((first, last, stub))
        lifted.functions.append((node.name, node.lineno))
    # The helper's import takes the first stub's first line, not a new line above it.
    spans[0][2].insert(0, f"from covet.runtime.interpreted import interpreted as {_HELPER}\n")
    out: list[str] = []
    at = 1
    for first, last, stub in spans:
        out += lines[at - 1:first - 1]
        # The stub takes the function's lines, padded to as many, so that every later line keeps its number (but
        # for a generator of one or two lines: a line longer, and the lines after it move down one).
        out += stub + ["\n"] * max(0, last - first + 1 - len(stub))
        at = last + 1
    out += lines[at - 1:]
    lifted.text = "".join(out)
    return lifted


def _yields(node: ast.AsyncFunctionDef) -> bool:
    """Whether ``node`` itself yields (not a function or class nested in it)."""
    todo: list[ast.AST] = list(node.body)
    while todo:
        inner = todo.pop()
        if isinstance(inner, (ast.Yield, ast.YieldFrom)):
            return True
        if isinstance(inner, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        todo.extend(ast.iter_child_nodes(inner))
    return False


def _decorator(deco: ast.expr, module: types.ModuleType) -> str | None:
    """"keep" (on the stub too), "drop" (on the real function only) or None (not one the build can lift past)."""
    from covet.grpc import GrpcService
    from covet.routing import Routes

    func = deco.func if isinstance(deco, ast.Call) else deco
    if isinstance(func, ast.Attribute):
        owner = _resolve(func.value, module)
        if isinstance(deco, ast.Call) and func.attr in _ROUTE_DECORATORS and isinstance(owner, Routes):
            return "drop"
        if func.attr == "method" and isinstance(owner, GrpcService):  # @service.method, @service.method("Name")
            return "drop"
    if isinstance(deco, ast.Call):
        return None
    return "keep" if _resolve(deco, module) is contextlib.asynccontextmanager else None


def _resolve(expr: ast.expr, module: types.ModuleType) -> object:
    """The object a dotted name of the module names, as the module holds it after loading; None when it is not one."""
    if isinstance(expr, ast.Name):
        return vars(module).get(expr.id)
    if isinstance(expr, ast.Attribute):
        base = _resolve(expr.value, module)
        return getattr(base, expr.attr, None) if base is not None else None
    return None


def _future_flags(tree: ast.Module) -> int:
    flags = 0
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            for alias in node.names:
                feature = getattr(__future__, alias.name, None)
                if isinstance(feature, __future__._Feature):
                    flags |= feature.compiler_flag
    return flags
