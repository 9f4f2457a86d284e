"""Wraps the defaults the glue takes from their functions in ``keep(key, ...)``, in the text mypyc compiles.

See covet/runtime/kept.py for why. The text changes only within lines, so that every line keeps its number (mypy's
errors, tracebacks of compiled code):

- each default becomes ``__covet_keep__(key, <default>)`` where it stands;
- ``keep`` is imported as ``__covet_keep__`` at the end of the last simple statement of the module's top level before
  the first such default's definition (``app = Covet(); from covet.runtime.kept import ...``), so that mypy still
  types the default as itself (``keep`` returns what it is given) and still checks it against its parameter.

A default with no such statement before its definition is not wrapped; the glue evaluates it again, as it did
before (``keepable``).
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import re
from collections.abc import Iterable
from pathlib import Path

from covet.compiler.asyncgens import LINE

__all__ = ["KeptDefault", "keepable", "literal", "wrap"]

_NAME = "__covet_keep__"
_IMPORT = f"; from covet.runtime.kept import keep as {_NAME}"
# What may follow a simple statement on its last line for an import to be appended after it: nothing, a comment, or
# another statement after a semicolon (not a backslash that joins the next line to it).
_TAIL = re.compile(r"[ \t\f]*(?:#[^\r\n]*)?(?:\r\n|\r|\n)?\Z|[ \t\f]*;")
_SIMPLE = (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Expr, ast.Import, ast.ImportFrom, ast.Pass, ast.Global,
           ast.Delete, ast.Assert)


@dataclasses.dataclass(frozen=True)
class KeptDefault:
    """A default the glue takes from its function: the build wraps its expression (in ``path``) in ``keep``."""

    path: Path
    node: ast.expr
    key: str


def literal(node: ast.expr) -> bool:
    """A constant written out (``10``, ``-1.5``, ``"x"``, ``None``, a tuple of them): evaluating it again in the glue
    gives the same value. Anything else (a call, a name, an attribute, a list) is read from the function."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return isinstance(node.operand, ast.Constant)
    if isinstance(node, ast.Tuple):
        return all(literal(e) for e in node.elts)
    return False


@functools.lru_cache(maxsize=16)
def _parsed(source: str) -> tuple[ast.Module, list[str]]:
    """A module's tree and lines: asked once per default (``keepable``, ``wrap``), parsed once per text."""
    return ast.parse(source), LINE.findall(source)


def _anchor(source: str, line: int) -> ast.stmt | None:
    """The last simple top-level statement that ends before the top-level statement holding ``line`` begins (its
    decorators included), and after which an import can be appended on the same line."""
    tree, lines = _parsed(source)
    found: ast.stmt | None = None
    for stmt in tree.body:
        first = min([stmt.lineno, *(d.lineno for d in getattr(stmt, "decorator_list", []))])
        if first <= line:
            if stmt.end_lineno is not None and stmt.end_lineno >= line:
                return found  # the statement holding the default
            if isinstance(stmt, _SIMPLE) and stmt.end_lineno is not None and stmt.end_col_offset is not None:
                rest = lines[stmt.end_lineno - 1].encode()[stmt.end_col_offset:].decode(errors="replace")
                found = stmt if _TAIL.match(rest) else None
    return None


def keepable(source: str, node: ast.expr) -> bool:
    """Whether ``wrap`` can wrap the default ``node`` of ``source``."""
    return _anchor(source, node.lineno) is not None


def wrap(source: str, kept: Iterable[KeptDefault]) -> str:
    """``source`` with each default of ``kept`` (found in it by line and column) wrapped in ``keep``; those that are
    not ``keepable`` are left as they are."""
    lines = [line.encode() for line in _parsed(source)[1]]
    todo = sorted({(k.node.lineno, k.node.col_offset): k for k in kept}.values(),
                  key=lambda k: (k.node.lineno, k.node.col_offset), reverse=True)
    anchor: ast.stmt | None = None
    # (ast's columns count UTF-8 bytes; from the last default up, so that an insertion moves no position still to
    # do, and the import, before them all, last)
    for k in todo:
        node = k.node
        at = _anchor(source, node.lineno)
        if at is None or node.end_lineno is None or node.end_col_offset is None:
            continue
        anchor = at if anchor is None or at.lineno < anchor.lineno else anchor
        end = lines[node.end_lineno - 1]
        lines[node.end_lineno - 1] = end[:node.end_col_offset] + b")" + end[node.end_col_offset:]
        start = lines[node.lineno - 1]
        lines[node.lineno - 1] = start[:node.col_offset] + f"{_NAME}({k.key!r}, ".encode() + start[node.col_offset:]
    if anchor is not None:
        assert anchor.end_lineno is not None and anchor.end_col_offset is not None
        last = lines[anchor.end_lineno - 1]
        lines[anchor.end_lineno - 1] = last[:anchor.end_col_offset] + _IMPORT.encode() + last[anchor.end_col_offset:]
    return b"".join(lines).decode()
