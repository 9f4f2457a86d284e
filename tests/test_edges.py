"""Edges of the public API that the app-level tests do not reach: every way a handler changes its session, the
results of a handler whose return type says nothing, and what cannot be encoded. In process (TestClient)."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

import pytest

from covet import Covet, Depends, HTTPError, Session, SessionMiddleware, session
from covet.responses import JSONResponse
from covet.testing import TestClient


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Opaque:
    pass


_app = Covet()
_app.add_middleware(SessionMiddleware("k" * 32))


@_app.post("/session/{op}")
def change(op: str, s: Annotated[Session, Depends(session)]) -> dict[str, Any]:
    if op == "fill":
        s.update({"a": 1, "b": 2}, c=3)
        s.setdefault("d", 4)
        s.setdefault("d", 5)  # already there: no change
    elif op == "del":
        del s["a"]
    elif op == "pop":
        s.pop("b")
        s.pop("missing", None)
    elif op == "popitem":
        s.popitem()
    elif op == "clear":
        s.clear()
    elif op == "huge":
        s["blob"] = "x" * 5000
    return dict(s)


def _result(kind: str) -> Any:
    return {"text": "hi", "none": None, "bytes": b"\x00\x01", "point": Point(1, 2), "opaque": Opaque(),
            "list": [Point(3, 4)], "made": JSONResponse({"made": 1}, status_code=201)}[kind]


@_app.get("/any/{kind}")
def anything(kind: str) -> Any:  # declared Any: encoded by what it returns
    return _result(kind)


@_app.get("/untyped/{kind}")
def untyped(kind: str):  # type: ignore[no-untyped-def]  # no return type: encoded as FastAPI encodes it
    return _result(kind)


@_app.post("/no-content", status_code=204)
def untyped_no_content():  # type: ignore[no-untyped-def]
    return None


@_app.get("/latin")
def latin() -> str:
    raise HTTPError(409, "no", headers={"X-Name": "\u2603"})


def test_every_change_to_a_session_is_saved() -> None:
    jar: dict[str, str] = {}

    def post(op: str) -> Any:
        r = client.post(f"/session/{op}", cookies=jar)
        assert r.status_code == 200, r.text
        cookie = r.headers.get("set-cookie")
        if cookie:
            jar["session"] = cookie.split(";")[0].split("=", 1)[1]
        return r

    with TestClient(_app) as client:
        assert post("fill").json() == {"a": 1, "b": 2, "c": 3, "d": 4}
        assert post("del").json() == {"b": 2, "c": 3, "d": 4}
        assert post("pop").json() == {"c": 3, "d": 4}
        assert len(post("popitem").json()) == 1
        r = post("clear")
        assert r.json() == {}
        assert "Max-Age=0" in r.headers["set-cookie"] or "expires=" in r.headers["set-cookie"].lower()
        jar.clear()
        assert post("none").json() == {}


def test_a_session_larger_than_a_cookie_is_an_error_not_a_silent_loss(caplog: pytest.LogCaptureFixture) -> None:
    with TestClient(_app, raise_server_exceptions=False) as client:
        r = client.post("/session/huge")
    assert r.status_code == 500
    assert "more than a cookie holds" in caplog.text


def test_session_middleware_needs_a_key() -> None:
    with pytest.raises(ValueError, match="needs a secret_key"):
        SessionMiddleware("")


def test_a_result_of_no_declared_type_is_encoded_by_what_it_is() -> None:
    with TestClient(_app, raise_server_exceptions=False) as client:
        r = client.get("/any/text")
        assert (r.status_code, r.text, r.headers["content-type"].split(";")[0]) == (200, "hi", "text/plain")
        assert client.get("/any/none").status_code == 204
        r = client.get("/any/bytes")
        assert (r.content, r.headers["content-type"]) == (b"\x00\x01", "application/octet-stream")
        assert client.get("/any/point").json() == {"x": 1, "y": 2}
        assert client.get("/any/list").json() == [{"x": 3, "y": 4}]
        assert client.get("/any/opaque").status_code == 500
        assert (client.get("/any/made").status_code, client.get("/any/made").json()) == (201, {"made": 1})


def test_a_result_of_an_unannotated_handler_is_encoded_as_fastapi_does() -> None:
    with TestClient(_app, raise_server_exceptions=False) as client:
        for kind, body in (("text", b'"hi"'), ("none", b"null"), ("bytes", b'"\\u0000\\u0001"'),
                           ("point", b'{"x":1,"y":2}'), ("list", b'[{"x":3,"y":4}]')):
            r = client.get(f"/untyped/{kind}")
            assert (r.status_code, r.headers["content-type"], r.content) == (200, "application/json", body), kind
        assert client.get("/untyped/opaque").status_code == 500
        r = client.get("/untyped/made")  # a response is sent as it is
        assert (r.status_code, r.json()) == (201, {"made": 1})
        r = client.post("/no-content")  # a status without a body has none
        assert (r.status_code, r.content) == (204, b"")


def test_an_http_error_header_that_is_not_latin1_answers_500(caplog: pytest.LogCaptureFixture) -> None:
    with TestClient(_app, raise_server_exceptions=False) as client:
        r = client.get("/latin")
    assert r.status_code == 500
    assert "is not Latin-1" in caplog.text


_cleaned: list[str] = []


def _tracked() -> Any:
    try:
        yield "dep"
    finally:
        _cleaned.append("dep closed")


_failing = Covet()


@_failing.middleware
async def fail_after(request: Any, call_next: Any) -> Any:
    response = await call_next(request)
    if request.url.path == "/boom":
        raise RuntimeError("the middleware failed after the handler")
    return response


@_failing.get("/boom")
def boom(d: Annotated[str, Depends(_tracked)]) -> str:
    return d


def test_a_middleware_failing_after_the_handler_still_closes_the_dependencies(
        caplog: pytest.LogCaptureFixture) -> None:
    import time

    _cleaned.clear()
    with TestClient(_failing, raise_server_exceptions=False) as client:
        assert client.get("/boom").status_code == 500
        deadline = time.monotonic() + 5
        while not _cleaned and time.monotonic() < deadline:
            time.sleep(0.01)
    assert _cleaned == ["dep closed"]
