"""What dependencies, middleware and the rest cost: the routes that use none of them, and one that uses two.

Three questions, each answered as a ratio of two servers measured in the same
run (server pinned to CPU 0, wrk to CPU 1, rounds alternating, medians):

1. Existence: the plain benchmark app (apps/covet_app.py) on this CovetPy
   against the same app on CovetPy as it was before these features
   (``--before``, a git revision, checked out and built beside this tree).
2. Neighbours: /plaintext and /json of apps/covet_features_app.py, whose other
   routes use a router's middleware, dependencies, background tasks and an
   exception handler, against the same routes of the plain app.
3. Use: /mw/users/{id}, one dependency and one middleware, against FastAPI's
   equivalent (apps/fastapi_features_app.py on uvicorn).
4. The thread pool: a ``def`` handler in CovetPy's pool against FastAPI's ``def``
   handler in anyio's pool, and against the same handler ``inline=True``.

Usage: python perf/features.py [--seconds 10] [--rounds 3] [--before REV] [--docs]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench
from bench import COVET_PY, HERE, ROOT, Endpoint, Target

BEFORE_DEFAULT = "125c829"  # the last commit before dependencies, middleware and the OpenAPI work
PLAIN = Endpoint("plaintext", "/plaintext", b"Hello, World!")
JSONE = Endpoint("json", "/json", b'{"message":"Hello, World!"}')
TYPED = Endpoint("users", "/users/42?q=hi", b'{"id":42,"q":"hi"}')
MW = Endpoint("dep+mw", "/mw/users/42", b'{"id":42,"user":"anonymous"}')
ITEMS = next(e for e in bench.ENDPOINTS if e.name == "items")  # a JSON body: the content-type rule's cost
POOLED = Endpoint("pooled", "/pooled/users/42?q=hi", b'{"id":42,"q":"hi"}')
INLINE = Endpoint("inline", "/inline/users/42?q=hi", b'{"id":42,"q":"hi"}')


def sh(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=dict(os.environ, **(env or {})))
    if out.returncode != 0:
        raise SystemExit(f"perf: {' '.join(cmd)} failed in {cwd}:\n{out.stdout}\n{out.stderr}")


def build(app_file: Path, where: Path, covet_src: Path | None = None) -> Path:
    """``covet build`` of ``app_file`` in a project of its own (with another CovetPy's sources when given)."""
    where.mkdir(parents=True, exist_ok=True)
    (where / ".gitignore").write_text("*\n")
    bench.copy_app(app_file, where, covet_src)
    path = os.pathsep.join(str(p) for p in (covet_src, where) if p is not None)
    sh([str(COVET_PY), "-m", "covet", "build", f"{app_file.stem}:app"], where, {"PYTHONPATH": path})
    return where


def checkout_before(rev: str) -> Path:
    """CovetPy at ``rev``, with its extensions built in place."""
    tree = HERE / ".before"
    if not (tree / ".git").exists():
        sh(["git", "worktree", "add", "--detach", str(tree), rev], ROOT)
    else:
        sh(["git", "checkout", "--detach", rev], tree)
    sh([str(COVET_PY), "setup.py", "-q", "build_ext", "--inplace"], tree)
    return tree


def serve(name: str, project: Path, target: str, covet_src: Path | None = None) -> Target:
    cmd = [str(COVET_PY), "-m", "covet", "serve", target, "--compiled", "require", "--loop", "uring",
           "--log-level", "warning", "--port", "{port}"]
    env = {"PYTHONPATH": os.pathsep.join(str(p) for p in (covet_src, project) if p is not None)}
    return Target(name, cmd, project, env=env)


Pair = tuple[str, Target, Target, Endpoint, Endpoint]


def measure(pairs: list[Pair], seconds: int, rounds: int) -> dict[str, dict[str, list[float]]]:
    """Each pair's two servers (each on its endpoint), alternately, ``rounds`` times: CPU per request and
    requests/s of each."""
    found: dict[str, dict[str, list[float]]] = {}
    for rnd in range(rounds):
        for label, a, b, ep_a, ep_b in pairs:
            for side, t, ep in (("a", a, ep_a), ("b", b, ep_b)):
                bench.start(t)
                try:
                    wrong = bench.check(t, ep)
                    if wrong:
                        raise SystemExit(f"perf: {t.name} {ep.path}: {wrong}")
                    bench.run_wrk(t, ep, 2, 64)  # warm-up
                    r = bench.run_wrk(t, ep, seconds, 64)
                finally:
                    bench.stop(t)
                slot = found.setdefault(label, {})
                slot.setdefault(f"{side}_cpu", []).append(r["cpu_us_per_req"])
                slot.setdefault(f"{side}_rps", []).append(r["rps"])
                print(f"round {rnd + 1} {label} {t.name}: {r['rps']:.0f} req/s, {r['cpu_us_per_req']:.2f} us/req",
                      flush=True)
    return found


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--before", default=BEFORE_DEFAULT)
    ap.add_argument("--docs", action="store_true", help="write the section of docs/performance.md")
    ap.add_argument("--only", default="", help="measure only the comparisons whose name starts with this")
    args = ap.parse_args()

    tree = checkout_before(args.before)
    plain_now = build(HERE / "apps" / "covet_app.py", HERE / ".build-plain")
    plain_before = build(HERE / "apps" / "covet_app.py", HERE / ".build-plain-before", tree)
    features = build(HERE / "apps" / "covet_features_app.py", HERE / ".build-features")

    now = serve("plain app, this CovetPy", plain_now, "covet_app:app")
    before = serve(f"plain app, CovetPy {args.before}", plain_before, "covet_app:app", tree)
    feat = serve("features app", features, "covet_features_app:app")
    fastapi = Target("FastAPI (uvicorn)", bench.uvicorn("apps.fastapi_features_app:app"), HERE)
    pairs: list[Pair] = [
        ("existence plaintext", now, before, PLAIN, PLAIN),
        ("existence json", now, before, JSONE, JSONE),
        ("existence typed", now, before, TYPED, TYPED),
        ("existence items", now, before, ITEMS, ITEMS),
        ("neighbours plaintext", feat, now, PLAIN, PLAIN),
        ("neighbours json", feat, now, JSONE, JSONE),
        ("dependency+middleware", feat, fastapi, MW, MW),
        ("pool: def handler vs FastAPI's", feat, fastapi, POOLED, POOLED),
        ("pool: def handler vs inline", feat, feat, POOLED, INLINE),
    ]
    pairs = [p for p in pairs if p[0].startswith(args.only)]
    found = measure(pairs, args.seconds, args.rounds)
    lines = [
        (f"Measured {time.strftime('%Y-%m-%d %H:%M')} by `perf/features.py` ({args.rounds} rounds of {args.seconds} s, "
         "64 connections, server on CPU 0, wrk on CPU 1; medians; CovetPy compiled with `covet build`, io_uring)."),
        "",
        "| Comparison | A | B | CPU/request A ÷ B | requests/s A ÷ B |",
        "|---|---|---|---|---|",
    ]
    names = {label: (f"{a.name} {ea.path}", f"{b.name} {eb.path}") for label, a, b, ea, eb in pairs}
    summary: dict[str, dict[str, float]] = {}
    for label, slot in found.items():
        cpu = statistics.median(slot["a_cpu"]) / statistics.median(slot["b_cpu"])
        rps = statistics.median(slot["a_rps"]) / statistics.median(slot["b_rps"])
        summary[label] = {"cpu_ratio": cpu, "rps_ratio": rps, "a_rps": statistics.median(slot["a_rps"]),
                          "b_rps": statistics.median(slot["b_rps"]), "a_cpu": statistics.median(slot["a_cpu"]),
                          "b_cpu": statistics.median(slot["b_cpu"])}
        a, b = names[label]
        lines.append(f"| {label} | {a}: {summary[label]['a_rps']:,.0f} req/s, {summary[label]['a_cpu']:.2f} µs | "
                     f"{b}: {summary[label]['b_rps']:,.0f} req/s, {summary[label]['b_cpu']:.2f} µs | "
                     f"{cpu:.3f}× | {rps:.3f}× |")
    text = "\n".join(lines) + "\n"
    print(text)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    with (out / "features.jsonl").open("a") as f:
        f.write(json.dumps({"time": time.time(), "before": args.before, "summary": summary}) + "\n")
    if args.docs:
        write_docs(text)
    return 0


START = "<!-- features:start -->"
END = "<!-- features:end -->"


def write_docs(text: str) -> None:
    doc = ROOT / "docs" / "performance.md"
    body = doc.read_text()
    block = f"{START}\n{text}{END}"
    if START in body:
        head, rest = body.split(START, 1)
        body = head + block + rest.split(END, 1)[1]
    else:
        body += f"\n## What the framework's features cost\n\n{block}\n"
    doc.write_text(body)


if __name__ == "__main__":
    sys.exit(main())
