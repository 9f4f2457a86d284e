"""Middleware, exception handlers, cookies and signed sessions, on every transport, interpreted and compiled."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import TRANSPORTS, app_client, build_project
from covet import Covet, Router
from covet.exceptions import RouteDefinitionError

TESTS = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def built_mw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_project(tmp_path_factory, TESTS / "apps" / "mw.py")


@pytest.fixture(scope="module", params=["inprocess", *TRANSPORTS])
def mclient(request: pytest.FixtureRequest) -> Iterator[Any]:
    yield from app_client(request, "mw", "built_mw")


# -- middleware ------------------------------------------------------------------------------------


def test_app_middleware_wraps_every_route_sync_and_async(mclient: Any) -> None:
    for path, body in (("/plain", "plain"), ("/slow", "slow")):
        r = mclient.get(path)
        assert (r.status_code, r.text, r.headers["x-stamp"]) == (200, body, "200")
    assert "GET /slow" in mclient.get("/seen").json()


def test_middleware_sees_error_answers_and_the_404_and_405(mclient: Any) -> None:
    r = mclient.get("/teapot")
    assert (r.status_code, r.headers["x-stamp"]) == (418, "418")
    assert r.json() == {"detail": "short and stout"}
    assert mclient.get("/nowhere").headers["x-stamp"] == "404"
    r = mclient.post("/plain")
    assert (r.status_code, r.headers["x-stamp"], r.headers["allow"]) == (405, "405", "GET, HEAD")
    assert mclient.get("/openapi.json").headers["x-stamp"] == "200"


def test_middleware_can_answer_by_itself(mclient: Any) -> None:
    r = mclient.get("/blocked")
    assert (r.status_code, r.text) == (403, "blocked by middleware")
    assert "x-stamp" not in r.headers


# -- exception handlers ------------------------------------------------------------------------------


def test_an_exception_handler_answers_for_its_class(mclient: Any) -> None:
    r = mclient.get("/buy/pen")
    assert r.status_code == 409
    assert r.json() == {"error": "out of stock", "item": "pen", "path": "/buy/pen"}
    assert r.headers["x-stamp"] == "409"  # the middleware sees the handled answer


def test_the_most_specific_handler_wins_and_handlers_may_be_async(mclient: Any) -> None:
    assert mclient.get("/index").json() == {"error": "not found", "kind": "IndexError"}  # LookupError's, async
    assert mclient.get("/key").json() == {"error": "no such key", "key": "missing"}  # KeyError's, from async glue
    r = mclient.get("/zero")
    assert (r.status_code, r.text) == (500, "handled ZeroDivisionError")


def test_handlers_see_headers_and_an_http_error_subclass_gets_its_own(mclient: Any) -> None:
    r = mclient.get("/static-error", headers={"x-probe": "seen"})
    assert (r.status_code, r.json()["probe"]) == (409, "seen")
    r = mclient.get("/gone")
    assert (r.status_code, r.text) == (410, "gone for good")


def test_include_router_middleware_applies_and_after_work_survives_a_replaced_response(mclient: Any) -> None:
    assert mclient.get("/r/task").json() == {"replaced": True}
    deadline = __import__("time").monotonic() + 5
    while "task after a replaced response" not in mclient.get("/seen").json():
        assert __import__("time").monotonic() < deadline
        __import__("time").sleep(0.02)


def test_http_errors_keep_their_answer_and_dependencies_are_covered(mclient: Any) -> None:
    r = mclient.get("/http-error")
    assert (r.status_code, r.json()) == (402, {"detail": "pay first"})
    r = mclient.get("/dep-error")
    assert r.status_code == 409 and r.json()["item"] == "from a dependency"


# -- cookies and sessions ----------------------------------------------------------------------------


def test_a_handler_for_request_validation_error_replaces_the_422(mclient: Any) -> None:
    r = mclient.get("/count", params={"n": "x", "m": "-1"})
    assert r.status_code == 400
    assert r.json() == {"error": "invalid request", "where": ["query.n", "query.m"], "path": "/count"}
    assert mclient.get("/count", params={"n": "2"}).json() == {"n": 2, "m": 0}
    r = mclient.request("POST", "/count", content=b"{nope", headers={"content-type": "application/json"})
    assert (r.status_code, r.json()["where"]) == (400, ["body.1"])  # FastAPI's: where the JSON broke
    assert mclient.request("POST", "/count", json={"a": 1}).json() == {"a": 1}


def test_cookies_are_set_and_deleted_with_their_attributes(mclient: Any) -> None:
    r = mclient.get("/cookie/set")
    lines = r.headers.get_list("set-cookie") if hasattr(r.headers, "get_list") else r.headers.getall("set-cookie")
    assert lines == ['theme="dark mode"; HttpOnly; Max-Age=60; Path=/; SameSite=Strict', "plain=1"]
    r = mclient.get("/cookie/delete")
    line = r.headers["set-cookie"]
    assert line.startswith('theme=""; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/')


def cookie_of(r: Any, name: str) -> str | None:
    lines = r.headers.get_list("set-cookie") if hasattr(r.headers, "get_list") else r.headers.getall("set-cookie")
    for line in lines:
        key, _, rest = line.partition("=")
        if key == name:
            return rest.split(";")[0]
    return None


def test_a_signed_session_survives_requests_and_cannot_be_forged(mclient: Any) -> None:
    assert mclient.get("/s/me", headers={"cookie": ""}).status_code == 401
    r = mclient.post("/s/login", params={"user": "ada"}, headers={"cookie": ""})
    assert r.text == "hello ada"
    value = cookie_of(r, "session")
    assert value and "ada" not in value  # encoded, and signed
    assert "HttpOnly" in r.headers["set-cookie"] and "SameSite=Lax" in r.headers["set-cookie"]
    jar = {"cookie": f"session={value}"}
    r = mclient.get("/s/me", headers=jar)
    assert r.json() == {"user": "ada", "visits": 1}
    jar = {"cookie": f"session={cookie_of(r, 'session')}"}
    assert mclient.get("/s/me", headers=jar).json() == {"user": "ada", "visits": 2}
    forged = value[:-3] + ("AAA" if not value.endswith("AAA") else "BBB")
    assert mclient.get("/s/me", headers={"cookie": f"session={forged}"}).status_code == 401
    r = mclient.post("/s/logout", headers=jar)
    assert cookie_of(r, "session") == '""'  # deleted
    assert mclient.get("/s/me", headers={"cookie": ""}).status_code == 401


def test_a_session_never_leaks_to_the_next_request_on_the_connection(mclient: Any) -> None:
    r = mclient.post("/s/login", params={"user": "bob"}, headers={"cookie": ""})
    jar = {"cookie": f"session={cookie_of(r, 'session')}"}
    assert mclient.get("/s/me", headers=jar).json()["user"] == "bob"
    # Same keep-alive connection, no cookie: a fresh, empty session.
    assert mclient.get("/s/me", headers={"cookie": ""}).status_code == 401
    r = mclient.get("/no-session")
    assert (r.status_code, r.text) == (500, "handled RuntimeError")


# -- definition errors ------------------------------------------------------------------------------


def test_middleware_must_be_async() -> None:
    app = Covet()

    def sync_mw(request: Any, call_next: Any) -> Any:
        return call_next(request)

    with pytest.raises(RouteDefinitionError, match="must be an async function"):
        app.add_middleware(sync_mw)
    with pytest.raises(RouteDefinitionError, match="must be an async function"):
        Router(middleware=[sync_mw])
    with pytest.raises(RouteDefinitionError, match="needs an exception class"):
        app.exception_handler(3)  # type: ignore[arg-type]
