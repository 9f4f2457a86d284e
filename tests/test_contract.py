"""The contract between the C extension (covet._native) and the Python runtime: what one side names, the other
names the same, and the stub (covet/_native.pyi) says what the extension has."""

from __future__ import annotations

import pytest

from covet import _native

PREFIX = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n"
LINES = b"date: x\r\nserver: covet\r\n"


@pytest.mark.parametrize(
    ("keep_alive", "minor", "tail"),
    [(True, 1, b""), (True, 0, b"connection: keep-alive\r\n"), (False, 1, b"connection: close\r\n"),
     (False, 0, b"connection: close\r\n")],
)
def test_render_reply_picks_the_connection_field(keep_alive: bool, minor: int, tail: bytes) -> None:
    out = _native.render_reply(PREFIX, 200, LINES, b"hi", keep_alive, False, minor)
    assert out == PREFIX + LINES + b"content-length: 2\r\n" + tail + b"\r\nhi"


def test_render_reply_head_announces_the_length_without_the_body() -> None:
    out = _native.render_reply(PREFIX, 200, LINES, b"hello", True, True, 1)
    assert out == PREFIX + LINES + b"content-length: 5\r\n\r\n"


@pytest.mark.parametrize("status", [204, 304])
@pytest.mark.parametrize("is_head", [False, True])
def test_render_reply_no_body_statuses(status: int, is_head: bool) -> None:
    """204 and 304 end at their head: no body and no content-length (the C side alone knows which statuses)."""
    out = _native.render_reply(PREFIX, status, LINES, b"ignored", False, is_head, 1)
    assert out == PREFIX + LINES + b"connection: close\r\n\r\n"


def test_render_reply_checks_its_arguments() -> None:
    with pytest.raises(TypeError):
        _native.render_reply(PREFIX, 200, LINES, "hi", True, False, 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _native.render_reply(PREFIX, 200, LINES, b"hi", True, False)  # type: ignore[call-arg]


def test_event_kinds_are_the_c_enum() -> None:
    """covet.runtime.events names each kind as native/events.h does, with the same value."""
    from covet.runtime import events

    names = [n for n in events.__all__ if n.startswith("EV_")]
    order = ("EV_REQUEST", "EV_CONTINUE", "EV_ERROR", "EV_STREAM", "EV_DATA", "EV_END", "EV_UPGRADE")
    assert sorted(names) == sorted(order)
    for name in names:
        assert getattr(events, name) == getattr(_native, name), name
    assert [getattr(events, n) for n in order] == [0, 1, 2, 3, 4, 5, 6]
    assert events.PREFACE_HEAD == _native.PREFACE_HEAD  # native/h1_parser.h's H1_PREFACE_HEAD


def test_http2s_preface_is_an_upgrade_only_as_a_connections_first_bytes() -> None:
    """The parser's side of the HTTP/2 hand-over (events.PREFACE_HEAD): the preface, split anywhere, is one
    EV_UPGRADE with method PRI and what followed it; after a request, or with fields, it is a 505."""
    from covet.runtime.events import EV_ERROR, EV_UPGRADE, PREFACE_HEAD
    from covet.runtime.h2_core import PREFACE

    wire = PREFACE + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"  # and an empty SETTINGS frame
    for cut in range(len(wire) + 1):
        parser = _native.Parser()
        events = parser.feed(wire[:cut])
        after = wire[cut:]
        if not events:  # (the parser takes nothing more once it reported an upgrade: its caller hands it over)
            events, after = parser.feed(after), b""
        assert len(events) == 1, cut
        ev = events[0]
        assert (ev.kind, ev.method, ev.path, ev.headers) == (EV_UPGRADE, "PRI", "*", [])
        assert PREFACE_HEAD + ev.body + after == wire
    parser = _native.Parser()
    events = parser.feed(b"GET / HTTP/1.1\r\nhost: a\r\n\r\n" + PREFACE)
    assert [e[0] for e in events] == [0, EV_ERROR] and events[1][1] == 505
    assert _native.Parser().feed(b"PRI * HTTP/2.0\r\nhost: a\r\n\r\n")[0][:2] == (EV_ERROR, 505)
    assert _native.Parser().feed(b"PRI / HTTP/1.1\r\nhost: a\r\nupgrade: h2c\r\n\r\n")[0][0] == 0


def test_only_a_get_that_names_a_protocol_asks_for_an_upgrade() -> None:
    """An empty Upgrade field names nothing to switch to: the GET is a request, and what follows it is parsed."""
    from covet.runtime.events import EV_REQUEST, EV_UPGRADE

    head = b"GET / HTTP/1.1\r\nhost: a\r\nconnection: upgrade\r\n"
    for value, kinds in ((b"", [EV_REQUEST, EV_REQUEST]), (b" \t", [EV_REQUEST, EV_REQUEST]),
                         (b"websocket", [EV_UPGRADE])):
        events = _native.Parser().feed(head + b"upgrade:" + value + b"\r\n\r\nGET /b HTTP/1.1\r\nhost: a\r\n\r\n")
        assert [e[0] for e in events] == kinds, value


def test_websocket_kinds_and_opcodes_are_the_c_ones() -> None:
    """covet.runtime.ws_events names each WSParser event kind and opcode as native/ws_binding.h and ws_frame.h do."""
    from covet.runtime import ws_events

    kinds = ["WS_TEXT", "WS_BINARY", "WS_PING", "WS_PONG", "WS_CLOSE", "WS_ERROR", "WS_TEXT_COMPRESSED",
             "WS_BINARY_COMPRESSED"]
    opcodes = ["WS_OP_CONT", "WS_OP_TEXT", "WS_OP_BINARY", "WS_OP_CLOSE", "WS_OP_PING", "WS_OP_PONG"]
    assert ws_events.__all__ == kinds + opcodes
    assert sorted(n for n in dir(_native) if n.startswith("WS_")) == sorted(kinds + opcodes)
    for name in kinds + opcodes:
        assert getattr(ws_events, name) == getattr(_native, name), name
    assert [getattr(ws_events, n) for n in kinds] == list(range(8))
    assert [getattr(ws_events, n) for n in opcodes] == [0, 1, 2, 8, 9, 10]
    # and the parser's events carry them: a masked text frame, then a frame with no mask
    events = _native.WSParser().feed(b"\x81\x82\x00\x00\x00\x00hi\x82\x00")
    assert events == [(ws_events.WS_TEXT, "hi"), (ws_events.WS_ERROR, 1002, "Client frame is not masked")]


def test_header_selections_are_the_c_enum() -> None:
    """covet.runtime.uring_contract names what headers a direct route is handed as native/events.h does."""
    from covet.runtime import uring_contract

    names = ["HEADERS_NONE", "HEADERS_ALL", "HEADERS_CONTENT_TYPE"]
    assert [n for n in uring_contract.__all__ if n.startswith("HEADERS_")] == names
    assert [getattr(uring_contract, n) for n in names] == [getattr(_native, n) for n in names] == [0, 1, 2]


def test_a_request_has_named_fields_and_unpacks_as_a_tuple() -> None:
    from covet.runtime.events import EV_REQUEST, REQUEST_FIELDS

    assert _native.Request.__match_args__ == REQUEST_FIELDS
    assert _native.Request.n_sequence_fields == _native.Request.n_fields == len(REQUEST_FIELDS)
    ev = _native.Parser().feed(b"POST /a?b=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi")[0]
    assert type(ev) is _native.Request and isinstance(ev, tuple)
    kind, method, path, query, minor, headers, keep_alive, body = ev
    assert (kind, method, path, query, minor, keep_alive, body) == (EV_REQUEST, "POST", "/a", "b=1", 1, True, b"hi")
    assert headers == [("host", "h"), ("content-length", "2")]
    assert tuple(getattr(ev, name) for name in REQUEST_FIELDS) == tuple(ev)
    assert ev == (EV_REQUEST, "POST", "/a", "b=1", 1, headers, True, b"hi")
    with pytest.raises(AttributeError):
        ev.body = b"changed"  # type: ignore[misc]


def test_a_streamed_head_is_a_request_with_no_body() -> None:
    from covet.runtime.events import EV_DATA, EV_END, EV_STREAM

    p = _native.Parser(max_body=4, max_stream_body=100)
    events = p.feed(b"POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789")
    head = events[0]
    assert type(head) is _native.Request and head.kind == EV_STREAM and head.body is None and head.path == "/up"
    assert [e[0] for e in events[1:]] == [EV_DATA] * (len(events) - 2) + [EV_END]
    assert b"".join(e[1] for e in events[1:-1]) == b"0123456789"


uring = pytest.mark.skipif(not hasattr(_native, "UringServer"), reason="io_uring: Linux")


@uring
def test_the_ring_handler_protocol_names_the_methods_the_core_looks_up() -> None:
    """One list in C (native/uring_server.c, handler_methods), one Protocol in Python: the same names, in order."""
    from covet.runtime.uring_contract import UringHandler
    from covet.runtime.uring_http1 import UringHTTP1

    declared = tuple(n for n, v in vars(UringHandler).items() if callable(v) and not n.startswith("_"))
    assert declared == _native.UringServer.HANDLER_METHODS
    for name in declared:  # the server's handler has each of them
        assert callable(getattr(UringHTTP1, name)), name


@uring
def test_a_handler_without_one_of_the_methods_is_refused() -> None:
    import socket
    import types

    def nothing(*args: object) -> None:
        return None

    methods = dict.fromkeys(_native.UringServer.HANDLER_METHODS, nothing)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        for name in _native.UringServer.HANDLER_METHODS:
            lacking = types.SimpleNamespace(**{k: v for k, v in methods.items() if k != name})
            with pytest.raises(AttributeError, match=name):
                _native.UringServer(listener.fileno(), lacking, entries=64, buffers=16, buffer_size=4096)
            not_callable = types.SimpleNamespace(**{**methods, name: 42})
            with pytest.raises(TypeError, match=f"handler's {name} is not callable"):
                _native.UringServer(listener.fileno(), not_callable, entries=64, buffers=16, buffer_size=4096)


def test_the_stub_matches_the_extension() -> None:
    """covet/_native.pyi says what covet._native has: mypy's stubtest, with no allowlist."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    run = subprocess.run([sys.executable, "-m", "mypy.stubtest", "covet._native"], cwd=root, capture_output=True,
                         text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
