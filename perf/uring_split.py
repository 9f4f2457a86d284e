"""Server CPU per request on io_uring, split into user and kernel time, with the core's pass and enter counts.

    perf/uring_split.py /json [--rounds 6]

Compares this tree with efdc74e (the `perf/seam.py` worktree and compiled projects must exist: run seam.py once).
Kernel time per request depends on how many requests share a pass of the ring, which depends on how fast the
user-space half is; the split shows which half moved.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
PY = str(HERE.parent / ".venv" / "bin" / "python")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ticks(pid: int) -> tuple[int, int]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]), int(fields[12])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("path")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--against", default="efdc74e")
    args = ap.parse_args()
    trees = {"this tree": (HERE.parent, HERE / ".seam-compiled-this-tree"),
             args.against: (HERE / f".rev-{args.against}", HERE / f".seam-compiled-{args.against}")}
    procs: dict[str, tuple[subprocess.Popen[str], int]] = {}
    for name, (src, proj) in trees.items():
        port = free_port()
        env = dict(os.environ, PYTHONPATH=f"{src}{os.pathsep}{proj}", COVET_RING_COUNTERS="1")
        proc = subprocess.Popen(["taskset", "-c", "0", PY, "-m", "covet", "serve", "covet_app:app", "--compiled",
                                 "require", "--loop", "uring", "--log-level", "warning", "--port", str(port)],
                                cwd=proj, env=env, stderr=subprocess.PIPE, text=True)
        assert proc.stderr is not None
        while "serving" not in proc.stderr.readline():
            pass
        procs[name] = (proc, port)
    split: dict[str, list[tuple[float, float]]] = {name: [] for name in trees}
    for _ in range(args.rounds):
        for name, (proc, port) in procs.items():
            u0, s0 = ticks(proc.pid)
            out = subprocess.run(["taskset", "-c", "1", "wrk", "-t1", "-c64", "-d3s",
                                  f"http://127.0.0.1:{port}{args.path}"], capture_output=True, text=True).stdout
            u1, s1 = ticks(proc.pid)
            found = re.search(r"(\d+) requests in", out)
            assert found, out
            n = int(found.group(1))
            hz = os.sysconf("SC_CLK_TCK")
            split[name].append(((u1 - u0) / hz / n * 1e6, (s1 - s0) / hz / n * 1e6))
    for name, (proc, _) in procs.items():
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate()
        counts = dict(re.findall(r"(\w+)=(\d+)", next(line for line in err.splitlines() if "activity" in line)))
        reqs = int(counts["requests"])
        print(f"{name}: user {statistics.median(u for u, _ in split[name]):.2f} µs/req, "
              f"kernel {statistics.median(k for _, k in split[name]):.2f} µs/req, "
              f"{reqs / int(counts['passes']):.1f} requests/pass, {int(counts['enters']) / reqs:.3f} enters/request")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
