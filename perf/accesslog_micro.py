"""Rough cost of the access log's record buffer, in process: one record() call, and the drain that formats it.

    taskset -c 1 .venv/bin/python perf/accesslog_micro.py

record() is timed from a Python loop beside an almost empty C method (begin(): one clock read), so the difference
is roughly the C side; drain() formats without the GIL, in the writer thread when serving (docs/logging.md).
"""

from __future__ import annotations

import time

from covet._native import AccessLog

N = 200_000
RESPONSE = (b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 13\r\n"
            b"date: Fri, 27 Nov 2026 11:00:00 GMT\r\nserver: covet\r\n\r\nHello, World!")
CLIENT = ("127.0.0.1", 54321)
HEADERS = [("host", "localhost:8000"), ("user-agent", "wrk"), ("accept", "*/*")]


def bench(json: bool) -> None:
    log = AccessLog(json=json, capacity=N + 10)
    record, begin = log.record, log.begin
    best_record = best_call = best_drain = float("inf")
    chars = 0
    for _ in range(5):
        t0 = time.perf_counter_ns()
        for _ in range(N):
            record(CLIENT, "GET", "/plaintext", "", HEADERS, 1, RESPONSE, 0, 0, 0, 0)
        t1 = time.perf_counter_ns()
        text, n, dropped = log.drain("" if json else "INFO:     ")
        t2 = time.perf_counter_ns()
        for _ in range(N):
            begin()
        t3 = time.perf_counter_ns()
        assert (n, dropped) == (N, 0)
        chars = len(text) // N
        best_record = min(best_record, (t1 - t0) / N)
        best_drain = min(best_drain, (t2 - t1) / N)
        best_call = min(best_call, (t3 - t2) / N)
    print(f"{'json' if json else 'line'}: record {best_record:.0f} ns a call from Python, begin() {best_call:.0f} ns, "
          f"difference {best_record - best_call:.0f} ns; drain and format {best_drain:.0f} ns a record "
          f"({chars} chars)")


if __name__ == "__main__":
    bench(False)
    bench(True)
