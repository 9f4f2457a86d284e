"""Static files, Server-Sent Events and compression, on every transport, interpreted and compiled."""

from __future__ import annotations

import email.utils
import os
import socket
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import brotli
import httpx
import pytest
import zstandard

from conftest import TRANSPORTS, Server, app_client, app_server, build_project, read_response_simple

TESTS = Path(__file__).resolve().parent
BIG = os.urandom(3 * 1024 * 1024 + 123)  # past the size read whole: streamed with a known length


@pytest.fixture(scope="session")
def static_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("static")
    (root / "hello.txt").write_text("hello, static world\n")
    (root / "data.json").write_text('{"a": 1}')
    (root / "page.html").write_text("<h1>page</h1>")
    (root / "404.html").write_text("<h1>not here</h1>")
    (root / "big.bin").write_bytes(BIG)
    (root / "sub").mkdir()
    (root / "sub" / "index.html").write_text("<h1>sub index</h1>")
    (root / "archive.tar.gz").write_bytes(b"\x1f\x8b" + b"\0" * 100)
    (root / "escape").symlink_to("/etc/hostname")
    (root / "inside").symlink_to(root / "hello.txt")
    (root / "linked").mkdir()
    (root / "linked" / "index.html").symlink_to("/etc/hostname")  # an index that leads out of the root
    return root


@pytest.fixture(scope="session")
def built_extras(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_project(tmp_path_factory, TESTS / "apps" / "extras.py", TESTS / "apps" / "extras_streams.py")


@pytest.fixture(scope="module", params=["inprocess", *TRANSPORTS])
def xclient(request: pytest.FixtureRequest, static_root: Path) -> Iterator[Any]:
    yield from app_client(request, "extras", "built_extras", env={"COVET_TEST_STATIC": str(static_root)})


def raw(client: Any, path: str, headers: dict[str, str] | None = None, method: str = "GET") -> tuple[int, Any, bytes]:
    """Status, headers and the body exactly as sent (no content decoding)."""
    if isinstance(client, httpx.Client):
        with client.stream(method, path, headers=headers or {}) as r:
            return r.status_code, r.headers, b"".join(r.iter_raw())
    r = client.request(method, path, headers=headers or {})
    return r.status_code, r.headers, r.content


# -- static files ------------------------------------------------------------------------------------


def test_a_file_is_served_with_its_validators_and_type(xclient: Any) -> None:
    status, h, body = raw(xclient, "/static/hello.txt")
    assert (status, body) == (200, b"hello, static world\n")
    assert h["content-type"] == "text/plain; charset=utf-8"
    assert h["etag"].startswith('"') and h["accept-ranges"] == "bytes"
    assert h["cache-control"] == "public, max-age=3600"
    assert email.utils.parsedate_to_datetime(h["last-modified"])
    assert raw(xclient, "/static/data.json")[1]["content-type"] == "application/json; charset=utf-8"
    assert raw(xclient, "/static/page.html")[1]["content-type"] == "text/html; charset=utf-8"
    assert raw(xclient, "/static/archive.tar.gz")[1]["content-type"] == "application/octet-stream"


def test_conditional_requests_answer_304(xclient: Any) -> None:
    _, h, _ = raw(xclient, "/static/hello.txt")
    etag, modified = h["etag"], h["last-modified"]
    for headers in ({"if-none-match": etag}, {"if-none-match": f'"x", W/{etag}'}, {"if-none-match": "*"},
                    {"if-modified-since": modified}):
        status, h2, body = raw(xclient, "/static/hello.txt", headers)
        assert (status, body) == (304, b""), headers
        assert h2["etag"] == etag
    assert raw(xclient, "/static/hello.txt", {"if-none-match": '"other"'})[0] == 200
    assert raw(xclient, "/static/hello.txt", {"if-modified-since": "Mon, 01 Jan 2001 00:00:00 GMT"})[0] == 200
    # If-None-Match wins over If-Modified-Since.
    assert raw(xclient, "/static/hello.txt", {"if-none-match": '"other"', "if-modified-since": modified})[0] == 200


def test_ranges(xclient: Any) -> None:
    status, h, body = raw(xclient, "/static/hello.txt", {"range": "bytes=0-4"})
    assert (status, body, h["content-range"]) == (206, b"hello", "bytes 0-4/20")
    assert raw(xclient, "/static/hello.txt", {"range": "bytes=-7"})[2] == b" world\n"
    assert raw(xclient, "/static/hello.txt", {"range": "bytes=7-"})[2] == b"static world\n"
    status, h, body = raw(xclient, "/static/hello.txt", {"range": "bytes=500-"})
    assert (status, h["content-range"]) == (416, "bytes */20")
    assert raw(xclient, "/static/hello.txt", {"range": "bytes=0-1,3-4"})[0] == 200  # several: the whole file


@pytest.mark.parametrize("spec", ["bytes=1_0-2_0", "bytes=+1-4", "bytes=0-+4", "bytes=0 -4", "bytes=-",
                                  "bytes=0x1-4", "bits=0-4", "bytes 0-4", "bytes=4-2"])
def test_a_range_off_its_grammar_is_ignored(xclient: Any, spec: str) -> None:
    """RFC 9110 14.1.1 digits only: int() read "1_0-2_0" as 10-20 (issue 13); now the whole file is sent."""
    status, h, body = raw(xclient, "/static/hello.txt", {"range": spec})
    assert (status, len(body)) == (200, 20)
    _, h, _ = raw(xclient, "/static/hello.txt")
    assert raw(xclient, "/static/hello.txt", {"range": "bytes=0-4", "if-range": h["etag"]})[0] == 206
    assert raw(xclient, "/static/hello.txt", {"range": "bytes=0-4", "if-range": '"stale"'})[0] == 200


def test_a_large_file_streams_with_its_length(xclient: Any) -> None:
    status, h, body = raw(xclient, "/static/big.bin")
    assert status == 200 and h["content-length"] == str(len(BIG)) and body == BIG
    assert "transfer-encoding" not in h
    status, h, body = raw(xclient, "/static/big.bin", {"range": "bytes=1000000-2999999"})
    assert (status, h["content-range"], body) == (206, f"bytes 1000000-2999999/{len(BIG)}", BIG[1000000:3000000])
    status, h, body = raw(xclient, "/static/big.bin", method="HEAD")
    assert (status, h["content-length"], body) == (200, str(len(BIG)), b"")


def test_directories_and_the_404_page(xclient: Any) -> None:
    assert raw(xclient, "/static/sub/")[2] == b"<h1>sub index</h1>"
    status, _, body = raw(xclient, "/static/missing.txt")
    assert (status, body) == (404, b"<h1>not here</h1>")
    assert raw(xclient, "/static/inside")[2] == b"hello, static world\n"  # a symlink inside the root


@pytest.mark.parametrize("target", [
    "/static/../conftest.py", "/static/%2e%2e/conftest.py", "/static/sub/%2E%2E/%2e%2e/etc/hostname",
    "/static/..%2fconftest.py", "/static/escape", "/static/%00hello.txt", "/static/sub%5c..%5chello.txt",
    "/static/linked/",
])
def test_nothing_outside_the_root_is_served(xclient: Any, target: str) -> None:
    srv = xclient.server
    if srv is None:
        r = xclient.raw(f"GET {target} HTTP/1.1\r\nhost: x\r\n\r\n".encode())[0]
        status, body = r.status_code, r.content
    else:
        with srv.connect() as sock:
            sock.sendall(f"GET {target} HTTP/1.1\r\nhost: x\r\n\r\n".encode())
            head = read_response_simple(sock, bytearray())
        status, body = int(head.split(b" ", 2)[1]), head
    assert status in (400, 404), (target, status)
    assert b"root:" not in body and b"import" not in body


# -- Server-Sent Events -----------------------------------------------------------------------------


def test_events_are_framed(xclient: Any) -> None:
    status, h, body = raw(xclient, "/sse/finite")
    assert status == 200
    assert h["content-type"] == "text/event-stream"
    assert h["cache-control"] == "no-cache"
    assert body == b"data: one\n\ndata: two\ndata: lines\n\nevent: named\nretry: 500\ndata: x\n\n"


def wait_for(client: Any, event: str) -> list[str]:
    deadline = time.monotonic() + 5
    while True:
        got: list[str] = client.get("/events").json()
        if event in got or time.monotonic() > deadline:
            return got
        time.sleep(0.02)


@pytest.fixture(scope="module", params=TRANSPORTS)
def xserver(request: pytest.FixtureRequest, static_root: Path) -> Iterator[Server]:
    """The extras app on each real transport: dropping a connection needs one."""
    srv = app_server(request, request.param, "extras", "built_extras", env={"COVET_TEST_STATIC": str(static_root)})
    yield srv
    code, log = srv.stop()
    assert code == 0, log


@pytest.mark.parametrize("path,closed", [("/sse?n=2", "ticks closed"), ("/endless", "endless closed")])
def test_a_client_that_goes_away_is_noticed(xserver: Server, path: str, closed: str) -> None:
    with socket.create_connection((xserver.host, xserver.port), timeout=5) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nhost: x\r\n\r\n".encode())
        got = b""
        deadline = time.monotonic() + 5
        # An SSE stream gets to its quiet part (a ping comes); the endless one sends a few chunks of ".".
        while (b": ping" not in got) if path.startswith("/sse") else (got.count(b".\r\n") < 4):
            assert time.monotonic() < deadline, got
            chunk = sock.recv(4096)
            assert chunk, got
            got += chunk
        if path.startswith("/sse"):
            assert b'event: tick\nid: 0\ndata: {"tick":0}' in got
    # The connection is closed: the stream's source must be closed soon, not at its next event.
    with httpx.Client(base_url=xserver.url, timeout=10) as client:
        assert closed in wait_for(client, closed)


# -- compression ------------------------------------------------------------------------------------


TEXT = ("CovetPy compresses what is worth it. " * 100).encode()


def decode(coding: str, body: bytes) -> bytes:
    if coding == "gzip":
        return zlib.decompress(body, 31)
    if coding == "br":
        return bytes(brotli.decompress(body))
    if coding == "zstd":
        return bytes(zstandard.ZstdDecompressor().decompressobj().decompress(body))
    raise AssertionError(coding)


@pytest.mark.parametrize("accept,coding", [
    ("gzip", "gzip"), ("br", "br"), ("zstd", "zstd"), ("gzip, br, zstd", "zstd"), ("gzip;q=1, br;q=0.5", "gzip"),
    ("gzip;q=0, br", "br"), ("*", "zstd"), ("identity", None), ("", None),
])
def test_negotiated_compression(xclient: Any, accept: str, coding: str | None) -> None:
    status, h, body = raw(xclient, "/z/text", {"accept-encoding": accept})
    assert status == 200
    assert h.get("content-encoding") == coding
    assert h["vary"] == "Accept-Encoding"
    assert (decode(coding, body) if coding else body) == TEXT
    if coding:
        assert len(body) < len(TEXT) / 5


def test_what_is_not_compressed(xclient: Any) -> None:
    for path in ("/z/small", "/z/png", "/z/sse"):
        status, h, _ = raw(xclient, path, {"accept-encoding": "gzip, br, zstd"})
        assert status == 200 and "content-encoding" not in h, path
    assert "vary" not in raw(xclient, "/z/png", {"accept-encoding": "gzip"})[1]


def test_streams_are_compressed_and_vary_is_kept(xclient: Any) -> None:
    status, h, body = raw(xclient, "/z/stream", {"accept-encoding": "br"})
    assert (status, h["content-encoding"]) == (200, "br")
    assert decode("br", body) == TEXT
    _, h, _ = raw(xclient, "/z/vary", {"accept-encoding": "gzip"})
    assert h["vary"] == "Cookie, Accept-Encoding"
