"""FastAPI's application-level options (``Covet(summary=, swagger_ui_parameters=, default_response_class=)``...),
served interpreted and compiled on every loop."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import TRANSPORTS, app_client, build_project

APPS = Path(__file__).resolve().parent / "apps"


@pytest.fixture(scope="session")
def built_appoptions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_project(tmp_path_factory, APPS / "appoptions.py")


@pytest.fixture(scope="module", params=["inprocess", *TRANSPORTS])
def oclient(request: pytest.FixtureRequest) -> Iterator[Any]:
    yield from app_client(request, "appoptions", "built_appoptions")


@pytest.mark.parametrize(("path", "ctype", "body"), [
    ("/page", "text/html; charset=utf-8", "<h1>Page</h1>"),  # the application's default_response_class
    ("/data", "application/json", '{"n":1}'),  # the route's own response_class
    ("/text/", "text/plain; charset=utf-8", "from the router"),  # the router's default
    ("/inherits/", "text/html; charset=utf-8", "<p>from the app</p>"),  # a router without one: the application's
    ("/included/", "text/plain; charset=utf-8", "from include_router"),  # include_router's, before the app's
])
def test_default_response_class(oclient: Any, path: str, ctype: str, body: str) -> None:
    r = oclient.get(path)
    assert (r.status_code, r.headers["content-type"], r.text) == (200, ctype, body)


def test_the_openapi_info_has_every_field_given(oclient: Any) -> None:
    doc = oclient.get("/openapi.json").json()
    assert doc["info"] == {
        "title": "Options", "summary": "Options, summed up.", "version": "0.1.0",
        "termsOfService": "https://example.com/terms/", "contact": {"name": "Ada", "email": "ada@example.com"},
        "license": {"name": "Apache 2.0", "identifier": "Apache-2.0"}}
    assert doc["tags"] == [{"name": "text", "description": "Plain **text**.",
                            "externalDocs": {"description": "More", "url": "https://example.com/text"}}]
    # The default response class is documented as the media type of the routes that use it.
    assert list(doc["paths"]["/page"]["get"]["responses"]["200"]["content"]) == ["text/html"]


def test_swagger_ui_parameters_go_into_the_docs_page(oclient: Any) -> None:
    script = oclient.get("/docs/init.js").text
    call = re.fullmatch(r"window\.ui = SwaggerUIBundle\(\{(.*)\}\);\n", script, re.S)
    assert call is not None, script
    fields = dict(re.findall(r'("\w+"): ((?:\{[^}]*\})|[^,]+), ', call.group(1)))
    # FastAPI's defaults, the application's parameters over them, each as JSON.
    assert {json.loads(k): json.loads(v) for k, v in fields.items()} == {
        "url": "/openapi.json", "dom_id": "#swagger-ui", "layout": "BaseLayout", "deepLinking": False,
        "showExtensions": True, "showCommonExtensions": True, "syntaxHighlight": {"theme": "obsidian"}}
    assert "oauth2RedirectUrl: window.location.origin + \"/docs/oauth2-redirect\"" in script
