"""Production serving, measured: workers' scaling, and TLS against cleartext.

    python perf/serving.py [--seconds 3] [--rounds 3] [--docs]

Scaling: requests/s of one process, of ``--workers 1`` and of ``--workers 2``,
plain and pipelined (16 per round trip), on io_uring and uvloop. Nothing is
pinned: the workers and wrk share this machine's cores, so on two cores the
load generator takes about one of them, and two workers cannot double
anything. The table says how much CPU wrk itself used.

TLS: one process pinned to CPU 0, wrk to CPU 1, on io_uring, uvloop and
asyncio: keep-alive requests/s and server CPU per request over HTTPS
against cleartext on the same route, and full handshakes per second (a new
connection per request, ``Connection: close``). nginx (one worker, the
same OpenSSL) is the row to read the ratio against.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench
from docsection import replace_section

HERE = bench.HERE
APP_DIR = HERE / "apps"


def serve(cmd: list[str], pin: bool) -> tuple[subprocess.Popen[str], int, str]:
    port = bench.free_port()
    full = [str(bench.COVET_PY), "-m", "covet", "serve", "covet_app:app", "--port", str(port), "--log-level",
            "warning", "--compiled", "off", *cmd]
    if pin:
        full = ["taskset", "-c", "0", *full]
    proc = subprocess.Popen(full, cwd=APP_DIR, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=f"{bench.ROOT}{os.pathsep}{APP_DIR}"))
    assert proc.stderr is not None
    scheme = "http"
    workers = 1
    if "--workers" in cmd:
        workers = int(cmd[cmd.index("--workers") + 1])
    seen = 0
    deadline = time.monotonic() + 60
    while seen < workers and time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            raise SystemExit(f"perf: the server exited: {cmd}")
        if "covet: serving" in line:
            seen += 1
            scheme = "https" if "https://" in line else "http"
    threading_drain(proc)
    return proc, port, scheme


def threading_drain(proc: subprocess.Popen[str]) -> None:
    import threading

    def run() -> None:
        assert proc.stderr is not None
        for _ in proc.stderr:
            pass

    threading.Thread(target=run, daemon=True).start()


def stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()


def wrk(url: str, seconds: int, pipelined: bool, pin: bool, close: bool = False,
        server: int = 0) -> dict[str, float]:
    cmd = ["wrk", "-t1", "-c64", f"-d{seconds}s"]
    if pin:
        cmd = ["taskset", "-c", "1", *cmd]
    if pipelined:
        cmd += ["-s", str(HERE / "pipeline.lua")]
    if close:
        cmd += ["-H", "Connection: close"]
    cmd.append(url)
    c0 = bench.cpu_seconds(server) if server else 0.0
    t0 = os.times()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    t1 = os.times()
    c1 = bench.cpu_seconds(server) if server else 0.0
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    reqs = int(total.group(1)) if total else 0
    errors = re.search(r"Socket errors: (.*)", out)
    if errors and not close:
        print(f"perf: wrk socket errors: {errors.group(1)}", file=sys.stderr)
    return {
        "rps": float(m.group(1)) if m else 0.0,
        "wrk_cpu": (t1.children_user + t1.children_system - t0.children_user - t0.children_system) / seconds,
        "cpu_us": (c1 - c0) / reqs * 1e6 if reqs and server else 0.0,
    }


def scaling(seconds: int, rounds: int) -> list[str]:
    rows = ["| Loop | Server | Requests/s | Pipelined requests/s | wrk's CPU (cores) |", "|---|---|---|---|---|"]
    for loop in ("uring", "uvloop"):
        for label, extra in (("one process", []), ("--workers 1", ["--workers", "1"]),
                             ("--workers 2", ["--workers", "2"])):
            proc, port, _ = serve(["--loop", loop, *extra], pin=False)
            try:
                url = f"http://127.0.0.1:{port}/plaintext"
                wrk(url, 1, False, pin=False)  # warm-up
                plain = [wrk(url, seconds, False, pin=False) for _ in range(rounds)]
                piped = [wrk(url, seconds, True, pin=False) for _ in range(rounds)]
            finally:
                stop(proc)
            rps = statistics.median(r["rps"] for r in plain)
            prps = statistics.median(r["rps"] for r in piped)
            share = statistics.median(r["wrk_cpu"] for r in plain + piped)
            print(f"{loop} {label}: {rps:,.0f} req/s, pipelined {prps:,.0f}; wrk {share:.2f} cores", flush=True)
            rows.append(f"| {loop} | {label} | {rps:,.0f} | {prps:,.0f} | {share:.2f} |")
    return rows


def certificate(where: Path) -> tuple[str, str]:
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1"],
                   check=True, capture_output=True)
    return str(cert), str(key)


def wait_listening(proc: subprocess.Popen[str], port: int, who: str, timeout: float = 60) -> None:
    """Until a peer's server accepts connections on ``port``; SystemExit if it exits or takes too long."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"perf: {who} did not start") from None
            time.sleep(0.05)


def serve_nginx(pin: bool, ssl: tuple[str, str] | None = None) -> tuple[subprocess.Popen[str], int, str]:
    """nginx (one worker), the C ceiling: on the same OpenSSL as the covet rows when ``ssl`` is given."""
    port = bench.free_port()
    cmd = [sys.executable, str(HERE / "nginx" / "run.py"), str(port), *(["--ssl", *ssl] if ssl else [])]
    if pin:
        cmd = ["taskset", "-c", "0", *cmd]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    wait_listening(proc, port, "nginx")
    threading_drain(proc)
    return proc, port, "https" if ssl else "http"


def tls(seconds: int, rounds: int) -> list[str]:
    head = ("| Server | Keep-alive req/s, HTTPS : HTTP | CPU µs/request, HTTPS : HTTP "
            "| wrk's CPU (cores), HTTPS : HTTP | Full handshakes/s |")
    rows = [head, "|---|---|---|---|---|"]
    servers = ["uring", "uvloop", "asyncio"]  # uring: its own TLS layer in C (native/uring_tls.c)
    if shutil.which("nginx") or Path("/usr/sbin/nginx").exists():
        servers.append("nginx")
    else:
        print("perf: nginx is missing (apt-get install nginx): its TLS row is left out", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = certificate(Path(tmp))
        for loop in servers:
            if loop == "nginx":
                clear, cport, _ = serve_nginx(pin=True)
                secure, sport, _ = serve_nginx(pin=True, ssl=(cert, key))
            else:
                clear, cport, _ = serve(["--loop", loop], pin=True)
                secure, sport, _ = serve(["--loop", loop, "--ssl-certfile", cert, "--ssl-keyfile", key], pin=True)
            try:
                results: dict[str, list[dict[str, float]]] = {"http": [], "https": [], "handshake": []}
                wrk(f"http://127.0.0.1:{cport}/plaintext", 1, False, pin=True)
                wrk(f"https://127.0.0.1:{sport}/plaintext", 1, False, pin=True)
                for _ in range(rounds):
                    results["http"].append(wrk(f"http://127.0.0.1:{cport}/plaintext", seconds, False, pin=True,
                                               server=clear.pid))
                    results["https"].append(wrk(f"https://127.0.0.1:{sport}/plaintext", seconds, False, pin=True,
                                                server=secure.pid))
                    results["handshake"].append(wrk(f"https://127.0.0.1:{sport}/plaintext", seconds, False,
                                                    pin=True, close=True))
            finally:
                stop(clear)
                stop(secure)
            pairs = list(zip(results["https"], results["http"], strict=True))
            ratio = statistics.median(s["rps"] / c["rps"] for s, c in pairs)
            cpu = statistics.median(s["cpu_us"] / c["cpu_us"] for s, c in pairs)
            https_rps = statistics.median(r["rps"] for r in results["https"])
            http_rps = statistics.median(r["rps"] for r in results["http"])
            https_cpu = statistics.median(r["cpu_us"] for r in results["https"])
            http_cpu = statistics.median(r["cpu_us"] for r in results["http"])
            hand = statistics.median(r["rps"] for r in results["handshake"])
            # wrk pays for TLS too, on the one other core: at 1.0 it, not the server, sets the rate
            wrk_https = statistics.median(r["wrk_cpu"] for r in results["https"])
            wrk_http = statistics.median(r["wrk_cpu"] for r in results["http"])
            print(f"{loop}: https {https_rps:,.0f} vs http {http_rps:,.0f} req/s ({ratio:.2f}x); "
                  f"{hand:,.0f} handshakes/s", flush=True)
            who = "nginx (C ceiling, same OpenSSL)" if loop == "nginx" else f"covet ({loop})"
            rows.append(f"| {who} | {https_rps:,.0f} : {http_rps:,.0f} = **{ratio:.2f}×** | "
                        f"{https_cpu:.1f} : {http_cpu:.1f} = {cpu:.2f}× | {wrk_https:.2f} : {wrk_http:.2f} | "
                        f"{hand:,.0f} |")
    return rows


def serve_fastapi(access_log: bool, metrics: bool) -> tuple[subprocess.Popen[str], int, str]:
    """The peer: FastAPI on uvicorn (httptools, uvloop), with uvicorn's access log and/or the instrumentator."""
    port = bench.free_port()
    cmd = ["taskset", "-c", "0", str(bench.PEERS_PY), "-m", "uvicorn", "fastapi_observed_app:app", "--http",
           "httptools", "--loop", "uvloop", "--port", str(port), "--log-level", "info" if access_log else "warning"]
    if not access_log:
        cmd.append("--no-access-log")
    # uvicorn's access log goes to stdout: into the same drained pipe as ours goes to stderr.
    proc = subprocess.Popen(cmd, cwd=APP_DIR, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, PYTHONPATH=str(APP_DIR), PERF_METRICS="1" if metrics else "0"))
    wait_listening(proc, port, "uvicorn")
    assert proc.stdout is not None
    proc.stderr = proc.stdout
    threading_drain(proc)
    return proc, port, "http"


def observability(seconds: int, rounds: int) -> list[str]:
    """Server CPU per request with the access log, the metrics, and both, against neither, in the same rounds;
    FastAPI with uvicorn's access log and prometheus-fastapi-instrumentator is the peer row."""
    variants = {"neither": ["--no-access-log"], "access log": [], "metrics": ["--no-access-log", "--metrics"],
                "both": ["--metrics"]}
    rows = ["| Server | Route | Access log | Metrics | Both | Neither (µs/request) |", "|---|---|---|---|---|---|"]
    for loop in ("uring", "uvloop", "fastapi"):
        if loop == "fastapi":
            procs = {name: serve_fastapi(name in ("access log", "both"), name in ("metrics", "both"))
                     for name in variants}
        else:
            procs = {name: serve(["--loop", loop, *flags], pin=True) for name, flags in variants.items()}
        try:
            for route in ("/plaintext", "/users/42?q=hi"):
                cpu: dict[str, list[float]] = {name: [] for name in variants}
                for _proc, port, _ in procs.values():
                    wrk(f"http://127.0.0.1:{port}{route}", 1, True, pin=True)  # warm-up
                for _ in range(rounds):
                    for name, (proc, port, _) in procs.items():
                        cpu[name].append(wrk(f"http://127.0.0.1:{port}{route}", seconds, True, pin=True,
                                             server=proc.pid)["cpu_us"])
                base = cpu["neither"]

                def delta(name: str, base: list[float] = base, cpu: dict[str, list[float]] = cpu) -> str:
                    d = statistics.median(a - b for a, b in zip(cpu[name], base, strict=True))
                    return f"{d:+.2f}"

                who = "FastAPI + uvicorn (access log) + instrumentator (metrics)" if loop == "fastapi" else loop
                row = (f"| {who} | {route.split('?')[0]} | {delta('access log')} | {delta('metrics')} | "
                       f"{delta('both')} | {statistics.median(base):.2f} |")
                print(row, flush=True)
                rows.append(row)
        finally:
            for proc, _, _ in procs.values():
                stop(proc)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", choices=["scaling", "tls", "observability"])
    ap.add_argument("--docs", action="store_true")
    args = ap.parse_args()
    when = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    parts: dict[str, list[str]] = {}  # a section of docs/performance.md each, so that --only rewrites its own
    if args.only in (None, "scaling"):
        intro = (f"Measured {when} by `perf/serving.py` ({args.rounds} rounds of {args.seconds} s, 64 connections, "
                 "/plaintext of perf/apps/covet_app.py, medians). Nothing pinned: the workers and wrk share the "
                 "machine's cores; the last column is the CPU wrk itself used, in cores.")
        parts["serving"] = [intro, "", *scaling(args.seconds, args.rounds)]
    if args.only in (None, "tls"):
        intro = (f"TLS, measured {when} (server on CPU 0, wrk on CPU 1; an ECDSA P-256 certificate, TLS 1.3, "
                 "/plaintext; ratios are medians of the per-round ratios):")
        parts["serving-tls"] = [intro, "", *tls(args.seconds, args.rounds)]
    if args.only in (None, "observability"):
        intro = (f"Access log and metrics, measured {when}: server CPU per pipelined request (16 per round trip) "
                 "added to a server with neither, median of the per-round differences (server on CPU 0, wrk on "
                 "CPU 1, the four servers up together and taking turns).")
        parts["serving-observability"] = [intro, "", *observability(args.seconds, args.rounds)]
    for section, lines in parts.items():
        text = "\n".join(lines)
        print(text + "\n")
        if args.docs:
            replace_section(section, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
