"""The io_uring backend's own promises: choosing it, stepping down from it, and accounting for what it holds.

The behaviour suite runs on it through the ``uring`` transports; these tests
check what only this backend has: its counters back to zero at teardown after
every kind of traffic, descriptors released, and a clear answer where the
kernel refuses io_uring (a seccomp filter, as container runtimes install).
"""

from __future__ import annotations

import os
import re
import resource
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import seccomp
from conftest import ROOT, Server, hello_server, read_response_simple

GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
_COUNTERS = re.compile(r"covet: io_uring counters at exit: (.*)")


def counters(log: str) -> dict[str, int]:
    m = _COUNTERS.search(log)
    assert m, log
    return {k: int(v) for k, v in (kv.split("=") for kv in m.group(1).split())}


def nothing_held(log: str) -> dict[str, int]:
    """The counted core's exit counters, each of which must be back to zero."""
    held = counters(log)
    assert held == dict.fromkeys(held, 0), log
    return held


def refused_uring(preexec: Callable[[], None], *messages: str) -> None:
    """``covet serve --loop uring`` under a seccomp filter: a non-zero exit that says why, with no traceback."""
    out = subprocess.run(
        [sys.executable, "-m", "covet", "serve", "examples.hello:app", "--port", "0", "--loop", "uring"],
        cwd=ROOT, capture_output=True, text=True, timeout=30, preexec_fn=preexec,
    )
    assert out.returncode != 0
    for message in messages:
        assert message in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


URING = ["interpreted-uring", "compiled-uring"]
COUNTED = {"COVET_RING_COUNTERS": "1"}


@pytest.fixture(params=URING)
def counted(request: pytest.FixtureRequest) -> Iterator[Server]:
    srv = hello_server(request, request.param, env_extra=COUNTED)
    yield srv
    srv.stop()  # a test that failed before stopping it must not leave it running


def test_counters_are_zero_after_every_kind_of_traffic(counted: Server) -> None:
    srv = counted
    baseline = open_fds(srv.proc.pid)
    # keep-alive and pipelined requests, a suspended handler, a stream
    with srv.connect() as s:
        s.sendall(GET * 10 + b"GET /slow?ms=30 HTTP/1.1\r\nHost: x\r\n\r\n" + GET)
        buf = bytearray()
        for _ in range(12):
            read_response_simple(s, buf)
        s.sendall(b"GET /stream?n=3 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"0\r\n\r\n" in read_response_simple(s, bytearray(), chunked=True)
    # connections reset mid-head, mid-body and while a handler is suspended
    for data in (b"GET / HTTP/1.1\r\nHo", b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab",
                 b"GET /slow?ms=300 HTTP/1.1\r\nHost: x\r\n\r\n"):
        for _ in range(10):
            s = srv.connect()
            s.sendall(data)
            time.sleep(0.01)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.close()
    # a slow reader, cut off by its reset
    s = srv.connect()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(b"GET /stream?n=200 HTTP/1.1\r\nHost: x\r\n\r\n" * 20)
    time.sleep(0.3)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()
    time.sleep(0.5)  # the suspended handlers finish; their answers find their connections gone
    with srv.connect() as s:
        s.sendall(GET)
        assert read_response_simple(s, bytearray()).endswith(b"Hello, World!")
    time.sleep(0.2)
    assert open_fds(srv.proc.pid) == baseline, os.listdir(f"/proc/{srv.proc.pid}/fd")
    # idle connections open at shutdown are closed by it, and counted
    idle = [srv.connect() for _ in range(20)]
    for c in idle:
        c.sendall(GET)
    code, log = srv.stop()
    for c in idle:
        c.close()
    assert code == 0, log
    held = nothing_held(log)
    assert set(held) >= {"connections", "parsers", "operations", "output_queues", "output_items", "buffers_out"}


def test_many_connections_release_their_descriptors(counted: Server) -> None:
    srv = counted
    baseline = open_fds(srv.proc.pid)
    socks = []
    for _ in range(500):
        s = srv.connect()
        s.sendall(GET)
        socks.append(s)
    for s in socks:
        assert read_response_simple(s, bytearray()).endswith(b"Hello, World!")
    assert open_fds(srv.proc.pid) >= baseline + 500
    for s in socks:
        s.close()
    deadline = time.monotonic() + 5
    while open_fds(srv.proc.pid) > baseline and time.monotonic() < deadline:
        time.sleep(0.05)
    assert open_fds(srv.proc.pid) == baseline
    code, log = srv.stop()
    assert code == 0 and counters(log)["connections"] == 0, log


def test_auto_picks_io_uring_here() -> None:
    srv = Server("examples.hello:app", "auto")
    try:
        assert srv.loop == "uring", srv.log
        assert "io_uring ring set up as" in srv.log
    finally:
        srv.stop()


@pytest.mark.skipif(not seccomp.SUPPORTED, reason="seccomp filter written for x86_64 and aarch64 only")
def test_uring_refused_by_the_kernel_is_a_clear_error() -> None:
    t0 = time.monotonic()
    refused_uring(seccomp.deny_io_uring, "--loop uring: io_uring cannot serve here", "Function not implemented")
    assert time.monotonic() - t0 < 20


@pytest.mark.skipif(not seccomp.SUPPORTED, reason="seccomp filter written for x86_64 and aarch64 only")
def test_auto_steps_down_to_uvloop_and_says_why() -> None:
    srv = Server("examples.hello:app", "auto", preexec_fn=seccomp.deny_io_uring)
    try:
        assert srv.loop == "uvloop"
        assert "io_uring unavailable (" in srv.log and "using uvloop" in srv.log, srv.log
        with srv.connect() as s:
            s.sendall(GET)
            assert read_response_simple(s, bytearray()).endswith(b"Hello, World!")
    finally:
        srv.stop()


def test_pipelined_flood_with_suspended_handler_stays_in_order(counted: Server) -> None:
    """Input held while a handler is suspended is answered afterwards, in order, past the pause threshold."""
    srv = counted
    with srv.connect(timeout=10) as s:
        n = 9000  # about 320 KB held: past the 256 KiB at which the core stops receiving
        reqs = b"GET /slow?ms=200 HTTP/1.1\r\nHost: x\r\n\r\n" + b"".join(
            b"GET /users/%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(n))
        sender = threading.Thread(target=s.sendall, args=(reqs,))
        sender.start()
        buf = bytearray()
        assert read_response_simple(s, buf).endswith(b"slept 200 ms")
        for i in range(n):
            assert b'\r\n\r\n{"id":%d,' % i in read_response_simple(s, buf)
        sender.join()
    _, log = srv.stop()
    assert counters(log)["connections"] == 0, log


def test_random_traffic_leaves_nothing_behind(counted: Server) -> None:
    """A seeded storm: valid, pipelined, malformed and truncated requests in random pieces, some reset midway."""
    import random

    rng = random.Random(5)
    pieces = [
        GET,
        b"GET /users/7?q=a HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        b"GET /slow?ms=20 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /stream?n=3 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.0\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
        b"\x00\xff garbage \r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n",
        b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    ]
    baseline = open_fds(counted.proc.pid)
    for _ in range(150):
        data = b"".join(rng.choice(pieces) for _ in range(rng.randint(1, 6)))
        if rng.random() < 0.3:
            data = data[: rng.randint(1, len(data))]
        s = counted.connect(timeout=5)
        try:
            at = 0
            while at < len(data):
                step = rng.randint(1, 64)
                s.sendall(data[at:at + step])
                at += step
            if rng.random() < 0.3:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            else:
                s.shutdown(socket.SHUT_WR)
                s.settimeout(5)
                while s.recv(65536):
                    pass
        except OSError:
            pass  # the server closed first (an error it answered), or our own reset
        finally:
            s.close()
    with counted.connect() as s:
        s.sendall(GET)
        assert read_response_simple(s, bytearray()).endswith(b"Hello, World!")
    deadline = time.monotonic() + 5
    while open_fds(counted.proc.pid) > baseline and time.monotonic() < deadline:
        time.sleep(0.05)
    assert open_fds(counted.proc.pid) == baseline
    code, log = counted.stop()
    assert code == 0, log
    nothing_held(log)


@pytest.mark.skipif(not seccomp.SUPPORTED or sys.byteorder != "little", reason="seccomp filter for x86_64/aarch64")
def test_core_refused_after_a_good_probe() -> None:
    """The probe passes but the server's ring set-up is refused: auto steps down and serves; uring exits clearly."""
    srv = Server("examples.hello:app", "auto", preexec_fn=seccomp.deny_io_uring_eventfd)
    try:
        assert srv.loop == "uvloop", srv.log
        assert "io_uring unavailable (the core could not start:" in srv.log, srv.log
        with srv.connect() as s:
            s.sendall(GET)
            assert read_response_simple(s, bytearray()).endswith(b"Hello, World!")
    finally:
        code, log = srv.stop()
    assert code == 0, log
    refused_uring(seccomp.deny_io_uring_eventfd, "--loop uring: the io_uring core could not start:",
                  "Operation not permitted")


# -- the core driven directly (tests/direct_core.py), in a subprocess: a crash fails the test, not the run ---------


def direct_core(scenario: str) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if env.get("COVET_TEST_SERVER_PRELOAD"):  # native/tests/asan_server.sh: an ASan build needs its runtime
        env["LD_PRELOAD"] = env["COVET_TEST_SERVER_PRELOAD"]
    out = subprocess.run([sys.executable, "-X", "faulthandler", str(Path(__file__).with_name("direct_core.py")),
                          scenario], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.endswith("ok\n"), f"exit {out.returncode}\n{out.stdout}{out.stderr}"


def test_direct_core_collected_by_the_gc_mid_upload() -> None:
    """Freed by the GC while a streamed body arrives: its cleared callbacks are not called (on_body was, as NULL)."""
    direct_core("collected-mid-upload")


def test_direct_core_sends_of_4_gib_and_more() -> None:
    """A send of 4 GiB or more goes out whole, in pieces, and times out like any other when the client stops."""
    direct_core("send-over-4gib")


# -- thousands of idle connections ----------------------------------------------------------------------------------

CROWD = 15_000  # under the 20,000 descriptors a process may open here, in the server and in this process alike


def raise_own_nofile(need: int) -> None:
    """This process holds as many sockets as the server: its soft limit goes up to the hard one, as the server's."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < need:
        pytest.skip(f"{need} descriptors needed; the hard limit is {hard}")
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def idle_crowd(srv: Server, n: int) -> list[socket.socket]:
    """``n`` connections that each sent one request and read its answer; idle since, so that they time out within
    the time it took to open them (~2 s on a quiet machine). Each sends as soon as it is open: a connection that
    waited for all the others could meet the keep-alive timeout before its request on a loaded machine."""
    raise_own_nofile(n + 1000)
    socks: list[socket.socket] = []
    try:
        for _ in range(n):
            s = srv.connect(timeout=10)
            socks.append(s)
            s.sendall(GET)
        for s in socks:
            assert read_response_simple(s, bytearray()).endswith(b"Hello, World!")
    except BaseException:
        for s in socks:
            s.close()
        raise
    return socks


def cpu_seconds(pid: int) -> tuple[float, float]:
    """User and kernel CPU time of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    hz = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / hz, int(fields[12]) / hz


@pytest.mark.parametrize("transport", URING)
def test_a_crowd_of_idle_connections_closes_without_stalling_the_server(request: pytest.FixtureRequest,
                                                                       transport: str) -> None:
    """15,000 keep-alive connections time out in the same tick: a request meanwhile is answered at once, and
    closing them costs the server little (cancelling each by descriptor walked every pending request: 6 s of
    kernel time and a 6 s stall)."""
    srv = hello_server(request, transport, "--keepalive-timeout", "6", env_extra=COUNTED)
    crowd: list[socket.socket] = []
    try:
        crowd = idle_crowd(srv, CROWD)
        _, sys0 = cpu_seconds(srv.proc.pid)
        poller = select.epoll()
        for s in crowd:
            poller.register(s.fileno(), select.EPOLLIN | select.EPOLLRDHUP)
        left = len(crowd)
        latencies = []
        buf = bytearray()
        deadline = time.monotonic() + 30
        with srv.connect(timeout=30) as probe:
            while left and time.monotonic() < deadline:
                t0 = time.monotonic()
                probe.sendall(GET)
                assert read_response_simple(probe, buf).endswith(b"Hello, World!")
                latencies.append(time.monotonic() - t0)
                for fd, _ in poller.poll(0.002):
                    poller.unregister(fd)
                    left -= 1
            _, sys1 = cpu_seconds(srv.proc.pid)
        assert left == 0, f"{left} connections still open"
        worst = max(latencies)
        assert worst < 0.05 and sys1 - sys0 < 2, f"probe waited up to {worst * 1000:.0f} ms; {sys1 - sys0:.2f} s kernel"
    finally:
        code, log = srv.stop()
        for s in crowd:
            s.close()
    assert code == 0, log
    nothing_held(log)


@pytest.mark.parametrize("transport", URING)
def test_sigterm_with_a_crowd_of_idle_connections_exits_at_once(request: pytest.FixtureRequest,
                                                               transport: str) -> None:
    srv = hello_server(request, transport, "--keepalive-timeout", "60", env_extra=COUNTED)
    try:
        crowd = idle_crowd(srv, CROWD)
    except BaseException:
        srv.stop()
        raise
    # Idle for two ticks, so that the drain closes them all at once (one just used could be sending its next request:
    # the drain waits a second for it, see DRAIN_IDLE_TICKS). What is timed is closing 15,000 together.
    time.sleep(2.2)
    t0 = time.monotonic()
    code, log = srv.stop(signal.SIGTERM)
    took = time.monotonic() - t0
    for s in crowd:
        s.close()
    assert code == 0, log
    assert took < 3, f"exit took {took:.1f} s"
    nothing_held(log)
