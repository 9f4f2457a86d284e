"""HTTP/1.1 behaviour of the real server, over raw sockets and curl, on every loop."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest

from conftest import TRANSPORTS, Server, hello_server, recv_until_closed

GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def read_response(sock: socket.socket, buf: bytearray) -> tuple[bytes, bytes]:
    """One Content-Length-framed response (head, body) off ``sock``."""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError(f"closed mid-response: {bytes(buf)!r}")
        buf += data
    end = buf.index(b"\r\n\r\n")
    head = bytes(buf[:end])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(buf) < end + 4 + length:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("closed mid-body")
        buf += data
    body = bytes(buf[end + 4:end + 4 + length])
    del buf[: end + 4 + length]
    return head, body


def exchange(server: Server, data: bytes, timeout: float = 5.0) -> bytes:
    """Send ``data`` and read until the server closes."""
    with server.connect() as s:
        s.sendall(data)
        return recv_until_closed(s, timeout)


def test_startup_line(server: Server) -> None:
    assert server.mode in ("interpreted", "compiled")
    assert server.loop in ("uring", "uvloop", "asyncio")
    assert server.port > 0


def test_keep_alive_many_requests_one_connection(server: Server) -> None:
    with server.connect() as s:
        buf = bytearray()
        for _ in range(20):
            s.sendall(GET)
            head, body = read_response(s, buf)
            assert head.startswith(b"HTTP/1.1 200 OK")
            assert body == b"Hello, World!"


def test_pipelining_in_order_across_async_handlers(server: Server) -> None:
    reqs = (
        b"GET /slow?ms=30 HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /users/1 HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /slow?ms=1 HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /stream?n=2 HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    data = exchange(server, reqs)
    bodies = [b"slept 30 ms", b'{"id":1,"q":null,"limit":10}', b"slept 1 ms", b"2\r\n0\n\r\n2\r\n1\n\r\n0\r\n\r\n",
              b"Hello, World!"]
    pos = 0
    for body in bodies:
        found = data.find(body, pos)
        assert found >= 0, (body, data)
        pos = found
    assert data.count(b"HTTP/1.1 200 OK") == 5


def test_pipelined_burst_is_answered_fully(server: Server) -> None:
    n = 200
    data = exchange(server, GET * (n - 1) + b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert data.count(b"HTTP/1.1 200 OK\r\n") == n


def test_http10_closes_unless_keep_alive(server: Server) -> None:
    data = exchange(server, b"GET / HTTP/1.0\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 200 OK")
    assert b"connection: close" in data.lower()
    with server.connect() as s:
        s.sendall(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        head, _ = read_response(s, bytearray())
        assert b"connection: keep-alive" in head.lower()
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        rest = recv_until_closed(s)
        assert rest.startswith(b"HTTP/1.1 200")


def test_http10_streaming_is_close_delimited(server: Server) -> None:
    data = exchange(server, b"GET /stream?n=3 HTTP/1.0\r\n\r\n")
    assert b"transfer-encoding" not in data.lower()
    assert data.endswith(b"\r\n\r\n0\n1\n2\n")


def test_later_http1_minor_versions_are_served_as_1_1(server: Server) -> None:
    # RFC 9110 2.5: HTTP/1.2 .. HTTP/1.9 are answered as HTTP/1.1 (keep-alive, chunked streams), not 505.
    with server.connect() as s:
        buf = bytearray()
        for minor in (2, 9):
            s.sendall(b"GET / HTTP/1.%d\r\nHost: x\r\n\r\n" % minor)
            head, body = read_response(s, buf)
            assert head.startswith(b"HTTP/1.1 200 OK\r\n") and body == b"Hello, World!", head
            assert b"connection: close" not in head.lower()
        s.sendall(b"GET /stream?n=2 HTTP/1.5\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = bytes(buf) + recv_until_closed(s)
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"transfer-encoding: chunked" in data.lower() and data.endswith(b"2\r\n0\n\r\n2\r\n1\n\r\n0\r\n\r\n")


def test_connection_close_is_honoured(server: Server) -> None:
    data = exchange(server, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" + GET)
    assert data.count(b"HTTP/1.1") == 1
    assert b"connection: close" in data


def test_nothing_after_a_closing_response_is_answered(server: Server) -> None:
    # HTTP/1.0 without keep-alive: the suspended handler's response closes the connection, and the request
    # pipelined behind it, sent at once or while the handler sleeps, is never run.
    data = exchange(server, b"GET /slow?ms=50 HTTP/1.0\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert data.count(b"HTTP/1.") == 1 and data.endswith(b"slept 50 ms"), data
    with server.connect() as s:
        s.sendall(b"GET /slow?ms=100 HTTP/1.0\r\n\r\n")
        time.sleep(0.05)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        data = recv_until_closed(s)
    assert data.count(b"HTTP/1.") == 1 and data.endswith(b"slept 100 ms"), data


def test_expect_100_continue(server: Server) -> None:
    with server.connect() as s:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        s.settimeout(5)
        interim = s.recv(100)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(b"hello")
        head, body = read_response(s, bytearray())
        assert head.startswith(b"HTTP/1.1 200") and body == b"hello"


def test_expect_100_continue_refused_when_too_large(server: Server) -> None:
    data = exchange(server,
                    b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\nExpect: 100-continue\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 413")
    assert b"100 Continue" not in data


def test_chunked_request_body(server: Server) -> None:
    req = (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n")
    with server.connect() as s:
        s.sendall(req)
        _, body = read_response(s, bytearray())
        assert body == b"hello world"


def test_chunk_extensions_by_their_grammar(server: Server) -> None:
    req = (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
           b'5 ; a="q\\"uo;te" ;b = c\r\nhello\r\n6;d=""\r\n world\r\n0\r\n\r\n')
    with server.connect() as s:
        s.sendall(req)
        head, body = read_response(s, bytearray())
        assert head.startswith(b"HTTP/1.1 200") and body == b"hello world"


def test_host_forms_are_accepted(server: Server) -> None:
    with server.connect() as s:
        buf = bytearray()
        for host in (b"[::1]:8080", b"127.0.0.1", b"[v1.x]", b"a%20b.example:", b""):
            s.sendall(b"GET / HTTP/1.1\r\nHost: %s\r\n\r\n" % host)
            head, body = read_response(s, buf)
            assert head.startswith(b"HTTP/1.1 200 OK") and body == b"Hello, World!", host


def test_absolute_form_target(server: Server) -> None:
    with server.connect() as s:
        s.sendall(b"GET http://example.com/users/9?limit=2 HTTP/1.1\r\nHost: example.com\r\n\r\n")
        _, body = read_response(s, bytearray())
        assert body == b'{"id":9,"q":null,"limit":2}'


def test_absolute_form_authority_is_the_host(server: Server) -> None:
    # RFC 9112 3.2.2: the target's authority wins over the Host field, which the route sees replaced by it (and,
    # on an HTTP/1.0 request without one, added).
    def host_seen(request_bytes: bytes) -> object:
        with server.connect() as s:
            s.sendall(request_bytes)
            head, body = read_response(s, bytearray())
        assert head.startswith(b"HTTP/1.1 200 OK"), head
        return json.loads(body)["host"]

    assert host_seen(b"GET /inspect HTTP/1.1\r\nHost: x\r\n\r\n") == "x"
    absolute = b"GET http://example.com:8080/inspect HTTP/1.1\r\nHost: other.example\r\n\r\n"
    assert host_seen(absolute) == "example.com:8080"
    assert host_seen(b"GET https://[::1]/inspect?a=1 HTTP/1.1\r\nHost:\r\n\r\n") == "[::1]"
    assert host_seen(b"GET http://example.com/inspect HTTP/1.0\r\n\r\n") == "example.com"
    assert host_seen(b"GET /inspect HTTP/1.0\r\n\r\n") is None


@pytest.mark.parametrize(
    "request_bytes, status",
    [
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n", 400),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", 400),
        (b"G(T / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX\x01Y: a\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n", 431),
        (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-A: 1\r\n" * 101 + b"\r\n", 431),
        # /items holds its body whole: past --max-body it is refused before any of it is read (and, past 4 MiB,
        # not read and dropped either: tests/test_uploads.py has the shorter case)
        (b"POST /items HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n", 413),
        (b"POST /items HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n200000\r\n" + b"a" * 1000, 413),
        # /echo streams it (it takes the Request), up to --max-upload
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 200000000\r\n\r\n", 413),
    ],
)
def test_bad_framing_answers_status_and_closes(server: Server, request_bytes: bytes, status: int) -> None:
    # A valid request after the bad one must not be answered.
    data = exchange(server, request_bytes + GET)
    assert data.startswith(b"HTTP/1.1 %d " % status), data[:200]
    assert data.count(b"HTTP/1.1 ") == 1
    assert b"connection: close" in data
    assert b'"detail"' in data


# Refusals whose message names the fault, on every mode and loop: status, and the parser's sentence in the detail.
REFUSED = [
    ("fragment", b"GET /a#frag HTTP/1.1\r\nHost: x\r\n\r\n", 400, "Fragment (#) in request target"),
    ("fragment absolute", b"GET http://x/#frag HTTP/1.1\r\nHost: x\r\n\r\n", 400, "Fragment (#) in request target"),
    ("unterminated quoted chunk extension",
     b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\"hello\r\nhello\r\n0\r\n\r\n", 400,
     "Unterminated quoted string in chunk extension"),
    ("chunk extension without a name",
     b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;=1\r\nhello\r\n0\r\n\r\n", 400,
     "Invalid chunk extension"),
    ("host with a space", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "Invalid Host header"),
    ("host with userinfo", b"GET / HTTP/1.1\r\nHost: user@x\r\n\r\n", 400, "Invalid Host header"),
    ("host with a path", b"GET / HTTP/1.1\r\nHost: x/y\r\n\r\n", 400, "Invalid Host header"),
    ("host with an open bracket", b"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400, "Invalid Host header"),
    ("host with a bad port", b"GET / HTTP/1.1\r\nHost: x:8o\r\n\r\n", 400, "Invalid Host header"),
    ("host http/1.0", b"GET / HTTP/1.0\r\nHost: x:80:80\r\n\r\n", 400, "Invalid Host header"),
    ("authority with a port only", b"GET http://:80/ HTTP/1.1\r\nHost: x\r\n\r\n", 400,
     "Invalid authority in absolute-form target"),
    ("authority with a bad port", b"GET http://x:8o/ HTTP/1.1\r\nHost: x\r\n\r\n", 400,
     "Invalid authority in absolute-form target"),
    ("HTTP/3.0", b"GET / HTTP/3.0\r\nHost: x\r\n\r\n", 505, "HTTP version not supported"),
    ("HTTP/1.x", b"GET / HTTP/1.x\r\nHost: x\r\n\r\n", 400, "Invalid HTTP version"),
]


@pytest.mark.parametrize("request_bytes, status, message", [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED])
def test_refused_with_its_message(server: Server, request_bytes: bytes, status: int, message: str) -> None:
    data = exchange(server, request_bytes + GET)
    assert data.startswith(b"HTTP/1.1 %d " % status), data[:200]
    assert data.count(b"HTTP/1.1 ") == 1
    assert b"connection: close" in data
    assert data.endswith(b'{"detail":"%s"}' % message.encode()), data


def test_good_request_before_bad_one_is_answered(server: Server) -> None:
    data = exchange(server, GET + b"GET / HTTP/1.1\r\nHost : x\r\n\r\n" + GET)
    assert data.count(b"HTTP/1.1 200 OK") == 1
    assert data.count(b"HTTP/1.1 400 ") == 1


def test_optional_whitespace_is_trimmed(server: Server) -> None:
    with server.connect() as s:
        s.sendall(b"GET /h HTTP/1.1\r\nHost: x\r\nX-Test: \t spaced out \t\r\n\r\n")
        _, body = read_response(s, bytearray())
        assert body == b"spaced out"


def test_curl_interop(server: Server) -> None:
    curl = shutil.which("curl")
    assert curl, "curl is installed by `make system-deps`"
    out = subprocess.run(
        [curl, "-sS", "-i", "--http1.1", f"{server.url}/users/5?q=curl"], capture_output=True, check=True, timeout=10
    ).stdout
    assert out.startswith(b"HTTP/1.1 200 OK")
    assert out.endswith(b'{"id":5,"q":"curl","limit":10}')
    out = subprocess.run(
        [curl, "-sS", "-X", "POST", "-H", "content-type: application/json",
         "--data", '{"name":"n","price":2,"tags":[]}', f"{server.url}/items", "-w", "%{http_code}"],
        capture_output=True, check=True, timeout=10
    ).stdout
    assert out == b'{"name":"n","price":2.0,"tags":[]}201'
    # Chunked upload with Expect: 100-continue, as curl sends it.
    out = subprocess.run(
        [curl, "-sS", "-H", "Transfer-Encoding: chunked", "-H", "Expect: 100-continue", "--data-binary", "@-",
         f"{server.url}/echo"], input=b"x" * 5000, capture_output=True, check=True, timeout=10
    ).stdout
    assert out == b"x" * 5000


def test_server_survives_reset_connections(server: Server) -> None:
    for _ in range(20):
        s = server.connect()
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()
    with server.connect() as s:
        s.sendall(GET)
        assert read_response(s, bytearray())[1] == b"Hello, World!"


# -- servers with short timeouts, started per test -------------------------------


@pytest.fixture(params=TRANSPORTS)
def quick_server(request: pytest.FixtureRequest) -> Iterator[Server]:
    srv = hello_server(
        request, request.param,
        "--keepalive-timeout", "1", "--header-timeout", "2", "--body-timeout", "2", "--graceful-timeout", "3",
    )
    yield srv
    srv.stop()


def test_timeouts(quick_server: Server) -> None:
    t0 = time.monotonic()
    with quick_server.connect(timeout=10) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # head never finished
        data = recv_until_closed(s, 10)
    assert data.startswith(b"HTTP/1.1 408 "), data
    assert 1.5 <= time.monotonic() - t0 <= 5
    with quick_server.connect(timeout=10) as s:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")  # body never finished
        data = recv_until_closed(s, 10)
    assert data.startswith(b"HTTP/1.1 408 ")
    t0 = time.monotonic()
    with quick_server.connect(timeout=10) as s:
        s.sendall(GET)
        data = recv_until_closed(s, 10)  # idle keep-alive: closed without a response
    assert data.count(b"HTTP/1.1 200") == 1
    assert time.monotonic() - t0 <= 4


def test_slowloris_drip_feed_times_out(quick_server: Server) -> None:
    with quick_server.connect(timeout=10) as s:
        t0 = time.monotonic()
        s.sendall(b"GET / HTTP/1.1\r\n")
        try:
            for _ in range(8):
                time.sleep(0.5)
                s.sendall(b"X-A: b\r\n")
        except OSError:
            pass
        data = recv_until_closed(s, 10)
    assert data.startswith(b"HTTP/1.1 408 ")
    assert time.monotonic() - t0 < 6


def test_graceful_shutdown_finishes_in_flight(quick_server: Server) -> None:
    s = quick_server.connect(timeout=10)
    s.sendall(b"GET /slow?ms=800 HTTP/1.1\r\nHost: x\r\n\r\n")
    idle = quick_server.connect(timeout=10)
    time.sleep(0.2)
    quick_server.proc.send_signal(signal.SIGTERM)
    head, body = read_response(s, bytearray())
    assert body == b"slept 800 ms"
    assert b"connection: close" in head
    assert recv_until_closed(idle, 5) == b""
    assert quick_server.proc.wait(10) == 0
    _, log = quick_server.stop()
    assert "shutting down" in log
    with pytest.raises(OSError):
        quick_server.connect(timeout=1)


def test_shutdown_refuses_new_connections_at_once(quick_server: Server) -> None:
    """From SIGTERM on, a new connection is refused, not accepted, held through the drain and then reset; the request
    in flight still gets its answer."""
    s = quick_server.connect(timeout=10)
    s.sendall(b"GET /slow?ms=1500 HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.2)
    quick_server.proc.send_signal(signal.SIGTERM)
    quick_server.logged("shutting down")
    time.sleep(0.1)
    try:
        late = quick_server.connect(timeout=5)
    except ConnectionRefusedError:
        pass
    else:
        with late:
            late.sendall(GET)
            got = recv_until_closed(late, 5)
        pytest.fail(f"a connection made after SIGTERM was accepted, then answered {got[:80]!r}")
    head, body = read_response(s, bytearray())
    s.close()
    assert body == b"slept 1500 ms" and b"connection: close" in head
    assert quick_server.proc.wait(10) == 0


def test_slow_reader_memory_stays_bounded(server: Server) -> None:
    """A client that pipelines a lot and never reads must not grow the server without bound."""
    pid = server.proc.pid

    def rss() -> int:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise AssertionError

    s = server.connect(timeout=5)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    before = rss()
    big = (b"GET /stream?n=1 HTTP/1.1\r\nHost: x\r\n\r\n"
           b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\n" + b"z" * 60000)
    sent = 0
    s.setblocking(False)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            sent += s.send(big)
        except BlockingIOError:
            time.sleep(0.05)
    grown = rss() - before
    s.close()
    assert sent > 0
    assert grown < 64 * 1024 * 1024, f"server grew by {grown} bytes while the client sent {sent}"
    with server.connect() as c:
        c.sendall(GET)
        assert read_response(c, bytearray())[1] == b"Hello, World!"


def test_concurrent_clients(server: Server) -> None:
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with server.connect() as s:
                buf = bytearray()
                for i in range(30):
                    s.sendall(b"GET /users/%d HTTP/1.1\r\nHost: x\r\n\r\n" % i)
                    assert read_response(s, buf)[1].startswith(b'{"id":%d,' % i)
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def test_limits_are_configurable() -> None:
    srv = Server("examples.hello:app", "asyncio", "--max-body", "10", "--max-target", "64",
                 "--max-header-bytes", "512", "--max-headers", "5")
    try:
        too_long = b"POST /items HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world"
        assert exchange(srv, too_long).startswith(b"HTTP/1.1 413 ")
        # A route that reads the Request may stream a larger body; reading it whole is still bounded.
        assert exchange(srv, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\nConnection: close\r\n\r\n"
                             b"hello world").startswith(b"HTTP/1.1 413 ")
        assert exchange(srv, b"GET /" + b"a" * 80 + b" HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 414 ")
        big_head = b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 600 + b"\r\n\r\n"
        assert exchange(srv, big_head).startswith(b"HTTP/1.1 431 ")
        assert exchange(srv, b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X: 1\r\n" * 6 + b"\r\n").startswith(b"HTTP/1.1 431 ")
        with srv.connect() as s:
            s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789")
            assert read_response(s, bytearray())[1] == b"0123456789"
    finally:
        srv.stop()
