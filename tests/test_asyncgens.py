"""A module with async generators compiles, the generators lifted out and run interpreted (covet/compiler/asyncgens.py):
on every transport, interpreted and compiled, tests/apps/asyncgens.py answers the same."""

from __future__ import annotations

import json
import os
import re
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
        if "6/6 routes compiled" not in srv.log:
            srv.stop()
            raise AssertionError(srv.log)
    else:
        srv = Server("asyncgens:app", loop, cwd=APPS, pure=True)
    srv.compiled = mode == "compiled"  # type: ignore[attr-defined]
    yield srv
    code, log = srv.stop()
    assert code == 0, log


def _line(text: str) -> int:
    """The line of tests/apps/asyncgens.py that holds ``text`` (as Python numbers lines)."""
    source = (APPS / "asyncgens.py").read_text()
    return source[:source.index(text)].count("\n") + 1


def test_the_build_compiles_the_module_and_names_what_runs_interpreted(built_asyncgens: Path) -> None:
    log = (built_asyncgens / "build.log").read_text()
    lines = {name: _line(f"async def {name}(") for name in ("lifespan", "session", "stream", "fails", "one",
                                                             "counted", "made")}
    which = ", ".join(f"{name} (line {line})" for name, line in lines.items())
    note = f"asyncgens.py: mypyc cannot compile async generators: {which} run interpreted, the rest of asyncgens"
    assert f"{note} compiled" in log, log
    manifest = json.loads((built_asyncgens / ".covet" / "build" / "covet-manifest.json").read_text())
    assert "asyncgens" in manifest["compiled_modules"] and manifest["not_compiled"] == []
    assert all(r["handler_compiled"] for r in manifest["routes"])
    # A rebuild that keeps the build says it again.
    out = _build(built_asyncgens, "asyncgens")
    assert "nothing changed" in out.stderr and f"{which} run interpreted" in out.stderr, out.stderr


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
    line = _line('raise ValueError("the stream failed")')
    assert f'asyncgens.py", line {line}, in fails' in server.log, server.log


def test_the_text_compiled_keeps_every_other_line_where_it_was(built_asyncgens: Path) -> None:
    """A lifted generator's place takes as many lines as it did, one-liners and a form feed line before them
    included: mypy's errors and compiled tracebacks name the lines of the user's file."""
    original = re.findall(r"[^\r\n]*(?:\r\n|\r|\n)", (APPS / "asyncgens.py").read_text())
    lifted = re.findall(r"[^\r\n]*(?:\r\n|\r|\n)", (built_asyncgens / ".covet/build/lifted/asyncgens.py").read_text())
    assert len(lifted) == len(original)
    calls = [line.split(" = ")[0] for a, line in zip(original, lifted, strict=True)
             if a != line and line != "\n"]
    assert calls == ["lifespan", "session", "stream", "fails", "one", "counted", "made"]


def test_a_lifted_generator_is_defined_once(server: Server) -> None:
    """Its defaults are evaluated once, its decorator (here written across lines) registers it once."""
    r = httpx.get(f"{server.url}/made")
    assert r.status_code == 200 and r.text.splitlines() == ["1", "10", "1"], r.text


def test_an_async_generator_method_keeps_its_module_interpreted(tmp_path: Path) -> None:
    (tmp_path / "asyncgens_nested.py").write_bytes((APPS / "asyncgens_nested.py").read_bytes())
    out = _build(tmp_path, "asyncgens_nested")
    assert out.returncode == 0, out.stderr
    assert ("module asyncgens_nested not compiled natively: its async generator count (asyncgens_nested.py:13) "
            "is not a statement of the module's top level") in out.stderr, out.stderr
    srv = Server("asyncgens_nested:app", "asyncio", cwd=tmp_path)
    try:
        assert httpx.get(f"{srv.url}/count/3").json() == [0, 1, 2]
    finally:
        srv.stop()


def test_handlers_that_share_a_name_run_as_interpreted(tmp_path: Path) -> None:
    """The glue calls a handler by its module-level name, which holds only the last of them: those routes run
    interpreted whole, each calling its own function."""
    (tmp_path / "twice.py").write_text(
        "from collections.abc import AsyncIterator\n"
        "from covet import Covet\n"
        "app = Covet()\n"
        "@app.get('/a')\n"
        "async def stream() -> AsyncIterator[str]:\n"
        "    yield 'a'\n"
        "@app.get('/b')\n"
        "async def stream() -> AsyncIterator[str]:  # type: ignore[no-redef]\n"
        "    yield 'b'\n")
    out = _build(tmp_path, "twice")
    assert out.returncode == 0 and "twice.stream is not what the name stream holds in its module" in out.stderr, \
        out.stderr
    srv = Server("twice:app", "asyncio", cwd=tmp_path)
    try:
        assert [httpx.get(f"{srv.url}/{p}").text for p in "ab"] == ["\"a\"\n", "\"b\"\n"]
    finally:
        srv.stop()


def test_a_module_that_rebinds_globals_keeps_its_generators_and_says_why(tmp_path: Path) -> None:
    (tmp_path / "rebinds.py").write_text(
        "from collections.abc import AsyncIterator\n"
        "from covet import Covet\n"
        "app = Covet()\n"
        "globals = {'site': 'demo'}\n"
        "@app.get('/a')\n"
        "async def stream() -> AsyncIterator[str]:\n"
        "    yield globals['site']\n")
    out = _build(tmp_path, "rebinds")
    assert out.returncode == 0, out.stderr
    assert "module rebinds not compiled natively: it binds the name globals" in out.stderr, out.stderr
