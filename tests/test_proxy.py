"""Behind a proxy: forwarding headers, --root-path, --limit-concurrency and the Server/Date headers.

The header rules are tested on their own first (a table of cases, a table of hostile ones, hypothesis), then
end to end on every transport (interpreted and compiled x uring, uvloop, asyncio) with real clients.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings, strategies as st

from covet import Covet, Request
from covet.runtime.proxy import Trust, forwarded
from covet.testing import TestClient
from tests.conftest import APPS, TRANSPORTS, Server, app_server, build_project

H = list[tuple[str, str]]


def said(headers: H, allow: str = "127.0.0.1") -> tuple[tuple[str, int] | None, str | None, str | None]:
    f = forwarded(Trust(allow), headers)
    return f.client, f.scheme, f.host


# -- the rules, without a server ---------------------------------------------------------------------------------

CASES: list[tuple[str, H, str, tuple[tuple[str, int] | None, str | None, str | None]]] = [
    # X-Forwarded-For: the right-most untrusted hop is the client
    ("one", [("x-forwarded-for", "203.0.113.7")], "127.0.0.1", (("203.0.113.7", 0), None, None)),
    ("right-most", [("x-forwarded-for", "198.51.100.1, 203.0.113.7")], "127.0.0.1", (("203.0.113.7", 0), None, None)),
    ("skip trusted", [("x-forwarded-for", "203.0.113.7, 10.0.0.2")], "10.0.0.0/8", (("203.0.113.7", 0), None, None)),
    ("all trusted", [("x-forwarded-for", "10.0.0.1, 10.0.0.2")], "10.0.0.0/8", (("10.0.0.1", 0), None, None)),
    ("mapped hop", [("x-forwarded-for", "203.0.113.7, ::ffff:10.0.0.2")], "10.0.0.0/8",
     (("203.0.113.7", 0), None, None)),
    ("mapped address", [("x-forwarded-for", "203.0.113.7, ::ffff:127.0.0.1")], "127.0.0.1",
     (("203.0.113.7", 0), None, None)),
    ("two lines", [("x-forwarded-for", "1.1.1.1"), ("x-forwarded-for", "2.2.2.2")], "", (("2.2.2.2", 0), None, None)),
    ("v6 port", [("x-forwarded-for", "[2001:DB8::1]:8080")], "", (("2001:db8::1", 8080), None, None)),
    ("v4 port", [("x-forwarded-for", "203.0.113.7:1234")], "", (("203.0.113.7", 1234), None, None)),
    ("v6 bare", [("x-forwarded-for", "2001:db8::1")], "", (("2001:db8::1", 0), None, None)),
    ("spoof left", [("x-forwarded-for", "garbage\x01, 6.6.6.6, 203.0.113.7")], "", (("203.0.113.7", 0), None, None)),
    ("everyone", [("x-forwarded-for", "1.1.1.1, 2.2.2.2")], "*", (("1.1.1.1", 0), None, None)),
    # X-Forwarded-Proto and -Host
    ("proto", [("x-forwarded-proto", "HTTPS")], "", (None, "https", None)),
    ("wss", [("x-forwarded-proto", "wss")], "", (None, "https", None)),
    ("proto list", [("x-forwarded-proto", "https, http")], "", (None, "http", None)),
    ("proto by hop", [("x-forwarded-for", "1.1.1.1, 2.2.2.2"), ("x-forwarded-proto", "https, http")], "2.2.2.2",
     (("1.1.1.1", 0), "https", None)),
    ("host", [("x-forwarded-host", "api.example.com")], "", (None, None, "api.example.com")),
    ("host port", [("x-forwarded-host", "api.example.com:8443")], "", (None, None, "api.example.com:8443")),
    ("host v6", [("x-forwarded-host", "[2001:db8::1]:80")], "", (None, None, "[2001:db8::1]:80")),
    # RFC 7239
    ("rfc 7.1", [("forwarded", "for=192.0.2.60;proto=http;by=203.0.113.43")], "", (("192.0.2.60", 0), "http", None)),
    ("quoted v6", [("forwarded", 'for="[2001:db8:cafe::17]:4711"')], "", (("2001:db8:cafe::17", 4711), None, None)),
    ("unknown", [("forwarded", "for=unknown")], "", (("unknown", 0), None, None)),
    ("obfuscated", [("forwarded", "for=_hidden, for=_SEVKISEK")], "", (("_SEVKISEK", 0), None, None)),
    ("obf port", [("forwarded", 'for="192.0.2.43:_p1"')], "", (("192.0.2.43", 0), None, None)),
    ("names any case", [("forwarded", 'For="_gazonk";PROTO=HTTPS')], "", (("_gazonk", 0), "https", None)),
    ("hops", [("forwarded", "for=192.0.2.43, for=198.51.100.17;proto=https;host=api.example")], "",
     (("198.51.100.17", 0), "https", "api.example")),
    ("hop trusted", [("forwarded", "for=192.0.2.43;proto=https, for=10.1.1.1;proto=http")], "10.0.0.0/8",
     (("192.0.2.43", 0), "https", None)),
    ("quoted pair", [("forwarded", 'for="\\_x";host="a\\.b"')], "", (("_x", 0), None, "a.b")),
    ("empty element", [("forwarded", "for=1.2.3.4, , for=5.6.7.8")], "", (("5.6.7.8", 0), None, None)),
    ("proto only", [("forwarded", "proto=https")], "", (None, "https", None)),
    # X-Forwarded-* first; Forwarded fills in a field they lack
    ("x first", [("x-forwarded-for", "1.1.1.1"), ("forwarded", "for=2.2.2.2;proto=https")], "",
     (("1.1.1.1", 0), "https", None)),
]


@pytest.mark.parametrize(("headers", "allow", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_forwarding_rules(headers: H, allow: str, expected: tuple[object, ...]) -> None:
    assert said(headers, allow) == expected


# Each is ignored: the field keeps the connection's own value (None here).
HOSTILE: list[tuple[str, H]] = [
    ("bad ip", [("x-forwarded-for", "999.1.1.1")]),
    ("bad at the client", [("x-forwarded-for", "1.2.3.4, not-an-ip")]),
    ("word", [("x-forwarded-for", "unknown")]),
    ("empty", [("x-forwarded-for", "")]),
    ("commas", [("x-forwarded-for", ",,,")]),
    ("port too big", [("x-forwarded-for", "1.2.3.4:99999")]),
    ("port empty", [("x-forwarded-for", "1.2.3.4:")]),
    ("port sign", [("x-forwarded-for", "1.2.3.4:-1")]),
    ("open bracket", [("x-forwarded-for", "[::1")]),
    ("v4 in brackets", [("x-forwarded-for", "[1.2.3.4]")]),
    ("zone", [("x-forwarded-for", "fe80::1%eth0")]),
    ("nul", [("x-forwarded-for", "1.2.3.4\x00")]),
    ("cr lf", [("x-forwarded-for", "1.2.3.4\r\nx-evil: 1")]),
    ("control", [("x-forwarded-for", "\x7f\x1b[31m")]),
    ("long", [("x-forwarded-for", "1" * 5000)]),
    ("proto ftp", [("x-forwarded-proto", "ftp")]),
    ("proto crlf", [("x-forwarded-proto", "https\r\n")]),
    ("proto empty", [("x-forwarded-proto", "")]),
    ("host space", [("x-forwarded-host", "evil host")]),
    ("host slash", [("x-forwarded-host", "evil.com/path")]),
    ("host at", [("x-forwarded-host", "user@evil.com")]),
    ("host port", [("x-forwarded-host", "evil.com:99999")]),
    ("host long", [("x-forwarded-host", "a" * 300)]),
    ("host bad v6", [("x-forwarded-host", "[zz::1]")]),
    ("host crlf", [("x-forwarded-host", "a.com\r\n")]),
    ("fwd v6 bare", [("forwarded", "for=2001:db8::1")]),
    ("fwd open bracket", [("forwarded", 'for="[::1"')]),
    ("fwd port", [("forwarded", "for=1.2.3.4:99999")]),
    ("fwd twice", [("forwarded", "for=1.2.3.4;for=5.6.7.8")]),
    ("fwd unterminated", [("forwarded", 'for="1.2.3.4')]),
    ("fwd no value", [("forwarded", "for=")]),
    ("fwd garbage", [("forwarded", "for=1.2.3.4, garbage")]),
    ("fwd nul", [("forwarded", 'for="1.2.3.4\x00"')]),
    ("fwd bad proto", [("forwarded", "proto=gopher")]),
    ("fwd bad host", [("forwarded", 'host="a b"')]),
    ("fwd bad obf", [("forwarded", "for=_")]),
]


@pytest.mark.parametrize("headers", [c[1] for c in HOSTILE], ids=[c[0] for c in HOSTILE])
def test_hostile_values_are_ignored(headers: H) -> None:
    assert said(headers, "") == (None, None, None)


def test_ten_thousand_entries() -> None:
    many = ", ".join(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}" for i in range(10_000))
    start = time.perf_counter()
    assert said([("x-forwarded-for", many)], "*") == (("10.0.0.0", 0), None, None)  # every hop trusted
    assert said([("x-forwarded-for", many)], "10.0.0.0/8") == (("10.0.0.0", 0), None, None)
    assert said([("x-forwarded-for", "junk," * 10_000 + "1.2.3.4")]) == (("1.2.3.4", 0), None, None)
    fwd = ", ".join(f"for=10.0.{i >> 8 & 255}.{i & 255}" for i in range(10_000))
    assert said([("forwarded", fwd)], "*") == (("10.0.0.0", 0), None, None)
    assert said([("forwarded", "for=1.1.1.1;" * 10_000)]) == (None, None, None)
    assert time.perf_counter() - start < 2.0


def test_trust() -> None:
    t = Trust("10.0.0.0/8, 2001:db8::/32, 192.0.2.1, _proxy")
    assert "10.2.3.4" in t and "2001:db8::5" in t and "192.0.2.1" in t and "_proxy" in t
    assert "11.0.0.1" not in t and "192.0.2.2" not in t and "" not in t and None not in t
    assert t.peer_trusted(("::ffff:10.1.2.3", 1)) and not t.peer_trusted(("::ffff:11.1.2.3", 1))
    assert not t.peer_trusted(None) and Trust("*").peer_trusted(None)  # a Unix socket's peer: only under '*'
    assert "anything" in Trust(" * ")
    with pytest.raises(ValueError, match="not an IP network"):
        Trust("10.0.0.0/33")


def test_allow_ips_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    assert Trust.from_option(None).addresses == {"127.0.0.1"}
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.0.0.1")
    assert Trust.from_option(None).addresses == {"10.0.0.1"}
    assert Trust.from_option("10.0.0.2").addresses == {"10.0.0.2"}


_NAMES = st.sampled_from(["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "forwarded"])
_VALUES = st.one_of(
    st.text(max_size=200),
    st.lists(st.sampled_from(["1.2.3.4", "[::1]:80", "for=", '"', ";", ",", "_a", "unknown", ":", "proto=https",
                              "host=x", "\\", " ", "\x00", "::ffff:1.2.3.4", "10.0.0.1"]), max_size=40).map("".join),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(_NAMES, _VALUES), max_size=6), st.sampled_from(["", "*", "10.0.0.0/8,127.0.0.1"]))
def test_any_headers_never_raise(headers: H, allow: str) -> None:
    client, scheme, host = said(headers, allow)
    assert scheme in (None, "http", "https")
    if client is not None:
        name, port = client
        assert 0 <= port <= 65535 and name and all(" " < c < "\x7f" for c in name)
    if host is not None:
        assert all(" " < c < "\x7f" and c not in ",/@" for c in host)


# -- on every transport -----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def built_proxy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_project(tmp_path_factory, APPS / "proxy.py")


def _serve(request: pytest.FixtureRequest, *extra: str) -> Iterator[Server]:
    srv = app_server(request, request.param, "proxy", "built_proxy", *extra, env={"FORWARDED_ALLOW_IPS": ""})
    yield srv
    code, log = srv.stop()
    assert code == 0, log


@pytest.fixture(scope="module", params=TRANSPORTS)
def trusting(request: pytest.FixtureRequest) -> Iterator[Server]:
    """127.0.0.1 (the tests) is a trusted proxy; the app is mounted at /api."""
    yield from _serve(request, "--forwarded-allow-ips", "127.0.0.1", "--root-path", "/api/")


@pytest.fixture(scope="module", params=TRANSPORTS)
def distrusting(request: pytest.FixtureRequest) -> Iterator[Server]:
    """Only 192.0.2.1 is trusted, so the tests' 127.0.0.1 is not; no Server or Date header."""
    yield from _serve(request, "--forwarded-allow-ips", "192.0.2.1", "--no-server-header", "--no-date-header")


@pytest.fixture(scope="module", params=TRANSPORTS)
def limited(request: pytest.FixtureRequest) -> Iterator[Server]:
    yield from _serve(request, "--limit-concurrency", "2", "--no-proxy-headers")


NGINX = {"x-forwarded-for": "198.51.100.1, 203.0.113.7", "x-forwarded-proto": "https",
         "x-forwarded-host": "api.example.com"}


def test_trusted_proxy(trusting: Server) -> None:
    with httpx.Client(base_url=trusting.url, timeout=20) as c:
        got = c.get("/who", headers=NGINX).json()
        assert got == {"client": ["203.0.113.7", 0], "scheme": "https", "url": "https://api.example.com/api/who",
                       "base_url": "https://api.example.com/api/", "root_path": "/api", "scope_root_path": "/api"}
        # The same from a ConnectionInfo parameter, from a handler that suspended, and from RFC 7239.
        assert c.get("/conn", headers=NGINX).json() == {"client": ["203.0.113.7", 0], "scheme": "https"}
        assert c.get("/later", headers=NGINX).json() == {"client": ["203.0.113.7", 0], "scheme": "https"}
        fwd = {"forwarded": 'for="[2001:db8::17]:4711";proto=https;host=docs.example'}
        got = c.get("/who?x=1", headers=fwd).json()
        assert got["client"] == ["2001:db8::17", 4711] and got["url"] == "https://docs.example/api/who?x=1"
        r = c.get("/plain")  # by default, the app's Server header and a Date
        assert r.headers["server"] == "covet" and "date" in r.headers
        # Without headers, and on the next request of the same connection: the peer itself.
        for _ in range(2):
            got = c.get("/who").json()
            assert got["client"][0] == "127.0.0.1" and got["client"][1] > 0 and got["scheme"] == "http"
            assert got["url"] == f"http://127.0.0.1:{trusting.port}/api/who"


def test_hostile_headers_on_the_wire(trusting: Server) -> None:
    """A malformed header is ignored (or the request refused by the parser), and the server goes on."""
    values = [b"999.1.1.1", b"1.2.3.4:99999", b"\x01\x02", b"for=\"[::1", b"_" * 4000, b"::1," * 10_000,
              b"\xff\xfe", b"1.2.3.4, \x7f"]
    for value in values:
        for name in (b"x-forwarded-for", b"forwarded", b"x-forwarded-host", b"x-forwarded-proto"):
            with trusting.connect() as s:
                s.sendall(b"GET /who HTTP/1.1\r\nhost: h\r\n" + name + b": " + value + b"\r\n\r\n")
                head = _read_response(s)[0]
            assert head.startswith((b"HTTP/1.1 200", b"HTTP/1.1 400")), (name, value, head)
    with httpx.Client(base_url=trusting.url) as c:  # a bare CR or LF in a value: the parser refuses the request
        assert c.get("/who", headers={"x-forwarded-for": "1.2.3.4"}).json()["client"] == ["1.2.3.4", 0]
    with trusting.connect() as s:
        s.sendall(b"GET /who HTTP/1.1\r\nhost: h\r\nx-forwarded-for: 1.2.3.4\rx: y\r\n\r\n")
        assert _read_response(s)[0].startswith(b"HTTP/1.1 400")


def test_docs_behind_root_path(trusting: Server) -> None:
    with httpx.Client(base_url=trusting.url, timeout=20) as c:
        assert c.get("/openapi.json").json()["servers"] == [{"url": "/api"}]
        page = c.get("/docs")
        if page.status_code == 200:  # swagger-ui-py installed
            assert 'src="/api/docs/swagger-ui-bundle.js"' in page.text
            assert '"/api/openapi.json"' in c.get("/docs/init.js").text


def test_untrusted_peer(distrusting: Server) -> None:
    with httpx.Client(base_url=distrusting.url, timeout=20) as c:
        for path in ("/who", "/conn", "/later"):
            got = c.get(path, headers={**NGINX, "forwarded": "for=6.6.6.6;proto=https"}).json()
            assert got["client"][0] == "127.0.0.1" and got["scheme"] == "http", (path, got)
        assert c.get("/who", headers=NGINX).json()["url"] == f"http://127.0.0.1:{distrusting.port}/who"
        r = c.get("/plain")
        assert r.status_code == 200 and "server" not in r.headers and "date" not in r.headers


def _read_response(s: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            return data, b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = s.recv(65536)
        if not chunk:
            break
        body += chunk
    return head, body


def test_limit_concurrency(limited: Server) -> None:
    """Two slow requests hold the limit: a third connection gets 503 and is closed; once they are done, requests are
    served again."""
    slow = [limited.connect(timeout=20) for _ in range(2)]
    try:
        for s in slow:
            s.sendall(b"GET /slow?seconds=1.5 HTTP/1.1\r\nhost: h\r\n\r\n")
        time.sleep(0.3)
        with limited.connect() as s:
            s.sendall(b"GET /plain HTTP/1.1\r\nhost: h\r\nx-forwarded-for: 1.2.3.4\r\n\r\n")
            head, body = _read_response(s)
            assert head.startswith(b"HTTP/1.1 503"), head
            assert b"connection: close" in head.lower()
            assert body == b'{"detail":"Service Unavailable"}'
            assert s.recv(10) == b""  # closed
        for s in slow:
            head, body = _read_response(s)
            assert head.startswith(b"HTTP/1.1 200") and body == b'{"slept":"yes"}'
    finally:
        for s in slow:
            s.close()
    deadline = time.monotonic() + 5
    while True:
        r = httpx.get(limited.url + "/who", timeout=10)
        if r.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.05)  # the server sees the two closes a moment after we make them
    assert r.status_code == 200
    # --no-proxy-headers: even the trusted 127.0.0.1 is not believed.
    assert r.json()["client"][0] == "127.0.0.1"
    got = httpx.get(limited.url + "/who", headers=NGINX, timeout=10).json()
    assert got["client"][0] == "127.0.0.1" and got["scheme"] == "http"


@pytest.mark.parametrize(("flags", "message"), [
    (["--forwarded-allow-ips", "10.0.0.0/33"], "is not an IP network"),
    (["--limit-concurrency", "0"], "is not a positive integer"),
    (["--root-path", "api"], "must be a path starting with '/'"),
])
def test_bad_flags(flags: list[str], message: str) -> None:
    import subprocess
    import sys

    from tests.conftest import checkout_path

    out = subprocess.run([sys.executable, "-m", "covet", "serve", "proxy:app", "--port", "0", *flags], cwd=APPS,
                         env={"PYTHONPATH": checkout_path(APPS), "PATH": "/usr/bin:/bin"}, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode != 0 and message in out.stderr and "Traceback" not in out.stderr, out.stderr


def test_url() -> None:
    from covet.requests import URL

    url = URL("https", "[2001:db8::1]:8443", "/api/x", "a=1")
    assert str(url) == "https://[2001:db8::1]:8443/api/x?a=1" == url
    assert (url.hostname, url.port) == ("2001:db8::1", 8443)
    assert (URL("http", "example.com", "/").hostname, URL("http", "example.com", "/").port) == ("example.com", None)
    assert str(url.replace(scheme="http", query="")) == "http://[2001:db8::1]:8443/api/x"


def test_app_root_path_in_process() -> None:
    """Covet(root_path=...) without the flag: the same URLs and docs (TestClient takes it from the app)."""
    app = Covet(root_path="/v1/")

    @app.get("/here")
    def here(request: Request) -> str:
        return str(request.url)

    with TestClient(app) as c:
        assert c.get("/here?q=1").text == "http://testserver/v1/here?q=1"
        assert c.get("/openapi.json").json()["servers"] == [{"url": "/v1"}]
