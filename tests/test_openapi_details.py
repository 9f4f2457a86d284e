"""The OpenAPI document's FastAPI details, on every transport (tests/apps/openapi_details.py), and the options that
shape it: the info fields, tags and servers, titles of inline schemas, body and form field keywords, the route
options ``response_description=`` and ``openapi_extra=``, webhooks, ``separate_input_output_schemas``, a replaced
``app.openapi``, and the ReDoc page."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import pytest
from openapi_spec_validator import validate
from pydantic import BaseModel, computed_field

from conftest import TRANSPORTS, app_client, build_project
from covet import Body, Covet, HTMLResponse, JSONResponse, Query, RedirectResponse, Response, Router, StreamingResponse
from covet.exceptions import RouteDefinitionError
from covet.openapi.utils import get_openapi
from covet.testing import TestClient

APPS = Path(__file__).resolve().parent / "apps"
REF = "#/components/schemas/"


@pytest.fixture(scope="session")
def built_openapi_details(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_project(tmp_path_factory, APPS / "openapi_details.py", APPS / "openapi_details_models.py")


@pytest.fixture(scope="module", params=["inprocess", *TRANSPORTS])
def oclient(request: pytest.FixtureRequest) -> Iterator[Any]:
    yield from app_client(request, "openapi_details", "built_openapi_details")


def test_document_has_fastapis_details_on_every_transport(oclient: Any) -> None:
    r = oclient.get("/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    validate(doc)
    assert doc["info"] == {"title": "Details", "version": "3.0.0", "summary": "Every detail of the document.",
                           "termsOfService": "https://example.com/terms/",
                           "contact": {"name": "Ada", "email": "ada@example.com"},
                           "license": {"name": "MIT", "identifier": "MIT"}}
    assert doc["tags"] == [{"name": "items", "description": "Things for sale.",
                            "externalDocs": {"url": "https://example.com/items"}}]
    assert doc["servers"] == [{"url": "https://api.example.com", "description": "Production"}]
    paths = doc["paths"]

    weights = paths["/weights/"]["post"]
    # FastAPI's summary (the name) and description (the docstring, up to a form feed).
    assert weights["summary"] == "Weights"
    assert weights["description"] == "Each item's price, by name.\n\nPrices are in euros."
    # An inline schema is titled: the body by its parameter, the result by the operation.
    assert weights["requestBody"] == {"required": True, "content": {"application/json": {"schema": {
        "type": "array", "items": {"$ref": REF + "Item"}, "title": "Items"}}}}
    assert weights["responses"]["200"]["content"]["application/json"]["schema"] == {
        "type": "object", "additionalProperties": {"type": "number"}, "title": "Response Weights Weights  Post"}

    update = paths["/items/{item_id}"]["put"]
    # The path's parameters first, then the query's; the hidden one is left out (its 422 is not).
    assert [(p["name"], p["in"]) for p in update["parameters"]] == [("item_id", "path"), ("q", "query")]
    assert update["parameters"][0]["schema"]["title"] == "The item"
    assert "422" in update["responses"]
    # An optional body is not "required": false, it has no "required" at all.
    assert update["requestBody"] == {"content": {"application/json": {"schema": {
        "anyOf": [{"$ref": REF + "Item"}, {"type": "null"}], "title": "Item", "description": "What to store"}}}}

    # A reference is not titled, but keeps its examples.
    assert paths["/examples/"]["post"]["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": REF + "Item", "examples": [{"name": "pen", "price": 1.5}]}

    upload = paths["/upload/"]["post"]
    assert "required" not in upload["requestBody"]
    form = doc["components"]["schemas"]["Body_upload_upload__post"]
    assert form["properties"] == {
        "file": {"anyOf": [{"type": "string", "contentMediaType": "application/octet-stream"}, {"type": "null"}],
                 "title": "File", "description": "Any file"},
        "note": {"type": "string", "title": "Note", "description": "A note", "default": "none"}}

    assert doc["components"]["schemas"]["Blob"]["properties"]["data"] == {
        "type": "string", "contentEncoding": "base64", "contentMediaType": "application/octet-stream",
        "title": "Data"}

    raw = paths["/raw/"]["post"]
    assert raw["x-raw"] is True
    assert raw["requestBody"] == {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}
    assert raw["responses"]["200"]["description"] == "The body's size"

    assert paths["/portal"]["get"]["responses"]["200"]["content"] == {"application/json": {"schema": {}}}

    hook = doc["webhooks"]["new-item"]["post"]
    assert hook["operationId"] == "new_itemnew_item_post"
    assert hook["requestBody"]["content"]["application/json"]["schema"] == {"$ref": REF + "Item"}
    assert "new-item" not in paths


def test_the_routes_answer_as_declared(oclient: Any) -> None:
    r = oclient.put("/items/5", params={"q": "x", "hidden": "h"}, json={"name": "pen"})
    assert r.json() == {"item_id": 5, "q": "x", "item": {"name": "pen", "price": 0.0}, "hidden": "h"}
    assert oclient.put("/items/5", params={"q": "x"}).json()["item"] is None
    assert oclient.put("/items/x", params={"q": "x"}).status_code == 422
    assert oclient.post("/raw/", content=b'{"a": 1}').json() == {"size": 8}
    assert oclient.post("/upload/", files={"file": ("a.txt", b"hi")}, data={"note": "n"}).json() == {
        "file": "a.txt", "note": "n"}
    data = base64.b64encode(b"\x00\xff").decode()
    assert oclient.post("/blob/", json={"data": data}).json() == {"data": data}
    assert oclient.post("/weights/", json=[{"name": "pen", "price": 2}]).json() == {"pen": 2.0}
    # A webhook is documented, never served.
    assert oclient.post("/new-item", json={"name": "pen"}).status_code == 404


def test_redoc_page_is_fastapis(oclient: Any) -> None:
    r = oclient.get("/redoc")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    page = r.text
    assert "<title>Details - ReDoc</title>" in page
    assert '<redoc spec-url="/openapi.json"></redoc>' in page
    assert '<script src="https://cdn.jsdelivr.net/npm/redoc@2/bundles/redoc.standalone.js"> </script>' in page


def test_redoc_can_be_moved_or_turned_off() -> None:
    with TestClient(Covet(redoc_url="/api/redoc", title='<b>"x"</b>')) as c:
        assert c.get("/redoc").status_code == 404
        page = c.get("/api/redoc").text
        assert "<title>&lt;b&gt;&quot;x&quot;&lt;/b&gt; - ReDoc</title>" in page  # the title is escaped
    with TestClient(Covet(redoc_url=None)) as c:
        assert c.get("/redoc").status_code == 404
    with TestClient(Covet(openapi_url=None)) as c:
        assert c.get("/redoc").status_code == 404  # the page needs the document
    with pytest.raises(RouteDefinitionError, match="redoc_url"):
        Covet(redoc_url="redoc")
    app = Covet()

    @app.get("/redoc")
    def mine() -> str:
        return "mine"

    with pytest.raises(RouteDefinitionError, match="redoc_url"):
        app.dispatcher()


def test_an_untyped_parameter_is_documented_as_anything() -> None:
    app = Covet()

    @app.get("/items/{item_id}")
    async def read_item(item_id, q: Annotated[str, Query()] = "") -> dict[str, Any]:  # type: ignore[no-untyped-def]
        return {"item_id": item_id}

    with TestClient(app) as c:
        assert c.get("/items/7").json() == {"item_id": "7"}
        params = c.get("/openapi.json").json()["paths"]["/items/{item_id}"]["get"]["parameters"]
    assert params[0] == {"name": "item_id", "in": "path", "required": True, "schema": {"title": "Item Id"}}


class Priced(BaseModel):
    name: str
    price: Decimal  # read from a number or a string, written as a string: two schemas


class Computed(BaseModel):
    name: str

    @computed_field  # type: ignore[prop-decorator]
    @property
    def shout(self) -> str:
        return self.name.upper()


def _separate_app(separate: bool) -> Covet:
    app = Covet(separate_input_output_schemas=separate)

    @app.post("/items/")
    def create(item: Priced) -> Priced:
        return item

    @app.get("/computed/")
    def computed() -> Computed:
        return Computed(name="a")

    return app


def test_separate_input_output_schemas() -> None:
    apart = _separate_app(True).openapi()["components"]["schemas"]
    assert {"Priced-Input", "Priced-Output"} <= set(apart)
    together = _separate_app(False).openapi()
    schemas = together["components"]["schemas"]
    assert "Priced" in schemas and "Priced-Input" not in schemas
    assert together["paths"]["/items/"]["post"]["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": REF + "Priced"}
    # A model with computed fields keeps its result's own schema (they are only in the output), as in FastAPI.
    assert "shout" in schemas[together["paths"]["/computed/"]["get"]["responses"]["200"]["content"][
        "application/json"]["schema"]["$ref"].removeprefix(REF)]["properties"]


def test_the_document_can_be_replaced_as_in_fastapi() -> None:
    app = Covet()

    @app.get("/items/")
    async def read_items() -> list[str]:
        return ["a"]

    calls = []

    def custom_openapi() -> dict[str, Any]:
        calls.append(1)
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title="Custom", version="2.5.0", summary="Mine", routes=app.routes)
        schema["info"]["x-logo"] = {"url": "https://example.com/logo.png"}
        app.openapi_schema = schema
        return schema

    app.openapi = custom_openapi  # type: ignore[method-assign]
    with TestClient(app) as c:
        doc = c.get("/openapi.json").json()
        assert c.get("/openapi.json").json() == doc
    assert doc["info"] == {"title": "Custom", "version": "2.5.0", "summary": "Mine",
                           "x-logo": {"url": "https://example.com/logo.png"}}
    assert doc["paths"]["/items/"]["get"]["operationId"] == "read_items_items__get"
    assert len(calls) == 1  # called once, at start-up, not per request


def test_route_options_for_the_document_are_checked() -> None:
    app = Covet()
    with pytest.raises(RouteDefinitionError, match="openapi_extra must be a dict"):
        app.get("/a", openapi_extra=["x"])  # type: ignore[arg-type]
    with pytest.raises(RouteDefinitionError, match="response_description must be a string"):
        app.get("/a", response_description=3)  # type: ignore[arg-type]


def test_openapi_extra_merges_as_fastapi_does() -> None:
    app = Covet()
    extra = {"tags": ["more"], "responses": {"200": {"description": "Fine"}}, "x-y": {"z": 1}}

    @app.get("/a", tags=["first"], openapi_extra=extra)
    def a() -> str:
        return "a"

    op = app.openapi()["paths"]["/a"]["get"]
    assert op["tags"] == ["first", "more"]  # lists appended
    assert op["responses"]["200"] == {"description": "Fine",
                                      "content": {"text/plain": {"schema": {"type": "string"}}}}
    assert op["x-y"] == {"z": 1}
    op["x-y"]["z"] = 2
    assert extra["x-y"] == {"z": 1}  # the route's own dict is not the document's


class InvoiceEvent(BaseModel):
    paid: bool


class Received(BaseModel):
    ok: bool


def test_callbacks_are_documented_under_their_operation() -> None:
    callbacks = Router()

    @callbacks.post("{$callback_url}/invoices/{$request.body.id}", response_model=Received)
    def invoice_notification(body: InvoiceEvent) -> None:
        pass

    app = Covet()

    @app.post("/invoices/", callbacks=callbacks.routes)
    def create_invoice(callback_url: str) -> dict[str, str]:
        return {"msg": "Invoice received"}

    with TestClient(app) as c:
        assert c.post("/invoices/", params={"callback_url": "https://x.example"}).json() == {"msg": "Invoice received"}
        doc = c.get("/openapi.json").json()
    validate(doc)
    op = doc["paths"]["/invoices/"]["post"]["callbacks"]["invoice_notification"][
        "{$callback_url}/invoices/{$request.body.id}"]["post"]
    assert op["operationId"] == "invoice_notification__callback_url__invoices___request_body_id__post"
    assert op["requestBody"]["content"]["application/json"]["schema"] == {"$ref": REF + "InvoiceEvent"}
    assert op["responses"]["200"]["content"]["application/json"]["schema"] == {"$ref": REF + "Received"}
    assert "{$callback_url}/invoices/{$request.body.id}" not in doc["paths"]
    # A callback's path is never served: including its router is refused, with the fix.
    with pytest.raises(RouteDefinitionError, match="callbacks="):
        Covet().include_router(callbacks)
    with pytest.raises(RouteDefinitionError, match="callbacks must be a router's routes"):
        app.get("/x", callbacks=["nope"])  # type: ignore[list-item]
    with pytest.raises(RouteDefinitionError, match="must start with '/'"):
        app.post("{$callback_url}/x")  # the application serves what it declares


def test_a_declared_response_class_is_documented_as_fastapi_does_unless_it_is_not_json() -> None:
    app = Covet()

    @app.get("/any")
    def any_response() -> Response:
        return JSONResponse({"a": 1})

    @app.get("/go")
    def go() -> RedirectResponse:
        return RedirectResponse("/any")

    @app.get("/lines")
    def lines() -> StreamingResponse:
        return StreamingResponse(iter(["a\n"]), media_type="text/plain")

    @app.get("/page")
    def page() -> HTMLResponse:
        return HTMLResponse("<p>hi</p>")

    with TestClient(app) as c:
        assert c.get("/lines").text == "a\n"
        paths = c.get("/openapi.json").json()["paths"]
    ok = {"description": "Successful Response"}
    assert paths["/any"]["get"]["responses"]["200"] == {**ok, "content": {"application/json": {"schema": {}}}}
    assert paths["/go"]["get"]["responses"]["200"] == {**ok, "content": {"application/json": {"schema": {}}}}
    # A stream or a page is not JSON: left without content rather than documented wrongly.
    assert paths["/lines"]["get"]["responses"]["200"] == ok
    assert paths["/page"]["get"]["responses"]["200"] == ok


def test_a_webhook_declared_later_is_in_the_next_document() -> None:
    app = Covet()
    assert "webhooks" not in app.openapi()

    @app.webhooks.post("ping")
    def ping(body: InvoiceEvent) -> None:
        pass

    with TestClient(app) as c:
        assert list(c.get("/openapi.json").json()["webhooks"]) == ["ping"]


def test_generate_unique_id_function_names_operations_innermost_first() -> None:
    from covet.routing import APIRoute, Router

    def tagged(route: APIRoute) -> str:
        assert isinstance(route, APIRoute) and route.endpoint is route.handler
        return f"{route.tags[0]}-{route.name}"

    app = Covet(generate_unique_id_function=tagged)
    users = Router(prefix="/users", tags=["users"])
    admin = Router(prefix="/admin", tags=["admin"], generate_unique_id_function=lambda r: f"admin_{r.name}")

    @app.post("/items/", tags=["items"])
    def create_item(item: dict[str, int], note: Annotated[str, Body()]) -> dict[str, int]:
        return item

    @users.get("/{user_id}")
    def read_user(user_id: int) -> dict[str, int]:
        return {"user_id": user_id}

    @users.get("/me", operation_id="whoami")  # an explicit operation_id wins; the id still names its schemas
    def read_me() -> dict[str, int]:
        return {}

    @admin.get("/stats", generate_unique_id_function=lambda r: "the-stats")
    def stats() -> dict[str, int]:
        return {}

    @admin.get("/audit")
    def audit() -> dict[str, int]:
        return {}

    app.include_router(users)
    app.include_router(admin)
    doc = app.openapi()
    ids = {path: next(iter(item.values()))["operationId"] for path, item in doc["paths"].items()}
    assert ids == {"/items/": "items-create_item", "/users/{user_id}": "users-read_user", "/users/me": "whoami",
                   "/admin/stats": "the-stats", "/admin/audit": "admin_audit"}
    # FastAPI names a route's own schemas by the id: its two body parameters' object here.
    assert "Body_items-create_item" in doc["components"]["schemas"]
    with TestClient(app) as c:
        assert c.get("/users/7").json() == {"user_id": 7}


def test_a_custom_route_class_is_refused_saying_what_to_do() -> None:
    from covet.routing import APIRoute, Router

    class Timed(APIRoute):
        pass

    app = Covet()
    with pytest.raises(RouteDefinitionError, match=r"test_openapi_details.py:\d+: route_class = Timed: custom route "
                                                     r"classes are not supported: time a route"):
        app.router.route_class = Timed
    app.router.route_class = APIRoute  # what it is already
    with pytest.raises(RouteDefinitionError, match=r"Router\(route_class=...\): custom route classes"):
        Router(route_class=Timed)
    with pytest.raises(RouteDefinitionError, match="generate_unique_id_function must be a function of the route"):
        Covet(generate_unique_id_function="name")  # type: ignore[arg-type]
