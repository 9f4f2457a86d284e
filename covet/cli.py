"""The ``covet`` command: serve an application, list its routes."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn

from covet.exceptions import RouteDefinitionError
from covet.loader import AppLoadError, load_app

if TYPE_CHECKING:
    from covet.runtime.tls import ServerTLS

__all__ = ["main", "load_app"]


def _version() -> str:
    from covet import __version__, _native
    from covet.runtime import RUNTIME_COMPILED

    runtime = "compiled" if RUNTIME_COMPILED else "interpreted"
    return f"covet {__version__} (runtime={runtime}, native parser={os.path.basename(_native.__file__ or '?')})"


_SUPERVISOR_ONLY = ("workers", "max_requests", "max_requests_jitter", "host", "port", "uds", "fd", "backlog", "reload",
                    "reload_dir")


def _cmd_supervise(args: argparse.Namespace, watch: list[str] | None = None) -> int:
    """``--workers``: bind once, then run workers that inherit the socket; with ``watch``, reload on changes."""
    from covet.runtime.listener import Listen, ListenError, describe, open_listener
    from covet.runtime.proxy import Trust
    from covet.runtime.server import LoopUnavailable, choose_loop, raise_nofile_limit
    from covet.runtime.supervisor import Supervisor, WorkerSpec, cpu_count
    from covet.runtime.tls import TLSConfigError

    # Bad flags, certificates or loops fail here, once, not in every worker.
    try:
        tls = _tls(args)
        Trust.from_option(args.forwarded_allow_ips)
        choose_loop(args.loop, tls is not None)
    except (LoopUnavailable, TLSConfigError, ValueError) as exc:
        print(f"covet: error: {exc}", file=sys.stderr)
        return 2
    raise_nofile_limit()
    try:
        sock = open_listener(Listen(host=args.host, port=args.port, uds=args.uds, fd=args.fd, backlog=args.backlog))
    except ListenError as exc:
        print(f"covet: error: {exc.strerror}", file=sys.stderr)
        return 1
    count = args.workers if args.workers else cpu_count()
    options = {k: v for k, v in vars(args).items() if k not in _SUPERVISOR_ONLY and k != "command"}
    spec = WorkerSpec(["serve", args.app], options, sock, args.max_requests, args.max_requests_jitter,
                      args.graceful_timeout, uds=args.uds if args.fd is None else None)
    scheme = "https" if tls is not None else "http"
    print(f"covet: supervisor pid {os.getpid()}: {count} worker{'s' if count != 1 else ''} on {describe(sock, scheme)} "
          "(HUP reloads, TERM drains, TTIN/TTOU add/remove a worker)", file=sys.stderr, flush=True)
    if watch is None:
        return Supervisor(spec, count).run()
    import threading

    from covet.runtime.watch import WatchUnavailable, start_watching

    stop = threading.Event()
    try:
        start_watching(watch, stop)
    except WatchUnavailable as exc:
        sock.close()
        print(f"covet: error: {exc}", file=sys.stderr)
        return 2
    print(f"covet: reloading on changes to .py files under {', '.join(watch)}", file=sys.stderr, flush=True)
    try:
        return Supervisor(spec, count, spare=False).run()
    finally:
        stop.set()


def _port(text: str) -> int:
    n = int(text)
    if not 0 <= n <= 65535:
        raise argparse.ArgumentTypeError(f"{text} is not a TCP port (0-65535)")
    return n


def _nonnegative(text: str) -> int:
    n = int(text)
    if n < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return n


def _positive(text: str) -> int:
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return n


def _cmd_serve(args: argparse.Namespace) -> int:
    from pathlib import Path

    from covet.runtime.worker_link import ARGS_ENV, WorkerLink

    link = WorkerLink.from_env()
    if link is not None:
        # A worker: the supervisor's options, on the socket it inherited (--fd).
        fd = args.fd
        for key, value in json.loads(os.environ.pop(ARGS_ENV, "{}")).items():
            setattr(args, key, value)
        args.fd, args.workers, args.max_requests = fd, None, 0
    elif args.reload:
        # One worker, interpreted (a build would be stale at the first edit), debug pages, no spare: each change
        # starts a fresh worker anyway.
        args.workers, args.compiled, args.debug = args.workers or 1, "off", True
        return _cmd_supervise(args, watch=args.reload_dir or ["."])
    elif args.workers is not None or args.max_requests:
        return _cmd_supervise(args)

    from covet import __version__
    from covet.health import install as install_probes
    from covet.runtime import compiled
    from covet.runtime.config import Config
    from covet.runtime.listener import Listen, ListenError
    from covet.runtime.proxy import Trust
    from covet.runtime.server import LoopUnavailable, serve
    from covet.runtime.tls import TLSConfigError

    try:
        tls = _tls(args)
        Trust.from_option(args.forwarded_allow_ips)
    except (TLSConfigError, ValueError) as exc:
        print(f"covet: error: {exc}", file=sys.stderr)
        return 2
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
    # (A method and path declared twice is served once, by the first: FastAPI's order.)
    declared = len({(m, r.path) for r in app.routes for m in r.served_as})
    # Before the build is attached: a route added after it would drop the OpenAPI document the build ships.
    install_probes(app, args.health_path, args.ready_path)
    if args.metrics:
        from covet.metrics import install as install_metrics

        install_metrics(app, args.metrics_path)
    mode = "interpreted"
    if manifest is not None:
        try:
            count = compiled.attach(app, manifest, Path(args.build_dir))
        except (compiled.BuildMismatch, RouteDefinitionError) as exc:
            print(f"covet: error: the build does not fit: {exc} (run: covet build {args.app})", file=sys.stderr)
            return 2
        left = compiled.uncompiled(app, manifest)
        if left and args.compiled == "require":
            print(f"covet: error: --compiled=require, but {len(left)} of the application's routes' handlers would run "
                  f"interpreted: " + "; ".join(left[:5]) + ("; ..." if len(left) > 5 else "")
                  + " (fix those modules, or serve with --compiled auto)", file=sys.stderr)
            return 2
        # A route whose glue is compiled but whose handler's module is not counts apart: it is not compiled whole.
        glue_only = compiled.interpreted_handlers(manifest)
        mode = f"compiled, {count - glue_only}/{declared} routes compiled"
        if glue_only:
            mode += f", {glue_only}/{declared} compiled glue calling an interpreted handler"
        methods = len(app.grpc_handlers) + len(app.grpc_methods)
        if methods:
            mode += f", {compiled.compiled_grpc(app, manifest)}/{methods} gRPC methods compiled"
    if link is not None and not link.stand_by():
        return 0  # a spare the supervisor let go of
    if getattr(args, "debug", False):
        app.debug = True
    if args.tracing:
        from covet.tracing import TracingUnavailable, instrument

        try:
            instrument(app)
        except TracingUnavailable as exc:
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
        access_log=args.access_log_format if args.access_log else None,
        request_id_header=args.request_id_header,
        metrics=args.metrics,
        threads=args.threads,
        loop_watchdog=args.loop_watchdog,
        ws_max_size=args.ws_max_size,
        ws_max_queue=args.ws_max_queue,
        ws_ping_interval=args.ws_ping_interval,
        ws_ping_timeout=args.ws_ping_timeout,
        ws_per_message_deflate=args.ws_per_message_deflate,
    )
    listen = Listen(host=args.host, port=args.port, uds=args.uds, fd=args.fd, backlog=args.backlog)
    try:
        serve(app, loop=args.loop, config=config, mode=mode, listen=listen, link=link, tls=tls)
    except (LoopUnavailable, TLSConfigError) as exc:  # TLSConfigError: the io_uring core refused what tls.py took
        print(f"covet: error: {exc}", file=sys.stderr)
        return 2
    except ListenError as exc:
        print(f"covet: error: {exc.strerror}", file=sys.stderr)
        return 1
    return 0


def _tls(args: argparse.Namespace) -> ServerTLS | None:
    """The server's TLS from the --ssl-* flags (uvicorn's names), or None for cleartext.

    Raises:
        TLSConfigError: the flags or the files they name are bad (a one-line message).
    """
    from covet.runtime.tls import CERT_REQS, ServerTLS, TLSConfigError, TLSSettings

    if args.ssl_certfile is None:
        given = [f for f in ("keyfile", "keyfile_password", "ca_certs", "cert_reqs", "ciphers")
                 if getattr(args, f"ssl_{f}") is not None]
        if given:
            flag = "--ssl-" + given[0].replace("_", "-")
            raise TLSConfigError(f"{flag} needs --ssl-certfile (the server's certificate)")
        return None
    settings = TLSSettings(
        certfile=args.ssl_certfile,
        keyfile=args.ssl_keyfile,
        password=args.ssl_keyfile_password,
        ca_certs=args.ssl_ca_certs,
        cert_reqs=CERT_REQS[args.ssl_cert_reqs or "none"],
    )
    if args.ssl_ciphers is not None:
        settings = dataclasses.replace(settings, ciphers=args.ssl_ciphers)
    return ServerTLS(settings)


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


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line, as every other error of the command is."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see: {self.prog} --help)\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _Parser(prog="covet", description="CovetPy: typed Python APIs on a native HTTP core.")
    parser.add_argument("--version", action="store_true", help="print the version and runtime facts")
    sub = parser.add_subparsers(dest="command")

    p_serve = sub.add_parser("serve", help="serve an application")
    p_serve.add_argument("app", help="MODULE:ATTR of the covet.Covet application")
    p_serve.add_argument("--host", default="127.0.0.1")
    p_serve.add_argument("--port", type=_port, default=8000, help="0 picks a free port")
    p_serve.add_argument("--uds", metavar="PATH", help="listen on a Unix domain socket instead of --host/--port")
    p_serve.add_argument("--fd", type=int, help="listen on this inherited socket descriptor (systemd, a supervisor)")
    p_serve.add_argument("--backlog", type=_positive, default=2048, help="connections the kernel queues unaccepted")
    p_serve.add_argument("--workers", type=_nonnegative, metavar="N",
                         help="run N worker processes on one socket under a supervisor (0: one per CPU); without "
                              "it, one process and no supervisor")
    p_serve.add_argument("--max-requests", type=_nonnegative, default=0, metavar="N",
                         help="replace a worker after about N requests (implies a supervisor)")
    p_serve.add_argument("--max-requests-jitter", type=_nonnegative, default=0, metavar="J",
                         help="add up to J to each worker's --max-requests, so they do not all restart together")
    p_serve.add_argument("--health-path", default="/healthz",
                         help="liveness probe: 200 while the process answers ('' for none; docs/deployment.md)")
    p_serve.add_argument("--ready-path", default="/readyz",
                         help="readiness probe: 200 once started, until draining, while @app.readiness_check passes")
    p_serve.add_argument("--metrics", action="store_true",
                         help="count every response and serve the counts for Prometheus at --metrics-path, summed "
                              "over the workers (docs/metrics.md)")
    p_serve.add_argument("--metrics-path", default="/metrics",
                         help="where --metrics answers (a route of the app's own there wins)")
    p_serve.add_argument("--tracing", action="store_true",
                         help="an OpenTelemetry server span per request (the app configures the SDK; docs/tracing.md)")
    p_serve.add_argument("--reload", action="store_true",
                         help="development: reload when a .py file changes, interpreted, with tracebacks on 500s "
                              "(`covet dev` is `covet serve --reload`)")
    p_serve.add_argument("--reload-dir", action="append", metavar="DIR",
                         help="a directory to watch with --reload (repeatable; default: the current one)")
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
    p_serve.add_argument("--threads", type=_positive, default=40, metavar="N",
                         help="the thread pool's size: most `def` handlers and dependencies running at once "
                              "(default: 40, as FastAPI's)")
    p_serve.add_argument("--loop-watchdog", type=float, default=0.5, metavar="SECONDS",
                         help="warn, naming the route, when code holds the event loop this long (default: 0.5; "
                              "0: off)")
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
    ws = p_serve.add_argument_group("WebSocket (docs/websockets.md)")
    ws.add_argument("--ws-max-size", type=_positive, default=16 << 20, metavar="BYTES",
                    help="largest message; past it the connection closes with 1009")
    ws.add_argument("--ws-max-queue", type=_positive, default=32, metavar="N",
                    help="messages held for a handler that has not read them before reading stops")
    ws.add_argument("--ws-ping-interval", type=float, default=20.0, metavar="SECONDS",
                    help="silence before a keep-alive ping (0: none)")
    ws.add_argument("--ws-ping-timeout", type=float, default=20.0, metavar="SECONDS",
                    help="how long a ping may go unanswered before the connection closes (1011)")
    ws.add_argument("--ws-per-message-deflate", action=argparse.BooleanOptionalAction, default=True,
                    help="agree to permessage-deflate when a client offers it (no memory held per connection)")
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
    tls = p_serve.add_argument_group("TLS (docs/tls.md); SIGHUP reloads the certificate")
    tls.add_argument("--ssl-certfile", metavar="PEM", help="the server's certificate chain: serve HTTPS")
    tls.add_argument("--ssl-keyfile", metavar="PEM", help="its private key (default: in --ssl-certfile)")
    tls.add_argument("--ssl-keyfile-password", metavar="PASSWORD", help="the private key's password")
    tls.add_argument("--ssl-ca-certs", metavar="PEM", help="CAs that client certificates must chain to")
    tls.add_argument("--ssl-cert-reqs", choices=["none", "optional", "required", "0", "1", "2"],
                     help="client certificates: none (default), optional or required (uvicorn's 0, 1, 2 too)")
    tls.add_argument("--ssl-ciphers", metavar="LIST",
                     help="OpenSSL cipher list for TLS 1.2 (default: ECDHE+AESGCM:ECDHE+CHACHA20; TLS 1.3's "
                          "suites are all forward-secret AEAD)")

    p_build = sub.add_parser("build", help="type-check and compile an application with mypyc")
    p_build.add_argument("app", help="MODULE:ATTR of the covet.Covet application")
    p_build.add_argument("--out", default=".covet/build", help="build directory")
    p_build.add_argument("--annotate", action="store_true", help="write mypyc's HTML report of slow operations")
    p_build.add_argument("--quiet", "-q", action="store_true", help="no progress lines, only notes and the summary")
    p_build.add_argument("--strict", action="store_true",
                         help="refuse unannotated handlers and functions (mypy --strict), instead of compiling them "
                              "as Any")

    p_check = sub.add_parser("check", help="type-check and compile into a temporary directory (for CI)")
    p_check.add_argument("app", help="MODULE:ATTR of the covet.Covet application")
    p_check.add_argument("--format", default="text", choices=["text", "json", "github"])
    p_check.add_argument("--strict", action="store_true", help="refuse unannotated handlers (mypy --strict)")

    p_explain = sub.add_parser("explain", help="print the glue of a route")
    p_explain.add_argument("route", help='e.g. "GET /users/{user_id}"')
    p_explain.add_argument("--app", help="MODULE:ATTR; without it, the build in --build-dir is read")
    p_explain.add_argument("--build-dir", default=".covet/build")

    sub.add_parser("dev", help="serve for development: `covet serve --reload`, and the same options")

    p_routes = sub.add_parser("routes", help="list an application's routes")
    p_routes.add_argument("app", help="MODULE:ATTR of the covet.Covet application")

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["dev"]:
        argv = ["serve", *argv[1:], "--reload"]
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
