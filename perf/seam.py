"""What a change to the request path costs: this tree against earlier revisions, every endpoint, loop and mode.

For each endpoint of the plain benchmark app (apps/covet_app.py), each loop
(io_uring, uvloop) and each mode (the app interpreted, and compiled by
``covet build``), the servers of this tree and of each ``--against``
revision (checked out and built under perf/.rev-<rev>) are measured in the
same run, alternately, ``--rounds`` times: server CPU per request with 64
connections, then requests/s with 16 requests pipelined per round trip
(GET endpoints). Server on CPU 0, wrk on CPU 1. Every server of a group stays
up and they take turns within each round; a ratio is the median of the
per-round ratios this ÷ that.

Usage: python perf/seam.py [--against REV,REV] [--seconds 2] [--rounds 8] [--docs]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench
from bench import COVET_PY, ENDPOINTS, HERE, ROOT, Endpoint, Target

AGAINST_DEFAULT = "efdc74e,59aa44a"  # before the exchange seam (issue 14), and before hardening (issue 13)
LOOPS = ("uring", "uvloop")
MODES = ("interpreted", "compiled")
PIPELINE = HERE / "pipeline_path.lua"


def sh(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=dict(os.environ, **(env or {})))
    if out.returncode != 0:
        raise SystemExit(f"perf: {' '.join(cmd)} failed in {cwd}:\n{out.stdout}\n{out.stderr}")


def checkout(rev: str) -> Path:
    """CovetPy at ``rev`` beside this tree, with its extensions (and compiled runtime) built in place."""
    tree = HERE / f".rev-{rev}"
    if not (tree / ".git").exists():
        sh(["git", "worktree", "add", "--detach", str(tree), rev], ROOT)
    sh([str(COVET_PY), "setup.py", "-q", "build_ext", "--inplace"], tree)
    return tree


def project(name: str, covet_src: Path, compiled: bool) -> Path:
    """A project holding the benchmark app, ``covet build``-t with ``covet_src`` when ``compiled``."""
    where = HERE / f".seam-{name}"
    if where.exists():
        shutil.rmtree(where)
    where.mkdir(parents=True)
    (where / ".gitignore").write_text("*\n")
    bench.copy_app(HERE / "apps" / "covet_app.py", where, covet_src)
    if compiled:
        sh([str(COVET_PY), "-m", "covet", "build", "covet_app:app"], where,
           {"PYTHONPATH": os.pathsep.join((str(covet_src), str(where)))})
    return where


def target(name: str, covet_src: Path, where: Path, loop: str, compiled: bool) -> Target:
    cmd = [str(COVET_PY), "-m", "covet", "serve", "covet_app:app", "--loop", loop, "--log-level", "warning",
           "--port", "{port}"]
    if compiled:
        cmd[5:5] = ["--compiled", "require"]
    return Target(name, cmd, where, env={"PYTHONPATH": os.pathsep.join((str(covet_src), str(where)))})


def pipelined(ep: Endpoint) -> Endpoint:
    return Endpoint(f"{ep.name} pipelined", ep.path, ep.expect, str(PIPELINE.name), pipelined=16)


def measure(servers: list[Target], eps: list[Endpoint], seconds: int, rounds: int
            ) -> dict[str, dict[str, dict[str, list[float]]]]:
    """{endpoint: {server: {"cpu": [...], "rps": [...]}}}.

    Every server stays up for the whole group and the runs alternate server by server within each round, so the
    two sides of a ratio are measured seconds apart: this machine's noise drifts over tens of seconds (the same
    server's CPU per request varied by ±15% from round to round when each round restarted every server).
    """
    found: dict[str, dict[str, dict[str, list[float]]]] = {}
    for t in servers:
        bench.start(t)
    try:
        for ep in eps:
            for t in servers:
                wrong = bench.check(t, ep)
                if wrong:
                    raise SystemExit(f"perf: {t.name} {ep.path}: {wrong}")
                bench.run_wrk(t, ep, 1, 64)  # warm-up
            for rnd in range(rounds):
                for t in servers:
                    slot = found.setdefault(ep.name, {}).setdefault(t.name, {"cpu": [], "rps": []})
                    slot["cpu"].append(bench.run_wrk(t, ep, seconds, 64)["cpu_us_per_req"])
                    if ep.method == "GET":
                        slot["rps"].append(bench.run_wrk(t, pipelined(ep), seconds, 64)["rps"])
                    print(f"round {rnd + 1} {t.name} {ep.name}: {slot['cpu'][-1]:.2f} us/req"
                          + (f", {slot['rps'][-1]:,.0f} pipelined req/s" if slot["rps"] else ""), flush=True)
    finally:
        for t in servers:
            bench.stop(t)
    return found


def paired(now: list[float], then: list[float]) -> float:
    """The median of the per-round ratios: each pair was measured seconds apart."""
    return statistics.median(a / b for a, b in zip(now, then, strict=True))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--against", default=AGAINST_DEFAULT, help="git revisions to compare with, comma-separated")
    ap.add_argument("--seconds", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--loops", default=",".join(LOOPS))
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--endpoints", default="plaintext,json,users,items")
    ap.add_argument("--docs", action="store_true", help="write the section of docs/performance.md")
    args = ap.parse_args()

    revs = [r for r in args.against.split(",") if r]
    trees = {"this tree": ROOT, **{rev: checkout(rev) for rev in revs}}
    eps = [ep for ep in ENDPOINTS if ep.name in args.endpoints.split(",")]
    rows: list[dict[str, object]] = []
    for mode in args.modes.split(","):
        compiled = mode == "compiled"
        projects = {name: project(f"{mode}-{name.replace(' ', '-')}", src, compiled) for name, src in trees.items()}
        for loop in args.loops.split(","):
            servers = [target(name, trees[name], projects[name], loop, compiled) for name in trees]
            found = measure(servers, eps, args.seconds, args.rounds)
            for ep_name, by_server in found.items():
                now = by_server["this tree"]
                for rev in revs:
                    then = by_server[rev]
                    row: dict[str, object] = {
                        "mode": mode, "loop": loop, "endpoint": ep_name, "against": rev,
                        "cpu_ratio": paired(now["cpu"], then["cpu"]),
                        "cpu_now": statistics.median(now["cpu"]), "cpu_then": statistics.median(then["cpu"]),
                    }
                    if now["rps"]:
                        row["rps_ratio"] = paired(now["rps"], then["rps"])
                    rows.append(row)
    lines = [
        (f"Measured {time.strftime('%Y-%m-%d %H:%M')} by `perf/seam.py` ({args.rounds} rounds of {args.seconds} s, "
         "64 connections, server on CPU 0, wrk on CPU 1; servers taking turns within each round; medians of the "
         "per-round ratios). CPU is server CPU per request; pipelined is "
         "requests/s with 16 requests per round trip. Ratios are this tree ÷ the revision: under 1 is cheaper "
         "CPU, over 1 is more requests/s."),
        "",
        "| Mode | Loop | Endpoint | Against | CPU/request µs (this, then): ratio | Pipelined req/s ratio |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        rps = f"{r['rps_ratio']:.3f}×" if "rps_ratio" in r else "-"
        lines.append(f"| {r['mode']} | {r['loop']} | {r['endpoint']} | {r['against']} | "
                     f"{r['cpu_now']:.2f}, {r['cpu_then']:.2f}: {r['cpu_ratio']:.3f}× | {rps} |")
    text = "\n".join(lines) + "\n"
    print(text)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    with (out / "seam.jsonl").open("a") as f:
        f.write(json.dumps({"time": time.time(), "against": revs, "rows": rows}) + "\n")
    if args.docs:
        from docsection import replace_section

        replace_section("seam", "## What the exchange seam cost (issue 14)\n\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
