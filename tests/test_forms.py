"""Forms (urlencoded and multipart) and uploads on every transport, interpreted and compiled."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from conftest import TRANSPORTS, app_client

TESTS = Path(__file__).resolve().parent
BIG = os.urandom(3 * 1024 * 1024 + 7)  # past the spool threshold: lands in a temporary file


@pytest.fixture(scope="module", params=["inprocess", *TRANSPORTS])
def fclient(request: pytest.FixtureRequest) -> Iterator[Any]:
    from covet.runtime.config import Config

    yield from app_client(request, "forms", "built_forms", "--max-body", str(8 * 1024 * 1024),
                          config=Config(max_body=8 * 1024 * 1024))


def multipart(fields: list[tuple[str, str]], files: list[tuple[str, str, str, bytes]]) -> tuple[bytes, str]:
    boundary = "covet-test-boundary"
    out = b""
    for name, value in fields:
        out += f'--{boundary}\r\ncontent-disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    for name, filename, ctype, data in files:
        out += (f'--{boundary}\r\ncontent-disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                f"content-type: {ctype}\r\n\r\n").encode() + data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return out, f"multipart/form-data; boundary={boundary}"


def post(client: Any, path: str, body: bytes, ctype: str) -> Any:
    return client.request("POST", path, content=body, headers={"content-type": ctype})


def test_an_urlencoded_form_with_validation_and_repeated_fields(fclient: Any) -> None:
    r = post(fclient, "/login", b"username=ada&age=36&tag=a&tag=b%20c", "application/x-www-form-urlencoded")
    assert r.json() == {"username": "ada", "age": 36, "tags": ["a", "b c"]}
    r = post(fclient, "/login", b"username=a&age=-1", "application/x-www-form-urlencoded")
    assert r.status_code == 422
    assert sorted((e["loc"][1], e["type"]) for e in r.json()["detail"]) == [
        ("age", "greater_than_equal"), ("username", "string_too_short")]
    r = post(fclient, "/login", b"age=3", "application/x-www-form-urlencoded")
    assert r.json()["detail"][0] == {"type": "missing", "loc": ["body", "username"], "msg": "Field required",
                                     "input": None}


def test_the_same_form_as_multipart(fclient: Any) -> None:
    body, ctype = multipart([("username", "bob"), ("tag", "x")], [])
    assert post(fclient, "/login", body, ctype).json() == {"username": "bob", "age": 0, "tags": ["x"]}


def test_files_small_in_memory_and_large_on_disk(fclient: Any) -> None:
    small = b"hello, file\n"
    body, ctype = multipart([("note", "two files")],
                            [("doc", "notes.txt", "text/plain", small), ("extra", "a.bin", "application/x-a", b"a"),
                             ("extra", "b.bin", "application/x-b", b"b")])
    r = post(fclient, "/upload", body, ctype)
    assert r.json() == {"filename": "notes.txt", "content_type": "text/plain", "size": len(small),
                        "sha256": hashlib.sha256(small).hexdigest(), "on_disk": False, "note": "two files",
                        "extra": ["a.bin", "b.bin"], "part_type": "text/plain"}
    body, ctype = multipart([], [("doc", "big.bin", "application/octet-stream", BIG)])
    r = post(fclient, "/upload", body, ctype)
    got = r.json()
    assert (got["size"], got["sha256"], got["on_disk"]) == (len(BIG), hashlib.sha256(BIG).hexdigest(), True)


def test_an_optional_file(fclient: Any) -> None:
    body, ctype = multipart([], [])
    assert post(fclient, "/optional", body, ctype).text == "none"
    body, ctype = multipart([], [("doc", "x.txt", "text/plain", b"x")])
    assert post(fclient, "/optional", body, ctype).text == "x.txt"


def test_bad_forms_are_422_with_the_reason(fclient: Any) -> None:
    r = post(fclient, "/upload", b"--nope\r\ngarbage", "multipart/form-data; boundary=covet-test-boundary")
    assert r.status_code == 422
    types = [e["type"] for e in r.json()["detail"]]
    assert "form_invalid" in types or "missing" in types
    r = post(fclient, "/login", b"username=%ff%fe", "application/x-www-form-urlencoded")
    assert r.status_code in (200, 422)  # invalid percent-encoded UTF-8 is replaced, never a 500


def missing(*keys: str) -> list[dict[str, object]]:
    return [{"type": "missing", "loc": ["body", key], "msg": "Field required", "input": None} for key in keys]


@pytest.mark.parametrize("ctype", ["application/json", "text/plain", ""])
def test_a_body_that_is_no_form_misses_each_field(fclient: Any, ctype: str) -> None:
    # As FastAPI: such a body reads as an empty form; the required fields are missing, in the order declared.
    r = fclient.request("POST", "/login", content=b'{"username": "ada"}', headers={"content-type": ctype})
    assert (r.status_code, r.json()["detail"]) == (422, missing("username"))
    r = post(fclient, "/ordered", b'{"file": "x", "token": "t"}', ctype)
    assert (r.status_code, r.json()["detail"]) == (422, missing("file", "token"))
    r = post(fclient, "/upload", b"doc=x", ctype)
    assert (r.status_code, r.json()["detail"]) == (422, missing("doc"))


def test_form_and_file_errors_come_in_the_order_declared(fclient: Any) -> None:
    r = post(fclient, "/ordered", b"other=1", "application/x-www-form-urlencoded")
    assert r.json()["detail"] == missing("file", "token")
    body, ctype = multipart([("token", "t")], [("file", "a.bin", "application/octet-stream", b"abc")])
    assert post(fclient, "/ordered", body, ctype).json() == {"size": 3, "token": "t"}


def test_the_form_is_in_the_openapi_document(fclient: Any) -> None:
    doc = fclient.request("GET", "/openapi.json").json()
    validate(doc)
    schemas = doc["components"]["schemas"]  # a form is the component Body_<operation id>, as in FastAPI
    login = doc["paths"]["/login"]["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    login = schemas[login["$ref"].rsplit("/", 1)[1]]
    assert login["required"] == ["username"] and login["properties"]["tag"]["type"] == "array"
    upload = doc["paths"]["/upload"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    upload = schemas[upload["$ref"].rsplit("/", 1)[1]]
    file = {"type": "string", "contentMediaType": "application/octet-stream"}
    assert upload["properties"]["doc"] == {**file, "title": "Doc"}
    # A field's default is in its schema, as pydantic (and so FastAPI) writes a form model's.
    assert upload["properties"]["extra"] == {"type": "array", "items": file, "title": "Extra", "default": []}
    assert upload["properties"]["note"] == {"type": "string", "title": "Note", "default": ""}
    # A form or an upload can be refused with a 422 (a missing field, a body that is no form): documented.
    for path in ("/login", "/upload"):
        refused = doc["paths"][path]["post"]["responses"]["422"]
        assert refused["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/HTTPValidationError"}


@pytest.mark.parametrize("escape", [b"%", b"%zz", b"%41", b"%4%", b"+"])
def test_a_form_of_escapes_decodes_as_urllib_does(fclient: Any, escape: bytes) -> None:
    """Half a MiB of escapes (issue 13: '%' cost Python's unquote_plus ~0.5 s per MiB of event-loop time; the
    native decoder is linear: perf/forms_cpu.py measures it against a plain body)."""
    from urllib.parse import unquote_plus

    value = escape * ((512 * 1024) // len(escape))
    r = post(fclient, "/login", b"username=" + value + b"&tag=a", "application/x-www-form-urlencoded")
    assert r.status_code == 200, r.text
    assert r.json()["username"] == unquote_plus(value.decode(), errors="replace")
    assert r.json()["tags"] == ["a"]


def test_a_form_of_too_many_fields_is_refused_before_decoding(fclient: Any) -> None:
    r = post(fclient, "/login", b"&".join([b"tag=%41"] * 1001) + b"&username=ada", "application/x-www-form-urlencoded")
    assert r.status_code == 400  # FastAPI's default limit, in its words
    assert r.json() == {"detail": "Too many fields. Maximum number of fields is 1000."}
    # Empty parts are no fields: a run of them costs nothing and counts for nothing.
    r = post(fclient, "/login", b"&" * 200_000 + b"username=ada", "application/x-www-form-urlencoded")
    assert r.json() == {"username": "ada", "age": 0, "tags": []}
