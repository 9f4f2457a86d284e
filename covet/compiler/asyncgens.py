"""Lifts a module's async generators out of what mypyc compiles, so that the rest of the module compiles.

mypyc has no async generators ("async generators are unimplemented"), and a yield dependency, a lifespan or a
streaming handler is one. Rather than keep their whole module interpreted, the text mypy checks and mypyc compiles
has, in place of each module-level async generator, one line that calls ``covet.runtime.interpreted``: when the
module loads, that runs the definition as written (decorators included, once) with CPython, from the original
source at its original lines, in the module's own namespace. Callers see the same object as interpreted: its own
name, module and ``inspect.isasyncgenfunction``. Compiled code reaches it through the module's name, as ``Any``.

The call takes the definition's first line and blank lines pad it to the definition's last, so that every other line
keeps its number (mypy's errors, tracebacks of compiled code). An async generator that is not a statement of the
module's top level (a method, one nested in a function or under ``if``/``try``) keeps its module interpreted, as
before, and the build says where.
"""

from __future__ import annotations
import __future__

import ast
import re
import types
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["LINE", "Lifted", "lift"]

# Lines as the tokenizer (and so ast's line numbers) counts them: \r\n, \r or \n end one; str.splitlines would also
# split at a form feed, \x1c-\x1e, \x85, U+2028 and U+2029.
LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
# Module-level names the lifted text calls: a module that binds either keeps its generators compiled in place.
_NEEDED = ("globals", "__import__")


@dataclass
class Lifted:
    """The text mypy and mypyc read for a module, and the functions of it that run interpreted (name, line)."""

    text: str
    functions: list[tuple[str, int]] = field(default_factory=list)


def lift(source: str, path: Path, rel: str, module: types.ModuleType) -> Lifted | tuple[str, str] | None:
    """The module's text with its async generators lifted out; (why, fix) when one cannot be; None when it has
    none. ``rel`` names the file in messages."""
    tree = ast.parse(source, str(path))
    found = [node for node in ast.walk(tree) if isinstance(node, ast.AsyncFunctionDef) and _yields(node)]
    if not found:
        return None
    fix = "move it to the module's top level, or to a module of its own, to compile the rest"
    for needed in _NEEDED:
        if needed in vars(module):
            why = (f"it binds the name {needed}, which the build needs to run its async generators interpreted "
                   "(mypyc cannot compile them)")
            return why, "rename it to compile the module"
    nested = [node for node in found if node not in tree.body]
    if nested:
        inner = nested[0]
        why = (f"its async generator {inner.name} ({rel}:{inner.lineno}) is not a statement of the module's top "
               "level (a method, or in a function, an if or a try), and mypyc cannot compile async generators")
        return why, fix
    lines = LINE.findall(source)
    flags = _future_flags(tree)
    lifted = Lifted("")
    spans: dict[int, tuple[int, str]] = {}  # first line -> (last line, the call), 1-based
    previous_end = 0
    for node in tree.body:
        if isinstance(node, ast.AsyncFunctionDef) and node in found:
            first = _first_line(lines, previous_end, node)
            last = node.end_lineno or node.lineno
            padded = "\n" * (first - 1) + "".join(lines[first - 1:last])
            call = (f'{node.name} = __import__("covet.runtime.interpreted", fromlist=["interpreted"]).interpreted('
                    f"globals(), {node.name!r}, {padded!r}, {str(path)!r}, {flags})\n")
            spans[first] = (last, call)
            lifted.functions.append((node.name, node.lineno))
        previous_end = node.end_lineno or node.lineno
    out: list[str] = []
    at = 1
    for first, (last, call) in sorted(spans.items()):
        out += lines[at - 1:first - 1]
        out += [call] + ["\n"] * (last - first)
        at = last + 1
    out += lines[at - 1:]
    lifted.text = "".join(out)
    return lifted


def _first_line(lines: list[str], previous_end: int, node: ast.AsyncFunctionDef) -> int:
    """The definition's first line: its first decorator's ``@`` (which may stand on a line before the decorator's
    expression: ``@(`` or ``@\\``), else ``async def``'s."""
    if node.decorator_list:
        for number in range(previous_end + 1, node.lineno + 1):
            if lines[number - 1].lstrip().startswith("@"):
                return number
    return node.lineno


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


def _future_flags(tree: ast.Module) -> int:
    flags = 0
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            for alias in node.names:
                feature = getattr(__future__, alias.name, None)
                if isinstance(feature, __future__._Feature):
                    flags |= feature.compiler_flag
    return flags
