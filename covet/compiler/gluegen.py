"""Writes the glue module: every compiled route's glue, with imports instead of objects.

The glue bodies come from the runtime's own writer (``covet.runtime.glue``),
so compiled and interpreted routes extract, convert, call and encode in
exactly the same way. Only the binding differs: here each validator,
default and serializer is an assignment at module level, built from the
handler's annotation as written in its source.
"""

from __future__ import annotations

import ast
import sys
import textwrap
import types
import typing
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, final

import pydantic

from covet.compiler.imports import imported_names
from covet.compiler.keptdefaults import KeptDefault, keepable, literal
from covet.compiler.sourcetypes import HandlerSource, Importer, SourceError, read_handler, source_text
from covet.compiler.typecheck import ORIGIN_MARK
from covet.manifest import GLUE_MODULE, GRPC_METHOD, PRELOAD_MODULE, SCHEMA
from covet.runtime import gluekit, kept  # (kept: loaded, so that the importer can name what the glue takes from it)
from covet.runtime.glue import (
    Binder,
    ErrorHandlers,
    discriminator,
    glue_is_async,
    glue_source,
    optional_model,
)
from covet.runtime.routeplan import reads_content_type, reads_headers, reads_stream, uses_connection
from covet.runtime.signature import UNSET, DepSpec, ParamSpec, RouteSpec

__all__ = ["GlueRoute", "SourceBinder", "write_glue_module", "write_preload_module", "base_modules"]


@final
class GlueRoute:
    """One route headed for the glue module."""

    def __init__(self, spec: RouteSpec, path_params: list[str], source: HandlerSource, module: types.ModuleType,
                 label: str) -> None:
        self.spec = spec
        self.path_params = path_params
        self.source = source
        self.module = module
        self.label = label


@final
class SourceBinder(Binder):
    """Build mode: bind each name with a module-level line of source."""

    typed = True  # mypy has checked every handler before this glue is compiled
    inline_query = True

    def __init__(self, route: GlueRoute, index: int, importer: Importer, lines: list[str],
                 origins: dict[str, tuple[Path, int]], kept: list[KeptDefault] | None = None) -> None:
        super().__init__(route.spec, prefix=f"_r{index}")
        self.route = route
        self.importer = importer
        self.lines = lines
        self.origins = origins
        self.kept = kept if kept is not None else []
        self.sources: dict[Any, tuple[HandlerSource, types.ModuleType]] = {}

    def _source(self, p: ParamSpec) -> tuple[HandlerSource, types.ModuleType]:
        """The source the parameter is declared in: the handler's, or its dependency provider's."""
        if p.owner is None:
            return self.route.source, self.route.module
        return self._read(p.owner)

    def _read(self, fn: Any) -> tuple[HandlerSource, types.ModuleType]:
        found = self.sources.get(fn)
        if found is None:
            src = read_handler(fn)
            found = self.sources[fn] = (src, sys.modules[src.scope])
        return found

    def annotation(self, p: ParamSpec) -> str:
        """``p``'s annotation as an expression of the glue module."""
        return self._annotation(p)

    def _annotation(self, p: ParamSpec) -> str:
        source, module = self._source(p)
        node = source.annotations.get(p.name)
        if node is None:
            return "str"  # unannotated parameters are strings, as in interpreted mode
        text = self.importer.expr(node, module)
        if typing.get_origin(p.annotation) is typing.Annotated:
            # Constraints (a marker's, or other metadata) are validated too, as the interpreted plan does.
            metadata = list(source.metadata.get(p.name, []))
            marker = source.defaults.get(p.name)
            if p.marker_default and marker is not None:
                metadata.append(marker)  # the marker is the default: its constraints apply all the same
            extra = [self.importer.expr(m, module, annotation=False) for m in metadata]
            text = f"Annotated[{', '.join([text, *extra])}]" if extra else text
        return text

    def provider(self, dep: DepSpec) -> str:
        src, _ = self._read(dep.provider)
        return self._callable(src)

    def _callable(self, src: HandlerSource) -> str:
        """How the glue names a handler or provider: as imported, or bound as ``Any`` when it is untyped."""
        if src.typed:
            return self.importer.alias(src.module, src.name)
        return self.importer.untyped_alias(src.module, src.name)

    def security_scopes(self) -> str:
        return self.importer.alias("covet.security.oauth2", "SecurityScopes")

    def exception_handler(self, index: int, pair: tuple[type[BaseException], Any]) -> tuple[str, str]:
        cls, handler = pair
        for what, obj in (("exception class", cls), ("exception handler", handler)):
            if getattr(obj, "__qualname__", None) != getattr(obj, "__name__", None):
                raise SourceError(
                    f"{what} {obj.__qualname__} is not defined at module level, so the glue cannot import it")
        return (self.importer.alias(cls.__module__, cls.__name__),
                self.importer.alias(handler.__module__, handler.__name__))

    def handler(self) -> str:
        return self._callable(self.route.source)

    def origin(self, fn: Any) -> str:
        src, _ = self._read(fn)
        key = f"{src.module}:{src.name}"
        self.origins[key] = (src.path, src.line)
        return f"  {ORIGIN_MARK}{key}"

    def validator(self, p: ParamSpec, json: bool, rereads: bool = False) -> str:
        name = f"{self.prefix}_V{'P' if rereads else ''}_{p.local}"
        maker = "json_validator" if json else "validator"
        self.lines.append(f"{name}: Final = {maker}({self._annotation(p)})")
        return name

    def class_ref(self, cls: type) -> str | None:
        try:
            return self._type(cls)
        except SourceError:
            return None  # defined where the glue cannot import it: its results take pydantic-core's path

    def scalar_table(self, p: ParamSpec) -> str | None:
        if gluekit.scalar_table(p.annotation) is None:
            return None
        name = f"{self.prefix}_S_{p.local}"
        self.lines.append(f"{name}: Final[dict[str, Any]] = scalar_table({self._annotation(p)}) or {{}}")
        return name

    def text_validator(self, p: ParamSpec) -> str:
        name = f"{self.prefix}_T_{p.local}"
        self.lines.append(f"{name}: Final = text_validator({self._annotation(p)})")
        return name

    def model_validator(self, p: ParamSpec) -> str:
        names: list[str] = []
        for cls in [p.model] if p.model is not None else p.choices:
            module, short = cls.__module__, cls.__name__
            if cls.__qualname__ != short or getattr(sys.modules.get(module), short, None) is not cls:
                raise SourceError(f"{self.route.label} the model {cls.__qualname__} of parameter {p.name!r} is not "
                                  "defined at module level, so the glue cannot import it")
            names.append(self.importer.alias(module, short))
        tp = names[0]
        if p.model is None:
            union = self.importer.alias("covet.runtime.parammodels", "form_union")
            tp = f"{union}(({', '.join(names)},), {optional_model(p)!r}, {discriminator(p)!r})"
        name = f"{self.prefix}_M_{p.local}"
        self.lines.append(f"{name}: Final = validator({tp})")
        return name

    def fields(self, p: ParamSpec) -> tuple[str, str, list[str]] | None:
        names = gluekit.dataclass_fields(p.annotation)
        if names is None:
            return None
        name = f"{self.prefix}_A_{p.local}"
        cls = self._annotation(p)
        self.lines.append(f"{name}: Final = fields_validator({cls})")
        return name, cls, names

    def default(self, p: ParamSpec) -> str:
        name = f"{self.prefix}_D_{p.local}"
        source, module = self._source(p)
        node = source.defaults.get(p.name)
        if node is None:
            raise SourceError(f"{self.route.label} the default of {p.name!r} is not in the source")
        if p.marker_default:
            node = _marker_default(node, self.route.label, p.name)
        elif not literal(node) and keepable(source_text(source.path), node):
            # Evaluated again here, a call would run twice, a name could have been bound again since: the glue
            # takes the value the ``def`` computed (covet/runtime/kept.py).
            key = f"{source.scope}:{node.lineno}:{node.col_offset}"
            self.kept.append(KeptDefault(source.path, node, key))
            take = self.importer.alias(kept.__name__, "kept")
            self.lines.append(f"{name}: Final[Any] = {take}({key!r}, {self._callable(source)}, {p.name!r})")
            return name
        self.lines.append(f"{name}: Final[Any] = {self.importer.expr(node, module, annotation=False)}")
        return name

    def _returns(self) -> str | None:
        """The declared result type as an expression of the glue: the route's response_model, a generator's item
        type, or the handler's return annotation."""
        if self.spec.result.model is not UNSET or self.spec.streams_items:  # (a generator's: its item type)
            return self._type(self.spec.return_annotation)
        node = self.route.source.returns
        if node is None:
            return None
        return self.importer.expr(node, self.route.module)

    def _type(self, tp: Any) -> str:
        """A type object (a response_model) as an expression of the glue, its classes imported."""
        if tp is None or tp is type(None):
            return "None"
        if tp is Any:
            return "Any"
        origin = typing.get_origin(tp)
        if origin is not None:
            args = typing.get_args(tp)
            if origin is typing.Union or origin is types.UnionType:
                return " | ".join(self._type(a) for a in args)
            if origin is typing.Annotated:
                raise SourceError(f"{self.route.label} response_model {tp!r}: write it without Annotated to compile")
            return f"{self._type(origin)}[{', '.join(self._type(a) for a in args)}]"
        if isinstance(tp, type):
            cls: type[Any] = tp
            if cls.__module__ == "builtins":
                return cls.__name__
            home = sys.modules.get(cls.__module__)
            if cls.__qualname__ != cls.__name__ or getattr(home, cls.__name__, None) is not cls:
                raise SourceError(f"{self.route.label} response_model {cls.__qualname__} is not defined at module "
                                  "level, so the glue cannot import it")
            return self.importer.alias(cls.__module__, cls.__name__)
        raise SourceError(f"{self.route.label} response_model {tp!r} cannot be written in the glue")

    def serializer(self) -> str | None:
        try:
            pydantic.TypeAdapter(self.spec.return_annotation)
        except Exception:
            return None  # the interpreted plan encodes such results dynamically too
        returns = self._returns()
        if returns is None:
            return None
        name = f"{self.prefix}_SER"
        options = "".join(f", {k}={v!r}" for k, v in self.spec.result.serialize_options().items())
        self.lines.append(f"{name}: Final = serializer({returns}{options})")
        return name

    def result_validator(self) -> str:
        returns = self._returns()
        assert returns is not None  # only asked after serializer() found the annotation
        name = f"{self.prefix}_RV"
        self.lines.append(f"{name}: Final = result_validator({returns})")
        return name

    def result_class(self) -> str:
        returns = self._returns()
        assert returns is not None
        return returns

    def response_class(self) -> str:
        cls = self.spec.result.response_class
        assert cls is not None
        return self._type(cls)


def _marker_default(node: ast.expr, label: str, name: str) -> ast.expr:
    """The default a marker written as a parameter's default holds: ``Query(None)``, ``Query(default=None)``."""
    if isinstance(node, ast.Call):
        if node.args:
            return node.args[0]
        for kw in node.keywords:
            if kw.arg == "default":
                return kw.value
    raise SourceError(f"{label} the default of {name!r} is a marker whose default the build cannot read; "
                      f"write it as {name}: Annotated[T, Marker(...)] = default")


# The gluekit names glue uses as types (annotations, except clauses), and ``partial``, which mypy checks against
# the function it wraps only under its own name; every other one is a value.
_TYPE_NAMES = frozenset({"ConnectionInfo", "Request", "RequestBody", "ValidationError", "Reply", "BackgroundTasks",
                         "HTTPError", "partial"})


def _grpc_types(binder: SourceBinder, route: GlueRoute) -> str:
    """A typed gRPC method's row names its messages: its handler, compiled, no longer has its annotations."""
    spec = route.spec
    if spec.method != GRPC_METHOD:
        return ""
    returns = route.source.returns
    if returns is None:
        raise SourceError(f"{route.label} a gRPC method declares its reply")
    return f", grpc_types=({binder.annotation(spec.params[0])}, {binder.importer.expr(returns, route.module)})"


def write_glue_module(routes: list[GlueRoute], out_dir: Path, header: str, errors: ErrorHandlers = (),
                      strict_json: bool = True, direct: Iterable[str] = (),
                      kept: list[KeptDefault] | None = None) -> tuple[Path, dict[str, tuple[Path, int]]]:
    """Write ``covet_glue.py``; returns its path, and where each function its lines mark as called is defined
    (``ORIGIN_MARK``), for the type checker to point at. ``strict_json``: the application's
    ``strict_content_type``; ``direct``: the handlers compiled calls reach as C functions (``directcalls``), named
    in the module so that a change to them rebuilds it; ``kept`` is given the defaults the glue takes from their
    functions, for the build to wrap."""
    importer = Importer()
    bindings: list[str] = []
    functions: list[str] = []
    origins: dict[str, tuple[Path, int]] = {}
    table: list[str] = []
    for i, route in enumerate(routes):
        binder = SourceBinder(route, i, importer, bindings, origins, kept)
        fname = f"glue_{i}_{route.source.name}"
        spec = route.spec
        functions.append(glue_source(spec, binder, route.path_params, fname, label=route.label, errors=errors,
                                     strict_json=strict_json))
        table.append(f"    RouteRow(method={spec.method!r}, path={spec.path!r}, glue={fname}, "
                     f"is_async={glue_is_async(spec, errors)!r}, label={route.label!r}, "
                     f"uses_conn={uses_connection(spec)!r}, "
                     f"reads_headers={reads_headers(spec) or bool(errors)!r}, "
                     f"reads_content_type={reads_content_type(spec)!r}, streams_body={reads_stream(spec)!r}"
                     f"{_grpc_types(binder, route)}),")
    # Classes are imported (they appear in annotations and except clauses); every other helper is
    # bound Final, which mypyc keeps in a C static instead of looking it up in the module's dict per use.
    classes = sorted(n for n in gluekit.__all__ if n in _TYPE_NAMES)
    finals = [f"{n}: Final = _gk.{n}" for n in sorted(gluekit.__all__) if n not in classes]
    text = "\n".join([
        f'"""{header}"""',
        "",
        "from typing import Annotated, Any, Final",
        "",
        "from covet.manifest import RouteRow",
        "from covet.runtime import gluekit as _gk",
        f"from covet.runtime.gluekit import {', '.join(classes)}",
        *importer.lines(),
        "",
        *(textwrap.wrap("Handlers called as C functions (covet.compiler.directcalls): " + ", ".join(sorted(direct)),
                        116, initial_indent="# ", subsequent_indent="#   ", break_on_hyphens=False) if direct else []),
        *finals,
        "",
        *bindings,
        "",
        "",
        "\n\n".join(functions),
        "",
        "# The build layout this module was written for (covet.manifest.SCHEMA); serving checks it.",
        f"SCHEMA: Final = {SCHEMA}",
        "",
        "# Every compiled route.",
        "ROUTES: list[RouteRow] = [",
        *table,
        "]",
        "",
    ])
    path = out_dir / f"{GLUE_MODULE}.py"
    if not path.exists() or path.read_text() != text:
        path.write_text(text)  # untouched when unchanged, so incremental builds skip it
    return path, origins


def write_preload_module(out_dir: Path, header: str, modules: Sequence[str]) -> Path | None:
    """Write ``covet_preload.py``, which imports ``modules`` (see ``base_modules``); None when there are none.

    mypyc looks a base class up in the module that defines it (``pydantic.main`` for ``BaseModel``), through a C
    variable of the compiled group that only an ``import`` of that module by a compiled module declares and fills:
    a module that wrote ``from pydantic import BaseModel`` alone would neither compile nor find its base. This
    module, compiled in the same group and imported before the application (``covet.runtime.compiled.prepare``),
    does both.
    """
    path = out_dir / f"{PRELOAD_MODULE}.py"
    if not modules:
        path.unlink(missing_ok=True)
        return None
    text = "\n".join([f'"""{header}"""', "", *(f"import {m}" for m in modules), ""])
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def base_modules(modules: Iterable[types.ModuleType]) -> list[str]:
    """The modules defining the bases of the classes ``modules`` define, where those bases are typed and live
    outside them (see ``write_preload_module``)."""
    modules = list(modules)
    own = {m.__name__ for m in modules}
    found: set[str] = set()
    for module in modules:
        imported = imported_names(module)  # a module the source imports itself is declared already
        for value in list(vars(module).values()):
            if not isinstance(value, type) or value.__module__ != module.__name__:
                continue
            for base in value.__bases__:
                name = base.__module__
                if name in own or name in imported or name == "builtins" or name in found or name not in sys.modules:
                    continue
                if _typed(name):
                    found.add(name)
    return sorted(found)


def _typed(name: str) -> bool:
    """Whether mypy reads the package of module ``name`` (it ships ``py.typed``, or is the standard library's)."""
    top = sys.modules.get(name.partition(".")[0])
    file = getattr(top, "__file__", None)
    if not isinstance(file, str):
        return name.partition(".")[0] in sys.stdlib_module_names
    if name.partition(".")[0] in sys.stdlib_module_names:
        return True
    return (Path(file).parent / "py.typed").is_file()
