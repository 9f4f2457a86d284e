"""HTTP/2 benchmarks: CovetPy against its peers, in one run (issue 18).

Every server runs one worker pinned to CPU 0; h2load runs pinned to CPU 1, with prior knowledge on a cleartext
port: ``h2load -c 10 -m 10`` (10 connections, 10 streams each in flight) on small GETs, for a fixed time. Each target
is checked first (an HTTP/2 answer with the right body, by curl); rounds interleave the targets; medians of the rounds
are reported, with the server's CPU time (user + system, from /proc) per request and ratios against CovetPy's
fastest target from the same run.

CovetPy frames HTTP/2 with nghttp2 (its native core); one target runs the pure-Python fallback (h2) instead.
Peers: Granian (Rust's hyper, raw RSGI app, ``--http 2``), Hypercorn (raw ASGI app, uvloop), nginx (``listen ...
http2``, the C ceiling). They run from perf/.venv-peers (perf/requirements-peers.txt); nginx from the system.

    .venv/bin/python perf/h2_bench.py                 # 3 rounds of 10 s per target
    .venv/bin/python perf/h2_bench.py --quick         # one round of 5 s
    .venv/bin/python perf/h2_bench.py --docs          # and write the "http2" section of docs/performance.md
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench
from bench import COVET_PY, HERE, PEERS_PY, ROOT, Target
from docsection import replace_section

PATHS = {"plaintext": ("/plaintext", b"Hello, World!"), "json": ("/json", b'{"message":"Hello, World!"}')}


def targets() -> list[Target]:
    covet = [str(COVET_PY), "-m", "covet", "serve", "perf.apps.covet_app:app", "--log-level", "warning",
             "--no-access-log", "--port", "{port}"]
    out = [
        Target("CovetPy (io_uring)", [*covet, "--loop", "uring"], ROOT),
        Target("CovetPy (uvloop)", [*covet, "--loop", "uvloop"], ROOT),
        # The fallback, where a build has no nghttp2 (docs/http2.md, "Which implementation frames HTTP/2").
        Target("CovetPy (io_uring, h2 framing)", [*covet, "--loop", "uring"], ROOT, env={"COVET_H2_FRAMING": "h2"}),
        Target("Granian raw RSGI", [str(PEERS_PY), "-m", "granian", "--interface", "rsgi", "--http", "2", "--no-ws",
                                    "--workers", "1", "--runtime-mode", "st", "--runtime-threads", "1",
                                    "--blocking-threads", "1", "--loop", "uvloop", "--no-access-log", "--log-level",
                                    "warning", "--port", "{port}", "apps.granian_rsgi:app"], HERE),
        Target("Hypercorn raw ASGI", [str(PEERS_PY), "-m", "hypercorn", "--worker-class", "uvloop", "--workers", "1",
                                      "--bind", "127.0.0.1:{port}", "--log-level", "warning",
                                      "apps.uvicorn_raw:app"], HERE),
        Target("nginx (C ceiling)", [sys.executable, str(HERE / "nginx" / "run.py"), "{port}", "--http2"], HERE),
    ]
    if not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()):
        print("perf: nginx is missing (apt-get install nginx): left out", file=sys.stderr)
        out = [t for t in out if not t.name.startswith("nginx")]
    if not PEERS_PY.exists():
        print("perf: perf/.venv-peers is missing (pip install -r perf/requirements-peers.txt): peers left out",
              file=sys.stderr)
        out = [t for t in out if t.name.startswith("CovetPy")]
    return out


def check(t: Target, path: str, expect: bytes) -> str | None:
    out = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-w", "\n%{http_version}",
                          f"http://127.0.0.1:{t.port}{path}"], capture_output=True, timeout=10)
    body, _, version = out.stdout.rpartition(b"\n")
    if version != b"2":
        return f"not HTTP/2: {out.stdout[:100]!r} {out.stderr[:200]!r}"
    if body != expect and not bench.json_equal(body, expect):
        return f"wrong answer: {body[:100]!r}"
    return None


def run_h2load(t: Target, path: str, seconds: int, extra: tuple[str, ...] = ()) -> dict[str, float]:
    """h2load's run on ``path`` (``extra``: more of its options, as perf/grpc_bench.py's body and fields)."""
    assert t.proc is not None
    url = f"http://127.0.0.1:{t.port}{path}"
    subprocess.run(["taskset", "-c", "1", "h2load", "-c", "10", "-m", "10", "-D", "1", *extra, url],
                   capture_output=True, timeout=60)  # warm-up, not counted
    c0 = bench.cpu_seconds(t.proc.pid)
    out = subprocess.run(["taskset", "-c", "1", "h2load", "-c", "10", "-m", "10", "-D", str(seconds), *extra, url],
                         capture_output=True, text=True, timeout=seconds + 60).stdout
    c1 = bench.cpu_seconds(t.proc.pid)
    done = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored",
                     out)
    rps = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out)
    if done is None or rps is None:
        print(f"perf: {t.name}: h2load said:\n{out}", file=sys.stderr)
        return {"rps": 0.0, "cpu_us_per_req": 0.0, "failed": 0.0}
    n = int(done.group(1))
    return {
        "rps": float(rps.group(1)),
        "cpu_us_per_req": (c1 - c0) / n * 1e6 if n else 0.0,
        "failed": float(int(done.group(3)) + int(done.group(4))),
    }


def arguments(doc: str | None) -> tuple[argparse.Namespace, int, int] | None:
    """The command line of an h2load benchmark (this one, perf/grpc_bench.py): its arguments, rounds and seconds;
    None when h2load is missing (said on stderr)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--docs", action="store_true")
    parser.add_argument("--only", help="comma-separated target names")
    args = parser.parse_args()
    if shutil.which("h2load") is None:
        print("perf: h2load is missing (apt-get install nghttp2-client)", file=sys.stderr)
        return None
    return (args, 1, 5) if args.quick else (args, args.rounds, args.seconds)


def only(ts: list[Target], names: str | None) -> list[Target]:
    return ts if not names else [t for t in ts if t.name in set(names.split(","))]


def interleaved(ts: list[Target], rounds: int, settle: float, each: Callable[[Target, int], None]) -> None:
    """``each(target, round)`` for every target of every round, the target's server started for it (and given
    ``settle`` seconds) and stopped after: rounds interleave the targets, so a noisy minute spreads over all."""
    for r in range(rounds):
        for t in ts:
            bench.start(t)
            try:
                time.sleep(settle)
                each(t, r)
            finally:
                bench.stop(t)


def main() -> int:
    parsed = arguments(__doc__)
    if parsed is None:
        return 1
    args, rounds, seconds = parsed
    ts = only(targets(), args.only)
    results: dict[tuple[str, str], list[dict[str, float]]] = {}

    def each(t: Target, r: int) -> None:
        for name, (path, expect) in PATHS.items():
            wrong = check(t, path, expect)
            if wrong:
                t.wrong[name] = wrong
                print(f"perf: {t.name} {name}: {wrong}", file=sys.stderr)
                continue
            got = run_h2load(t, path, seconds)
            results.setdefault((t.name, name), []).append(got)
            print(f"round {r + 1} {t.name:22} {name:10} {got['rps']:9.0f} req/s "
                  f"{got['cpu_us_per_req']:6.1f} us/req failed={got['failed']:.0f}", flush=True)

    interleaved(ts, rounds, 0.5, each)
    text = report(results, ts, rounds, seconds)
    print(text)
    if args.docs:
        replace_section("http2", "## HTTP/2 (perf/h2_bench.py)\n\n" + text)
    return 0


def report(results: dict[tuple[str, str], list[dict[str, float]]], ts: list[Target], rounds: int,
           seconds: int, names: tuple[str, ...] = tuple(PATHS), what: str = "small GETs") -> str:
    med = {k: {m: statistics.median(r[m] for r in v) for m in v[0]} for k, v in results.items()}
    how = (f"h2load `-c 10 -m 10`, prior knowledge, {what}, {rounds} round(s) of {seconds} s; server on CPU 0, "
           "h2load on CPU 1; medians. Ratios: requests/s against the best CovetPy target of the same run.")
    lines = [how, ""]
    for name in names:
        best = max((v["rps"] for (t, e), v in med.items() if e == name and t.startswith("CovetPy")), default=0.0)
        lines += [f"**{name}**", "", "| Server | requests/s | server CPU per request | CovetPy's best ÷ it |",
                  "|---|---|---|---|"]
        for t in ts:
            v = med.get((t.name, name))
            if v is None:
                lines.append(f"| {t.name} | {t.wrong.get(name, '-')} | | |")
                continue
            ratio = best / v["rps"] if v["rps"] else 0.0
            lines.append(f"| {t.name} | {v['rps']:,.0f} | {v['cpu_us_per_req']:.1f} µs | {ratio:.2f}× |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
