"""The ``covet`` command: serve an application, list its routes."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from covet.exceptions import RouteDefinitionError
from covet.loader import AppLoadError, load_app

__all__ = ["main", "load_app"]


def _version() -> str:
    from covet import __version__, _native
    from covet.runtime import RUNTIME_COMPILED

    runtime = "compiled" if RUNTIME_COMPILED else "interpreted"
    return f"covet {__version__} (runtime={runtime}, native parser={os.path.basename(_native.__file__ or '?')})"


def _cmd_serve(args: argparse.Namespace) -> int:
    from pathlib import Path

    from covet import __version__
    from covet.runtime import compiled
    from covet.runtime.config import Config
    from covet.runtime.server import LoopUnavailable, serve

    manifest = None
    if args.compiled != "off":
        try:
            manifest = compiled.prepare(Path(args.build_dir), args.app, __version__)
        except compiled.BuildMismatch as exc:
            if args.compiled == "require":
                print(f"covet: error: --compiled=require: {exc}", file=sys.stderr)
                return 2
            if Path(args.build_dir).exists():
                print(f"covet: warning: running interpreted: {exc}", file=sys.stderr)
    app = load_app(args.app)
    mode = "interpreted"
    if manifest is not None:
        try:
            count = compiled.attach(app, manifest, Path(args.build_dir))
        except (compiled.BuildMismatch, RouteDefinitionError) as exc:
            print(f"covet: error: the build does not fit: {exc} (run: covet build {args.app})", file=sys.stderr)
            return 2
        mode = f"compiled, {count}/{sum(len(r.methods) for r in app.routes)} routes compiled"
    config = Config(
        max_body=args.max_body,
        max_upload=args.max_upload,
        body_buffer=args.body_buffer,
        max_target=args.max_target,
        max_header_bytes=args.max_header_bytes,
        max_headers=args.max_headers,
        keepalive_timeout=args.keepalive_timeout,
        header_timeout=args.header_timeout,
        body_timeout=args.body_timeout,
        graceful_timeout=args.graceful_timeout,
        server_header=app.server_header,
        access_log=args.access_log_format if args.access_log else None,
        request_id_header=args.request_id_header,
    )
    try:
        serve(app, args.host, args.port, loop=args.loop, config=config, mode=mode)
    except LoopUnavailable as exc:
        print(f"covet: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"covet: error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


def _configure_access_log(log_config: str | None, json_lines: bool) -> None:
    """``covet.access`` gets its own handler (uvicorn's line prefix, on stderr); a --log-config file comes after, so
    it may route the logger elsewhere. Raises what reading or applying the file raises."""
    import logging.config

    from covet.runtime.accesslog import ACCESS_LOGGER, default_handler

    access = logging.getLogger(ACCESS_LOGGER)
    access.handlers[:] = [default_handler(json_lines)]
    access.propagate = False
    access.setLevel(logging.INFO)
    if log_config is None:
        return
    with open(log_config, encoding="utf-8") as f:
        text = f.read()
    if log_config.endswith((".yaml", ".yml")):
        import importlib

        try:
            # (imported by name: PyYAML is an optional extra, and its type stubs are not a dependency)
            yaml = importlib.import_module("yaml")
        except ImportError:
            raise ImportError("a YAML log config needs PyYAML: pip install 'covetpy[yaml]'") from None
        conf = yaml.safe_load(text)
    else:
        import json

        conf = json.loads(text)
    if not isinstance(conf, dict):
        raise ValueError("a dictConfig must be a mapping")
    conf.setdefault("version", 1)
    conf.setdefault("disable_existing_loggers", False)
    logging.config.dictConfig(conf)


def _cmd_routes(args: argparse.Namespace) -> int:
    app = load_app(args.app)
    rows = []
    for plan in app.plans:
        spec = plan.spec
        if spec is None:
            continue
        params = ", ".join(f"{p.name}:{p.source}" for p in spec.params) or "-"
        rows.append((spec.method, spec.path, plan.label.split(" -> ", 1)[1].rstrip("]"), params))
    width = max((len(r[0]) for r in rows), default=4)
    pwidth = max((len(r[1]) for r in rows), default=4)
    for method, path, where, params in sorted(rows, key=lambda r: (r[1], r[0])):
        print(f"{method:<{width}}  {path:<{pwidth}}  {where}  ({params})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="covet", description="CovetPy: typed Python APIs on a native HTTP core.")
    parser.add_argument("--version", action="store_true", help="print the version and runtime facts")
    sub = parser.add_subparsers(dest="command")

    p_serve = sub.add_parser("serve", help="serve an application")
    p_serve.add_argument("app", help="MODULE:ATTR of the covet.Covet application")
    p_serve.add_argument("--host", default="127.0.0.1")
    p_serve.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    p_serve.add_argument("--loop", default="auto", choices=["auto", "uring", "uvloop", "asyncio"],
                         help="auto (default): io_uring where the kernel supports it, else uvloop")
    p_serve.add_argument("--max-body", type=int, default=1 << 20,
                         help="largest request body held in memory, in bytes (413)")
    p_serve.add_argument("--max-upload", type=int, default=100 << 20,
                         help="largest body, in bytes, streamed to a route with file or form parameters or a "
                              "Request (413)")
    p_serve.add_argument("--body-buffer", type=int, default=64 << 20,
                         help="most bytes of streamed bodies held unread, all connections together")
    p_serve.add_argument("--max-target", type=int, default=8192, help="longest request target in bytes (414)")
    p_serve.add_argument("--max-header-bytes", type=int, default=65536, help="largest header section (431)")
    p_serve.add_argument("--max-headers", type=int, default=100, help="most header fields (431)")
    p_serve.add_argument("--keepalive-timeout", type=float, default=5.0)
    p_serve.add_argument("--header-timeout", type=float, default=10.0)
    p_serve.add_argument("--body-timeout", type=float, default=60.0)
    p_serve.add_argument("--graceful-timeout", type=float, default=10.0)
    p_serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p_serve.add_argument("--access-log", action=argparse.BooleanOptionalAction, default=True,
                         help="log every response on the covet.access logger (default: on)")
    p_serve.add_argument("--access-log-format", default="line", choices=["line", "json"],
                         help="line: uvicorn's; json: one object a line (docs/logging.md)")
    p_serve.add_argument("--request-id-header", action="store_true",
                         help="answer every response with its request id (x-request-id); off by default")
    p_serve.add_argument("--log-config", metavar="FILE",
                         help="a logging dictConfig, JSON or YAML (.yaml/.yml), applied after the defaults")
    p_serve.add_argument("--compiled", default="auto", choices=["auto", "require", "off"],
                         help="use the build from `covet build` (auto: when it matches the sources)")
    p_serve.add_argument("--build-dir", default=".covet/build")

    p_build = sub.add_parser("build", help="type-check and compile an application with mypyc")
    p_build.add_argument("app", help="MODULE:ATTR of the covet.Covet application")
    p_build.add_argument("--out", default=".covet/build", help="build directory")
    p_build.add_argument("--annotate", action="store_true", help="write mypyc's HTML report of slow operations")

    p_check = sub.add_parser("check", help="type-check and compile into a temporary directory (for CI)")
    p_check.add_argument("app", help="MODULE:ATTR of the covet.Covet application")
    p_check.add_argument("--format", default="text", choices=["text", "json", "github"])

    p_explain = sub.add_parser("explain", help="print the glue of a route")
    p_explain.add_argument("route", help='e.g. "GET /users/{user_id}"')
    p_explain.add_argument("--app", help="MODULE:ATTR; without it, the build in --build-dir is read")
    p_explain.add_argument("--build-dir", default=".covet/build")

    p_routes = sub.add_parser("routes", help="list an application's routes")
    p_routes.add_argument("app", help="MODULE:ATTR of the covet.Covet application")

    args = parser.parse_args(argv)
    if args.version:
        print(_version())
        return 0
    if args.command is None:
        parser.print_help()
        return 2
    logging.basicConfig(
        level=getattr(logging, getattr(args, "log_level", "info").upper()),
        format="covet: %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        if args.command == "serve":
            _configure_access_log(args.log_config, args.access_log_format == "json")
    except (OSError, ValueError, TypeError, AttributeError, ImportError) as exc:
        print(f"covet: error: --log-config {args.log_config}: {exc}", file=sys.stderr)
        return 2
    try:
        if args.command == "serve":
            return _cmd_serve(args)
        if args.command in ("build", "check", "explain"):
            from covet.compiler import cli as compiler_cli

            return compiler_cli.run(args)
        return _cmd_routes(args)
    except AppLoadError as exc:
        print(f"covet: error: {exc}", file=sys.stderr)
        return 2
    except RouteDefinitionError as exc:
        print(f"covet: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
