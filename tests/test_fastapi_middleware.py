"""FastAPI's middleware under FastAPI's names (covet.middleware.cors, .trustedhost, .gzip, .httpsredirect),
``add_middleware(Class, **options)``, ``@app.middleware("http")`` and ``response.headers`` as a mutable mapping:
on every transport, interpreted and compiled. The expected answers are Starlette 1.10's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import TRANSPORTS, app_client, build_project, exchange
from covet import Covet, Request, Router
from covet.exceptions import RouteDefinitionError
from covet.headers import MutableHeaders
from covet.middleware.cors import CORSMiddleware
from covet.middleware.gzip import GZipMiddleware
from covet.middleware.trustedhost import TrustedHostMiddleware

TESTS = Path(__file__).resolve().parent
ALLOWED = "https://app.example.com"
PREFLIGHT_VARY = ("Origin, Access-Control-Request-Method, Access-Control-Request-Headers, "
                  "Access-Control-Request-Private-Network")


@pytest.fixture(scope="session")
def built_fm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_project(tmp_path_factory, TESTS / "apps" / "fastapi_mw.py")


@pytest.fixture(scope="session")
def built_fm_star(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_project(tmp_path_factory, TESTS / "apps" / "fastapi_mw_star.py")


@pytest.fixture(scope="module", params=["inprocess", *TRANSPORTS])
def fm(request: pytest.FixtureRequest) -> Iterator[Any]:
    yield from app_client(request, "fastapi_mw", "built_fm")


@pytest.fixture(scope="module", params=["inprocess", *TRANSPORTS])
def star(request: pytest.FixtureRequest) -> Iterator[Any]:
    yield from app_client(request, "fastapi_mw_star", "built_fm_star")


def lines(r: Any, name: str) -> list[str]:
    return list(r.headers.get_list(name) if hasattr(r.headers, "get_list") else r.headers.getall(name))


def decoded(client: Any, r: Any) -> bytes:
    """The body as sent by the application (httpx, in process too, decodes gzip itself)."""
    return bytes(r.content)


def raw(client: Any, data: bytes) -> tuple[int, bytes, bytes]:
    """Status, raw head and body of the answer to the bytes ``data``, sent as they are."""
    if client.server is None:
        got = client.raw(data)[0]
        head = "".join(f"{k}: {v}\r\n" for k, v in got.headers.multi_items())
        return got.status_code, head.encode("latin-1"), got.content
    out = exchange(client.server, data)
    head, _, body = out.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), head, body


# -- CORS --------------------------------------------------------------------------------------------


def test_an_allowed_origin_is_echoed_with_credentials_and_exposed_headers(fm: Any) -> None:
    r = fm.get("/items", headers={"origin": ALLOWED})
    assert (r.status_code, r.json()) == (200, {"items": [1, 2, 3]})
    assert r.headers["access-control-allow-origin"] == ALLOWED
    assert r.headers["access-control-allow-credentials"] == "true"
    assert r.headers["access-control-expose-headers"] == "X-Total, X-Page"
    assert r.headers["vary"] == "Accept-Encoding, Origin"  # the gzip middleware's, then CORS's own


def test_an_origin_is_allowed_when_the_regex_matches_all_of_it(fm: Any) -> None:
    r = fm.get("/items", headers={"origin": "https://shop.example.org"})
    assert r.headers["access-control-allow-origin"] == "https://shop.example.org"
    for other in ("https://shop.example.org.evil.com", "http://shop.example.org", "https://evil.com",
                  "https://app.example.com.evil.com"):
        r = fm.get("/items", headers={"origin": other})
        assert r.status_code == 200  # the route runs; the browser is the one that refuses the answer
        assert "access-control-allow-origin" not in r.headers
        assert r.headers["access-control-allow-credentials"] == "true"  # as Starlette: for any Origin
        assert r.headers["vary"] == "Accept-Encoding, Origin"


def test_a_request_without_origin_gets_no_cors_headers_but_varies(fm: Any) -> None:
    r = fm.get("/items")
    assert not [k for k in r.headers if k.startswith("access-control-")]
    assert r.headers["vary"] == "Accept-Encoding, Origin"


@pytest.mark.parametrize("path", ["/items", "/nowhere"])
def test_a_preflight_is_answered_for_routes_without_options_and_for_no_route(fm: Any, path: str) -> None:
    r = fm.request("OPTIONS", path, headers={"origin": ALLOWED, "access-control-request-method": "POST",
                                             "access-control-request-headers": "X-Token, content-type"})
    assert (r.status_code, r.text) == (200, "OK")
    assert r.headers["access-control-allow-origin"] == ALLOWED
    assert r.headers["access-control-allow-methods"] == "GET, POST"
    assert r.headers["access-control-max-age"] == "300"
    listed = "Accept, Accept-Language, Content-Language, Content-Type, X-Token"
    assert r.headers["access-control-allow-headers"] == listed
    assert r.headers["access-control-allow-credentials"] == "true"
    assert r.headers["vary"] == PREFLIGHT_VARY
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert not lines(r, "x-trace")  # answered by CORS: nothing inside it ran


def test_a_disallowed_preflight_says_what_failed(fm: Any) -> None:
    r = fm.request("OPTIONS", "/items", headers={"origin": "https://evil.com", "access-control-request-method": "PUT",
                                                 "access-control-request-headers": "x-token, x-other"})
    assert (r.status_code, r.text) == (400, "Disallowed CORS origin, method, headers")
    assert "access-control-allow-origin" not in r.headers
    r = fm.request("OPTIONS", "/items", headers={"origin": ALLOWED, "access-control-request-method": "get"})
    assert (r.status_code, r.text) == (400, "Disallowed CORS method")  # methods are case-sensitive


def test_options_without_a_requested_method_is_not_a_preflight(fm: Any) -> None:
    r = fm.request("OPTIONS", "/items", headers={"origin": ALLOWED})
    assert r.status_code == 405
    assert r.headers["access-control-allow-origin"] == ALLOWED


def test_hostile_preflights_and_origins(fm: Any) -> None:
    many = ", ".join(f"x-h{i}" for i in range(3000))
    r = fm.request("OPTIONS", "/items", headers={"origin": ALLOWED, "access-control-request-method": "GET",
                                                 "access-control-request-headers": many})
    assert (r.status_code, r.text) == (400, "Disallowed CORS headers")
    huge = "https://" + "a" * 20000 + ".example.org"  # matches the regex, but is no origin a browser sends
    r = fm.get("/items", headers={"origin": huge})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
    # Control bytes in an Origin: refused by the parser, or never echoed; nothing reaches the answer's head.
    for bad in (b"https://app.example.com\x01", b"https://app.example.com\rX-Injected: 1"):
        status, head, _ = raw(fm, b"GET /items HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: " + bad +
                           b"\r\nConnection: close\r\n\r\n")
        assert status in (200, 400)
        assert b"x-injected" not in head.lower() and b"access-control-allow-origin" not in head.lower()


def test_any_origin_without_credentials_answers_star(star: Any) -> None:
    r = star.get("/any/items", headers={"origin": "https://whoever.net"})
    assert r.json() == [1, 2]
    assert r.headers["access-control-allow-origin"] == "*"
    assert r.headers["access-control-expose-headers"] == "X-Total"
    assert "access-control-allow-credentials" not in r.headers
    assert r.headers["vary"] == "Origin"
    r = star.request("OPTIONS", "/any/items", headers={"origin": "https://whoever.net",
                                                       "access-control-request-method": "DELETE",
                                                       "access-control-request-headers": "X-Anything, X-Else"})
    assert (r.status_code, r.text) == (200, "OK")
    assert r.headers["access-control-allow-origin"] == "*"
    assert r.headers["access-control-allow-methods"] == "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT, QUERY"
    assert r.headers["access-control-allow-headers"] == "X-Anything, X-Else"  # "*": whatever was asked for
    assert r.headers["vary"] == PREFLIGHT_VARY


def test_any_origin_with_credentials_echoes_the_origin_never_star(star: Any) -> None:
    r = star.get("/cred/items", headers={"origin": "https://whoever.net"})
    assert r.headers["access-control-allow-origin"] == "https://whoever.net"
    assert r.headers["access-control-allow-credentials"] == "true"
    assert r.headers["vary"] == "Origin"
    r = star.request("OPTIONS", "/cred/items", headers={"origin": "https://whoever.net",
                                                        "access-control-request-method": "GET",
                                                        "access-control-request-private-network": "true"})
    assert (r.status_code, r.text) == (200, "OK")
    assert r.headers["access-control-allow-origin"] == "https://whoever.net"
    assert r.headers["access-control-allow-private-network"] == "true"
    assert r.headers["access-control-allow-headers"] == "Accept, Accept-Language, Content-Language, Content-Type"
    r = star.request("OPTIONS", "/cred/items", headers={"origin": "https://whoever.net",
                                                        "access-control-request-method": "POST"})
    assert (r.status_code, r.text) == (400, "Disallowed CORS method")


# -- trusted hosts -----------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["example.com", "EXAMPLE.com:8443", "api.example.com", "deep.api.example.com",
                                  "www.shop.test"])
def test_allowed_hosts_pass(fm: Any, host: str) -> None:
    r = fm.get("/items", headers={"host": host})
    assert (r.status_code, r.json()) == (200, {"items": [1, 2, 3]})


@pytest.mark.parametrize("host", ["evil.com", "notexample.com", "example.com.evil.com", "[zz::1]", "[::1]",
                                  "example.com:80:80", "exa mple.com"])
def test_other_hosts_are_refused(fm: Any, host: str) -> None:
    status, _, body = raw(fm, f"GET /items HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    assert status == 400  # from the middleware, or from the parser for a malformed Host
    assert body in (b"Invalid host header", b'{"detail":"Invalid Host header"}')


def test_the_bare_domain_is_redirected_to_www_when_only_www_is_allowed(fm: Any) -> None:
    r = fm.get("/items", params={"page": "2"}, headers={"host": "shop.test"})
    assert (r.status_code, r.headers["location"]) == (307, "http://www.shop.test/items?page=2")


# -- gzip --------------------------------------------------------------------------------------------


def test_gzip_compresses_large_bodies_for_clients_that_accept_it(fm: Any) -> None:
    r = fm.get("/big", headers={"accept-encoding": "gzip"})
    assert (r.headers["content-encoding"], r.headers["vary"]) == ("gzip", "Accept-Encoding, Origin")
    assert decoded(fm, r) == b"covet " * 200
    for accepts in ("identity", "br", "gzip;q=0"):
        r = fm.get("/big", headers={"accept-encoding": accepts})
        assert "content-encoding" not in r.headers and r.content == b"covet " * 200
    r = fm.get("/items", headers={"accept-encoding": "gzip"})  # under minimum_size
    assert "content-encoding" not in r.headers
    r = fm.get("/png", headers={"accept-encoding": "gzip"})  # an excluded type
    assert "content-encoding" not in r.headers and r.headers["vary"] == "Origin"


def test_gzip_compresses_a_stream_and_keeps_its_headers(fm: Any) -> None:
    r = fm.get("/stream", headers={"accept-encoding": "gzip"})
    assert (r.headers["content-encoding"], r.headers["x-stream"]) == ("gzip", "yes")
    assert decoded(fm, r) == b"chunk 0;chunk 1;chunk 2;"


# -- order, @app.middleware("http") and response.headers ---------------------------------------------


def test_the_last_added_class_or_http_middleware_is_the_outermost(fm: Any) -> None:
    r = fm.get("/items")
    # inner, then outer with @app.middleware("http") (outer wraps inner); innermost with add_middleware(func).
    assert lines(r, "x-trace") == ["innermost", "inner", "outer"]
    r = fm.get("/answered")
    assert (r.status_code, r.text, lines(r, "x-trace")) == (200, "answered by outer", [])


def test_response_headers_is_a_mutable_mapping(fm: Any) -> None:
    r = fm.get("/headers")
    assert r.json() == {"ok": True}
    assert (r.headers["x-set"], r.headers["x-kept"], r.headers["x-stamped"]) == ("two", "k", "two")
    assert lines(r, "x-set") == ["two"] and lines(r, "x-many") == ["a", "b"]
    assert "x-gone" not in r.headers
    assert r.headers["x-read"] == "k,dflt,True,['a', 'b']"


def test_a_header_value_with_cr_lf_is_refused_never_sent(fm: Any) -> None:
    r = fm.get("/inject", params={"value": "a\r\nx-injected: yes"})
    assert r.status_code == 500 and "x-injected" not in r.headers and "never sent" not in r.text
    assert fm.get("/inject", params={"value": "fine"}).headers["x-echo"] == "fine"


# -- HTTPS redirect ----------------------------------------------------------------------------------


def test_http_is_redirected_to_https_keeping_path_and_query(star: Any) -> None:
    r = star.get("/secure/page", params={"a": "1", "b": "x y"}, headers={"host": "example.com:8080"})
    assert (r.status_code, r.headers["location"]) == (307, "https://example.com:8080/secure/page?a=1&b=x+y")
    r = star.post("/secure/form", params={"name": "ada"}, headers={"host": "example.com:80"})
    assert (r.status_code, r.headers["location"]) == (307, "https://example.com/secure/form?name=ada")
    r = star.get("/any/items", headers={"host": "example.com"})
    assert r.status_code == 200  # only /secure/ has the middleware


def test_behind_a_trusted_proxy_the_forwarded_scheme_counts(star: Any) -> None:
    r = star.get("/secure/page", headers={"x-forwarded-proto": "https"})
    if star.server is None:  # the in-process client's peer ("testclient") is no trusted proxy
        assert r.status_code == 307
    else:  # a real server trusts 127.0.0.1 (--forwarded-allow-ips' default)
        assert (r.status_code, r.text) == (200, "secure page")


# -- definition errors --------------------------------------------------------------------------------


class AsgiMiddleware:
    """The shape of a Starlette middleware class."""

    def __init__(self, app: Any, flag: bool = False) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


class DispatchMiddleware:
    """The shape of Starlette's BaseHTTPMiddleware."""

    def __init__(self, app: Any, dispatch: Any = None) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


def test_pure_asgi_middleware_is_refused_with_what_to_do() -> None:
    app = Covet()
    for cls in (AsgiMiddleware, DispatchMiddleware):
        with pytest.raises(RouteDefinitionError, match="not run pure ASGI middleware classes yet") as info:
            app.add_middleware(cls, flag=True)
        assert "test_fastapi_middleware.py:" in str(info.value) and '@app.middleware("http")' in str(info.value)
    with pytest.raises(RouteDefinitionError, match="ASGI middleware"):
        app.add_middleware(AsgiMiddleware(None))  # type: ignore[arg-type]
    with pytest.raises(RouteDefinitionError, match="ASGI middleware"):
        Router(middleware=[AsgiMiddleware])  # type: ignore[list-item]
    assert app.middleware_stack == []


def test_mistakes_in_middleware_declarations_are_refused_at_start_up() -> None:
    app = Covet()
    with pytest.raises(RouteDefinitionError, match="takes a list of strings"):
        app.add_middleware(CORSMiddleware, allow_origins="https://a.com")
    with pytest.raises(RouteDefinitionError, match="unexpected keyword argument 'allow_origin'"):
        app.add_middleware(CORSMiddleware, allow_origin=["https://a.com"])
    with pytest.raises(RouteDefinitionError, match="not a regular expression"):
        app.add_middleware(CORSMiddleware, allow_origin_regex="(")
    with pytest.raises(RouteDefinitionError, match="cannot be sent in a header"):
        app.add_middleware(CORSMiddleware, expose_headers=["x-a\r\nx-b"])
    with pytest.raises(RouteDefinitionError, match=r"must be like '\*.example.com'"):
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=["ex*.com"])
    with pytest.raises(RouteDefinitionError, match="compresslevel"):
        app.add_middleware(GZipMiddleware, compresslevel=12)
    with pytest.raises(RouteDefinitionError, match="the only middleware type is \"http\""):
        app.middleware("websocket")

    async def mw(request: Request, call_next: Any) -> Any:
        return await call_next(request)

    with pytest.raises(RouteDefinitionError, match="options only with a middleware class"):
        app.add_middleware(mw, option=1)  # type: ignore[call-overload]
    with pytest.raises(RouteDefinitionError, match=r"give an instance, CORSMiddleware\(...\)"):
        Router(middleware=[CORSMiddleware])  # type: ignore[list-item]
    assert app.middleware_stack == []
    assert app.middleware(mw) is mw and app.middleware("http")(mw) is mw  # both spellings, as decorators
    assert app.middleware_stack == [mw, mw]


# -- MutableHeaders ------------------------------------------------------------------------------------


def test_mutable_headers_behave_as_starlettes() -> None:
    raw = [(b"content-type", b"text/plain"), (b"set-cookie", b"a=1"), (b"set-cookie", b"b=2")]
    h = MutableHeaders(raw=raw)
    assert h.raw is raw and len(h) == 3 and h.keys() == ["content-type", "set-cookie", "set-cookie"]
    assert (h["Content-Type"], h.getlist("set-cookie"), h.get("x-none")) == ("text/plain", ["a=1", "b=2"], None)
    h["SET-COOKIE"] = "c=3"
    assert raw == [(b"content-type", b"text/plain"), (b"set-cookie", b"c=3")]
    h.update({"x-a": "1"}, x_b="2")
    h.add_vary_header("Origin")
    h.add_vary_header("Accept-Encoding")
    assert (h.setdefault("x-a", "9"), h.setdefault("x-c", "3")) == ("1", "3")
    assert h["vary"] == "Origin, Accept-Encoding" and h["x_b"] == "2"
    assert dict(h)["x-c"] == "3" and h == MutableHeaders(raw=list(reversed(raw)))
    with pytest.raises(KeyError):
        h["x-none"]
    for bad in ("a\r\nb: c", "a\nb", "a\x00b"):
        with pytest.raises(ValueError):
            h["x-bad"] = bad
        with pytest.raises(ValueError):
            h.append("x-bad", bad)
    with pytest.raises(ValueError):
        h["bad name"] = "v"
    assert "x-bad" not in h and "bad name" not in h


# -- a FastAPI app, with only its imports changed ------------------------------------------------------

FASTAPI_APP = '''
import time

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.middleware.httpsredirect import HTTPSRedirectMiddleware
from fastapi.middleware.trustedhost import TrustedHostMiddleware

app = FastAPI()
app.add_middleware(GZipMiddleware, minimum_size=1000)
app.add_middleware(TrustedHostMiddleware, allowed_hosts=["testserver", "*.example.com"])
app.add_middleware(CORSMiddleware, allow_origins=["https://front.example.com"], allow_credentials=True,
                   allow_methods=["*"], allow_headers=["*"])


@app.middleware("http")
async def add_process_time_header(request: Request, call_next):
    start_time = time.perf_counter()
    response = await call_next(request)
    response.headers["X-Process-Time"] = str(time.perf_counter() - start_time)
    return response


@app.get("/")
async def main():
    return {"message": "Hello World " * 100}


secure = FastAPI()
secure.add_middleware(HTTPSRedirectMiddleware)
'''


def test_a_fastapi_app_runs_with_only_its_imports_changed() -> None:
    from covet.testclient import TestClient

    namespace: dict[str, Any] = {}
    exec(compile(FASTAPI_APP.replace("fastapi", "covet").replace("FastAPI", "Covet"), "<fastapi app>", "exec"),
         namespace)
    client = TestClient(namespace["app"])
    r = client.get("/", headers={"origin": "https://front.example.com", "accept-encoding": "gzip"})
    assert r.status_code == 200 and float(r.headers["x-process-time"]) >= 0
    assert (r.headers["access-control-allow-origin"], r.headers["content-encoding"]) == ("https://front.example.com",
                                                                                        "gzip")
    assert r.content == b'{"message":"' + b"Hello World " * 100 + b'"}'  # (httpx decodes the gzip)
    r = client.options("/", headers={"origin": "https://front.example.com", "access-control-request-method": "PUT",
                                     "access-control-request-headers": "x-custom"})
    assert (r.status_code, r.headers["access-control-allow-headers"]) == (200, "x-custom")
    assert client.get("/", headers={"host": "evil.com"}).status_code == 400
    r = TestClient(namespace["secure"], follow_redirects=False).get("/", headers={"host": "api.example.com"})
    assert (r.status_code, r.headers["location"]) == (307, "https://api.example.com/")
