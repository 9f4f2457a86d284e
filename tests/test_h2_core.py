"""The sans-IO HTTP/2 core (covet/runtime/h2_core.py), driven by h2's own client and by raw frames (hyperframe), as a
hostile client would send them: requests, bodies held and streamed, flow control both ways, and each attack's limit."""

from __future__ import annotations

from typing import Any

import pytest
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import ConnectionTerminated, DataReceived, ResponseReceived, StreamEnded, StreamReset, WindowUpdated
from hpack import Decoder, Encoder
from hyperframe.frame import (
    ContinuationFrame,
    DataFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    RstStreamFrame,
)
from hypothesis import given, settings, strategies as st

from covet.runtime.h2_core import (
    H2_DATA,
    H2_END,
    H2_GOAWAY,
    H2_REQUEST,
    H2_RESET,
    H2_STREAM,
    H2_WINDOW,
    PREFACE,
    H2Core,
    H2Limits,
)
from covet.runtime.h2_session import NATIVE_CORE

# Every test runs on both cores: h2's (the portable path) and nghttp2's, where the build has it.
CORES: list[Any] = [H2Core] + ([NATIVE_CORE] if NATIVE_CORE is not None else [])
Core: Any = H2Core


@pytest.fixture(autouse=True, params=CORES, ids=lambda c: "h2" if c is H2Core else "nghttp2")
def core_kind(request: pytest.FixtureRequest) -> Any:
    global Core
    Core = request.param
    yield request.param
    Core = H2Core


ENHANCE_YOUR_CALM = 0xB
PROTOCOL_ERROR = 0x1


def client() -> H2Connection:
    c = H2Connection(H2Configuration(client_side=True, header_encoding=None))
    c.initiate_connection()
    return c


def pair(limits: H2Limits | None = None) -> tuple[H2Core, H2Connection, list[tuple[Any, ...]]]:
    """A server core and a client that exchanged prefaces and SETTINGS (and the server's ACK went back)."""
    server = Core(limits)
    c = client()
    events = server.feed(c.data_to_send(), 0.0)
    c.receive_data(server.data_to_send())
    events += server.feed(c.data_to_send(), 0.0)
    return server, c, events


def get(c: H2Connection, sid: int, path: str = "/items?q=1", end: bool = True,
        extra: tuple[tuple[str, str], ...] = ()) -> bytes:
    c.send_headers(sid, [(":method", "GET" if end else "POST"), (":path", path), (":scheme", "http"),
                         (":authority", "example.org"), *extra], end_stream=end)
    return c.data_to_send()


def client_events(server: H2Core, c: H2Connection) -> list[Any]:
    return c.receive_data(server.data_to_send())


def frames(*fs: Frame) -> bytes:
    return b"".join(f.serialize() for f in fs)


def parse(wire: bytes) -> list[Frame]:
    """The frames in ``wire``, whole."""
    out = []
    while wire:
        frame, length = Frame.parse_frame_header(memoryview(wire[:9]))
        frame.parse_body(memoryview(wire[9:9 + length]))
        out.append(frame)
        wire = wire[9 + length:]
    return out


def goaway_code(events: list[tuple[Any, ...]]) -> int:
    codes = [e[1] for e in events if e[0] == H2_GOAWAY]
    assert codes, events
    return int(codes[0])


def test_the_server_preface_opens_with_our_settings() -> None:
    server = Core(H2Limits(max_concurrent_streams=7, max_header_bytes=4096))
    c = client()
    c.receive_data(server.data_to_send())
    assert c.remote_settings.max_concurrent_streams == 7
    assert c.remote_settings.max_header_list_size == 4096
    assert c.remote_settings.enable_push == 0
    assert PREFACE == b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def test_a_get_becomes_one_request_event_and_its_response_reaches_the_client() -> None:
    server, c, _ = pair()
    events = server.feed(get(c, 1, extra=(("cookie", "a=1"), ("cookie", "b=2"))), 0.0)
    assert len(events) == 1
    kind, sid, method, path, query, headers, body = events[0]
    assert (kind, sid, method, path, query, body) == (H2_REQUEST, 1, "GET", "/items", "q=1", b"")
    assert headers[0] == ("host", "example.org")  # :authority, as HTTP/1.1 routes expect it
    assert ("cookie", "a=1; b=2") in headers  # split cookies joined (RFC 9113 section 8.2.3)
    assert server.respond(1, 200, [(b"content-type", b"text/plain"), (b"connection", b"keep-alive"),
                                   (b"content-length", b"99")], b"hello", True, 5)
    got = client_events(server, c)
    response = next(e for e in got if isinstance(e, ResponseReceived))
    assert dict(response.headers)[b":status"] == b"200"
    assert b"connection" not in dict(response.headers)  # connection-specific fields never go out over HTTP/2
    assert [v for k, v in response.headers if k == b"content-length"] == [b"5"]  # the server's, not the handler's
    assert b"".join(e.data for e in got if isinstance(e, DataReceived)) == b"hello"
    assert any(isinstance(e, StreamEnded) for e in got)
    assert server.open_streams() == []


def test_a_post_body_split_at_every_byte_gives_the_same_request() -> None:
    server, c, _ = pair()
    wire = get(c, 1, path="/upload", end=False)
    c.send_data(1, b"x" * 3000, end_stream=True)
    wire += c.data_to_send()
    whole = server.feed(wire, 0.0)
    for step in (1, 2, 7, 4096):
        server2, c2, _ = pair()
        wire2 = get(c2, 1, path="/upload", end=False)
        c2.send_data(1, b"x" * 3000, end_stream=True)
        wire2 += c2.data_to_send()
        got: list[tuple[Any, ...]] = []
        for i in range(0, len(wire2), step):
            got += server2.feed(wire2[i:i + step], 0.0)
        assert got == whole
    assert whole == [(H2_REQUEST, 1, "POST", "/upload", "", [("host", "example.org")], b"x" * 3000)]


def test_a_body_past_max_body_streams_and_its_credit_waits_for_the_application() -> None:
    limits = H2Limits(max_body=10_000, window=65535)
    server, c, _ = pair(limits)
    events = server.feed(get(c, 1, path="/big", end=False), 0.0)
    assert events == []
    sent = 0
    got: list[tuple[Any, ...]] = []
    while c.local_flow_control_window(1) > 0:
        n = min(c.local_flow_control_window(1), c.max_outbound_frame_size)
        c.send_data(1, b"y" * n)
        sent += n
        got += server.feed(c.data_to_send(), 0.0)
    assert got[0][:3] == (H2_STREAM, 1, "POST")
    data = b"".join(e[2] for e in got if e[0] == H2_DATA)
    assert len(data) == sent == 65535  # the window, and not a byte more, until the application takes some
    c.receive_data(server.data_to_send())
    assert c.local_flow_control_window(1) == 0  # nothing was credited back on arrival past max_body
    server.consume(1, len(data))
    updates = [e for e in client_events(server, c) if isinstance(e, WindowUpdated) and e.stream_id == 1]
    assert updates and c.local_flow_control_window(1) > 0
    c.send_data(1, b"z", end_stream=True)
    assert server.feed(c.data_to_send(), 0.0) == [(H2_DATA, 1, b"z"), (H2_END, 1)]


def test_bodies_held_together_past_max_held_refuse_the_stream_that_would_pass_it() -> None:
    """Four streams each under max_body would hold 4 x max_body; past max_held the stream whose DATA would pass
    it is refused (REFUSED_STREAM, which its client may retry), the others complete, and its credit comes back."""
    server, c, _ = pair(H2Limits(max_body=10_000, max_held=28_000, window=40_000))
    for sid in range(1, 8, 2):
        server.feed(get(c, sid, path="/up", end=False), 0.0)
    for sid in range(1, 8, 2):
        c.send_data(sid, b"b" * 9_000)
    server.feed(c.data_to_send(), 0.0)
    refused = [e for e in client_events(server, c) if isinstance(e, StreamReset)]
    assert [(e.stream_id, e.error_code) for e in refused] == [(7, 7)]  # the fourth passed 28,000
    assert sorted(server.open_streams()) == [1, 3, 5]
    c.receive_data(server.data_to_send())  # every byte credited back: the client may send a window's worth again
    assert c.outbound_flow_control_window == 65535  # (SETTINGS cannot shrink the connection's window)
    got = []
    for sid in (1, 3, 5):
        c.send_data(sid, b"", end_stream=True)
        got += server.feed(c.data_to_send(), 0.0)
    assert [(e[0], e[1], len(e[6])) for e in got] == [(H2_REQUEST, sid, 9_000) for sid in (1, 3, 5)]


def test_a_response_larger_than_the_clients_window_waits_for_window_updates() -> None:
    server, c, _ = pair()
    server.feed(get(c, 1), 0.0)
    body = b"r" * 200_000  # over the client's 65,535-byte initial window
    assert server.respond(1, 200, [], b"", False)
    held = server.send(1, body, True)
    assert held == 200_000 - 65535
    got = client_events(server, c)
    received = sum(len(e.data) for e in got if isinstance(e, DataReceived))
    assert received == 65535
    events: list[tuple[Any, ...]] = []
    while not any(e[0] == H2_WINDOW for e in events):
        c.acknowledge_received_data(received, 1)
        events += server.feed(c.data_to_send(), 0.0)
        got = client_events(server, c)
        received = sum(len(e.data) for e in got if isinstance(e, DataReceived))
        assert received > 0
    assert any(isinstance(e, StreamEnded) for e in got)
    assert server.open_streams() == []


def test_a_reset_from_the_client_is_an_event_and_ends_the_stream() -> None:
    server, c, _ = pair()
    server.feed(get(c, 1, end=False), 0.0)
    c.reset_stream(1, 8)
    assert server.feed(c.data_to_send(), 0.0) == [(H2_RESET, 1, 8)]
    assert server.respond(1, 200, [], b"late") is False


def test_answering_before_the_body_ends_resets_the_rest_with_no_error() -> None:
    server, c, _ = pair()
    server.feed(get(c, 1, path="/upload", end=False), 0.0)
    assert server.respond(1, 413, [], b"too large")
    got = client_events(server, c)
    assert any(isinstance(e, StreamEnded) for e in got)
    reset = [e for e in got if isinstance(e, StreamReset)]
    assert reset and reset[0].error_code == 0


def test_graceful_shutdown_sends_goaway_and_open_streams_still_answer() -> None:
    server, c, _ = pair()
    server.feed(get(c, 1), 0.0)
    server.shutdown()
    assert server.respond(1, 200, [], b"ok")
    sent = parse(server.data_to_send())  # (read raw: h2's own client stops reading at a GOAWAY)
    assert [(type(f).__name__, f.stream_id) for f in sent] == [("GoAwayFrame", 0), ("HeadersFrame", 1),
                                                               ("DataFrame", 1)]
    goaway, data = sent[0], sent[2]
    assert isinstance(goaway, GoAwayFrame) and goaway.last_stream_id == 1 and goaway.error_code == 0
    assert isinstance(data, DataFrame) and data.data == b"ok" and "END_STREAM" in data.flags
    assert server.finished()


def test_a_stream_opened_after_a_graceful_goaway_is_refused() -> None:
    """h2's core resets it (REFUSED_STREAM); nghttp2 ignores it, as RFC 9113 section 6.8 lets it: the GOAWAY's last
    stream id tells the client it was not processed. Either way it is safe to retry elsewhere."""
    server, c, _ = pair()
    server.feed(get(c, 1, end=False), 0.0)
    server.shutdown()
    assert not server.finished()  # stream 1 still answers
    hf = HeadersFrame(3, Encoder().encode([(":method", "GET"), (":path", "/"), (":scheme", "http"),
                                           (":authority", "x")]))
    hf.flags.add("END_HEADERS")
    hf.flags.add("END_STREAM")
    assert server.feed(frames(hf), 0.0) == []
    raw = server.data_to_send()
    if Core is H2Core:
        assert RstStreamFrame(3, error_code=7).serialize() in raw  # REFUSED_STREAM: safe to retry elsewhere
    else:
        assert b"\x03" not in [f.serialize()[3:4] for f in parse(raw)]
    assert server.respond(1, 204, []) and server.finished()


def test_the_client_going_away_resets_what_is_open() -> None:
    server, c, _ = pair()
    server.feed(get(c, 1, end=False), 0.0)
    c.close_connection()
    events = server.feed(c.data_to_send(), 0.0)
    assert events == [(H2_RESET, 1, 8), (H2_GOAWAY, 0, "the client sent GOAWAY")]


# -- attacks ------------------------------------------------------------------------------------------------------


def test_rapid_reset_ends_the_connection_with_enhance_your_calm() -> None:
    server, c, _ = pair(H2Limits(resets_burst=50, resets_rate=10))
    events: list[tuple[Any, ...]] = []
    for i in range(60):
        sid = 1 + 2 * i
        c.send_headers(sid, [(":method", "GET"), (":path", "/"), (":scheme", "http"), (":authority", "x")])
        c.reset_stream(sid, 8)
        events += server.feed(c.data_to_send(), 0.001 * i)
        if any(e[0] == H2_GOAWAY for e in events):
            break
    assert goaway_code(events) == ENHANCE_YOUR_CALM
    got = client_events(server, c)
    assert any(isinstance(e, ConnectionTerminated) and e.error_code == ENHANCE_YOUR_CALM for e in got)
    assert server.feed(b"\x00" * 100, 1.0) == []  # nothing more is read


def test_resets_at_the_refill_rate_are_not_an_attack() -> None:
    server, c, _ = pair(H2Limits(resets_burst=10, resets_rate=10))
    for i in range(40):
        sid = 1 + 2 * i
        c.send_headers(sid, [(":method", "GET"), (":path", "/"), (":scheme", "http"), (":authority", "x")])
        c.reset_stream(sid, 8)
        assert not any(e[0] == H2_GOAWAY for e in server.feed(c.data_to_send(), 0.2 * i))


def test_a_continuation_flood_ends_at_the_header_block_limit() -> None:
    server, _, _ = pair(H2Limits(max_header_bytes=4096))
    block = Encoder().encode([(":method", "GET"), (":path", "/"), (":scheme", "http"), (":authority", "x")])
    wire = frames(HeadersFrame(1, block))  # no END_HEADERS
    events = server.feed(wire, 0.0)
    for _ in range(1000):
        events += server.feed(frames(ContinuationFrame(1, b"\x40\x01a\x01b" * 100)), 0.0)
        if events:
            break
    assert goaway_code(events) == ENHANCE_YOUR_CALM


def test_an_hpack_bomb_stops_at_the_header_list_limit() -> None:
    server, _, _ = pair(H2Limits(max_header_bytes=16384))
    enc = Encoder()
    first = enc.encode([(":method", "GET"), (":path", "/"), (":scheme", "http"), (":authority", "x"),
                        ("bomb", "b" * 4000)])
    again = enc.encode([("bomb", "b" * 4000)])  # one byte each: an index into the dynamic table
    assert len(again) <= 2
    hf = HeadersFrame(1, first + again * 100)  # 100 references: 400 KB decoded from a few hundred bytes
    hf.flags.add("END_HEADERS")
    hf.flags.add("END_STREAM")
    events = server.feed(frames(hf), 0.0)
    assert goaway_code(events) == ENHANCE_YOUR_CALM


def test_a_ping_flood_ends_the_connection() -> None:
    server, _, _ = pair(H2Limits(control_burst=100, control_rate=10))
    events = server.feed(frames(*(PingFrame(0, opaque_data=b"12345678") for _ in range(150))), 0.0)
    assert goaway_code(events) == ENHANCE_YOUR_CALM


def test_an_empty_data_flood_ends_the_connection() -> None:
    server, c, _ = pair(H2Limits(empty_burst=100, empty_rate=10))
    server.feed(get(c, 1, end=False), 0.0)
    events = server.feed(frames(*(DataFrame(1, b"") for _ in range(150))), 0.0)
    assert goaway_code(events) == ENHANCE_YOUR_CALM


def test_an_upper_case_field_name_is_a_protocol_error() -> None:
    server, _, _ = pair()
    hf = HeadersFrame(1, Encoder().encode([(":method", "GET"), (":path", "/"), (":scheme", "http"),
                                           (":authority", "x"), ("X-Upper", "1")]))
    hf.flags.add("END_HEADERS")
    events = server.feed(frames(hf), 0.0)
    if Core is H2Core:
        assert goaway_code(events) == PROTOCOL_ERROR  # (h2 ends the connection)
    else:  # malformed: a stream error (RFC 9113 section 8.1.1)
        assert events == [] and RstStreamFrame(1, error_code=PROTOCOL_ERROR).serialize() in server.data_to_send()


def test_a_stream_past_max_concurrent_streams_is_refused_alone() -> None:
    """RFC 9113 section 5.1.2: REFUSED_STREAM on that stream, and the connection goes on (its header block was
    decoded, so HPACK stays in step: the next stream's fields arrive right). nghttp2 does so until the client
    acknowledged the limit, and ends the connection past it after (test_nghttp2_ends_a_client_past_an_acknowledged_
    limit)."""
    if Core is H2Core:
        server, _, _ = pair(H2Limits(max_concurrent_streams=2))
    else:
        server = Core(H2Limits(max_concurrent_streams=2))
        server.feed(PREFACE + settings_frame(), 0.0)
    enc = Encoder()
    events: list[tuple[Any, ...]] = []
    for sid in (1, 3, 5):
        events += server.feed(headers_frame(enc, sid, end=False, method="POST"), 0.0)
    assert events == []
    assert RstStreamFrame(5, error_code=7).serialize() in server.data_to_send()
    assert server.respond(1, 204, [])
    events = server.feed(headers_frame(enc, 7, path="/next"), 0.0)
    assert events == [(H2_REQUEST, 7, "GET", "/next", "", [("host", "x")], b"")]


def test_nghttp2_ends_a_client_past_an_acknowledged_limit() -> None:
    """(h2's core refuses the stream alone, acknowledged or not.)"""
    server, _, _ = pair(H2Limits(max_concurrent_streams=2))
    enc = Encoder()
    events: list[tuple[Any, ...]] = []
    for sid in (1, 3, 5):
        events += server.feed(headers_frame(enc, sid, end=False, method="POST"), 0.0)
    if Core is H2Core:
        assert events == [] and RstStreamFrame(5, error_code=7).serialize() in server.data_to_send()
        return
    assert goaway_code(events) == PROTOCOL_ERROR
    assert [e[:2] for e in events if e[0] == H2_RESET] == [(H2_RESET, 3), (H2_RESET, 1)]


def test_refused_streams_count_as_resets() -> None:
    if Core is H2Core:
        server, _, _ = pair(H2Limits(max_concurrent_streams=1, resets_burst=20, resets_rate=1))
    else:  # (refused alone before the client acknowledged the limit)
        server = Core(H2Limits(max_concurrent_streams=1, resets_burst=20, resets_rate=1))
        server.feed(PREFACE + settings_frame(), 0.0)
    enc = Encoder()
    events = server.feed(headers_frame(enc, 1, end=False), 0.0)
    for i in range(1, 40):
        events += server.feed(headers_frame(enc, 1 + 2 * i, end=False), 0.0)
    assert goaway_code(events) == ENHANCE_YOUR_CALM


@pytest.mark.parametrize("garbage", [b"GET / HTTP/1.1\r\n\r\n", b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n"])
def test_a_bad_preface_is_a_protocol_error(garbage: bytes) -> None:
    server = Core()
    events = server.feed(garbage, 0.0)
    assert goaway_code(events) == PROTOCOL_ERROR


def test_rst_stream_frames_for_streams_never_opened_count_too() -> None:
    server, _, _ = pair(H2Limits(resets_burst=20, resets_rate=1))
    events = server.feed(frames(*(RstStreamFrame(1 + 2 * i, error_code=8) for i in range(30))), 0.0)
    assert any(e[0] == H2_GOAWAY for e in events)


# -- anything at all ------------------------------------------------------------------------------------------------

_FRAME = st.tuples(st.integers(0, 12), st.integers(0, 255), st.sampled_from([0, 1, 2, 3, 5, 2**31 - 1]),
                   st.binary(max_size=40))


@settings(max_examples=300, deadline=None)
@given(st.lists(_FRAME, max_size=12), st.integers(1, 64))
def test_any_frames_split_anywhere_give_events_never_an_exception(fs: list[tuple[int, int, int, bytes]],
                                                                  step: int) -> None:
    """Frames of every type, with any flags, stream ids and payloads (valid or not), fed in pieces of any size: the
    core answers with events (a GOAWAY at worst), and reads nothing after its GOAWAY."""
    server, _, _ = pair()
    wire = b"".join(len(p).to_bytes(3, "big") + bytes([kind, flags]) + sid.to_bytes(4, "big") + p
                    for kind, flags, sid, p in fs)
    ended = False
    for i in range(0, len(wire), step):
        events = server.feed(wire[i:i + step], float(i))
        if ended:
            assert events == []
        ended = ended or any(e[0] == H2_GOAWAY for e in events)
        server.data_to_send()


# -- what a hostile review found (each was reproduced first, then fixed) ---------------------------------------------


def raw(kind: int, flags: int, sid: int, payload: bytes = b"") -> bytes:
    return len(payload).to_bytes(3, "big") + bytes([kind, flags]) + sid.to_bytes(4, "big") + payload


def settings_frame(*pairs: tuple[int, int]) -> bytes:
    return raw(0x4, 0, 0, b"".join(k.to_bytes(2, "big") + v.to_bytes(4, "big") for k, v in pairs))


def headers_frame(enc: Encoder, sid: int, end: bool = True, method: str = "GET", path: str = "/") -> bytes:
    block = enc.encode([(":method", method), (":path", path), (":scheme", "http"), (":authority", "x")])
    return raw(0x1, 0x4 | (0x1 if end else 0), sid, block)


def test_a_new_stream_and_its_reset_in_one_read_after_shutdown_is_no_crash() -> None:
    server, c, _ = pair()
    server.feed(get(c, 1, end=False), 0.0)
    server.shutdown()
    enc = Encoder()
    assert server.feed(headers_frame(enc, 3, end=False) + raw(0x3, 0, 3, (8).to_bytes(4, "big")), 0.0) == []
    events = server.feed(headers_frame(enc, 5, end=False) + raw(0x7, 0, 0, bytes(8)), 0.0)
    assert events[-1][0] == H2_GOAWAY


def test_data_frames_of_padding_alone_are_empty_frames() -> None:
    server, c, _ = pair(H2Limits(empty_burst=100, empty_rate=10))
    server.feed(get(c, 1, end=False), 0.0)
    padded_nothing = raw(0x0, 0x8, 1, b"\x00")  # PADDED, pad length 0, no data
    events = server.feed(padded_nothing * 150, 0.0)
    assert goaway_code(events) == ENHANCE_YOUR_CALM


def test_streams_the_server_resets_for_the_clients_errors_count_as_resets() -> None:
    """MadeYouReset (CVE-2025-8671): no RST_STREAM from the client, but a WINDOW_UPDATE that overflows each new
    stream's window, so that h2 resets it."""
    server, _, _ = pair(H2Limits(resets_burst=50, resets_rate=10))
    enc = Encoder()
    events: list[tuple[Any, ...]] = []
    for i in range(100):
        sid = 1 + 2 * i
        events += server.feed(headers_frame(enc, sid) + raw(0x8, 0, sid, (2**31 - 1).to_bytes(4, "big")), 0.0)
        server.data_to_send()
        if any(e[0] == H2_GOAWAY for e in events):
            break
    assert goaway_code(events) == ENHANCE_YOUR_CALM
    assert sum(e[0] == H2_REQUEST for e in events) <= 51


def test_a_window_opened_by_settings_releases_held_output() -> None:
    server, _, _ = pair()
    server.feed(settings_frame((0x4, 0)), 0.0)  # INITIAL_WINDOW_SIZE 0
    server.feed(headers_frame(Encoder(), 1), 0.0)
    assert server.respond(1, 200, [], b"hello world")
    assert server.held(1) == 11
    server.data_to_send()
    events = server.feed(settings_frame((0x4, 65535)), 0.0)
    assert events == [(H2_WINDOW, 1)]
    sent = parse(server.data_to_send())
    last = sent[-1]
    assert isinstance(last, DataFrame) and last.data == b"hello world"


def test_our_hpack_table_stays_small_whatever_the_client_offers() -> None:
    """Every response decodes, and the decoder's table never grew past 4,096 bytes: nor did our encoder's."""
    server, _, _ = pair()
    server.feed(settings_frame((0x1, 2**32 - 1)), 0.0)
    decoder = Decoder()
    decoder.max_allowed_table_size = 2**32 - 1
    enc = Encoder()
    for i in range(20):
        sid = 1 + 2 * i
        server.feed(headers_frame(enc, sid), 0.0)
        assert server.respond(sid, 200, [(b"x-field-%d" % i, b"v" * 400)])
        for frame in parse(server.data_to_send()):
            if isinstance(frame, HeadersFrame):
                decoder.decode(frame.data)
                assert decoder.header_table_size <= 4096


def test_unknown_settings_identifiers_are_bounded() -> None:
    server, _, _ = pair()
    events = server.feed(settings_frame(*((0x100 + i, 1) for i in range(40))), 0.0)
    assert goaway_code(events) == ENHANCE_YOUR_CALM
    server2, _, _ = pair()
    assert server2.feed(settings_frame((0x100, 1), (0x101, 1)), 0.0) == []  # a few are fine (RFC 9113 6.5.2)


def test_tiny_window_updates_are_empty_frames() -> None:
    server, _, _ = pair(H2Limits(empty_burst=100, empty_rate=10))
    events = server.feed(raw(0x8, 0, 0, (1).to_bytes(4, "big")) * 150, 0.0)
    assert goaway_code(events) == ENHANCE_YOUR_CALM


def test_credit_given_before_a_body_streamed_is_not_given_twice() -> None:
    server, c, _ = pair(H2Limits(max_body=100_000, window=200_000))
    events = server.feed(get(c, 1, path="/up", end=False), 0.0)
    for _ in range(8):
        c.send_data(1, b"u" * 16000)
        events += server.feed(c.data_to_send(), 0.0)
    handed = sum(len(e[2]) for e in events if e[0] == H2_DATA)
    assert handed == 128_000
    assert server.respond(1, 413, [], b"too large")  # answered before its body ended: the stream is gone
    server.consume(1, handed)  # ...and the route gives back what it was handed, as the API asks
    got = client_events(server, c)
    # Every byte credited once: the client may send the connection's window again, and not a byte more (96,000 held
    # and credited before the body streamed would count twice).
    assert any(isinstance(e, WindowUpdated) and e.stream_id == 0 for e in got)
    assert 200_000 - 16_384 < c.outbound_flow_control_window <= 200_000


def test_our_limits_hold_before_the_client_acknowledges_them() -> None:
    server = Core(H2Limits(max_concurrent_streams=2))
    enc = Encoder()
    events = server.feed(PREFACE + settings_frame(), 0.0)  # no ACK of our SETTINGS
    for sid in (1, 3, 5):
        events += server.feed(headers_frame(enc, sid, end=False), 0.0)
    assert events == [] and sorted(server.open_streams()) == [1, 3]  # the third is refused before any ACK
    assert RstStreamFrame(5, error_code=7).serialize() in server.data_to_send()


@pytest.mark.parametrize("field", [(b"x-a", b"1\r\nset-cookie: pwned=1"), (b"x-b\n", b"1"), (b"x-c", b"\x00"),
                                   (b"", b"1"), (b"x e", b"1")])
def test_a_response_field_no_peer_may_receive_raises_before_anything_is_sent(field: tuple[bytes, bytes]) -> None:
    server, c, _ = pair()
    server.feed(get(c, 1), 0.0)
    with pytest.raises(ValueError):
        server.respond(1, 200, [field], b"x")
    assert client_events(server, c) == []  # nothing went out: the caller answers something else
    assert server.respond(1, 500, [], b"Internal Server Error")
    got = client_events(server, c)
    assert dict(next(e for e in got if isinstance(e, ResponseReceived)).headers)[b":status"] == b"500"


@pytest.mark.parametrize("status", [100, 101, 199, 600, -1])
def test_a_status_outside_200_599_raises(status: int) -> None:
    server, c, _ = pair()
    server.feed(get(c, 1), 0.0)
    with pytest.raises(ValueError):
        server.respond(1, status, [], b"")


def test_data_before_the_response_head_is_refused() -> None:
    server, c, _ = pair()
    server.feed(get(c, 1), 0.0)
    with pytest.raises(RuntimeError):
        server.send(1, b"early")


def test_a_path_not_in_origin_form_is_a_stream_error() -> None:
    server, _, _ = pair()
    assert server.feed(headers_frame(Encoder(), 1, path="http://evil/x"), 0.0) == []
    assert RstStreamFrame(1, error_code=PROTOCOL_ERROR).serialize() in server.data_to_send()


def test_a_shut_window_shows_as_stalled_streams() -> None:
    server, _, _ = pair()
    server.feed(settings_frame((0x4, 0)), 1.0)
    server.feed(headers_frame(Encoder(), 1), 1.0)
    server.feed(headers_frame(Encoder(), 3), 1.0)
    assert server.respond(1, 200, [], b"a" * 1000)
    assert server.respond(3, 200, [], b"")  # nothing held
    assert server.stalled(5.0, 10.0) == []
    assert server.stalled(11.0, 10.0) == [1]


def test_a_header_block_that_does_not_decode_is_a_compression_error() -> None:
    """RFC 9113 section 4.3 (h2spec's hpack cases): index 0 in the table, and an index past its end."""
    for block in (b"\x80", b"\xbe"):
        server, _, _ = pair()
        events = server.feed(raw(0x1, 0x5, 1, block), 0.0)
        assert goaway_code(events) == 9
        goaway = parse(server.data_to_send())[-1]
        assert isinstance(goaway, GoAwayFrame) and goaway.error_code == 9


def test_after_a_graceful_goaway_an_error_does_not_raise_the_last_stream_id() -> None:
    server, c, _ = pair()
    server.feed(get(c, 1, end=False), 0.0)
    server.shutdown()
    server.data_to_send()
    enc = Encoder()
    events = server.feed(headers_frame(enc, 3, end=False) + raw(0x8, 0, 0, (0).to_bytes(4, "big")), 0.0)
    assert goaway_code(events) == PROTOCOL_ERROR  # a zero WINDOW_UPDATE increment
    goaways = [f for f in parse(server.data_to_send()) if isinstance(f, GoAwayFrame)]
    assert [(g.last_stream_id, g.error_code) for g in goaways] == [(1, PROTOCOL_ERROR)]


# -- the nghttp2 core's hostile review (both cores answer alike) ---------------------------------------------------


def test_a_response_head_over_64_kib_is_sent_whole() -> None:
    """(nghttp2 drops a header block past its default 64 KiB without a word; the core lets the application's fields
    through, in CONTINUATION frames.)"""
    server, c, _ = pair()
    c.decoder.max_header_list_size = 1 << 20
    server.feed(get(c, 1), 0.0)
    assert server.respond(1, 200, [(b"x-big", b"v" * 70_000)], b"ok")
    got = client_events(server, c)
    head = next(e for e in got if isinstance(e, ResponseReceived))
    assert dict(head.headers)[b"x-big"] == b"v" * 70_000
    assert any(isinstance(e, StreamEnded) for e in got) and server.open_streams() == []


def test_an_upgraded_request_keeps_its_latin_1_text() -> None:
    from covet.runtime.h2c import settings_payload

    settings = b"AAMAAABkAAQCAAAAAAIAAAAA"
    server = Core(None, settings if Core is H2Core else settings_payload(settings))
    event = server.upgraded("GET", "/café", "q=é", [("host", "x"), ("x-h", "éÿ"), ("upgrade", "h2c")])
    assert event == (H2_REQUEST, 1, "GET", "/café", "q=é", [("host", "x"), ("x-h", "éÿ")], b"")
    assert server.request_head(1) == ("GET", "/café", "q=é", [("host", "x"), ("x-h", "éÿ")])


def test_a_host_that_is_not_the_authority_is_malformed() -> None:
    """RFC 9113 section 8.3.1: a route would not know which to believe. (h2 ends the connection; nghttp2's core
    resets the stream, as for any malformed request.)"""
    server, _, _ = pair()
    events = server.feed(headers_frame_with(Encoder(), 1, [("host", "elsewhere")]), 0.0)
    assert not any(e[0] == H2_REQUEST for e in events)
    if Core is H2Core:
        assert goaway_code(events) == PROTOCOL_ERROR
    else:
        assert RstStreamFrame(1, error_code=PROTOCOL_ERROR).serialize() in server.data_to_send()
    events = server.feed(headers_frame_with(Encoder(), 1, [("host", "x")]), 0.0) if Core is not H2Core else []
    assert not any(e[0] == H2_REQUEST for e in events)


def test_a_stream_that_depends_on_itself_ends_the_connection() -> None:
    """Once its handler runs, a stream reset for a PRIORITY on itself would drop out of max_concurrent_streams
    unseen: the connection ends instead, as RFC 9113 section 5.4.1 allows."""
    server, c, _ = pair(H2Limits(max_body=10))
    events = server.feed(get(c, 1, path="/up", end=False, extra=(("content-length", "100"),)), 0.0)
    assert events[0][:2] == (H2_STREAM, 1)
    events = server.feed(raw(0x2, 0, 1, (1).to_bytes(4, "big") + b"\x0f"), 0.0)
    assert events[:1] == [(H2_RESET, 1, 8)] and goaway_code(events) == PROTOCOL_ERROR


def headers_frame_with(enc: Encoder, sid: int, extra: list[tuple[str, str]]) -> bytes:
    block = enc.encode([(":method", "GET"), (":path", "/"), (":scheme", "http"), (":authority", "x"), *extra])
    return raw(0x1, 0x5, sid, block)


# -- what gRPC asks of the framing ----------------------------------------------------------------------------------


def test_trailers_end_a_response_after_its_data() -> None:
    from h2.events import TrailersReceived

    server, c, _ = pair()
    server.feed(get(c, 1), 0.0)
    assert server.respond(1, 200, [(b"content-type", b"application/grpc")], b"", False)
    assert server.send(1, b"\x00\x00\x00\x00\x01x") == 0
    with pytest.raises(ValueError):
        server.trailers(1, [(b"grpc-message", b"bad\r\nx-injected: 1")])
    assert server.trailers(1, [(b"grpc-status", b"0"), (b"grpc-message", b"ok")])
    got = client_events(server, c)
    kinds = [type(e).__name__ for e in got if not isinstance(e, WindowUpdated)]
    assert kinds[-4:] == ["ResponseReceived", "DataReceived", "TrailersReceived", "StreamEnded"], kinds
    trailers = next(e for e in got if isinstance(e, TrailersReceived))
    assert dict(trailers.headers) == {b"grpc-status": b"0", b"grpc-message": b"ok"}
    assert server.open_streams() == [] and server.trailers(1, []) is False


def test_trailers_wait_for_data_held_by_a_shut_window() -> None:
    server, _, _ = pair()
    server.feed(settings_frame((0x4, 0)), 0.0)  # INITIAL_WINDOW_SIZE 0
    server.feed(headers_frame(Encoder(), 1), 0.0)
    assert server.respond(1, 200, [], b"held", False)
    assert server.trailers(1, [(b"grpc-status", b"0")])
    assert not [f for f in parse(server.data_to_send()) if isinstance(f, DataFrame)]
    server.feed(settings_frame((0x4, 65535)), 0.0)
    frames_out = parse(server.data_to_send())
    assert [type(f).__name__ for f in frames_out][-2:] == ["DataFrame", "HeadersFrame"]
    assert "END_STREAM" in frames_out[-1].flags and "END_STREAM" not in frames_out[-2].flags


def test_a_grpc_call_streams_from_its_head() -> None:
    """Its messages go to the handler as they come, whatever their size (client streaming)."""
    server, c, _ = pair()
    events = server.feed(get(c, 1, path="/pkg.Svc/Call", end=False, extra=(("content-type", "application/grpc"),)),
                         0.0)
    assert [e[:3] for e in events] == [(H2_STREAM, 1, "POST")]
    c.send_data(1, b"\x00\x00\x00\x00\x02hi", end_stream=True)
    assert server.feed(c.data_to_send(), 0.0) == [(H2_DATA, 1, b"\x00\x00\x00\x00\x02hi"), (H2_END, 1)]
    # A media type's case is not significant: Application/GRPC streams too (and goes to gRPC: the same is_grpc).
    events = server.feed(get(c, 3, path="/pkg.Svc/Call", end=False, extra=(("content-type", "Application/GRPC"),)),
                         0.0)
    assert [e[:3] for e in events] == [(H2_STREAM, 3, "POST")]
