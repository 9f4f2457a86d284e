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
import re
import sys
import tokenize
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
    # Where the names in its annotations and defaults are defined: ``module`` but for a class provider whose
    # ``__init__`` (or a callable instance whose ``__call__``) is inherited from a class of another module.
    scope: str = ""
    # Parameters written without an annotation (``self`` aside), and whether a missing return annotation makes the
    # function untyped to mypy (not for ``__init__``, nor a dataclass).
    unannotated: list[str] = dataclasses.field(default_factory=list)
    needs_return: bool = True

    def __post_init__(self) -> None:
        self.scope = self.scope or self.module

    @property
    def typed(self) -> bool:
        """Whether mypy sees the function as fully annotated: else the glue calls it as ``Any``."""
        return not self.unannotated and (self.returns is not None or not self.needs_return)



def source_text(path: Path) -> str:
    """A source file's text, in the encoding its coding line names (UTF-8 without one), as Python reads it."""
    with tokenize.open(path) as f:
        return f.read()

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
    """Find a module-level handler's definition in its source file.

    A class provider is read as its ``__init__``, a callable instance (bound to a module-level name) as its
    class's ``__call__``; the glue imports either by its own name.
    """
    if isinstance(handler, type):
        return _read_method(handler, "__init__", handler.__module__, handler.__name__)
    if not (inspect.isfunction(handler) or inspect.ismethod(handler)) and callable(handler):
        return _read_method(type(handler), "__call__", *_global_name(handler))
    module = getattr(handler, "__module__", None)
    name = getattr(handler, "__name__", None)
    qualname = getattr(handler, "__qualname__", "")
    if not module or not name:
        raise SourceError(f"{handler!r} is not a function defined in a module")
    if qualname != name:
        raise SourceError(f"{qualname} is not a module-level function; define handlers at module level to compile them")
    if module in sys.modules and getattr(sys.modules[module], name, None) is not handler:
        # The glue calls it by that name: it would call whatever the name holds instead.
        raise SourceError(f"{module}.{name} is not what the name {name} holds in its module (a later definition "
                          "has the same name, or a decorator above the route's replaced it); give each handler a "
                          "name of its own to compile them")
    try:
        path = Path(inspect.getsourcefile(handler) or "")
    except TypeError as exc:
        raise SourceError(f"{module}.{name} has no Python source ({exc})") from exc
    tree = ast.parse(source_text(path), str(path))
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            break
    else:
        raise SourceError(f"{path}: no module-level definition of {name}")
    return _from_def(node, module, name, path)


def _from_def(node: ast.FunctionDef | ast.AsyncFunctionDef, module: str, name: str, path: Path) -> HandlerSource:
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
    unannotated: list[str] = []
    for arg in positional + args.kwonlyargs:
        if arg.annotation is not None:
            annotations[arg.arg], metadata[arg.arg] = _split_annotated(arg.annotation)
        else:
            unannotated.append(arg.arg)
    unannotated += [a.arg for a in (args.vararg, args.kwarg) if a is not None and a.annotation is None]
    return HandlerSource(module, name, path, node.lineno, node.end_lineno or node.lineno, annotations, metadata,
                         defaults, node.returns, unannotated=unannotated)


class Importer:
    """Rewrites expressions from user modules into names imported by the glue module.

    A name is imported from where it is defined (``Annotated`` from ``typing``,
    ``Item`` from the handler's module, ``uuid`` as a module), because strict mypy
    rejects importing a name a module merely imported itself.
    """

    def __init__(self) -> None:
        self.imports: dict[str, str] = {}  # import line -> alias
        self._aliases: dict[tuple[str, str], str] = {}
        self.untyped: dict[str, str] = {}  # alias -> its Any binding

    def untyped_alias(self, module: str, name: str) -> str:
        """A function mypy sees as untyped, bound as ``Any``: strict glue may call it, and nothing is checked
        against its missing annotations (see ``lines``)."""
        alias = self.alias(module, name)
        return self.untyped.setdefault(alias, f"{alias}_any")

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
        """The import lines, then each untyped function's ``Any`` binding."""
        return [*sorted(self.imports), *(f"{b}: Final[Any] = {a}" for a, b in sorted(self.untyped.items()))]


def _copy(node: ast.expr) -> ast.expr:
    return ast.parse(ast.unparse(node), mode="eval").body


def _global_name(obj: Any) -> tuple[str, str]:
    """(module, name) of the module-level variable holding ``obj``: how the glue imports a callable instance.

    Where several modules hold it (one imported it from another), the one whose source assigns it wins: strict
    mypy refuses to import a name from a module that merely imported it.
    """
    found: list[tuple[str, str]] = []
    for module_name, module in sorted(sys.modules.items()):
        names = getattr(module, "__dict__", None)
        if not isinstance(names, dict) or module_name.startswith(("covet.", "_")):
            continue
        found.extend((module_name, name) for name, value in names.items() if value is obj and not name.startswith("__"))
    if not found:
        raise SourceError(f"{type(obj).__qualname__} instance {obj!r} is not held by a module-level variable; "
                          "assign it to one so the compiled glue can import it")
    for module_name, name in found:
        try:
            text = source_text(Path(inspect.getsourcefile(sys.modules[module_name]) or ""))
        except (TypeError, OSError):
            continue
        if re.search(rf"^{re.escape(name)}\s*(:[^=\n]*)?=", text, re.M):
            return module_name, name
    return found[0]


def _read_method(cls: type, method: str, module: str, name: str) -> HandlerSource:
    """The parameters of ``cls``'s ``method`` (its own or inherited) for the provider ``module.name``."""
    owner = next((k for k in cls.__mro__ if method in vars(k)), None)
    if method == "__init__" and owner is not None and dataclasses.is_dataclass(owner):
        return _read_dataclass(owner, module, name)
    if owner is None or owner is object:
        raise SourceError(f"{cls.__qualname__} has no {method} of its own to take its parameters from")
    if owner.__qualname__ != owner.__name__:
        raise SourceError(f"{owner.__qualname__} is not a module-level class; define it at module level")
    try:
        path = Path(inspect.getsourcefile(owner) or "")
    except TypeError as exc:
        raise SourceError(f"{owner.__module__}.{owner.__name__} has no Python source ({exc})") from exc
    tree = ast.parse(source_text(path), str(path))
    node: ast.FunctionDef | ast.AsyncFunctionDef | None = None
    for top in tree.body:
        if isinstance(top, ast.ClassDef) and top.name == owner.__name__:
            for item in top.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name == method:
                    node = item
    if node is None:
        raise SourceError(f"{path}: no {method} in a module-level class {owner.__name__}")
    found = _from_def(node, module, name, path)
    found.scope = owner.__module__
    this = node.args.args[0].arg if node.args.args else "self"
    found.annotations.pop(this, None)
    found.unannotated = [a for a in found.unannotated if a != this]
    found.needs_return = method != "__init__" or not found.annotations
    return found


def _read_dataclass(cls: type, module: str, name: str) -> HandlerSource:
    """A dataclass provider: its generated ``__init__`` takes its fields, read from the class body."""
    if cls.__qualname__ != cls.__name__:
        raise SourceError(f"{cls.__qualname__} is not a module-level class; define it at module level")
    path = Path(inspect.getsourcefile(cls) or "")
    tree = ast.parse(source_text(path), str(path))
    body = next((top for top in tree.body if isinstance(top, ast.ClassDef) and top.name == cls.__name__), None)
    if body is None or len(cls.__mro__) > 2:
        raise SourceError(f"{path}: dataclass {cls.__name__} must be a module-level class without bases")
    annotations: dict[str, ast.expr] = {}
    metadata: dict[str, list[ast.expr]] = {}
    defaults: dict[str, ast.expr] = {}
    for item in body.body:
        if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            field = item.target.id
            annotations[field], metadata[field] = _split_annotated(item.annotation)
            if item.value is not None:
                if isinstance(item.value, ast.Call):
                    raise SourceError(f"{path}:{item.lineno}: field {field} of {cls.__name__} is set by a call "
                                      "(field(...)); give it a plain default to compile it")
                defaults[field] = item.value
    found = HandlerSource(module, name, path, body.lineno, body.end_lineno or body.lineno, annotations, metadata,
                          defaults, None, needs_return=False)
    found.scope = cls.__module__
    return found
