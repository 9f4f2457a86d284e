"""Generator handlers answer JSON Lines, as FastAPI's do: on every transport, interpreted and compiled.

tests/apps/jsonlines.py holds async generators (a build compiles the module, the generators lifted out of it and run
interpreted: covet/compiler/asyncgens.py); tests/apps/jsonlines_sync.py holds plain generators, compiled natively.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import APPS, TRANSPORTS, Server, build_project

TESTS = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def built_jsonlines(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_project(tmp_path_factory, APPS / "jsonlines.py", APPS / "jsonlines_sync.py",
                         APPS / "jsonlines_models.py")


@pytest.fixture(scope="module", params=TRANSPORTS)
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    mode, loop = request.param.split("-")
    if mode == "compiled":
        built = request.getfixturevalue("built_jsonlines")
        srv = Server("jsonlines:app", loop, cwd=built)
        # Every handler's module compiled: the plain generators natively, the async ones lifted out and interpreted.
        if "17/17 routes compiled" not in srv.log:
            srv.stop()  # a failed check must not leave the server running
            raise AssertionError(srv.log)
    else:
        srv = Server("jsonlines:app", loop, cwd=APPS, pure=True)
    yield srv
    code, log = srv.stop()
    assert code == 0, log


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=20) as c:
        yield c


def lines(r: httpx.Response) -> list[Any]:
    return [json.loads(line) for line in r.text.splitlines()]


def test_an_async_generator_streams_its_items_as_json_lines(client: httpx.Client) -> None:
    r = client.get("/items")
    assert (r.status_code, r.headers["content-type"]) == (200, "application/jsonl")
    assert r.headers["transfer-encoding"] == "chunked" and "content-length" not in r.headers
    assert r.text.endswith("\n")
    assert lines(r) == [{"name": n, "description": f"a {n.lower()}"} for n in ("Plumbus", "Portal Gun",
                                                                             "Meeseeks Box")]


def test_a_plain_generator_streams_too(client: httpx.Client) -> None:
    r = client.get("/plain")
    assert (r.status_code, r.headers["content-type"]) == (200, "application/jsonl")
    assert lines(r) == [{"name": "Plumbus", "description": None}, {"name": "Portal Gun", "description": None}]


def test_items_are_validated_as_the_declared_item_and_filtered(client: httpx.Client) -> None:
    assert lines(client.get("/filtered")) == [{"name": "pen", "description": None},
                                              {"name": "ink", "description": "blue"}]


def test_an_undeclared_item_is_any_json_value(client: httpx.Client) -> None:
    assert lines(client.get("/untyped")) == [{"a": 1}, [1, 2], "text", None]


def test_an_item_that_does_not_validate_cuts_the_stream_and_others_are_served(client: httpx.Client,
                                                                               server: Server) -> None:
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):  # closed unfinished, or reset
        with client.stream("GET", "/invalid") as r:
            assert r.status_code == 200  # the head left before the item that fails
            body = b"".join(r.iter_raw())
            raise AssertionError(f"the stream ended cleanly: {body!r}")
    assert client.get("/plain").status_code == 200
    assert server.logged("ResponseValidationError", "does not fit the declared type"), server.log


def test_a_client_that_leaves_closes_the_generator(client: httpx.Client) -> None:
    with client.stream("GET", "/endless") as r:
        got = []
        for line in r.iter_lines():
            got.append(json.loads(line))
            if len(got) == 3:
                break
    assert got == [{"tick": 0}, {"tick": 1}, {"tick": 2}]
    deadline = time.monotonic() + 5
    while "endless closed" not in client.get("/closed").json():
        assert time.monotonic() < deadline, "the generator was never closed"
        time.sleep(0.02)


def test_a_plain_generator_runs_in_the_pool_and_the_loop_serves_meanwhile(client: httpx.Client,
                                                                          server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=20) as other, client.stream("GET", "/blocking-lines") as r:
        it = r.iter_lines()
        assert json.loads(next(it)) == {"line": 0}
        start = time.monotonic()
        assert other.get("/plain").status_code == 200  # between two of its 50 ms steps
        assert time.monotonic() - start < 0.5
        assert [json.loads(line) for line in it] == [{"line": 1}, {"line": 2}]
    assert "blocking closed" in client.get("/closed").json()


def test_a_response_class_takes_the_generator(client: httpx.Client) -> None:
    r = client.get("/events")
    assert r.headers["content-type"] == "text/event-stream"
    assert [line for line in r.text.splitlines() if line.startswith("data:")] == ["data: one", "data: two"]


def test_the_document_gives_the_item_schema(client: httpx.Client) -> None:
    paths = client.get("/openapi.json").json()["paths"]

    def content(path: str) -> Any:
        return paths[path]["get"]["responses"]["200"]["content"]

    item = {"application/jsonl": {"itemSchema": {"$ref": "#/components/schemas/Item"}}}
    assert content("/items") == item
    assert content("/plain") == item  # compiled natively, still known to be a generator
    assert content("/untyped") == {"application/jsonl": {"itemSchema": {}}}
    assert content("/endless") == {"application/jsonl": {"itemSchema": {
        "type": "object", "additionalProperties": {"type": "integer"}}}}


def test_a_response_parameter_sets_the_streams_head(client: httpx.Client) -> None:
    r = client.get("/with-response")
    assert (r.status_code, r.headers["x-stream"], lines(r)) == (201, "yes", [1, 2])


def test_background_tasks_added_while_streaming_run_after_it(client: httpx.Client) -> None:
    assert lines(client.get("/with-task")) == [1, 2]
    deadline = time.monotonic() + 5
    while "task ran" not in client.get("/closed").json():
        assert time.monotonic() < deadline, "the task never ran"
        time.sleep(0.02)


def test_response_model_does_not_apply_to_the_items(client: httpx.Client) -> None:
    assert lines(client.get("/model-ignored")) == [{"name": "one", "description": None}]


def test_a_plain_generator_cut_mid_step_is_closed_when_the_step_returns(client: httpx.Client) -> None:
    with client.stream("GET", "/slow-steps") as r:
        assert json.loads(next(r.iter_lines())) == 0  # then leave, while the pool runs its 0.5 s step
    deadline = time.monotonic() + 10
    while "slow closed" not in client.get("/closed").json():
        assert time.monotonic() < deadline, "the generator was never closed"
        time.sleep(0.05)


def wait_for(client: httpx.Client, entry: str) -> list[str]:
    deadline = time.monotonic() + 5
    while entry not in (got := client.get("/closed").json()):
        assert time.monotonic() < deadline, f"{entry!r} never came: {got}"
        time.sleep(0.02)
    return got  # type: ignore[no-any-return]


@pytest.mark.parametrize("path, prefix", [("/failing-with-session", ""), ("/async-failing-with-session", "async ")])
def test_a_failed_stream_is_thrown_into_its_yield_dependencies(client: httpx.Client, path: str, prefix: str) -> None:
    before = client.get("/closed").json().count(f"{prefix}committed")
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):  # the stream is cut
        with client.stream("GET", path) as r:
            b"".join(r.iter_raw())
    got = wait_for(client, f"{prefix}rolled back: " + ("RuntimeError" if not prefix else "ResponseValidationError"))
    assert got.count(f"{prefix}committed") == before  # the else: branch (a commit) never ran


def test_a_stream_that_ends_well_lets_its_yield_dependencies_finish(client: httpx.Client) -> None:
    before = client.get("/closed").json().count("async committed")
    assert lines(client.get("/async-with-session")) == ["session"]
    deadline = time.monotonic() + 5
    while client.get("/closed").json().count("async committed") == before:
        assert time.monotonic() < deadline, "the dependency never finished"
        time.sleep(0.02)


def test_a_plain_streaming_response_source_is_stepped_in_the_pool(client: httpx.Client, server: Server) -> None:
    with client.stream("GET", "/streaming-def") as r:
        lines_iter = r.iter_lines()
        assert next(lines_iter) == "0 False"  # not on the loop's (main) thread
        with httpx.Client(base_url=server.url, timeout=5) as other:
            t0 = time.monotonic()
            assert other.get("/plain").status_code == 200
            took = time.monotonic() - t0
        assert list(lines_iter) == ["1 False", "2 False"]
    assert took < 0.15, f"another request waited {took:.2f} s behind the stream's sleeping source"
