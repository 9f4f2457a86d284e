"""The handler's types as written in its source: expressions the glue module can import.

The compiled glue must build its validators from the same types the handler
declares, without introspecting the (compiled) handler at serve time. So the
build reads each annotation and default from the source, renames every name it
uses to an import from the handler's module, and writes the expression into
the glue module.
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import inspect
import sys
import types
from pathlib import Path
from typing import Any

__all__ = ["HandlerSource", "SourceError", "read_handler", "Importer"]


class SourceError(Exception):
    """A handler whose source cannot be compiled natively; the message says why and what to do."""


@dataclasses.dataclass
class HandlerSource:
    module: str
    name: str
    path: Path
    line: int
    end_line: int
    annotations: dict[str, ast.expr]  # parameter -> its type (inside Annotated[...])
    metadata: dict[str, list[ast.expr]]  # parameter -> the rest of its Annotated[...]: markers and constraints
    defaults: dict[str, ast.expr]
    returns: ast.expr | None


def _split_annotated(node: ast.expr) -> tuple[ast.expr, list[ast.expr]]:
    """``Annotated[T, m1, m2]`` as (T, [m1, m2]); any other annotation as (it, [])."""
    if isinstance(node, ast.Subscript):
        base = node.value
        base_name = base.attr if isinstance(base, ast.Attribute) else base.id if isinstance(base, ast.Name) else ""
        if base_name == "Annotated":
            sl = node.slice
            if isinstance(sl, ast.Tuple) and sl.elts:
                return sl.elts[0], list(sl.elts[1:])
    return node, []


def read_handler(handler: Any) -> HandlerSource:
    """Find a module-level handler's definition in its source file."""
    module = getattr(handler, "__module__", None)
    name = getattr(handler, "__name__", None)
    qualname = getattr(handler, "__qualname__", "")
    if not module or not name:
        raise SourceError(f"{handler!r} is not a function defined in a module")
    if qualname != name:
        raise SourceError(f"{qualname} is not a module-level function; define handlers at module level to compile them")
    try:
        path = Path(inspect.getsourcefile(handler) or "")
    except TypeError as exc:
        raise SourceError(f"{module}.{name} has no Python source ({exc})") from exc
    tree = ast.parse(path.read_text(), str(path))
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            break
    else:
        raise SourceError(f"{path}: no module-level definition of {name}")
    args = node.args
    annotations: dict[str, ast.expr] = {}
    metadata: dict[str, list[ast.expr]] = {}
    defaults: dict[str, ast.expr] = {}
    positional = args.posonlyargs + args.args
    for arg, default in zip(positional[len(positional) - len(args.defaults):], args.defaults, strict=True):
        defaults[arg.arg] = default
    for arg, kwdefault in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        if kwdefault is not None:
            defaults[arg.arg] = kwdefault
    for arg in positional + args.kwonlyargs:
        if arg.annotation is not None:
            annotations[arg.arg], metadata[arg.arg] = _split_annotated(arg.annotation)
    return HandlerSource(module, name, path, node.lineno, node.end_lineno or node.lineno, annotations, metadata,
                         defaults, node.returns)


class Importer:
    """Rewrites expressions from user modules into names imported by the glue module.

    A name is imported from where it is defined (``Annotated`` from ``typing``,
    ``Item`` from the handler's module, ``uuid`` as a module), because strict mypy
    rejects importing a name a module merely imported itself.
    """

    def __init__(self) -> None:
        self.imports: dict[str, str] = {}  # import line -> alias
        self._aliases: dict[tuple[str, str], str] = {}

    def alias(self, module: str, name: str) -> str:
        key = (module, name)
        found = self._aliases.get(key)
        if found is not None:
            return found
        alias = f"_i{len(self._aliases)}_{name}"
        obj = getattr(sys.modules[module], name)
        if isinstance(obj, types.ModuleType):
            line = f"import {obj.__name__} as {alias}"
        else:
            home = getattr(obj, "__module__", None)
            if home and home != module and getattr(sys.modules.get(home), name, None) is obj:
                line = f"from {home} import {name} as {alias}"
            else:
                line = f"from {module} import {name} as {alias}"
        self._aliases[key] = alias
        self.imports[line] = alias
        return alias

    def expr(self, node: ast.expr, module: types.ModuleType, annotation: bool = True) -> str:
        """``node`` (from ``module``'s source) as text valid in the glue module."""
        importer = self

        class Rename(ast.NodeTransformer):
            def visit_Name(self, n: ast.Name) -> ast.AST:
                if hasattr(module, n.id):
                    return ast.copy_location(ast.Name(importer.alias(module.__name__, n.id), n.ctx), n)
                if hasattr(builtins, n.id):
                    return n
                raise SourceError(f"{module.__name__}: name {n.id!r} in an annotation is not defined at module level")

        # String annotations (quoted forward references) are parsed as the expression they hold.
        class Unquote(ast.NodeTransformer):
            def visit_Subscript(self, sub: ast.Subscript) -> ast.AST:
                base = sub.value
                if (base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", "")) == "Literal":
                    return sub  # Literal["a"] holds values, not forward references
                self.generic_visit(sub)
                return sub

            def visit_Constant(self, c: ast.Constant) -> ast.AST:
                if isinstance(c.value, str):
                    try:
                        return ast.parse(c.value, mode="eval").body
                    except SyntaxError:
                        return c
                return c

        tree = _copy(node)
        if annotation:
            tree = Unquote().visit(tree)
        tree = Rename().visit(tree)
        return ast.unparse(tree)

    def lines(self) -> list[str]:
        return sorted(self.imports)


def _copy(node: ast.expr) -> ast.expr:
    return ast.parse(ast.unparse(node), mode="eval").body
