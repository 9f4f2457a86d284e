"""``covet.project_root(__file__)``: the project a module belongs to, interpreted or compiled alike.

An app that finds its files from ``__file__`` (templates, data) breaks when
compiled: a compiled module's ``__file__`` is its extension module in the
build directory (``.covet/build/shop/routes.cpython-311-....so``), not its
source. This gives the same directory either way: for a source file, the
directory above its outermost package (as ``covet build`` lays modules out);
for a compiled module, the project its build's manifest says it was built from.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from covet.manifest import MANIFEST_NAME

__all__ = ["project_root"]


def project_root(file: str | os.PathLike[str]) -> Path:
    """The project directory of the module whose ``__file__`` is ``file``: write
    ``project_root(__file__) / "templates"`` where ``Path(__file__).parent / "templates"`` would point into the
    build once compiled."""
    path = Path(file).resolve()
    if path.suffix != ".py":
        root = _built_from(path)
        if root is not None:
            return root
    here = path.parent
    while (here / "__init__.py").is_file() and here.parent != here:
        here = here.parent
    return here


def _built_from(path: Path) -> Path | None:
    """The root recorded by the manifest of the build directory ``path`` lies in, or None."""
    for parent in path.parents:
        manifest = parent / MANIFEST_NAME
        if manifest.is_file():
            try:
                root = json.loads(manifest.read_text()).get("root")
            except (OSError, ValueError):
                return None
            return Path(root) if isinstance(root, str) else None
    return None
