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


def _positive(text: str) -> int:
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return n


def _cmd_serve(args: argparse.Namespace) -> int:
    from pathlib import Path

    from covet import __version__
    from covet.runtime import compiled
    from covet.runtime.config import Config
    from covet.runtime.proxy import Trust
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
    try:
        Trust.from_option(args.forwarded_allow_ips)
    except ValueError as exc:
        print(f"covet: error: {exc}", file=sys.stderr)
        return 2
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
        # Behind a proxy (docs/proxies.md); the app's own server_header unless --server-header/--no-server-header.
        server_header=app.server_header if args.server_header is None else (
            (app.server_header or "covet") if args.server_header else None),
        date_header=args.date_header,
        proxy_headers=args.proxy_headers,
        forwarded_allow_ips=args.forwarded_allow_ips,
        root_path=args.root_path,
        limit_concurrency=args.limit_concurrency,
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
    # Behind a proxy (docs/proxies.md): uvicorn's names and defaults.
    p_serve.add_argument("--proxy-headers", action=argparse.BooleanOptionalAction, default=True,
                         help="believe X-Forwarded-For/-Proto/-Host and Forwarded from --forwarded-allow-ips "
                              "(default: on)")
    p_serve.add_argument("--forwarded-allow-ips", default=None, metavar="IPS",
                         help="comma-separated addresses and networks trusted with proxy headers, '*' for all "
                              "(default: $FORWARDED_ALLOW_IPS or 127.0.0.1)")
    p_serve.add_argument("--root-path", default="", help="where a path-stripping proxy mounts the application")
    p_serve.add_argument("--limit-concurrency", type=_positive, default=None, metavar="N",
                         help="past N open connections (so N requests in flight), answer 503")
    p_serve.add_argument("--server-header", action=argparse.BooleanOptionalAction, default=None,
                         help="send the Server header (default: the app's server_header)")
    p_serve.add_argument("--date-header", action=argparse.BooleanOptionalAction, default=True,
                         help="send the Date header (default: on)")
    p_serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
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
