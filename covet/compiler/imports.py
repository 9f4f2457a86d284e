"""What a module's own source imports, read from its ``import`` statements (the build reads a module's imports
to find the project helpers it compiles with it, and the glue to know which base classes' modules it declares)."""

from __future__ import annotations

import ast
import importlib.util
import types
from pathlib import Path

__all__ = ["imported_names"]


def imported_names(module: types.ModuleType) -> set[str]:
    """Every module name ``module``'s import statements may name: ``import a.b``, ``from a import b`` (a.b may be a
    module), relative ones resolved."""
    file = getattr(module, "__file__", None)
    if not isinstance(file, str) or not file.endswith(".py"):
        return set()
    package = module.__package__ or ""
    out: set[str] = set()
    for node in ast.walk(ast.parse(Path(file).read_text(errors="replace"), file)):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                try:
                    base = importlib.util.resolve_name("." * node.level + base, package)
                except (ImportError, ValueError):
                    continue
            if base:
                out.add(base)
                out.update(f"{base}.{a.name}" for a in node.names)
    return out
