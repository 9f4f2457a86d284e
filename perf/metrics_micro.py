"""Rough cost of counting a response in the metrics, in process, beside the access log's record.

    taskset -c 1 .venv/bin/python perf/metrics_micro.py

A transport's one call per response is ``AccessLog.record`` (native/accesslog.c): with --metrics it also counts
the response in the worker's slot (native/metrics.c), and without an access log the same call keeps nothing for a
log (``store=False``). Each variant is timed from a Python loop; the differences are roughly the C side. The
io_uring core's direct routes make no Python call at all: the count is the C part alone.
"""

from __future__ import annotations

import time

from covet._native import AccessLog, Metrics

N = 200_000
RESPONSE = (b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 13\r\n"
            b"date: Fri, 27 Nov 2026 11:00:00 GMT\r\nserver: covet\r\n\r\nHello, World!")
CLIENT = ("127.0.0.1", 54321)
HEADERS = [("host", "localhost:8000"), ("user-agent", "wrk"), ("accept", "*/*")]


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


if __name__ == "__main__":
    main()
