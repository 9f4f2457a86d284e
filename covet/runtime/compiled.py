"""Loading a ``covet build`` at serve time: check the manifest, put the build first on the path.

Order matters: the build directory must be on ``sys.path`` before the
application is imported, so that its compiled modules shadow the sources.
Nothing here introspects a compiled handler: the glue module carries each
route's plan, written at build time.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from covet.manifest import (
    GLUE_MODULE,
    GRPC_METHOD,
    MANIFEST_NAME,
    OPENAPI_NAME,
    PRELOAD_MODULE,
    Manifest,
    RouteRow,
    SchemaMismatch,
    check_schema,
)

if TYPE_CHECKING:
    from covet.app import Covet

__all__ = ["prepare", "attach", "uncompiled", "interpreted_handlers", "BuildMismatch"]


class BuildMismatch(Exception):
    """The build cannot serve this application; the message says why."""


def prepare(build_dir: Path, target: str, covet_version: str) -> Manifest:
    """Check that the build at ``build_dir`` fits ``target`` and put it first on ``sys.path``."""
    if not (build_dir / MANIFEST_NAME).exists():
        raise BuildMismatch(f"no build at {build_dir} (run: covet build {target})")
    try:
        manifest = Manifest.load(build_dir)
    except SchemaMismatch as exc:
        raise BuildMismatch(f"the build at {build_dir}: {exc} (run: covet build {target})") from exc
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
    build_dir = build_dir.resolve()
    sys.path.insert(0, str(build_dir))  # the glue and mypyc's shared library are top-level modules
    sys.meta_path.insert(0, _BuildFinder(build_dir, manifest.compiled_modules))
    if PRELOAD_MODULE in manifest.compiled_modules:
        # Before the application's modules: it fills what their class definitions look up (see the build's
        # covet.compiler.gluegen.write_preload_module).
        try:
            importlib.import_module(PRELOAD_MODULE)
        except Exception as exc:
            raise BuildMismatch(f"the build's {PRELOAD_MODULE} failed to load: {type(exc).__name__}: {exc}") from exc
    return manifest


class _BuildFinder(importlib.abc.MetaPathFinder):
    """Finds each compiled module in the build, ahead of its source.

    A path entry cannot do it for a module inside a package: the package's own
    ``__init__.py`` in the project wins, and its ``__path__`` leads to the sources.
    """

    def __init__(self, build_dir: Path, names: Sequence[str]) -> None:
        self.files: dict[str, Path] = {}
        for name in names:
            *package, leaf = name.split(".")
            where = build_dir.joinpath(*package)
            for suffix in importlib.machinery.EXTENSION_SUFFIXES:
                if (where / (leaf + suffix)).is_file():
                    self.files[name] = where / (leaf + suffix)
                    break

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        file = self.files.get(fullname)
        if file is None:
            return None
        return importlib.util.spec_from_file_location(fullname, file)


def attach(app: Covet, manifest: Manifest, build_dir: Path) -> int:
    """Serve the compiled routes from the glue module; returns how many routes run compiled."""
    for name in manifest.compiled_modules:
        module = sys.modules.get(name) or importlib.import_module(name)
        if not str(getattr(module, "__file__", "")).endswith(".so"):
            raise BuildMismatch(f"module {name} was loaded from {module.__file__}, not from the build")
    try:
        glue = importlib.import_module(GLUE_MODULE)
    except Exception as exc:  # the build's glue ran its import-time setup and failed
        raise BuildMismatch(f"the compiled glue failed to load: {type(exc).__name__}: {exc}") from exc
    try:
        # The manifest's schema was checked, but the glue is a file of its own: a build interrupted half-way,
        # or one copied over another, can pair a current manifest with an older glue.
        check_schema(getattr(glue, "SCHEMA", None), f"the glue module {glue.__file__}")
    except SchemaMismatch as exc:
        raise BuildMismatch(str(exc)) from exc
    table: list[RouteRow] = glue.ROUTES
    document = build_dir / OPENAPI_NAME
    if document.is_file():
        app.use_openapi(document.read_bytes())
    return app.use_compiled(table)


def uncompiled(app: Covet, manifest: Manifest) -> list[str]:
    """The application's routes the build runs interpreted, or whose compiled glue calls an interpreted handler, each
    with why (CovetPy's own routes, such as the docs pages and static files, are interpreted by design and not
    listed)."""
    done = {(r["method"], r["path"]) for r in manifest.routes}
    glue_only = {(r["method"], r["path"]) for r in manifest.routes if not r.get("handler_compiled", True)}
    reasons = {m["module"]: m["reason"] for m in manifest.not_compiled}
    out: list[str] = []
    for rd in app.routes:
        module = str(getattr(rd.handler, "__module__", ""))
        if module.split(".")[0] == "covet":
            continue
        for method in rd.served_as:
            why = reasons.get(module, "was not in the build")
            if (method, rd.path) in glue_only:
                out.append(f"{method} {rd.path}: its glue is compiled, but module {module} {why}")
            elif (method, rd.path) not in done:
                out.append(f"{method} {rd.path}: module {module} {why}")
    return out


def interpreted_handlers(manifest: Manifest) -> int:
    """How many of the build's compiled routes call a handler whose module runs interpreted."""
    return sum(not r.get("handler_compiled", True) for r in manifest.routes if r.get("method") != GRPC_METHOD)


def grpc_method_modules(app: Covet) -> list[str]:
    """The module of each gRPC method's handler (``include_grpc``): its service's class's, or its function's (a
    ``covet.GrpcService``'s, as loaded for a build: compiled, a function no longer names its module)."""
    return [*_service_modules(app), *(method.handler.__module__ for method in app.grpc_methods.values())]


def _service_modules(app: Covet) -> list[str]:
    out = []
    for handler in app.grpc_handlers.values():
        owner = getattr(handler.func, "__self__", None)
        out.append(type(owner).__module__ if owner is not None else getattr(handler.func, "__module__", ""))
    return out


def compiled_grpc(app: Covet, manifest: Manifest) -> int:
    """How many of the app's gRPC methods run compiled: their service's module is in the build, or (typed methods)
    the build compiled their handler."""
    typed = sum(1 for r in manifest.routes
                if r.get("method") == GRPC_METHOD and r.get("handler_compiled") and r.get("path") in app.grpc_methods)
    return typed + sum(name in manifest.compiled_modules for name in _service_modules(app))
