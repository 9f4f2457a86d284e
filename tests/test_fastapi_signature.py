"""FastAPI's handler signatures and response options, served interpreted and compiled on every loop.

tests/apps/fastsig.py is written as a FastAPI application is (pydantic models beside the routes, markers as
defaults, response_model options); each answer is the one FastAPI gives for the same app, as FastAPI's own
tutorial tests state them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest

from conftest import LOOPS, TRANSPORTS, Server, app_client, build_project, checkout_path
from covet import Covet, Query
from covet.exceptions import RouteDefinitionError
from covet.openapi import openapi_document

TESTS = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def built_fastsig(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_project(tmp_path_factory, TESTS / "apps" / "fastsig.py", TESTS / "apps" / "fastsig_models.py")


@pytest.fixture(scope="module", params=["inprocess", *TRANSPORTS])
def fclient(request: pytest.FixtureRequest) -> Iterator[Any]:
    yield from app_client(request, "fastsig", "built_fastsig")


@pytest.fixture(scope="session")
def built_fastsig_defaults(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_project(tmp_path_factory, TESTS / "apps" / "fastsig_defaults.py")


# Markers written as defaults cannot be compiled (see test_fastapi_style_modules_keep_running_interpreted_in_a_build):
# compiled, the module runs interpreted, called by the compiled glue.
@pytest.fixture(scope="module", params=["inprocess", *TRANSPORTS])
def dclient(request: pytest.FixtureRequest) -> Iterator[Any]:
    yield from app_client(request, "fastsig_defaults", "built_fastsig_defaults", glue_only=True)


def multipart(*files: tuple[str, str, bytes]) -> tuple[bytes, dict[str, str]]:
    """A multipart/form-data body of (field, filename, content) files."""
    boundary = "covetsigboundary"
    parts = [(f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{name}"\r\n'
              f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + b"\r\n"
             for field, name, data in files]
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, {"content-type": f"multipart/form-data; boundary={boundary}"}


@pytest.mark.parametrize(("path", "body"), [
    ("/items/foo", {"name": "Foo", "price": 50.2}),
    ("/items/bar", {"name": "Bar", "description": "The bartenders", "price": 62.0, "tax": 20.2}),
    ("/items/baz", {"name": "Baz", "description": None, "price": 50.2, "tax": 10.5, "tags": []}),
    ("/items/bar/name", {"name": "Bar", "description": "The bartenders"}),
    ("/items/bar/public", {"name": "Bar", "description": "The bartenders", "price": 62.0, "tags": []}),
    ("/items/baz/nonone", {"name": "Baz", "price": 50.2, "tax": 10.5, "tags": []}),
    ("/items/bar/nodefaults", {"name": "Bar", "description": "The bartenders", "price": 62.0, "tax": 20.2}),
    ("/unfiltered", {"kept": True, "secret": "x"}),
    ("/users", [{"username": "ada", "full_name": None}, {"username": "bob", "full_name": "Bob"}]),
])
def test_response_model_filters_the_result(fclient: Any, path: str, body: Any) -> None:
    r = fclient.get(path)
    assert (r.status_code, r.headers["content-type"], r.json()) == (200, "application/json", body)


def test_response_model_writes_aliases_unless_told_not_to(fclient: Any) -> None:
    assert fclient.get("/alias").content == b'{"itemName":"pen"}'
    assert fclient.get("/no-alias").content == b'{"item_name":"pen"}'


def test_response_model_drops_what_the_output_model_does_not_declare(fclient: Any) -> None:
    r = fclient.post("/user/", json={"username": "ada", "password": "secret", "email": "ada@example.com"})
    assert r.status_code == 200
    assert r.content == b'{"username":"ada","email":"ada@example.com","full_name":null}'


@pytest.mark.parametrize(("path", "ctype", "body"), [
    ("/page", "text/html; charset=utf-8", "<h1>hello</h1>"),
    ("/text", "text/plain; charset=utf-8", "plain"),
])
def test_response_class_wraps_the_result(fclient: Any, path: str, ctype: str, body: str) -> None:
    r = fclient.get(path)
    assert (r.status_code, r.headers["content-type"], r.text) == (200, ctype, body)


@pytest.mark.parametrize(("path", "status", "location"), [("/go", 307, "/page"), ("/found", 302, "/text")])
def test_a_redirect_response_class_sends_the_result_as_its_location(fclient: Any, path: str, status: int,
                                                                    location: str) -> None:
    r = fclient.get(path, follow_redirects=False) if fclient.server is not None else fclient.get(path)
    assert (r.status_code, r.headers["location"], r.content) == (status, location, b"")


def test_a_response_returned_beside_a_model_goes_out_as_it_is(fclient: Any) -> None:
    r = fclient.get("/messages/nope")
    assert (r.status_code, r.json()) == (404, {"message": "Item not found"})
    assert fclient.get("/messages/foo").json() == {"name": "Foo", "description": None, "price": 50.2, "tax": 10.5,
                                                  "tags": []}


def test_a_url_an_address_or_a_path_parameter_is_read_from_the_query(fclient: Any) -> None:
    r = fclient.get("/where", params={"url": "https://example.com/a", "ip": "10.0.0.1", "path": "/srv/x"})
    assert r.json() == {"url": "https://example.com/a", "host": "example.com", "ip": "10.0.0.1", "path": "/srv/x"}
    r = fclient.get("/where", params={"url": "not a url"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "url"]
    doc = fclient.get("/openapi.json").json()
    assert [p["in"] for p in doc["paths"]["/where"]["get"]["parameters"]] == ["query"] * 3


def test_a_bare_list_parameter_takes_every_value_as_it_came(fclient: Any) -> None:
    assert fclient.get("/bare-list").json() == {"q": []}
    assert fclient.get("/bare-list?q=1&q=two&q=").json() == {"q": ["1", "two", ""]}
    doc = fclient.get("/openapi.json").json()
    (param,) = doc["paths"]["/bare-list"]["get"]["parameters"]
    assert param["schema"] == {"type": "array", "items": {}, "title": "Q", "default": []}


def test_markers_as_defaults(dclient: Any) -> None:
    assert dclient.get("/search/").json() == {"q": None, "limit": 10, "tag": [], "bare": []}
    r = dclient.get("/search/", params=[("q", "ab"), ("limit", "3"), ("item-tag", "a"), ("item-tag", "b"),
                                        ("bare", "1"), ("bare", "x")])
    assert r.json() == {"q": "ab", "limit": 3, "tag": ["a", "b"], "bare": ["1", "x"]}
    r = dclient.get("/search/", params={"q": "abcdef", "limit": "0"})
    assert (r.status_code, r.json()) == (422, {"detail": [
        {"type": "string_too_long", "loc": ["query", "q"], "msg": "String should have at most 5 characters",
         "input": "abcdef", "ctx": {"max_length": 5}},
        {"type": "greater_than_equal", "loc": ["query", "limit"], "msg": "Input should be greater than or equal to 1",
         "input": "0", "ctx": {"ge": 1}}]})
    r = dclient.get("/things/3", params={"size": "2.5"}, headers={"user-agent": "probe"})
    assert r.json() == {"thing_id": 3, "size": 2.5, "user_agent": "probe"}
    r = dclient.get("/things/0")
    assert (r.status_code, r.json()) == (422, {"detail": [
        {"type": "greater_than", "loc": ["path", "thing_id"], "msg": "Input should be greater than 0", "input": "0",
         "ctx": {"gt": 0}},
        {"type": "missing", "loc": ["query", "size"], "msg": "Field required", "input": None}]})


def test_body_and_file_markers_as_defaults(dclient: Any) -> None:
    assert dclient.put("/importance", json={"value": 3}).json() == {"value": 3, "note": "none"}
    r = dclient.put("/importance", json={"value": 0, "note": "x"})
    assert (r.status_code, r.json()["detail"][0]["loc"]) == (422, ["body", "value"])
    body, headers = multipart(("file", "a.txt", b"hello"))
    assert dclient.post("/files/", content=body, headers=headers).json() == {"file_size": 5, "other": None}


def test_several_body_parameters_make_one_object(fclient: Any) -> None:
    sent = {"item": {"name": "Foo", "price": 42.0}, "user": {"username": "dave"}, "importance": 5}
    r = fclient.put("/merge/7", params={"q": "x"}, json=sent)
    assert r.json() == {"item_id": 7, "item": {"name": "Foo", "description": None, "price": 42.0, "tax": 10.5,
                                               "tags": []},
                        "user": {"username": "dave", "full_name": None}, "importance": 5, "q": "x"}
    r = fclient.put("/merge/7", json={**sent, "importance": 0})
    assert (r.status_code, r.json()["detail"]) == (422, [
        {"type": "greater_than", "loc": ["body", "importance"], "msg": "Input should be greater than 0", "input": 0,
         "ctx": {"gt": 0}}])


def test_an_embedded_body_is_read_from_its_key(fclient: Any) -> None:
    r = fclient.put("/embed/1", json={"item": {"name": "Foo", "price": 1}})
    assert r.json() == {"item_id": 1, "item": {"name": "Foo", "description": None, "price": 1.0, "tax": 10.5,
                                               "tags": []}}
    r = fclient.put("/embed/1", json={"name": "Foo", "price": 1})
    assert (r.status_code, r.json()["detail"][0]["loc"]) == (422, ["body", "item"])


def test_a_body_that_is_no_object_misses_each_body_parameter(fclient: Any) -> None:
    missing = [{"type": "missing", "loc": ["body", key], "msg": "Field required", "input": None}
               for key in ("item", "user", "importance")]
    for sent in (b"[]", b"null", b'"text"', b"3"):
        r = fclient.put("/merge/7", content=sent, headers={"content-type": "application/json"})
        assert (r.status_code, r.json()["detail"]) == (422, missing), sent
    r = fclient.put("/embed/1", content=b"[1]", headers={"content-type": "application/json"})
    assert (r.status_code, r.json()["detail"]) == (422, missing[:1])


def decode_error(pos: int, why: str) -> list[dict[str, Any]]:
    return [{"type": "json_invalid", "loc": ["body", pos], "msg": "JSON decode error", "input": {},
             "ctx": {"error": why}}]


@pytest.mark.parametrize(("path", "method"), [("/tags/?limit=x", "POST"), ("/merge/x?q=1", "PUT"),
                                              ("/user/", "POST")])
def test_a_body_that_is_not_json_is_its_only_error(fclient: Any, path: str, method: str) -> None:
    # As FastAPI: json's message and offset, and no error for the invalid path or query, as the body is read first.
    json_type = {"content-type": "application/json"}
    r = fclient.request(method, path, content=b'{"a": ', headers=json_type)
    assert (r.status_code, r.json()["detail"]) == (422, decode_error(6, "Expecting value"))
    r = fclient.request(method, path, content=b"{some broken json}", headers=json_type)
    assert r.json()["detail"] == decode_error(1, "Expecting property name enclosed in double quotes")
    # Bytes that are no text in any JSON encoding: FastAPI's 400.
    r = fclient.request(method, path, content=b'{"a": "\xff\xfe\xfd"}', headers=json_type)
    assert (r.status_code, r.json()) == (400, {"detail": "There was an error parsing the body"})


def test_body_errors_read_as_fastapi_words_them(fclient: Any) -> None:
    # Python-mode words ("a valid list", not JSON's "a valid array"), as FastAPI validates the parsed body.
    r = fclient.post("/tags/", json={"a": 1})
    assert (r.status_code, r.json()["detail"]) == (422, [
        {"type": "list_type", "loc": ["body"], "msg": "Input should be a valid list", "input": {"a": 1}}])
    r = fclient.post("/user/", json=[1])
    assert [(e["type"], e["msg"]) for e in r.json()["detail"]] == [
        ("model_type", "Input should be a valid dictionary or instance of UserIn")]
    r = fclient.post("/tags/", json=["a", 2])
    assert r.json()["detail"] == [
        {"type": "string_type", "loc": ["body", 1], "msg": "Input should be a valid string", "input": 2}]
    assert fclient.post("/tags/?limit=1", json=["a", "b"]).json() == {"tags": ["a"]}


def test_a_declared_str_result_is_text(fclient: Any) -> None:
    # CovetPy's typed rule (docs/guide.md, Results): a declared type, Any included, keeps text/plain for a str.
    r = fclient.get("/any-text")
    assert (r.headers["content-type"], r.text) == ("text/plain; charset=utf-8", "hello")
    r = fclient.get("/plain-text")
    assert (r.headers["content-type"], r.text) == ("text/plain; charset=utf-8", "hello")


def test_an_unannotated_handlers_str_is_json(dclient: Any) -> None:
    r = dclient.get("/untyped", params={"name": "Morty"})
    assert (r.headers["content-type"], r.json()) == ("application/json", "Morty")


def test_file_parameters_typed_bytes_get_the_content(fclient: Any) -> None:
    body, headers = multipart(("file", "a.txt", b"hello"))
    assert fclient.post("/files/", content=body, headers=headers).json() == {"file_size": 5}
    body, headers = multipart(("files", "a.txt", b"hello"), ("files", "b.bin", b"\x00\r\n--x"))
    assert fclient.post("/many-files/", content=body, headers=headers).json() == {"file_sizes": [5, 6]}


def test_a_response_parameter_adds_headers_and_cookies(fclient: Any) -> None:
    r = fclient.put("/headers/")
    assert (r.status_code, r.json()) == (200, {"message": "Hello World"})
    assert r.headers["x-cat-dog"] == "alone in the world"
    assert r.headers["set-cookie"].startswith("fakesession=fake-cookie-session-value;")
    assert r.headers["content-type"] == "application/json"


def test_a_response_parameter_sets_the_status(fclient: Any) -> None:
    r = fclient.put("/status/new")
    assert (r.status_code, r.json()) == (201, {"created": "new"})
    r = fclient.put("/status/old")
    assert (r.status_code, r.json()) == (200, {"existing": "old"})


def test_a_returned_response_ignores_the_response_parameter(fclient: Any) -> None:
    r = fclient.get("/own-response")
    assert (r.status_code, r.text, r.headers.get("x-ignored")) == (200, "mine", None)


def _doc(module: str = "fastsig") -> dict[str, Any]:
    import importlib

    sys.path.insert(0, str(TESTS / "apps"))
    return openapi_document(importlib.import_module(module).app)


def test_openapi_documents_response_models_and_classes() -> None:
    paths = _doc()["paths"]
    ok = paths["/items/{item_id}"]["get"]["responses"]["200"]
    assert ok == {"description": "Successful Response",
                  "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Item"}}}}
    assert paths["/user/"]["post"]["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/UserOut"}
    assert paths["/page"]["get"]["responses"] == {"200": {
        "description": "Successful Response", "content": {"text/html": {"schema": {"type": "string"}}}}}
    assert paths["/text"]["get"]["responses"]["200"]["content"] == {"text/plain": {"schema": {"type": "string"}}}
    assert paths["/go"]["get"]["responses"] == {"307": {"description": "Successful Response"}}
    assert paths["/unfiltered"]["get"]["responses"]["200"]["content"] == {"application/json": {"schema": {}}}
    assert paths["/messages/{item_id}"]["get"]["responses"]["404"] == {
        "description": "The item was not found",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Message"}}}}


def test_openapi_documents_markers_as_fastapi_does() -> None:
    doc = _doc("fastsig_defaults")
    params = doc["paths"]["/search/"]["get"]["parameters"]
    assert params == [
        {"name": "q", "in": "query", "required": False, "description": "What to find",
         "schema": {"anyOf": [{"type": "string", "maxLength": 5}, {"type": "null"}], "title": "Query string",
                    "description": "What to find"}},  # (FastAPI leaves a None default out)
        {"name": "limit", "in": "query", "required": False,
         "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10, "title": "Limit"}},
        {"name": "item-tag", "in": "query", "required": False,
         "schema": {"type": "array", "items": {"type": "string"}, "default": [], "title": "Item-Tag"}},
        {"name": "bare", "in": "query", "required": False,
         "schema": {"type": "array", "items": {}, "default": [], "title": "Bare"}},
    ]
    thing = doc["paths"]["/things/{thing_id}"]["get"]["parameters"]
    assert thing[0] == {"name": "thing_id", "in": "path", "required": True,
                        "schema": {"type": "integer", "exclusiveMinimum": 0, "title": "The ID of the thing"}}
    assert thing[2]["name"] == "user-agent" and thing[2]["required"] is False
    doc = _doc()
    schemas = doc["components"]["schemas"]  # a body of several parameters is Body_<operation id>, as in FastAPI
    embed = doc["paths"]["/embed/{item_id}"]["put"]["requestBody"]["content"]["application/json"]["schema"]
    assert schemas[embed["$ref"].rsplit("/", 1)[1]]["properties"] == {"item": {"$ref": "#/components/schemas/Item"}}
    merged = doc["paths"]["/merge/{item_id}"]["put"]["requestBody"]["content"]["application/json"]["schema"]
    merged = schemas[merged["$ref"].rsplit("/", 1)[1]]
    assert merged["required"] == ["item", "user", "importance"]
    assert merged["properties"]["importance"] == {"type": "integer", "exclusiveMinimum": 0, "title": "Importance"}


def test_marker_options_reach_the_document() -> None:
    app = Covet()

    @app.get("/x")
    def x(a: str = Query("z", examples=["one"], openapi_examples={"first": {"summary": "A", "value": "a"}},
                         json_schema_extra={"x-note": 1}, deprecated=True),
          hidden: str | None = Query(None, include_in_schema=False),
          old: str | None = Query(None, regex="^o")) -> str:
        return a

    params = openapi_document(app)["paths"]["/x"]["get"]["parameters"]
    assert params == [
        {"name": "a", "in": "query", "required": False, "deprecated": True,
         "examples": {"first": {"summary": "A", "value": "a"}},
         "schema": {"type": "string", "title": "A", "deprecated": True, "examples": ["one"], "x-note": 1,
                    "default": "z"}},
        {"name": "old", "in": "query", "required": False,
         "schema": {"anyOf": [{"type": "string", "pattern": "^o"}, {"type": "null"}], "title": "Old"}},
    ]


def test_a_default_inside_annotated_is_refused() -> None:
    app = Covet()

    @app.get("/x")
    def x(q: Annotated[str, Query("a")]) -> str:
        return q

    with pytest.raises(RouteDefinitionError, match=r"Query\(\) inside Annotated cannot set the default; write it "
                                                   r"after the annotation: q: \.\.\. = 'a'"):
        app.dispatcher()


def test_a_bad_response_class_is_refused() -> None:
    app = Covet()
    with pytest.raises(RouteDefinitionError, match="response_class must be a Response class, not <class 'dict'>"):
        app.get("/x", response_class=dict)


def test_fastapi_style_modules_keep_running_interpreted_in_a_build(built_fastsig_defaults: Path) -> None:
    manifest = json.loads((built_fastsig_defaults / ".covet" / "build" / "covet-manifest.json").read_text())
    assert manifest["not_compiled"] == [{
        "module": "fastsig_defaults",
        "reason": "defines pydantic model Item, whose field types mypyc would erase",
        "fix": "move the models to a module of their own (models.py, say), which stays interpreted, to compile the "
               "handlers"}]
    # Every route's glue is compiled all the same, calling the interpreted handlers.
    assert len(manifest["routes"]) == 6
    assert all(r["compiled"] and not r["handler_compiled"] for r in manifest["routes"])
    assert "fastsig_defaults" not in manifest["compiled_modules"]
    srv = Server("fastsig_defaults:app", "asyncio", cwd=built_fastsig_defaults)
    try:
        assert srv.mode == "compiled", srv.log
        assert "handlers=compiled, 0/6 routes compiled, 6/6 compiled glue calling an interpreted handler" in srv.log
        r = httpx.post(f"{srv.url}/items/", json={"name": "pen", "price": 2})
        assert r.json() == {"name": "pen", "description": None, "price": 2.0}
    finally:
        code, log = srv.stop()
    assert code == 0, log
    # --compiled require means every route's handler compiled: serving this build so is refused, saying why.
    out = subprocess.run([sys.executable, "-m", "covet", "serve", "fastsig_defaults:app", "--compiled", "require",
                          "--port", "0"], cwd=built_fastsig_defaults,
                         env=dict(os.environ, PYTHONPATH=checkout_path(built_fastsig_defaults)),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out.stderr
    assert ("covet: error: --compiled=require, but 6 of the application's routes' handlers would run interpreted: "
            "POST /items/: its glue is compiled, but module fastsig_defaults defines pydantic model Item, whose field "
            "types mypyc would erase; GET /search/: ") in out.stderr, out.stderr


MARKER_DEFAULT_APP = """\
from typing import Any

from covet import Covet, Query

app = Covet()


@app.get("/search")
async def search(q: str | None = Query(default=None, max_length=5)) -> Any:
    return {"q": q}
"""


def test_a_marker_as_a_default_keeps_its_module_interpreted(tmp_path: Path) -> None:
    (tmp_path / "search.py").write_text(MARKER_DEFAULT_APP)
    out = subprocess.run([sys.executable, "-m", "covet", "build", "search:app"], cwd=tmp_path,
                         env=dict(os.environ, PYTHONPATH=checkout_path(tmp_path)), capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr
    assert ("covet: note: module search not compiled natively: parameter 'q' of search (search.py:8) has "
            "Query(...) as its default, which mypyc checks against the parameter's type; write the marker in the "
            "annotation to compile it: q: Annotated[T, Query(...)] = default") in out.stderr, out.stderr


def test_handlers_compile_beside_a_models_module(built_fastsig: Path) -> None:
    manifest = json.loads((built_fastsig / ".covet" / "build" / "covet-manifest.json").read_text())
    assert manifest["not_compiled"] == []
    assert {"fastsig", "covet_glue"} <= set(manifest["compiled_modules"])
    assert len(manifest["routes"]) == 27


EXCEPTION_APP = """\
from covet import Covet, HTTPError

app = Covet()


class ItemMissing(HTTPError):
    pass


@app.get("/items/{item_id}")
async def read(item_id: int) -> dict[str, int]:
    if item_id > 3:
        raise ItemMissing(404, "gone")
    return {"id": item_id}
"""


@pytest.mark.parametrize("loop", LOOPS)
def test_a_class_whose_base_is_imported_through_a_package_compiles(tmp_path_factory: pytest.TempPathFactory,
                                                                   loop: str) -> None:
    def make(proj: Path) -> None:
        (proj / "errapp.py").write_text(EXCEPTION_APP)
        out = subprocess.run([sys.executable, "-m", "covet", "build", "errapp:app"], cwd=proj,
                             env=dict(os.environ, PYTHONPATH=checkout_path(proj)), capture_output=True, text=True,
                             timeout=900)
        assert out.returncode == 0, out.stdout + out.stderr

    from conftest import built_once

    # mypyc looks HTTPError up in covet.exceptions, which the module never imports itself.
    built = built_once(tmp_path_factory, "built-errapp", make)
    assert (built / ".covet" / "build" / "covet_preload.py").read_text().splitlines()[2:] == [
        "import covet.exceptions"]
    srv = Server("errapp:app", loop, "--compiled", "require", cwd=built)
    try:
        assert srv.mode == "compiled", srv.log
        assert httpx.get(f"{srv.url}/items/2").json() == {"id": 2}
        r = httpx.get(f"{srv.url}/items/9")
        assert (r.status_code, r.json()) == (404, {"detail": "gone"})
    finally:
        code, log = srv.stop()
    assert code == 0, log


def test_a_json_response_class_keeps_the_model_filter() -> None:
    from pydantic import BaseModel

    from covet import JSONResponse
    from covet.testing import TestClient

    class Out(BaseModel):
        name: str

    app = Covet()

    @app.get("/out", response_model=Out, response_class=JSONResponse,
             responses={200: {"content": {"image/png": {}}, "description": "The item, or its picture"}})
    def out() -> Any:
        return {"name": "pen", "secret": "x"}

    r = TestClient(app).get("/out")
    assert (r.status_code, r.headers["content-type"], r.content) == (200, "application/json", b'{"name":"pen"}')
    assert openapi_document(app)["paths"]["/out"]["get"]["responses"]["200"] == {
        "description": "The item, or its picture",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Out"}}, "image/png": {}}}
