"""The ``covet`` command: serve an application, list its routes."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from covet.app import Covet
from covet.exceptions import RouteDefinitionError

__all__ = ["main", "load_app"]


class AppLoadError(Exception):
    """The MODULE:ATTR given on the command line does not name an application."""


def load_app(target: str) -> Covet:
    """Import ``module:attr`` (``module`` alone means ``module:app``)."""
    module_name, _, attr = target.partition(":")
    attr = attr or "app"
    if not module_name:
        raise AppLoadError(f"{target!r}: expected MODULE:ATTR, e.g. app:app")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name or module_name.startswith(f"{exc.name}."):
            raise AppLoadError(f"cannot import {module_name!r}: no such module (run from the directory that holds it)") from exc
        raise
    try:
        app = getattr(module, attr)
    except AttributeError:
        raise AppLoadError(f"module {module_name!r} has no attribute {attr!r}") from None
    if not isinstance(app, Covet):
        raise AppLoadError(f"{target} is a {type(app).__name__}, not a covet.Covet application")
    return app


def _version() -> str:
    from covet import __version__
    from covet import _native

    return f"covet {__version__} (runtime=interpreted, native parser={os.path.basename(_native.__file__ or '?')})"


def _cmd_serve(args: argparse.Namespace) -> int:
    from covet.runtime.config import Config
    from covet.runtime.server import LoopUnavailable, serve

    app = load_app(args.app)
    config = Config(
        max_body=args.max_body,
        max_target=args.max_target,
        max_header_bytes=args.max_header_bytes,
        max_headers=args.max_headers,
        keepalive_timeout=args.keepalive_timeout,
        header_timeout=args.header_timeout,
        body_timeout=args.body_timeout,
        graceful_timeout=args.graceful_timeout,
        server_header=app.server_header,
    )
    try:
        serve(app, args.host, args.port, loop=args.loop, config=config)
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
    p_serve.add_argument("--loop", default="auto", choices=["auto", "uvloop", "asyncio"])
    p_serve.add_argument("--max-body", type=int, default=1 << 20, help="largest request body in bytes (413)")
    p_serve.add_argument("--max-target", type=int, default=8192, help="longest request target in bytes (414)")
    p_serve.add_argument("--max-header-bytes", type=int, default=65536, help="largest header section (431)")
    p_serve.add_argument("--max-headers", type=int, default=100, help="most header fields (431)")
    p_serve.add_argument("--keepalive-timeout", type=float, default=5.0)
    p_serve.add_argument("--header-timeout", type=float, default=10.0)
    p_serve.add_argument("--body-timeout", type=float, default=60.0)
    p_serve.add_argument("--graceful-timeout", type=float, default=10.0)
    p_serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])

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
        return _cmd_routes(args)
    except AppLoadError as exc:
        print(f"covet: error: {exc}", file=sys.stderr)
        return 2
    except RouteDefinitionError as exc:
        print(f"covet: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
