"""Idle keep-alive connection memory: the server's resident memory per connection.

Opens N keep-alive connections, makes one request on each, leaves them idle,
and reads the server's resident memory (the process and its children, from
/proc). The figure is the slope between two counts, so fixed costs (code,
heap arenas, the first connection's buffers) do not blur it.

Open files are capped per process (20,000 here, a hard limit): the client
holds one socket per connection too, so the counts stay under it. Where the
limit allows, larger counts spread over several 127.0.0.x source addresses,
past the ephemeral port range of one address.

    python perf/memory.py --low 5000 --high 18000
"""

from __future__ import annotations

import argparse
import json
import resource
import selectors
import socket
import struct
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench

# Each server's own way to keep idle connections open long enough to measure.
LONG_KEEPALIVE: dict[str, list[str]] = {
    "covet (io_uring)": ["--keepalive-timeout", "600"],
    "covet (uvloop)": ["--keepalive-timeout", "600"],
    "covet (asyncio)": ["--keepalive-timeout", "600"],
    "uvicorn raw ASGI": ["--timeout-keep-alive", "600"],
    "FastAPI (uvicorn)": ["--timeout-keep-alive", "600"],
    "Starlette (uvicorn)": ["--timeout-keep-alive", "600"],
    # Granian's idle keep-alive limit is its header read timeout, at most 60 s.
    # Its backpressure (default: the backlog, 1024) caps open connections, not only busy ones.
    "Granian raw RSGI": ["--http1-header-read-timeout", "60000", "--backlog", "20000", "--backpressure", "20000"],
}
# socketify (uWebSockets) closes a connection idle for 10 s, a constant compiled in: its connections are
# asked again (one request each) every few seconds while the rest open, then measured at once.
REFRESH: dict[str, float] = {"socketify": 4.0}
DEFAULT_TARGETS = ["covet (io_uring)", "covet (uvloop)", "uvicorn raw ASGI", "Granian raw RSGI", "socketify",
                   "nginx (C ceiling)"]


# Each target opens its connections from its own 127.0.N.x addresses, so ports one target
# left behind never collide with the next one's.
SOURCE_NET = [0]


REQUEST = b"GET /plaintext HTTP/1.1\r\nHost: bench\r\n\r\n"


def open_idle(port: int, count: int, conns: list[socket.socket], refresh: float = 0.0) -> None:
    """Grow ``conns`` to ``count`` connections, each with one answered request."""
    i = len(conns)
    give_up = time.monotonic() + 120
    refreshed = time.monotonic()
    while len(conns) < count:
        if time.monotonic() > give_up:
            raise RuntimeError(f"only {len(conns)} of {count} connections opened in 120 s")
        if refresh and time.monotonic() - refreshed > refresh:
            ask_again(conns)
            refreshed = time.monotonic()
        batch = []
        for _ in range(min(500, count - len(conns))):
            s = socket.socket()
            # Spread source addresses so the ephemeral port range of one is never the limit.
            s.bind((f"127.0.{SOURCE_NET[0]}.{1 + (i // 20000)}", 0))
            i += 1
            s.connect(("127.0.0.1", port))
            s.sendall(REQUEST)
            s.setblocking(False)
            conns.append(s)
            batch.append(s)
        _await_answers(batch)


def ask_again(conns: list[socket.socket]) -> None:
    """One more request on every connection, answered before returning."""
    for s in conns:
        s.setblocking(True)
        s.sendall(REQUEST)
        s.setblocking(False)
    _await_answers(conns)


def _await_answers(socks: list[socket.socket]) -> None:
    """Read until every socket has its response; a server that closes one or stays silent fails the run."""
    sel = selectors.DefaultSelector()
    pending: dict[socket.socket, bytearray] = {}
    for s in socks:
        pending[s] = bytearray()
        sel.register(s, selectors.EVENT_READ)
    deadline = time.monotonic() + 30
    try:
        while pending and time.monotonic() < deadline:
            for key, _ in sel.select(1):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                data = sock.recv(65536)
                if not data:
                    raise RuntimeError("server closed an idle connection during the benchmark")
                pending[sock] += data
                if b"Hello, World!" in pending[sock]:
                    sel.unregister(sock)
                    del pending[sock]
        if pending:
            raise RuntimeError(f"{len(pending)} requests unanswered after 30 s")
    finally:
        sel.close()


def measure(t: bench.Target, low: int, high: int) -> dict[str, float]:
    SOURCE_NET[0] += 1
    conns: list[socket.socket] = []
    try:
        bench.start(t)
        assert t.proc is not None
        open_idle(t.port, 1, conns)
        base = bench.rss(t.proc.pid)
        refresh = REFRESH.get(t.name, 0.0)
        settle = min(2.0, refresh / 2) if refresh else 2.0  # shorter than the idle limit, where there is one
        open_idle(t.port, low, conns, refresh)
        time.sleep(settle)
        at_low = bench.rss(t.proc.pid)
        open_idle(t.port, high, conns, refresh)
        if refresh:
            ask_again(conns)
        time.sleep(settle)
        at_high = bench.rss(t.proc.pid)
        # Every connection must still be open: a server that dropped them did not keep them.
        alive = sum(1 for c in conns if _alive(c))
        return {"base_mb": base / 2**20, "low_mb": at_low / 2**20, "high_mb": at_high / 2**20,
                "bytes_per_conn": (at_high - at_low) / (high - low), "alive": alive, "opened": len(conns)}
    finally:
        for c in conns:
            # RST instead of FIN: no TIME_WAIT left holding the next target's ports.
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.close()
        bench.stop(t)


def _alive(sock: socket.socket) -> bool:
    try:
        return sock.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--low", type=int, default=5000)
    ap.add_argument("--high", type=int, default=18000)
    ap.add_argument("--targets", default=",".join(DEFAULT_TARGETS))
    ap.add_argument("--docs", action="store_true", help="write the memory section of docs/performance.md")
    ap.add_argument("--from-results", metavar="JSONL", help="render the newest run in a memory.jsonl; run nothing")
    args = ap.parse_args()
    if args.from_results:
        rec = json.loads(Path(args.from_results).read_text().splitlines()[-1])
        text = report(rec["results"], rec["low"], rec["high"])
        print(text)
        if args.docs:
            write_docs(text, rec["machine"])
        return 0
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.high + 100 > hard:
        print(f"memory: --high {args.high} needs more open files than the hard limit {hard}", file=sys.stderr)
        return 2
    wanted = args.targets.split(",")
    results = {}
    for t in bench.targets(quick=False):
        if t.name not in wanted:
            continue
        t.cmd = t.cmd + LONG_KEEPALIVE.get(t.name, [])
        try:
            res = measure(t, args.low, args.high)
        except Exception as exc:
            print(f"memory: {t.name}: {exc}", file=sys.stderr)
            continue
        results[t.name] = res
        print(f"{t.name:22} {res['bytes_per_conn']:>9.0f} B/conn  (RSS {res['low_mb']:.1f} MB at {args.low}, "
              f"{res['high_mb']:.1f} MB at {args.high}; {res['alive']}/{res['opened']} still open)", file=sys.stderr)
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    with open(out / "memory.jsonl", "a") as f:
        f.write(json.dumps({"machine": bench.machine(), "low": args.low, "high": args.high, "results": results}) + "\n")
    text = report(results, args.low, args.high)
    print(text)
    if args.docs:
        write_docs(text, bench.machine())
    return 0


def write_docs(text: str, info: dict[str, str]) -> None:
    from docsection import replace_section

    replace_section("memory", "## Memory per idle keep-alive connection\n\n"
                    f"Measured by `perf/memory.py` on {info['cpu']}, Linux {info['kernel']}, Python {info['python']}, "
                    f"{info['date']}: each connection makes one request and stays open, idle; the figure is the "
                    "growth of the server's resident memory (process and children) between the two counts, "
                    "divided by the connections added. Each server is told to keep idle connections open for "
                    "the run: covet and uvicorn by their keep-alive timeout, Granian by its header read timeout "
                    "(at most 60 s) and a backpressure above the count, nginx by `worker_connections`. "
                    "socketify closes a connection idle for 10 s (a constant compiled into uWebSockets), so its "
                    "connections are asked again every 4 s while the rest open, and measured right after.\n\n"
                    + text + "\n\n" + MILLION)


MILLION = """### A million connections

On the io_uring backend an idle connection is a 48-byte struct in the server process: no parser, no buffer
and no Python object (receive buffers are shared, and lent only while data is being parsed). Add the
connection table, one pointer per possible descriptor (8 MB at a limit of 1,000,000), and 1,000,000 idle
connections cost the process about 56 MB. The kernel's side is outside the process and costs more: each idle
TCP socket holds roughly 2 to 4 KB of kernel memory (socket, file, TCP state, the armed receive), so about
2 to 4 GB, plus socket buffers while data is queued. A server of that size needs:

- an open-file limit above 1,000,000 for the server (`LimitNOFILE=` in systemd, `ulimit -n`; `fs.nr_open`
  above it for a hard limit that high); the server raises its soft limit to the hard limit at start;
- `fs.file-max` above the total of all processes;
- `net.core.somaxconn` and `--backlog` raised for bursts of connects;
- `net.ipv4.tcp_mem` (in pages) large enough for the sockets' buffers;
- on the client side, enough source ports (`net.ipv4.ip_local_port_range`) or several source addresses:
  one client address reaches one server port at most about 28,000 times with the default range.

On these test machines a process may hold at most 20,000 descriptors, so the slope above is measured up to
18,000 connections."""


def report(results: dict[str, dict[str, float]], low: int, high: int) -> str:
    lines = [f"Resident memory per idle keep-alive connection, the slope from {low} to {high} connections:", "",
             "| Server | per connection | RSS at " + str(low) + " | RSS at " + str(high) + " | still open at the end |",
             "|---|---|---|---|---|"]
    for name, r in sorted(results.items(), key=lambda kv: kv[1]["bytes_per_conn"]):
        per = r["bytes_per_conn"]
        shown = f"{per / 1024:.1f} KB" if per >= 1024 else f"{per:.0f} B"
        if r["alive"] < r["opened"]:
            shown = "n/a: closed idle connections"  # a server that dropped them did not keep them
        lines.append(f"| {name} | {shown} | {r['low_mb']:.1f} MB | {r['high_mb']:.1f} MB | "
                     f"{r['alive']:.0f} of {r['opened']:.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
