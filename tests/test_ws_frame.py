"""The WebSocket frame parser and builder of the C extension (covet._native.WSParser, ws_frame, utf8_valid).

Table-driven wire cases (the client's bytes in, the events out) for every rule of native/ws_frame.h, each fed whole,
one byte at a time and split in two at every point; property tests (hypothesis) against a small Python model.
"""

from __future__ import annotations

import os
import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from covet._native import WSParser, utf8_valid, ws_frame
from covet.runtime.ws_events import (
    WS_BINARY,
    WS_BINARY_COMPRESSED,
    WS_CLOSE,
    WS_ERROR,
    WS_OP_BINARY,
    WS_OP_CLOSE,
    WS_OP_CONT,
    WS_OP_PING,
    WS_OP_PONG,
    WS_OP_TEXT,
    WS_PING,
    WS_PONG,
    WS_TEXT,
    WS_TEXT_COMPRESSED,
)

Event = tuple[Any, ...]

PROPS = settings(
    max_examples=int(os.environ.get("COVET_PROPS_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

FIN = 0x80
RSV1 = 0x40
KEY = b"\x37\xfa\x21\x3d"


def mask(payload: bytes, key: bytes) -> bytes:
    return bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def frame(b0: int, payload: bytes = b"", *, key: bytes = KEY, length: str = "min", masked: bool = True) -> bytes:
    """A client frame: first byte b0, the length in its shortest form (or forced to "16" or "64" bits)."""
    n = len(payload)
    bit = 0x80 if masked else 0
    if length == "min" and n <= 125:
        head = bytes([b0, bit | n])
    elif length == "16" or (length == "min" and n <= 0xFFFF):
        head = bytes([b0, bit | 126]) + struct.pack("!H", n)
    else:
        head = bytes([b0, bit | 127]) + struct.pack("!Q", n)
    return head + key + mask(payload, key) if masked else head + payload


def feed_pieces(data: bytes, cuts: list[int], **kw: Any) -> list[Event]:
    p = WSParser(**kw)
    events: list[Event] = []
    start = 0
    for end in [*cuts, len(data)]:
        events += p.feed(data[start:end])
        start = end
    return events


def parse(data: bytes, **kw: Any) -> list[Event]:
    """The events of `data`, checked to be the same one byte at a time and at every split in two."""
    whole = feed_pieces(data, [], **kw)
    assert feed_pieces(data, list(range(1, len(data))), **kw) == whole
    for cut in range(len(data) + 1):
        assert feed_pieces(data, [cut], **kw) == whole, cut
    return whole


def error(code: int) -> Event:
    """An error event of that close code (any message)."""
    return (WS_ERROR, code)


def shape(events: list[Event]) -> list[Event]:
    """Error events without their message, which is for humans."""
    return [e[:2] if e[0] == WS_ERROR else e for e in events]


# --------------------------------------------------------------------------------------------------- wire cases

CASES: list[tuple[str, bytes, list[Event]]] = [
    # RFC 6455 5.7: a single-frame masked text message
    ("rfc example", bytes.fromhex("818537fa213d7f9f4d5158"), [(WS_TEXT, "Hello")]),
    ("binary", frame(FIN | WS_OP_BINARY, b"\x00\xff"), [(WS_BINARY, b"\x00\xff")]),
    ("empty text", frame(FIN | WS_OP_TEXT), [(WS_TEXT, "")]),
    ("ping pong", frame(FIN | WS_OP_PING, b"p") + frame(FIN | WS_OP_PONG), [(WS_PING, b"p"), (WS_PONG, b"")]),
    ("fragments with control frames between",
     frame(WS_OP_TEXT, "h\u00e9".encode()[:2]) + frame(FIN | WS_OP_PING, b"1") + frame(WS_OP_CONT, b"\xa9")
     + frame(FIN | WS_OP_PONG, b"2") + frame(FIN | WS_OP_CONT, "\U0001f600".encode()),
     [(WS_PING, b"1"), (WS_PONG, b"2"), (WS_TEXT, "h\u00e9\U0001f600")]),
    ("messages in a row", frame(FIN | WS_OP_TEXT, b"a") + frame(WS_OP_BINARY, b"b") + frame(FIN | WS_OP_CONT, b"c"),
     [(WS_TEXT, "a"), (WS_BINARY, b"bc")]),
    # 1: masking
    ("unmasked", frame(FIN | WS_OP_TEXT, b"hi", masked=False), [error(1002)]),
    ("unmasked, header only", b"\x81\x02", [error(1002)]),
    # 2: reserved bits
    ("rsv1 without extension", frame(FIN | RSV1 | WS_OP_TEXT, b"x"), [error(1002)]),
    ("rsv2", frame(FIN | 0x20 | WS_OP_TEXT, b"x"), [error(1002)]),
    ("rsv3", frame(FIN | 0x10 | WS_OP_BINARY, b"x"), [error(1002)]),
    # 3: reserved opcodes, found from the first byte alone
    *((f"opcode {op}", bytes([FIN | op]), [error(1002)]) for op in (3, 4, 5, 6, 7, 11, 12, 13, 14, 15)),
    # 4: control frames
    ("fragmented ping", frame(WS_OP_PING), [error(1002)]),
    ("fragmented close", frame(WS_OP_CLOSE), [error(1002)]),
    ("ping of 126 bytes", frame(FIN | WS_OP_PING, b"x" * 126), [error(1002)]),
    ("ping of 125 bytes", frame(FIN | WS_OP_PING, b"x" * 125), [(WS_PING, b"x" * 125)]),
    ("pong with a 16-bit length", frame(FIN | WS_OP_PONG, b"x", length="16"), [error(1002)]),
    # 5: fragmentation
    ("continuation of nothing", frame(FIN | WS_OP_CONT, b"x"), [error(1002)]),
    ("continuation after a whole message", frame(FIN | WS_OP_TEXT, b"a") + frame(WS_OP_CONT, b"b"),
     [(WS_TEXT, "a"), error(1002)]),
    ("new message inside another", frame(WS_OP_TEXT, b"a") + frame(FIN | WS_OP_BINARY, b"b"), [error(1002)]),
    # 6: lengths
    ("16-bit length of 125", frame(FIN | WS_OP_BINARY, b"x" * 125, length="16"), [error(1002)]),
    ("64-bit length of 65535", frame(FIN | WS_OP_BINARY, b"x" * 65535, length="64"), [error(1002)]),
    ("64-bit length with the top bit", b"\x82\xff\x80" + b"\x00" * 6 + b"\x01", [error(1002)]),
    # 8: UTF-8, failing fast
    ("invalid text", frame(FIN | WS_OP_TEXT, b"\xff"), [error(1007)]),
    ("overlong", frame(FIN | WS_OP_TEXT, b"\xc0\xaf"), [error(1007)]),
    ("surrogate", frame(FIN | WS_OP_TEXT, b"\xed\xa0\x80"), [error(1007)]),
    ("past U+10FFFF", frame(FIN | WS_OP_TEXT, b"\xf4\x90\x80\x80"), [error(1007)]),
    ("text ends inside a character", frame(FIN | WS_OP_TEXT, b"\xe2\x82"), [error(1007)]),
    ("invalid in the first fragment", frame(WS_OP_TEXT, b"ok\xc3\x28"), [error(1007)]),
    ("invalid in a frame still arriving", frame(FIN | WS_OP_TEXT, b"abc\xff" + b"x" * 50)[:12], [error(1007)]),
    ("invalid binary is fine", frame(FIN | WS_OP_BINARY, b"\xff"), [(WS_BINARY, b"\xff")]),
    # 9: close frames
    ("close", frame(FIN | WS_OP_CLOSE, b"\x03\xe8bye"), [(WS_CLOSE, 1000, "bye")]),
    ("close without payload", frame(FIN | WS_OP_CLOSE), [(WS_CLOSE, 1005, "")]),
    ("close of 1 byte", frame(FIN | WS_OP_CLOSE, b"\x03"), [error(1002)]),
    ("close with a bad reason", frame(FIN | WS_OP_CLOSE, b"\x03\xe8\xff"), [error(1007)]),
    ("close with a reason", frame(FIN | WS_OP_CLOSE, b"\x0f\xa0" + "d\u00e9j\u00e0".encode()),
     [(WS_CLOSE, 4000, "d\u00e9j\u00e0")]),
    ("nothing after a close", frame(FIN | WS_OP_CLOSE, b"\x03\xe9") + frame(FIN | WS_OP_TEXT, b"late"),
     [(WS_CLOSE, 1001, "")]),
    ("nothing after an error", frame(FIN | 0x10 | WS_OP_TEXT) + frame(FIN | WS_OP_TEXT, b"late"), [error(1002)]),
]


@pytest.mark.parametrize(("data", "want"), [pytest.param(d, w, id=name) for name, d, w in CASES])
def test_wire_cases(data: bytes, want: list[Event]) -> None:
    events = parse(data)
    assert shape(events) == want
    for e in events:
        if e[0] == WS_ERROR:
            assert isinstance(e[2], str) and e[2]


def test_error_messages_say_what_broke() -> None:
    assert WSParser().feed(b"\x81\x02") == [(WS_ERROR, 1002, "Client frame is not masked")]
    assert WSParser().feed(frame(FIN | WS_OP_TEXT, b"\xff")) == [(WS_ERROR, 1007, "Text message is not valid UTF-8")]
    assert WSParser(max_frame=1).feed(b"\x82\x82") == [(WS_ERROR, 1009, "Frame payload over the size limit")]


@pytest.mark.parametrize("n", [0, 1, 125, 126, 127, 65535, 65536, 100_000])
def test_every_length_form(n: int) -> None:
    payload = bytes(i * 7 % 251 for i in range(n))
    data = frame(FIN | WS_OP_BINARY, payload)
    assert len(data) == n + 4 + (2 if n <= 125 else 4 if n <= 65535 else 10)
    p = WSParser(max_frame=n, max_message=n)
    assert p.feed(data) == [(WS_BINARY, payload)]
    # split inside the header, the mask, and the payload at every phase of the mask
    for cut in (1, 2, 3, len(data) - n - 1, len(data) - n + 1, len(data) - n + 2, len(data) - n + 3):
        if 0 < cut < len(data):
            assert feed_pieces(data, [cut], max_frame=n, max_message=n) == [(WS_BINARY, payload)]


def test_masks_at_every_split() -> None:
    payload = bytes(range(40))
    for key in (b"\x00\x00\x00\x00", b"\xff\xff\xff\xff", b"\x01\x02\x03\x04", b"\xa5\x5a\x0f\xf0"):
        data = frame(FIN | WS_OP_BINARY, payload, key=key)
        for a in range(len(data) + 1):
            for b in range(a, len(data) + 1, 5):
                assert feed_pieces(data, [a, b]) == [(WS_BINARY, payload)]


# ------------------------------------------------------------------------------------------------------ limits


def test_frame_limit_is_found_from_the_header() -> None:
    assert parse(frame(FIN | WS_OP_BINARY, b"x" * 10), max_frame=10) == [(WS_BINARY, b"x" * 10)]
    # 11 bytes announced: the error comes with the second byte, before the mask or any payload
    assert shape(WSParser(max_frame=10).feed(b"\x82\x8b")) == [error(1009)]
    assert shape(WSParser(max_frame=10).feed(b"\x82\xff\x40" + b"\x00" * 7)) == [error(1009)]
    # control frames too
    assert shape(parse(frame(FIN | WS_OP_PING, b"x" * 11), max_frame=10)) == [error(1009)]


def test_message_limit_counts_all_fragments() -> None:
    ok = frame(WS_OP_BINARY, b"a" * 10) + frame(WS_OP_CONT, b"b" * 10) + frame(FIN | WS_OP_CONT, b"c" * 5)
    assert parse(ok, max_frame=10, max_message=25) == [(WS_BINARY, b"a" * 10 + b"b" * 10 + b"c" * 5)]
    over = frame(WS_OP_TEXT, b"a" * 10) + frame(FIN | WS_OP_PING) + frame(WS_OP_CONT, b"b" * 10) + b"\x80\x86"
    assert shape(parse(over, max_frame=10, max_message=25)) == [(WS_PING, b""), error(1009)]
    # each message starts from zero
    two = (frame(WS_OP_TEXT, b"a" * 10) + frame(FIN | WS_OP_CONT, b"b" * 10)) * 3
    assert parse(two, max_frame=10, max_message=20) == [(WS_TEXT, "a" * 10 + "b" * 10)] * 3


def test_zero_limits_allow_only_empty_frames() -> None:
    assert parse(frame(FIN | WS_OP_TEXT) + frame(FIN | WS_OP_PING), max_frame=0, max_message=0) == [
        (WS_TEXT, ""), (WS_PING, b"")]
    assert shape(parse(frame(FIN | WS_OP_TEXT, b"x"), max_frame=0, max_message=0)) == [error(1009)]


def test_constructor_arguments() -> None:
    with pytest.raises(ValueError, match="negative"):
        WSParser(max_frame=-1)
    with pytest.raises(TypeError):
        WSParser(10)  # type: ignore[call-arg]
    p = WSParser()
    p.feed(frame(WS_OP_TEXT, b"a"))
    p.__init__(max_message=3)  # re-initialising starts over
    assert p.feed(frame(FIN | WS_OP_TEXT, b"abc")) == [(WS_TEXT, "abc")]
    # configure() is the same, on an object a transport may hold (permessage-deflate agreed after the 101)
    p.configure(max_frame=4, max_message=4, rsv1_allowed=True)
    assert p.feed(frame(FIN | RSV1 | WS_OP_BINARY, b"zz")) == [(WS_BINARY_COMPRESSED, b"zz")]
    assert shape(p.feed(frame(FIN | WS_OP_BINARY, b"12345"))) == [error(1009)]
    with pytest.raises(ValueError, match="negative"):
        p.configure(max_message=-1)
    with pytest.raises(TypeError):
        p.configure(4)  # type: ignore[call-arg]


def test_feed_takes_any_bytes_like_object() -> None:
    data = frame(FIN | WS_OP_TEXT, b"hey")
    assert WSParser().feed(bytearray(data)) == [(WS_TEXT, "hey")]
    assert WSParser().feed(memoryview(b"xx" + data)[2:]) == [(WS_TEXT, "hey")]
    with pytest.raises(TypeError):
        WSParser().feed("text")  # type: ignore[arg-type]


def test_after_an_error_or_a_close_feed_returns_nothing() -> None:
    p = WSParser()
    assert shape(p.feed(b"\x83")) == [error(1002)]
    assert p.feed(frame(FIN | WS_OP_TEXT, b"x")) == []
    assert p.feed(b"") == []
    p = WSParser()
    assert p.feed(frame(FIN | WS_OP_CLOSE)) == [(WS_CLOSE, 1005, "")]
    assert p.feed(frame(FIN | WS_OP_TEXT, b"x")) == []


# -------------------------------------------------------------------------------------------------- close codes

PEER_CODES = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, *range(3000, 5000)}


def test_close_codes() -> None:
    """1000-1003, 1007-1014 and 3000-4999 may be sent by a peer; everything else is a protocol error.

    Autobahn|Testsuite: 7.7.x sends 1000-1003, 1007-1011, 3000, 3999, 4000, 4999 (valid); 7.9.x sends 0, 999,
    1004-1006, 1016, 1100, 2000, 2999 (invalid); it counts 1012 and 1013 valid and leaves 1014 and 1015 untested.
    1015 is for reporting only (RFC 6455 7.4.1), 1014 is registered (bad gateway).
    """
    for code in range(65536):
        events = WSParser().feed(frame(FIN | WS_OP_CLOSE, struct.pack("!H", code) + b"why"))
        if code in PEER_CODES:
            assert events == [(WS_CLOSE, code, "why")], code
        else:
            assert events == [(WS_ERROR, 1002, "Close code that a peer may not send")], code


# ------------------------------------------------------------------------------------------------------ compressed


def test_compressed_messages_come_as_sent() -> None:
    data = (frame(RSV1 | WS_OP_TEXT, b"\xff\x00") + frame(FIN | WS_OP_PING) + frame(FIN | WS_OP_CONT, b"\x01")
            + frame(FIN | RSV1 | WS_OP_BINARY, b"zz") + frame(FIN | WS_OP_TEXT, "\u00e9".encode()))
    assert parse(data, rsv1_allowed=True) == [
        (WS_PING, b""), (WS_TEXT_COMPRESSED, b"\xff\x00\x01"), (WS_BINARY_COMPRESSED, b"zz"), (WS_TEXT, "\u00e9")]
    # RSV1 only on the first frame of a data message
    assert shape(parse(frame(RSV1 | WS_OP_TEXT) + frame(FIN | RSV1 | WS_OP_CONT), rsv1_allowed=True)) == [
        error(1002)]
    assert shape(parse(frame(FIN | RSV1 | WS_OP_PING), rsv1_allowed=True)) == [error(1002)]
    assert shape(parse(frame(FIN | RSV1 | WS_OP_TEXT), rsv1_allowed=False)) == [error(1002)]


# ------------------------------------------------------------------------------------------------------- builder


@pytest.mark.parametrize(("n", "head"), [
    (0, b"\x82\x00"), (125, b"\x82\x7d"), (126, b"\x82\x7e\x00\x7e"), (65535, b"\x82\x7e\xff\xff"),
    (65536, b"\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00"),
])
def test_ws_frame_lengths(n: int, head: bytes) -> None:
    payload = b"\xab" * n
    out = ws_frame(WS_OP_BINARY, payload)
    assert out == head + payload
    # what a client would send back, masked, parses to the same payload
    masked = bytes([out[0], out[1] | 0x80]) + out[2:len(head)] + KEY + mask(payload, KEY)
    assert WSParser().feed(masked) == [(WS_BINARY, payload)]


def test_ws_frame_flags_and_checks() -> None:
    assert ws_frame(WS_OP_TEXT, b"hi") == b"\x81\x02hi"
    assert ws_frame(WS_OP_TEXT, b"hi", fin=False) == b"\x01\x02hi"
    assert ws_frame(WS_OP_CONT, bytearray(b"hi"), True, rsv1=False) == b"\x80\x02hi"
    assert ws_frame(WS_OP_TEXT, memoryview(b"hi"), rsv1=True) == b"\xc1\x02hi"
    assert ws_frame(WS_OP_CLOSE, b"\x03\xe8") == b"\x88\x02\x03\xe8"
    assert ws_frame(WS_OP_PING, b"x" * 125)[:2] == b"\x89\x7d"
    assert ws_frame(opcode=WS_OP_PONG, payload=b"") == b"\x8a\x00"
    for bad in (3, 7, 11, 15, -1, 16):
        with pytest.raises(ValueError, match="opcode"):
            ws_frame(bad, b"")
    with pytest.raises(ValueError, match="control frame"):
        ws_frame(WS_OP_PING, b"x" * 126)
    with pytest.raises(ValueError, match="control frame"):
        ws_frame(WS_OP_CLOSE, b"", fin=False)
    with pytest.raises(ValueError, match="control frame"):
        ws_frame(WS_OP_PONG, b"", rsv1=True)
    with pytest.raises(TypeError):
        ws_frame(WS_OP_TEXT, "str")  # type: ignore[arg-type]
    # The positional calls with bytes are read without the general parser: the same frames and the same checks.
    assert ws_frame(WS_OP_TEXT, b"hi", False, True) == b"\x41\x02hi"
    assert ws_frame(WS_OP_TEXT, b"hi", fin=False, rsv1=True) == b"\x41\x02hi"
    assert ws_frame(WS_OP_BINARY, b"", 1, 0) == b"\x82\x00"
    with pytest.raises(ValueError, match="control frame"):
        ws_frame(WS_OP_CLOSE, b"", False)
    for huge in (2**70, -(2**70), 2**40, 2**31):  # past a C int: the general parser's OverflowError, as before
        with pytest.raises(OverflowError):
            ws_frame(huge, b"")
    with pytest.raises(TypeError):
        ws_frame(WS_OP_TEXT, b"", True, False, True)  # type: ignore[call-arg]


# --------------------------------------------------------------------------------------------------------- UTF-8


def python_says_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8", "strict")
    except UnicodeDecodeError:
        return False
    return True


def test_utf8_valid_on_every_short_sequence() -> None:
    for a in range(256):
        one = bytes([a])
        assert utf8_valid(one) == python_says_utf8(one), one
        for b in range(256):
            two = bytes([a, b])
            assert utf8_valid(two) == python_says_utf8(two), two
    for a in range(0xE0, 0x100):
        for b in range(0x70, 0xD0):
            for c in (0x00, 0x7F, 0x80, 0xBF, 0xC0):
                three = bytes([a, b, c])
                assert utf8_valid(three) == python_says_utf8(three), three
                four = three + b"\x80"
                assert utf8_valid(four) == python_says_utf8(four), four


def test_utf8_valid_takes_bytes_like_objects() -> None:
    assert utf8_valid(b"") and utf8_valid(bytearray("\u00e9".encode())) and utf8_valid(memoryview(b"ok"))
    assert not utf8_valid(b"a\xffb")
    with pytest.raises(TypeError):
        utf8_valid("str")  # type: ignore[arg-type]


@PROPS
@given(st.binary(max_size=64) | st.text(max_size=32).map(lambda s: s.encode("utf-8", "surrogatepass")))
def test_utf8_valid_agrees_with_python(data: bytes) -> None:
    assert utf8_valid(data) == python_says_utf8(data)


# ----------------------------------------------------------------------------------------------- property: model

# One generated frame: (first byte, payload).  Valid streams only: the model is what a correct parser reports.
control = st.tuples(st.sampled_from([WS_OP_PING, WS_OP_PONG]), st.binary(max_size=125))
text_parts = st.text(max_size=40).map(lambda s: s.encode())


@st.composite
def message_streams(draw: st.DrawFn) -> tuple[list[tuple[int, bytes]], list[Event]]:
    frames: list[tuple[int, bytes]] = []
    events: list[Event] = []
    for _ in range(draw(st.integers(0, 6))):
        if draw(st.booleans()):
            op, payload = draw(control)
            frames.append((FIN | op, payload))
            events.append((WS_PING if op == WS_OP_PING else WS_PONG, payload))
            continue
        is_text = draw(st.booleans())
        body = draw(text_parts) if is_text else draw(st.binary(max_size=300))
        # cut the message anywhere (also inside a character), with control frames between the fragments
        cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=3)))
        parts = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
        between: list[Event] = []
        for i, part in enumerate(parts):
            op = (WS_OP_TEXT if is_text else WS_OP_BINARY) if i == 0 else WS_OP_CONT
            frames.append(((FIN if i == len(parts) - 1 else 0) | op, part))
            if i < len(parts) - 1 and draw(st.booleans()):
                cop, cpayload = draw(control)
                frames.append((FIN | cop, cpayload))
                between.append((WS_PING if cop == WS_OP_PING else WS_PONG, cpayload))
        events += between
        events.append((WS_TEXT, body.decode()) if is_text else (WS_BINARY, body))
    if draw(st.booleans()):
        code = draw(st.sampled_from([1000, 1001, 1011, 3000, 4999]))
        reason = draw(st.text(max_size=20)).encode()[:123]
        reason = reason.decode("utf-8", "ignore").encode()
        frames.append((FIN | WS_OP_CLOSE, struct.pack("!H", code) + reason))
        events.append((WS_CLOSE, code, reason.decode()))
    return frames, events


@PROPS
@given(message_streams(), st.lists(st.integers(0, 4000), max_size=6), st.binary(min_size=4, max_size=4))
def test_valid_streams_give_the_model_events_however_split(
    stream: tuple[list[tuple[int, bytes]], list[Event]], cuts: list[int], key: bytes
) -> None:
    frames, want = stream
    data = b"".join(frame(b0, p, key=key) for b0, p in frames)
    cuts = sorted(c for c in cuts if c <= len(data))
    assert feed_pieces(data, []) == want
    assert feed_pieces(data, cuts) == want


@PROPS
@given(st.binary(max_size=200), st.lists(st.integers(0, 200), max_size=4), st.booleans())
def test_any_bytes_give_the_same_events_however_split(data: bytes, cuts: list[int], rsv1: bool) -> None:
    kw: dict[str, Any] = {"max_frame": 50, "max_message": 80, "rsv1_allowed": rsv1}
    whole = feed_pieces(data, [], **kw)
    assert feed_pieces(data, sorted(c for c in cuts if c <= len(data)), **kw) == whole
    kinds = [e[0] for e in whole]
    assert WS_ERROR not in kinds[:-1] and WS_CLOSE not in kinds[:-1]
    for e in whole:
        if e[0] in (WS_BINARY, WS_TEXT_COMPRESSED, WS_BINARY_COMPRESSED):
            assert len(e[1]) <= 80
        if e[0] == WS_TEXT:
            assert len(e[1].encode()) <= 80
        if e[0] in (WS_PING, WS_PONG):
            assert len(e[1]) <= 50
