"""Where handlers run, error paths, and the CLI, on every transport."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import LOOPS, ROOT, Server

TESTS = Path(__file__).resolve().parent


@pytest.fixture(scope="module", params=["inprocess", *LOOPS])
def bclient(request: pytest.FixtureRequest) -> Iterator[Any]:
    if request.param == "inprocess":
        sys.path.insert(0, str(TESTS))
        from apps.behaviour import app
        from covet.testing import TestClient

        # As httpx.Client on a server: a 500 rather than the exception, and redirects read rather than followed.
        with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as c:
            yield c
        return
    srv = Server("apps.behaviour:app", request.param, cwd=TESTS)
    with httpx.Client(base_url=srv.url, timeout=10) as c:
        c.server = srv  # type: ignore[attr-defined]
        yield c
    srv.stop()


def test_sync_handler_runs_in_the_pool(bclient: Any) -> None:
    assert bclient.get("/where/sync").json() == {"loop_thread": False}
    assert bclient.get("/where/blocking").json() == {"loop_thread": False}


def test_inline_sync_handler_runs_on_loop_thread(bclient: Any) -> None:
    assert bclient.get("/where/inline").json() == {"loop_thread": True}


def test_async_handler_sees_one_task_before_and_after_suspending(bclient: Any) -> None:
    assert bclient.get("/where/async").json() == {"task_before_suspending": True, "task_after": True, "same": True}


def test_header_injection_is_refused_as_500(bclient: Any) -> None:
    r = bclient.get("/bad-header")
    assert r.status_code == 500
    assert "set-cookie" not in r.headers


def test_unannotated_parameters_are_query_strings(bclient: Any) -> None:
    assert bclient.get("/unannotated", params={"x": "7"}).json() == {"x": "7"}


def test_async_exception_is_500_and_logged(bclient: Any) -> None:
    r = bclient.get("/boom-async")
    assert r.status_code == 500
    assert (r.text, r.headers["content-type"]) == ("Internal Server Error", "text/plain; charset=utf-8")
    assert bclient.get("/where/sync").status_code == 200
    server = getattr(bclient, "server", None)
    if server is not None:
        assert server.logged("ValueError: async failure on purpose"), server.log
        assert "Traceback" in server.log
        assert "ValueError: async failure on purpose" in server.log
        assert "GET /boom-async" in server.log


def test_server_header_is_configurable(bclient: Any) -> None:
    assert bclient.get("/where/sync").headers["server"] == "behaviour-test"


def covet(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(cwd), str(ROOT)]))
    return subprocess.run([sys.executable, "-m", "covet", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=60)


def test_cli_routes() -> None:
    out = covet("routes", "examples.hello:app")
    assert out.returncode == 0, out.stderr
    assert re.search(r"^GET\s+/users/\{user_id\}\s+\S*examples/hello.py:\d+:get_user", out.stdout, re.M)
    assert "user_id:path, q:query, limit:query" in out.stdout


def test_cli_version() -> None:
    out = covet("--version")
    assert out.returncode == 0
    assert out.stdout.startswith("covet 0.")


@pytest.mark.parametrize(
    "args, message",
    [
        (["serve", "nosuchmodule:app"], "cannot import 'nosuchmodule'"),
        (["serve", "examples.hello:nothing"], "has no attribute 'nothing'"),
        (["serve", "examples.hello:Item"], "not a covet.Covet application"),
        (["routes", "apps.broken:app"], "path parameter {item_id} is not a parameter of the handler"),
    ],
)
def test_cli_errors_are_readable(args: list[str], message: str) -> None:
    out = covet(*args, cwd=TESTS if "apps.broken:app" in args else ROOT)
    assert out.returncode != 0
    assert message in out.stderr
    assert "Traceback" not in out.stderr


def test_port_in_use_is_a_clear_error() -> None:
    srv = Server("examples.hello:app", "asyncio")
    try:
        out = covet("serve", "examples.hello:app", "--port", str(srv.port), "--loop", "asyncio")
        assert out.returncode == 1
        assert "cannot listen on" in out.stderr
    finally:
        srv.stop()


@pytest.mark.parametrize("loop", LOOPS)
def test_shutdown_hook_runs_on_sigterm(loop: str, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    os.environ["COVET_TEST_SHUTDOWN_FILE"] = str(marker)
    try:
        srv = Server("apps.behaviour:app", loop, cwd=TESTS)
    finally:
        del os.environ["COVET_TEST_SHUTDOWN_FILE"]
    with httpx.Client(base_url=srv.url) as c:
        assert c.get("/where/sync").status_code == 200
    code, log = srv.stop()
    assert code == 0, log
    assert marker.read_text() == "shutdown ran"


@pytest.mark.parametrize("loop", LOOPS)
def test_a_second_signal_leaves_a_shutdown_hook_that_hangs(loop: str, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    srv = Server("apps.behaviour:app", loop, cwd=TESTS,
                 env_extra={"COVET_TEST_SHUTDOWN_FILE": str(marker), "COVET_TEST_SHUTDOWN_HANG": "1"})
    try:
        srv.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        while not (marker.exists() and marker.read_text() == "hanging") and time.monotonic() < deadline:
            time.sleep(0.05)
        t0 = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        srv.proc.wait(timeout=20)
        assert time.monotonic() - t0 < 5
    finally:
        code, log = srv.stop()
    assert code == 0, log
    assert "second signal: leaving without waiting for the shutdown hooks" in log, log


@pytest.fixture(scope="module", params=LOOPS)
def bserver(request: pytest.FixtureRequest) -> Iterator[Server]:
    srv = Server("apps.behaviour:app", request.param, cwd=TESTS)
    yield srv
    srv.stop()


def test_client_disconnect_stops_a_stream(bserver: Server) -> None:
    import time

    with httpx.Client(base_url=bserver.url) as c:
        before = c.get("/stream-stats").json()["closed"]
        s = bserver.connect()
        s.sendall(b"GET /forever HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 200 OK")
        s.close()
        deadline = time.monotonic() + 5
        while c.get("/stream-stats").json()["closed"] == before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert c.get("/stream-stats").json()["closed"] == before + 1


def test_stream_failing_midway_is_cut_not_completed(bserver: Server) -> None:
    from conftest import recv_until_closed

    with bserver.connect() as s:
        s.sendall(b"GET /broken-stream HTTP/1.1\r\nHost: x\r\n\r\n")
        data = recv_until_closed(s)
    assert b"first part;" in data
    assert not data.endswith(b"0\r\n\r\n")
    assert bserver.logged("stream broke on purpose"), bserver.log


def test_pydantic_model_body_and_result(bclient: Any) -> None:
    r = bclient.post("/users", json={"name": "ann", "age": 3})
    assert r.status_code == 200 and r.json() == {"name": "ann", "age": 3}
    r = bclient.post("/users", json={"name": "", "age": -1})
    assert r.status_code == 422
    assert sorted(tuple(e["loc"]) for e in r.json()["detail"]) == [("body", "age"), ("body", "name")]
    assert {e["type"] for e in r.json()["detail"]} == {"string_too_short", "greater_than_equal"}


@pytest.mark.parametrize("prefix", ["", "/inline"])
def test_a_body_is_json_only_when_its_content_type_says_so(bclient: Any, prefix: str) -> None:
    body = b'{"name": "ann", "age": 3}'
    crowd = {f"x-h{i}": "application/json" for i in range(20)}  # other headers, some that look like it
    for ctype in ("application/json", "application/json; charset=utf-8", "APPLICATION/problem+JSON"):
        r = bclient.post(f"{prefix}/users", content=body, headers={**crowd, "content-type": ctype})
        assert (r.status_code, r.json()) == (200, {"name": "ann", "age": 3}), ctype
    for bad in ("text/plain", "application/jsonp", "application/json\u00e9".encode(), ""):  # 8-bit bytes too
        r = bclient.post(f"{prefix}/users", content=body, headers={**crowd, "content-type": bad})
        assert r.status_code == 422 and r.json()["detail"][0]["type"] == "model_attributes_type", bad
    r = bclient.post(f"{prefix}/users", content=body, headers=crowd)  # no Content-Type at all: strict, as FastAPI
    assert r.status_code == 422
    good = b'{"user": {"name": "a", "age": 1}, "note": {"k": "v"}}'
    r = bclient.post(f"{prefix}/embed", content=good, headers={"content-type": "application/json"})
    assert r.json() == {"user": "a", "note": {"k": "v"}}
    r = bclient.post(f"{prefix}/embed", content=good, headers={"content-type": "text/plain"})
    assert sorted(tuple(e["loc"]) for e in r.json()["detail"]) == [("body", "note"), ("body", "user")]


def test_dict_body(bclient: Any) -> None:
    assert bclient.post("/scores", json={"a": 1, "b": 2.5}).json() == {"total": 3.5}
    assert bclient.post("/scores", json=[1, 2]).status_code == 422


def test_float_and_bool_path_parameters(bclient: Any) -> None:
    assert bclient.get("/scale/1.5/true").json() == {"factor": 1.5, "flag": True}
    assert bclient.get("/scale/x/true").status_code == 422
    assert bclient.get("/scale/2/maybe").json()["detail"][0]["loc"] == ["path", "flag"]


def test_several_body_parameters_are_embedded(bclient: Any) -> None:
    r = bclient.post("/embed", json={"user": {"name": "a", "age": 1}, "note": {"k": "v"}})
    assert r.json() == {"user": "a", "note": {"k": "v"}}
    r = bclient.post("/embed", json={"user": {"name": "a", "age": 1}})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "note"]


@pytest.mark.parametrize("loop", LOOPS)
def test_sigint_also_drains_gracefully(loop: str) -> None:
    import signal

    srv = Server("apps.behaviour:app", loop, cwd=TESTS)
    code, log = srv.stop(signal.SIGINT)
    assert code == 0, log
    assert "shutting down" in log
