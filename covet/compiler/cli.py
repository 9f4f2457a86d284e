"""The ``covet build``, ``covet check`` and ``covet explain`` commands."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from covet.compiler.build import BuildResult, build
from covet.compiler.typecheck import Diagnostic
from covet.manifest import GLUE_MODULE

__all__ = ["run"]


def run(args: argparse.Namespace) -> int:
    if args.command in ("build", "check"):
        try:
            import mypy.version  # noqa: F401
        except ImportError:
            print("covet: error: covet build needs the compiler: pip install 'covetpy[build]'", file=sys.stderr)
            return 2
    if args.command == "build":
        return _build(args)
    if args.command == "check":
        return _check(args)
    return _explain(args)


def _print_text(result: BuildResult) -> None:
    for d in result.diagnostics:
        if not d.internal:
            print(d.text(), file=sys.stderr)
    for item in result.not_compiled:
        print(f"covet: note: module {item['module']} not compiled natively: {item['reason']}; {item['fix']}",
              file=sys.stderr)
    for note in result.notes:
        print(f"covet: note: {note}", file=sys.stderr)
    if result.internal_error:
        print(f"covet: INTERNAL ERROR: {result.internal_error}", file=sys.stderr)
        for d in result.diagnostics:
            if d.internal:
                print(f"  {d.text()}", file=sys.stderr)


def _progress(stage: str) -> None:
    print(f"covet: {stage}...", file=sys.stderr, flush=True)


def _build(args: argparse.Namespace) -> int:
    result = build(args.app, Path(args.out), annotate=args.annotate, strict=args.strict,
                   progress=None if args.quiet else _progress)
    _print_text(result)
    if not result.ok:
        errors = sum(1 for d in result.diagnostics if d.severity == "error")
        print(f"covet: build failed ({errors} error{'s' if errors != 1 else ''})" if errors else "covet: build failed",
              file=sys.stderr)
        return 1
    glue_only = (f" ({result.interpreted_handlers} of them compiled glue calling an interpreted handler)"
                 if result.interpreted_handlers else "")
    grpc = f" and {result.compiled_grpc} gRPC methods" if result.compiled_grpc else ""
    left = len(result.not_compiled)
    interpreted = f"; {left} module{'s' if left != 1 else ''} left interpreted (notes above)" if left else ""
    if result.up_to_date:
        print(f"covet: nothing changed since the build in {result.out_dir}: kept it ({result.compiled_routes} routes"
              f"{glue_only}{grpc}{interpreted}) in {result.seconds:.1f}s", file=sys.stderr)
        return 0
    stages = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in result.stages.items())
    print(f"covet: built {result.compiled_routes} routes{glue_only}{grpc} into {result.out_dir} in "
          f"{result.seconds:.1f}s ({stages}){interpreted}", file=sys.stderr)
    if args.annotate:
        print(f"covet: mypyc's report of slow operations: {result.out_dir / 'annotate.html'}", file=sys.stderr)
    return 0


def _check(args: argparse.Namespace) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="covet-check-"))
    result: BuildResult | None = None
    try:
        result = build(args.app, tmp, strict=args.strict)
    finally:
        glue = tmp / f"{GLUE_MODULE}.py"
        if result is not None and result.internal_error and glue.is_file():
            # The error names this glue for the report: it stays, the rest of the build goes.
            for entry in tmp.iterdir():
                if entry != glue:
                    if entry.is_dir():
                        shutil.rmtree(entry, ignore_errors=True)
                    else:
                        entry.unlink(missing_ok=True)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    errors = [d for d in result.diagnostics if d.severity == "error"]
    if args.format == "json":
        print(json.dumps({
            "ok": result.ok,
            "diagnostics": [_as_dict(d) for d in result.diagnostics],
            "not_compiled": result.not_compiled,
            "internal_error": result.internal_error,
        }, indent=2))
    elif args.format == "github":
        for d in result.diagnostics:
            level = "error" if d.severity == "error" else "notice"
            message = f"{d.message} {d.route}".strip().replace("%", "%25").replace("\n", "%0A")
            print(f"::{level} file={d.path},line={d.line}::{message}" if d.path else f"::{level}::{message}")
        if result.internal_error:
            print(f"::error::covet INTERNAL ERROR: {result.internal_error.splitlines()[0]}")
    else:
        _print_text(result)
        if result.ok:
            print(f"covet: check passed ({result.compiled_routes} routes compile)", file=sys.stderr)
    return 0 if result.ok and not errors else 1


def _as_dict(d: Diagnostic) -> dict[str, object]:
    return {"path": d.path, "line": d.line, "severity": d.severity, "message": d.message, "route": d.route,
            "internal": d.internal}


def _explain(args: argparse.Namespace) -> int:
    method, _, path = args.route.strip().partition(" ")
    if not path:
        print('covet: error: give the route as "METHOD /path", e.g. "GET /users/{user_id}"', file=sys.stderr)
        return 2
    if args.app:
        from covet.loader import load_app

        for plan in load_app(args.app).plans:
            if plan.spec is not None and plan.spec.method == method.upper() and plan.spec.path == path:
                print(plan.source, end="")
                return 0
        print(f"covet: error: no route {method.upper()} {path}", file=sys.stderr)
        return 1
    glue = Path(args.build_dir) / "covet_glue.py"
    if not glue.exists():
        print(f"covet: error: no build in {args.build_dir}; give --app MODULE:ATTR to see the interpreted glue",
              file=sys.stderr)
        return 1
    marker = f"from {method.upper()} {path};"
    blocks = glue.read_text().split("\n\n\n")
    for block in blocks:
        if marker in block:
            print(block.strip() + "\n")
            return 0
    print(f"covet: error: no compiled route {method.upper()} {path} in {glue}", file=sys.stderr)
    return 1
