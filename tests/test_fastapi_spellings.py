"""FastAPI's spellings of CovetPy's features, on every transport, interpreted and compiled.

tests/apps/spellings.py is written as a FastAPI application would be (``HTTPException(status_code=...)``,
``status.HTTP_...``, ``APIRouter``, ``app.mount``, ``lifespan``, status-keyed exception handlers, ...); the
refusals are checked in process, where they happen: at start-up.
"""

from __future__ import annotations

import http
import os
from collections.abc import Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import pytest
import starlette.status
from pydantic import BaseModel

from conftest import TRANSPORTS, app_client, build_project
from covet import APIRouter, Body, Covet, HTTPException, Request, Router, status
from covet.exceptions import HTTPError, RouteDefinitionError
from covet.responses import FileResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from covet.routing import NoMatchFound
from covet.staticfiles import StaticFiles
from covet.testclient import TestClient

TESTS = Path(__file__).resolve().parent
HERE = os.path.basename(__file__)


@pytest.fixture(scope="session")
def spellings_static(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("spellings-static")
    (root / "hello.txt").write_text("hello file\n")
    return root


@pytest.fixture(scope="session")
def built_spellings(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_project(tmp_path_factory, TESTS / "apps" / "spellings.py", TESTS / "apps" / "spellings_support.py")


@pytest.fixture(scope="module", params=["inprocess", *TRANSPORTS])
def sclient(request: pytest.FixtureRequest, spellings_static: Path) -> Iterator[Any]:
    yield from app_client(request, "spellings", "built_spellings", env={"COVET_TEST_STATIC": str(spellings_static)})


def origin(client: Any) -> str:
    return "http://testserver" if client.server is None else client.server.url


# -- HTTPException, status ---------------------------------------------------------------------------------------


def test_http_exception_takes_fastapis_arguments(sclient: Any) -> None:
    r = sclient.get("/teapot")  # HTTPException(status_code=status.HTTP_418_IM_A_TEAPOT, detail=..., headers=...)
    assert (r.status_code, r.text, r.headers["x-tea"]) == (418, "caught: tea", "earl grey")
    r = sclient.get("/positional")  # HTTPException(status.HTTP_409_CONFLICT, "taken")
    assert (r.status_code, r.text) == (409, "caught: taken")
    assert sclient.get("/gone").text == "caught: Gone"  # the detail defaults to the status phrase


def test_the_applications_dependencies_run_for_its_routes_not_its_mounts(sclient: Any) -> None:
    r = sclient.get("/positional", headers={"x-block": "1"})  # Covet(dependencies=[Depends(not_blocked)])
    assert (r.status_code, r.text) == (403, "caught: blocked")
    assert sclient.get("/r/items/1", headers={"x-block": "1"}).status_code == 403  # an included router's too
    r = sclient.get("/static/hello.txt", headers={"x-block": "1"})  # a mounted StaticFiles is an app of its own
    assert (r.status_code, r.text) == (200, "hello file\n")
    if sclient.server is not None:  # the server's own probe (covet serve adds it) needs no application token
        assert sclient.get("/healthz", headers={"x-block": "1"}).status_code == 200


def test_status_has_every_name_starlette_has_with_its_value() -> None:
    for name in starlette.status.__all__:
        assert getattr(status, name) == getattr(starlette.status, name), name
    for code in http.HTTPStatus:
        assert getattr(status, f"HTTP_{code.value}_{code.name}") == code.value
    # RFC 9110's names beside the older ones Python's HTTPStatus keeps
    assert status.HTTP_422_UNPROCESSABLE_CONTENT == status.HTTP_422_UNPROCESSABLE_ENTITY == 422
    assert status.HTTP_413_CONTENT_TOO_LARGE == status.HTTP_413_REQUEST_ENTITY_TOO_LARGE == 413
    assert status.WS_1008_POLICY_VIOLATION == 1008


def test_http_exception_is_http_error() -> None:
    assert HTTPException is HTTPError
    exc = HTTPException(status_code=404, detail="x", headers={"a": "b"})
    assert (exc.status, exc.status_code, exc.detail, exc.headers) == (404, 404, "x", {"a": "b"})
    with pytest.raises(TypeError, match="needs a status"):
        HTTPException()
    with pytest.raises(TypeError, match="give one"):
        HTTPException(404, status_code=400)


# -- responses ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind,code,ctype,body", [
    ("plain", 201, "text/plain; charset=utf-8", b"made"),
    ("json", 202, "application/json", b'{"accepted":true}'),
    ("orjson", 200, "application/json", b'{"fast":[1,2]}'),
    ("raw", 203, "text/plain; charset=utf-8", b"raw"),
])
def test_responses_take_status_code(sclient: Any, kind: str, code: int, ctype: str, body: bytes) -> None:
    r = sclient.get(f"/responses/{kind}")
    assert (r.status_code, r.headers["content-type"], r.content) == (code, ctype, body)


def test_redirect_response_takes_status_code_and_defaults_to_307(sclient: Any) -> None:
    r = sclient.get("/responses/redirect")
    assert (r.status_code, r.headers["location"]) == (302, "/teapot")
    assert sclient.get("/responses/redirect-default").status_code == 307


def test_file_response_sends_the_file_with_its_name(sclient: Any) -> None:
    r = sclient.get("/file")
    assert (r.status_code, r.content) == (200, b"hello file\n")
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.headers["content-length"] == "11"
    assert r.headers["content-disposition"] == 'attachment; filename="greeting.txt"'
    assert r.headers["etag"] and r.headers["last-modified"]


def test_file_response_escapes_a_name_that_needs_it(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"\x00\x01")
    resp = FileResponse(path, filename='a "b"\r\nx.bin', status_code=200)
    headers = dict(resp.raw_headers)
    assert headers[b"content-disposition"] == b"attachment; filename*=utf-8''a%20%22b%22%0D%0Ax.bin"
    assert headers[b"content-type"] == b"application/octet-stream"
    with pytest.raises(FileNotFoundError):
        FileResponse(tmp_path / "missing")
    with pytest.raises(IsADirectoryError):
        FileResponse(tmp_path)


def test_status_code_beside_status() -> None:
    assert Response(b"", status_code=204).status == 204
    assert JSONResponse([1], status_code=201).status == 201
    assert StreamingResponse(iter([b"x"]), status_code=206).status == 206
    assert RedirectResponse("/x", status_code=303).status == 303
    assert Response(b"", 201).status == 201  # CovetPy's own spelling, positional, still works
    with pytest.raises(TypeError, match="status_code must be an int"):
        Response(b"", status_code="200")  # type: ignore[arg-type]


# -- state, url_for, lifespan ------------------------------------------------------------------------------------


def test_app_state_request_state_and_url_for(sclient: Any) -> None:
    base = origin(sclient)
    assert sclient.get("/state").json() == {
        "greeting": "hello",  # app.state, set at import
        "pool": "the pool",  # app.state, set by the lifespan
        "db": "lifespan db",  # request.state starts with what the lifespan yielded
        "user": "ann",
        "item_url": f"{base}/r/items/3",
        "static_url": f"{base}/static/hello.txt",
        "teapot_path": "/teapot",
    }
    assert sclient.get("/state/fresh").json() == {"user_seen": False}  # each request has its own state


def test_the_lifespan_is_entered_before_the_startup_hooks(sclient: Any) -> None:
    assert sclient.get("/events").json()[:2] == ["lifespan enter", "startup"]


def test_lifespan_and_on_event_run_around_serving_in_process() -> None:
    seen: list[str] = []

    @asynccontextmanager
    async def lifespan(app: Covet) -> Any:
        seen.append("enter")
        yield
        seen.append("exit")

    app = Covet(lifespan=lifespan)
    app.on_event("startup")(lambda: seen.append("startup"))
    app.on_event("shutdown")(lambda: seen.append("shutdown"))
    app.add_event_handler("shutdown", lambda: seen.append("shutdown 2"))

    @app.get("/")
    def root(request: Request) -> dict[str, bool]:
        return {"state": hasattr(request.state, "anything")}

    with TestClient(app) as client:
        assert seen == ["enter", "startup"]
        assert client.get("/").json() == {"state": False}
    assert seen == ["enter", "startup", "shutdown", "shutdown 2", "exit"]


def test_a_bare_async_generator_is_a_lifespan_too() -> None:
    seen: list[str] = []

    async def lifespan(app: Covet) -> Any:
        seen.append("enter")
        yield {"n": 1}
        seen.append("exit")

    app = Covet(lifespan=lifespan)

    @app.get("/")
    def root(request: Request) -> int:
        n: int = request.state.n
        return n

    with TestClient(app) as client:
        assert client.get("/").json() == 1
    assert seen == ["enter", "exit"]


def test_url_path_for_refuses_what_no_route_has() -> None:
    app = Covet()

    @app.get("/users/{user_id}/files/{rest:path}", name="user_file")
    def f(user_id: int, rest: str) -> str:
        return rest

    assert app.url_path_for("user_file", user_id=7, rest="/a/b c") == "/users/7/files/a/b%20c"
    # A value cannot end the path or add a segment where the template has one
    assert app.url_path_for("user_file", user_id="?x#\r\n", rest="z") == "/users/%3Fx%23%0D%0A/files/z"
    with pytest.raises(NoMatchFound, match='No route exists for name "user_file" and params "user_id"'):
        app.url_path_for("user_file", user_id=7)
    with pytest.raises(NoMatchFound):
        app.url_path_for("user_file", user_id="a/b", rest="z")
    with pytest.raises(NoMatchFound):
        app.url_path_for("nothing")


# -- redirect_slashes --------------------------------------------------------------------------------------------


def test_the_other_slash_is_redirected_with_its_query(sclient: Any) -> None:
    base = origin(sclient)
    r = sclient.get("/slash?q=1")
    assert (r.status_code, r.headers["location"]) == (307, f"{base}/slash/?q=1")
    r = sclient.post("/noslash/")
    assert (r.status_code, r.headers["location"]) == (307, f"{base}/noslash")
    assert sclient.get("/slash/?q=2").json() == {"route": "slash/", "q": "2"}
    # Neither form declared: the 404 (here the application's own handler's)
    assert sclient.get("/neither/").json() == {"missing": "/neither/", "detail": "Not Found"}


def test_a_route_declared_twice_is_answered_by_the_first(sclient: Any) -> None:
    assert sclient.get("/twice").json() == ["first"]
    # FastAPI's document lists the later declaration's operation: each overwrites the path's method
    doc = sclient.get("/openapi.json").json()
    assert doc["paths"]["/twice"]["get"]["operationId"] == "twice_second_twice_get"
    if sclient.server is not None:
        assert "GET /twice is declared twice: the first, " in sclient.server.log, sclient.server.log
        assert "twice_second is never called" in sclient.server.log, sclient.server.log


def test_redirect_slashes_can_be_turned_off() -> None:
    app = Covet(redirect_slashes=False)

    @app.get("/items/")
    def items() -> list[int]:
        return []

    with TestClient(app) as client:
        assert client.get("/items").status_code == 404


def test_a_redirect_stays_on_this_server_and_keeps_escapes() -> None:
    app = Covet()

    @app.get("/{name}/")
    def named(name: str) -> str:
        return name

    with TestClient(app, follow_redirects=False) as client:
        # The Location is absolute, on the request's own host: a path cannot make it name another one.
        for path in ("/%2F%2Fevil.example", "/a%0d%0ab"):
            r = client.get(path)
            assert (r.status_code, r.headers["location"]) == (307, f"http://testserver{path}/")
        assert client.get("//evil.example").status_code == 404  # matches neither form


# -- exception handlers for the router's answers -----------------------------------------------------------------


def test_a_404_handler_answers_the_routers_404(sclient: Any) -> None:
    r = sclient.get("/nowhere")
    assert (r.status_code, r.json()) == (404, {"missing": "/nowhere", "detail": "Not Found"})
    r = sclient.get("/static/missing.txt")  # StaticFiles' own 404 too
    assert (r.status_code, r.json()) == (404, {"missing": "/static/missing.txt", "detail": "Not Found"})


def test_an_http_exception_handler_answers_the_routers_405(sclient: Any) -> None:
    r = sclient.post("/teapot")
    assert (r.status_code, r.text, r.headers["allow"]) == (405, "caught: Method Not Allowed", "GET, HEAD")


def test_validation_errors_reach_their_handler(sclient: Any) -> None:
    r = sclient.get("/validated/x")
    assert (r.status_code, r.text) == (400, "invalid: ('path', 'n')")  # FastAPI's tuples


def test_exception_handler_500_is_exception() -> None:
    app = Covet()

    @app.exception_handler(500)
    def oops(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"oops": type(exc).__name__}, status_code=500)

    @app.get("/")
    def root() -> None:
        raise ValueError

    with TestClient(app) as client:
        r = client.get("/")
        assert (r.status_code, r.json()) == (500, {"oops": "ValueError"})
        assert client.get("/none").json() == {"detail": "Not Found"}  # no handler of 404: the usual answer


def test_without_handlers_the_routers_answers_are_unchanged() -> None:
    app = Covet()

    @app.get("/a")
    def a() -> str:
        return "a"

    with TestClient(app) as client:
        assert (client.get("/b").status_code, client.get("/b").json()) == (404, {"detail": "Not Found"})
        r = client.post("/a")
        assert (r.status_code, r.json(), r.headers["allow"]) == (405, {"detail": "Method Not Allowed"}, "GET, HEAD")


# -- routers, mounts, and what is refused at start-up ------------------------------------------------------------


def test_api_router_takes_fastapis_options() -> None:
    assert APIRouter is Router
    router = APIRouter(prefix="/v1", tags=["v1"], responses={418: "A teapot"}, deprecated=True)

    @router.get("/x")
    def x() -> int:
        return 1

    app = Covet()
    app.include_router(router, responses={401: "Who?"})
    doc = app.openapi()
    op = doc["paths"]["/v1/x"]["get"]
    assert op["deprecated"] is True and op["tags"] == ["v1"]
    assert {"401", "418"} <= set(op["responses"])


def refused(match: str) -> Any:
    """The RouteDefinitionError of a mistake, naming this file and the line of the mistake."""
    return pytest.raises(RouteDefinitionError, match=rf"{HERE}:\d+: .*{match}")


def test_what_cannot_be_served_is_refused_naming_the_line() -> None:
    with refused("callbacks=...\\): give callbacks= to each route that makes them"):
        APIRouter(callbacks=[])
    with refused("default_response_class must be a Response class"):
        APIRouter(default_response_class=dict)
    with refused("default_response_class must be a Response class"):
        Covet(default_response_class="html")  # type: ignore[arg-type]
    with refused("openapi_tags holds dicts with a 'name'"):
        Covet(openapi_tags=["users"])  # type: ignore[list-item]
    with refused("swagger_ui_parameters\\['x'\\] cannot be written into the docs page as JSON"):
        Covet(swagger_ui_parameters={"x": object()})
    with refused("route_class"):
        Covet().include_router(APIRouter(), route_class=object)
    with refused("on_event\\('boot'\\)"):
        Covet().on_event("boot")
    with refused("needs an exception class, or an error status"):
        Covet().exception_handler(200)
    with refused("lifespan"):
        Covet(lifespan=42)  # type: ignore[arg-type]

    def sync_lifespan(app: Covet) -> Iterator[None]:
        yield

    with refused("lifespan"):
        Covet(lifespan=sync_lifespan)  # type: ignore[arg-type]

    async def asgi(scope: object, receive: object, send: object) -> None: ...

    with refused("cannot be mounted"):
        Covet().mount("/sub", asgi)
    with refused("cannot be mounted"):
        Covet().mount("/sub", Covet())


def test_mount_takes_a_router(tmp_path: Path) -> None:
    app = Covet()
    router = Router()

    @router.get("/x")
    def x() -> str:
        return "x"

    app.mount("/sub", router)
    (tmp_path / "a.txt").write_text("a")
    app.mount("/", StaticFiles(directory=tmp_path), name="root")
    with TestClient(app) as client:
        assert client.get("/sub/x").text == "x"
        assert client.get("/a.txt").text == "a"
        assert app.url_path_for("root", path="a.txt") == "/a.txt"


def test_static_files_takes_starlettes_arguments(tmp_path: Path) -> None:
    with pytest.raises(RouteDefinitionError, match="needs a directory"):
        StaticFiles()
    StaticFiles(directory=tmp_path / "later", check_dir=False)
    with pytest.raises(ValueError, match="not a directory"):
        StaticFiles(directory=tmp_path / "later")


# -- jsonable_encoder --------------------------------------------------------------------------------------------


def test_jsonable_encoder_gives_json_data(sclient: Any) -> None:
    assert sclient.get("/encoded").json()["encoded"] == {
        "when": "2026-01-02T03:04:05",
        "whole": 3,  # a whole Decimal is an int, another a float, as FastAPI gives them
        "part": 1.5,
        "colour": "red",
        "point": {"x": 1, "y": 2},
        "item": {"name": "pen", "price": 1.0, "note": None},
        "tags": ["a"],
        "took": 90.0,
        "unset": {"name": "pen"},  # exclude_unset=True
    }


def test_jsonable_encoder_options() -> None:
    import datetime

    from covet.encoders import jsonable_encoder

    assert jsonable_encoder({"a": None, "b": 1}, exclude_none=True) == {"b": 1}
    assert jsonable_encoder({"a": 1, "b": 2}, include={"a"}) == {"a": 1}
    assert jsonable_encoder({"a": 1, "b": 2}, exclude={"a"}) == {"b": 2}
    day = datetime.date(2026, 1, 2)
    assert jsonable_encoder([day], custom_encoder={datetime.date: lambda d: d.day}) == [2]
    assert jsonable_encoder((1, "x", None)) == [1, "x", None]


# -- which bodies are JSON ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ["/items", "/inline/items"])
@pytest.mark.parametrize("ctype", ["application/json", "application/json; charset=utf-8", "Application/JSON",
                                   "application/vnd.api+json"])
def test_a_body_declared_json_is_read_as_json(sclient: Any, ctype: str, route: str) -> None:
    headers = {"x-other": "application/xml", "content-type": ctype, "accept": "text/plain"}
    r = sclient.post(route, content=b'{"name": "pen"}', headers=headers)
    assert (r.status_code, r.json()) == (200, {"name": "pen", "price": 1.0, "note": None})


@pytest.mark.parametrize("route", ["/items", "/inline/items"])
def test_a_validation_error_carries_the_body_as_fastapi_read_it(sclient: Any, route: str) -> None:
    json_type = {"content-type": "application/json"}
    r = sclient.post(route, content=b'{"price": "x"}', headers=json_type)
    assert (r.status_code, r.text) == (400, "invalid: ('body', 'name') {'price': 'x'}")  # decoded
    r = sclient.post(route, content=b'{"name": ', headers=json_type)
    assert (r.status_code, r.text) == (400, "invalid: ('body', 9) '{\"name\": '")  # its text, when it does not decode
    r = sclient.post(route, content=b'{"name": "\xff', headers=json_type)
    assert r.json() == {"detail": "There was an error parsing the body"}  # not text: FastAPI's 400, as before


@pytest.mark.parametrize("route", ["/items", "/inline/items"])
@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", "application/jsonx",
                                   "json", None])
def test_a_body_not_declared_json_is_text(sclient: Any, ctype: str | None, route: str) -> None:
    headers = {"x-content-type": "application/json", **({"content-type": ctype} if ctype else {})}
    r = sclient.post(route, content=b'{"name": "pen"}', headers=headers)
    # Through the app's RequestValidationError handler, with FastAPI's exc.body: the bytes, not declared JSON
    assert (r.status_code, r.text) == (400, "invalid: ('body',) b'{\"name\": \"pen\"}'")
    r = sclient.post("/text", content=b"plain words", headers=headers)  # a str body takes the text
    assert (r.status_code, r.json()) == (200, {"text": "plain words"})


class Named(BaseModel):
    name: str


def fastapi_like_app(strict: bool = True) -> Covet:
    app = Covet(strict_content_type=strict)

    @app.post("/items")
    async def create(item: Named) -> Named:
        return item

    @app.post("/pair")
    def pair(a: Annotated[int, Body()], b: Annotated[int, Body()] = 2) -> int:
        return a + b

    return app


def test_the_422_of_a_body_not_declared_json_is_fastapis() -> None:
    with TestClient(fastapi_like_app()) as client:
        r = client.post("/items", content=b'{"name": "pen"}', headers={"content-type": "text/plain"})
        assert (r.status_code, r.json()) == (422, {"detail": [{
            "type": "model_attributes_type", "loc": ["body"],
            "msg": "Input should be a valid dictionary or object to extract fields from",
            "input": '{"name": "pen"}'}]})
        r = client.post("/pair", content=b'{"a": 1}', headers={"content-type": "text/plain"})
        assert (r.status_code, r.json()) == (422, {"detail": [
            {"type": "missing", "loc": ["body", "a"], "msg": "Field required", "input": None}]})
        # An empty body is no body, whatever its type: the usual missing-body error
        r = client.post("/items", content=b"", headers={"content-type": "text/plain"})
        assert r.json()["detail"][0]["type"] == "missing"
        r = client.post("/items", content=b"\xff\xfe", headers={"content-type": "text/plain"})  # not UTF-8
        assert r.status_code == 422 and r.json()["detail"][0]["input"] == "\ufffd\ufffd"


def test_without_strict_content_type_a_body_without_one_is_json() -> None:
    with TestClient(fastapi_like_app(strict=False)) as client:
        assert client.post("/items", content=b'{"name": "pen"}').json() == {"name": "pen"}
        r = client.post("/items", content=b'{"name": "pen"}', headers={"content-type": "text/plain"})
        assert r.status_code == 422  # a content type that says otherwise still counts


def test_request_client_has_host_and_port_and_query_params_is_query() -> None:
    app = Covet()

    @app.get("/who")
    async def who(request: Request) -> dict[str, object]:
        peer = request.client
        assert peer is not None
        return {"host": peer.host, "port": peer.port, "pair": list(peer), "q": request.query_params.get("q")}

    r = TestClient(app).get("/who?q=1")
    assert r.json() == {"host": "testclient", "port": 50000, "pair": ["testclient", 50000], "q": "1"}
