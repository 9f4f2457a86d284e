"""``COVET_PURE_RUNTIME=1``: import the runtime's pure-Python modules even where compiled ones exist.

The wheel ships both; this switch lets the tests (and a user chasing a
suspected compiler bug) run the pure fallback from the same install.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Sequence
from types import ModuleType

__all__ = ["install_if_asked"]


class _PureFinder(importlib.abc.MetaPathFinder):
    """Finds ``covet.runtime.*`` as source, ahead of the extension-module finder."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith("covet.runtime.") or path is None:
            return None
        leaf = fullname.rpartition(".")[2]
        for entry in path:
            source = os.path.join(entry, leaf + ".py")
            if os.path.isfile(source):
                return importlib.util.spec_from_file_location(fullname, source)
        return None


def install_if_asked() -> None:
    if os.environ.get("COVET_PURE_RUNTIME") == "1" and not any(isinstance(f, _PureFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _PureFinder())
