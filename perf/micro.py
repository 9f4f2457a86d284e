"""pyperf microbenchmarks of the in-process request path, stage by stage.

Bytes of a request in, bytes of a response out, no sockets. Each endpoint is
timed whole (``full``: what ``data_received`` does for one request) and by
stage (``parse``, ``route``, ``glue``: convert + handler + encode, ``render``),
so the table shows where the time goes.

    python perf/micro.py --fast -o perf/results/micro.json
    python perf/micro.py --report perf/results/micro.json [perf/results/micro-compiled.json] [--docs]
    COVET_MICRO_BUILD=perf/.build-compiled python perf/micro.py ...   # the compiled build
"""

from __future__ import annotations

import functools
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

REQUESTS = {
    "plaintext": b"GET /plaintext HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: wrk\r\n\r\n",
    "json": b"GET /json HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: wrk\r\n\r\n",
    "users": b"GET /users/42?q=hi HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: wrk\r\n\r\n",
    "items": (b"POST /items HTTP/1.1\r\nHost: localhost:8080\r\nContent-Type: application/json\r\n"
              b'Content-Length: 51\r\n\r\n{"name":"pen","price":1.5,"tags":["office","blue"]}'),
}
STAGES = ["full", "parse", "route", "glue", "render"]


class _Sink:
    """The smallest transport the connection needs."""

    def write(self, data: bytes) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 1)

    def close(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def run_glue(plan: Any, ev: tuple[Any, ...], params: list[str], info: Any) -> Any:
    result = plan.glue(ev[1], ev[2], ev[3], ev[5], ev[7], params, info)
    if plan.is_async:
        try:
            result.send(None)
        except StopIteration as stop:
            return stop.value
        raise RuntimeError("benchmark handler suspended")
    return result


@functools.cache
def _load_app() -> Any:
    """The benchmark app, interpreted, or compiled from $COVET_MICRO_BUILD (a project built by covet build)."""
    import os

    project = os.environ.get("COVET_MICRO_BUILD")
    if not project:
        from perf.apps.covet_app import app

        return app
    from covet import __version__
    from covet.loader import load_app
    from covet.runtime import compiled

    sys.path.insert(0, project)
    manifest = compiled.prepare(Path(project) / ".covet" / "build", "covet_app:app", __version__)
    app = load_app("covet_app:app")
    compiled.attach(app, manifest, Path(project) / ".covet" / "build")
    return app


def timers(endpoint: str) -> dict[str, Any]:
    from covet._native import Parser
    from covet.runtime.asyncio_http1 import AsyncioHTTP1
    from covet.runtime.config import Config
    from covet.runtime.h1_response import render
    from covet.runtime.state import ServerState

    app = _load_app()

    raw = REQUESTS[endpoint]
    state = ServerState(app.dispatcher(), Config())
    conn = AsyncioHTTP1(state)
    conn.connection_made(_Sink())  # type: ignore[arg-type]
    parser = Parser()
    (ev,) = parser.feed(raw)
    resolve = state.dispatcher.resolve
    plan, params = resolve(ev[1], ev[2])
    reply = run_glue(plan, ev, params, conn.info)
    assert reply[0] in (200, 201), reply
    head_lines = state.clock.head_lines
    clock = time.perf_counter

    def full(loops: int) -> float:
        data_received = conn.data_received
        t0 = clock()
        for _ in range(loops):
            data_received(raw)
        return clock() - t0

    def parse(loops: int) -> float:
        feed = parser.feed
        t0 = clock()
        for _ in range(loops):
            feed(raw)
        return clock() - t0

    def route(loops: int) -> float:
        method, path = ev[1], ev[2]
        t0 = clock()
        for _ in range(loops):
            resolve(method, path)
        return clock() - t0

    def glue(loops: int) -> float:
        t0 = clock()
        for _ in range(loops):
            run_glue(plan, ev, params, conn.info)
        return clock() - t0

    def render_(loops: int) -> float:
        t0 = clock()
        for _ in range(loops):
            render(reply, head_lines, True, False, 1)
        return clock() - t0

    return {"full": full, "parse": parse, "route": route, "glue": glue, "render": render_}


def mode() -> str:
    """What is compiled in this process: nothing, the runtime, or the runtime and the app."""
    import os

    from covet.runtime import RUNTIME_COMPILED

    if os.environ.get("COVET_MICRO_BUILD"):
        return "compiled" if RUNTIME_COMPILED else "app compiled, runtime pure"
    return "runtime compiled" if RUNTIME_COMPILED else "interpreted"


def report(paths: list[str]) -> str:
    """A table per mode: the median of each stage, in nanoseconds."""
    import pyperf

    lines = ["| Endpoint | mode | " + " | ".join(STAGES) + " |", "|---" * (len(STAGES) + 2) + "|"]
    suites = [pyperf.BenchmarkSuite.load(p) for p in paths]
    for endpoint in REQUESTS:
        for suite in suites:
            by_name = {b.get_name(): b for b in suite.get_benchmarks()}
            first = suite.get_benchmarks()[0]
            mode = str(first.get_metadata().get("covet_mode", "interpreted"))
            row = [endpoint, mode]
            for stage in STAGES:
                b = by_name.get(f"{endpoint}/{stage}")
                row.append(f"{b.median() * 1e9:.0f} ns" if b else "-")
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) >= 3 and sys.argv[1] == "--report":
        text = report([a for a in sys.argv[2:] if a != "--docs"])
        print(text)
        if "--docs" in sys.argv[3:]:
            sys.path.insert(0, str(Path(__file__).resolve().parent))
            from docsection import replace_section

            replace_section("micro", "## Where the time goes (in process, no sockets)\n\n"
                            "Measured by `perf/micro.py` with pyperf: the median time of one request through the "
                            "whole HTTP/1.1 connection path (`full`: bytes in, bytes out), and of each stage alone: "
                            "`parse` (the C parser, Python objects included), `route`, `glue` (parameter extraction "
                            "and conversion, the handler, result encoding) and `render` (the response bytes). "
                            "Modes: `interpreted` compiles nothing (`COVET_PURE_RUNTIME=1`); `runtime compiled` is "
                            "`covet serve` without a build (the runtime modules the wheel compiles with mypyc, the "
                            "app as written); `compiled` adds `covet build` (handlers and glue compiled too).\n\n"
                            + text)
        return
    import os

    import pyperf

    # pyperf's worker processes get a clean environment unless told otherwise.
    # COVET_MICRO_STAGES=full times only the named stages (a comma list).
    names = ("COVET_MICRO_BUILD", "COVET_MICRO_STAGES", "COVET_PURE_RUNTIME")
    inherit = [name for name in names if os.environ.get(name)]
    if inherit and "--inherit-environ" not in sys.argv:
        sys.argv[1:1] = ["--inherit-environ", ",".join(inherit)]
    runner = pyperf.Runner()
    runner.metadata["covet_mode"] = mode()
    stages = [s for s in os.environ.get("COVET_MICRO_STAGES", ",".join(STAGES)).split(",") if s in STAGES]
    for endpoint in REQUESTS:
        funcs = timers(endpoint)
        for stage in stages:
            runner.bench_time_func(f"{endpoint}/{stage}", funcs[stage])


if __name__ == "__main__":
    main()
