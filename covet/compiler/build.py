"""``covet build`` and ``covet check``: plan, write glue, type-check, compile, record.

Stages, in order:
1. load the application interpreted and plan every route (``covet.runtime``);
2. read each handler's types from its source (``sourcetypes``);
3. write the glue module (``gluegen``);
4. type-check handler modules and glue with mypy, strict (``typecheck``);
5. compile them with mypyc into one group of C extensions (``mypycrun``);
6. write the manifest (``covet.manifest``) that ``covet serve`` checks, and the
   OpenAPI document (compiled handlers keep no annotations to build it from).
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import importlib.machinery
import importlib.util
import inspect
import os
import re
import sys
import time
import tokenize
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

from covet import __version__
from covet.compiler import asyncgens, directcalls, fstrings, keptdefaults, mypycache
from covet.compiler.gluegen import GlueRoute, base_modules, write_glue_module, write_preload_module
from covet.compiler.imports import imported_names
from covet.compiler.keptdefaults import KeptDefault
from covet.compiler.mypycrun import CompileError, compile_modules
from covet.compiler.sourcetypes import HandlerSource, SourceError, read_handler
from covet.compiler.typecheck import Diagnostic, typecheck, write_config
from covet.exceptions import RouteDefinitionError
from covet.loader import load_app
from covet.manifest import (
    GLUE_MODULE,
    GRPC_METHOD,
    OPENAPI_NAME,
    PRELOAD_MODULE,
    Manifest,
    SchemaMismatch,
    file_hash,
    python_tag,
)
from covet.params import Depends, Param
from covet.runtime.compiled import grpc_method_modules
from covet.runtime.pathtrie import parse_template
from covet.runtime.signature import UNSET, RouteSpec

__all__ = ["BuildResult", "build", "compiler_version"]


def compiler_version() -> str:
    import mypy.version

    return str(mypy.version.__version__)


@dataclasses.dataclass
class BuildResult:
    out_dir: Path
    diagnostics: list[Diagnostic]
    manifest: Manifest | None = None
    not_compiled: list[dict[str, str]] = dataclasses.field(default_factory=list)
    internal_error: str | None = None
    seconds: float = 0.0
    compiled_routes: int = 0  # routes whose glue is compiled
    interpreted_handlers: int = 0  # of those, the routes whose handler's module runs interpreted
    compiled_grpc: int = 0  # gRPC methods whose service's module is compiled
    notes: list[str] = dataclasses.field(default_factory=list)  # what the build did that its user should know
    # Seconds per stage: plan, type check, generate (mypyc), C compile, link.
    stages: dict[str, float] = dataclasses.field(default_factory=dict)
    up_to_date: bool = False  # nothing changed since the build in out_dir: it was kept as it is

    @property
    def ok(self) -> bool:
        return self.internal_error is None and not any(d.severity == "error" for d in self.diagnostics)


def _user_module(module: types.ModuleType, root: Path) -> tuple[Path | None, str | None]:
    """The module's file if CovetPy can compile it, else why not."""
    file = getattr(module, "__file__", None)
    if not file or not file.endswith(".py"):
        return None, "has no Python source (already compiled?)"
    path = Path(file).resolve()
    if module.__name__.split(".")[0] == "covet":
        return None, "is part of CovetPy"
    if not path.is_relative_to(root) or "site-packages" in path.parts:
        return None, f"is outside the project ({path})"
    # mypy and mypyc name a module from its path under the project: a package module must sit
    # where its dotted name says, each package with an __init__.py.
    parts = module.__name__.split(".")
    if path.name == "__init__.py" or path != root.joinpath(*parts[:-1], parts[-1] + ".py"):
        return None, f"is not at {'/'.join(parts)}.py under the project root {root}"
    for i in range(1, len(parts)):
        if not root.joinpath(*parts[:i], "__init__.py").is_file():
            return None, f"package {'.'.join(parts[:i])} has no __init__.py"
    return path, None


def _project_modules(root: Path, out_dir: Path) -> list[Path]:
    """The source of every project module the application imported. The build depends on all of them, not only
    on the modules it compiles: the glue imports providers and exception handlers, and handlers use models."""
    return sorted(set(_project_module_names(root, out_dir).values()))


def _project_module_names(root: Path, out_dir: Path) -> dict[str, Path]:
    """Every project module the application imported, by name, with its source."""
    out: dict[str, Path] = {}
    for name, module in list(sys.modules.items()):
        if name == "covet" or name.startswith("covet."):
            continue
        file = getattr(module, "__file__", None)
        if not isinstance(file, str) or not file.endswith(".py"):
            continue
        path = Path(file).resolve()
        if (not path.is_relative_to(root) or path.is_relative_to(out_dir)
                or {"site-packages", "dist-packages"} & set(path.parts)):
            continue
        out[name] = path
    return out


def _let_mypy_find_covet() -> None:
    """mypy cannot follow an editable install's import hook: point it at CovetPy's source."""
    import covet

    here = str(Path(covet.__file__).resolve().parent.parent)
    if "site-packages" in here:
        return
    paths = [p for p in os.environ.get("MYPYPATH", "").split(os.pathsep) if p]
    if here not in paths:
        os.environ["MYPYPATH"] = os.pathsep.join([*paths, here])


def build(target: str, out_dir: Path, *, root: Path | None = None, annotate: bool = False,
          strict: bool = False, progress: Callable[[str], None] | None = None) -> BuildResult:
    """Build ``target`` (MODULE:ATTR) into ``out_dir``.

    The project's modules are type-checked strictly but for what only demands annotations
    (``typecheck.UNTYPED_OK``): an unannotated handler compiles, and runs as ``Any``. ``strict`` demands
    annotations everywhere, as ``mypy --strict`` does. ``progress`` is told each stage as it starts.
    """
    t0 = time.monotonic()
    say = progress or (lambda _: None)
    root = (root or Path.cwd()).resolve()
    out_dir = out_dir.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    result = BuildResult(out_dir, [])
    say(f"planning the routes of {target}")
    try:
        app = load_app(target)
        plans = app.plans
    except RouteDefinitionError as exc:
        result.diagnostics.append(Diagnostic("", 0, "error", str(exc)))
        return result
    # Nothing the build reads has changed since the build in out_dir: keep it, before mypy is even loaded.
    key = build_key(target, root, out_dir, strict)
    kept = None if annotate else _kept_build(out_dir, key)
    if kept is not None:
        rows = [r for r in kept.routes if r["method"] != GRPC_METHOD]
        result.manifest, result.up_to_date, result.not_compiled = kept, True, kept.not_compiled
        result.notes = list(kept.interpreted_functions)
        result.compiled_routes = len(rows)
        result.interpreted_handlers = sum(not r.get("handler_compiled", True) for r in rows)
        result.compiled_grpc = sum(module in kept.compiled_modules for module in grpc_method_modules(app))
        result.seconds = result.stages["plan"] = time.monotonic() - t0
        return result

    # Which modules hold handlers, and which of them can be compiled. A module that cannot be compiled keeps
    # running interpreted, its routes' glue compiled all the same and calling into it; unless the glue cannot
    # import its handlers either (``glueless``): those routes run interpreted whole.
    routes: list[GlueRoute] = []
    module_files: dict[str, Path] = {}
    excluded: dict[str, tuple[str, str]] = {}
    glueless: set[str] = set()
    pending: list[tuple[RouteSpec, HandlerSource]] = []
    for plan in plans:
        spec = plan.spec
        assert spec is not None
        module = sys.modules[spec.handler.__module__]
        if module.__name__ in glueless:
            continue
        path, why = _user_module(module, root)
        if path is None:
            excluded[module.__name__] = (str(why), "it keeps running interpreted")
            glueless.add(module.__name__)
            continue
        try:
            source = read_handler(spec.handler)
            for dep in spec.deps:
                read_handler(dep.provider)  # the glue imports each provider by its module-level name
        except SourceError as exc:
            excluded[module.__name__] = (str(exc), "define handlers and dependencies as plain module-level functions")
            glueless.add(module.__name__)
            continue
        unimportable = _option_types(spec)
        if unimportable is not None:
            excluded[module.__name__] = unimportable
            glueless.add(module.__name__)
            continue
        for name, why_fix in _marker_defaults(spec).items():
            if name in sys.modules and _user_module(sys.modules[name], root)[0] is not None:
                excluded.setdefault(name, why_fix)
        models = _models(module)
        if models is not None:
            excluded.setdefault(module.__name__, models)
        if module.__name__ not in excluded:
            module_files[module.__name__] = path
        pending.append((spec, source))
    for spec, source in pending:
        if source.module in glueless:
            continue
        module = sys.modules[source.module]
        rel = os.path.relpath(source.path, root)
        label = f"[{spec.method} {spec.path} -> {rel}:{source.name}]"
        names = [p.param for p in parse_template(spec.path) if p.param is not None]
        routes.append(GlueRoute(spec, names, source, module, label))
    routes.sort(key=lambda r: (r.spec.path, r.spec.method))
    # The project's own modules the handlers' modules import (their helpers) are compiled with them.
    for name, path in _helper_modules(module_files, root, out_dir).items():
        if name not in excluded and name not in glueless:
            module_files[name] = path
    grpc_modules = _grpc_modules(app, root)
    for name, path in grpc_modules.items():
        has_models = _models(sys.modules[name])
        if has_models is not None:
            excluded.setdefault(name, has_models)
        elif name not in excluded:
            module_files[name] = path
    # A module's async generators run interpreted, the rest of it compiled (asyncgens.py): mypy and mypyc read a
    # text with them lifted out, written beside the build.
    shadows: dict[Path, Path] = {}
    lifted: dict[str, list[tuple[str, int]]] = {}  # module -> its functions that run interpreted (name, line)
    for name, path in sorted(module_files.items()):
        if name in excluded:
            continue
        with tokenize.open(path) as f:  # (in the encoding its coding line names, and the shadow written in it)
            text, encoding = f.read(), f.encoding
        lift = asyncgens.lift(text, path, os.path.relpath(path, root), sys.modules[name])
        if isinstance(lift, tuple):
            excluded[name] = lift
            continue
        if lift is not None:
            shadows[path] = _write_shadow(path, lift.text, encoding, out_dir, root)
            text = lift.text
            lifted[name] = lift.functions
        # A module mypyc would compile wrongly stays interpreted (see _await_in_finally).
        awaiting = _await_in_finally(path, text)
        if awaiting is not None:
            excluded[name] = _await_in_finally_why(awaiting, root)
    opaque = _stubless_messages(root, out_dir)
    result.notes = [f"{name} has no type stubs: its protobuf messages are Any to the compiled code (protoc's "
                    "--pyi_out writes them, and types-protobuf types their base)" for name in opaque]
    header = (f"Generated by covet build {__version__} (mypy {compiler_version()}, {python_tag()}) from {target}."
              " Do not edit.")
    cache_dir = out_dir / "mypy_cache"
    mypycache.warm(cache_dir, compiler_version())
    _let_mypy_find_covet()
    project = [] if strict else list(_project_module_names(root, out_dir))
    result.stages = {"plan": time.monotonic() - t0, "type check": 0.0}
    # mypyc may reject a construct mypy accepts: that module then stays interpreted, and we go again.
    for _attempt in range(2 * len(module_files) + 1):
        routes = [r for r in routes if r.source.module not in glueless]
        for name in excluded:
            module_files.pop(name, None)
        # The glue imports the interpreted modules' handlers: mypy reads them for their types, and their errors
        # are not the build's (nothing of them is compiled).
        config = write_config(out_dir / "mypy.ini", project, sorted(excluded), tuple(opaque))
        result.not_compiled = [{"module": m, "reason": r, "fix": f} for m, (r, f) in sorted(excluded.items())]
        # The glue calls each compiled handler its decorators returned unchanged as the C function it is.
        direct = {f"{r.source.module}.{r.spec.handler.__name__}" for r in routes
                  if r.source.module in module_files and directcalls.unchanged(r.spec.handler, r.module)
                  and r.spec.handler.__name__ not in {fn for fn, _ in lifted.get(r.source.module, [])}}
        directcalls.direct(direct)
        defaults: list[KeptDefault] = []
        try:
            glue_file, origins = write_glue_module(routes, out_dir, header, app.exception_handlers,
                                                   app.strict_content_type, direct, defaults)
        except SourceError as exc:
            result.internal_error = f"could not write the glue: {exc}"
            return result
        # The defaults the glue takes from their functions: a compiled module hands them over as its defs run.
        for name, path in sorted(module_files.items()):
            mine = [k for k in defaults if k.path.resolve() == path.resolve()]
            if not mine:
                continue
            with tokenize.open(path) as f:
                text, encoding = f.read(), f.encoding
            text = keptdefaults.wrap(text, mine)
            lift = asyncgens.lift(text, path, os.path.relpath(path, root), sys.modules[name])
            shadows[path] = _write_shadow(path, lift.text if isinstance(lift, asyncgens.Lifted) else text, encoding,
                                          out_dir, root)
        preload = write_preload_module(out_dir, header, base_modules(sys.modules[m] for m in module_files))
        files = [*sorted(module_files.values()), glue_file, *([preload] if preload else [])]
        routes_by_file: dict[str, list[tuple[int, int, str]]] = {}
        for r in routes:
            routes_by_file.setdefault(str(r.source.path.resolve()), []).append(
                (r.source.line, r.source.end_line, r.label))
        say(f"type-checking {len(files)} module{'s' if len(files) != 1 else ''} with mypy")
        checking = time.monotonic()
        result.diagnostics = typecheck(files, cache_dir, routes_by_file, glue_file, origins, config, shadows)
        result.stages["type check"] += time.monotonic() - checking
        errors = [d for d in result.diagnostics if d.severity == "error"]
        if not strict:
            untyped = _untyped_code_errors(errors, root, module_files)
            if untyped:
                excluded.update(untyped)
                continue
        if any(d.internal for d in errors):
            result.internal_error = (
                f"the generated glue does not type-check (CovetPy {__version__}, mypy {compiler_version()}, "
                f"{python_tag()}); the glue is kept at {glue_file}. This is a CovetPy bug, not yours: please report it."
            )
        if errors:
            return result
        try:
            timings: dict[str, float] = {}
            try:
                compile_modules(files, root, out_dir, cache_dir, config=config, progress=say, timings=timings,
                                annotate=out_dir / "annotate.html" if annotate else None,
                                shadows={p: f for p, f in shadows.items() if p in module_files.values()})
            finally:
                for stage, seconds in timings.items():
                    result.stages[stage] = result.stages.get(stage, 0.0) + seconds
            break
        except CompileError as exc:
            rejected = _rejections(exc.output, root, module_files, glue_file)
            if rejected is None:
                user = [line for line in exc.output.splitlines() if line.strip()]
                result.internal_error = (
                    f"{exc} (CovetPy {__version__}, mypy {compiler_version()}, {python_tag()}); glue kept at "
                    f"{glue_file}\n" + "\n".join(user[-30:])
                )
                return result
            excluded.update(rejected)
    else:
        result.internal_error = "mypyc kept rejecting modules; giving up"
        return result

    mypycache.keep_seed(cache_dir, compiler_version())
    interpreted = [_lifted_note(name, functions, module_files[name], root) for name, functions in sorted(lifted.items())
                   if name in module_files]
    result.notes += interpreted
    if not fstrings.installed():
        result.notes += _slow_fstrings(module_files, root)
    http = [r for r in routes if r.spec.method != GRPC_METHOD]  # (a typed gRPC method's glue counts as a method)
    result.compiled_routes = len(http)
    result.compiled_grpc = sum(module in module_files for module in grpc_method_modules(app))
    result.interpreted_handlers = sum(r.source.module not in module_files for r in http)
    result.manifest = Manifest(
        app=target,
        covet_version=__version__,
        python=python_tag(),
        mypy_version=compiler_version(),
        sources={os.path.relpath(p, root): file_hash(p)
                 for p in sorted({*module_files.values(), *_project_modules(root, out_dir)})},
        compiled_modules=sorted([*module_files, GLUE_MODULE, *([PRELOAD_MODULE] if preload else [])]),
        routes=[{"method": r.spec.method, "path": r.spec.path, "handler": f"{r.source.module}:{r.source.name}",
                 "compiled": True, "handler_compiled": r.source.module in module_files} for r in routes],
        not_compiled=result.not_compiled,
        interpreted_functions=interpreted,
        root=str(root),
        build_key=key,
    )
    result.manifest.save(out_dir)
    (out_dir / OPENAPI_NAME).write_bytes(app.openapi_json())
    result.seconds = time.monotonic() - t0
    return result


def build_key(target: str, root: Path, out_dir: Path, strict: bool) -> str:
    """A digest of what a build of ``target`` reads: the project's modules the application imported, the tools,
    the options, and CovetPy's own source (the glue is written by it)."""
    import covet

    digest = hashlib.sha256()
    parts: list[object] = [target, __version__, compiler_version(), python_tag(), strict]
    parts += [(os.path.relpath(p, root), file_hash(p)) for p in _project_modules(root, out_dir)]
    own = Path(covet.__file__).resolve().parent
    parts += [(str(p.relative_to(own)), file_hash(p)) for p in sorted(own.rglob("*.py"))]
    digest.update(repr(parts).encode())
    return digest.hexdigest()


def _kept_build(out_dir: Path, key: str) -> Manifest | None:
    """The manifest of the build in ``out_dir`` when it was made from the same inputs (``key``) and its files are
    all there; None when the build has to run."""
    try:
        manifest = Manifest.load(out_dir)
    except (OSError, ValueError, TypeError, SchemaMismatch):
        return None
    if manifest.build_key != key or not (out_dir / OPENAPI_NAME).is_file():
        return None
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    for module in manifest.compiled_modules:
        if not (out_dir / (module.replace(".", "/") + suffix)).is_file():
            return None
    return manifest


def _grpc_modules(app: Any, root: Path) -> dict[str, Path]:
    """The project's modules that define the gRPC services the app includes, by name, with their source: compiled
    like the routes' modules (a library's service, grpclib's Health say, is not the project's to compile)."""
    out: dict[str, Path] = {}
    for name in grpc_method_modules(app):
        module = sys.modules.get(name)
        if module is not None and name not in out:
            path, _why = _user_module(module, root)
            if path is not None:
                out[name] = path
    return out


def _stubless_messages(root: Path, out_dir: Path) -> list[str]:
    """The project's protobuf modules (protoc's ``*_pb2.py``) without the ``.pyi`` that types their messages:
    mypy sees no classes in them (protobuf builds them at import), so the build reads them as Any."""
    return sorted(name for name, path in _project_module_names(root, out_dir).items()
                  if path.name.endswith("_pb2.py") and not path.with_suffix(".pyi").is_file())


def _option_types(spec: RouteSpec) -> tuple[str, str] | None:
    """Why a route's module cannot be compiled when its ``response_model`` or ``response_class`` names a class the
    glue cannot import (one defined inside a function); else None."""
    found: list[Any] = []

    def walk(tp: Any) -> None:
        if isinstance(tp, type):
            found.append(tp)
        for arg in typing.get_args(tp):
            walk(arg)

    if spec.result.model is not UNSET:
        walk(spec.result.model)
    walk(spec.result.response_class)
    for cls in found:
        home = sys.modules.get(cls.__module__)
        if cls.__module__ != "builtins" and (cls.__qualname__ != cls.__name__
                                             or getattr(home, cls.__name__, None) is not cls):
            why = (f"route {spec.method} {spec.path} names {cls.__qualname__} in its options, which is not defined "
                   "at module level")
            return why, "define it at module level for the compiled glue to import it"
    return None


def _helper_modules(compiled: dict[str, Path], root: Path, out_dir: Path) -> dict[str, Path]:
    """The project modules that ``compiled``'s modules import, directly or through each other, and that mypyc can
    compile as they are: not a package's ``__init__``, not generated code (protoc's), no pydantic models or
    erasable dataclasses (``_models``), no async generator ``asyncgens`` cannot lift out. Those left out stay
    interpreted, as any module the handlers import always did; their names would only be noise in the build's
    notes."""
    project = _project_module_names(root, out_dir)
    found: dict[str, Path] = {}
    todo = [name for name in compiled if name in sys.modules]
    seen = set(todo)
    while todo:
        module = sys.modules[todo.pop()]
        for name in imported_names(module):
            if name in seen or name not in project or name not in sys.modules:
                continue
            seen.add(name)
            path = project[name]
            if path.name == "__init__.py":  # a package's: its modules are found through it, compiled or not
                continue
            source = path.read_text(errors="replace")
            if _generated(source) or _models(sys.modules[name]) is not None or isinstance(
                    asyncgens.lift(source, path, os.path.relpath(path, root), sys.modules[name]), tuple):
                continue
            found[name] = path
            todo.append(name)
    return found


MAX_FSTRING_NOTES = 5  # per build: past it, a count


def _slow_fstrings(module_files: dict[str, Path], root: Path) -> list[str]:
    """Where a compiled module has an f-string with a format spec or a conversion (``{x:.2f}``, ``{x!r}``).

    mypy hands such an f-string to mypyc as ``"".join([..., "{:{}}".format(x, ".2f"), ...])``, and mypyc
    specialises only f-strings without them: the rest are generic method calls, slower than the interpreter's own
    f-string (1.8x on perf/realistic.py's order lines). ``format(x, ".2f")`` and ``repr(x)`` inside the f-string
    say the same and compile to direct calls.
    """
    found: list[str] = []
    for path in sorted(module_files.values()):
        try:
            tree = ast.parse(path.read_text(errors="replace"), str(path))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.JoinedStr):
                continue
            for part in node.values:
                if isinstance(part, ast.FormattedValue) and (part.format_spec is not None or part.conversion != -1):
                    found.append(f"{os.path.relpath(path, root)}:{node.lineno}")
                    break
    if not found:
        return []
    shown = ", ".join(found[:MAX_FSTRING_NOTES]) + (f" and {len(found) - MAX_FSTRING_NOTES} more"
                                                      if len(found) > MAX_FSTRING_NOTES else "")
    return [(f"f-strings with a format spec or a conversion run slower compiled than interpreted (mypyc builds them "
            f"with generic str.format calls): {shown}; write {{format(x, '.2f')}} for {{x:.2f}}, {{repr(x)}} for "
            "{x!r}")]


def _generated(source: str) -> bool:
    """Written by a tool (protoc and its plugins say so at the top): not the project's code to compile."""
    head = source[:600]
    return "Generated by" in head or "DO NOT EDIT" in head or "@generated" in head


def _lifted_note(module: str, functions: list[tuple[str, int]], path: Path, root: Path) -> str:
    which = ", ".join(f"{fn} (line {line})" for fn, line in functions)
    return (f"{os.path.relpath(path, root)}: mypyc cannot compile async generators: {which} "
            f"run{'s' if len(functions) == 1 else ''} interpreted, the rest of {module} compiled")


def _await_in_finally(path: Path, source: str) -> tuple[Path, int] | None:
    """Where ``path`` (whose text mypyc compiles is ``source``) first awaits inside a ``finally`` of an
    ``async def``, or None.

    mypyc (2.4) compiles such a ``finally`` by keeping the exception in ``sys.exc_info()`` and never restoring it:
    after the exception is handled, the next compiled ``finally`` with an ``await``, in unrelated code, raises it
    again (an unrelated asyncio Task ends up cancelled). docs/upstream/mypyc-await-in-finally.md has the reduced
    case. Such a module keeps running interpreted until mypyc is fixed.
    """
    try:
        tree = ast.parse(source, str(path))
    except SyntaxError:
        return None
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.AsyncFunctionDef):
            continue
        for node in _own_nodes(fn):
            if isinstance(node, (ast.Try, ast.TryStar)) and node.finalbody:
                for stmt in node.finalbody:
                    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                        continue  # (what a function defined there awaits, it awaits when called)
                    for inner in _own_nodes(stmt):
                        if isinstance(inner, ast.Await):
                            return path, inner.lineno
    return None


def _own_nodes(node: ast.AST) -> list[ast.AST]:
    """``node`` and what it holds, but not the bodies of the functions, lambdas and classes defined in it."""
    out: list[ast.AST] = [node]
    todo = list(ast.iter_child_nodes(node))
    while todo:
        child = todo.pop()
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        out.append(child)
        todo.extend(ast.iter_child_nodes(child))
    return out


def _await_in_finally_why(where: tuple[Path, int], root: Path) -> tuple[str, str]:
    path, line = where
    why = (f"an async function awaits inside a finally ({os.path.relpath(path, root)}:{line}), which mypyc 2.4 "
           "compiles wrongly: the exception that entered the finally stays in sys.exc_info() and is raised again by "
           "later, unrelated code (docs/upstream/mypyc-await-in-finally.md)")
    fix = ("write the cleanup as an async context manager (async with), which mypyc compiles correctly, to compile "
           "the module")
    return why, fix


def _models(module: types.ModuleType) -> tuple[str, str] | None:
    """Why a module that defines pydantic models is not compiled natively, with the fix; else None.

    mypyc keeps a class it cannot make native (one with a metaclass, as a model has) but writes each of its
    annotations as the nearest class (``str | None`` becomes ``type``, ``list[str]`` becomes ``list``), and
    pydantic builds its fields from those: the models would validate the wrong types.
    """
    import pydantic

    for value in list(vars(module).values()):
        if not (isinstance(value, type) and value.__module__ == module.__name__):
            continue
        if issubclass(value, pydantic.BaseModel):
            why = f"defines pydantic model {value.__qualname__}, whose field types mypyc would erase"
            return why, ("move the models to a module of their own (models.py, say), which stays interpreted, to "
                         "compile the handlers")
        field = _erased_union(value)
        if field is not None:
            # A compiled dataclass keeps its fields, but pydantic (a result validated as it) reads ``type`` for
            # ``str | None``: FastAPI's dataclasses_ examples answered 500.
            why = (f"defines dataclass {value.__qualname__}, whose field {field!r} has a union type mypyc would "
                   "erase")
            return why, ("move the dataclass to a module of their own (models.py, say), which stays interpreted, "
                         "to compile the handlers")
    return None


def _erased_union(cls: type) -> str | None:
    """The first field of dataclass ``cls`` whose type is a union (``X | None``...), which mypyc writes as ``type``
    in the compiled class's annotations; None for any other class."""
    if not dataclasses.is_dataclass(cls):
        return None
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # unresolvable annotations: the build reports them where it reads the class
        return None
    for f in dataclasses.fields(cls):
        origin = typing.get_origin(hints.get(f.name))
        if origin is typing.Union or origin is types.UnionType:
            return f.name
    return None


def _write_shadow(path: Path, text: str, encoding: str, out_dir: Path, root: Path) -> Path:
    """The file mypy and mypyc read in ``path``'s stead, holding ``text``."""
    shadow = out_dir / "lifted" / os.path.relpath(path, root)
    shadow.parent.mkdir(parents=True, exist_ok=True)
    if not shadow.exists() or shadow.read_bytes() != text.encode(encoding):  # (unchanged: mypy's cache)
        shadow.write_bytes(text.encode(encoding))
    return shadow


def _marker_defaults(spec: RouteSpec) -> dict[str, tuple[str, str]]:
    """The modules that cannot be compiled natively because a function of theirs, the route's handler or one of its
    providers, has a marker as a parameter's default (``q: str = Query(None)``, ``db: Session = Depends(get_db)``),
    each with why and the fix.

    mypyc checks a compiled function's defaults against their parameters' types when the module loads: the marker
    is not a ``str``, so the module would fail to import. The compiled glue passes every parameter, so it calls
    such a function, left interpreted, all the same.
    """
    found: dict[str, tuple[str, str]] = {}
    for fn in [spec.handler, *(d.provider for d in spec.deps)]:
        try:
            params = inspect.signature(fn).parameters.values()
        except (TypeError, ValueError):
            continue
        home = getattr(fn, "__module__", None) or type(fn).__module__
        for p in params:
            if isinstance(p.default, (Param, Depends)) and home not in found:
                code = getattr(fn, "__code__", None)
                where = f"{os.path.relpath(code.co_filename)}:{code.co_firstlineno}" if code else fn.__qualname__
                kind = type(p.default).__name__.removesuffix("Param")
                why = (f"parameter {p.name!r} of {fn.__qualname__} ({where}) has {kind}(...) as its default, which "
                       "mypyc checks against the parameter's type")
                fix = f"write the marker in the annotation to compile it: {p.name}: Annotated[T, {kind}(...)] = default"
                found[home] = (why, fix)
    return found


def _untyped_code_errors(errors: list[Diagnostic], root: Path,
                         module_files: dict[str, Path]) -> dict[str, tuple[str, str]]:
    """The handler modules whose errors are all inside functions written without full annotations, with why.

    mypy checks the body of a function that annotates some of its parameters but not its result, as FastAPI's
    examples do, and may infer a local's type from its first value (``results = {"items": [...]}``) and refuse a
    later one. That is no error under FastAPI, where nothing checks types: such a module keeps running interpreted,
    and the build goes on. An error in fully annotated code is the user's to fix, and fails the build.
    """
    by_path = {str(p.resolve()): name for name, p in module_files.items()}
    found: dict[str, tuple[str, str]] = {}
    spans: dict[str, list[tuple[int, int, str, bool]]] = {}
    for d in errors:
        if d.internal or not d.path:
            return {}
        path = str((root / d.path).resolve())
        module = by_path.get(path)
        if module is None:
            return {}
        if path not in spans:
            spans[path] = _function_spans(Path(path))
        inner = [s for s in spans[path] if s[0] <= d.line <= s[1]]
        if not inner or min(inner, key=lambda s: s[1] - s[0])[3]:
            return {}  # module level, or in a fully annotated function: the user's error
        name = min(inner, key=lambda s: s[1] - s[0])[2]
        why = (f"fails mypy's check in {name}, which is not fully annotated: {d.message} "
               f"({os.path.relpath(path, root)}:{d.line})")
        found.setdefault(module, (
            why,
            f"annotate {name} (its result, and the variable the error names) to compile the module"))
    return found


def _function_spans(path: Path) -> list[tuple[int, int, str, bool]]:
    """(first line, last line, name, fully annotated) of every function in ``path``."""
    out: list[tuple[int, int, str, bool]] = []

    def visit(node: ast.AST, in_class: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = child.args
                params = [*a.posonlyargs, *a.args, *a.kwonlyargs, *(x for x in (a.vararg, a.kwarg) if x)]
                if in_class and params and not any(isinstance(d, ast.Name) and d.id == "staticmethod"
                                                   for d in child.decorator_list):
                    params = params[1:]
                typed = all(x.annotation is not None for x in params) and (
                    child.returns is not None or (child.name == "__init__" and bool(params)))
                first = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                out.append((first, child.end_lineno or child.lineno, child.name, typed))
                visit(child, False)
            else:
                visit(child, isinstance(child, ast.ClassDef))

    visit(ast.parse(path.read_text(), str(path)), False)
    return out


_MYPYC_ERROR = re.compile(r"^(?P<path>[^:\n]+):(?P<line>\d+): error: (?P<msg>.*)$")
# mypyc's own crash on a construct (an internal error), at the line it was compiling: "app.py:29: AssertionError: ..."
_MYPYC_CRASH = re.compile(r"^(?P<path>[^:\n]+):(?P<line>\d+): (?P<msg>[A-Za-z_.]*(?:Error|Exception): .*)$")


def _rejections(output: str, root: Path, module_files: dict[str, Path],
                glue_file: Path) -> dict[str, tuple[str, str]] | None:
    """The user modules mypyc rejected, with why; None when the failure is not theirs."""
    by_path = {str(p.resolve()): name for name, p in module_files.items()}
    found: dict[str, tuple[str, str]] = {}
    crashed = "internal mypyc error" in output
    for line in output.splitlines():
        m = _MYPYC_ERROR.match(line.strip()) or (_MYPYC_CRASH.match(line.strip()) if crashed else None)
        if m is None:
            continue
        path = str((root / m.group("path")).resolve())
        if path == str(glue_file.resolve()):
            return None
        module = by_path.get(path)
        if module is not None and module not in found:
            where = f"{os.path.relpath(path, root)}:{m.group('line')}"
            if m.re is _MYPYC_CRASH:
                # A bug of mypyc's, not the user's: the module runs interpreted, and the line says what to avoid.
                found[module] = (f"mypyc crashed compiling it (an internal mypyc error: {m.group('msg')}) ({where})",
                                 ("write the function at that line another way (mypyc 1.x crashes on an await inside "
                                 "an f-string, as in f\"{q} {await read()!r}\")"))
            else:
                found[module] = (f"mypyc: {m.group('msg')} ({where})",
                                 "rewrite that construct, or move it to a module without handlers")
    return found or None
