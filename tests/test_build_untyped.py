"""`covet build` of handlers written without annotations, as FastAPI's users write them.

Unannotated functions compile and run as ``Any`` (the glue calls them through an ``Any`` binding); real type errors
in annotated code still fail the build at their line; ``--strict`` demands annotations everywhere. The app is served
interpreted and compiled, on every loop.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import APPS, TRANSPORTS, Server, app_server, build_project, checkout_path
from test_compiler import covet


@pytest.fixture(scope="session")
def built_untyped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_project(tmp_path_factory, APPS / "untyped.py")


@pytest.fixture(scope="module", params=TRANSPORTS)
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    srv = app_server(request, request.param, "untyped", "built_untyped")
    yield srv
    srv.stop()


def test_an_untyped_module_is_compiled_whole(built_untyped: Path) -> None:
    build = built_untyped / ".covet" / "build"
    manifest = json.loads((build / "covet-manifest.json").read_text())
    assert manifest["not_compiled"] == []
    assert {"untyped", "covet_glue"} <= set(manifest["compiled_modules"])
    assert list(build.glob("untyped*.so"))
    assert len(manifest["routes"]) == 11 and all(r["compiled"] for r in manifest["routes"])
    glue = (build / "covet_glue.py").read_text()
    # Untyped functions are called through an Any binding; a typed one is called as it is.
    assert "await _i" in glue and "_any: Final[Any] = " in glue
    typed_call = next(line for line in glue.splitlines() if "covet calls untyped:typed" in line)
    assert "_any(" not in typed_call, typed_call


def test_the_start_up_line_counts_the_compiled_routes(server: Server) -> None:
    if server.mode == "compiled":
        assert "handlers=compiled, 11/11 routes compiled" in server.log, server.log
    else:
        assert "handlers=interpreted" in server.log, server.log


def test_untyped_handlers_answer_as_interpreted(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as c:
        assert c.get("/").json() == {"message": "Hello World"}
        # Unannotated parameters are strings, whatever their default.
        assert c.get("/users/7", params={"short": "1"}).json() == {"user_id": "7", "short": "1", "label": "<7>"}
        assert c.get("/users/7").json() == {"user_id": "7", "short": False, "label": "<7>"}
        assert c.get("/items/", params={"q": "a", "skip": "2"}).json() == {"q": "a", "skip": 2, "limit": 100}
        r = c.get("/items/", params={"skip": "x"})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "skip"]
        assert c.get("/pages/", params={"page": "3"}).json() == {"page": "3"}
        assert c.get("/pages/").json() == {"page": 1}
        assert c.get("/typed/4").json() == {"n": 8}
        assert c.get("/typed/x").status_code == 422
        assert c.get("/agent/", headers={"user-agent": "probe"}).json() == {"user_agent": "probe"}
        assert c.get("/wait/").content == b'{"wait":300.0}'
        assert c.get("/wait/typed/").content == b'{"wait":"PT5M"}'
        assert c.get("/limited/2").json() == {"x": 2}
        r = c.get("/limited/9")
        assert (r.status_code, r.json()) == (404, {"detail": "Too big"})
        assert c.post("/send/a@b.c").json() == {"message": "sent"}
        deadline = 50
        while deadline and "a@b.c" not in c.get("/written/").json():
            deadline -= 1
        assert "a@b.c" in c.get("/written/").json()


MIXED_APP = '''\
from covet import Covet

app = Covet()


@app.get("/")
def root():
    return {"ok": True}


@app.get("/users/{user_id}")
def get_user(user_id: int) -> str:
    return user_id
'''


def test_a_type_error_in_annotated_code_still_fails_at_its_line(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(MIXED_APP)
    out = covet(tmp_path, "build", "app:app")
    assert out.returncode == 1, out.stderr
    assert ('app.py:13: error: Incompatible return value type (got "int", expected "str")  [return-value]  '
            "[GET /users/{user_id} -> app.py:get_user]") in out.stderr, out.stderr
    assert "covet: build failed (1 error)" in out.stderr
    assert "app.py:8" not in out.stderr  # the unannotated handler is not an error


def test_strict_demands_annotations(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(MIXED_APP.replace("    return user_id\n", "    return str(user_id)\n"))
    out = covet(tmp_path, "check", "app:app", "--strict")
    assert out.returncode == 1, out.stderr
    assert ("app.py:7: error: Function is missing a return type annotation  [no-untyped-def]  "
            "[GET / -> app.py:root]") in out.stderr, out.stderr
    out = covet(tmp_path, "check", "app:app")
    assert out.returncode == 0, out.stderr
    assert "check passed (2 routes compile)" in out.stderr


INFERRED_APP = '''\
from covet import Covet

app = Covet()


@app.get("/items/")
async def read_items(q: str | None = None):
    results = {"items": [{"item_id": "Foo"}]}
    if q:
        results.update({"q": q})
    return results
'''


def test_code_mypy_cannot_check_untyped_runs_interpreted_behind_compiled_glue(tmp_path: Path) -> None:
    """mypy checks a function that annotates a parameter, and refuses what FastAPI runs: the module stays
    interpreted, the build goes on and says where and why, the glue is compiled."""
    (tmp_path / "app.py").write_text(INFERRED_APP)
    out = covet(tmp_path, "build", "app:app")
    assert out.returncode == 0, out.stderr
    assert ("covet: note: module app not compiled natively: fails mypy's check in read_items, which is not fully "
            "annotated: Dict entry 0 has incompatible type \"str\": \"str\"; expected \"str\": "
            "\"list[dict[str, str]]\"  [dict-item] (app.py:10); annotate read_items (its result, and the variable "
            "the error names) to compile the module") in out.stderr, out.stderr
    assert "built 1 routes (1 of them compiled glue calling an interpreted handler)" in out.stderr
    srv = Server("app:app", "asyncio", cwd=tmp_path)
    try:
        assert "handlers=compiled, 0/1 routes compiled, 1/1 compiled glue calling an interpreted handler" in srv.log
        assert httpx.get(f"{srv.url}/items/", params={"q": "x"}).json() == {"items": [{"item_id": "Foo"}], "q": "x"}
    finally:
        code, log = srv.stop()
    assert code == 0, log
    serve = [sys.executable, "-m", "covet", "serve", "app:app", "--compiled", "require", "--port", "0"]
    refused = subprocess.run(serve, cwd=tmp_path, env=dict(os.environ, PYTHONPATH=checkout_path(tmp_path)),
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2, refused.stderr
    assert ("--compiled=require, but 1 of the application's routes' handlers would run interpreted: GET /items/: its "
            "glue is compiled, but module app fails mypy's check in read_items") in refused.stderr, refused.stderr
