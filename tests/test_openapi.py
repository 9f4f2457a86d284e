"""OpenAPI, /docs, routers and parameter constraints: on every transport, in both modes.

The document served must validate against the OpenAPI 3.1 schema and be the
same in interpreted and compiled mode; the docs page must list every
operation in a real headless Chromium; and schemathesis, driven by the
document, must find no server error and no response that breaks it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from typing import Annotated, Any

import hypothesis
import pytest
import schemathesis
from openapi_spec_validator import validate
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
)

from covet import Covet, Header, HTTPError, Query, Router
from covet.exceptions import RouteDefinitionError
from covet.testing import TestClient
from tests.conftest import ROOT, TRANSPORTS, Server, hello_server


def expected_document() -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from examples.hello import app

    doc: dict[str, Any] = app.openapi()
    return doc


# -- the document, over every transport ----------------------------------------------------------


def test_document_is_valid_openapi_31_and_the_same_in_every_mode(client: Any) -> None:
    r = client.request("GET", "/openapi.json")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    doc = r.json()
    validate(doc)  # raises on any violation of the 3.1 schema
    assert doc["openapi"] == "3.1.0"
    assert doc == expected_document()


def test_document_describes_parameters_bodies_and_responses() -> None:
    doc = expected_document()
    assert doc["info"] == {"title": "CovetPy tour", "version": "1.0.0",
                           "description": "Every feature of the core in one small app."}
    user = doc["paths"]["/users/{user_id}"]["get"]
    assert [(p["name"], p["in"], p["required"]) for p in user["parameters"]] == [
        ("user_id", "path", True), ("q", "query", False), ("limit", "query", False)]
    assert user["parameters"][2]["schema"] == {"type": "integer", "default": 10, "title": "Limit"}  # FastAPI's
    assert user["responses"]["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/HTTPValidationError"}
    slow = doc["paths"]["/slow"]["get"]["parameters"][0]
    assert slow["description"] == "how long to sleep"
    assert slow["schema"] == {"type": "integer", "minimum": 0, "maximum": 2000, "default": 50,
                              "title": "Ms", "description": "how long to sleep"}
    items = doc["paths"]["/items"]["post"]
    assert items["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Item"}
    assert set(doc["components"]["schemas"]["Item"]["required"]) == {"name", "price", "tags"}
    assert "201" in items["responses"]
    points = doc["paths"]["/points"]["post"]
    # FastAPI's: the summary from the handler's name, the whole docstring as the description.
    assert points["summary"] == "Centroid"
    assert points["description"] == "The centroid of some points.\n\nAnswers 400 when the list is empty."
    assert points["responses"]["400"]["description"] == "No points were given"
    assert doc["paths"]["/items/{item_id}"]["delete"]["responses"]["204"] == {"description": "Successful Response"}
    assert doc["paths"]["/files/{rest}"]["get"]["parameters"][0]["name"] == "rest"
    header = doc["paths"]["/whoami"]["get"]["parameters"]
    assert {(p["name"], p["in"]) for p in header} == {("session", "cookie"), ("user-agent", "header")}
    assert "/boom" not in doc["paths"]  # include_in_schema=False
    account = doc["paths"]["/accounts/{account_id}"]["get"]
    assert account["tags"] == ["accounts"]
    assert account["description"] == "One account, by its number."
    assert account["parameters"][0]["schema"] == {"type": "integer", "minimum": 1, "title": "Account Id"}
    ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))


# -- routers and constraints, over every transport -----------------------------------------------


def test_router_routes_are_served_under_their_prefix(client: Any) -> None:
    r = client.request("GET", "/accounts/5", params={"verbose": "true"})
    assert r.status_code == 200
    assert r.json() == {"account": 5, "verbose": True}
    r = client.request("POST", "/accounts/5/rename", json="Ada")
    assert r.json() == {"account": 5, "name": "Ada"}


def test_constraints_are_enforced_with_a_422(client: Any) -> None:
    r = client.request("GET", "/accounts/0")
    assert r.status_code == 422
    (err,) = r.json()["detail"]
    assert (err["loc"], err["type"], err["ctx"]) == (["path", "account_id"], "greater_than_equal", {"ge": 1})
    r = client.request("GET", "/slow", params={"ms": "5000"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["query", "ms"]
    r = client.request("POST", "/accounts/5/rename", json="")
    assert r.status_code == 422
    assert r.json()["detail"][0]["type"] == "string_too_short"


def test_a_body_that_is_not_utf8_is_a_400_not_a_500(client: Any) -> None:
    r = client.request("POST", "/items", content=b"\xff\xfe{", headers={"content-type": "application/json"})
    assert (r.status_code, r.json()) == (400, {"detail": "There was an error parsing the body"})  # FastAPI's


def test_docs_page_and_its_assets_are_served(client: Any) -> None:
    r = client.request("GET", "/docs")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assets = re.findall(r'(?:src|href)="([^"]+)"', r.text)
    assert assets == ["/docs/swagger-ui.css", "/docs/swagger-ui-bundle.js", "/docs/init.js"]
    for url, kind in zip(assets, ["text/css", "text/javascript", "text/javascript"], strict=True):
        a = client.request("GET", url)
        assert a.status_code == 200
        assert a.headers["content-type"].startswith(kind)
    assert b'"/openapi.json"' in client.request("GET", "/docs/init.js").content
    assert len(client.request("GET", "/docs/swagger-ui-bundle.js").content) > 500_000


# -- /docs in a real browser ---------------------------------------------------------------------


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "chromium is not installed: `make test` installs it (apt-get install chromium)"
    return found


def test_docs_page_lists_every_operation_in_headless_chromium(server: Server) -> None:
    out = subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--no-first-run", "--virtual-time-budget=15000", "--dump-dom", server.url + "/docs"],
        capture_output=True, text=True, timeout=120)
    dom = out.stdout
    assert "swagger-ui" in dom, out.stderr[-2000:]
    shown = set(re.findall(r'class="opblock-summary-path" data-path="([^"]+)"', dom))
    doc = expected_document()
    assert shown == set(doc["paths"]), out.stderr[-2000:]
    assert "CovetPy tour" in dom
    methods = re.findall(r'class="opblock-summary-method">(\w+)<', dom)
    assert len(methods) == sum(len(item) for item in doc["paths"].values())


# -- schemathesis, driven by our own document -----------------------------------------------------

# Limits the server enforces before any route runs; no operation documents them.
PROTOCOL_LIMITS = {413, 414, 431}


def check_case(case: Any) -> None:
    response = case.call(timeout=15)
    case.validate_response(response, checks=[not_a_server_error, content_type_conformance,
                                             response_headers_conformance, response_schema_conformance])
    documented = {int(s) for s in case.operation.definition.raw["responses"]}
    assert response.status_code in documented | PROTOCOL_LIMITS, (response.status_code, response.text[:500])


@pytest.mark.parametrize("transport", [t for t in TRANSPORTS if t.endswith("-uring")])
def test_schemathesis_finds_no_server_error_and_no_broken_response(request: pytest.FixtureRequest,
                                                                   transport: str) -> None:
    srv = hello_server(request, transport)
    try:
        schema = schemathesis.openapi.from_url(srv.url + "/openapi.json")
        schema.config.update(base_url=srv.url)
        failures: list[str] = []
        tested = 0
        for result in schema.get_all_operations():
            operation = result.ok()

            @hypothesis.given(operation.as_strategy())
            @hypothesis.settings(max_examples=25, deadline=None, derandomize=True, database=None,
                                 suppress_health_check=list(hypothesis.HealthCheck))
            def run(case: Any) -> None:
                check_case(case)

            try:
                run()
            except Exception as exc:  # every operation is tried; all failures are reported together
                failures.append(f"{operation.label}: {str(exc)[:3000]}")
            tested += 1
        assert tested == sum(len(item) for item in expected_document()["paths"].values())
        assert not failures, "\n\n".join(failures)
    finally:
        code, log = srv.stop()
    assert code == 0, log


# -- options, in process -------------------------------------------------------------------------


def make_app(**kw: Any) -> Covet:
    app = Covet(**kw)

    @app.get("/hello")
    def hello(name: str = "world") -> str:
        return f"hello {name}"

    return app


def test_docs_can_be_moved_or_turned_off() -> None:
    with TestClient(make_app(openapi_url="/api/schema.json", docs_url="/api/docs")) as c:
        assert c.get("/openapi.json").status_code == 404
        assert c.get("/api/schema.json").json()["paths"]["/hello"]
        assert "/api/docs/swagger-ui-bundle.js" in c.get("/api/docs").text
        assert b'"/api/schema.json"' in c.get("/api/docs/init.js").content
    with TestClient(make_app(docs_url=None)) as c:
        assert c.get("/openapi.json").status_code == 200
        assert c.get("/docs").status_code == 404
    with TestClient(make_app(openapi_url=None)) as c:
        assert c.get("/openapi.json").status_code == 404
        assert c.get("/docs").status_code == 404  # the page needs the document


def test_a_route_where_the_docs_are_is_refused_with_the_fix() -> None:
    app = make_app()

    @app.get("/docs")
    def mine() -> str:
        return "mine"

    with pytest.raises(RouteDefinitionError, match="docs_url"):
        app.dispatcher()
    with pytest.raises(RouteDefinitionError, match="must be a path"):
        Covet(docs_url="docs")


def test_routers_nest_and_merge_tags() -> None:
    app = Covet()
    outer = Router(prefix="/api", tags=["api"])
    inner = Router(prefix="/v1", tags=["v1"])

    @inner.get("/things/{n}", tags=["things"], responses={404: "No such thing"})
    def thing(n: int) -> dict[str, int]:
        if n > 9:
            raise HTTPError(404)
        return {"n": n}

    outer.include_router(inner)
    app.include_router(outer, prefix="/x", tags=["x"])
    with TestClient(app) as c:
        assert c.get("/x/api/v1/things/3").json() == {"n": 3}
        assert c.get("/x/api/v1/things/30").status_code == 404
        assert c.get("/api/v1/things/3").status_code == 404
        op = c.get("/openapi.json").json()["paths"]["/x/api/v1/things/{n}"]["get"]
    assert op["tags"] == ["x", "api", "v1", "things"]
    assert op["responses"]["404"]["content"]["application/json"]["schema"]["$ref"].endswith("/HTTPError")
    for bad in ("api", "/api/"):
        with pytest.raises(RouteDefinitionError, match="prefix"):
            Router(prefix=bad)


def test_route_options_are_checked() -> None:
    app = Covet()
    with pytest.raises(RouteDefinitionError, match="unknown option 'status_cod'"):
        app.get("/a", status_cod=201)  # type: ignore[call-arg]
    with pytest.raises(RouteDefinitionError, match="responses has 99"):
        app.get("/a", responses={99: "?"})


def test_status_code_is_fastapis_spelling_of_status() -> None:
    app = Covet()

    @app.post("/made", status_code=201)
    def made() -> dict[str, bool]:
        return {"made": True}

    with TestClient(app) as c:
        assert c.post("/made").status_code == 201
        assert "201" in c.get("/openapi.json").json()["paths"]["/made"]["post"]["responses"]
    with pytest.raises(RouteDefinitionError, match="disagree"):
        app.get("/x", status=200, status_code=201)


def test_operation_ids_are_fastapis_and_made_unique() -> None:
    app = Covet()

    def handler() -> str:
        return ""

    app.get("/a")(handler)
    app.get("/b")(handler)
    app.post("/b", operation_id="make_b")(handler)
    @app.get("/users/{user_id}/x-y")
    def user_handler(user_id: int) -> str:
        return ""

    app.get("/c", operation_id="handler_b_get")(handler)
    doc = app.openapi()
    where = (("/a", "get"), ("/b", "get"), ("/b", "post"), ("/users/{user_id}/x-y", "get"), ("/c", "get"))
    # FastAPI's: the name, the path and the method, each non-word character an underscore.
    assert [doc["paths"][p][m]["operationId"] for p, m in where] == [
        "handler_a_get", "handler_b_get", "make_b", "user_handler_users__user_id__x_y_get", "handler_c_get"]
    validate(doc)


def test_every_constraint_is_enforced_and_documented() -> None:
    app = Covet()

    @app.get("/c")
    def c(code: Annotated[str, Query(pattern="^[A-Z]{3}$")] = "ABC",
          ratio: Annotated[float, Query(gt=0, lt=1)] = 0.5,
          step: Annotated[int, Query(multiple_of=5)] = 5,
          ids: Annotated[list[int], Query(min_length=1, max_length=3)] = [1],
          name: Annotated[str, Header(min_length=2, description="who")] = "xx") -> str:
        return "ok"

    with TestClient(app) as client:
        assert client.get("/c").text == "ok"
        bad = {"code": "abc", "ratio": "1", "step": "7", "ids": ["1", "2", "3", "4"]}
        r = client.get("/c", params=bad, headers={"name": "x"})
        assert r.status_code == 422
        assert sorted(e["type"] for e in r.json()["detail"]) == [
            "less_than", "multiple_of", "string_pattern_mismatch",
            "string_too_short", "too_long"]
        params = {p["name"]: p for p in client.get("/openapi.json").json()["paths"]["/c"]["get"]["parameters"]}
    assert params["code"]["schema"]["pattern"] == "^[A-Z]{3}$"
    assert (params["ratio"]["schema"]["exclusiveMinimum"], params["ratio"]["schema"]["exclusiveMaximum"]) == (0, 1)
    assert params["step"]["schema"]["multipleOf"] == 5
    assert (params["ids"]["schema"]["minItems"], params["ids"]["schema"]["maxItems"]) == (1, 3)
    assert params["name"]["description"] == "who"
