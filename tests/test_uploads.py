"""Request bodies past the in-memory limit (``--max-body``) stream to the routes that read them, on every transport.

The forms app (tests/apps/forms.py) is served with the default 1 MiB in-memory limit, ``--max-upload 48 MiB``
and ``--body-timeout 2``; the socket-level tests (``srv``) also with a small ``--body-buffer``.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import TRANSPORTS, Server, app_client, app_server, read_response_simple, recv_until_closed
from test_forms import multipart, post
from test_uring_server import COUNTED, URING, counters, open_fds

MIB = 1024 * 1024
MAX_UPLOAD = 48 * MIB
ARGS = ("--max-upload", str(MAX_UPLOAD), "--body-timeout", "2")
FILE = os.urandom(5 * MIB + 11)


@pytest.fixture(scope="module", params=["inprocess", *TRANSPORTS])
def up(request: pytest.FixtureRequest) -> Iterator[Any]:
    from covet.runtime.config import Config

    yield from app_client(request, "forms", "built_forms", *ARGS, config=Config(max_upload=MAX_UPLOAD, body_timeout=2))


@pytest.fixture(scope="module", params=TRANSPORTS)
def srv(request: pytest.FixtureRequest) -> Iterator[Server]:
    # A shared buffer smaller than one connection's high-water mark: every upload here runs paced by it.
    server = app_server(request, request.param, "forms", "built_forms", *ARGS, "--body-buffer", str(256 * 1024))
    yield server
    code, log = server.stop()
    assert code == 0, log


def head(path: str, length: int | None, *extra: str) -> bytes:
    framing = "transfer-encoding: chunked" if length is None else f"content-length: {length}"
    return "\r\n".join([f"POST {path} HTTP/1.1", "host: t", framing, *extra, "", ""]).encode()


def exchange(client: Any, data: bytes, responses: int = 1) -> list[bytes]:
    """Raw bytes in, the raw responses out: over a socket to a server, or through the in-process client."""
    if client.server is None:
        return [r.raw for r in client.raw(data, responses=responses)]
    with client.server.connect() as sock:
        sock.sendall(data)
        buf = bytearray()
        return [read_response_simple(sock, buf) for _ in range(responses)]


def test_a_file_past_the_memory_limit_streams_to_disk(up: Any) -> None:
    body, ctype = multipart([("note", "big one")], [("doc", "big.bin", "application/octet-stream", FILE)])
    got = post(up, "/upload", body, ctype).json()
    assert got["note"] == "big one"
    assert (got["size"], got["sha256"], got["on_disk"]) == (len(FILE), hashlib.sha256(FILE).hexdigest(), True)


def test_an_upload_behind_a_middleware_streams_too(up: Any) -> None:
    body, ctype = multipart([], [("doc", "big.bin", "application/octet-stream", FILE)])
    r = post(up, "/mw/upload", body, ctype)
    assert r.headers["x-through"] == "middleware"
    assert r.json() == {"size": len(FILE), "on_disk": True}


def test_request_stream_reads_past_the_memory_limit_and_body_does_not(up: Any) -> None:
    got = post(up, "/raw", FILE, "application/octet-stream").json()
    assert (got["size"], got["sha256"]) == (len(FILE), hashlib.sha256(FILE).hexdigest())
    r = post(up, "/whole", FILE, "application/octet-stream")
    assert r.status_code == 413, r.text
    assert "in memory" in r.json()["detail"]
    assert post(up, "/whole", FILE[:100_000], "application/octet-stream").json() == {"size": 100_000}


def test_a_streaming_response_may_read_its_request_body_as_it_streams(up: Any) -> None:
    data = b"quiet please. " * (3 * MIB // 14)
    r = post(up, "/shout", data, "text/plain")
    assert r.status_code == 200 and r.content == data.upper()


def test_routes_that_hold_their_body_whole_answer_413(up: Any) -> None:
    # Refused at once; a body of a few MiB the client sends anyway is read and dropped, so it sees the answer
    # and the connection carries on.
    first, second = exchange(up, head("/json", 2 * MIB, "content-type: application/json") + b"{" + b" " * (2 * MIB - 2)
                             + b"}" + b"GET /seen HTTP/1.1\r\nhost: t\r\n\r\n", responses=2)
    assert first.startswith(b"HTTP/1.1 413 ") and b"Request body too large" in first, first[:300]
    assert second.startswith(b"HTTP/1.1 200 ")
    # One that waits for "100 Continue" is not asked for its body: the answer closes the connection.
    with_expect = head("/json", 2 * MIB, "content-type: application/json", "expect: 100-continue")
    if up.server is None:
        raw = up.raw(with_expect)[0].raw
    else:
        with up.server.connect() as sock:
            sock.sendall(with_expect)
            raw = recv_until_closed(sock)
    assert raw.startswith(b"HTTP/1.1 413 ") and b"connection: close" in raw and b" 100 " not in raw, raw[:300]
    # A form's field past FastAPI's 1 MiB is its 400; fields each within it but together past the server's
    # in-memory limit are 413.
    r = post(up, "/login", b"username=" + b"a" * (2 * MIB), "application/x-www-form-urlencoded")
    assert (r.status_code, r.json()) == (400, {"detail": "Field exceeded maximum size of 1024KB."})
    half = b"a" * (MIB // 2 + 1)
    r = post(up, "/login", b"username=" + half + b"&tag=" + half + b"&tag=" + half, "application/x-www-form-urlencoded")
    assert r.status_code == 413 and "too large" in r.json()["detail"]


def test_a_large_body_to_a_missing_route_is_404(up: Any) -> None:
    sent = head("/nowhere", 2 * MIB) + b"n" * (2 * MIB) + b"GET /seen HTTP/1.1\r\nhost: t\r\n\r\n"
    first, second = exchange(up, sent, responses=2)
    assert first.startswith(b"HTTP/1.1 404 ") and second.startswith(b"HTTP/1.1 200 "), first[:300]


def test_a_body_past_max_upload_is_413_before_it_is_sent(up: Any) -> None:
    raw, = exchange(up, head("/raw", MAX_UPLOAD + 1))
    assert raw.startswith(b"HTTP/1.1 413 ") and b"Request body too large" in raw, raw[:300]


def test_a_route_that_answers_early_keeps_the_connection(up: Any) -> None:
    # The unread body is dropped as it arrives; the pipelined request after it is answered on the same connection.
    data = head("/early", 3 * MIB) + b"x" * (3 * MIB) + b"GET /openapi.json HTTP/1.1\r\nhost: t\r\n\r\n"
    first, second = exchange(up, data, responses=2)
    assert first.startswith(b"HTTP/1.1 200 ") and first.endswith(b"early"), first[:300]
    assert second.startswith(b"HTTP/1.1 200 ") and b'"openapi"' in second


def test_chunked_uploads_stream_too(srv: Server) -> None:
    def pieces() -> Iterator[bytes]:
        for i in range(0, len(FILE), 100_000):
            yield FILE[i:i + 100_000]

    with httpx.Client(base_url=srv.url, timeout=30) as c:
        got = c.post("/raw", content=pieces()).json()
        assert (got["size"], got["sha256"]) == (len(FILE), hashlib.sha256(FILE).hexdigest())
        body, ctype = multipart([], [("doc", "big.bin", "application/octet-stream", FILE)])
        got = c.post("/upload", content=iter([body[:3 * MIB], body[3 * MIB:]]), headers={"content-type": ctype}).json()
        assert (got["size"], got["on_disk"]) == (len(FILE), True)


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def test_memory_stays_bounded_whatever_the_upload_size(srv: Server) -> None:
    big = os.urandom(40 * MIB)
    body, ctype = multipart([], [("doc", "huge.bin", "application/octet-stream", big)])
    with httpx.Client(base_url=srv.url, timeout=60) as c:
        assert c.post("/raw", content=FILE).status_code == 200  # everything a streamed upload uses is loaded
        before = peak_rss(srv.proc.pid)
        got = c.post("/upload", content=body, headers={"content-type": ctype}).json()
        assert (got["size"], got["on_disk"]) == (len(big), True)
        assert c.post("/raw", content=big).json()["size"] == len(big)
        assert c.post("/slow", content=big[:16 * MIB]).json()["size"] == 16 * MIB  # the reader sets the pace
        grown = peak_rss(srv.proc.pid) - before
    assert grown < 16 * MIB, f"peak memory grew by {grown / MIB:.1f} MiB for 40 MiB uploads"


def test_a_refused_body_the_client_keeps_sending_still_gets_its_answer(srv: Server) -> None:
    # Past what is worth reading and dropping, the server answers and closes, but lingers: its side shut, it drops
    # what still arrives, so the client finishes sending and reads the 413 instead of a connection reset.
    r = httpx.post(srv.url + "/json", content=b"[" + b" " * (10 * MIB) + b"]",
                   headers={"content-type": "application/json"}, timeout=20)
    assert r.status_code == 413 and r.headers["connection"] == "close"
    with srv.connect(timeout=10) as sock:
        sock.sendall(head("/json", MAX_UPLOAD + 1))  # past --max-upload: refused by the parser itself
        sock.sendall(b" " * (8 * MIB))
        raw = recv_until_closed(sock, timeout=10)
    assert raw.startswith(b"HTTP/1.1 413 "), raw[:300]


def test_expect_continue_is_answered_only_for_routes_that_take_the_body(srv: Server) -> None:
    with srv.connect() as sock:
        sock.sendall(head("/raw", 2 * MIB, "expect: 100-continue"))
        buf = bytearray()
        while b"\r\n\r\n" not in buf:
            buf += sock.recv(65536)
        assert bytes(buf).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        del buf[:25]
        sock.sendall(b"y" * (2 * MIB))
        assert b'"size":2097152' in read_response_simple(sock, buf)
    with srv.connect() as sock:
        sock.sendall(head("/json", 2 * MIB, "expect: 100-continue"))
        raw = recv_until_closed(sock)
        assert raw.startswith(b"HTTP/1.1 413 ") and b"100 Continue" not in raw, raw[:300]


def poll_seen(srv: Server, want: str) -> str:
    deadline = time.monotonic() + 10
    got = ""
    while time.monotonic() < deadline:
        got = str(httpx.get(srv.url + "/seen", timeout=5).json().get("raw", ""))
        if got.startswith(want):
            return got
        time.sleep(0.05)
    raise AssertionError(f"the route saw {got!r}, not {want!r}...")


def test_a_client_that_leaves_mid_upload_is_noticed_and_others_are_served(srv: Server) -> None:
    sock = srv.connect()
    sock.sendall(head("/raw", 10 * MIB) + b"z" * (2 * MIB))
    time.sleep(0.3)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()
    got = poll_seen(srv, "disconnected after ")
    assert int(got.split()[2]) <= 2 * MIB
    assert httpx.post(srv.url + "/raw", content=b"ok", timeout=5).json()["size"] == 2


def test_a_client_that_half_closes_mid_upload_is_noticed_at_once(srv: Server) -> None:
    # A FIN before the body's end: the body can never complete, so its route reads the ClientDisconnect a reset gives,
    # at once rather than at the body timeout (2 s here), and the connection is let go (a peer that half-closes
    # must not hold a descriptor and a handler cheaply).
    baseline = open_fds(srv.proc.pid)
    sent = MIB + 4321  # a size of its own: the route reports how much it read before the disconnect
    with srv.connect(timeout=10) as sock:
        sock.sendall(head("/raw", 10 * MIB) + b"h" * sent)
        t0 = time.monotonic()
        sock.shutdown(socket.SHUT_WR)
        poll_seen(srv, f"disconnected after {sent} bytes")
        noticed = time.monotonic() - t0
        recv_until_closed(sock, timeout=10)
        closed = time.monotonic() - t0
    while open_fds(srv.proc.pid) > baseline and time.monotonic() - t0 < 10:
        time.sleep(0.02)
    released = time.monotonic() - t0
    assert max(noticed, closed, released) < 1, (noticed, closed, released)


def test_a_body_that_stops_arriving_is_408(srv: Server) -> None:
    with srv.connect(timeout=10) as sock:
        sock.sendall(head("/raw", 3 * MIB) + b"s" * (MIB + MIB // 2))
        started = time.monotonic()
        raw = recv_until_closed(sock, timeout=10)
        waited = time.monotonic() - started
    assert raw.startswith(b"HTTP/1.1 408 ") and b"connection: close" in raw, raw[:300]
    assert 1 <= waited < 6, waited


def test_broken_chunked_framing_inside_a_streamed_body_is_400(srv: Server) -> None:
    with srv.connect() as sock:
        sock.sendall(head("/raw", None) + b"%x\r\n" % (2 * MIB) + b"c" * (2 * MIB) + b"\r\nzz\r\n")
        raw = recv_until_closed(sock)
    assert raw.startswith(b"HTTP/1.1 400 ") and b"connection: close" in raw, raw[:300]


@pytest.mark.parametrize("transport", URING)
def test_bodies_answered_early_are_forgotten_when_their_client_leaves(request: pytest.FixtureRequest,
                                                                      transport: str) -> None:
    """A route answers before its streamed body ended, the rest is being dropped, and the client closes (FIN): the
    Python half forgets the body at once. (The core freed such a connection without telling it: each one left an
    entry in UringHTTP1.bodies for the server's life, and in ServerState.bodies until the body timeout.)"""
    server = app_server(request, transport, "forms", "built_forms", "--max-upload", str(MAX_UPLOAD), env=COUNTED)
    try:
        for _ in range(20):
            with server.connect() as sock:
                sock.sendall(head("/early", 3 * MIB) + b"e" * (MIB + MIB // 2))
                assert read_response_simple(sock, bytearray()).endswith(b"early")
            # the close sends a FIN: the response was read whole
        time.sleep(0.5)
        with server.connect() as sock:
            sock.sendall(b"GET /seen HTTP/1.1\r\nhost: t\r\n\r\n")
            read_response_simple(sock, bytearray())
    finally:
        code, log = server.stop()
    assert code == 0, log
    held = counters(log)
    assert (held["bodies"], held["bodies_watched"]) == (0, 0), log
    assert held == dict.fromkeys(held, 0), log
