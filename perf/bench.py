"""Side-by-side HTTP benchmarks: CovetPy against its peers, in one run.

Every server runs one worker pinned to CPU 0; wrk runs pinned to CPU 1. Each
endpoint is checked for a correct answer before it is timed; a target that
answers wrong is reported, not timed. Rounds interleave the targets so the
machine's drift hits them all alike. Reported: median requests/s, p50/p99
latency, and server CPU time per request (user+system from /proc over the run).

    python perf/bench.py                   # everything
    python perf/bench.py --quick           # short rounds, fewer peers
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEERS_PY = HERE / ".venv-peers" / "bin" / "python"
COVET_PY = Path(os.environ.get("COVET_PYTHON", ROOT / ".venv" / "bin" / "python"))
TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Endpoint:
    name: str
    path: str
    expect: bytes
    script: str | None = None
    method: str = "GET"
    body: bytes | None = None
    pipelined: int = 1


ENDPOINTS = [
    Endpoint("plaintext", "/plaintext", b"Hello, World!"),
    Endpoint("json", "/json", b'{"message":"Hello, World!"}'),
    Endpoint("users", "/users/42?q=hi", b'{"id":42,"q":"hi"}'),
    Endpoint("items", "/items", b'{"name":"pen","price":1.5,"tags":["office","blue"]}', "post_items.lua", "POST",
             b'{"name":"pen","price":1.5,"tags":["office","blue"]}'),
    Endpoint("pipelined", "/plaintext", b"Hello, World!", "pipeline.lua", pipelined=16),
]


@dataclass
class Target:
    name: str
    cmd: list[str]
    cwd: Path
    proc: subprocess.Popen[bytes] | None = None
    port: int = 0
    wrong: dict[str, str] = field(default_factory=dict)
    endpoints: set[str] | None = None  # the endpoints it serves; None: all (others report "-")
    env: dict[str, str] = field(default_factory=dict)  # added to the server's environment

    def serves(self, ep: Endpoint) -> bool:
        return self.endpoints is None or ep.name in self.endpoints


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


ROBYN_PY = HERE / ".venv-robyn" / "bin" / "python"


def uvicorn(app: str) -> list[str]:
    return [str(PEERS_PY), "-m", "uvicorn", app, "--http", "httptools", "--loop", "uvloop", "--no-access-log",
            "--log-level", "warning", "--port", "{port}"]


def granian(app: str, interface: str) -> list[str]:
    # One worker process running one single-threaded runtime, HTTP/1 only, no websockets.
    return [str(PEERS_PY), "-m", "granian", "--interface", interface, "--http", "1", "--no-ws", "--workers", "1",
            "--runtime-mode", "st", "--runtime-threads", "1", "--blocking-threads", "1", "--loop", "uvloop",
            "--no-access-log", "--log-level", "warning", "--port", "{port}", app]


def copy_app(app_file: Path, where: Path, covet_src: Path | None = None) -> None:
    """Put a benchmark app in project ``where``, for the CovetPy at ``covet_src`` (None: this tree). A CovetPy from
    before ``inline=`` ran every sync handler on the loop: it gets the same routes spelled its way."""
    text = app_file.read_text()
    if covet_src is not None and "inline" not in (covet_src / "covet" / "routing.py").read_text():
        text = text.replace(", inline=True)", ")")
    (where / app_file.name).write_text(text)


COMPILED_DIR = HERE / ".build-compiled"


def build_compiled() -> bool:
    """`covet build` the CovetPy app in a project of its own, for the compiled target."""
    COMPILED_DIR.mkdir(exist_ok=True)
    (COMPILED_DIR / ".gitignore").write_text("*\n")
    shutil.copy(HERE / "apps" / "covet_app.py", COMPILED_DIR / "covet_app.py")
    out = subprocess.run([str(COVET_PY), "-m", "covet", "build", "covet_app:app"], cwd=COMPILED_DIR,
                         capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(COMPILED_DIR)))
    if out.returncode != 0:
        print(f"perf: covet build failed: compiled target left out:\n{out.stderr}", file=sys.stderr)
        return False
    return True


def targets(quick: bool = False, only: set[str] | None = None) -> list[Target]:
    covet = [str(COVET_PY), "-m", "covet", "serve", "perf.apps.covet_app:app", "--log-level", "warning",
             "--port", "{port}"]
    nginx = Target("nginx (C ceiling)", [sys.executable, str(HERE / "nginx" / "run.py"), "{port}"], HERE,
                   endpoints={"plaintext", "json", "pipelined"})
    robyn = Target("Robyn", [str(ROBYN_PY), "apps/robyn_app.py", "--processes", "1", "--workers", "1",
                             "--log-level", "WARNING", "--port", "{port}"], HERE)
    served = [str(COVET_PY), "-m", "covet", "serve", "covet_app:app", "--compiled", "require", "--log-level",
              "warning", "--port", "{port}"]
    compiled = Target("covet compiled (uvloop)", [*served, "--loop", "uvloop"], COMPILED_DIR)
    compiled_uring = Target("covet compiled (io_uring)", [*served, "--loop", "uring"], COMPILED_DIR)
    out = [
        Target("covet (io_uring)", [*covet, "--loop", "uring"], ROOT),
        compiled_uring,
        Target("covet (uvloop)", [*covet, "--loop", "uvloop"], ROOT),
        compiled,
        # Nothing compiled: the pure-Python runtime and the app as written.
        Target("covet pure Python (uvloop)", [*covet, "--loop", "uvloop"], ROOT, env={"COVET_PURE_RUNTIME": "1"}),
        Target("covet (asyncio)", [*covet, "--loop", "asyncio"], ROOT),
        Target("uvicorn raw ASGI", uvicorn("apps.uvicorn_raw:app"), HERE),
        Target("Granian raw RSGI", granian("apps.granian_rsgi:app", "rsgi"), HERE),
        Target("socketify", [str(PEERS_PY), "apps/socketify_app.py", "--port", "{port}"], HERE),
        Target("FastAPI (uvicorn)", uvicorn("apps.fastapi_app:app"), HERE),
        Target("Starlette (uvicorn)", uvicorn("apps.starlette_app:app"), HERE),
        Target("Starlette (Granian ASGI)", granian("apps.starlette_app:app", "asgi"), HERE),
        Target("Falcon (uvicorn)", uvicorn("apps.falcon_app:app"), HERE),
        Target("BlackSheep (uvicorn)", uvicorn("apps.blacksheep_app:app"), HERE),
        robyn,
        nginx,
    ]
    if not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()):
        print("perf: nginx is missing (apt-get install nginx): left out", file=sys.stderr)
        out.remove(nginx)
    if not ROBYN_PY.exists():
        print("perf: perf/.venv-robyn is missing (make bench-deps): Robyn left out", file=sys.stderr)
        out.remove(robyn)
    if not sys.platform.startswith("linux"):
        out = [t for t in out if "io_uring" not in t.name]
    if not build_compiled():
        out = [t for t in out if t not in (compiled, compiled_uring)]
    if quick:
        keep = {"covet (io_uring)", "covet compiled (io_uring)", "covet (uvloop)", "covet compiled (uvloop)",
                "uvicorn raw ASGI", "Granian raw RSGI", "socketify", "FastAPI (uvicorn)", "nginx (C ceiling)"}
        out = [t for t in out if t.name in keep]
    if only:
        out = [t for t in out if t.name in only]
    return out


def start(t: Target) -> None:
    t.port = free_port()
    cmd = ["taskset", "-c", "0", *[c.replace("{port}", str(t.port)) for c in t.cmd]]
    t.proc = subprocess.Popen(cmd, cwd=t.cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              env=dict(os.environ, **t.env))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", t.port), timeout=0.5):
                return
        except OSError:
            if t.proc.poll() is not None:
                err = t.proc.stderr.read().decode() if t.proc.stderr else ""
                raise RuntimeError(f"{t.name} exited: {err}") from None
            time.sleep(0.1)
    raise RuntimeError(f"{t.name} did not start")


def stop(t: Target) -> None:
    if t.proc and t.proc.poll() is None:
        t.proc.send_signal(signal.SIGINT)
        try:
            t.proc.wait(10)
        except subprocess.TimeoutExpired:
            t.proc.kill()


def check(t: Target, ep: Endpoint) -> str | None:
    req = urllib.request.Request(f"http://127.0.0.1:{t.port}{ep.path}", data=ep.body, method=ep.method,
                                 headers={"content-type": "application/json"} if ep.body else {})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            got = r.read()
    except Exception as exc:
        return f"error: {exc}"
    if json_equal(got, ep.expect) or got == ep.expect:
        return None
    return f"wrong answer: {got[:100]!r}"


def json_equal(a: bytes, b: bytes) -> bool:
    try:
        return bool(json.loads(a) == json.loads(b))
    except ValueError:
        return False


def cpu_seconds(pid: int) -> float:
    total = 0
    for p in [pid, *children(pid)]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICK


def children(pid: int) -> list[int]:
    """The direct children of ``pid``, whichever of its threads started them."""
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            out += [int(c) for c in Path(f"/proc/{pid}/task/{tid}/children").read_text().split()]
        except OSError:
            pass
    return out


def tree(pid: int) -> list[int]:
    """The process and all its descendants (Granian's workers are children of its main process)."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo += children(p)
    return found


def rss(pid: int) -> int:
    """Resident memory of ``pid`` and its descendants, in bytes."""
    total = 0
    for p in tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def parse_latency(text: str, pct: str) -> float | None:
    m = re.search(rf"^\s*{pct}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    return float(m.group(1)) * _UNITS[m.group(2)] if m else None


def run_wrk(t: Target, ep: Endpoint, seconds: int, conns: int) -> dict[str, float]:
    assert t.proc is not None
    cmd = ["taskset", "-c", "1", "wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--latency"]
    if ep.script:
        cmd += ["-s", str(HERE / ep.script)]
    cmd.append(f"http://127.0.0.1:{t.port}{ep.path}")
    c0 = cpu_seconds(t.proc.pid)
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    c1 = cpu_seconds(t.proc.pid)
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    rps = float(m.group(1)) if m else 0.0
    # wrk counts every response, pipelined or not.
    reqs = int(total.group(1)) if total else 0
    if not reqs:
        print(f"perf: {t.name} {ep.name}: wrk served nothing:\n{out}", file=sys.stderr)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps,
        "p50_ms": parse_latency(out, "50") or 0.0,
        "p99_ms": parse_latency(out, "99") or 0.0,
        "cpu_us_per_req": (c1 - c0) / reqs * 1e6 if reqs else 0.0,
        "non2xx": float(errors.group(1)) if errors else 0.0,
    }


def machine() -> dict[str, str]:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {"cpu": model, "cores": str(os.cpu_count()), "kernel": platform.release(),
            "python": platform.python_version(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seconds", type=int, default=None)
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--endpoints", default=",".join(e.name for e in ENDPOINTS))
    ap.add_argument("--out", default=str(HERE / "results"))
    ap.add_argument("--docs", action="store_true", help="write docs/performance.md from this run")
    ap.add_argument("--targets", default="", help="comma-separated target names to run (default: all)")
    ap.add_argument("--from-results", metavar="JSONL", help="render the newest run in a runs.jsonl; run nothing")
    args = ap.parse_args()
    seconds = args.seconds or (3 if args.quick else 10)
    rounds = args.rounds or (1 if args.quick else 3)
    if not shutil.which("wrk"):
        print("perf: wrk is missing: apt-get install wrk", file=sys.stderr)
        return 2
    eps = [e for e in ENDPOINTS if e.name in args.endpoints.split(",")]
    if args.from_results:
        summary, info, order = from_results(Path(args.from_results))
        ts_done = [Target(name, [], HERE) for name in order]
        text = report(summary, ts_done, eps, info, seconds, rounds, args.connections)
        print(text)
        if args.docs:
            write_docs(text, args.quick, summary, ts_done, eps)
        return 0
    # SIGTERM unwinds like an exception, so the servers started below are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ts = targets(args.quick, {n.strip() for n in args.targets.split(",") if n.strip()} or None)
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    try:
        for t in ts:
            start(t)
            for ep in eps:
                if not t.serves(ep):
                    continue
                why = check(t, ep)
                if why:
                    t.wrong[ep.name] = why
                    print(f"perf: {t.name} {ep.name}: {why}: not timed", file=sys.stderr)
        for ep in eps:  # warm-up
            for t in ts:
                if t.serves(ep) and ep.name not in t.wrong:
                    run_wrk(t, ep, 1, args.connections)
        for r in range(rounds):
            for ep in eps:
                for t in ts:
                    if ep.name in t.wrong or not t.serves(ep):
                        continue
                    res = run_wrk(t, ep, seconds, args.connections)
                    results.setdefault((t.name, ep.name), []).append(res)
                    print(f"round {r + 1} {ep.name:10} {t.name:20} {res['rps']:>10.0f} req/s  "
                          f"{res['cpu_us_per_req']:6.1f} us CPU/req  p99 {res['p99_ms']:.2f} ms", file=sys.stderr)
    finally:
        for t in ts:
            stop(t)
    info = machine()
    Path(args.out).mkdir(parents=True, exist_ok=True)
    with open(Path(args.out) / "runs.jsonl", "a") as f:
        for (tname, ename), runs in results.items():
            f.write(json.dumps({"machine": info, "target": tname, "endpoint": ename, "runs": runs}) + "\n")
    summary = {
        key: {k: statistics.median(r[k] for r in runs) for k in runs[0]} for key, runs in results.items()
    }
    text = report(summary, ts, eps, info, seconds, rounds, args.connections)
    print(text)
    if args.docs:
        write_docs(text, args.quick, summary, ts, eps)
    return 0


def write_docs(text: str, quick: bool, summary: dict[tuple[str, str], dict[str, float]], ts: list[Target],
               eps: list[Endpoint]) -> None:
    from charts import bar_charts
    from docsection import replace_section

    charts = bar_charts(summary, [t.name for t in ts], [e.name for e in eps], ROOT / "docs" / "img")
    images = "\n".join(f"![{p.stem}](img/{p.name})" for p in charts)
    replace_section(
        "throughput",
        "## Throughput and CPU per request\n\n"
        "Measured by `perf/bench.py`: every server runs one worker pinned to CPU 0, wrk runs pinned to CPU 1, "
        "each endpoint is checked for a correct answer before it is timed (a wrong answer is reported, not timed), "
        "and rounds interleave the targets. On two cores wrk itself caps near 110k to 170k requests/s, so at the "
        "top the server CPU time per request (user + system time from /proc over the run, divided by the requests "
        "served) tells the servers apart better than requests/s. wrk records no latency for pipelined requests.\n\n"
        "CovetPy runs in three modes here: `covet (uvloop)` is `covet serve` without a build (the runtime modules "
        "the wheel compiles with mypyc, the app as written), `covet compiled (uvloop)` serves a `covet build` of "
        "the app (handlers and glue compiled too), and `covet pure Python (uvloop)` compiles nothing "
        "(`COVET_PURE_RUNTIME=1`). The C parser and response writer are used in all three. The `(io_uring)` "
        "targets serve the same app and mode on the io_uring core (`--loop uring`, the default on Linux).\n\n"
        + ("(A quick run: one short round.)\n\n" if quick else "")
        + text + ("\n\n" + images if images else "")
        + "\n\nThe peers' versions are pinned in `perf/requirements-peers.txt`; their apps are in `perf/apps/`.",
    )


def _is_peer(name: str) -> bool:
    return not name.startswith("covet") and not name.startswith("nginx")


# (io_uring target, uvloop target) pairs: the same app and mode on the two backends.
BACKEND_PAIRS = [("covet (io_uring)", "covet (uvloop)"), ("covet compiled (io_uring)", "covet compiled (uvloop)")]


def backends(lines: list[str], summary: dict[tuple[str, str], dict[str, float]], eps: list[Endpoint]) -> None:
    """io_uring against uvloop, same app and mode, same run: CPU per request and requests/s as ratios."""
    pairs = [(a, b) for a, b in BACKEND_PAIRS if any((a, e.name) in summary and (b, e.name) in summary for e in eps)]
    if not pairs:
        return
    lines.extend(["**io_uring against uvloop: server CPU per request, and requests/s (io_uring ÷ uvloop)**", "",
                  "| Mode | " + " | ".join(e.name for e in eps) + " |", "|---" * (len(eps) + 1) + "|"])
    for a, b in pairs:
        row = [a.replace(" (io_uring)", "")]
        for ep in eps:
            ra, rb = summary.get((a, ep.name)), summary.get((b, ep.name))
            if ra is None or rb is None or not rb["cpu_us_per_req"] or not rb["rps"]:
                row.append("-")
            else:
                cpu, rps = ra["cpu_us_per_req"] / rb["cpu_us_per_req"], ra["rps"] / rb["rps"]
                row.append(f"CPU {cpu:.2f}x, req/s {rps:.2f}x")
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")


def report(summary: dict[tuple[str, str], dict[str, float]], ts: list[Target], eps: list[Endpoint],
           info: dict[str, str], seconds: int, rounds: int, conns: int) -> str:
    """Markdown tables: a row per target, a column per endpoint."""
    lines = [(f"Machine: {info['cpu']}, {info['cores']} cores, Linux {info['kernel']}, Python {info['python']}, "
              f"{info['date']}."),
             f"wrk -t1 -c{conns}, {seconds} s x {rounds} interleaved rounds, medians; server on CPU 0, wrk on CPU 1.",
             ""]
    head = "| Target | " + " | ".join(e.name for e in eps) + " |"
    rule = "|---" * (len(eps) + 1) + "|"

    def table(title: str, cell: Callable[[Target, Endpoint, dict[str, float]], str]) -> None:
        lines.extend([f"**{title}**", "", head, rule])
        for t in ts:
            row = [t.name]
            for ep in eps:
                res = summary.get((t.name, ep.name))
                if ep.name in t.wrong:
                    row.append("wrong answer")
                elif res is None:
                    row.append("-")
                else:
                    row.append(cell(t, ep, res))
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")

    table("Requests per second", lambda t, ep, r: f"{r['rps'] / 1000:.1f}k")
    table("Server CPU time per request", lambda t, ep, r: f"{r['cpu_us_per_req']:.1f} µs")
    backends(lines, summary, eps)
    table("Latency p50 / p99 (wrk records none for pipelined requests)",
          lambda t, ep, r: "-" if ep.pipelined > 1 else f"{r['p50_ms']:.2f} / {r['p99_ms']:.2f} ms")

    def ratios(t: Target, ep: Endpoint, r: dict[str, float]) -> str:
        peers = [summary[(o.name, ep.name)]["rps"] for o in ts if _is_peer(o.name) and (o.name, ep.name) in summary]
        nginx = next((summary[(o.name, ep.name)]["rps"] for o in ts
                      if o.name.startswith("nginx") and (o.name, ep.name) in summary), None)
        parts = [f"{r['rps'] / max(peers):.2f}x" if peers else "-"]
        parts.append(f"{r['rps'] / nginx:.2f}x" if nginx else "-")
        return " / ".join(parts)

    table("Requests per second as a ratio to the fastest peer / to nginx", ratios)

    # What compiling buys: each covet mode against the one that compiles nothing, same run.
    pure = next((t for t in ts if t.name.startswith("covet pure")), None)
    modes = [t for t in ts if t.name.startswith("covet") and "asyncio" not in t.name]
    if pure is not None and len(modes) > 1:
        title = "**CovetPy's modes: server CPU time per request, and its ratio to pure Python** (lower is better)"
        lines.extend([title, "", head, rule])
        for t in modes:
            row = [t.name]
            for ep in eps:
                r, base = summary.get((t.name, ep.name)), summary.get((pure.name, ep.name))
                if r is None or base is None or not base["cpu_us_per_req"]:
                    row.append("-")
                else:
                    row.append(f"{r['cpu_us_per_req']:.2f} µs ({r['cpu_us_per_req'] / base['cpu_us_per_req']:.2f}x)")
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    return "\n".join(lines).rstrip()


def from_results(path: Path) -> tuple[dict[tuple[str, str], dict[str, float]], dict[str, str], list[str]]:
    """The medians of the newest run recorded in a runs.jsonl file."""
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    newest = records[-1]["machine"]["date"]
    summary: dict[tuple[str, str], dict[str, float]] = {}
    order: list[str] = []
    for rec in records:
        if rec["machine"]["date"] != newest:
            continue
        runs = rec["runs"]
        summary[(rec["target"], rec["endpoint"])] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        if rec["target"] not in order:
            order.append(rec["target"])
    return summary, records[-1]["machine"], order


if __name__ == "__main__":
    sys.exit(main())
