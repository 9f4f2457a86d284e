"""What a change to the request path costs, counted in instructions rather than timed.

perf/seam.py times server CPU per request; on a shared 2-core machine one cell moves by ±3-4% between runs, so
it cannot show a 2% budget held. This counts instead: each server runs under valgrind's callgrind with
instrumentation off until it is warm, then the instructions it executes (every thread: loop, glue, C core,
libc, the access-log writer) are counted over a fixed number of requests, and divided by them. Kernel work is
not counted; both sides of a ratio make the same system calls per request, which the script checks by
reading their request/response bytes the same way.

The load is as regular as a socket allows: one connection, and either one request per write, each waited for
(``single``), or 16 requests per write, all 16 answered before the next write (``pipelined``); hash seeds are
fixed, and the instructions spent idle (timers) are measured and taken out. What still varies is how the
server's wake-ups fall against the client's writes, so each server is started ``--repeat`` times and the
lowest count is kept; the output says how far apart the repeats were.

Usage: python perf/instructions.py [--this REV] [--against REV,REV] [--requests 2000] [--repeat 1]
                                  [--flags "--no-access-log;--metrics"]
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench
import seam
from bench import ENDPOINTS, ROOT, Endpoint

PATTERNS = {"single": 1, "pipelined": 16}


@dataclass
class Counted:
    pid: int
    proc: subprocess.Popen[bytes]
    port: int
    out: Path


def request_bytes(ep: Endpoint) -> bytes:
    head = f"{ep.method} {ep.path} HTTP/1.1\r\nHost: bench\r\n"
    if ep.body is None:
        return (head + "\r\n").encode()
    return (head + f"Content-Type: application/json\r\nContent-Length: {len(ep.body)}\r\n\r\n").encode() + ep.body


def read_responses(sock: socket.socket, count: int, buf: bytearray) -> None:
    """Read ``count`` whole Content-Length responses from ``sock`` (``buf`` holds what was read past them)."""
    for _ in range(count):
        while (end := buf.find(b"\r\n\r\n")) < 0:
            chunk = sock.recv(65536)
            if not chunk:
                raise SystemExit("perf: the server closed the connection")
            buf += chunk
        m = re.search(rb"(?i)\r\ncontent-length: *(\d+)", bytes(buf[:end + 2]))
        if m is None:
            raise SystemExit(f"perf: no Content-Length in {bytes(buf[:end])!r}")
        total = end + 4 + int(m.group(1))
        while len(buf) < total:
            chunk = sock.recv(65536)
            if not chunk:
                raise SystemExit("perf: the server closed the connection")
            buf += chunk
        del buf[:total]


def load(port: int, ep: Endpoint, requests: int, per_write: int) -> None:
    one = request_bytes(ep)
    burst = one * per_write
    buf = bytearray()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(requests // per_write):
            sock.sendall(burst)
            read_responses(sock, per_write, buf)


def control(pid: int, *args: str) -> None:
    out = subprocess.run(["callgrind_control", *args, str(pid)], capture_output=True, text=True, timeout=120)
    if out.returncode != 0 or "OK" not in out.stdout:
        raise SystemExit(f"perf: callgrind_control {' '.join(args)} {pid}: {out.stdout}{out.stderr}")


def start(tree: Path, proj: Path, loop: str, compiled: bool, out: Path, flags: list[str]) -> Counted:
    port = bench.free_port()
    cmd = ["taskset", "-c", "0", "valgrind", "--tool=callgrind", "--instr-atstart=no",
           f"--callgrind-out-file={out}/cg.%p", str(bench.COVET_PY), "-m", "covet", "serve", "covet_app:app",
           "--loop", loop, "--log-level", "warning", "--port", str(port), *flags]
    if compiled:
        cmd += ["--compiled", "require"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join((str(tree), str(proj))), PYTHONHASHSEED="0")
    # stderr to a file: the access log is on by default and writes there, and a pipe nobody reads would fill and
    # stall its writer thread, whose formatting is part of the count.
    log = out / f"stderr.{port}"
    with log.open("wb") as err_file:
        proc = subprocess.Popen(cmd, cwd=proj, env=env, stdout=subprocess.DEVNULL, stderr=err_file)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return Counted(proc.pid, proc, port, out)
        except OSError:
            if proc.poll() is not None:
                err = log.read_text(errors="replace")
                raise SystemExit(f"perf: {tree.name} {loop} exited:\n{err[-3000:]}") from None
            time.sleep(0.5)
    raise SystemExit(f"perf: {tree.name} {loop} did not start under valgrind")


def counted(srv: Counted, work: Callable[[], None]) -> tuple[int, float]:
    """Instructions executed while ``work`` runs, and its wall time."""
    before = set(srv.out.glob(f"cg.{srv.pid}.*"))
    control(srv.pid, "--zero")
    control(srv.pid, "--instr=on")
    t0 = time.monotonic()
    work()
    elapsed = time.monotonic() - t0
    control(srv.pid, "--instr=off")
    control(srv.pid, "--dump")
    made = sorted(set(srv.out.glob(f"cg.{srv.pid}.*")) - before, key=lambda p: int(p.name.rsplit(".", 1)[1]))
    if not made:
        raise SystemExit("perf: callgrind wrote no dump")
    m = re.search(r"^totals: (\d+)", made[-1].read_text(), re.M)
    if m is None:
        raise SystemExit(f"perf: no totals in {made[-1]}")
    return int(m.group(1)), elapsed


def idle_rate(srv: Counted, seconds: float = 3.0) -> float:
    """Instructions per second the server spends with no request (timers): under valgrind a request takes ~50×
    its native time, so the timers that fire meanwhile would be counted ~50× over; they are taken out."""
    n, elapsed = counted(srv, lambda: time.sleep(seconds))
    return n / elapsed


def count(srv: Counted, ep: Endpoint, per_write: int, requests: int, idle: float) -> float:
    """Instructions per request over ``requests`` requests of ``ep``, ``per_write`` to a write."""
    load(srv.port, ep, 10 * per_write, per_write)  # warm: the route's code paths have run
    requests = requests // per_write * per_write
    n, elapsed = counted(srv, lambda: load(srv.port, ep, requests, per_write))
    return (n - idle * elapsed) / requests


def stop(srv: Counted) -> None:
    srv.proc.terminate()
    try:
        srv.proc.wait(60)
    except subprocess.TimeoutExpired:
        srv.proc.kill()
        srv.proc.wait()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--this", default="", help="a revision to measure instead of the working tree")
    ap.add_argument("--against", default=seam.AGAINST_DEFAULT, help="revisions to compare with, comma-separated")
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=1, help="servers per side; more than one shows the spread")
    ap.add_argument("--loops", default=",".join(seam.LOOPS))
    ap.add_argument("--modes", default=",".join(seam.MODES))
    ap.add_argument("--endpoints", default="plaintext,json,users,items")
    ap.add_argument("--flags", default="",
                    help="server options to compare on each tree, sets separated by ';' (e.g. "
                         "'--no-access-log;--metrics'): a column each")
    ap.add_argument("--docs", action="store_true", help="write the section of docs/performance.md")
    args = ap.parse_args()
    os.sched_setaffinity(0, {1})  # the client on CPU 1, the server on CPU 0, as in every perf/ script

    this = f"{args.this} (this)" if args.this else "this tree"
    trees = {this: seam.checkout(args.this) if args.this else ROOT,
             **{rev: seam.checkout(rev) for rev in args.against.split(",") if rev}}
    eps = [ep for ep in ENDPOINTS if ep.name in args.endpoints.split(",")]
    flagsets = [f.split() for f in args.flags.split(";")] if args.flags else [[]]
    # A column per tree and flag set: (tree's name, flags).
    sides = {(f"{name} {' '.join(flags)}".strip() if len(flagsets) > 1 else name): (name, flags)
             for name in trees for flags in flagsets}
    found: dict[tuple[str, str, str, str, str], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="covet-callgrind-") as tmp:
        for mode in args.modes.split(","):
            compiled = mode == "compiled"
            projects = {name: seam.project(f"cg-{mode}-{name.split()[0]}", src, compiled)
                        for name, src in trees.items()}
            for loop in args.loops.split(","):
                for name, (tree_name, flags) in sides.items():
                    for _ in range(args.repeat):
                        srv = start(trees[tree_name], projects[tree_name], loop, compiled, Path(tmp), flags)
                        try:
                            idle = idle_rate(srv)
                            print(f"{mode} {loop} {name}: {idle:,.0f} instructions/s idle", flush=True)
                            for ep in eps:
                                for pattern, per_write in PATTERNS.items():
                                    n = count(srv, ep, per_write, args.requests, idle)
                                    found.setdefault((mode, loop, ep.name, pattern, name), []).append(n)
                                    print(f"{mode} {loop} {ep.name} {pattern} {name}: {n:,.0f} instructions/request",
                                          flush=True)
                        finally:
                            stop(srv)
    names = list(sides)
    lines = [
        (f"Measured {time.strftime('%Y-%m-%d %H:%M')} by `perf/instructions.py` "
         f"({args.requests} requests a cell on one connection, each server started {args.repeat}× and the lowest "
         "count kept; server on CPU 0, client on CPU 1). Instructions per request, user space, every thread of "
         "the server, counted by callgrind; `single` is one request per write, `pipelined` 16. Ratios are "
         f"{names[0]} ÷ the revision: under 1 is fewer instructions."),
        "",
        "| Mode | Loop | Endpoint | Requests | " + " | ".join(names) + " | "
        + " | ".join(f"÷ {rev}" for rev in names[1:]) + " |",
        "|---" * (4 + 2 * len(names) - 1) + "|",
    ]
    for mode in args.modes.split(","):
        for loop in args.loops.split(","):
            for ep in eps:
                for pattern in PATTERNS:
                    counts = {name: min(found[(mode, loop, ep.name, pattern, name)]) for name in names}
                    first = counts[names[0]]
                    lines.append(f"| {mode} | {loop} | {ep.name} | {pattern} | "
                                 + " | ".join(f"{c:,.0f}" for c in counts.values()) + " | "
                                 + " | ".join(f"{first / counts[rev]:.3f}×" for rev in names[1:]) + " |")
    spread = [max(v) / min(v) - 1 for v in found.values() if len(v) > 1]
    if spread:
        note = (f"The same server started {args.repeat} times: counts {statistics.median(spread):.2%} apart at the "
                f"median, {max(spread):.2%} at most.")
        lines += ["", note]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.docs:
        from docsection import replace_section

        replace_section("instructions", "## The request path in instructions (issue 14)\n\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
