"""The access log and the request id: formats, fields, escaping, and no line lost, on every transport.

Each server test runs examples/hello.py on one transport (interpreted and compiled, io_uring, uvloop, asyncio) and
reads the server's stderr after SIGTERM: every line must be there by then (docs/logging.md).
"""

from __future__ import annotations

import json
import re
import socket
import struct
import time
from pathlib import Path

import pytest

from tests.conftest import TRANSPORTS, Server, exchange, hello_server, read_response_simple

_LINE = re.compile(r'^INFO:     (\S+) - "([A-Z]+) (\S+) HTTP/1\.([01])" (\d{3})(?: [A-Za-z -]+)?$')
_RID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{12}$")


def _exchange(srv: Server, raw: bytes) -> bytes:
    return exchange(srv, raw, 2)


def _get(srv: Server, target: str, *headers: str) -> bytes:
    head = "".join(h + "\r\n" for h in headers)
    return _exchange(srv, f"GET {target} HTTP/1.1\r\nHost: t\r\n{head}Connection: close\r\n\r\n".encode("latin-1"))


def _burst(srv: Server, n: int) -> None:
    """``n`` pipelined keep-alive requests on one connection, every response read."""
    buf = bytearray()
    with srv.connect() as s:
        s.sendall(b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n" * n)
        for _ in range(n):
            assert b" 200 " in read_response_simple(s, buf)[:20]


def _stop(srv: Server) -> list[str]:
    code, log = srv.stop()
    assert code == 0, log
    return log.splitlines()


def _json_records(lines: list[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in lines if line.startswith("{")]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_json_fields_every_path(request: pytest.FixtureRequest, transport: str) -> None:
    srv = hello_server(request, transport, "--access-log-format", "json")
    assert _get(srv, "/plaintext", "X-Request-ID: trace-1.2_3").startswith(b"HTTP/1.1 200")  # a direct route on uring
    assert _get(srv, "/json?x=1").startswith(b"HTTP/1.1 200")
    body = b'{"name": "a", "price": 1.5, "tags": []}'
    post = (b"POST /items HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n%s" % (len(body), body))
    assert _exchange(srv, post).startswith(b"HTTP/1.1 201")
    assert _get(srv, "/nope").startswith(b"HTTP/1.1 404")
    assert _get(srv, "/stream?n=5").startswith(b"HTTP/1.1 200")  # chunked: "0\n" .. "4\n", 10 body bytes
    assert _exchange(srv, b"GET / HTTP/1.1\r\nHost: t\r\nBad Header\r\n\r\n").startswith(b"HTTP/1.1 400")
    # A hostile id (quotes, obs-text, too long) is replaced by a generated one; the path keeps its %0d%0a as sent.
    assert _get(srv, "/a%0d%0a", 'X-Request-ID: x"\xff\\' + "y" * 100).startswith(b"HTTP/1.1 404")
    assert _get(srv, "/plaintext", "X-Request-ID: " + "z" * 65).startswith(b"HTTP/1.1 200")
    # A client that leaves while its (suspended) handler runs: nothing is answered, status 0.
    with srv.connect() as s:
        s.sendall(b"GET /slow?ms=300 HTTP/1.1\r\nHost: t\r\n\r\n")
        time.sleep(0.05)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with a reset
    time.sleep(0.8)
    recs = _json_records(_stop(srv))
    assert len(recs) == 9, " ".join(f"{r['method']} {r['path']} {r['status']}" for r in recs)
    for rec in recs:
        assert set(rec) == {"time", "client", "method", "path", "status", "bytes", "duration", "request_id"}
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", str(rec["time"]))
        assert re.fullmatch(r"127\.0\.0\.1:\d+", str(rec["client"])), rec
        assert isinstance(rec["duration"], float) and 0 <= rec["duration"] < 5
    by = {(r["method"], r["path"]): r for r in recs}
    plain = recs[0]
    assert (plain["method"], plain["path"], plain["status"], plain["bytes"], plain["request_id"]) == (
        "GET", "/plaintext", 200, len("Hello, World!"), "trace-1.2_3")
    assert by["GET", "/json?x=1"]["status"] == 200 and _RID.match(str(by["GET", "/json?x=1"]["request_id"]))
    assert by["POST", "/items"]["status"] == 201 and int(str(by["POST", "/items"]["bytes"])) > 0
    assert by["GET", "/nope"]["status"] == 404
    # (On io_uring /stream is a direct route, whose streamed reply is logged with its route's path, no query.)
    stream = by.get(("GET", "/stream?n=5")) or by["GET", "/stream"]
    assert (stream["status"], stream["bytes"]) == (200, 10)
    assert by[None, None]["status"] == 400
    assert by["GET", "/a%0d%0a"]["status"] == 404 and _RID.match(str(by["GET", "/a%0d%0a"]["request_id"]))
    assert _RID.match(str(recs[7]["request_id"]))  # 65 characters: one too many
    assert (by["GET", "/slow?ms=300"]["status"], by["GET", "/slow?ms=300"]["bytes"]) == (0, 0)
    assert by["GET", "/slow?ms=300"]["duration"] >= 0.25  # type: ignore[operator]
    ids = [r["request_id"] for r in recs]
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_line_format_and_no_line_lost_on_sigterm(request: pytest.FixtureRequest, transport: str) -> None:
    srv = hello_server(request, transport)
    assert _get(srv, "/plaintext").startswith(b"HTTP/1.1 200")
    assert _get(srv, "/nope?a=%22b").startswith(b"HTTP/1.1 404")
    _burst(srv, 1000)
    lines = _stop(srv)  # SIGTERM right after the burst
    access = [line for line in lines if line.startswith("INFO:")]
    assert len(access) == 1002, "\n".join(lines[-5:])
    for line in access:
        m = _LINE.match(line)
        assert m is not None, line
        assert re.fullmatch(r"127\.0\.0\.1:\d+", m.group(1))
    assert access[0].endswith('"GET /plaintext HTTP/1.1" 200 OK')
    assert access[1].endswith('"GET /nope?a=%22b HTTP/1.1" 404 Not Found')
    assert all(line.endswith('"GET /plaintext HTTP/1.1" 200 OK') for line in access[2:])


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_no_access_log(request: pytest.FixtureRequest, transport: str) -> None:
    srv = hello_server(request, transport, "--no-access-log")
    assert _get(srv, "/plaintext").startswith(b"HTTP/1.1 200")
    assert _get(srv, "/nope").startswith(b"HTTP/1.1 404")
    lines = _stop(srv)
    assert not [line for line in lines if "INFO:" in line or line.startswith("{")], lines


_DICT_CONFIG = {
    "version": 1,
    "formatters": {"bare": {"format": "%(name)s %(message)s"}},
    "handlers": {"file": {"class": "logging.FileHandler", "filename": "", "formatter": "bare"}},
    "loggers": {"covet.access": {"handlers": ["file"], "level": "INFO", "propagate": False}},
}


@pytest.mark.parametrize("kind", ["json", "yaml"])
@pytest.mark.parametrize("transport", ["interpreted-uring", "interpreted-asyncio"])
def test_log_config_routes_access_to_a_file(request: pytest.FixtureRequest, tmp_path: Path, kind: str,
                                            transport: str) -> None:
    out = tmp_path / "access.log"
    conf = json.loads(json.dumps(_DICT_CONFIG))
    conf["handlers"]["file"]["filename"] = str(out)
    if kind == "yaml":
        import yaml

        path = tmp_path / "log.yaml"
        path.write_text(yaml.safe_dump(conf))
    else:
        path = tmp_path / "log.json"
        path.write_text(json.dumps(conf))
    srv = hello_server(request, transport, "--log-config", str(path), "--access-log-format", "json")
    assert _get(srv, "/plaintext", "X-Request-ID: from-file").startswith(b"HTTP/1.1 200")
    lines = _stop(srv)
    assert not [line for line in lines if "from-file" in line], lines  # not on stderr
    logged = out.read_text().splitlines()
    assert len(logged) == 1 and logged[0].startswith("covet.access {"), logged
    rec = json.loads(logged[0].split(" ", 1)[1])
    assert (rec["path"], rec["status"], rec["request_id"]) == ("/plaintext", 200, "from-file")


def test_bad_log_config_is_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    bad = tmp_path / "log.json"
    bad.write_text("{not json")
    out = subprocess.run([sys.executable, "-m", "covet", "serve", "examples.hello:app", "--log-config", str(bad)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert out.stderr.startswith(f"covet: error: --log-config {bad}:") and out.stderr.count("\n") == 1


# -- the record buffer itself (no server) ----------------------------------------------------------------------------
# (covet._native is imported inside the tests: native/tests/asan_server.sh runs this module with an ASan build of it
# that only the servers can load.)

_HOSTILE = '/x"\\\r\n\x00\x1b[31m\x7f\xe9\u2603\U0001f600'


def test_escaping_keeps_one_line_and_valid_json() -> None:
    from covet._native import AccessLog

    response = b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nbody"
    for as_json in (False, True):
        log = AccessLog(json=as_json)
        log.record(("::1", 8), _HOSTILE, _HOSTILE, "q=\r\n", [("x-request-id", "a\r\nb")], 1, response, -1, 0, -1, 0)
        text, n, dropped = log.drain("")
        assert (n, dropped) == (1, 0)
        assert text.count("\n") == 1 and text.endswith("\n") and text.isascii()
        assert not any(ord(c) < 0x20 or ord(c) == 0x7f for c in text[:-1])
        if as_json:
            rec = json.loads(text)
            assert (rec["method"], rec["path"], rec["status"], rec["bytes"]) == (_HOSTILE, _HOSTILE + "?q=\r\n",
                                                                                  200, 4)
            assert _RID.match(rec["request_id"])  # the client's had CR/LF in it
        else:
            assert text.startswith('::1:8 - "') and '\\x0d\\x0a' in text and '\\"' in text


def test_each_line_has_its_own_client_and_length() -> None:
    """The drain reuses the last client's text while the next record has the same one, and finds each head's end
    itself: neither may leak into another record."""
    from covet._native import AccessLog

    clients = [("10.0.0.1", 5000), ("10.0.0.1", 5000), ("10.0.0.1", 5001), ("10.0.0.2", 5000), None,
               ("10.0.0.1", 5000), ("10.0.0.1", 5000)]
    bodies = [b"", b"x", b"\r\n\r\nafter a blank line", b"y" * 70_000, b"ends blank\r\n\r\n"]
    log = AccessLog()
    for rounds in range(2):  # a drain leaves an array as large as it took for the next records
        for i, client in enumerate(clients):
            body = bodies[i % len(bodies)]
            head = b"HTTP/1.1 201 Created\r\ncontent-length: %d\r\n\r\n" % len(body)
            # The length of the body expected (a hint), or none: the head's end is found either way.
            log.record(client, "GET", f"/{rounds}/{i}", "", None, 1, head + body, len(body) if rounds else -1, 0,
                       -1, 0)
        log.record(("10.0.0.1", 5000), "GET", "/cut", "", None, 1, b"HTTP/1.1 200 OK\r\nx: y\r\n\r", -1, 0, -1, 0)
        text, n, _ = log.drain("")
        lines = text.splitlines()
        assert n == len(clients) + 1 == len(lines)
        for i, (client, line) in enumerate(zip(clients, lines, strict=False)):
            who = f"{client[0]}:{client[1]}" if client else "-"
            assert line == f'{who} - "GET /{rounds}/{i} HTTP/1.1" 201 Created', line
        assert lines[-1] == '10.0.0.1:5000 - "GET /cut HTTP/1.1" 200 OK'
    log = AccessLog(json=True)
    for i, client in enumerate(clients):
        body = bodies[i % len(bodies)]
        head = b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(body)
        log.record(client, "GET", "/", "", None, 1, head + body, len(body), 0, -1, 0)
        # A HEAD's response: the body expected was dropped, so the hint is larger than what was sent.
        log.record(client, "HEAD", "/", "", None, 1, head, len(body), 0, -1, 0)
    recs = [json.loads(line) for line in log.drain("")[0].splitlines()]
    assert [r["client"] for r in recs[::2]] == [f"{c[0]}:{c[1]}" if c else None for c in clients]
    assert [r["bytes"] for r in recs[::2]] == [len(bodies[i % len(bodies)]) for i in range(len(clients))]
    assert [r["bytes"] for r in recs[1::2]] == [0] * len(clients)


def test_request_id_rules() -> None:
    from covet._native import AccessLog

    log = AccessLog(json=True)
    for rid in ["abc-DEF_1.2:3/4+5=6@7~8", "x" * 64, "x" * 65, "", "a b", "a,b", "é"]:
        log.record(None, "GET", "/", "", [("x-request-id", rid)], 1, 204, 0, 0, -1, 0)
    ids = [json.loads(line)["request_id"] for line in log.drain("")[0].splitlines()]
    assert ids[:2] == ["abc-DEF_1.2:3/4+5=6@7~8", "x" * 64]
    assert all(_RID.match(i) for i in ids[2:])
    assert len(set(ids)) == len(ids)


def test_buffer_asks_to_be_drained_and_counts_what_it_drops() -> None:
    from covet._native import AccessLog

    asked: list[int] = []
    log = AccessLog(on_full=lambda: asked.append(1), capacity=16)
    for _ in range(20):
        log.record(None, "GET", "/", "", None, 1, 200, 0, 0, -1, 0)
    assert asked == [1]  # once, at a quarter full
    _, n, dropped = log.drain("")
    assert (n, dropped) == (16, 4)
    assert log.pending == 0 and log.recorded == 16


def test_a_large_buffer_asks_to_be_drained_every_1024_records() -> None:
    from covet._native import AccessLog

    asked: list[int] = []
    log = AccessLog(on_full=lambda: asked.append(log.pending))
    for _ in range(3000):
        log.record(None, "GET", "/", "", None, 1, 200, 0, 0, -1, 0)
    assert asked == [1024]  # once until drained: the records stay in the caches until the writer takes them
    assert log.drain("")[1] == 3000
    for _ in range(1024):
        log.record(None, "GET", "/", "", None, 1, 200, 0, 0, -1, 0)
    assert asked == [1024, 1024]


def _header(response: bytes, name: bytes) -> str | None:
    head = response.split(b"\r\n\r\n", 1)[0].lower()
    m = re.search(rb"\r\n" + name + rb": ([^\r]*)", head)
    return m.group(1).decode() if m else None


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_request_id_header_echoes_the_logged_id(request: pytest.FixtureRequest, transport: str) -> None:
    plain = hello_server(request, transport)
    assert _header(_get(plain, "/plaintext", "X-Request-ID: abc"), b"x-request-id") is None  # off by default
    _stop(plain)
    srv = hello_server(request, transport, "--request-id-header", "--access-log-format", "json")
    sent = {
        "/plaintext": _get(srv, "/plaintext", "X-Request-ID: abc-1"),
        "/json": _get(srv, "/json"),
        "/stream": _get(srv, "/stream?n=2"),
        "/slow?ms=10": _get(srv, "/slow?ms=10", "X-Request-ID: " + "bad id"),
        "/nope": _get(srv, "/nope"),
    }
    echoed = {path: _header(resp, b"x-request-id") for path, resp in sent.items()}
    assert echoed["/plaintext"] == "abc-1"
    assert all(_RID.match(str(echoed[p])) for p in ("/json", "/stream", "/slow?ms=10", "/nope")), echoed
    recs = _json_records(_stop(srv))
    assert len(recs) == 5
    logged = {str(r["path"]).split("?n=")[0]: r["request_id"] for r in recs}
    assert logged == echoed


@pytest.mark.parametrize("loop", ["uring", "uvloop", "asyncio"])
def test_cut_streams_log_the_status_sent_and_the_bytes_queued(loop: str) -> None:
    """A stream that fails after its head, and one whose client resets mid-body: each logged once, with the status
    of the head it sent and the body bytes queued before it stopped."""
    srv = Server("apps.behaviour:app", loop, "--access-log-format", "json", cwd=Path(__file__).resolve().parent)
    assert _get(srv, "/broken-stream").startswith(b"HTTP/1.1 200")
    with srv.connect() as s:
        s.sendall(b"GET /forever HTTP/1.1\r\nHost: t\r\n\r\n")
        got = b""
        while len(got) < 20_000:
            got += s.recv(65536)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # reset mid-body
    time.sleep(0.5)
    recs = {r["path"]: r for r in _json_records(_stop(srv))}
    assert (recs["/broken-stream"]["status"], recs["/broken-stream"]["bytes"]) == (200, len("first part;"))
    assert recs["/forever"]["status"] == 200 and int(str(recs["/forever"]["bytes"])) >= 16 * 1024


def test_lines_are_written_whole_in_pieces_a_pipe_keeps_whole() -> None:
    """Workers share stderr: each write is whole lines of at most PIPE_BUF bytes (a longer line goes alone)."""
    import io
    import select

    from covet.runtime.accesslog import _write_whole_lines

    class Recorder(io.StringIO):
        def __init__(self) -> None:
            super().__init__()
            self.writes: list[str] = []

        def write(self, s: str) -> int:
            self.writes.append(s)
            return super().write(s)

    text = "".join(f"line {i} " + "x" * (i % 300) + "\n" for i in range(3000)) + "y" * 9000 + "\nlast\n"
    out = Recorder()
    _write_whole_lines(out, text)
    assert "".join(out.writes) == text
    assert all(w.endswith("\n") for w in out.writes)
    assert [len(w) for w in out.writes if len(w) > select.PIPE_BUF] == [9001]


def _records(log: object, n: int) -> list[str]:
    """``n`` records of paths long and short (some lines past PIPE_BUF), and the lines a drain must write."""
    import select

    paths = [f"/{i}/" + "p" * (i * 37 % 900) for i in range(n)]
    paths[n // 2] = "/" + "q" * (select.PIPE_BUF + 100)
    for p in paths:
        log.record(("10.1.2.3", 4000), "GET", p, "", None, 1, 204, 0, 0, -1, 0)  # type: ignore[attr-defined]
    return [f'INFO:     10.1.2.3:4000 - "GET {p} HTTP/1.1" 204 No Content\n' for p in paths]


def test_drain_to_writes_whole_lines_a_pipe_keeps_whole() -> None:
    """The writer's drain writes in C, without the GIL: each write is whole lines, at most PIPE_BUF bytes unless one
    line is longer (a SOCK_SEQPACKET peer reads back each write as it was made)."""
    import select

    from covet._native import AccessLog

    log = AccessLog()
    want = _records(log, 400)
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with a, b:
        b.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        assert log.drain_to("INFO:     ", a.fileno()) == (400, 0, 0)
        a.close()
        writes = []
        while chunk := b.recv(1 << 20):
            writes.append(chunk.decode())
    assert "".join(writes) == "".join(want)
    assert all(w.endswith("\n") for w in writes)
    assert [len(w) for w in writes if len(w) > select.PIPE_BUF] == [len(want[200])]
    assert len(writes) < 200  # lines go together, not one a write


def test_drain_to_waits_on_a_full_nonblocking_pipe_and_says_why_it_stopped(tmp_path: Path) -> None:
    """A supervisor's stderr may be a non-blocking pipe that a slow reader empties: the drain waits for room (it
    holds no GIL meanwhile) and loses nothing. A regular file gets one write; a closed fd gives its errno back."""
    import errno
    import fcntl
    import os
    import threading

    from covet._native import AccessLog

    log = AccessLog()
    want = "".join(_records(log, 3000))
    r, w = os.pipe()
    fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, 4096)
    os.set_blocking(w, False)
    got = bytearray()

    def read_slowly() -> None:
        while chunk := os.read(r, 1000):
            got.extend(chunk)
            time.sleep(0.0002)

    reader = threading.Thread(target=read_slowly)
    reader.start()
    try:
        assert log.drain_to("INFO:     ", w) == (3000, 0, 0)
    finally:
        os.close(w)
        reader.join(30)
        os.close(r)
    assert got.decode() == want

    path = tmp_path / "access.log"
    want = "".join(_records(log, 50))
    with path.open("w") as f:
        assert log.drain_to("INFO:     ", f.fileno()) == (50, 0, 0)
    assert path.read_text() == want

    _records(log, 5)
    fd = os.open(os.devnull, os.O_WRONLY)
    os.close(fd)
    assert log.drain_to("INFO:     ", fd) == (5, 0, errno.EBADF)  # drained all the same: nothing piles up
    assert log.pending == 0
    with pytest.raises(ValueError, match="negative"):
        log.drain_to("INFO:     ", -1)
    with pytest.raises(TypeError):
        log.drain_to(b"INFO:     ", 1)  # type: ignore[arg-type]


def test_only_the_processs_own_stderr_is_written_under_its_stream(tmp_path: Path) -> None:
    """The writer writes raw bytes to the descriptor only of the process's own stderr or stdout: a stream that stands
    in for it (a tee, a capture) with the same descriptor, or one that translates newlines, gets its text through its
    own write()."""
    import io
    import logging
    import os
    import sys

    from covet.runtime.accesslog import ACCESS_LOGGER, AccessLogWriter, _raw_fd, default_handler

    assert _raw_fd(sys.__stderr__) == sys.__stderr__.fileno()  # type: ignore[union-attr]
    with open(tmp_path / "crlf.log", "w", newline="\r\n") as crlf:
        assert _raw_fd(crlf) == -1
    r, w = os.pipe()

    class Tee(io.StringIO):
        def fileno(self) -> int:
            return w

    tee = Tee()
    assert _raw_fd(tee) == -1
    logger = logging.getLogger(ACCESS_LOGGER)
    saved = logger.handlers[:], logger.propagate, logger.level
    logger.handlers = [default_handler(stream=tee)]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        writer = AccessLogWriter()
        writer.log.record(("10.0.0.9", 7), "GET", "/tee", "", None, 1, 204, 0, 0, -1, 0)
        writer.flush()
        assert tee.getvalue() == 'INFO:     10.0.0.9:7 - "GET /tee HTTP/1.1" 204 No Content\n'
        os.set_blocking(r, False)
        with pytest.raises(BlockingIOError):
            os.read(r, 100)  # nothing went around the stand-in
    finally:
        logger.handlers, logger.propagate = saved[0], saved[1]
        logger.setLevel(saved[2])
        os.close(r)
        os.close(w)
