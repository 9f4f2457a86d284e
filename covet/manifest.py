"""The contract between ``covet build`` and ``covet serve``: what a build holds and was made from.

Both paths import this module and nothing else of each other. A build is used
only when every source it was made from is unchanged, it was made by this
Python, this CovetPy and the pinned compiler, and its manifest and glue module
were written for this ``SCHEMA``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
import sysconfig
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, NamedTuple

__all__ = ["Manifest", "SCHEMA", "MANIFEST_NAME", "DEFAULT_BUILD_DIR", "file_hash", "python_tag", "GLUE_MODULE",
           "PRELOAD_MODULE", "OPENAPI_NAME", "RouteRow", "SchemaMismatch", "check_schema", "GRPC_METHOD"]

# The layout of a build: the manifest's fields and the glue module's ROUTES rows. Bump it with any change to
# either, so a build made before the change is refused instead of misread.
# 2: the glue module records SCHEMA; ROUTES rows are RouteRow (were bare 8-tuples).
# 3: RouteRow.json_body, the route's JSON body parameters (covet/jsonbody.py).
# 4: RouteRow.json_body gone: the glue itself checks a JSON body's Content-Type (RouteRow.reads_content_type).
#    The manifest says of each route whether its handler is compiled ("handler_compiled") or runs interpreted behind
#    compiled glue.
# 5: RouteRow.grpc_types, a typed gRPC method's request and reply annotations (a compiled handler has none).
# 6: the manifest's build_key, what a rebuild compares to know it has nothing to do.
SCHEMA: Final = 6
# A typed gRPC method's route (covet.grpc) in the glue and its ROUTES rows: its glue is handed the call's message (or
# message stream) where a body would be, and returns what the handler returns, unencoded.
GRPC_METHOD: Final = "GRPC"
MANIFEST_NAME: Final = "covet-manifest.json"
DEFAULT_BUILD_DIR: Final = ".covet/build"
GLUE_MODULE: Final = "covet_glue"
# Imported before the application's modules, when a build has it: see covet.compiler.gluegen.write_preload_module.
PRELOAD_MODULE: Final = "covet_preload"
OPENAPI_NAME: Final = "openapi.json"  # the application's OpenAPI document, written by the build


class RouteRow(NamedTuple):
    """One compiled route in the glue module's ``ROUTES``: written by the build, read by ``Covet.use_compiled``."""

    method: str
    path: str
    glue: Callable[..., Any]
    is_async: bool
    label: str
    uses_conn: bool  # the glue takes the connection (ConnectionInfo)
    reads_headers: bool  # the glue reads the request's headers, or an exception handler may
    reads_content_type: bool  # the glue reads the Content-Type of a JSON body
    streams_body: bool  # the glue reads the body as a stream
    # A typed gRPC method's (covet.grpc): its first parameter's annotation and its result's.
    grpc_types: tuple[Any, Any] | None = None


class SchemaMismatch(ValueError):
    """A manifest or glue module written for another ``SCHEMA``."""


def check_schema(found: object, what: str) -> None:
    """Raise ``SchemaMismatch`` unless ``what`` (e.g. "the manifest") was written for this ``SCHEMA``."""
    if found != SCHEMA:
        made = "records no build schema" if found is None else f"was written for build schema {found}"
        raise SchemaMismatch(f"{what} {made}; this CovetPy reads schema {SCHEMA}")


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def python_tag() -> str:
    """The ABI compiled code is tied to, e.g. ``cpython-311-x86_64-linux-gnu``."""
    fallback = f"{sys.implementation.name}-{sys.version_info[0]}{sys.version_info[1]}"
    return str(sysconfig.get_config_var("SOABI") or fallback)


@dataclasses.dataclass
class Manifest:
    """What one build is: its inputs, its tools, and what it compiled."""

    app: str
    covet_version: str
    python: str
    mypy_version: str
    sources: dict[str, str]  # source path (relative to root) -> sha256
    compiled_modules: list[str]
    routes: list[dict[str, Any]]  # method, path, handler, compiled
    not_compiled: list[dict[str, str]]  # module, reason, fix
    root: str
    # The build's notes on functions of compiled modules that run interpreted (async generators), said again by a
    # rebuild that keeps the build.
    interpreted_functions: list[str] = dataclasses.field(default_factory=list)
    # A digest of everything the build read (sources, tools, options, CovetPy's own code): the same key, and the
    # build's files in place, mean a rebuild would write the same build.
    build_key: str = ""
    schema: int = SCHEMA

    def save(self, build_dir: Path) -> Path:
        path = build_dir / MANIFEST_NAME
        path.write_text(json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def load(cls, build_dir: Path) -> Manifest:
        data = json.loads((build_dir / MANIFEST_NAME).read_text())
        check_schema(data.get("schema"), "its manifest")
        return cls(**data)

    def stale(self, covet_version: str, mypy_version: str | None = None) -> list[str]:
        """Why this build cannot be used here; empty when it can."""
        why = []
        if self.covet_version != covet_version:
            why.append(f"built by CovetPy {self.covet_version}, this is {covet_version}")
        if self.python != python_tag():
            why.append(f"built for {self.python}, this Python is {python_tag()}")
        if mypy_version is not None and self.mypy_version != mypy_version:
            why.append(f"built with mypy {self.mypy_version}, the pinned one is {mypy_version}")
        root = Path(self.root)
        for rel, digest in sorted(self.sources.items()):
            path = root / rel
            if not path.exists():
                why.append(f"{rel} is gone")
            elif file_hash(path) != digest:
                why.append(f"{rel} changed since the build")
        return why
