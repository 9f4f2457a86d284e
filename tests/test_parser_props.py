"""Property tests of the native HTTP/1.1 request parser (hypothesis).

1. Any valid request stream built here (random methods, targets, fields,
   bodies, Content-Length or chunked framing, pipelining) parses to the
   events a small Python model predicts, however the bytes are split.
2. Arbitrary or mutated bytes never crash the parser; they give requests,
   CONTINUEs and at most one error, which is the last event; and the result
   does not depend on the split (CONTINUE aside, which by definition does).
"""

from __future__ import annotations

import os
import string
from typing import Any

from hypothesis import HealthCheck, given, settings, strategies as st

from covet._native import EV_CONTINUE, EV_ERROR, EV_REQUEST, EV_UPGRADE, Parser

Event = tuple[Any, ...]

TCHAR = "!#$%&'*+-.^_`|~" + string.digits + string.ascii_letters
VCHAR = "".join(chr(c) for c in range(0x21, 0x7F))
# field-value characters: visible ASCII, SP, HTAB, obs-text
FIELD_CHARS = VCHAR + " \t" + "".join(chr(c) for c in range(0x80, 0x100))
# Fields whose presence changes what the parser emits, which requests() adds itself when it means to; "upgrade" on a
# GET makes it an EV_UPGRADE hand-over (the rest of the input left unparsed), not the request it expects.
SPECIAL = {"host", "content-length", "transfer-encoding", "connection", "expect", "upgrade"}
COMMON_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE"]

# COVET_PROPS_EXAMPLES=5000 for a longer hunt than the default CI budget
PROPS = settings(
    max_examples=int(os.environ.get("COVET_PROPS_EXAMPLES", "250")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def feed_split(data: bytes, cuts: list[int], **limits: int) -> list[Event]:
    p = Parser(**limits)
    events: list[Event] = []
    pos = 0
    for n in cuts:
        if pos >= len(data):
            break
        events += p.feed(data[pos : pos + n])
        pos += n
    events += p.feed(data[pos:])
    return events


def drop_continue(events: list[Event]) -> list[Event]:
    return [e for e in events if e[0] != EV_CONTINUE]


# ------------------------------------------------------------ valid streams

tokens = st.text(alphabet=TCHAR, min_size=1, max_size=12)
methods = st.one_of(st.sampled_from(COMMON_METHODS), tokens.filter(lambda m: m != "CONNECT"))
# '#' would start a fragment, which no request target has
TARGET_CHARS = VCHAR.replace("#", "")
paths = st.text(alphabet=TARGET_CHARS.replace("?", ""), max_size=24).map(lambda s: "/" + s)
queries = st.one_of(st.none(), st.text(alphabet=TARGET_CHARS, max_size=24))
ows = st.sampled_from(["", " ", "\t", "  ", " \t "])
field_values = st.text(alphabet=FIELD_CHARS, max_size=40)
names = st.text(alphabet=TCHAR, min_size=1, max_size=16).filter(lambda n: n.lower() not in SPECIAL)


@st.composite
def requests(draw: st.DrawFn) -> tuple[bytes, Event]:
    method = draw(methods)
    minor = draw(st.sampled_from([0, 1, 1, 1]))
    path = draw(paths)
    query = draw(queries)
    form = draw(st.sampled_from(["origin", "origin", "absolute", "absolute-no-path"]))
    q = "" if query is None else "?" + query
    authority = None  # an absolute-form target's, which is reported as the Host (RFC 9112 3.2.2)
    if form == "origin":
        target = path + q
    elif form == "absolute":
        authority = draw(st.sampled_from(["ex.com:80", "[::1]:8080", "127.0.0.1"]))
        target = draw(st.sampled_from(["http", "https", "HTTP"])) + "://" + authority + path + q
    else:
        authority = "ex.com"
        target = "http://ex.com" + q
        path = "/"

    fields: list[tuple[bytes, tuple[str, str]]] = []  # raw line, expected pair
    for name, value, a, b in draw(st.lists(st.tuples(names, field_values, ows, ows), max_size=6)):
        raw = name.encode() + b":" + (a + value + b).encode("latin-1")
        fields.append((raw, (name.lower(), value.strip(" \t"))))

    def add(name: str, value: str) -> None:
        pos = draw(st.integers(0, len(fields)))
        fields.insert(pos, ((name + ": " + value).encode("latin-1"), (name.lower(), value)))

    has_host = minor == 1 or draw(st.booleans())
    if has_host:
        add(draw(st.sampled_from(["Host", "host", "HOST"])), draw(st.sampled_from(["ex.com", "h:8080", "[::1]", ""])))
        if authority is not None:
            fields = [(raw, ("host", authority) if pair[0] == "host" else pair) for raw, pair in fields]
    conn = draw(st.sampled_from([None, "close", "keep-alive", "Keep-Alive", "upgrade, Close", "te"]))
    if conn is not None:
        add("Connection", conn)
    tokens_ = [] if conn is None else [t.strip().lower() for t in conn.split(",")]
    keep_alive = "close" not in tokens_ if minor == 1 else ("keep-alive" in tokens_ and "close" not in tokens_)

    body = draw(st.binary(max_size=80))
    framing = draw(st.sampled_from(["length", "chunked"] if minor == 1 else ["length"]))
    if not body and draw(st.booleans()):
        framing = "none"
    payload = b""
    if framing == "length":
        add("Content-Length", str(len(body)))
        payload = body
    elif framing == "chunked":
        add("Transfer-Encoding", draw(st.sampled_from(["chunked", "Chunked", "chunked,"])))
        rest = body
        parts = []
        while rest:
            n = draw(st.integers(1, len(rest)))
            size = format(n, draw(st.sampled_from(["x", "X", "04x"])))
            ext = draw(st.sampled_from(["", ";a", ";a=b", ' ; q="x y"']))
            parts.append(size.encode() + ext.encode() + b"\r\n" + rest[:n] + b"\r\n")
            rest = rest[n:]
        trailers = draw(st.lists(st.tuples(names, field_values), max_size=2))
        payload = b"".join(parts) + b"0\r\n"
        payload += b"".join(n.encode() + b": " + v.encode("latin-1") + b"\r\n" for n, v in trailers) + b"\r\n"
    else:
        body = b""

    leading = b"\r\n" * draw(st.integers(0, 2))
    head = leading + f"{method} {target} HTTP/1.{minor}\r\n".encode()
    head += b"".join(raw + b"\r\n" for raw, _ in fields) + b"\r\n"
    headers = [pair for _, pair in fields]
    if authority is not None and not has_host:
        headers.append(("host", authority))  # HTTP/1.0 without Host: the authority is added as one
    expected = (EV_REQUEST, method, path, query or "", minor, headers, keep_alive, body)
    return head + payload, expected


@PROPS
@given(st.lists(requests(), min_size=1, max_size=3), st.lists(st.integers(1, 40), max_size=60))
def test_valid_requests_round_trip(reqs: list[tuple[bytes, Event]], cuts: list[int]) -> None:
    data = b"".join(raw for raw, _ in reqs)
    expected = [ev for _, ev in reqs]
    assert Parser().feed(data) == expected
    assert feed_split(data, cuts) == expected
    assert feed_split(data, [1] * len(data)) == expected


# ----------------------------------------------------------- hostile bytes


def check_events(events: list[Event]) -> None:
    errors = [i for i, e in enumerate(events) if e[0] == EV_ERROR]
    assert len(errors) <= 1
    if errors:
        assert errors[0] == len(events) - 1
        _, status, message = events[-1]
        assert status in (400, 413, 414, 431, 501, 505)
        assert isinstance(message, str) and message
    for e in events:
        # (An upgrade is a request the transport hands over: one asking for a WebSocket or h2c, or HTTP/2's
        # preface, "PRI * HTTP/2.0", which random bytes can spell.)
        if e[0] in (EV_REQUEST, EV_UPGRADE):
            _, method, path, query, minor, headers, keep_alive, body = e
            assert method and all(c in TCHAR for c in method)
            assert path == "*" or path.startswith("/")
            assert all(0x21 <= ord(c) < 0x7F and c != "#" for c in path + query)
            assert minor in (0, 1) and isinstance(keep_alive, bool) and isinstance(body, bytes)
            for name, value in headers:
                assert name and name == name.lower() and all(c in TCHAR for c in name)
                assert all(c in FIELD_CHARS for c in value)
                assert value == value.strip(" \t")
        else:
            assert e in ((EV_CONTINUE,),) or e[0] == EV_ERROR


LIMITS = st.sampled_from(
    [{}, {"max_target": 8, "max_header_bytes": 64, "max_headers": 2, "max_body": 5}]
)


@PROPS
@given(st.binary(max_size=400), st.lists(st.integers(1, 30), max_size=40), LIMITS)
def test_random_bytes(data: bytes, cuts: list[int], limits: dict[str, int]) -> None:
    whole = Parser(**limits).feed(data)
    check_events(whole)
    split = feed_split(data, cuts, **limits)
    check_events(split)
    assert drop_continue(split) == drop_continue(whole)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(b"".join(raw for raw, _ in draw(st.lists(requests(), min_size=1, max_size=2))))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["set", "insert", "delete"]))
        i = draw(st.integers(0, max(0, len(data) - 1)))
        b = draw(st.sampled_from([0, 9, 10, 13, 32, 44, 58, 59, 127, 255]) | st.integers(0, 255))
        if op == "set" and data:
            data[i] = b
        elif op == "insert":
            data.insert(i, b)
        elif data:
            del data[i]
    return bytes(data)


@PROPS
@given(mutated(), st.lists(st.integers(1, 30), max_size=40), LIMITS)
def test_mutated_requests(data: bytes, cuts: list[int], limits: dict[str, int]) -> None:
    whole = Parser(**limits).feed(data)
    check_events(whole)
    assert drop_continue(feed_split(data, cuts, **limits)) == drop_continue(whole)
    assert drop_continue(feed_split(data, [1] * len(data), **limits)) == drop_continue(whole)


def unstream(events: list[Event]) -> list[Event]:
    """A streamed body's events (3: head, 4: a piece, 5: the end) folded into the one request event it stands for."""
    out: list[Event] = []
    pieces: list[bytes] | None = None
    for ev in events:
        if ev[0] == 3:
            assert pieces is None and ev[7] is None
            pieces = []
            out.append(ev)
        elif ev[0] == 4:
            assert pieces is not None and ev[1], ev
            pieces.append(ev[1])
        elif ev[0] == 5:
            assert pieces is not None
            out[-1] = (EV_REQUEST, *out[-1][1:7], b"".join(pieces))
            pieces = None
        else:
            assert pieces is None or ev[0] in (EV_CONTINUE, EV_ERROR), ev
            out.append(ev)
    return out


@PROPS
@given(st.lists(requests(), min_size=1, max_size=3), st.lists(st.integers(1, 40), max_size=60),
       st.integers(0, 100))
def test_bodies_past_max_body_stream_and_carry_the_same_bytes(reqs: list[tuple[bytes, Event]], cuts: list[int],
                                                               max_body: int) -> None:
    data = b"".join(raw for raw, _ in reqs)
    expected = [ev for _, ev in reqs]
    limits = {"max_body": max_body, "max_stream_body": 1000}
    for events in (Parser(**limits).feed(data), feed_split(data, cuts, **limits)):
        streamed = [ev for ev in events if ev[0] == 3]
        assert len(streamed) == sum(len(ev[7]) > max_body for ev in expected)
        assert drop_continue(unstream(events)) == expected


@given(st.text(alphabet="ab%+&=0123456789aAfFgzé\u00ff", max_size=60))
def test_parse_urlencoded_matches_urllib(text: str) -> None:
    """The native form decoder gives what urllib's parse_qsl (blank values kept) and unquote_plus would."""
    from urllib.parse import unquote_plus

    from covet._native import parse_urlencoded

    expected = []
    for part in text.split("&"):
        if part:
            name, _, value = part.partition("=")
            expected.append((unquote_plus(name, errors="replace"), unquote_plus(value, errors="replace")))
    got = [(n.decode("utf-8", "replace"), v.decode("utf-8", "replace"))
           for n, v in parse_urlencoded(text.encode(), 10_000)]
    assert got == expected
