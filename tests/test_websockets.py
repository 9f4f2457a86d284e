"""WebSocket routes (docs/websockets.md), end to end: a real server on every transport, interpreted and compiled, and
a real client (the ``websockets`` package), or raw bytes where a client would not misbehave."""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from conftest import APPS, TRANSPORTS, Server, app_server, build_project

KEY = base64.b64encode(b"0123456789abcdef").decode()


@pytest.fixture(scope="session")
def built_ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_project(tmp_path_factory, APPS / "ws.py", APPS / "ws_models.py")


@pytest.fixture(scope="module", params=TRANSPORTS)
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    srv = app_server(request, request.param, "ws", "built_ws", "--ws-max-size", "1048576")
    yield srv
    code, log = srv.stop()
    assert code == 0, log


def ws_url(srv: Server, path: str) -> str:
    return f"ws://{srv.host}:{srv.port}{path}"


def open_ws(srv: Server, path: str, **kw: object) -> ClientConnection:
    return connect(ws_url(srv, path), open_timeout=10, close_timeout=10, max_size=None, **kw)  # type: ignore[arg-type]


def raw_handshake(srv: Server, path: str = "/echo", extra: bytes = b"") -> tuple[socket.socket, bytes]:
    """A handshake on a plain socket: the socket and what the server answered (up to the end of its head)."""
    s = srv.connect()
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              f"Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n".encode() + extra + b"\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            break
        head += chunk
    return s, head


def raw_handshake_nowait(srv: Server, path: str, after: bytes = b"") -> tuple[socket.socket, None]:
    """A handshake (and ``after``, in the same write) on a plain socket, its answer not read."""
    s = srv.connect()
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              f"Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode() + after)
    return s, None


def frame(opcode: int, payload: bytes, fin: bool = True, mask: bytes | None = b"abcd", rsv: int = 0) -> bytes:
    """A client frame (masked unless ``mask`` is None)."""
    first = (0x80 if fin else 0) | rsv << 4 | opcode
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", first, (0x80 if mask else 0) | n)
    elif n < 65536:
        head = struct.pack("!BBH", first, (0x80 if mask else 0) | 126, n)
    else:
        head = struct.pack("!BBQ", first, (0x80 if mask else 0) | 127, n)
    if mask is None:
        return head + payload
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def read_raw_frames(s: socket.socket, timeout: float = 10.0, head: bool = False) -> list[tuple[int, bytes]]:
    """The server's frames until it closes the connection: (first byte: FIN, RSV bits, opcode; payload) each;
    ``head``: after the 101's head, which was not read yet."""
    s.settimeout(timeout)
    data = b""
    while True:
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        data += chunk
    if head:
        assert data.startswith(b"HTTP/1.1 101 "), data[:200]
        data = data.split(b"\r\n\r\n", 1)[1]
    frames = []
    while data:
        first, n = data[0], data[1] & 0x7F
        at = 2
        if n == 126:
            n, at = struct.unpack("!H", data[2:4])[0], 4
        elif n == 127:
            n, at = struct.unpack("!Q", data[2:10])[0], 10
        frames.append((first, data[at:at + n]))
        data = data[at + n:]
    return frames


def read_frames(s: socket.socket, timeout: float = 10.0, head: bool = False) -> list[tuple[int, bytes]]:
    """As ``read_raw_frames``, with each frame's opcode only."""
    return [(first & 0x0F, payload) for first, payload in read_raw_frames(s, timeout, head)]


def close_code(payload: bytes) -> int:
    return int(struct.unpack("!H", payload[:2])[0]) if len(payload) >= 2 else 1005


# -- messages -------------------------------------------------------------------------------------------------------


def test_echo_text_binary_and_large(server: Server) -> None:
    with open_ws(server, "/echo") as ws:
        ws.send("héllo")
        assert ws.recv() == "héllo"
        ws.send(b"\x00\xff" * 10)
        assert ws.recv() == b"\x00\xff" * 10
        big = os.urandom(1 << 20)  # the limit exactly
        ws.send(big)
        assert ws.recv() == big
        ws.send("")
        assert ws.recv() == ""


def test_fragmented_messages_with_a_ping_between(server: Server) -> None:
    with open_ws(server, "/echo") as ws:
        ws.send(["frag", "mented ", "ü"])  # one message in three frames
        assert ws.recv() == "fragmented ü"
        pong = ws.ping(b"are you there")
        assert pong.wait(5)
        ws.send([b"a", b"b"])
        assert ws.recv() == b"ab"


def test_json_messages(server: Server) -> None:
    with open_ws(server, "/json") as ws:
        ws.send(json.dumps({"a": [1, 2]}))
        assert json.loads(ws.recv()) == {"got": {"a": [1, 2]}}


def test_typed_messages(server: Server) -> None:
    with open_ws(server, "/moves") as ws:
        ws.send('{"x": 2, "y": 3}')
        assert json.loads(ws.recv()) == {"total": 6}
        ws.send('{"x": 1, "y": "three"}')
        with pytest.raises(ConnectionClosed) as err:
            ws.recv()
    assert err.value.rcvd is not None and err.value.rcvd.code == 1007
    assert err.value.rcvd.reason.startswith("invalid message: y: Input should be a valid integer")
    with open_ws(server, "/moves") as ws:
        ws.send("not json")
        with pytest.raises(ConnectionClosed) as err:
            ws.recv()
    assert err.value.rcvd is not None and err.value.rcvd.code == 1007


def test_a_message_split_at_every_byte(server: Server) -> None:
    """The frames arrive a byte at a time: the parser holds what it was given across reads."""
    s, head = raw_handshake(server)
    assert head.startswith(b"HTTP/1.1 101 "), head
    data = frame(1, "ein Gruß".encode()) + frame(2, b"\x01\x02\x03", fin=False) + frame(9, b"p") + \
        frame(0, b"\x04") + frame(8, struct.pack("!H", 1000))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for i in range(len(data)):
        s.sendall(data[i:i + 1])
        time.sleep(0.001)
    frames = read_frames(s)
    s.close()
    assert frames == [(1, "ein Gruß".encode()), (10, b"p"), (2, b"\x01\x02\x03\x04"), (8, struct.pack("!H", 1000))]


# -- the handshake --------------------------------------------------------------------------------------------------


def test_http_beside_websocket(server: Server) -> None:
    with httpx.Client(base_url=server.url) as c:
        assert c.get("/plain").json() == {"http": "yes"}
        assert c.get("/echo").status_code == 404  # a WebSocket's path is not an HTTP route, as in FastAPI
    with pytest.raises(InvalidStatus) as err:
        open_ws(server, "/plain")  # an upgrade to an HTTP route is answered as the GET it is
    assert err.value.response.status_code == 200
    with pytest.raises(InvalidStatus) as err:
        open_ws(server, "/nowhere")
    assert err.value.response.status_code == 404


def test_the_accept_key_and_extra_headers(server: Server) -> None:
    s, head = raw_handshake(server, "/protocols", b"Sec-WebSocket-Protocol: chat.v1, chat.v2\r\n")
    s.close()
    lines = head.split(b"\r\n\r\n")[0].decode().split("\r\n")
    assert lines[0] == "HTTP/1.1 101 Switching Protocols"
    fields = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:] if ": " in line)}
    assert fields["sec-websocket-accept"] == "BACScCJPNqyz+UBoqMH89VmURoA="  # RFC 6455's algorithm for KEY
    assert fields["sec-websocket-protocol"] == "chat.v2"
    assert fields["x-extra"] == "1"
    assert fields["upgrade"].lower() == "websocket"


def test_subprotocols(server: Server) -> None:
    with open_ws(server, "/protocols", subprotocols=["chat.v1", "chat.v2"]) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "chat.v2"
        assert ws.recv() == "chat.v1,chat.v2"


@pytest.mark.parametrize(("extra", "status"), [
    (b"Sec-WebSocket-Version: 8\r\n", 426),
    (b"Sec-WebSocket-Key: c2hvcnQ=\r\n", 400),
])
def test_bad_handshakes(server: Server, extra: bytes, status: int) -> None:
    s = server.connect()
    key = b"" if b"Key" in extra else f"Sec-WebSocket-Key: {KEY}\r\n".encode()
    version = b"" if b"Version" in extra else b"Sec-WebSocket-Version: 13\r\n"
    s.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" + key + version +
              extra + b"\r\n")
    s.settimeout(5)
    answer = s.recv(4096)
    s.close()
    assert answer.startswith(b"HTTP/1.1 %d " % status), answer
    if status == 426:
        assert b"sec-websocket-version: 13" in answer.lower()


def test_parameters_and_dependencies(server: Server) -> None:
    with open_ws(server, "/rooms/blue?token=ann&n=3", additional_headers={"X-Client": "t1"}) as ws:
        assert json.loads(ws.recv()) == {"room": "blue", "user": "ann", "client": "t1", "n": 3, "path": "/rooms/blue",
                                         "scheme": "ws"}


@pytest.mark.parametrize(("query", "status"), [
    ("", 403),  # the token is missing: the upgrade is refused, as an HTTP answer
    ("?token=x&n=many", 403),  # not an int
    ("?token=forbidden", 401),  # the dependency's HTTPException
    ("?token=policy", 403),  # the dependency's WebSocketException
])
def test_a_refused_upgrade_is_an_http_answer(server: Server, query: str, status: int) -> None:
    with pytest.raises(InvalidStatus) as err:
        open_ws(server, "/rooms/blue" + query)
    assert err.value.response.status_code == status


def test_close_before_accept_is_403_and_a_failure_before_accept_500(server: Server) -> None:
    with pytest.raises(InvalidStatus) as err:
        open_ws(server, "/refuse")
    assert err.value.response.status_code == 403
    with pytest.raises(InvalidStatus) as err:
        open_ws(server, "/boom-early")
    assert err.value.response.status_code == 500


# -- closing --------------------------------------------------------------------------------------------------------


def test_the_server_closes_with_its_code(server: Server) -> None:
    with open_ws(server, "/close") as ws:
        with pytest.raises(ConnectionClosed) as err:
            ws.recv()
    assert err.value.rcvd is not None
    assert (err.value.rcvd.code, err.value.rcvd.reason) == (4001, "bye")


def test_a_handler_that_raises_closes_with_1011(server: Server) -> None:
    with open_ws(server, "/boom") as ws:
        ws.send("go")
        with pytest.raises(ConnectionClosed) as err:
            ws.recv()
    assert err.value.rcvd is not None and err.value.rcvd.code == 1011
    assert server.logged("the handler failed on purpose")


def test_the_client_closes_and_the_handler_hears_its_code(server: Server) -> None:
    with open_ws(server, "/echo") as ws:
        ws.send("x")
        ws.recv()
        ws.close(code=4321, reason="done")
    deadline = time.monotonic() + 5
    while 4321 not in httpx.get(server.url + "/closes").json():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_after_the_peer_left_receive_and_send_fail_as_in_starlette(server: Server) -> None:
    key = f"k{time.monotonic_ns()}"
    with open_ws(server, "/after") as ws:
        ws.send(key)
        ws.send("ignored")
        ws.close(code=4000)
    deadline = time.monotonic() + 5
    while len(seen := httpx.get(server.url + f"/after/{key}").json()) < 4:
        assert time.monotonic() < deadline, seen
        time.sleep(0.05)
    assert seen == ["CONNECTED", "DISCONNECTED",
                    'RuntimeError: Cannot call "receive" once a disconnect message has been received.',
                    "WebSocketDisconnect: (4000, '')"]


def test_a_handlers_result_is_never_taken_for_an_answer(server: Server) -> None:
    """Returning before accept refuses with 403 (uvicorn's answer), returning after closes with 1000, whatever the
    value: a (500, "x", b"") tuple is not an HTTP reply."""
    with pytest.raises(InvalidStatus) as refused:
        open_ws(server, "/returns").close()
    assert refused.value.response.status_code == 403
    with open_ws(server, "/returns?accept=true") as ws:
        with pytest.raises(ConnectionClosed) as err:
            ws.recv(timeout=5)
    assert err.value.rcvd is not None and err.value.rcvd.code == 1000
    with pytest.raises(InvalidStatus) as cancelled:  # a dependency raising CancelledError: refused, not reset
        open_ws(server, "/cancelled").close()
    assert cancelled.value.response.status_code == 403
    assert "Exception in callback" not in server.log and "Exception ignored" not in server.log


def test_a_yield_dependency_exits_after_the_handler(server: Server) -> None:
    key = f"h{time.monotonic_ns()}"
    with open_ws(server, f"/held?key={key}") as ws:
        assert ws.recv() == "resource"
        assert httpx.get(server.url + f"/after/{key}").json() == ["opened"]
    deadline = time.monotonic() + 5
    while httpx.get(server.url + f"/after/{key}").json() != ["opened", "closed"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_a_client_that_vanishes(server: Server) -> None:
    """A reset in the middle of a message: the handler hears 1006, and the server serves on."""
    s, head = raw_handshake(server)
    assert head.startswith(b"HTTP/1.1 101 ")
    s.sendall(frame(1, b"half a message", fin=False))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    deadline = time.monotonic() + 5
    while 1006 not in httpx.get(server.url + "/closes").json():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    with open_ws(server, "/echo") as ws:
        ws.send("still here")
        assert ws.recv() == "still here"
    # A handler that lets the WebSocketDisconnect(1006) out is not an error: nothing is logged for it.
    s, head = raw_handshake(server, "/leaky")
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    assert not server.logged("/leaky: ", "cannot be sent", timeout=1.0), server.log


@pytest.mark.parametrize(("data", "code"), [
    (frame(1, b"unmasked", mask=None), 1002),
    (frame(1, b"\xff\xfe"), 1007),
    (frame(3, b""), 1002),
    (frame(1, b"x", rsv=4), 1002),
    (frame(9, b"p" * 126), 1002),
    (frame(0, b"nothing to continue"), 1002),
    (frame(8, b"\x03\xe8\xff"), 1007),
    (frame(8, struct.pack("!H", 1005)), 1002),
])
def test_protocol_errors_close_with_their_code(server: Server, data: bytes, code: int) -> None:
    s, head = raw_handshake(server)
    assert head.startswith(b"HTTP/1.1 101 ")
    s.sendall(data)
    frames = read_frames(s)
    s.close()
    assert frames and frames[-1][0] == 8 and close_code(frames[-1][1]) == code, frames


def test_a_message_over_the_limit_closes_with_1009(server: Server) -> None:
    with open_ws(server, "/echo") as ws:
        ws.send(b"x" * ((1 << 20) + 1))
        with pytest.raises(ConnectionClosed) as err:
            ws.recv()
    assert err.value.rcvd is not None and err.value.rcvd.code == 1009


# -- permessage-deflate ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("offer", "answer"), [
    (b"permessage-deflate", b"permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
    (b"permessage-deflate; client_max_window_bits",
     b"permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
    (b"permessage-deflate; server_max_window_bits=10, permessage-deflate",
     b"permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10"),
    (b"permessage-deflate; server_max_window_bits=16, permessage-deflate; server_no_context_takeover",
     b"permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
    (b"permessage-deflate; mystery=1", None),
    (b"x-webkit-deflate-frame", None),
])
def test_deflate_offers(server: Server, offer: bytes, answer: bytes | None) -> None:
    s, head = raw_handshake(server, extra=b"Sec-WebSocket-Extensions: " + offer + b"\r\n")
    s.close()
    assert head.startswith(b"HTTP/1.1 101 ")
    said = [line.split(b": ", 1)[1] for line in head.split(b"\r\n") if line.lower().startswith(b"sec-websocket-ext")]
    assert said == ([answer] if answer else [])


def deflated(data: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def test_deflate_on_the_wire(server: Server) -> None:
    """A compressed text message in, a compressed one back (RSV1 set), inflating to the same text."""
    s, head = raw_handshake(server, extra=b"Sec-WebSocket-Extensions: permessage-deflate\r\n")
    assert b"permessage-deflate" in head
    text = "ein Gruß, " * 100
    s.sendall(frame(1, deflated(text.encode()), rsv=4) + frame(1, b"short", rsv=0))
    s.sendall(frame(8, struct.pack("!H", 1000)))
    got = read_raw_frames(s)
    s.close()
    assert got[0][0] == 0xC1  # FIN, RSV1, text
    assert zlib.decompressobj(-15).decompress(got[0][1] + b"\x00\x00\xff\xff").decode() == text
    assert got[1] == (0x81, b"short")  # under MIN_SIZE: sent as it is


@pytest.mark.parametrize(("payload", "code"), [
    (deflated(b"\0" * (64 << 20)), 1009),  # 64 KiB that inflate to 64 MiB: cut at the limit
    (b"\xff\xff\xff not deflate", 1007),
    (deflated(b"\xff\xfe not utf-8"), 1007),
])
def test_bad_compressed_messages(server: Server, payload: bytes, code: int) -> None:
    before = rss_kib(server.proc.pid)
    s, head = raw_handshake(server, extra=b"Sec-WebSocket-Extensions: permessage-deflate\r\n")
    assert b"permessage-deflate" in head
    s.sendall(frame(1, payload, rsv=4))
    frames = read_frames(s)
    s.close()
    assert frames and frames[-1][0] == 8 and close_code(frames[-1][1]) == code, frames
    assert rss_kib(server.proc.pid) - before < 16 * 1024


def test_deflate_off(request: pytest.FixtureRequest) -> None:
    srv = app_server(request, "interpreted-asyncio", "ws", "built_ws", "--no-ws-per-message-deflate")
    try:
        s, head = raw_handshake(srv, extra=b"Sec-WebSocket-Extensions: permessage-deflate\r\n")
        s.close()
        assert head.startswith(b"HTTP/1.1 101 ") and b"sec-websocket-extensions" not in head.lower()
    finally:
        code, log = srv.stop()
    assert code == 0, log


# -- backpressure ---------------------------------------------------------------------------------------------------


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_a_peer_that_does_not_read_cannot_grow_the_servers_memory(server: Server) -> None:
    """/flood sends 64 MiB to a client that reads nothing for two seconds: send() waits, the server's memory stays
    flat, and once the client reads, every byte arrives."""
    before = rss_kib(server.proc.pid)
    with open_ws(server, "/flood?size=65536&count=1024") as ws:
        time.sleep(2)
        grown = rss_kib(server.proc.pid) - before
        total = 0
        try:
            while True:
                total += len(ws.recv())
        except ConnectionClosed as exc:
            assert exc.rcvd is not None and exc.rcvd.code == 1000
    assert total == 65536 * 1024
    assert grown < 16 * 1024, f"the server grew by {grown} KiB while its peer did not read"


def test_a_handler_that_does_not_read_stops_the_reading(server: Server) -> None:
    """/sleepy reads nothing for three seconds while the client sends 64 MiB: the server holds a bounded queue (the
    rest waits in the kernel and the client), and then receives every byte."""
    before = rss_kib(server.proc.pid)
    with open_ws(server, "/sleepy") as ws:
        sent = threading.Event()

        chunk = os.urandom(65536)  # (random: deflate leaves it as large on the wire)

        def send() -> None:
            for _ in range(1024):
                ws.send(chunk)
            ws.send(b"end")
            sent.set()

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        time.sleep(2)
        grown = rss_kib(server.proc.pid) - before
        assert not sent.is_set()  # the server stopped reading: the client's sends wait
        assert json.loads(ws.recv()) == {"total": 65536 * 1024 + 3}
        sender.join(10)
    assert grown < 16 * 1024 + 2 * 32 * 64, f"the server grew by {grown} KiB while its handler did not read"


# -- what a hostile review found (each once a crash, a leak or lost data) --------------------------------------------


@pytest.mark.parametrize("how", ["close", "shut_wr"])
def test_a_client_that_leaves_before_accept(server: Server, how: str) -> None:
    """FIN (or a close) while the handler awaits before accept(): the io_uring core freed the connection twice."""
    for _ in range(3):
        s, _ = raw_handshake_nowait(server, "/slowaccept?t=0.3")
        if how == "close":
            s.close()
        else:
            s.shutdown(socket.SHUT_WR)
            time.sleep(0.05)
            s.close()
    time.sleep(0.5)
    with open_ws(server, "/echo") as ws:
        ws.send("alive")
        assert ws.recv() == "alive"


def test_bytes_sent_before_the_101_arrive_in_order(server: Server) -> None:
    """A client that does not wait for the 101 (against RFC 6455, but it happens): its frames are all read, in
    order, once the handler accepts."""
    s, _ = raw_handshake_nowait(server, "/slowaccept?t=0.3", frame(1, b"one"))
    time.sleep(0.1)
    s.sendall(frame(1, b"two"))
    time.sleep(0.05)
    s.sendall(frame(1, b"three"))
    s.settimeout(5)
    data = b""
    while data.count(b"\x81") < 3 or not data.endswith(b"three"):
        chunk = s.recv(65536)
        assert chunk, data
        data += chunk
    s.close()
    assert data.startswith(b"HTTP/1.1 101 ")
    assert data.split(b"\r\n\r\n", 1)[1] == b"\x81\x03one\x81\x03two\x81\x05three"


def test_pipelining_after_an_upgrade_to_an_http_route(server: Server) -> None:
    """GET with an Upgrade field to an HTTP route, behind a slow request and before another split in two writes:
    all three answered, in order (the asyncio transports once parsed the third before the second's rest)."""
    s = server.connect()
    s.sendall(b"GET /slowhttp HTTP/1.1\r\nHost: x\r\n\r\n"
              b"GET /plain HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\nGET /pl")
    time.sleep(0.1)
    s.sendall(b"ain HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    s.settimeout(5)
    while len(re.findall(rb"HTTP/1\.1 \d{3} ", data)) < 3:
        chunk = s.recv(65536)
        assert chunk, data
        data += chunk
    s.close()
    assert re.findall(rb"HTTP/1\.1 (\d{3}) ", data) == [b"200"] * 3, data


def test_a_peer_that_sends_pings_and_reads_nothing(server: Server) -> None:
    """Pongs are owed to a peer that reads nothing: the server stops reading it, rather than queue them without
    bound (the asyncio transports once grew by 1.5 GiB in 8 s)."""
    before = rss_kib(server.proc.pid)
    s, head = raw_handshake(server)
    assert head.startswith(b"HTTP/1.1 101 ")
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.setblocking(False)
    pings = frame(9, b"p" * 125) * 64
    out = b""
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        out = out or pings
        try:
            out = out[s.send(out):]  # (whole frames only: a partial send keeps the rest for the next)
        except BlockingIOError:
            time.sleep(0.01)  # the server stopped reading us: what we send waits here
    grown = rss_kib(server.proc.pid) - before
    s.close()
    assert grown < 32 * 1024, f"the server grew by {grown} KiB"


def test_a_close_code_no_close_may_carry(server: Server) -> None:
    with open_ws(server, "/badclose") as ws:
        with pytest.raises(ConnectionClosed) as err:
            ws.recv()
    assert err.value.rcvd is not None and err.value.rcvd.code == 1011
    assert server.logged("close code 70000 cannot be sent")


# -- the server's side of a connection's life ----------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_shutdown_closes_with_1001(request: pytest.FixtureRequest, transport: str) -> None:
    srv = app_server(request, transport, "ws", "built_ws")
    try:
        with open_ws(srv, "/echo") as ws:
            ws.send("x")
            assert ws.recv() == "x"
            pending, _ = raw_handshake_nowait(srv, "/slowaccept?t=1")  # its handler accepts once the stop began
            time.sleep(0.2)
            srv.proc.send_signal(2)  # SIGINT: a graceful stop
            with pytest.raises(ConnectionClosed) as err:
                ws.recv(timeout=10)
            pending.settimeout(10)
            assert pending.recv(4096).startswith(b"HTTP/1.1 503 ")  # not a 101 to be cut at the graceful timeout
            pending.close()
        assert err.value.rcvd is not None and err.value.rcvd.code == 1001
    finally:
        code, log = srv.stop()
    assert code == 0, log


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_peer_that_does_not_answer_pings_is_closed(request: pytest.FixtureRequest, transport: str) -> None:
    """--ws-ping-interval 1 --ws-ping-timeout 1: a peer that never answers the keep-alive ping is closed (1011) in a
    few seconds, while one that answers stays."""
    srv = app_server(request, transport, "ws", "built_ws", "--ws-ping-interval", "1", "--ws-ping-timeout", "1")
    try:
        with open_ws(srv, "/echo") as live:  # the websockets client answers pings
            stuck, _ = raw_handshake_nowait(srv, "/flood?size=65536&count=100000")  # reads nothing, ever
            stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s, head = raw_handshake(srv)  # this one never answers pings
            assert head.startswith(b"HTTP/1.1 101 ")
            t0 = time.monotonic()
            frames = read_frames(s, timeout=15)
            took = time.monotonic() - t0
            s.close()
            assert [op for op, _ in frames][:1] == [9], frames  # a ping first
            assert frames[-1][0] == 8 and close_code(frames[-1][1]) == 1011, frames
            assert took < 8, took
            live.send("still")
            assert live.recv() == "still"
            # The one that reads nothing was cut too (its handler's send() woken), not left with its output stuck.
            stuck.settimeout(10)
            with pytest.raises((ConnectionResetError, BrokenPipeError)):
                while stuck.recv(1 << 20):
                    pass
                raise ConnectionResetError  # (an orderly end counts too)
            stuck.close()
    finally:
        code, log = srv.stop()
    assert code == 0, log


def test_allowed_origins(tmp_path: Path) -> None:
    (tmp_path / "origins.py").write_text(
        "from covet import Covet, WebSocket\n"
        "app = Covet(websocket_origins=['https://good.example'])\n"
        "@app.websocket('/ws')\n"
        "async def ws(websocket: WebSocket) -> None:\n"
        "    await websocket.accept()\n"
        "    await websocket.send_text('hi')\n"
        "    await websocket.close()\n")
    srv = Server("origins:app", "asyncio", cwd=tmp_path, pure=True)
    try:
        with open_ws(srv, "/ws", origin="https://good.example") as ws:  # type: ignore[arg-type]
            assert ws.recv() == "hi"
        for origin in ("https://evil.example", None):
            with pytest.raises(InvalidStatus) as err:
                open_ws(srv, "/ws", **({"origin": origin} if origin else {}))
            assert err.value.response.status_code == 403
    finally:
        code, log = srv.stop()
    assert code == 0, log


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_ten_thousand_idle_connections(request: pytest.FixtureRequest, transport: str) -> None:
    """10,000 WebSockets opened (with permessage-deflate agreed) and held idle: every handshake answered, the server
    still serves a new one at once, and its memory per connection is bounded (the figure is printed; perf/ measures
    it against the peers)."""
    import asyncio
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    n = 10_000
    srv = app_server(request, transport, "ws", "built_ws", "--ws-ping-interval", "0")
    hello = (f"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             f"Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n"
             "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n").encode()

    async def one(held: list[asyncio.StreamWriter]) -> None:
        reader, writer = await asyncio.open_connection(srv.host, srv.port)
        writer.write(hello)
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101 ") and b"permessage-deflate" in head, head
        held.append(writer)

    async def hold() -> tuple[int, float]:
        held: list[asyncio.StreamWriter] = []
        before = rss_kib(srv.proc.pid)
        for start in range(0, n, 500):
            await asyncio.gather(*(one(held) for _ in range(start, min(n, start + 500))))
        grown = rss_kib(srv.proc.pid) - before
        t0 = time.monotonic()
        await asyncio.to_thread(check_echo)
        took = time.monotonic() - t0
        for w in held:
            w.close()
        return grown, took

    def check_echo() -> None:
        with open_ws(srv, "/echo") as ws:
            ws.send("still served")
            assert ws.recv() == "still served"

    try:
        grown, took = asyncio.run(hold())
        print(f"{transport}: {n} idle WebSockets grew the server by {grown} KiB ({grown * 1024 / n:.0f} B each); "
              f"a new one echoed in {took * 1000:.0f} ms")
        assert took < 2.0
        assert grown * 1024 / n < 16 * 1024
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        code, log = srv.stop()
    assert code == 0, log


# -- the in-process test client ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tc() -> Iterator[object]:
    import importlib
    import sys

    from covet.testclient import TestClient

    sys.path.insert(0, str(APPS))
    app = importlib.import_module("ws").app
    with TestClient(app) as client:
        yield client


def test_testclient_websocket_connect(tc: object) -> None:
    from covet.testclient import TestClient

    assert isinstance(tc, TestClient)
    with tc.websocket_connect("/echo") as ws:
        ws.send_text("in process")
        assert ws.receive_text() == "in process"
        ws.send_bytes(b"\x00" * 70000)
        assert ws.receive_bytes() == b"\x00" * 70000
    with tc.websocket_connect("/rooms/red?token=bob&n=2", headers={"x-client": "c"}) as ws:
        assert ws.receive_json() == {"room": "red", "user": "bob", "client": "c", "n": 2, "path": "/rooms/red",
                                     "scheme": "ws"}
    with tc.websocket_connect("/protocols", subprotocols=["chat.v2"]) as ws:
        assert ws.accepted_subprotocol == "chat.v2"
        assert ws.receive_text() == "chat.v2"
    with tc.websocket_connect("/close") as ws:
        with pytest.raises(Exception) as err:
            ws.receive_text()
    assert getattr(err.value, "code", None) == 4001


def test_testclient_refusals(tc: object) -> None:
    from covet.testclient import TestClient
    from covet.websockets import WebSocketDisconnect

    assert isinstance(tc, TestClient)
    with pytest.raises(WebSocketDisconnect) as err:
        tc.websocket_connect("/rooms/red?token=policy")
    assert err.value.code == 1008  # the dependency's WebSocketException
    with pytest.raises(WebSocketDisconnect) as err:
        tc.websocket_connect("/rooms/red?token=forbidden")
    assert getattr(err.value, "status_code", None) == 401
    with pytest.raises(WebSocketDisconnect):
        tc.websocket_connect("/refuse")


def test_fastapis_websocket_tutorials_pass_ported(tmp_path: Path) -> None:
    """FastAPI's own tests of its WebSocket tutorials (docs_src/websockets_), with their imports changed to covet's
    (tests/fastapi_docs.py fetches FastAPI's source distribution at test time), pass on the in-process TestClient."""
    import shutil
    import subprocess
    import sys

    import fastapi_docs

    fastapi_docs.fetch()
    tree = tmp_path / "ported"
    shutil.copytree(fastapi_docs.PORTED / "docs_src", tree / "docs_src")
    shutil.copytree(fastapi_docs.PORTED / "tests", tree / "tests", ignore=shutil.ignore_patterns("test_tutorial"))
    (tree / "tests" / "test_tutorial").mkdir()
    (tree / "tests" / "test_tutorial" / "__init__.py").touch()
    shutil.copytree(fastapi_docs.PORTED / "tests" / "test_tutorial" / "test_websockets",
                    tree / "tests" / "test_tutorial" / "test_websockets")
    shutil.copy(fastapi_docs.PORTED / "pytest.ini", tree / "pytest.ini")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tree), str(fastapi_docs.ROOT)]))
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_ADDOPTS", "COVERAGE_PROCESS_CONFIG"):
        env.pop(name, None)
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "--rootdir", str(tree), "-c", str(tree / "pytest.ini"),
                          "tests/test_tutorial/test_websockets"], cwd=tree, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert re.search(r"\b16 passed\b", out.stdout), out.stdout[-2000:]
