"""The contract of covet._native's functions and of UringServer at their edges: wrong arguments are refused with
a TypeError or ValueError that names the call, never a crash; the response-field checks say what is wrong."""

from __future__ import annotations

import socket
import sys
import time
import types
from typing import Any

import pytest

from covet import _native


def test_render_refuses_anything_but_bytes() -> None:
    assert _native.render(b"HTTP/1.1 200 OK\r\n", b"", b"hi", b"", True).endswith(b"\r\n\r\nhi")
    with pytest.raises(TypeError, match="exactly 5 arguments"):
        _native.render(b"", b"", b"", b"")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="render\\(\\): body must be bytes, not str"):
        _native.render(b"", b"", "hi", b"", True)  # type: ignore[arg-type]


@pytest.mark.parametrize(("name", "value", "message"), [
    (b"", b"v", "the name is empty"),
    (b"X Y", b"v", "not a token character"),
    (b"X", b"a\r\nb", "control byte"),
    (b"X", b" v", "starts or ends with whitespace"),
    (b"X", b"v\t", "starts or ends with whitespace"),
])
def test_check_field_says_what_is_wrong(name: bytes, value: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _native.check_field(name, value)


def test_check_field_and_render_fields_refuse_other_types() -> None:
    assert _native.check_field(b"X-Ok", b"v") is None
    with pytest.raises(TypeError, match="check_field\\(name: bytes, value: bytes\\)"):
        _native.check_field("X", b"v")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must be a \\(bytes, bytes\\) pair"):
        _native.render_fields([(b"X", "v")])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="sequence of pairs"):
        _native.render_fields(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="invalid response header b'X'"):
        _native.render_fields([(b"X", b"a\nb")])


def test_render_fields_leaves_framing_to_the_server() -> None:
    """Content-Length, Transfer-Encoding and Connection from a handler are dropped; Connection: close is kept as a
    request to close, in any case."""
    lines, close = _native.render_fields([(b"X-A", b"1"), (b"content-length", b"5"), (b"Transfer-Encoding", b"chunked"),
                                           (b"CONNECTION", b"Close"), (b"X-B", b"2")])
    assert (lines, close) == (b"X-A: 1\r\nX-B: 2\r\n", True)
    assert _native.render_fields([(b"Connection", b"keep-alive")]) == (b"", False)
    assert _native.render_fields([(b"Connection", b"clos3")]) == (b"", False)
    assert _native.render_fields([(b"Connect", b"close"), (b"Connectiom", b"close")]) == (
        b"Connect: close\r\nConnectiom: close\r\n", False)


def test_parse_urlencoded_refuses_bad_arguments() -> None:
    with pytest.raises(TypeError, match="parse_urlencoded\\(body: bytes, max_fields: int\\)"):
        _native.parse_urlencoded("a=1", 10)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_fields cannot be negative"):
        _native.parse_urlencoded(b"a=1", -1)
    with pytest.raises(OverflowError):
        _native.parse_urlencoded(b"a=1", 1 << 80)
    assert _native.parse_urlencoded(b"a", 1) == [(b"a", b"")]


uring = pytest.mark.skipif(sys.platform != "linux" or not hasattr(_native, "UringServer"), reason="io_uring: Linux")


def _handler(request: Any = None, error: Any = None, wake: Any = None, drained: Any = None, body: Any = None) -> Any:
    """A UringServer handler (covet.runtime.uring_contract.UringHandler) of plain callables; those not given do
    nothing."""

    def nothing(*args: object) -> None:
        return None

    return types.SimpleNamespace(request=request or nothing, error=error or nothing, wake=wake or nothing,
                                 drained=drained or nothing, body=body or (lambda *a: False), reply_for=nothing,
                                 failed=nothing)


def _ring(listener: socket.socket, **kw: object) -> _native.UringServer:  # type: ignore[name-defined]
    try:
        return _native.UringServer(listener.fileno(), _handler(), **kw)  # type: ignore[attr-defined]
    except OSError as exc:  # pragma: no cover - a kernel or sandbox without io_uring
        pytest.skip(f"no io_uring here: {exc}")


@uring
def test_ring_server_refuses_bad_set_up_and_calls() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        with pytest.raises(ValueError, match="limits must be positive"):
            _native.UringServer(listener.fileno(), _handler(), max_target=0)  # type: ignore[attr-defined]
        core = _ring(listener, entries=64, buffers=16, buffer_size=4096)
        try:
            with pytest.raises(RuntimeError, match="already set up"):
                core.__init__(listener.fileno(), _handler())
            assert (core.connections, core.busy) == (0, 0)
            assert core.fd >= 0 and isinstance(core.mode, str)
            assert core.stats()["connections"] == 0
            with pytest.raises(TypeError, match="add_route\\(method: str"):
                core.add_route(b"GET", "/", None, None, False)
            with pytest.raises(TypeError, match="headers: int"):
                core.add_route("GET", "/", None, None, None)
            with pytest.raises(ValueError, match="HEADERS_CONTENT_TYPE, not 3"):
                core.add_route("GET", "/", None, None, 3)
            assert core.add_route("BREW", "/", None, None, False) is False  # a method the parser does not name
            assert core.add_route("GET", "/", None, None, _native.HEADERS_NONE) is True  # type: ignore[attr-defined]
            with pytest.raises(ValueError, match="GET / is already added"):
                core.add_route("GET", "/", None, None, True)
            for i in range(100):  # the route table grows
                assert core.add_route("POST", f"/r{i}", None, None, False) is True
            with pytest.raises(TypeError, match="set_direct"):
                core.set_direct(None, None)
            with pytest.raises(TypeError, match="set_head_lines\\(lines: bytes\\)"):
                core.set_head_lines("Server: x\r\n")
            with pytest.raises(TypeError, match="reply\\(cid, data: bytes, keep_alive: bool\\)"):
                core.reply(1, "x", True)
            with pytest.raises(TypeError, match="write\\(cid, data: bytes\\)"):
                core.write(1, "x")
            with pytest.raises(TypeError, match="finish\\(cid, keep_alive: bool\\)"):
                core.finish(1)
            with pytest.raises(TypeError, match="tick\\(timeout_response: bytes\\)"):
                core.tick("408")
            # A connection that is not (or no longer) there: nothing happens, and nothing is sent.
            gone = (7 << 32) | 1000
            assert core.reply(gone, b"x", True) is False
            assert core.write(gone, b"x") in (-1, False)
            assert core.finish(gone, True) is False
            for call in (core.resume_body, core.close_after, core.abort, core.peer, core.sockname):
                assert call(gone) is None
            for call in (core.resume_body, core.close_after, core.abort, core.peer, core.sockname):
                with pytest.raises(OverflowError):
                    call(-1)
            core.tick(b"HTTP/1.1 408 Request Timeout\r\n\r\n")
            core.process()
            core.flush()
        finally:
            core.close()
        # Closed: every call is a no-op, and closing again too.
        assert core.fd == -1
        core.process()
        core.flush()
        core.tick(b"")
        core.close()


@uring
def test_ring_server_serves_ipv6_and_reports_both_ends() -> None:
    """A connection over IPv6 (and an IPv4 one on a dual-stack socket) has a peer and a sockname, as (host, port)."""
    try:
        listener = socket.create_server(("::", 0), family=socket.AF_INET6, dualstack_ipv6=True)
    except OSError:  # pragma: no cover - no IPv6 on this machine
        pytest.skip("no IPv6 here")
    seen: list[tuple[object, object]] = []

    with listener:
        port = listener.getsockname()[1]
        core: object = None

        def on_request(cid: int, *rest: object) -> bytes:
            seen.append((core.peer(cid), core.sockname(cid)))  # type: ignore[attr-defined]
            return b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"

        try:
            core = _native.UringServer(  # type: ignore[attr-defined]
                listener.fileno(), _handler(on_request, lambda *a: b"HTTP/1.1 400 Bad Request\r\n\r\n"), entries=64,
                buffers=16, buffer_size=4096)
        except OSError as exc:  # pragma: no cover
            pytest.skip(f"no io_uring here: {exc}")
        try:
            for host in ("::1", "127.0.0.1"):
                with socket.create_connection((host, port), timeout=5) as client:
                    client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                    client.setblocking(False)
                    data = b""
                    for _ in range(500):
                        core.process()  # type: ignore[attr-defined]
                        core.flush()  # type: ignore[attr-defined]
                        try:
                            data += client.recv(4096)
                        except BlockingIOError:
                            pass
                        if data.endswith(b"\r\n\r\n"):
                            break
                        time.sleep(0.01)
                    assert data.startswith(b"HTTP/1.1 200 OK"), data
        finally:
            core.close()  # type: ignore[attr-defined]
    assert [p[0][0] for p in seen] == ["::1", "127.0.0.1"], seen
    assert all(p[1][1] == port for p in seen), seen


class Core:
    """A UringServer on a loopback listener, driven by hand: ``pump`` processes completions, ``tick`` is one second."""

    def __init__(self, on_request: Any, on_error: Any = None, on_wake: Any = None, on_drain: Any = None,
                 on_body: Any = None, **kw: Any) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.unraisable: list[str] = []
        self._hook = sys.unraisablehook
        sys.unraisablehook = lambda u: self.unraisable.append(f"{u.exc_type.__name__}: {u.exc_value}")

        try:
            self.core = _native.UringServer(  # type: ignore[attr-defined]
                self.listener.fileno(),
                _handler(on_request, on_error or (lambda status, msg: b"HTTP/1.1 %d x\r\n\r\n" % status), on_wake,
                         on_drain, on_body), entries=64, buffers=16, buffer_size=4096, **kw)
        except OSError as exc:  # pragma: no cover
            self.close()
            pytest.skip(f"no io_uring here: {exc}")

    def pump(self, until: Any = lambda: False, seconds: float = 5) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.core.process()
            self.core.flush()
            if until():
                return
            time.sleep(0.005)

    def tick(self, n: int = 1) -> None:
        for _ in range(n):
            self.core.tick(b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            self.pump(seconds=0.05)

    def connect(self) -> socket.socket:
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        s.setblocking(False)
        return s

    def close(self) -> None:
        sys.unraisablehook = self._hook
        if hasattr(self, "core"):
            self.core.close()
        self.listener.close()


def _read(core: Core, s: socket.socket, want: bytes, seconds: float = 5) -> bytes:
    got = bytearray()

    def arrived() -> bool:
        try:
            data = s.recv(65536)
        except BlockingIOError:
            return False
        if not data:
            return True
        got.extend(data)
        return want in got

    core.pump(arrived, seconds)
    return bytes(got)


def _closed(core: Core, s: socket.socket, seconds: float = 5) -> bool:
    state = {"closed": False}

    def gone() -> bool:
        try:
            data = s.recv(65536)
        except BlockingIOError:
            return False
        except ConnectionResetError:
            state["closed"] = True
            return True
        if not data:
            state["closed"] = True
        return state["closed"]

    core.pump(gone, seconds)
    return state["closed"]


@uring
def _still_serves(core: Core) -> None:
    """After whatever went wrong before, a plain request on a new connection is answered."""
    with core.connect() as s:
        s.sendall(b"GET /fine HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _read(core, s, b"ok").endswith(b"\r\n\r\nok")


def test_ring_server_reports_bad_answers_and_close_from_a_callback() -> None:
    """An answer that is not bytes or None, an on_error that returns text, and close() called from inside a callback
    each fail that connection (reported as unraisable), and the core serves on."""
    holder: dict[str, Any] = {}

    def on_request(cid: int, req: Any) -> Any:
        path = req[2] if isinstance(req, tuple) else None
        if path == "/int":
            return 42
        if path == "/close":
            holder["core"].core.close()
        return b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

    core = holder["core"] = Core(on_request, on_error=lambda status, msg: "not bytes")
    try:
        for path in ("/int", "/close"):
            with core.connect() as s:
                s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                assert _closed(core, s), path
        with core.connect() as s:
            s.sendall(b"BAD\r\n\r\n")
            assert _closed(core, s)
        _still_serves(core)
    finally:
        core.close()
    text = "\n".join(core.unraisable)
    assert "a request's answer must be bytes or None, not int" in text, text
    assert "UringServer.close() from inside one of its callbacks" in text, text
    assert "the handler's error() must return bytes, not str" in text, text


@uring
def test_ring_server_timeouts_follow_its_ticks() -> None:
    """Each tick is a second: a client that stops reading its responses is cut at write_timeout, a half-sent head
    gets 408, and a connection closed for output lingers two ticks for the client's end before it is reset."""
    big = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (32 << 20) + b"x" * (32 << 20)
    core = Core(lambda cid, req: big, write_timeout=2, header_timeout=2)
    try:
        with core.connect() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            core.pump(seconds=0.2)
            assert core.core.stats()["output_queues"] == 1
            core.tick(4)
            assert core.core.stats()["output_queues"] == 0  # cut: the client read nothing for write_timeout
        with core.connect() as s:
            s.sendall(b"GET / HTTP/1.1\r\nHo")
            core.pump(seconds=0.2)
            core.tick(3)
            assert _read(core, s, b"\r\n\r\n").startswith(b"HTTP/1.1 408"), "no 408 for a head cut short"
            core.tick(3)  # the client keeps its end open: the linger runs out
            assert core.core.connections == 0
    finally:
        core.close()


@uring
def test_ring_server_close_resets_connections_python_holds() -> None:
    """close() with a request in Python's hands (on_request returned None) resets that connection and frees it."""
    core = Core(lambda cid, req: None)
    try:
        with core.connect() as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            core.pump(lambda: core.core.busy == 1)
            assert core.core.busy == 1
            core.core.close()
            assert core.core.connections == 0 and core.core.fd == -1
            s.setblocking(True)
            s.settimeout(5)
            try:
                assert s.recv(100) == b""
            except ConnectionResetError:
                pass
    finally:
        core.close()


@uring
def test_ring_server_streamed_bodies_whose_python_half_fails() -> None:
    """A body past max_body streams: on_request takes its head, on_body its pieces. If either raises, that
    connection is reset (reported as unraisable) and the core serves on."""
    bodies: list[object] = []

    def on_request(cid: int, ev: Any) -> Any:
        if ev[0] == 3:  # the head of a streamed body
            if ev[2] == "/raise":
                raise RuntimeError("no route for that body")
            return None  # Python reads the body
        return b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

    def on_body(cid: int, piece: object) -> Any:
        bodies.append(piece)
        raise RuntimeError("the reader failed")

    core = Core(on_request, max_body=16, max_stream_body=1 << 20, on_body=on_body)
    try:
        for head in (b"POST /raise HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n",
                     b"POST /read HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + b"y" * 50,
                     b"POST /read HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n" + b"z" * 32
                     + b"\r\nnot a chunk size\r\n"):
            with core.connect() as s:
                s.sendall(head)
                assert _closed(core, s), head
        _still_serves(core)
    finally:
        core.close()
    text = "\n".join(core.unraisable)
    assert "no route for that body" in text and "the reader failed" in text, text
    assert bodies and bodies[0] == b"y" * 50, bodies


class _Falsy:
    def __bool__(self) -> bool:
        raise ValueError("no truth here")


@uring
def test_ring_server_misuse_from_python_is_an_exception() -> None:
    """Calls made from inside on_request for the request it is answering, arguments whose conversion raises, limits
    out of range, a ring the kernel refuses, and a server dropped without close()."""
    import gc

    with pytest.raises(TypeError):
        _native.UringServer()  # type: ignore[attr-defined,call-arg]
    with socket.create_server(("127.0.0.1", 0)) as listener:
        with pytest.raises(OSError, match="io_uring_setup"):
            _native.UringServer(listener.fileno(), _handler(), entries=1 << 30)  # type: ignore[attr-defined]
        # Dropped without close(): the ring is closed when the object goes.
        dropped = _native.UringServer(listener.fileno(), _handler(),  # type: ignore[attr-defined]
                                     keepalive_timeout=0, header_timeout=1e12, entries=64, buffers=16,
                                     buffer_size=4096)
        del dropped
        gc.collect()

    seen: list[str] = []

    def on_request(cid: int, ev: Any) -> Any:
        try:
            holder.core.reply(cid, b"x", True)
        except RuntimeError as exc:
            seen.append(str(exc))
        holder.core.flush()  # inside process(): nothing to do yet
        return b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

    holder = Core(on_request)
    try:
        core = holder.core
        with pytest.raises(UnicodeEncodeError):
            core.add_route("\udc80", "/", None, None, False)
        with pytest.raises(OverflowError):
            core.add_route("GET", "/t", None, None, 1 << 70)
        with pytest.raises(OverflowError):
            core.reply(-1, b"", True)
        with pytest.raises(OverflowError):
            core.write(-1, b"")
        with holder.connect() as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert _read(holder, s, b"ok").endswith(b"ok")
        assert seen == ["reply() for a request that request() has not returned from"]
        core.shutdown()
        core.shutdown()  # a second time: nothing more to do
    finally:
        holder.close()


@uring
def test_ring_server_on_a_unix_socket_has_no_addresses(tmp_path: Any) -> None:
    """peer() and sockname() are (host, port) for IP only: None for a Unix socket, whose connections are served."""
    path = str(tmp_path / "s")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen()
    addresses: list[object] = []
    holder: dict[str, Any] = {}

    def on_request(cid: int, ev: Any) -> bytes:
        addresses.append((holder["core"].peer(cid), holder["core"].sockname(cid)))
        return b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

    with listener:
        core = holder["core"] = _native.UringServer(  # type: ignore[attr-defined]
            listener.fileno(), _handler(on_request), entries=64, buffers=16, buffer_size=4096)
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.connect(path)
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                s.setblocking(False)
                got = b""
                deadline = time.monotonic() + 5
                while not got.endswith(b"ok") and time.monotonic() < deadline:
                    core.process()
                    core.flush()
                    try:
                        got += s.recv(4096)
                    except BlockingIOError:
                        time.sleep(0.005)
                assert got.endswith(b"\r\n\r\nok"), got
        finally:
            core.close()
    assert addresses == [(None, None)]


def test_render_with_body_whose_truth_raises() -> None:
    with pytest.raises(ValueError, match="no truth here"):
        _native.render(b"", b"", b"", b"", _Falsy())


def test_parser_feed_takes_buffers_only() -> None:
    with pytest.raises(TypeError):
        _native.Parser().feed(42)  # type: ignore[arg-type]


@uring
def test_ring_server_wake_and_drain_callbacks_that_raise_are_reported() -> None:
    """A connection Python keeps is written to from outside process(): the core asks for a flush through on_wake,
    and, past its high-water mark, says when the output has drained through on_drain. Either raising is reported,
    and the response still goes out whole."""
    kept: list[int] = []

    def boom(*args: object) -> None:
        raise RuntimeError("callback failed")

    core = Core(lambda cid, ev: kept.append(cid), on_wake=boom, on_drain=boom)
    try:
        with core.connect() as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            core.pump(lambda: bool(kept))
            body = b"y" * (8 << 20)
            assert core.core.write(kept[0], b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)) == 0
            assert core.core.write(kept[0], body) == 1  # past the high-water mark: on_drain will say when it is out
            with pytest.raises(ValueError, match="no truth here"):
                core.core.finish(kept[0], _Falsy())
            core.core.finish(kept[0], False)
            got = bytearray()

            def all_read() -> bool:
                try:
                    data = s.recv(1 << 20)
                except BlockingIOError:
                    return False
                got.extend(data)
                return not data  # the connection closes after the response

            core.pump(all_read, 20)
            assert got.startswith(b"HTTP/1.1 200 OK") and got.endswith(body) and len(got) == len(body) + 44, len(got)
    finally:
        core.close()
    text = "\n".join(core.unraisable)
    assert text.count("callback failed") >= 2, text


@uring
def test_ring_server_a_kept_connection_the_client_reset_takes_nothing_more() -> None:
    """Python holds a connection; the client resets it: write() answers -1 and finish() False, and it is freed."""
    import struct

    kept: list[int] = []
    core = Core(lambda cid, ev: kept.append(cid))
    try:
        s = core.connect()
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        core.pump(lambda: bool(kept))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()  # a reset
        results: list[object] = []

        def refused() -> bool:
            results[:] = [core.core.write(kept[0], b"late")]
            return results == [-1]

        core.pump(refused)
        assert results == [-1]
        assert core.core.finish(kept[0], True) is False
        core.pump(lambda: core.core.connections == 0)
        assert core.core.connections == 0
    finally:
        core.close()


CHUNKED = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"


@pytest.mark.parametrize(("body", "message"), [
    (b"5\rX", "CR"),                                   # a chunk-size line's CR without its LF
    (b"0" * 5000 + b"5\r\n", "chunk"),                 # a chunk-size line longer than 4096 bytes
    (b"5" + b" " * 5000, "chunk"),                     # whitespace after the size, past the line limit
    (b"0\r\n@x: y\r\n\r\n", "name"),                   # a trailer field whose name starts with a non-token byte
    (b"0\r\nX: y\rZ", "CR"),                           # a trailer line's CR without its LF
])
def test_parser_refuses_broken_chunk_framing(body: bytes, message: str) -> None:
    from covet._native import EV_ERROR, Parser

    events = Parser().feed(CHUNKED + body)
    assert events and events[-1][0] == EV_ERROR and events[-1][1] == 400, events
    assert message.lower() in str(events[-1][2]).lower(), events
