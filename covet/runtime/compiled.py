"""Loading a ``covet build`` at serve time: check the manifest, put the build first on the path.

Order matters: the build directory must be on ``sys.path`` before the
application is imported, so that its compiled modules shadow the sources.
Nothing here introspects a compiled handler: the glue module carries each
route's plan, written at build time.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from covet.manifest import GLUE_MODULE, MANIFEST_NAME, Manifest

if TYPE_CHECKING:
    from covet.app import Covet

__all__ = ["prepare", "attach", "BuildMismatch"]


class BuildMismatch(Exception):
    """The build cannot serve this application; the message says why."""


def prepare(build_dir: Path, target: str, covet_version: str) -> Manifest:
    """Check that the build at ``build_dir`` fits ``target`` and put it first on ``sys.path``."""
    if not (build_dir / MANIFEST_NAME).exists():
        raise BuildMismatch(f"no build at {build_dir} (run: covet build {target})")
    try:
        manifest = Manifest.load(build_dir)
    except (ValueError, TypeError, OSError) as exc:
        raise BuildMismatch(f"unreadable manifest in {build_dir}: {exc}") from exc
    if manifest.app != target:
        raise BuildMismatch(f"the build at {build_dir} is of {manifest.app}, not {target}")
    why = manifest.stale(covet_version)
    if why:
        raise BuildMismatch("; ".join(why) + f" (run: covet build {target})")
    for name in manifest.compiled_modules:
        if name in sys.modules and name != GLUE_MODULE:
            raise BuildMismatch(f"module {name} was imported before the build could be loaded")
    sys.path.insert(0, str(build_dir.resolve()))
    return manifest


def attach(app: Covet, manifest: Manifest) -> int:
    """Serve the compiled routes from the glue module; returns how many routes run compiled."""
    for name in manifest.compiled_modules:
        module = sys.modules.get(name) or importlib.import_module(name)
        if not str(getattr(module, "__file__", "")).endswith(".so"):
            raise BuildMismatch(f"module {name} was loaded from {module.__file__}, not from the build")
    try:
        glue = importlib.import_module(GLUE_MODULE)
    except Exception as exc:  # the build's glue ran its import-time setup and failed
        raise BuildMismatch(f"the compiled glue failed to load: {type(exc).__name__}: {exc}") from exc
    table: list[tuple[str, str, Any, bool, str]] = glue.ROUTES
    return app.use_compiled(table)
