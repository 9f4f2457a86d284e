"""Rough cost of counting a response in the metrics, in process, beside the access log's record.

    taskset -c 1 .venv/bin/python perf/metrics_micro.py
    .venv/bin/python perf/metrics_micro.py --serve [--seconds 3] [--loop uring]

A transport's one call per response is ``AccessLog.record`` (native/accesslog.c): with --metrics it also counts
the response in the worker's slot (native/metrics.c), and without an access log the same call keeps nothing for a
log (``store=False``). Each variant is timed from a Python loop; the differences are roughly the C side. The
io_uring core's direct routes make no Python call at all: the count is the C part alone.

``--serve`` measures the server instead: examples/hello.py pinned to CPU 0, wrk (16 requests pipelined per round
trip) pinned to CPU 1, for each of: nothing, the access log, the metrics, both; server CPU per request from
/proc/<pid>/stat, on a direct route (/plaintext: answered in C on io_uring) and a Python route (/users/1). Rough:
a few seconds a run, noise of a few tenths of a microsecond on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from covet._native import AccessLog, Metrics

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accesslog_micro import CLIENT, HEADERS, RESPONSE  # the same response and request as that micro

ROOT = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")

N = 200_000


def per_record(log: AccessLog) -> float:
    record = log.record
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter_ns()
        for _ in range(N):
            record(CLIENT, "GET", "/plaintext", "", HEADERS, 1, RESPONSE, 0, 0, 3, 0)
        best = min(best, (time.perf_counter_ns() - t0) / N)
        if log.store:
            log.drain("")
    return best


def per_call() -> float:
    begin = AccessLog(store=False).begin
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter_ns()
        for _ in range(N):
            begin()
        best = min(best, (time.perf_counter_ns() - t0) / N)
    return best


def main() -> None:
    call = per_call()
    log_only = per_record(AccessLog(capacity=N + 10))
    both = per_record(AccessLog(capacity=N + 10, metrics=Metrics()))
    metrics_only = per_record(AccessLog(store=False, metrics=Metrics()))
    print(f"an almost empty C call (begin(): one clock read): {call:.0f} ns")
    print(f"record(), access log only:       {log_only:.0f} ns ({log_only - call:+.0f} ns over the empty call)")
    print(f"record(), access log + metrics:  {both:.0f} ns (metrics {both - log_only:+.0f} ns)")
    print(f"record(), metrics only:          {metrics_only:.0f} ns ({metrics_only - call:+.0f} ns over the empty call)")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def serve_run(flags: list[str], loop: str, target: str, seconds: int) -> float:
    """Server CPU microseconds per request, with ``flags``."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(["taskset", "-c", "0", sys.executable, "-m", "covet", "serve", "examples.hello:app",
                             "--port", "0", "--loop", loop, *flags], cwd=ROOT, env=env, stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True)
    try:
        assert proc.stderr is not None
        port = ""
        for line in proc.stderr:
            m = re.search(r"serving http://[^ ]+:(\d+)", line)
            if m:
                port = m.group(1)
                break
        # The log goes to a file, as in production (not to a pipe nobody reads).
        with tempfile.TemporaryFile() as sink:
            subprocess.Popen(["cat"], stdin=proc.stderr, stdout=sink)
            with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
                script.write(f'init = function(args) local r = {{}} for i = 1, 16 do '
                             f'r[i] = wrk.format(nil, "{target}") end req = table.concat(r) end\n'
                             "request = function() return req end\n")
                script.flush()
                wrk = ["taskset", "-c", "1", "wrk", "-t1", "-c32", f"-d{seconds}s", "-s", script.name,
                       f"http://127.0.0.1:{port}"]
                subprocess.run([*wrk[:6], "-d1s", *wrk[7:]], capture_output=True)  # warm up
                c0 = cpu_seconds(proc.pid)
                out = subprocess.run(wrk, capture_output=True, text=True).stdout
                c1 = cpu_seconds(proc.pid)
        m = re.search(r"(\d+) requests in", out)
        assert m, out
        return (c1 - c0) / int(m.group(1)) * 1e6
    finally:
        proc.terminate()
        proc.wait(20)


def serve_main(seconds: int, loop: str) -> None:
    configs = {"nothing": ["--no-access-log"], "access log": [], "metrics": ["--no-access-log", "--metrics"],
               "both": ["--metrics"]}
    for target in ("/plaintext", "/users/1"):
        base = 0.0
        for name, flags in configs.items():
            us = serve_run(flags, loop, target, seconds)
            base = base or us
            print(f"{loop} {target:<10} {name:<11} {us:.2f} us CPU/request ({us - base:+.2f})", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve", action="store_true")
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--loop", default="uring")
    args = parser.parse_args()
    if args.serve:
        serve_main(args.seconds, args.loop)
    else:
        main()
