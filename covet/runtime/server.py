"""Running an application: event loop, listening socket, signals, lifespan.

Stages, in order: pick the loop, plan the routes, run the start-up hooks,
bind, announce the address on stderr, serve with a one-second ticker, and on
SIGTERM/SIGINT drain gracefully and run the shutdown hooks. With TLS (``tls``),
SIGHUP reloads the certificate for new connections.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
import os
import resource
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Final, NoReturn

from covet._native import AccessLog
from covet.health import SERVER
from covet.metrics import open_metrics
from covet.runtime import RUNTIME_COMPILED
from covet.runtime.accept import Acceptor
from covet.runtime.accesslog import AccessLogWriter
from covet.runtime.asyncio_http1 import AsyncioHTTP1
from covet.runtime.config import Config
from covet.runtime.dispatch import route_id
from covet.runtime.h2_framing import FRAMING_NAME
from covet.runtime.listener import Listen, ListenError, close_listener, describe, open_listener, refuse_new_connections
from covet.runtime.state import ServerState
from covet.runtime.threadpool import HandlerPool
from covet.runtime.tls import ServerTLS
from covet.runtime.uring_http1 import UringHTTP1
from covet.runtime.uring_probe import probe as probe_uring
from covet.runtime.watchdog import LoopWatchdog, code_labels
from covet.runtime.worker_link import WorkerLink

if TYPE_CHECKING:
    from covet._native import UringServer
    from covet.app import Covet

__all__ = ["serve", "run_hooks", "choose_loop", "raise_nofile_limit", "ListenError", "LoopUnavailable"]

log = logging.getLogger("covet.server")

# How long a graceful stop waits, once new SYNs are refused, for handshakes already under way to reach the queue:
# a round trip, on the networks a server's clients are on.
HANDSHAKE_SETTLE: Final = 0.05


class LoopUnavailable(RuntimeError):
    """The event loop asked for on the command line cannot run here."""


def say(line: str) -> None:
    """One line on stderr in one write: the workers of a supervisor share the stream, and print() writes the line and
    its newline apart, so two workers' lines could interleave."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _uvloop_factory() -> tuple[str, Callable[[], asyncio.AbstractEventLoop]] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return "uvloop", uvloop.new_event_loop


def _uring_reason() -> str:
    """Empty when the io_uring core can run here, else why not."""
    try:
        support = probe_uring()
    except OSError as exc:
        return f"the io_uring probe failed: {exc}"
    return "" if support.usable else support.reason


def choose_loop(name: str, tls: bool = False) -> tuple[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Resolve ``auto``/``uring``/``uvloop``/``asyncio`` to a loop name and the asyncio loop factory under it.

    ``uring`` runs connections on the io_uring core, with uvloop (or asyncio) for
    handlers, timers and signals; ``auto`` takes it where the kernel offers what the
    core needs, and otherwise steps down to uvloop, saying why on stderr. The core
    serves TLS itself (docs/tls.md), so ``tls`` changes nothing here.
    """
    del tls  # every loop serves TLS
    if name in ("auto", "uring"):
        reason = _uring_reason()
        if not reason:
            under = _uvloop_factory()
            return "uring", under[1] if under is not None else asyncio.new_event_loop
        if name == "uring":
            raise LoopUnavailable(f"--loop uring: io_uring cannot serve here: {reason}")
        say(f"covet: io_uring unavailable ({reason}); using uvloop")
    if name in ("auto", "uvloop"):
        found = _uvloop_factory()
        if found is not None:
            return found
        if name == "uvloop":
            raise LoopUnavailable("--loop uvloop: uvloop is not installed; pip install uvloop")
    if name in ("auto", "asyncio"):
        return "asyncio", asyncio.new_event_loop
    raise LoopUnavailable(f"unknown loop {name!r}: choose auto, uring, uvloop or asyncio")


def raise_nofile_limit() -> int:
    """Raise the open-file soft limit to the hard limit, as a server is expected to."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-file limit from %d to %d: %s", soft, hard, exc)
    return soft


async def run_hooks(hooks: list[Callable[[], Awaitable[None] | None]]) -> None:
    for hook in hooks:
        result = hook()
        if inspect.isawaitable(result):
            await result


async def _serve(app: Covet, listen: Listen, config: Config, loop_name: str, requested: str, mode: str,
                 link: WorkerLink | None, tls: ServerTLS | None = None) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    force = asyncio.Event()

    def on_signal() -> None:
        # The first signal drains gracefully; a second one stops waiting for stragglers.
        if stop.is_set():
            force.set()
        stop.set()

    # Before the start-up line: a signal sent as soon as it is seen must already drain gracefully.
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    if tls is not None:
        # New connections get the new certificate; a bad one is logged and the old one stays (tls.py).
        loop.add_signal_handler(signal.SIGHUP, tls.reload)
    if config.root_path != app.root_path:  # --root-path, else the app's own: one value for URLs and the docs page
        if config.root_path:
            app.root_path = config.root_path  # checked, and a trailing "/" dropped
        config = dataclasses.replace(config, root_path=app.root_path)
    dispatcher = app.dispatcher()
    await run_hooks(app.startup_hooks)
    SERVER.started = True
    state = ServerState(dispatcher, config)
    state.ws_origins = app.websocket_origins
    grpc = app.grpc_table()
    state.grpc = grpc or None
    dispatcher.templates.update({route_id(path): path for path in grpc})  # (the metrics' labels)
    if tls is not None:
        state.scheme = "https"
    writer = _access_log(state)
    sock = open_listener(listen)
    backlog = listen.backlog
    watch: list[asyncio.TimerHandle] = []  # the supervisor's, re-armed each second
    if link is not None:
        _watch_supervisor(loop, state, link, stop, watch)
    watchdog = None
    try:
        if config.loop_watchdog > 0:
            watchdog = LoopWatchdog(loop, config.loop_watchdog, code_labels(app.plans))
            watchdog.start()
        ring = None
        if loop_name == "uring":
            try:
                ring = _ring_core(state, sock, tls)
            except OSError as exc:
                # The probe said yes, yet the core's own set-up was refused (a resource limit, a filter).
                if requested == "uring":
                    raise LoopUnavailable(f"--loop uring: the io_uring core could not start: {exc}") from exc
                loop_name = "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"
                say(f"covet: io_uring unavailable (the core could not start: {exc}); using {loop_name}")
        # The socket is ours alone when this process made it and no supervisor shares it.
        own = link is None and listen.fd is None
        if ring is not None:
            await _serve_ring(loop, state, ring, sock, mode, link, stop, force, tls, own)
        else:
            await _serve_asyncio(app, loop, state, sock, mode, loop_name, backlog, link, stop, force, tls, own)
    finally:
        if watchdog is not None:
            watchdog.stop()
        for handle in watch:
            handle.cancel()
        loop.remove_signal_handler(signal.SIGHUP)
        close_listener(sock, listen)
        if writer is not None:
            writer.close()  # every line recorded before the drain ended is written
        await _unless_forced(run_hooks(app.shutdown_hooks), force)
        # From here the process only exits. A TERM now (a second one, from a supervisor, systemd or a test) must
        # not kill it by the default action, which would turn a clean stop into "killed by signal 15".
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
            signal.signal(sig, signal.SIG_IGN)


async def _unless_forced(hooks: Awaitable[None], force: asyncio.Event) -> None:
    """Run the shutdown hooks, unless a signal sent meanwhile says to stop waiting (for a hook that hangs)."""
    force.clear()  # (a second signal that cut the drain short still lets the hooks run)
    task = asyncio.ensure_future(hooks)
    forced = asyncio.ensure_future(force.wait())
    await asyncio.wait((task, forced), return_when=asyncio.FIRST_COMPLETED)
    forced.cancel()
    if not task.done():
        log.warning("second signal: leaving without waiting for the shutdown hooks")
        task.cancel()
    else:
        task.result()  # a hook's exception, as before


def _watch_supervisor(loop: asyncio.AbstractEventLoop, state: ServerState, link: WorkerLink, stop: asyncio.Event,
                      handle: list[asyncio.TimerHandle]) -> None:
    """A worker's once-a-second look at its supervisor: drain when it is gone, ask to retire at --max-requests."""
    handle[:] = [loop.call_later(1.0, _watch_supervisor, loop, state, link, stop, handle)]
    if not link.check(state.served()):
        if not stop.is_set():
            log.warning("the supervisor is gone: draining")
        stop.set()


def _access_log(state: ServerState) -> AccessLogWriter | None:
    """The access log's writer (started), when the config asks for one; the transports record into ``state.access``,
    which also counts each response in the metrics when they are on (one C call for both)."""
    fmt = state.config.access_log
    echo = state.config.request_id_header
    metrics = open_metrics() if state.config.metrics else None
    state.metered = metrics is not None
    state.metrics = metrics
    if fmt is None and not echo:
        if metrics is not None:  # the metrics alone: a record counts, and keeps nothing for a log
            state.access = AccessLog(metrics=metrics, store=False)
        return None
    # (--no-access-log with --request-id-header: ids are still made and echoed, and the records dropped)
    writer = AccessLogWriter(json=fmt == "json", echo=echo, enabled=fmt is not None, metrics=metrics)
    state.access = writer.log
    state.echo_id = echo
    writer.start()
    return writer


def _announce(sock: socket.socket, mode: str, loop_name: str, link: WorkerLink | None, scheme: str = "http") -> None:
    runtime = "compiled" if RUNTIME_COMPILED else "interpreted"
    # "handlers=" is how the application's routes run (their glue compiled by `covet build`, or not); "server
    # runtime=" is CovetPy's own request path (mypyc-compiled, or pure Python): two independent facts.
    say(f"covet: serving {describe(sock, scheme)} (handlers={mode}, loop={loop_name}, server runtime={runtime}, "
        f"http2={FRAMING_NAME})")
    if link is not None:
        link.ready()


async def _drain(state: ServerState, open_connections: Callable[[], int], force: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + state.config.graceful_timeout
    while (open_connections() or state.tasks) and loop.time() < deadline and not force.is_set():
        await asyncio.sleep(0.02)
    if open_connections() or state.tasks:  # (as uvicorn says it: an operator wants to know what was cut)
        log.warning("graceful stop %s: closing %d connections, cancelling %d handler tasks",
                    "forced" if force.is_set() else f"timed out after {state.config.graceful_timeout:g} s",
                    open_connections(), len(state.tasks))
        for task in list(state.tasks)[:3]:
            log.warning("  still running: %r", task)


async def _stop_listening(sock: socket.socket, own_socket: bool, take_queued: Callable[[], None],
                          close: Callable[[], None]) -> None:
    """Stop accepting for a graceful stop, and serve (not reset) the connections the kernel has queued.

    Closing the listening socket resets what waits in its queue, requests written. When the socket is ours alone,
    new SYNs are refused first (a supervisor does so for its workers) and handshakes under way get
    ``HANDSHAKE_SETTLE`` to land, accepted as usual meanwhile; then the queue is taken, and the socket closed.
    """
    if own_socket and refuse_new_connections(sock):
        await asyncio.sleep(HANDSHAKE_SETTLE)
    take_queued()
    close()


async def _serve_asyncio(app: Covet, loop: asyncio.AbstractEventLoop, state: ServerState, sock: socket.socket,
                         mode: str, loop_name: str, backlog: int, link: WorkerLink | None, stop: asyncio.Event,
                         force: asyncio.Event, tls: ServerTLS | None, own_socket: bool = False) -> None:
    server: asyncio.AbstractServer | Acceptor
    context = tls.front if tls is not None else None
    # A client that connects and never finishes its handshake is dropped as one that never sends its head is.
    handshake = state.config.header_timeout if tls is not None else None
    # (uvloop accepts on its own, and this one is used only to take the queue at a stop.)
    acceptor = Acceptor(loop, sock, lambda: AsyncioHTTP1(state), backlog, context, handshake)
    if loop_name == "asyncio":
        # asyncio's accept loop spins at the descriptor limit (see accept.py); uvloop's does not.
        server = acceptor
        server.start()
    else:
        server = await loop.create_server(lambda: AsyncioHTTP1(state), sock=sock, backlog=backlog, ssl=context,
                                          ssl_handshake_timeout=handshake)
    _announce(sock, mode, loop_name, link, state.scheme)

    def tick() -> None:
        state.clock.update()
        now = state.clock.now
        for conn in list(state.connections):
            conn.tick(now)
        state.tick_bodies(now)
        handle[0] = loop.call_later(1.0, tick)

    handle = [loop.call_later(1.0, tick)]
    try:
        await stop.wait()
        SERVER.draining = True
        say("covet: shutting down")
        state.closing = True
        await _stop_listening(sock, own_socket, acceptor.take_queued, server.close)
        for conn in list(state.connections):
            conn.shutdown()
        # Connections closed with nothing left to send are not waited for: over TLS they would sit waiting for
        # the peer's close_notify, which an idle keep-alive client never sends (docs/tls.md).
        await _drain(state, lambda: sum(1 for conn in state.connections if not conn.quiet()) + len(acceptor.pending),
                     force)
    finally:
        acceptor.cancel_pending()
        for task in list(state.tasks):
            task.cancel()
        for conn in list(state.connections):
            conn.abort()
        handle[0].cancel()


def _ring_core(state: ServerState, sock: socket.socket, tls: ServerTLS | None) -> tuple[UringHTTP1, UringServer]:
    """The io_uring core on ``sock`` with its Python half, serving TLS with ``tls``; OSError when the kernel
    refuses its set-up."""
    from covet._native import UringServer

    http = UringHTTP1(state, asyncio.get_running_loop())
    c = state.config
    core = UringServer(
        sock.fileno(), http,
        max_target=c.max_target, max_header_bytes=c.max_header_bytes, max_headers=c.max_headers,
        max_body=c.max_body, keepalive_timeout=c.keepalive_timeout, header_timeout=c.header_timeout,
        body_timeout=c.body_timeout, write_timeout=c.write_timeout, max_stream_body=c.max_upload,
        max_connections=c.limit_concurrency or 0,
    )
    http.core = core
    if tls is not None:
        tls.attach(core)  # before the first connection: the core builds its own context from the same settings
    if state.access is not None:
        core.set_access_log(state.access)  # the core records what it sends, direct routes and errors included
    http.install(core)
    return http, core


async def _serve_ring(loop: asyncio.AbstractEventLoop, state: ServerState, ring: tuple[UringHTTP1, UringServer],
                      sock: socket.socket, mode: str, link: WorkerLink | None, stop: asyncio.Event,
                      force: asyncio.Event, tls: ServerTLS | None = None, own_socket: bool = False) -> None:
    http, core = ring
    ring_fd = core.fd
    # (HTTP/2's requests are counted by their sessions, in state.requests; the core counts its own)
    state.served = lambda: int(core.stats()["requests"]) + state.requests
    loop.add_reader(ring_fd, core.process)
    say(f"covet: io_uring ring set up as {core.mode}")
    _announce(sock, mode, "uring", link, state.scheme)

    def tick() -> None:
        # Re-armed first: a failing tick must not end the timeouts, the Date header and accept retries.
        handle[0] = loop.call_later(1.0, tick)
        state.clock.update()
        core.set_head_lines(state.clock.head_lines)
        core.tick(http.timeout_response())
        state.tick_bodies(state.clock.now)
        for conn in list(state.connections):  # (WebSockets and HTTP/2: the core times HTTP/1.1 itself)
            conn.tick(state.clock.now)

    handle = [loop.call_later(1.0, tick)]
    try:
        await stop.wait()
        SERVER.draining = True
        say("covet: shutting down")
        state.closing = True
        # (The core's shutdown takes the queue. The socket is closed at once: left open, the kernel would complete
        # new handshakes, and they would wait out the drain and then be reset.)
        await _stop_listening(sock, own_socket, core.shutdown, sock.close)
        for conn in list(state.connections):
            conn.shutdown()
        await _drain(state, lambda: core.connections, force)
    finally:
        for task in list(state.tasks):
            task.cancel()
        await asyncio.sleep(0)  # let cancelled handlers unwind before their connections go
        handle[0].cancel()
        loop.remove_reader(ring_fd)
        http.core = None
        core.close()
        if tls is not None:
            tls.native = None  # a SIGHUP from now on has no core to give a context to
        counts = core.stats()
        # The Python half's part: streamed bodies of connections the core has let go of would be leaks.
        counts["bodies"] = len(http.bodies)
        counts["bodies_watched"] = len(state.bodies)
        held = {k: v for k, v in counts.items() if k in _HELD and v}
        if held:
            log.warning("io_uring core still held at exit: %s", held)
        if os.environ.get("COVET_RING_COUNTERS") == "1":
            shown = " ".join(f"{k}={counts[k]}" for k in sorted(_HELD))
            say(f"covet: io_uring counters at exit: {shown}")
            busy = " ".join(f"{k}={counts[k]}" for k in ("accepted", "requests", "passes", "enters", "completions"))
            say(f"covet: io_uring activity: {busy}")


_HELD = ("connections", "parsers", "operations", "output_queues", "output_items", "tls_sessions", "tls_buffered",
         "buffers_out", "bodies", "bodies_watched")


def serve(
    app: Covet,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    loop: str = "auto",
    config: Config | None = None,
    mode: str = "interpreted",
    backlog: int = 2048,
    listen: Listen | None = None,
    link: WorkerLink | None = None,
    tls: ServerTLS | None = None,
) -> None:
    """Serve ``app`` until SIGTERM or SIGINT, on ``host``:``port`` or as ``listen`` says.

    Args:
        tls: serve HTTPS with this context (``covet.runtime.tls``); SIGHUP reloads its certificate.

    Raises:
        LoopUnavailable: the requested loop cannot run here.
        ListenError: the listening socket cannot be opened.
        RouteDefinitionError: a route cannot be served as declared.
    """
    loop_name, factory = choose_loop(loop, tls is not None)
    raise_nofile_limit()
    cfg = config or Config(server_header=app.server_header)
    ev_loop = factory()
    pool = HandlerPool(cfg.threads)
    ev_loop.set_default_executor(pool)
    try:
        asyncio.set_event_loop(ev_loop)
        where = listen or Listen(host=host, port=port, backlog=backlog)
        ev_loop.run_until_complete(_serve(app, where, cfg, loop_name, loop, mode, link, tls))
    finally:
        asyncio.set_event_loop(None)
        pool.shutdown(wait=False, cancel_futures=True)
        ev_loop.close()
    if pool.running:
        _leave_without(pool.running)


def _leave_without(running: int) -> NoReturn:
    """Exit now: ``running`` sync calls outlived the drain, and the interpreter would wait for their threads at exit
    (they cannot be stopped), past the --graceful-timeout that systemd, Kubernetes or the supervisor count on."""
    log.warning("%d sync handler call(s) still running after --graceful-timeout: exiting without them", running)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(0)


