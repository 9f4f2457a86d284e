"""Parameter models (FastAPI's pydantic models of query, header, cookie and form parameters), on every transport,
interpreted and compiled: tests/apps/parammodels.py."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest
from openapi_spec_validator import validate
from pydantic import BaseModel

from conftest import TRANSPORTS, app_client, build_project, read_response_simple
from covet import Covet, Query
from covet.exceptions import RouteDefinitionError
from covet.testing import TestClient

TESTS = Path(__file__).resolve().parent
FORM = "application/x-www-form-urlencoded"


@pytest.fixture(scope="session")
def built_parammodels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_project(tmp_path_factory, TESTS / "apps" / "parammodels.py", TESTS / "apps" / "parammodels_models.py")


@pytest.fixture(scope="module", params=["inprocess", *TRANSPORTS])
def pclient(request: pytest.FixtureRequest) -> Iterator[Any]:
    yield from app_client(request, "parammodels", "built_parammodels")


def raw(client: Any, request: bytes) -> bytes:
    """The answer to ``request`` sent as it is, bytes for bytes."""
    server = client.server
    if server is None:
        return b"".join(r.raw for r in client.raw(request, responses=1))
    with socket.create_connection((server.host, server.port), timeout=5) as s:
        s.sendall(request)
        return read_response_simple(s, bytearray())


def post_form(client: Any, path: str, body: str) -> Any:
    return client.request("POST", path, content=body.encode(), headers={"content-type": FORM})


def test_a_query_model_reads_each_field_and_collects_repeated_keys(pclient: Any) -> None:
    r = pclient.get("/items?limit=10&offset=5&order_by=updated_at&tags=a&tags=b")
    assert r.json() == {"limit": 10, "offset": 5, "order_by": "updated_at", "tags": ["a", "b"]}
    assert pclient.get("/items").json() == {"limit": 100, "offset": 0, "order_by": "created_at", "tags": []}
    # A key the model does not declare is ignored (pydantic's default), and a repeated plain field takes its last.
    assert pclient.get("/items?tool=plumbus&limit=3&limit=4").json()["limit"] == 4


def test_a_query_model_answers_fastapis_errors_field_by_field(pclient: Any) -> None:
    r = pclient.get("/items?limit=150&offset=-1&order_by=invalid")
    assert r.status_code == 422
    assert r.json() == {"detail": [
        {"type": "less_than_equal", "loc": ["query", "limit"], "msg": "Input should be less than or equal to 100",
         "input": "150", "ctx": {"le": 100}},
        {"type": "greater_than_equal", "loc": ["query", "offset"],
         "msg": "Input should be greater than or equal to 0", "input": "-1", "ctx": {"ge": 0}},
        {"type": "literal_error", "loc": ["query", "order_by"],
         "msg": "Input should be 'created_at' or 'updated_at'", "input": "invalid",
         "ctx": {"expected": "'created_at' or 'updated_at'"}},
    ]}


def test_a_model_that_forbids_extra_keys_refuses_each_unknown_key(pclient: Any) -> None:
    assert pclient.get("/strict?limit=5&tags=x").json() == {"limit": 5, "tags": ["x"]}
    r = pclient.get("/strict?limit=5&tool=plumbus&tool=again&other=")
    assert r.status_code == 422
    assert r.json() == {"detail": [
        {"type": "extra_forbidden", "loc": ["query", "tool"], "msg": "Extra inputs are not permitted",
         "input": ["plumbus", "again"]},
        {"type": "extra_forbidden", "loc": ["query", "other"], "msg": "Extra inputs are not permitted", "input": ""},
    ]}


def test_an_optional_model_is_its_default_until_one_of_its_fields_is_given(pclient: Any) -> None:
    assert pclient.get("/range?limit=3").json() == {"limit": 3, "date_range": None}
    r = pclient.get("/range?start=2024-01-01&end=2024-02-01")
    assert r.json() == {"limit": 10, "date_range": {"start": "2024-01-01", "end": "2024-02-01"}}
    r = pclient.get("/range?start=2024-01-01&limit=x")
    assert r.status_code == 422
    assert r.json()["detail"] == [
        {"type": "int_parsing", "loc": ["query", "limit"],
         "msg": "Input should be a valid integer, unable to parse string as an integer", "input": "x"},
        {"type": "missing", "loc": ["query", "end"], "msg": "Field required",
         "input": {"start": "2024-01-01", "limit": "x"}},
    ]


def test_a_field_with_an_alias_is_read_by_its_alias(pclient: Any) -> None:
    assert pclient.get("/aliased?item-query=x").json() == {"item_query": "x"}
    r = pclient.get("/aliased?item_query=x")
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["query", "item-query"]


def test_a_header_model_reads_hyphenated_names_and_repeated_headers(pclient: Any) -> None:
    r = pclient.get("/headers", headers=[("save-data", "true"), ("if-modified-since", "yesterday"),
                                         ("x-tag", "one"), ("x-tag", "two")])
    assert r.json() == {"host": r.json()["host"], "save_data": True, "if_modified_since": "yesterday",
                        "x_tag": ["one", "two"]}
    r = pclient.get("/headers")
    assert r.status_code == 422
    (error,) = r.json()["detail"]
    # Reported under the name the client sends; the input is every header the model was given.
    assert (error["type"], error["loc"]) == ("missing", ["header", "save-data"])
    assert "host" in error["input"] and "save_data" not in error["input"]


def test_a_header_model_without_underscore_conversion(pclient: Any) -> None:
    # The name with the hyphen is then just another header.
    r = pclient.get("/headers/raw", headers={"save-data": "true"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["header", "save_data"]
    wire = raw(pclient, b"GET /headers/raw HTTP/1.1\r\nhost: x\r\nsave_data: yes\r\nx_tag: a\r\nx_tag: b\r\n\r\n")
    assert wire.startswith(b"HTTP/1.1 200"), wire
    assert wire.endswith(b'{"host":"x","save_data":true,"if_modified_since":null,"x_tag":["a","b"]}')


def test_a_header_model_that_forbids_extras_names_each_other_header(pclient: Any) -> None:
    wire = raw(pclient, b"GET /headers/strict HTTP/1.1\r\nhost: x\r\nx-token: t\r\n\r\n")
    assert wire.startswith(b"HTTP/1.1 200") and wire.endswith(b'{"x_token":"t"}'), wire
    wire = raw(pclient, b"GET /headers/strict HTTP/1.1\r\nhost: x\r\nx-token: t\r\nx-other: 1\r\nx-other: 2\r\n\r\n")
    assert wire.startswith(b"HTTP/1.1 422"), wire
    assert wire.endswith(b'{"detail":[{"type":"extra_forbidden","loc":["header","x-other"],'
                         b'"msg":"Extra inputs are not permitted","input":["1","2"]}]}')


def test_cr_and_lf_in_a_header_value_never_reach_a_model(pclient: Any) -> None:
    wire = raw(pclient, b"GET /headers HTTP/1.1\r\nhost: x\r\nsave-data: true\rinjected: 1\r\n\r\n")
    assert wire.startswith(b"HTTP/1.1 400"), wire


def test_a_cookie_model(pclient: Any) -> None:
    r = pclient.get("/cookies", headers={"cookie": "session_id=123; tracker=abc; other=x"})
    assert r.json() == {"session_id": "123", "tracker": "abc"}
    r = pclient.get("/cookies", headers={"cookie": "tracker=abc"})
    assert r.json() == {"detail": [{"type": "missing", "loc": ["cookie", "session_id"], "msg": "Field required",
                                    "input": {"tracker": "abc"}}]}
    assert pclient.get("/preferences").json() == {"preferences": None}
    r = pclient.get("/preferences", headers={"cookie": "theme=dark; locale=en"})
    assert r.json() == {"preferences": {"theme": "dark", "locale": "en"}}
    r = pclient.get("/preferences", headers={"cookie": "theme=dark"})
    assert r.json()["detail"][0]["loc"] == ["cookie", "locale"]


def test_a_form_model(pclient: Any) -> None:
    r = post_form(pclient, "/login", "username=ada&password=secret")
    assert r.json() == {"username": "ada", "password": "secret", "remember": False}
    # An empty field counts as not sent, as a browser sends every field of a form.
    r = post_form(pclient, "/login", "username=ada&password=secret&remember=")
    assert r.json()["remember"] is False
    r = post_form(pclient, "/login", "username=ada")
    assert r.json() == {"detail": [{"type": "missing", "loc": ["body", "password"], "msg": "Field required",
                                    "input": {"username": "ada"}}]}
    r = post_form(pclient, "/login", "username=ada&password=secret&admin=1")
    assert r.json() == {"detail": [{"type": "extra_forbidden", "loc": ["body", "admin"],
                                    "msg": "Extra inputs are not permitted", "input": "1"}]}


def test_a_form_model_beside_a_form_field(pclient: Any) -> None:
    r = post_form(pclient, "/profiles", "name=ada&tags=a&tags=b&token=t")
    assert r.json() == {"profile": {"name": "ada", "tags": ["a", "b"]}, "token": "t"}
    r = post_form(pclient, "/profiles", "tags=a")
    assert [(e["loc"], e["type"]) for e in r.json()["detail"]] == [
        (["body", "name"], "missing"), (["body", "token"], "missing")]


def test_a_form_read_as_one_of_several_models(pclient: Any) -> None:
    r = post_form(pclient, "/contacts", "kind=person&name=Rick&tags=a&tags=b&token=t")
    assert r.json() == {"contact": {"kind": "person", "name": "Rick", "tags": ["a", "b"]}, "token": "t"}
    r = post_form(pclient, "/contacts", "kind=company&company_name=Acme&token=t")
    assert r.json() == {"contact": {"kind": "company", "company_name": "Acme"}, "token": "t"}
    # The member the discriminator picks reports its errors under its tag; its own fields come first in the input.
    r = post_form(pclient, "/contacts", "token=t&kind=person")
    assert r.json() == {"detail": [{"type": "missing", "loc": ["body", "person", "name"], "msg": "Field required",
                                    "input": {"kind": "person", "token": "t"}}]}
    r = post_form(pclient, "/contacts", "name=Rick&token=t")
    assert r.json()["detail"] == [{"type": "union_tag_not_found", "loc": ["body"],
                                   "msg": "Unable to extract tag using discriminator 'kind'",
                                   "input": {"name": "Rick", "token": "t"}, "ctx": {"discriminator": "'kind'"}}]
    r = post_form(pclient, "/contacts", "kind=robot&token=t")
    assert r.json()["detail"][0]["type"] == "union_tag_invalid"
    assert pclient.post("/contacts/maybe").json() == {"contact": None}
    r = post_form(pclient, "/contacts/maybe", "kind=company&company_name=Acme")
    assert r.json() == {"contact": {"kind": "company", "company_name": "Acme"}}


def test_a_dependency_may_take_a_model(pclient: Any) -> None:
    assert pclient.get("/paged?limit=3&offset=4").json() == {"at": 3004}
    assert pclient.get("/paged?limit=0").json()["detail"][0]["loc"] == ["query", "limit"]


def test_hostile_queries(pclient: Any) -> None:
    big = "x" * 7_000  # most of the 8 KiB a request's target may take
    r = pclient.get(f"/items?tags={big}&tags=b")
    assert r.status_code == 200 and r.json()["tags"] == [big, "b"]
    assert pclient.get(f"/items?tags={big}{big}").status_code == 414
    huge = "y" * 40_000  # most of the 64 KiB a request's head may take
    r = pclient.get("/headers", headers={"save-data": "true", "if-modified-since": huge})
    assert r.status_code == 200 and r.json()["if_modified_since"] == huge
    many = "&".join(f"k{i}=" for i in range(1000))
    r = pclient.get(f"/strict?{many}")
    assert r.status_code == 422 and len(r.json()["detail"]) == 1000
    r = pclient.get("/items?" + "&".join(["tags=t"] * 1000))
    assert r.status_code == 200 and len(r.json()["tags"]) == 1000
    r = pclient.get("/items?order_by=created_at%0d%0aSet-Cookie:%20x")
    assert r.status_code == 422 and r.json()["detail"][0]["input"] == "created_at\r\nSet-Cookie: x"


def test_the_openapi_document_lists_each_field_as_fastapi_does(pclient: Any) -> None:
    doc = pclient.get("/openapi.json").json()
    validate(doc)
    params = doc["paths"]["/items"]["get"]["parameters"]
    assert params[0] == {"name": "limit", "in": "query", "required": False,
                         "schema": {"type": "integer", "maximum": 100, "exclusiveMinimum": 0, "default": 100,
                                    "title": "Limit"}}
    assert [p["name"] for p in params] == ["limit", "offset", "order_by", "tags"]
    headers = doc["paths"]["/headers"]["get"]["parameters"]
    assert [(p["name"], p["in"], p["required"]) for p in headers] == [
        ("host", "header", True), ("save-data", "header", True), ("if-modified-since", "header", False),
        ("x-tag", "header", False)]
    assert headers[1]["schema"] == {"type": "boolean", "title": "Save Data"}
    raw_names = [p["name"] for p in doc["paths"]["/headers/raw"]["get"]["parameters"]]
    assert raw_names == ["host", "save_data", "if_modified_since", "x_tag"]
    # The fields of an optional model are optional.
    ranged = doc["paths"]["/range"]["get"]["parameters"]
    assert [(p["name"], p["required"]) for p in ranged] == [("limit", False), ("start", False), ("end", False)]
    assert doc["paths"]["/cookies"]["get"]["parameters"][0]["in"] == "cookie"
    login = doc["paths"]["/login"]["post"]["requestBody"]
    assert login == {"required": True, "content": {FORM: {"schema": {"$ref": "#/components/schemas/Login"}}}}
    body = doc["components"]["schemas"]["Body_create_profile_profiles_post"]
    assert body["allOf"] == [{"$ref": "#/components/schemas/Profile"}]
    assert body["required"] == ["token"] and list(body["properties"]) == ["token"]


class Page(BaseModel):
    size: int = 10


def test_what_a_model_parameter_cannot_be_is_refused_at_start_up() -> None:
    app = Covet()

    @app.get("/pages")
    def pages(page: Annotated[list[Page], Query()]) -> int:
        return len(page)

    with pytest.raises(RouteDefinitionError, match=r"test_param_models\.py:\d+:.*query parameter 'page' must be a "
                                                   r"scalar, a list of scalars or a pydantic model"):
        TestClient(app).get("/pages")
