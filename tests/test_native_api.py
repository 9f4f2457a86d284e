"""The contract of covet._native's functions and of RingServer at their edges: wrong arguments are refused with
a TypeError or ValueError that names the call, never a crash; the response-field checks say what is wrong."""

from __future__ import annotations

import socket
import sys
import time

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


uring = pytest.mark.skipif(sys.platform != "linux" or not hasattr(_native, "RingServer"), reason="io_uring: Linux")


def _ring(listener: socket.socket, **kw: object) -> _native.RingServer:  # type: ignore[name-defined]
    def nothing(*args: object) -> None:
        return None

    try:
        return _native.RingServer(listener.fileno(), nothing, nothing, nothing, nothing, **kw)  # type: ignore[attr-defined]
    except OSError as exc:  # pragma: no cover - a kernel or sandbox without io_uring
        pytest.skip(f"no io_uring here: {exc}")


@uring
def test_ring_server_refuses_bad_set_up_and_calls() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        with pytest.raises(ValueError, match="limits must be positive"):
            _native.RingServer(listener.fileno(), None, None, None, None, max_target=0)  # type: ignore[attr-defined]
        core = _ring(listener, entries=64, buffers=16, buffer_size=4096)
        try:
            with pytest.raises(RuntimeError, match="already set up"):
                core.__init__(listener.fileno(), None, None, None, None)
            assert (core.connections, core.busy) == (0, 0)
            assert core.fd >= 0 and isinstance(core.mode, str)
            assert core.stats()["connections"] == 0
            with pytest.raises(TypeError, match="add_route\\(method: str"):
                core.add_route(b"GET", "/", None, None, False)
            assert core.add_route("BREW", "/", None, None, False) is False  # a method the parser does not name
            assert core.add_route("GET", "/", None, None, False) is True
            with pytest.raises(ValueError, match="GET / is already added"):
                core.add_route("GET", "/", None, None, True)
            for i in range(100):  # the route table grows
                assert core.add_route("POST", f"/r{i}", None, None, False) is True
            with pytest.raises(TypeError, match="set_direct"):
                core.set_direct(None, None, None, None)
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

        def nothing(*args: object) -> None:
            return None

        try:
            core = _native.RingServer(listener.fileno(), on_request, lambda *a: b"HTTP/1.1 400 Bad Request\r\n\r\n",  # type: ignore[attr-defined]
                                      nothing, nothing, entries=64, buffers=16, buffer_size=4096)
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
