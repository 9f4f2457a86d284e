"""What a hostile urlencoded form costs the server, against a plain body of the same size (issue 13).

A form body of percent escapes used to cost Python's unquote_plus ~0.5 s of
event-loop time per MiB (a plain body: ~2-7 ms), so four senders stalled
every other route. The target: no more than 3x a plain body.

For each body kind, the server's CPU time (user + system, from /proc) over N
POSTs of a ~1 MiB form to tests/apps/forms.py's /login, in the same run, the
server pinned to CPU 0 and the client to CPU 1; medians of the rounds. Also
the latency of a probe GET while four threads send the hostile body.

Usage: python perf/forms_cpu.py [--loop uring] [--requests 40] [--rounds 5] [--before DIR]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ROOT / "tests" / "apps"
SIZE = 1024 * 1024 - 4096  # under --max-body, so the form is read whole

BODIES = {
    "plain": b"username=" + b"x" * SIZE,
    "percent": b"username=" + b"%" * SIZE,
    "percent-zz": b"username=" + b"%zz" * (SIZE // 3),
    "percent-valid": b"username=" + b"%41" * (SIZE // 3),
}


def serve(loop: str, tree: Path) -> tuple[subprocess.Popen[str], int]:
    env = dict(os.environ, PYTHONPATH=f"{APPS}{os.pathsep}{tree}")
    proc = subprocess.Popen(["taskset", "-c", "0", sys.executable, "-m", "covet", "serve", "forms:app", "--port", "0",
                             "--loop", loop],
                            cwd=APPS, env=env, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:
        if "serving http://" in line:
            port = int(line.split("serving http://", 1)[1].split(" ", 1)[0].rsplit(":", 1)[1])
            threading.Thread(target=proc.stderr.read, daemon=True).start()
            return proc, port
    raise RuntimeError("server did not start")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def post(port: int, body: bytes) -> bytes:
    head = (f"POST /login HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-www-form-urlencoded\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(head + body)
        chunks = []
        while data := s.recv(1 << 20):
            chunks.append(data)
    out = b"".join(chunks)
    assert out.startswith(b"HTTP/1.1 200"), out[:200]
    return out


def probe_latency(port: int, hostile: bytes, seconds: float = 3.0) -> float:
    """Median latency of GET /seen while four threads post the hostile form."""
    stop = time.monotonic() + seconds
    def sender() -> None:
        while time.monotonic() < stop:
            post(port, hostile)
    threads = [threading.Thread(target=sender) for _ in range(4)]
    for t in threads:
        t.start()
    lat = []
    while time.monotonic() < stop:
        t0 = time.perf_counter()
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"GET /seen HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            while s.recv(65536):
                pass
        lat.append(time.perf_counter() - t0)
        time.sleep(0.02)
    for t in threads:
        t.join()
    return statistics.median(lat)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--loop", default="uring")
    ap.add_argument("--requests", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--tree", default=str(ROOT), help="the CovetPy tree to serve with (a checkout of another revision)")
    args = ap.parse_args()
    os.sched_setaffinity(0, {1})
    proc, port = serve(args.loop, Path(args.tree).resolve())
    try:
        per: dict[str, list[float]] = {k: [] for k in BODIES}
        for _ in range(args.rounds):
            for name, body in BODIES.items():
                before = cpu_seconds(proc.pid)
                for _ in range(args.requests):
                    post(port, body)
                per[name].append((cpu_seconds(proc.pid) - before) / args.requests)
        plain = statistics.median(per["plain"])
        print(f"loop={args.loop} tree={args.tree}: server CPU per ~1 MiB form, median of {args.rounds} rounds")
        for name, values in per.items():
            m = statistics.median(values)
            print(f"  {name:14s} {m * 1000:8.2f} ms   {m / plain:6.2f}x plain")
        latency = probe_latency(port, BODIES["percent"])
        print(f"  probe GET median latency, 4 senders of '%' forms: {latency * 1000:.1f} ms")
    finally:
        proc.terminate()
        proc.wait(20)


if __name__ == "__main__":
    main()
