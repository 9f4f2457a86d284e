"""FastAPI's body limits, ``max_body_size`` and ``form_limits``, on an application, a router and a route
(tests/apps/forms.py): the innermost setting wins, and the answers are FastAPI's, word for word. In process and on
every transport, interpreted and compiled."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Annotated, Any

import pytest

from conftest import TRANSPORTS, app_client
from covet import Covet, Form, Router
from covet.exceptions import RouteDefinitionError
from test_forms import multipart, post


@pytest.fixture(scope="module", params=["inprocess", *TRANSPORTS])
def lclient(request: pytest.FixtureRequest) -> Iterator[Any]:
    yield from app_client(request, "forms", "built_forms")


def urlencoded(fields: list[tuple[str, str]]) -> bytes:
    return "&".join(f"{k}={v}" for k, v in fields).encode()


@pytest.mark.parametrize("kind", ["urlencoded", "multipart"])
def test_a_form_past_its_routers_max_fields_is_400(lclient: Any, kind: str) -> None:
    def send(tags: int) -> Any:
        fields = [("text", "hi"), *(("tag", "t") for _ in range(tags))]
        if kind == "multipart":
            return post(lclient, "/limited/note", *multipart(fields, []))
        return post(lclient, "/limited/note", urlencoded(fields), "application/x-www-form-urlencoded")

    assert send(2).json() == {"size": 2, "tags": 2}  # three fields: the router's limit, not include_router's one
    r = send(3)
    assert r.status_code == 400, r.text
    assert r.json() == {"detail": "Too many fields. Maximum number of fields is 3."}


@pytest.mark.parametrize("kind", ["urlencoded", "multipart"])
def test_a_field_past_its_routes_max_part_size_is_400(lclient: Any, kind: str) -> None:
    # Starlette counts an urlencoded field's name and value as sent ("text" and 2,044 bytes: 2 KiB).
    fit = 2048 if kind == "multipart" else 2044

    def send(size: int) -> Any:
        if kind == "multipart":
            return post(lclient, "/limited/doc", *multipart([("text", "x" * size)], []))
        return post(lclient, "/limited/doc", urlencoded([("text", "x" * size)]), "application/x-www-form-urlencoded")

    assert send(fit).json() == {"size": fit, "file": 0}
    r = send(fit + 1)
    assert r.status_code == 400, r.text
    word = "Part" if kind == "multipart" else "Field"
    assert r.json() == {"detail": f"{word} exceeded maximum size of 2KB."}
    # The route's own max_part_size, the router's three fields still: four are refused.
    fields = [("text", "x"), ("a", "1"), ("b", "2"), ("c", "3")]
    r = post(lclient, "/limited/doc", urlencoded(fields), "application/x-www-form-urlencoded")
    assert r.json() == {"detail": "Too many fields. Maximum number of fields is 3."}


def test_files_past_the_applications_max_files_are_400(lclient: Any) -> None:
    def send(n: int) -> Any:
        return post(lclient, "/limited/files", *multipart([], [("docs", f"{i}.txt", "text/plain", b"x")
                                                               for i in range(n)]))

    assert send(50).json() == {"files": 50}
    r = send(51)
    assert r.status_code == 400, r.text
    assert r.json() == {"detail": "Too many files. Maximum number of files is 50."}
    assert lclient.get("/seen").status_code == 200  # the connection, and the server, go on


def test_a_body_past_its_routes_max_body_size_is_413_content_too_large(lclient: Any) -> None:
    body = json.dumps({"a": 1, "b": 2}).encode()
    body += b" " * (100 - len(body))  # 100 bytes: the route's limit
    r = lclient.post("/limited/json", content=body, headers={"content-type": "application/json"})
    assert r.json() == {"a": 1, "b": 2}
    r = lclient.post("/limited/json", content=body + b" ", headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert (r.headers["content-type"], r.text) == ("text/plain; charset=utf-8", "Content Too Large")
    # Chunked, FastAPI answers with its error's JSON.
    r = lclient.post("/limited/json", content=iter([body, b" "]), headers={"content-type": "application/json"})
    assert (r.status_code, r.json()) == (413, {"detail": "Content Too Large"})
    # A form under a router's 64 KiB: its text field is within 1 MiB, the body is not within the router's limit.
    r = post(lclient, "/limited/note", urlencoded([("text", "x" * (64 * 1024))]), "application/x-www-form-urlencoded")
    assert (r.status_code, r.text) == (413, "Content Too Large")
    assert lclient.get("/seen").status_code == 200


def test_a_route_limit_above_the_in_memory_one_lets_a_streamed_upload_through(lclient: Any) -> None:
    data = b"u" * (3 * 1024 * 1024)  # past the server's 1 MiB in memory: the upload streams, to disk
    r = post(lclient, "/limited/doc", *multipart([("text", "hi")], [("doc", "big.bin", "application/octet-stream",
                                                                        data)]))
    assert r.json() == {"size": 2, "file": len(data)}


def test_a_field_of_exactly_max_part_size_is_taken_past_the_in_memory_limit(lclient: Any) -> None:
    value = "v" * (1024 * 1024)  # FastAPI's default max_part_size, with the part's headers past --max-body
    r = post(lclient, "/login", *multipart([("username", value)], []))
    assert r.status_code == 200 and len(r.json()["username"]) == len(value)


def test_a_huge_max_fields_is_no_limit() -> None:
    from covet.testing import TestClient

    app = Covet(form_limits={"max_fields": 2**64})

    @app.post("/f")
    def f(a: Annotated[str, Form()]) -> str:
        return a

    assert TestClient(app).post("/f", data={"a": "x"}).text == "x"


def _raw(client: Any, request: bytes, then: bytes = b"") -> bytes:
    """What a server writes back to ``request`` (and ``then``, sent after the first answer's head arrived)."""
    with socket.create_connection((client.server.host, client.server.port), timeout=10) as s:
        s.sendall(request)
        got = b""
        while b"\r\n\r\n" not in got:
            piece = s.recv(65536)
            if not piece:
                break
            got += piece
        if then:
            try:
                s.sendall(then)
            except OSError:
                pass
        try:
            while piece := s.recv(65536):
                got += piece
        except OSError:
            pass
        return got


def test_a_declared_length_past_the_limit_is_refused_before_the_body(lclient: Any) -> None:
    if lclient.server is None:
        pytest.skip("in process there is no socket to send a head alone on")
    head = (b"POST /limited/doc HTTP/1.1\r\nhost: x\r\ncontent-type: multipart/form-data; boundary=b\r\n"
            b"content-length: %d\r\n\r\n" % (8 * 1024 * 1024 + 1))
    got = _raw(lclient, head)  # the body never comes: the answer must not wait for it
    assert got.startswith(b"HTTP/1.1 413 "), got[:200]
    assert got.endswith(b"\r\n\r\nContent Too Large"), got[-200:]


def test_a_chunked_stream_is_cut_at_its_routes_limit(lclient: Any) -> None:
    if lclient.server is None:
        pytest.skip("in process there is no socket to send chunks on")
    chunk = b"z" * 65536
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(17)) + b"0\r\n\r\n"  # 1 MiB + 64 KiB
    head = b"POST /limited/raw HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n"
    got = _raw(lclient, head + body)
    assert got.startswith(b"HTTP/1.1 413 "), got[:200]
    assert b'{"detail":"Content Too Large"}' in got, got[-200:]
    r = lclient.post("/limited/raw", content=b"y" * 1000)
    assert r.json() == {"size": 1000}


def test_limits_are_checked_where_they_are_declared() -> None:
    with pytest.raises(RouteDefinitionError, match="form_limits has 'max_feilds'; it takes max_fields, max_files"):
        Covet(form_limits={"max_feilds": 3})  # type: ignore[typeddict-unknown-key]
    with pytest.raises(RouteDefinitionError, match="max_body_size must be a whole number of at least 0, not -1"):
        Router(max_body_size=-1)
    with pytest.raises(RouteDefinitionError, match=r"form_limits\['max_files'\] must be a whole number"):
        Covet().post("/x", form_limits={"max_files": True})
    with pytest.raises(RouteDefinitionError, match="include_router: max_body_size must be"):
        Covet().include_router(Router(), max_body_size=1.5)  # type: ignore[arg-type]
