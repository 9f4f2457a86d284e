"""A module with async generators compiles, the generators lifted out and run interpreted (covet/compiler/asyncgens.py):
on every transport, interpreted and compiled, tests/apps/asyncgens.py answers the same."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import APPS, TRANSPORTS, Server, built_once, checkout_path


def _build(proj: Path, module: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "covet", "build", f"{module}:app"], cwd=proj,
                          env=dict(os.environ, PYTHONPATH=checkout_path(proj)), capture_output=True, text=True,
                          timeout=900)


@pytest.fixture(scope="session")
def built_asyncgens(tmp_path_factory: pytest.TempPathFactory) -> Path:
    def make(proj: Path) -> None:
        (proj / "asyncgens.py").write_bytes((APPS / "asyncgens.py").read_bytes())
        out = _build(proj, "asyncgens")
        assert out.returncode == 0, out.stdout + out.stderr
        (proj / "build.log").write_text(out.stderr)

    return built_once(tmp_path_factory, "built-asyncgens", make)


@pytest.fixture(scope="module", params=TRANSPORTS)
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    mode, loop = request.param.split("-")
    if mode == "compiled":
        srv = Server("asyncgens:app", loop, "--compiled", "require", cwd=request.getfixturevalue("built_asyncgens"))
        if "4/4 routes compiled" not in srv.log:
            srv.stop()
            raise AssertionError(srv.log)
    else:
        srv = Server("asyncgens:app", loop, cwd=APPS, pure=True)
    srv.compiled = mode == "compiled"  # type: ignore[attr-defined]
    yield srv
    code, log = srv.stop()
    assert code == 0, log


def test_the_build_compiles_the_module_and_names_what_runs_interpreted(built_asyncgens: Path) -> None:
    log = (built_asyncgens / "build.log").read_text()
    assert ("asyncgens.py: mypyc cannot compile async generators: lifespan (line 18), session (line 27), stream "
            "(line 53), fails (line 59) run interpreted, the rest of asyncgens compiled") in log, log
    manifest = json.loads((built_asyncgens / ".covet" / "build" / "covet-manifest.json").read_text())
    assert "asyncgens" in manifest["compiled_modules"] and manifest["not_compiled"] == []
    assert all(r["handler_compiled"] for r in manifest["routes"])


def test_a_yield_dependency_opens_and_closes_around_a_compiled_handler(server: Server) -> None:
    r = httpx.get(f"{server.url}/sum/10")
    assert r.status_code == 200
    assert r.json() == {"db": "db", "total": 285, "compiled": server.compiled}  # type: ignore[attr-defined]
    events = httpx.get(f"{server.url}/events").json()
    assert events[0] == "started"  # the lifespan (asynccontextmanager) ran
    assert events[-2:] == ["open", "close"]  # the finally awaited, and ran to its end


def test_an_async_generator_handler_streams(server: Server) -> None:
    r = httpx.get(f"{server.url}/stream/4")
    assert r.status_code == 200
    assert [json.loads(line) for line in r.text.splitlines()] == [
        {"i": 0, "square": 0}, {"i": 1, "square": 1}, {"i": 2, "square": 4}, {"i": 3, "square": 9}]


def test_a_lifted_generator_fails_at_its_own_line(server: Server) -> None:
    """Its traceback names the app's file and line, compiled as interpreted: it runs from the source as written."""
    with pytest.raises(httpx.TransportError):  # the stream is cut after its head and first item
        httpx.get(f"{server.url}/fails")
    assert server.logged("ValueError: the stream failed"), server.log
    assert 'asyncgens.py", line 61, in fails' in server.log, server.log


def test_an_async_generator_method_keeps_its_module_interpreted(tmp_path: Path) -> None:
    (tmp_path / "asyncgens_nested.py").write_bytes((APPS / "asyncgens_nested.py").read_bytes())
    out = _build(tmp_path, "asyncgens_nested")
    assert out.returncode == 0, out.stderr
    assert ("module asyncgens_nested not compiled natively: its async generator count (asyncgens_nested.py:13) "
            "is not a module-level function") in out.stderr, out.stderr
    srv = Server("asyncgens_nested:app", "asyncio", cwd=tmp_path)
    try:
        assert httpx.get(f"{srv.url}/count/3").json() == [0, 1, 2]
    finally:
        srv.stop()
