"""Table tests of the native HTTP/1.1 request parser (covet._native.Parser).

Every valid request is also fed one byte at a time and in random splits and
must give the same events; every malformed one must give the same error
status however it is split.
"""

from __future__ import annotations

import random
import time
from typing import Any

import pytest

from covet._native import EV_CONTINUE, EV_ERROR, EV_REQUEST, Parser

Event = tuple[Any, ...]
H = [("host", "h")]


def req(
    method: str = "GET",
    path: str = "/",
    query: str = "",
    minor: int = 1,
    headers: list[tuple[str, str]] | None = None,
    keep_alive: bool = True,
    body: bytes = b"",
) -> Event:
    return (0, method, path, query, minor, H if headers is None else headers, keep_alive, body)


def feed_whole(raw: bytes, **limits: int) -> list[Event]:
    return Parser(**limits).feed(raw)


def feed_pieces(raw: bytes, sizes: list[int] | None = None, **limits: int) -> list[Event]:
    """Feeds raw in pieces of the given sizes (1 byte each by default)."""
    p = Parser(**limits)
    events: list[Event] = []
    pos = 0
    i = 0
    while pos < len(raw):
        n = sizes[i % len(sizes)] if sizes else 1
        events += p.feed(raw[pos : pos + n])
        pos += n
        i += 1
    return events


def random_sizes(seed: int, total: int) -> list[int]:
    rnd = random.Random(seed)
    return [rnd.randint(1, max(1, total // 3)) for _ in range(64)]


def all_splittings(raw: bytes, **limits: int) -> list[list[Event]]:
    runs = [feed_whole(raw, **limits), feed_pieces(raw, **limits)]
    runs += [feed_pieces(raw, random_sizes(seed, len(raw)), **limits) for seed in range(6)]
    return runs


def without_continue(events: list[Event]) -> list[Event]:
    return [e for e in events if e[0] != EV_CONTINUE]


# --------------------------------------------------------------- valid ones

CHUNKED_HEAD = b"POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
TE = [("host", "h"), ("transfer-encoding", "chunked")]

VALID: list[tuple[str, bytes, list[Event], dict[str, int]]] = [
    ("get", b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", [req()], {}),
    (
        "wrk",
        b"GET /plaintext HTTP/1.1\r\nHost: localhost:8080\r\nConnection: keep-alive\r\n\r\n",
        [req(path="/plaintext", headers=[("host", "localhost:8080"), ("connection", "keep-alive")])],
        {},
    ),
    (
        "raw path and query",
        b"GET /a%20b/c?x=1&y=%2F&z HTTP/1.1\r\nHost: h\r\n\r\n",
        [req(path="/a%20b/c", query="x=1&y=%2F&z")],
        {},
    ),
    ("query after first ?", b"GET /p?a?b=c HTTP/1.1\r\nHost: h\r\n\r\n", [req(path="/p", query="a?b=c")], {}),
    ("empty query", b"GET /p? HTTP/1.1\r\nHost: h\r\n\r\n", [req(path="/p")], {}),
    ("visible ascii target", b"GET /~!$&'()*+,;=:@[]{}|^`\"<> HTTP/1.1\r\nHost: h\r\n\r\n",
     [req(path="/~!$&'()*+,;=:@[]{}|^`\"<>")], {}),
    (
        "post body",
        (b"POST /items HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n"
         b"{\"a\": [1]}\n"),
        [
            req(
                "POST",
                "/items",
                headers=[("host", "h"), ("content-type", "application/json"), ("content-length", "11")],
                body=b'{"a": [1]}\n',
            )
        ],
        {},
    ),
    (
        "content-length zero",
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
        [req("POST", headers=[("host", "h"), ("content-length", "0")])],
        {},
    ),
    (
        "content-length list and repeats",
        b"PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\ncontent-length: 003\r\n\r\nabc",
        [req("PUT", "/x", headers=[("host", "h"), ("content-length", "3, 3"), ("content-length", "003")], body=b"abc")],
        {},
    ),
    (
        "pipelined",
        (b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
         b"POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi"
         b"DELETE /c?d HTTP/1.1\r\nHost: h\r\n\r\n"
         b"HEAD /e HTTP/1.1\r\nHost: h\r\n\r\n"),
        [
            req(path="/a"),
            req("POST", "/b", headers=[("host", "h"), ("content-length", "2")], body=b"hi"),
            req("DELETE", "/c", "d"),
            req("HEAD", "/e"),
        ],
        {},
    ),
    (
        "absolute form",
        b"GET http://example.com:8080/p/q?x=1 HTTP/1.1\r\nHost: example.com:8080\r\n\r\n",
        [req(path="/p/q", query="x=1", headers=[("host", "example.com:8080")])],
        {},
    ),
    # RFC 9112 3.2.2: the target's authority is the request's host; the Host field reports it
    (
        "absolute form https no path",
        b"GET https://example.com HTTP/1.1\r\nHost: h\r\n\r\n",
        [req(headers=[("host", "example.com")])],
        {},
    ),
    (
        "absolute form authority wins over Host",
        b"GET http://Example.com:8080/p?x=1 HTTP/1.1\r\nX: 1\r\nHost: other\r\nY: 2\r\n\r\n",
        [req(path="/p", query="x=1", headers=[("x", "1"), ("host", "Example.com:8080"), ("y", "2")])],
        {},
    ),
    (
        "absolute form authority wins over an empty Host",
        b"GET http://[::1]:80 HTTP/1.1\r\nHost:\r\n\r\n",
        [req(headers=[("host", "[::1]:80")])],
        {},
    ),
    (
        "absolute form on http/1.0 without Host gains one",
        b"GET http://example.com/p HTTP/1.0\r\nAccept: a\r\n\r\n",
        [req(path="/p", minor=0, headers=[("accept", "a"), ("host", "example.com")], keep_alive=False)],
        {},
    ),
    (
        "absolute form on http/1.0 without Host, fields at max_headers",
        b"GET http://e.x/ HTTP/1.0\r\nA: 1\r\nB: 2\r\n\r\n",
        [req(minor=0, headers=[("a", "1"), ("b", "2"), ("host", "e.x")], keep_alive=False)],
        {"max_headers": 2},
    ),
    ("absolute form query only", b"GET HTTP://h?x=1 HTTP/1.1\r\nHost: h\r\n\r\n", [req(query="x=1")], {}),
    ("options asterisk", b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", [req("OPTIONS", "*")], {}),
    ("options origin form", b"OPTIONS /x HTTP/1.1\r\nHost: h\r\n\r\n", [req("OPTIONS", "/x")], {}),
    ("other methods", b"PATCH /p HTTP/1.1\r\nHost: h\r\n\r\nTRACE / HTTP/1.1\r\nHost: h\r\n\r\n",
     [req("PATCH", "/p"), req("TRACE")], {}),
    ("extension method", b"M-SEARCH* / HTTP/1.1\r\nHost: h\r\n\r\nget / HTTP/1.1\r\nHost: h\r\n\r\n",
     [req("M-SEARCH*"), req("get")], {}),
    ("http/1.0 closes", b"GET / HTTP/1.0\r\n\r\n", [req(minor=0, headers=[], keep_alive=False)], {}),
    # a later HTTP/1.x is served as the highest 1.x this server implements (RFC 9110 2.5)
    ("HTTP/1.2 is 1.1", b"GET / HTTP/1.2\r\nHost: h\r\n\r\n", [req()], {}),
    (
        "HTTP/1.9 is 1.1, chunked and keep-alive included",
        (b"POST /up HTTP/1.9\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
         b"GET /b HTTP/1.3\r\nHost: h\r\nConnection: close\r\n\r\n"),
        [req("POST", "/up", headers=TE, body=b"abc"),
         req(path="/b", headers=[("host", "h"), ("connection", "close")], keep_alive=False)],
        {},
    ),
    (
        "http/1.0 keep-alive",
        b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
        [req(minor=0, headers=[("connection", "Keep-Alive")], keep_alive=True)],
        {},
    ),
    (
        "http/1.0 keep-alive and close",
        b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
        [req(minor=0, headers=[("connection", "keep-alive, close")], keep_alive=False)],
        {},
    ),
    (
        "http/1.1 close",
        b"GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, CLOSE\r\n\r\n",
        [req(headers=[("host", "h"), ("connection", "Upgrade, CLOSE")], keep_alive=False)],
        {},
    ),
    (
        "http/1.1 close in second field",
        b"GET / HTTP/1.1\r\nHost: h\r\nConnection: te\r\nConnection: ,close ,\r\n\r\n",
        [req(headers=[("host", "h"), ("connection", "te"), ("connection", ",close ,")], keep_alive=False)],
        {},
    ),
    (
        "not quite close",
        b"GET / HTTP/1.1\r\nHost: h\r\nConnection: closed\r\n\r\n",
        [req(headers=[("host", "h"), ("connection", "closed")], keep_alive=True)],
        {},
    ),
    (
        "ows trimming",
        b"GET / HTTP/1.1\r\nHost:h\r\nX-A: \t v \t\r\nX-B:\r\nX-C:   \r\nX-D: a  \tb\r\n\r\n",
        [req(headers=[("host", "h"), ("x-a", "v"), ("x-b", ""), ("x-c", ""), ("x-d", "a  \tb")])],
        {},
    ),
    (
        "case folding",
        b"GET / HTTP/1.1\r\nHOST: h\r\nContent-TYPE: text/plain\r\nX-MiXeD_~!#: V\r\n\r\n",
        [req(headers=[("host", "h"), ("content-type", "text/plain"), ("x-mixed_~!#", "V")])],
        {},
    ),
    (
        "duplicates kept in order",
        b"GET / HTTP/1.1\r\nX-Dup: 1\r\nHost: h\r\nX-Dup: 2\r\nAccept: a\r\nx-dup: 3\r\n\r\n",
        [req(headers=[("x-dup", "1"), ("host", "h"), ("x-dup", "2"), ("accept", "a"), ("x-dup", "3")])],
        {},
    ),
    (
        "obs-text is latin-1",
        b"GET / HTTP/1.1\r\nHost: h\r\nX-L: caf\xe9 \xff\x80\r\n\r\n",
        [req(headers=[("host", "h"), ("x-l", "caf\xe9 \xff\x80")])],
        {},
    ),
    (
        "long values cross vector boundaries",
        b"GET / HTTP/1.1\r\nHost: h\r\nX-Long: " + b"ab\tcd" * 40 + b"\xe9" + b"z" * 33 + b"\r\n\r\n",
        [req(headers=[("host", "h"), ("x-long", "ab\tcd" * 40 + "\xe9" + "z" * 33)])],
        {},
    ),
    ("leading empty lines", b"\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n",
     [req(), req(path="/2")], {}),
    (
        "chunked",
        CHUNKED_HEAD + b"5\r\nhello\r\nB\r\n 0123456789\r\n0\r\n\r\n",
        [req("POST", "/up", headers=TE, body=b"hello 0123456789")],
        {},
    ),
    (
        "chunked with extensions and trailers",
        CHUNKED_HEAD
        + b"5;name=value;q=\"a b\"\r\nhello\r\n6 ; ext\r\n world\r\n1;\t x\r\n!\r\n"
        + b"0\r\nChecksum: abc\r\nX-Trailer:\tv\xe9\r\n\r\n"
        + b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n",
        [req("POST", "/up", headers=TE, body=b"hello world!"), req(path="/next")],
        {},
    ),
    (
        # RFC 9112 7.1.1: *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] )
        "chunk extensions by the grammar",
        CHUNKED_HEAD
        + b'5;a="q\\"uo;te\\\\" ; b = c ;d;e=""\r\nhello\r\n'
        + b'3 ;\tf\t=\t"caf\xe9 \t\\\xff"\r\nabc\r\n'
        + b"0;last=1\r\n\r\n",
        [req("POST", "/up", headers=TE, body=b"helloabc")],
        {},
    ),
    (
        "chunked upper-case coding and hex",
        b"POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n00B\r\nhello world\r\n0000\r\n\r\n",
        [req("POST", "/up", headers=[("host", "h"), ("transfer-encoding", "Chunked")], body=b"hello world")],
        {},
    ),
    ("chunked empty", CHUNKED_HEAD + b"0\r\n\r\n", [req("POST", "/up", headers=TE)], {}),
    (
        "chunked transfer-encoding list with empty elements",
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: , chunked ,\r\n\r\n1\r\nx\r\n0\r\n\r\n",
        [req("POST", headers=[("host", "h"), ("transfer-encoding", ", chunked ,")], body=b"x")],
        {},
    ),
    (
        "binary body",
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\n\r\n\r\n\x00\xff\n\r",
        [req("POST", headers=[("host", "h"), ("content-length", "6")], body=b"\r\n\x00\xff\n\r")],
        {},
    ),
    ("target at max_target", b"GET /" + b"a" * 99 + b" HTTP/1.1\r\nHost: h\r\n\r\n", [req(path="/" + "a" * 99)],
     {"max_target": 100}),
    (
        "headers at max_headers",
        b"GET / HTTP/1.1\r\nHost: h\r\n" + b"".join(b"X-%d: %d\r\n" % (i, i) for i in range(4)) + b"\r\n",
        [req(headers=H + [(f"x-{i}", str(i)) for i in range(4)])],
        {"max_headers": 5},
    ),
    (
        "head at max_header_bytes",
        b"GET / HTTP/1.1\r\nHost: h\r\nX: " + b"v" * 18 + b"\r\n\r\n",
        [req(headers=[*H, ("x", "v" * 18)])],
        {"max_header_bytes": 50},
    ),
    (
        "body at max_body",
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789",
        [req("POST", headers=[("host", "h"), ("content-length", "10")], body=b"0123456789")],
        {"max_body": 10},
    ),
    (
        "chunked body at max_body",
        CHUNKED_HEAD + b"6\r\n012345\r\n4\r\n6789\r\n0\r\n\r\n",
        [req("POST", "/up", headers=TE, body=b"0123456789")],
        {"max_body": 10},
    ),
]


@pytest.mark.parametrize("raw, expected, limits", [v[1:] for v in VALID], ids=[v[0] for v in VALID])
def test_valid(raw: bytes, expected: list[Event], limits: dict[str, int]) -> None:
    for events in all_splittings(raw, **limits):
        assert events == expected


# ----------------------------------------------------------- malformed ones

GOOD_HEAD = b"GET / HTTP/1.1\r\nHost: h\r\n"


def with_fields(*lines: bytes, start: bytes = b"POST / HTTP/1.1\r\nHost: h\r\n") -> bytes:
    return start + b"".join(line + b"\r\n" for line in lines) + b"\r\n"


def chunked(body: bytes) -> bytes:
    return CHUNKED_HEAD + body


MALFORMED: list[tuple[str, bytes, int, dict[str, int]]] = [
    # request line
    ("bad method char", b"G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400, {}),
    ("empty method", b" / HTTP/1.1\r\nHost: h\r\n\r\n", 400, {}),
    ("method only", b"GET\r\nHost: h\r\n\r\n", 400, {}),
    ("two spaces after method", b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400, {}),
    ("two spaces before version", b"GET /  HTTP/1.1\r\nHost: h\r\n\r\n", 400, {}),
    ("tab separator", b"GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n", 400, {}),
    ("trailing space", b"GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400, {}),
    ("missing version", b"GET /\r\nHost: h\r\n\r\n", 400, {}),
    ("target with 8-bit byte", b"GET /caf\xe9 HTTP/1.1\r\nHost: h\r\n\r\n", 400, {}),
    ("target with DEL", b"GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n", 400, {}),
    ("target with NUL", b"GET /a\x00b HTTP/1.1\r\nHost: h\r\n\r\n", 400, {}),
    ("target with tab", b"GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n", 400, {}),
    ("target too long", b"GET /" + b"a" * 100 + b" HTTP/1.1\r\nHost: h\r\n\r\n", 414, {"max_target": 100}),
    ("target too long default", b"GET /" + b"a" * 8192 + b" HTTP/1.1\r\nHost: h\r\n\r\n", 414, {}),
    ("HTTP/1.2 without host", b"GET / HTTP/1.2\r\n\r\n", 400, {}),
    ("HTTP/2.0", b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505, {}),
    ("HTTP/3.0", b"GET / HTTP/3.0\r\nHost: h\r\n\r\n", 505, {}),
    ("HTTP/9.9", b"GET / HTTP/9.9\r\nHost: h\r\n\r\n", 505, {}),
    ("HTTP/1.x", b"GET / HTTP/1.x\r\nHost: h\r\n\r\n", 400, {}),
    ("HTTP/1.", b"GET / HTTP/1.\r\nHost: h\r\n\r\n", 400, {}),
    ("HTTP/0.9", b"GET / HTTP/0.9\r\n\r\n", 505, {}),
    ("HTTP/1.10", b"GET / HTTP/1.10\r\nHost: h\r\n\r\n", 400, {}),
    ("lower-case version", b"GET / http/1.1\r\nHost: h\r\n\r\n", 400, {}),
    ("HTTP/1", b"GET / HTTP/1\r\nHost: h\r\n\r\n", 400, {}),
    ("HTTP/11", b"GET / HTTP/11\r\nHost: h\r\n\r\n", 400, {}),
    ("version garbage", b"GET / FOO/1.1\r\nHost: h\r\n\r\n", 400, {}),
    ("bare LF after request line", b"GET / HTTP/1.1\nHost: h\r\n\r\n", 400, {}),
    ("bare LF after field", b"GET / HTTP/1.1\r\nHost: h\n\r\n", 400, {}),
    ("bare LF at end", b"GET / HTTP/1.1\r\nHost: h\r\n\n", 400, {}),
    ("only bare LFs", b"GET / HTTP/1.1\nHost: h\n\n", 400, {}),
    ("bare LF before request line", b"\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400, {}),
    ("CR without LF in request line", b"GET / HTTP/1.1\r\r\nHost: h\r\n\r\n", 400, {}),
    ("too many empty lines", b"\r\n" * 9 + b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", 400, {}),
    ("origin form without slash", b"GET foo HTTP/1.1\r\nHost: h\r\n\r\n", 400, {}),
    ("asterisk with GET", b"GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400, {}),
    ("asterisk with suffix", b"OPTIONS *x HTTP/1.1\r\nHost: h\r\n\r\n", 400, {}),
    ("other scheme", b"GET ftp://h/x HTTP/1.1\r\nHost: h\r\n\r\n", 400, {}),
    ("absolute form without host", b"GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n", 400, {}),
    ("absolute form with userinfo", b"GET http://u:p@h/x HTTP/1.1\r\nHost: h\r\n\r\n", 400, {}),
    ("absolute form with a port only", b"GET http://:80/x HTTP/1.1\r\nHost: h\r\n\r\n", 400, {}),
    ("absolute form with a bad port", b"GET http://h:8o/x HTTP/1.1\r\nHost: h\r\n\r\n", 400, {}),
    ("absolute form with an open bracket", b"GET http://[::1/x HTTP/1.1\r\nHost: h\r\n\r\n", 400, {}),
    ("absolute form with a bad escape", b"GET http://a%zz/x HTTP/1.1\r\nHost: h\r\n\r\n", 400, {}),
    ("absolute form with a backslash", b"GET http://a\\b/x HTTP/1.1\r\nHost: h\r\n\r\n", 400, {}),
    ("absolute form with a bad Host", b"GET http://h/x HTTP/1.1\r\nHost: a b\r\n\r\n", 400, {}),
    ("absolute form without Host on http/1.1", b"GET http://h/x HTTP/1.1\r\n\r\n", 400, {}),
    ("authority form", b"GET h:80 HTTP/1.1\r\nHost: h\r\n\r\n", 400, {}),
    # a fragment is never part of a request target (RFC 9112 3.2, RFC 9110 7.1)
    ("fragment", b"GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n", 400, {}),
    ("fragment only", b"GET # HTTP/1.1\r\nHost: h\r\n\r\n", 400, {}),
    ("empty fragment", b"GET /# HTTP/1.1\r\nHost: h\r\n\r\n", 400, {}),
    ("fragment after query", b"GET /p?q=1#f HTTP/1.1\r\nHost: h\r\n\r\n", 400, {}),
    ("fragment in absolute form", b"GET http://h/p#f HTTP/1.1\r\nHost: h\r\n\r\n", 400, {}),
    ("fragment right after authority", b"GET http://h#f HTTP/1.1\r\nHost: h\r\n\r\n", 400, {}),
    ("fragment after asterisk", b"OPTIONS *# HTTP/1.1\r\nHost: h\r\n\r\n", 400, {}),
    ("fragment in a long target", b"GET /" + b"a" * 90 + b"#" + b"b" * 20 + b" HTTP/1.1\r\nHost: h\r\n\r\n", 400,
     {"max_target": 100}),
    ("CONNECT", b"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n", 501, {}),
    ("TLS handshake", bytes.fromhex("16030100f4010000f00303") + b"\x00" * 40, 400, {}),
    # field lines
    ("space before colon", b"GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400, {}),
    ("tab before colon", b"GET / HTTP/1.1\r\nHost\t: h\r\n\r\n", 400, {}),
    ("empty name", b"GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n", 400, {}),
    ("no colon", b"GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", 400, {}),
    ("bad name char", b"GET / HTTP/1.1\r\nHost: h\r\nX(A: v\r\n\r\n", 400, {}),
    ("8-bit name", b"GET / HTTP/1.1\r\nHost: h\r\nX\xe9: v\r\n\r\n", 400, {}),
    ("obs-fold space", b"GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n  more\r\n\r\n", 400, {}),
    ("obs-fold tab", b"GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\tmore\r\n\r\n", 400, {}),
    ("space before first field", b"GET / HTTP/1.1\r\n Host: h\r\n\r\n", 400, {}),
    ("NUL in value", b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x00b\r\n\r\n", 400, {}),
    ("CTL in value", b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x01b\r\n\r\n", 400, {}),
    ("DEL in value", b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x7fb\r\n\r\n", 400, {}),
    ("ESC in long value", b"GET / HTTP/1.1\r\nHost: h\r\nX: " + b"a" * 37 + b"\x1b\r\n\r\n", 400, {}),
    ("CR in value", b"GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", 400, {}),
    ("missing host", b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", 400, {}),
    ("two hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400, {}),
    ("two hosts http/1.0", b"GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", 400, {}),
    ("too many fields", GOOD_HEAD + b"".join(b"X-%d: v\r\n" % i for i in range(100)) + b"\r\n", 431, {}),
    ("too many fields small", GOOD_HEAD + b"A: 1\r\nB: 2\r\n\r\n", 431, {"max_headers": 2}),
    ("head too large", GOOD_HEAD + b"X: " + b"v" * 19 + b"\r\n\r\n", 431, {"max_header_bytes": 50}),
    ("head too large default", GOOD_HEAD + b"X: " + b"v" * 65536 + b"\r\n\r\n", 431, {}),
    # Content-Length
    ("negative length", with_fields(b"Content-Length: -5"), 400, {}),
    ("plus sign", with_fields(b"Content-Length: +5"), 400, {}),
    ("space inside", with_fields(b"Content-Length: 5 5"), 400, {}),
    ("hex length", with_fields(b"Content-Length: 0x5"), 400, {}),
    ("letter suffix", with_fields(b"Content-Length: 5a"), 400, {}),
    ("empty length", with_fields(b"Content-Length:"), 400, {}),
    ("empty list element", with_fields(b"Content-Length: 5,"), 400, {}),
    ("different list", with_fields(b"Content-Length: 5, 6"), 400, {}),
    ("different repeats", with_fields(b"Content-Length: 5", b"Content-Length: 6"), 400, {}),
    ("length over max_body", with_fields(b"Content-Length: 1048577"), 413, {}),
    ("length over small max_body", with_fields(b"Content-Length: 11"), 413, {"max_body": 10}),
    ("absurd digits", with_fields(b"Content-Length: " + b"9" * 400), 413, {}),
    ("absurd over 2**64", with_fields(b"Content-Length: 18446744073709551616"), 413, {}),
    ("absurd with letter", with_fields(b"Content-Length: " + b"9" * 400 + b"x"), 400, {}),
    # Transfer-Encoding
    ("te and cl", with_fields(b"Content-Length: 5", b"Transfer-Encoding: chunked"), 400, {}),
    ("cl after te", with_fields(b"Transfer-Encoding: chunked", b"Content-Length: 0"), 400, {}),
    ("te in http/1.0", with_fields(b"Transfer-Encoding: chunked", start=b"POST / HTTP/1.0\r\n"), 400, {}),
    ("chunked twice", with_fields(b"Transfer-Encoding: chunked, chunked"), 400, {}),
    ("chunked twice across fields", with_fields(b"Transfer-Encoding: chunked", b"Transfer-Encoding: chunked"), 400, {}),
    ("chunked not final", with_fields(b"Transfer-Encoding: chunked, gzip"), 400, {}),
    ("chunked not final across fields", with_fields(b"Transfer-Encoding: chunked", b"Transfer-Encoding: gzip"), 400,
     {}),
    ("chunked with parameter", with_fields(b"Transfer-Encoding: chunked;x=1"), 400, {}),
    ("te bad token", with_fields(b"Transfer-Encoding: chunked x"), 400, {}),
    ("te empty", with_fields(b"Transfer-Encoding:"), 400, {}),
    ("gzip then chunked", with_fields(b"Transfer-Encoding: gzip, chunked"), 501, {}),
    ("gzip across fields", with_fields(b"Transfer-Encoding: gzip", b"Transfer-Encoding: chunked"), 501, {}),
    ("gzip alone", with_fields(b"Transfer-Encoding: gzip"), 501, {}),
    ("deflate", with_fields(b"Transfer-Encoding: deflate"), 501, {}),
    ("unknown coding", with_fields(b"Transfer-Encoding: x-custom, chunked"), 501, {}),
    # chunked body
    ("bad chunk size", chunked(b"z\r\n"), 400, {}),
    ("empty chunk size", chunked(b"\r\nhello\r\n0\r\n\r\n"), 400, {}),
    ("negative chunk size", chunked(b"-5\r\nhello\r\n0\r\n\r\n"), 400, {}),
    ("chunk size 0x prefix", chunked(b"0x5\r\nhello\r\n0\r\n\r\n"), 400, {}),
    ("chunk size 17 digits", chunked(b"00000000000000005\r\nhello\r\n0\r\n\r\n"), 400, {}),
    ("chunk size overflow", chunked(b"fffffffffffffffff\r\n"), 400, {}),
    ("whitespace without extension", chunked(b"5 \r\nhello\r\n0\r\n\r\n"), 400, {}),
    ("leading whitespace", chunked(b" 5\r\nhello\r\n0\r\n\r\n"), 400, {}),
    ("CTL in extension", chunked(b"5;a=\x01\r\nhello\r\n0\r\n\r\n"), 400, {}),
    ("DEL in extension", chunked(b"5;a\x7f\r\nhello\r\n0\r\n\r\n"), 400, {}),
    ("chunk line too long", chunked(b"5;" + b"x" * 4100 + b"\r\nhello\r\n0\r\n\r\n"), 400, {}),
    ("chunk line too long in quotes", chunked(b'5;a="' + b"x" * 4100 + b'"\r\nhello\r\n0\r\n\r\n'), 400, {}),
    ("unterminated quoted extension", chunked(b'5;a="abc\r\nhello\r\n0\r\n\r\n'), 400, {}),
    ("unterminated quoted extension at the end", chunked(b'0;a="\r\n\r\n'), 400, {}),
    ("quoted extension ends in a backslash", chunked(b'5;a="abc\\\r\nhello\r\n0\r\n\r\n'), 400, {}),
    ("quoted pair with CTL", chunked(b'5;a="\\\x01"\r\nhello\r\n0\r\n\r\n'), 400, {}),
    ("CTL in quoted extension", chunked(b'5;a="\x01"\r\nhello\r\n0\r\n\r\n'), 400, {}),
    ("empty extension", chunked(b"5;\r\nhello\r\n0\r\n\r\n"), 400, {}),
    ("two semicolons", chunked(b"5;;a\r\nhello\r\n0\r\n\r\n"), 400, {}),
    ("extension without name", chunked(b"5;=v\r\nhello\r\n0\r\n\r\n"), 400, {}),
    ("extension with empty value", chunked(b"5;a=\r\nhello\r\n0\r\n\r\n"), 400, {}),
    ("extension with two values", chunked(b"5;a=b=c\r\nhello\r\n0\r\n\r\n"), 400, {}),
    ("space inside extension value", chunked(b"5;a=b c\r\nhello\r\n0\r\n\r\n"), 400, {}),
    ("space inside extension name", chunked(b"5;a b\r\nhello\r\n0\r\n\r\n"), 400, {}),
    ("non-token extension name", chunked(b"5;a(b\r\nhello\r\n0\r\n\r\n"), 400, {}),
    ("non-token extension value", chunked(b"5;a=@\r\nhello\r\n0\r\n\r\n"), 400, {}),
    ("8-bit unquoted extension value", chunked(b"5;a=\xe9\r\nhello\r\n0\r\n\r\n"), 400, {}),
    ("text after quoted value", chunked(b'5;a="x"y\r\nhello\r\n0\r\n\r\n'), 400, {}),
    ("whitespace after extension name", chunked(b"5;a \r\nhello\r\n0\r\n\r\n"), 400, {}),
    ("whitespace after extension value", chunked(b'5;a="x"\t\r\nhello\r\n0\r\n\r\n'), 400, {}),
    ("bare LF after size", chunked(b"5\nhello\r\n0\r\n\r\n"), 400, {}),
    ("data longer than size", chunked(b"5\r\nhello!\r\n0\r\n\r\n"), 400, {}),
    ("data without CRLF", chunked(b"5\r\nhelloX0\r\n\r\n"), 400, {}),
    ("data with bare LF", chunked(b"5\r\nhello\n0\r\n\r\n"), 400, {}),
    ("chunk over max_body", chunked(b"b\r\n"), 413, {"max_body": 10}),
    ("chunks add up over max_body", chunked(b"6\r\n012345\r\n5\r\n"), 413, {"max_body": 10}),
    ("huge chunk", chunked(b"ffffffffffffffff\r\n"), 413, {}),
    ("trailer obs-fold", chunked(b"0\r\nX: 1\r\n 2\r\n\r\n"), 400, {}),
    ("trailer space before colon", chunked(b"0\r\nX : 1\r\n\r\n"), 400, {}),
    ("trailer empty name", chunked(b"0\r\n: 1\r\n\r\n"), 400, {}),
    ("trailer without colon", chunked(b"0\r\nX\r\n\r\n"), 400, {}),
    ("trailer CTL in value", chunked(b"0\r\nX: a\x00\r\n\r\n"), 400, {}),
    ("trailer bare LF", chunked(b"0\r\nX: a\n\r\n"), 400, {}),
    ("final CRLF missing", chunked(b"0\r\n\rX"), 400, {}),
    ("trailer too large", chunked(b"0\r\nX: " + b"a" * 200 + b"\r\n\r\n"), 431, {"max_header_bytes": 120}),
]


@pytest.mark.parametrize("raw, status, limits", [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed(raw: bytes, status: int, limits: dict[str, int]) -> None:
    for events in all_splittings(raw, **limits):
        events = without_continue(events)
        assert events, "no error reported"
        last = events[-1]
        assert last[0] == EV_ERROR, events
        assert last[1] == status, events
        assert isinstance(last[2], str) and last[2][0].isupper() and len(last[2]) > 8
        assert all(e[0] == EV_REQUEST for e in events[:-1])


def test_error_messages() -> None:
    def message(raw: bytes) -> str:
        return feed_whole(raw)[-1][2]

    assert message(with_fields(b"Content-Length: 5", b"Transfer-Encoding: chunked")) == (
        "Content-Length and Transfer-Encoding together"
    )
    assert message(b"CONNECT h:443 HTTP/1.1\r\nHost: h\r\n\r\n") == "CONNECT is not supported"
    assert message(with_fields(b"Transfer-Encoding: gzip")) == "Unsupported transfer coding"
    assert message(b"GET / HTTP/1.1\r\n\r\n") == "Missing Host header"


def test_chunk_extension_messages() -> None:
    for ext, message in [
        (b'a="abc', "Unterminated quoted string in chunk extension"),
        (b'a="abc\\', "Unterminated quoted string in chunk extension"),
        (b"", "Invalid chunk extension"),
        (b"a=b c", "Invalid chunk extension"),
    ]:
        for events in all_splittings(chunked(b"5;" + ext + b"\r\nhello\r\n0\r\n\r\n")):
            assert events == [(EV_ERROR, 400, message)], ext


# RFC 9110 7.2: Host = uri-host [ ":" port ], uri-host and port as in RFC 3986 3.2.2 and 3.2.3.
GOOD_HOSTS = [
    "",  # no authority in the target URI (RFC 9112 3.2)
    "h", "example.com:8080", "EXAMPLE.com", "xn--bcher-kva.example", "h:", "h:0", "h:65535", "h:123456",
    "127.0.0.1", "127.0.0.1:80", "999.1.1.1",  # not an IPv4address, but a valid reg-name
    "a%20b", "%C3%A9", "-._~!$&'()*+,;=", "a,b",
    "[::1]", "[::1]:8080", "[::]", "[1::]", "[::8]", "[1:2:3:4:5:6:7:8]", "[1:2:3:4:5:6:7::]", "[::2:3:4:5:6:7:8]",
    "[1:2:3:4:5:6::8]", "[ABCD:ef01::0]", "[::ffff:192.0.2.1]", "[1:2:3:4:5:6:1.2.3.4]", "[::1.2.3.4]",
    "[1::255.255.255.255]:1", "[v1.x]", "[V1f.a:b!$]:80",
]
BAD_HOSTS = [
    "a b", "a\tb", "a@b", "u:p@h", "a/b", "a?b", "a\\b", 'a"b', "a<b", "a{b", "a|b", "a^b", "a`b", "a[b", "caf\xe9",
    "a%", "a%2", "a%zz", "a%g0",
    "h:8o", "h:-1", "h:+1", "h: 80", "h:80:80", ":80", ":",
    "::1", "[::1", "::1]", "[::1]x", "[::1]:x", "[::1]]", "[[::1]]", "[]", "[:]", "[:1]", "[1:]", "[1:2]",
    "[1:2:3:4:5:6:7]", "[1:2:3:4:5:6:7:8:9]", "[1:2:3:4:5:6:7:8::]", "[::1:2:3:4:5:6:7:8]", "[1::2::3]", ":::",
    "[:::]", "[12345::]", "[g::]", "[::1.2.3]", "[::1.2.3.256]", "[::01.2.3.4]", "[::1.2.3.4.5]", "[1.2.3.4]",
    "[::1.2.3.4:1]", "[1:2:3:4:5:6:7:1.2.3.4]", "[v1]", "[v.x]", "[vx.y]", "[v1.]", "[v1.a/b]", "[v1.a]b]",
    "[fe80::1%25eth0]",  # RFC 6874 zone IDs are not part of RFC 3986's IP-literal, which RFC 9110 uses
]


@pytest.mark.parametrize("host", GOOD_HOSTS)
def test_host_values_accepted(host: str) -> None:
    for minor in (0, 1):
        raw = b"GET / HTTP/1.%d\r\nHost: %s\r\n\r\n" % (minor, host.encode())
        for events in all_splittings(raw):
            assert events == [req(minor=minor, headers=[("host", host)], keep_alive=minor == 1)]


@pytest.mark.parametrize("host", BAD_HOSTS)
def test_host_values_refused(host: str) -> None:
    for minor in (0, 1):
        raw = b"GET / HTTP/1.%d\r\nHost: %s\r\n\r\n" % (minor, host.encode("latin-1"))
        for events in all_splittings(raw):
            assert events == [(EV_ERROR, 400, "Invalid Host header")]


def test_absolute_form_authority_messages() -> None:
    for raw in (b"GET http://:80/ HTTP/1.1\r\nHost: h\r\n\r\n", b"GET http://h:x/ HTTP/1.1\r\nHost: h\r\n\r\n",
                b"GET http://u@h/ HTTP/1.1\r\nHost: h\r\n\r\n"):
        for events in all_splittings(raw):
            assert events == [(EV_ERROR, 400, "Invalid authority in absolute-form target")]


def test_fragment_refused_with_its_message() -> None:
    for raw in (b"GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n", b"GET # HTTP/1.1\r\nHost: h\r\n\r\n",
                b"GET http://h#f HTTP/1.1\r\nHost: h\r\n\r\n"):
        for events in all_splittings(raw):
            assert events == [(EV_ERROR, 400, "Fragment (#) in request target")]
    # refused at the '#', before the rest of the head has arrived
    assert Parser().feed(b"GET /a#") == [(EV_ERROR, 400, "Fragment (#) in request target")]


# ---------------------------------------------------------------- behaviour


def test_constants() -> None:
    assert (EV_REQUEST, EV_CONTINUE, EV_ERROR) == (0, 1, 2)


def test_dead_after_error() -> None:
    p = Parser()
    assert p.feed(b"GET / HTTP/1.1\r\nHost: h\r\n\r\nBAD REQUEST\r\n\r\n")[-1][0] == EV_ERROR
    assert p.state == 3
    assert p.buffered == 0
    assert p.feed(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n") == []
    assert p.feed(b"") == []
    assert p.state == 3


def test_events_before_error_kept_and_nothing_after() -> None:
    raw = (
        b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"
        b"POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx"
        b"GET /3 HTTP/1.1\r\nHost : h\r\n\r\n"
        b"GET /4 HTTP/1.1\r\nHost: h\r\n\r\n"
    )
    for events in all_splittings(raw):
        assert [e[0] for e in events] == [EV_REQUEST, EV_REQUEST, EV_ERROR]
        assert [e[2] for e in events[:2]] == ["/1", "/2"]
        assert events[2][1] == 400


def test_state_and_buffered() -> None:
    p = Parser()
    assert (p.state, p.buffered) == (0, 0)
    assert p.feed(b"") == []
    assert (p.state, p.buffered) == (0, 0)
    assert p.feed(b"POST / HTTP/1.1\r\nHost: h\r\n") == []
    assert (p.state, p.buffered) == (1, 26)
    assert p.feed(b"Content-Length: 10\r\n\r\n0123") == []
    assert (p.state, p.buffered) == (2, 4)
    assert p.feed(b"456") == []
    assert (p.state, p.buffered) == (2, 7)
    events = p.feed(b"789GET")
    assert events == [req("POST", headers=[("host", "h"), ("content-length", "10")], body=b"0123456789")]
    assert (p.state, p.buffered) == (1, 3)
    assert p.feed(b" / HTTP/1.1\r\nHost: h\r\n\r\n") == [req()]
    assert (p.state, p.buffered) == (0, 0)
    # chunked: buffered counts decoded body bytes
    assert p.feed(CHUNKED_HEAD + b"5\r\nhel") == []
    assert (p.state, p.buffered) == (2, 3)
    # an empty line alone is skipped, not buffered
    p.reset()
    assert p.feed(b"\r\n") == []
    assert (p.state, p.buffered) == (0, 0)
    assert p.feed(b"\r") == []
    assert (p.state, p.buffered) == (1, 1)


def test_reset() -> None:
    p = Parser()
    p.feed(b"GET / HTTP/1.1\r\nHo")
    p.reset()
    assert (p.state, p.buffered) == (0, 0)
    assert p.feed(b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n") == [req(path="/x")]
    p.feed(b"GARBAGE\x00\r\n\r\n")
    assert p.state == 3
    p.reset()
    assert p.state == 0
    assert p.feed(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n") == [req()]


def test_bytes_like_inputs() -> None:
    raw = b"GET /b HTTP/1.1\r\nHost: h\r\n\r\n"
    for data in (bytearray(raw), memoryview(raw), memoryview(b"xx" + raw)[2:], memoryview(bytearray(raw))):
        assert Parser().feed(data) == [req(path="/b")]
    with pytest.raises(TypeError):
        Parser().feed("GET / HTTP/1.1\r\n\r\n")  # type: ignore[arg-type]
    with pytest.raises(BufferError):
        Parser().feed(memoryview(raw)[::2])


def test_caller_buffer_not_retained() -> None:
    """Leftover bytes are copied: mutating the fed buffer changes nothing."""
    p = Parser()
    buf = bytearray(b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHo")
    assert p.feed(buf) == [req(path="/a")]
    buf[:] = b"X" * len(buf)
    assert p.feed(b"st: h\r\n\r\n") == [req(path="/b")]
    body = bytearray(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nab")
    assert p.feed(body) == []
    body[:] = b"Z" * len(body)
    assert p.feed(b"cd")[0][7] == b"abcd"


def test_limits_arguments() -> None:
    with pytest.raises(TypeError):
        Parser(100)  # type: ignore[misc]
    with pytest.raises(ValueError):
        Parser(max_body=-1)
    with pytest.raises(ValueError):
        Parser(max_target=0)
    with pytest.raises(TypeError):
        Parser(max_bogus=1)  # type: ignore[call-arg]
    p = Parser(max_target=10, max_header_bytes=1000, max_headers=5, max_body=100)
    assert p.feed(b"GET /123456789 HTTP/1.1\r\nHost: h\r\n\r\n")[0][0] == EV_REQUEST
    assert p.feed(b"GET /1234567890 HTTP/1.1\r\nHost: h\r\n\r\n")[0][1] == 414


def test_interned_strings() -> None:
    raw = b"GET / HTTP/1.1\r\nHost: h\r\nUser-Agent: u\r\nAccept: a\r\nContent-Type: t\r\nConnection: c\r\n\r\n"
    a = Parser().feed(raw)[0]
    b = Parser().feed(raw.replace(b"Host", b"HOST"))[0]
    assert a[1] is b[1]  # method
    assert a[2] is b[2]  # "/"
    for (na, _), (nb, _) in zip(a[5], b[5], strict=True):
        assert na is nb
    for m in (b"POST", b"PUT", b"PATCH", b"DELETE", b"HEAD", b"OPTIONS"):
        r1 = Parser().feed(m + b" / HTTP/1.1\r\nHost: h\r\n\r\n")[0]
        r2 = Parser().feed(m + b" / HTTP/1.1\r\nHost: h\r\n\r\n")[0]
        assert r1[1] is r2[1] == m.decode()


# ----------------------------------------------------------- early verdicts


def test_414_before_the_head_ends() -> None:
    p = Parser(max_target=100)
    assert p.feed(b"GET /" + b"a" * 98) == []
    assert p.feed(b"b") == []  # 100 target bytes: still fine
    assert p.feed(b"c") == [(EV_ERROR, 414, "Request target too long")]


def test_431_before_the_head_ends() -> None:
    p = Parser(max_header_bytes=100)
    assert p.feed(b"GET / HTTP/1.1\r\nX: " + b"v" * 81) == []
    assert p.buffered == 100
    assert p.feed(b"v")[0][:2] == (EV_ERROR, 431)
    p = Parser(max_headers=3)
    assert p.feed(b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n") == []
    assert p.feed(b"D: 4\r\n")[0][:2] == (EV_ERROR, 431)


def test_garbage_refused_at_first_byte() -> None:
    assert Parser().feed(b"\x16\x03\x01")[0][:2] == (EV_ERROR, 400)
    assert Parser().feed(b"GET /\x00")[0][:2] == (EV_ERROR, 400)


def test_413_right_after_head() -> None:
    p = Parser(max_body=1000)
    assert p.feed(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1001\r\n\r\n")[0][:2] == (EV_ERROR, 413)
    p = Parser(max_body=1000)
    assert p.feed(CHUNKED_HEAD + b"3e9\r\n")[0][:2] == (EV_ERROR, 413)


def test_large_announced_body_costs_nothing_up_front() -> None:
    p = Parser(max_body=1 << 30)
    assert p.feed(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1073741824\r\n\r\n") == []
    assert (p.state, p.buffered) == (2, 0)
    assert p.feed(b"x" * 1000) == []
    assert p.buffered == 1000


def test_body_in_many_pieces() -> None:
    body = bytes(range(256)) * 400  # > 64 KiB: the buffer is released after use
    p = Parser()
    assert p.feed(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n" % len(body)) == []
    first, last = body[:-1000], body[-1000:]
    for i in range(0, len(first), 1000):
        assert p.feed(first[i : i + 1000]) == []
    assert p.buffered == len(first)
    events = p.feed(last + b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
    assert [e[7] for e in events] == [body, b""]


def test_slow_sender_is_linear() -> None:
    """A 60 KB head one byte per feed: a rescan per feed would be quadratic."""
    head = (
        b"GET /" + b"p" * 8000 + b" HTTP/1.1\r\nHost: h\r\n"
        + b"".join(b"X-%02d: " % i + b"v" * 300 + b"\r\n" for i in range(60))
        + b"X-Big: " + b"w" * 33500 + b"\r\n\r\n"
    )
    assert 59_000 < len(head) < 61_000
    p = Parser()
    feed = p.feed
    t0 = time.perf_counter()
    out = []
    for i in range(len(head)):
        out += feed(head[i : i + 1])
    elapsed = time.perf_counter() - t0
    assert len(out) == 1 and out[0][0] == EV_REQUEST
    assert out[0][5][-1] == ("x-big", "w" * 33500)
    assert elapsed < 2.0, elapsed


# ------------------------------------------------------------ 100-continue

EXPECT_HEAD = b"PUT /f HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"
EXPECT_REQ = req("PUT", "/f", headers=[("host", "h"), ("expect", "100-continue"), ("content-length", "4")],
                 body=b"data")


def test_continue_after_head() -> None:
    p = Parser()
    assert p.feed(EXPECT_HEAD) == [(EV_CONTINUE,)]
    assert p.feed(b"da") == []
    assert p.feed(b"ta") == [EXPECT_REQ]


def test_continue_with_partial_body() -> None:
    p = Parser()
    assert p.feed(EXPECT_HEAD + b"d") == [(EV_CONTINUE,)]
    assert p.feed(b"ata") == [EXPECT_REQ]


def test_no_continue_when_body_already_there() -> None:
    assert Parser().feed(EXPECT_HEAD + b"data") == [EXPECT_REQ]


def test_continue_exactly_once_bytewise() -> None:
    events = feed_pieces(EXPECT_HEAD + b"data")
    assert events == [(EV_CONTINUE,), EXPECT_REQ]


def test_no_continue_without_body_or_on_http10() -> None:
    raw = b"PUT /f HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n"
    headers = [("host", "h"), ("expect", "100-continue"), ("content-length", "0")]
    assert feed_pieces(raw) == [req("PUT", "/f", headers=headers)]
    raw = b"PUT /f HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"
    p = Parser()
    assert p.feed(raw) == []
    assert p.feed(b"ok")[0][7] == b"ok"
    raw = b"PUT /f HTTP/1.1\r\nHost: h\r\nExpect: 100-wait\r\nContent-Length: 2\r\n\r\n"
    assert Parser().feed(raw) == []


def test_continue_case_insensitive_and_chunked() -> None:
    p = Parser()
    head = b"POST / HTTP/1.1\r\nHost: h\r\nEXPECT: 100-Continue\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert p.feed(head) == [(EV_CONTINUE,)]
    assert p.feed(b"2\r\nok\r\n") == []
    events = p.feed(b"0\r\n\r\n")
    assert len(events) == 1 and events[0][7] == b"ok"


def test_continue_in_pipeline() -> None:
    p = Parser()
    events = p.feed(b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n" + EXPECT_HEAD + b"da")
    assert events == [req(path="/a"), (EV_CONTINUE,)]
    assert p.feed(b"taGET /b HTTP/1.1\r\nHost: h\r\n\r\n") == [EXPECT_REQ, req(path="/b")]


# ---------------------------------------------------------------- hot path


def test_hot_path_speed() -> None:
    """A wrk-style GET parses in well under a microsecond; assert a loose bound."""
    raw = b"GET /plaintext HTTP/1.1\r\nHost: localhost:8080\r\nConnection: keep-alive\r\n\r\n"
    p = Parser()
    feed = p.feed
    n = 20000
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(n):
            feed(raw)
        best = min(best, (time.perf_counter() - t0) / n)
    assert best < 5e-6, best


# -- bodies past max_body, streamed (max_stream_body) ------------------------------------------------

STREAMING = {"max_body": 10, "max_stream_body": 100}


def test_a_long_body_streams_right_after_its_head() -> None:
    p = Parser(**STREAMING)
    head = b"POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 25\r\nExpect: 100-continue\r\n\r\n"
    events = p.feed(head)
    assert events[0] == (3, "POST", "/u", "", 1, [("host", "h"), ("content-length", "25"),
                                                   ("expect", "100-continue")], True, None)
    assert events[1:] == [(EV_CONTINUE,)]  # announced first: the layer above may refuse it before the 100
    assert (p.state, p.buffered) == (2, 0)
    assert p.feed(b"x" * 20) == [(4, b"x" * 20)]
    assert p.buffered == 0  # pieces are handed out where they lie, never gathered
    assert p.feed(b"y" * 5 + b"GET / HTTP/1.1\r\nHost: h\r\n\r\n") == [(4, b"yyyyy"), (5,), req("GET", "/")]
    assert p.state == 0


def test_a_chunked_body_streams_once_its_sizes_pass_max_body() -> None:
    p = Parser(**STREAMING)
    assert p.feed(CHUNKED_HEAD + b"5\r\nabcde\r\n") == []  # still under max_body: buffered
    events = p.feed(b"8\r\n1234")
    assert events[0][0] == 3 and events[1:] == [(4, b"abcde"), (4, b"1234")]
    assert p.feed(b"5678\r\n0\r\n\r\n") == [(4, b"5678"), (5,)]


def test_a_chunk_announcing_too_much_streams_before_its_bytes() -> None:
    p = Parser(**STREAMING)
    events = p.feed(CHUNKED_HEAD + b"40\r\n")
    assert [e[0] for e in events] == [3]


def test_streamed_limits() -> None:
    events = Parser(**STREAMING).feed(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 101\r\n\r\n")
    assert events[0][:2] == (EV_ERROR, 413)
    p = Parser(**STREAMING)
    events = p.feed(CHUNKED_HEAD + b"40\r\n" + b"a" * 64 + b"\r\n30\r\n")
    assert [e[0] for e in events] == [3, 4, EV_ERROR] and events[-1][1] == 413
    # Without a streaming limit above max_body, nothing streams.
    assert Parser(max_body=10, max_stream_body=10).feed(
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n")[0][:2] == (EV_ERROR, 413)


def test_broken_framing_inside_a_streamed_body() -> None:
    p = Parser(**STREAMING)
    events = p.feed(CHUNKED_HEAD + b"20\r\n" + b"a" * 32 + b"\r\nzz\r\n")
    assert [e[0] for e in events] == [3, 4, EV_ERROR] and events[-1][1] == 400
    assert p.state == 3
