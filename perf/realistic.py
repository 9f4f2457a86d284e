"""Issue 19's benchmark: routes that do work (perf/apps/realistic_app.py), interpreted against compiled, in one run.

- **In process** (pyperf): each route's glue, which converts its parameters, runs the handler and encodes the
  result, called on a parsed request, with no socket. One pyperf run per mode: ``interpreted`` is ``covet serve``
  without a build (the runtime compiled, the app as written), ``compiled`` adds ``covet build`` of the app and its
  helper module.
- **End to end**: ``covet serve`` on io_uring pinned to CPU 0, wrk on CPU 1 sending each route's request; the
  server's CPU time per request, rounds interleaving the two modes, medians.

    .venv/bin/python perf/realistic.py            # both, 3 rounds of 10 s end to end
    .venv/bin/python perf/realistic.py --quick    # pyperf --fast, one round of 5 s
    .venv/bin/python perf/realistic.py --docs     # and write the "realistic" section of docs/performance.md
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))


def _sales() -> list[dict[str, Any]]:
    regions = ["north", "south", "east", "west", "centre", "coast", "hills", "islands"]
    return [{"region": regions[i % 8], "product": f"p{(i * 7) % 20:02d}", "units": 1 + (i * 13) % 17,
             "price": round(2.5 + (i % 11) * 1.25, 2)} for i in range(300)]


def _document() -> dict[str, Any]:
    words = ("compiled python runs typed code near native speed when the build knows the types and the glue "
             "calls the handler directly without generic calls on every request").split()
    body = " ".join(words[(i * 5) % len(words)] + ("." if i % 12 == 11 else "") for i in range(300))
    records = [f"item{i}: colour=blue; size={i % 5}; note=n{i}" for i in range(20)]
    return {"title": "Hello, World: 2 Ways to Compile Python!", "body": body, "records": records}


def _order() -> dict[str, Any]:
    return {"customer": " Ann Example ", "items": {f"sku-{n}": 1 + n % 4 for n in range(3, 13)}, "coupon": "TEN"}


# name -> (method, path, JSON body or None, expected status)
ROUTES: dict[str, tuple[str, str, Any, int]] = {
    "aggregate (300 records)": ("POST", "/aggregate", _sales(), 200),
    "text (helper module)": ("POST", "/text", _document(), 200),
    "crud (order)": ("POST", "/orders", _order(), 201),
    "compute (sieve to 20,000)": ("GET", "/primes/20000", None, 200),
}


def raw_request(method: str, path: str, body: Any) -> bytes:
    if body is None:
        return f"{method} {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode()
    data = json.dumps(body, separators=(",", ":")).encode()
    return (f"{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n").encode() + data


# -- in process: the child that pyperf runs ---------------------------------------------------------------------


def _load_app() -> Any:
    build = os.environ.get("COVET_REALISTIC_BUILD")
    if not build:
        sys.path.insert(0, str(HERE / "apps"))
        from realistic_app import app  # type: ignore[import-not-found]

        return app
    from covet import __version__
    from covet.loader import load_app
    from covet.runtime import compiled

    sys.path.insert(0, build)
    build_dir = Path(build) / ".covet" / "build"
    manifest = compiled.prepare(build_dir, "realistic_app:app", __version__)
    app = load_app("realistic_app:app")
    compiled.attach(app, manifest, build_dir)
    return app


def _glue_timer(app: Any, name: str) -> Any:
    from micro import run_glue

    from covet._native import Parser
    from covet.runtime.connection import ConnectionInfo

    method, path, body, status = ROUTES[name]
    (ev,) = Parser().feed(raw_request(method, path, body))
    plan, params = app.dispatcher().resolve(ev[1], ev[2])
    info = ConnectionInfo(("127.0.0.1", 1), ("127.0.0.1", 8000))

    def once() -> Any:
        return run_glue(plan, ev, params, info)

    reply = once()
    assert reply[0] == status, (name, reply)

    def timed(loops: int) -> float:
        t0 = time.perf_counter()
        for _ in range(loops):
            once()
        return time.perf_counter() - t0

    return timed


def child() -> None:
    import pyperf

    # pyperf's workers get a clean environment unless told otherwise.
    names = [n for n in ("COVET_REALISTIC_CHILD", "COVET_REALISTIC_BUILD", "PYTHONPATH") if os.environ.get(n)]
    if "--inherit-environ" not in sys.argv:
        sys.argv[1:1] = ["--inherit-environ", ",".join(names)]
    runner = pyperf.Runner()
    app = _load_app()
    for name in ROUTES:
        runner.bench_time_func(name, _glue_timer(app, name))


def build_project(where: Path) -> float:
    """The app and its helper module as a project, built by `covet build`: the seconds it took."""
    for name in ("realistic_app.py", "realistic_text.py", "realistic_models.py"):
        shutil.copy(HERE / "apps" / name, where / name)
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "covet", "build", "realistic_app:app"], cwd=where, capture_output=True,
                         text=True, env=dict(os.environ, PYTHONPATH=f"{where}:{ROOT}"))
    if out.returncode != 0:
        raise SystemExit(f"perf: covet build failed:\n{out.stderr}")
    print(out.stderr.strip().splitlines()[-1], file=sys.stderr)
    return time.monotonic() - t0


def in_process(project: Path, quick: bool) -> dict[str, dict[str, float]]:
    """Median ns per call of each route's glue, by mode."""
    import pyperf

    out: dict[str, dict[str, float]] = {}
    for mode, env in (("interpreted", {}), ("compiled", {"COVET_REALISTIC_BUILD": str(project)})):
        result = project / f"inprocess-{mode}.json"
        result.unlink(missing_ok=True)
        cmd = ["taskset", "-c", "0", sys.executable, str(Path(__file__)), "-o", str(result), "--quiet",
               *(["--fast"] if quick else [])]
        subprocess.run(cmd, check=True, env=dict(os.environ, **env, COVET_REALISTIC_CHILD="1",
                                                  PYTHONPATH=f"{project}:{ROOT}"))
        suite = pyperf.BenchmarkSuite.load(str(result))
        out[mode] = {b.get_name(): b.median() * 1e9 for b in suite.get_benchmarks()}
    return out


# -- end to end ------------------------------------------------------------------------------------------------


def end_to_end(project: Path, rounds: int, seconds: int) -> dict[str, dict[str, list[float]]]:
    """Server CPU µs per request of each route, by mode, one list entry per round."""
    import bench

    scripts = project / "lua"
    scripts.mkdir(exist_ok=True)
    endpoints = []
    for i, (name, (method, path, body, _status)) in enumerate(ROUTES.items()):
        script = None
        data = None
        if body is not None:
            data = json.dumps(body, separators=(",", ":"))
            script = scripts / f"route{i}.lua"
            script.write_text(f'wrk.method = "{method}"\nwrk.body = [==[{data}]==]\n'
                              'wrk.headers["Content-Type"] = "application/json"\n')
        endpoints.append(bench.Endpoint(name, path, b"", str(script) if script else None, method,
                                        data.encode() if data else None))
    serve = [sys.executable, "-m", "covet", "serve", "realistic_app:app", "--loop", "uring", "--log-level", "warning",
             "--no-access-log", "--port", "{port}"]
    env = {"PYTHONPATH": f"{project}:{ROOT}"}
    targets = [bench.Target("interpreted", [*serve, "--compiled", "off"], project, env=env),
               bench.Target("compiled", [*serve, "--compiled", "require"], project, env=env)]
    got: dict[str, dict[str, list[float]]] = {t.name: {} for t in targets}
    for r in range(rounds):
        for t in targets:
            bench.start(t)
            try:
                time.sleep(1.0)
                for ep in endpoints:
                    m = bench.run_wrk(t, ep, seconds, 16)
                    if m["non2xx"]:
                        raise SystemExit(f"perf: {t.name} {ep.name}: {m['non2xx']:.0f} non-2xx answers")
                    got[t.name].setdefault(ep.name, []).append(m["cpu_us_per_req"])
                    print(f"round {r + 1} {t.name:12} {ep.name:28} {m['rps']:9.0f} req/s "
                          f"{m['cpu_us_per_req']:7.1f} us/req", flush=True)
            finally:
                bench.stop(t)
    return got


def report(inproc: dict[str, dict[str, float]], e2e: dict[str, dict[str, list[float]]], rounds: int, seconds: int,
           build_seconds: float) -> str:
    lines = ["**In process** (pyperf, median time of one request's glue: parameters, handler, result)", "",
             "| Route | interpreted | compiled | compiled ÷ interpreted |", "|---|---|---|---|"]
    for name in ROUTES:
        a, b = inproc["interpreted"][name], inproc["compiled"][name]
        lines.append(f"| {name} | {a / 1000:.1f} µs | {b / 1000:.1f} µs | {b / a:.2f}× |")
    e2e_title = (f"**End to end** (io_uring, wrk `-c 16`, {rounds} round(s) of {seconds} s, medians: server CPU "
                 "per request)")
    lines += ["", e2e_title, "", "| Route | interpreted | compiled | compiled ÷ interpreted |", "|---|---|---|---|"]
    for name in ROUTES:
        a = statistics.median(e2e["interpreted"][name])
        b = statistics.median(e2e["compiled"][name])
        lines.append(f"| {name} | {a:.1f} µs | {b:.1f} µs | {b / a:.2f}× |")
    built = (f"The build of the app and its helper module took {build_seconds:.1f} s (a new project directory; the "
             "mypy seed cache and ccache as this machine had them).")
    lines += ["", built]
    return "\n".join(lines)


def main() -> int:
    if os.environ.get("COVET_REALISTIC_CHILD"):  # (pyperf's runner and its workers, in_process's children)
        child()
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--docs", action="store_true")
    parser.add_argument("--no-e2e", action="store_true", help="in process only")
    args = parser.parse_args()
    rounds, seconds = (1, 5) if args.quick else (3, 10)
    project = Path(tempfile.mkdtemp(prefix="covet-realistic-"))
    build_seconds = build_project(project)
    inproc = in_process(project, args.quick)
    e2e = ({"interpreted": {n: [1.0] for n in ROUTES}, "compiled": {n: [1.0] for n in ROUTES}} if args.no_e2e
           else end_to_end(project, rounds, seconds))
    text = report(inproc, e2e, rounds, seconds, build_seconds)
    print(text)
    if args.docs:
        from docsection import replace_section

        replace_section("realistic", "## Routes that do work, interpreted and compiled (perf/realistic.py)\n\n"
                        + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
