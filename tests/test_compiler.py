"""`covet build`, `covet check`, `covet explain` and serving a build: the real compiler, real servers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import LOOPS, ROOT, Server, checkout_path
from covet.compiler import mypycache
from covet.compiler.build import compiler_version
from covet.compiler.mypycache import SEEDED_FROM

GOLDEN = Path(__file__).resolve().parent / "golden"


def covet(cwd: Path, *args: str, timeout: float = 900, tmp: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=checkout_path(cwd))
    if tmp is not None:  # its temporary files, apart from other runs'
        env["TMPDIR"] = str(tmp)
    return subprocess.run([sys.executable, "-m", "covet", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def project(tmp: Path, source: Path, name: str = "app.py") -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, tmp / name)
    return tmp


def test_build_writes_manifest_and_extensions(built_hello: Path) -> None:
    build = built_hello / ".covet" / "build"
    manifest = json.loads((build / "covet-manifest.json").read_text())
    assert manifest["app"] == "hello:app"
    assert manifest["sources"].keys() == {"hello.py"}
    assert set(manifest["compiled_modules"]) == {"hello", "covet_glue"}
    assert manifest["mypy_version"]
    assert any(r["path"] == "/users/{user_id}" and r["compiled"] for r in manifest["routes"])
    assert list(build.glob("hello*.so")) and list(build.glob("covet_glue*.so"))


SHOP_INIT = """from shop.routes import app

__all__ = ["app"]
"""

SHOP_MODELS = """from dataclasses import dataclass


@dataclass
class Item:
    name: str
    price: float
"""

SHOP_ROUTES = """from covet import Covet
from shop.models import Item

app = Covet()


@app.get("/items/{item_id}")
def get_item(item_id: int, q: str | None = None) -> dict[str, object]:
    return {"id": item_id, "q": q}


@app.post("/items")
def add_item(item: Item) -> Item:
    return item
"""


def test_handlers_inside_a_package_compile_and_serve(tmp_path: Path) -> None:
    # The package imports its handler module itself, before the server could put the build first on the path.
    pkg = tmp_path / "shop"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(SHOP_INIT)
    (pkg / "models.py").write_text(SHOP_MODELS)
    (pkg / "routes.py").write_text(SHOP_ROUTES)
    out = covet(tmp_path, "build", "shop:app")
    assert out.returncode == 0, out.stderr
    build = tmp_path / ".covet" / "build"
    manifest = json.loads((build / "covet-manifest.json").read_text())
    assert manifest["compiled_modules"] == ["covet_glue", "shop.routes"]
    # Only the handlers are compiled; the build depends on every module of the project it imported.
    assert manifest["sources"].keys() == {"shop/__init__.py", "shop/models.py", "shop/routes.py"}
    assert list((build / "shop").glob("routes.cpython-*.so"))
    srv = Server("shop:app", "asyncio", "--compiled", "require", cwd=tmp_path)
    try:
        assert "2/2 routes compiled" in srv.log, srv.log
        assert httpx.get(srv.url + "/items/7", params={"q": "x"}).json() == {"id": 7, "q": "x"}
        r = httpx.post(srv.url + "/items", json={"name": "pen", "price": 2})
        assert (r.status_code, r.json()) == (200, {"name": "pen", "price": 2.0})
        assert httpx.get(srv.url + "/items/x").status_code == 422
    finally:
        code, log = srv.stop()
    assert code == 0, log


def test_build_is_deterministic(built_hello: Path, tmp_path: Path) -> None:
    """The same sources, built again elsewhere, give the same glue, the same C and the same manifest."""
    again = project(tmp_path / "again", built_hello / "hello.py", "hello.py")
    out = covet(again, "build", "hello:app")
    assert out.returncode == 0, out.stderr
    first, second = built_hello / ".covet" / "build", again / ".covet" / "build"
    assert (first / "covet_glue.py").read_text() == (second / "covet_glue.py").read_text()
    c_files = sorted(p.name for p in (first / "c").glob("*.[ch]"))
    assert c_files and c_files == sorted(p.name for p in (second / "c").glob("*.[ch]"))
    for name in c_files:
        assert (first / "c" / name).read_bytes() == (second / "c" / name).read_bytes(), name
    m1, m2 = (json.loads((d / "covet-manifest.json").read_text()) for d in (first, second))
    assert m1.pop("root") != m2.pop("root")  # where it was built is the one thing that differs
    assert m1 == m2


@pytest.fixture(scope="session", params=LOOPS)
def compiled_server(request: pytest.FixtureRequest, built_hello: Path) -> Iterator[Server]:
    srv = Server("hello:app", request.param, "--compiled", "require", cwd=built_hello)
    yield srv
    srv.stop()


def test_serves_compiled(compiled_server: Server) -> None:
    assert compiled_server.mode == "compiled"
    assert "routes compiled" in compiled_server.log
    with httpx.Client(base_url=compiled_server.url) as c:
        assert c.get("/users/7", params={"q": "x"}).json() == {"id": 7, "q": "x", "limit": 10}
        r = c.get("/users/7", params={"limit": "lots"})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "limit"]
        assert c.post("/items", json={"name": "a", "price": 1, "tags": []}).status_code == 201
        assert c.get("/").text == "Hello, World!"


def test_stale_build_falls_back_or_refuses(built_hello: Path, tmp_path: Path) -> None:
    proj = project(tmp_path / "p", built_hello / "hello.py", "hello.py")
    shutil.copytree(built_hello / ".covet", proj / ".covet")
    manifest = json.loads((proj / ".covet/build/covet-manifest.json").read_text())
    manifest["root"] = str(proj)
    (proj / ".covet/build/covet-manifest.json").write_text(json.dumps(manifest))
    with open(proj / "hello.py", "a") as f:
        f.write("\n# edited\n")
    out = covet(proj, "serve", "hello:app", "--compiled", "require", "--port", "0", timeout=60)
    assert out.returncode == 2
    assert "hello.py changed since the build" in out.stderr
    srv = Server("hello:app", "asyncio", cwd=proj)
    try:
        assert srv.mode == "interpreted"
        assert "running interpreted: hello.py changed since the build" in srv.log
    finally:
        srv.stop()


TINY_APP = """from covet import Covet

app = Covet()


@app.get("/")
def index() -> str:
    return "hi"
"""

# The glue of an older CovetPy: no SCHEMA, and its rows are bare tuples read by position.
UNVERSIONED_GLUE = """from app import index

ROUTES = [("GET", "/", index, False, "[GET / -> app.py:index]", False, False, False)]
"""


def fake_build(proj: Path, manifest_schema: int, glue: str) -> Path:
    """A build laid out as `covet build` lays it out, with nothing compiled: enough for the schema checks."""
    from covet import __version__
    from covet.manifest import GLUE_MODULE, Manifest, file_hash, python_tag

    proj.mkdir(parents=True)
    (proj / "app.py").write_text(TINY_APP)
    build = proj / ".covet" / "build"
    build.mkdir(parents=True)
    Manifest(app="app:app", covet_version=__version__, python=python_tag(), mypy_version="-",
             sources={"app.py": file_hash(proj / "app.py")}, compiled_modules=[], routes=[], not_compiled=[],
             root=str(proj), schema=manifest_schema).save(build)
    (build / f"{GLUE_MODULE}.py").write_text(glue)
    return proj


def test_a_manifest_of_another_schema_is_refused(tmp_path: Path) -> None:
    from covet.manifest import SCHEMA

    proj = fake_build(tmp_path / "p", SCHEMA - 1, UNVERSIONED_GLUE)
    out = covet(proj, "serve", "app:app", "--compiled", "require", "--port", "0", timeout=60)
    assert out.returncode == 2, out.stderr
    assert (f"its manifest was written for build schema {SCHEMA - 1}; this CovetPy reads schema {SCHEMA} "
            "(run: covet build app:app)") in out.stderr, out.stderr


@pytest.mark.parametrize("glue", [UNVERSIONED_GLUE, "SCHEMA = 1\n" + UNVERSIONED_GLUE], ids=["no-schema", "schema-1"])
def test_a_glue_module_of_another_schema_is_refused(tmp_path: Path, glue: str) -> None:
    from covet.manifest import SCHEMA

    proj = fake_build(tmp_path / "p", SCHEMA, glue)
    out = covet(proj, "serve", "app:app", "--compiled", "require", "--port", "0", timeout=60)
    assert out.returncode == 2, out.stderr
    made = "was written for build schema 1" if "SCHEMA" in glue else "records no build schema"
    assert f"covet_glue.py {made}; this CovetPy reads schema {SCHEMA} (run: covet build app:app)" in out.stderr, \
        out.stderr


TYPE_ERROR_APP = '''\
from covet import Covet

app = Covet()


@app.get("/ok")
def ok() -> str:
    return "fine"


@app.get("/users/{user_id}")
def get_user(user_id: int) -> str:
    return user_id
'''


def test_type_error_fails_build_and_check_at_the_line(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(TYPE_ERROR_APP)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    for args in (["build", "app:app"], ["check", "app:app"]):
        out = covet(tmp_path, *args, tmp=scratch)
        assert out.returncode == 1, out.stderr
        assert "app.py:13: error: Incompatible return value type" in out.stderr
        assert "[GET /users/{user_id} -> app.py:get_user]" in out.stderr
    out = covet(tmp_path, "check", "app:app", "--format", "github", tmp=scratch)
    assert out.returncode == 1
    assert "::error file=app.py,line=13::Incompatible return value type" in out.stdout
    out = covet(tmp_path, "check", "app:app", "--format", "json", tmp=scratch)
    data = json.loads(out.stdout)
    assert data["ok"] is False and data["diagnostics"][0]["line"] == 13
    assert not any(scratch.iterdir()), "covet check left its temporary files"


DEP_MISMATCH_APP = '''\
from typing import Annotated

from covet import Covet, Depends

app = Covet()


def get_count() -> int:
    return 3


@app.get("/n")
def n(count: Annotated[str, Depends(get_count)]) -> str:
    return count
'''


def test_a_dependency_of_the_wrong_type_is_the_users_error_at_the_line(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(DEP_MISMATCH_APP)
    out = covet(tmp_path, "check", "app:app")
    assert out.returncode == 1, out.stderr
    assert "INTERNAL ERROR" not in out.stderr, out.stderr
    assert 'app.py:13: error: Argument 1 to "n" has incompatible type "int"; expected "str"' in out.stderr, out.stderr
    assert "[GET /n -> app.py:n]" in out.stderr


def test_incremental_rebuild_touches_only_what_changed(tmp_path: Path) -> None:
    proj = project(tmp_path, ROOT / "examples" / "hello.py", "hello.py")
    assert covet(proj, "build", "hello:app").returncode == 0
    glue = proj / ".covet" / "build" / "covet_glue.py"
    glue_mtime = glue.stat().st_mtime_ns
    c_dir = proj / ".covet" / "build" / "c"

    def c_files() -> dict[str, int]:
        return {p.name: p.stat().st_mtime_ns for p in c_dir.iterdir() if p.suffix in (".c", ".h")}

    before = c_files()
    src = (proj / "hello.py").read_text().replace('return "Hello, World!"', 'return "Hello again!"', 1)
    (proj / "hello.py").write_text(src)
    out = covet(proj, "build", "hello:app")
    assert out.returncode == 0, out.stderr
    # A handler's body changed, not its signature: the glue is the same file, untouched.
    assert glue.stat().st_mtime_ns == glue_mtime
    # Only the C of the compiled modules is rewritten (and so recompiled); mypyc's runtime library is not.
    after = c_files()
    rewritten = {name for name, mtime in after.items() if before.get(name) != mtime}
    assert "__native_hello.c" in rewritten, rewritten
    assert all(name.startswith("__native") for name in rewritten), rewritten
    assert len(after) - len(rewritten) >= 15, (sorted(after), rewritten)
    srv = Server("hello:app", "asyncio", "--compiled", "require", cwd=proj)
    try:
        assert httpx.get(srv.url + "/").text == "Hello again!"
    finally:
        srv.stop()


def test_a_first_build_starts_from_the_mypy_cache_an_earlier_build_left(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COVET_CACHE_DIR", str(tmp_path / "seeds"))
    first = project(tmp_path / "first", ROOT / "examples" / "hello.py", "hello.py")
    assert covet(first, "build", "hello:app").returncode == 0
    seeds = list((tmp_path / "seeds").glob("mypy-seed-*"))
    assert len(seeds) == 1, seeds
    # Another app, elsewhere: its cache starts as a copy of the seed (the entries of the standard library,
    # pydantic and covet are not checked again), and what differs (its own module) is.
    second = project(tmp_path / "second", ROOT / "examples" / "hello.py", "hello.py")
    (second / "hello.py").write_text((second / "hello.py").read_text().replace("Hello, World!", "Hello, seed!"))
    assert covet(second, "build", "hello:app").returncode == 0
    assert (second / ".covet" / "build" / "mypy_cache" / SEEDED_FROM).read_text().startswith(str(first))
    srv = Server("hello:app", "asyncio", "--compiled", "require", cwd=second)
    try:
        assert httpx.get(srv.url + "/").text == "Hello, seed!"
    finally:
        srv.stop()
    # Off: no seed is read or kept (the module itself, in process: a third build would only add a minute).
    monkeypatch.setenv("COVET_CACHE_DIR", "off")
    version = compiler_version()
    assert mypycache.seed_dir(version) is None
    mypycache.warm(tmp_path / "third", version)
    assert not (tmp_path / "third").exists()  # a cold start
    mypycache.keep_seed(second / ".covet" / "build" / "mypy_cache", version)
    assert list((tmp_path / "seeds").glob("mypy-seed-*")) == seeds


def test_annotate_writes_mypyc_report_for_handlers_and_glue(tmp_path: Path) -> None:
    proj = project(tmp_path, ROOT / "perf" / "apps" / "covet_app.py", "covet_app.py")
    out = covet(proj, "build", "covet_app:app", "--annotate")
    assert out.returncode == 0, out.stderr
    report = proj / ".covet" / "build" / "annotate.html"
    assert f"report of slow operations: {report}" in out.stderr
    html = report.read_text()
    # Both the handlers' module and the glue are in it, with mypyc's notes on what runs slowly.
    assert "covet_app.py" in html and "def glue_1_json_" in html
    assert "Calling a decorated function" in html


def test_explain_prints_the_glue(built_hello: Path) -> None:
    out = covet(built_hello, "explain", "GET /users/{user_id}")
    assert out.returncode == 0, out.stderr
    assert "[GET /users/{user_id} -> hello.py:get_user]" in out.stdout
    assert "def glue_" in out.stdout and "parse_query(_q)" in out.stdout
    out = covet(ROOT, "explain", "GET /users/{user_id}", "--app", "examples.hello:app")
    assert out.returncode == 0 and "def glue_get_user" in out.stdout


def test_glue_golden(built_hello: Path) -> None:
    """The generated glue is stable; COVET_UPDATE_GOLDEN=1 rewrites the expected file."""
    text = (built_hello / ".covet" / "build" / "covet_glue.py").read_text()
    text = "\n".join(line for line in text.splitlines() if not line.startswith('"""Generated by'))
    golden = GOLDEN / "hello_glue.py.txt"
    if os.environ.get("COVET_UPDATE_GOLDEN"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text)
    assert text == golden.read_text()


def test_module_that_cannot_compile_is_reported(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(
        "from covet import Covet\n\napp = Covet()\n\n\ndef make() -> None:\n"
        "    @app.get('/inner')\n    def inner() -> str:\n        return 'x'\n\n\nmake()\n"
    )
    # mypyc 1.x crashes on an await inside an f-string (an internal error, stop 30): that module stays interpreted,
    # said at its line, and the build goes on.
    (tmp_path / "crash.py").write_text(
        "import asyncio\n\nfrom app import app\n\n\nasync def two() -> bytes:\n    await asyncio.sleep(0)\n"
        "    return b'2'\n\n\n@app.get('/crash')\nasync def crash(q: str = 'x') -> str:\n"
        "    return f'{q} {await two()!r}'\n"
    )
    (tmp_path / "main.py").write_text("from app import app\nimport crash  # noqa: F401\n")
    out = covet(tmp_path, "build", "main:app")
    assert out.returncode == 0, out.stderr
    assert "module app not compiled natively: make.<locals>.inner is not a module-level function" in out.stderr
    if "module crash not compiled natively" in out.stderr:  # (until mypyc mends it: then crash.py compiles)
        assert "an internal mypyc error" in out.stderr and "(crash.py:12)" in out.stderr, out.stderr


def test_a_dataclass_with_a_union_field_keeps_its_module_interpreted(monkeypatch: pytest.MonkeyPatch) -> None:
    """mypyc writes ``str | None`` as ``type`` in a compiled class's annotations, which pydantic then validates
    (FastAPI's dataclasses_ examples, compiled, answered 500); plain fields compile, as examples/hello.py's Item."""
    import dataclasses
    import types

    from covet.compiler.build import _models

    plain = types.ModuleType("plain_models")
    monkeypatch.setitem(sys.modules, "plain_models", plain)
    exec("import dataclasses\n@dataclasses.dataclass\nclass Item:\n    name: str\n    tags: list[str]\n",
         plain.__dict__)
    assert dataclasses.is_dataclass(plain.Item) and _models(plain) is None
    optional = types.ModuleType("optional_models")
    monkeypatch.setitem(sys.modules, "optional_models", optional)
    exec("import dataclasses\n@dataclasses.dataclass\nclass Item:\n    name: str\n    note: str | None = None\n",
         optional.__dict__)
    why, fix = _models(optional) or ("", "")
    assert why == "defines dataclass Item, whose field 'note' has a union type mypyc would erase"
    assert fix.startswith("move the dataclass to a module of their own")


def test_the_build_config_reads_stubless_protobuf_modules_as_any(tmp_path: Path) -> None:
    """A protobuf module without its .pyi is in one section, which skips it (mypy applies a module's last matching
    section alone: were it also among the relaxed modules, mypy would read it, and find none of its classes)."""
    import configparser

    from covet.compiler.typecheck import write_config

    path = write_config(tmp_path / "mypy.ini", ["app", "shop_pb2", "till"], ["legacy"], ("shop_pb2",))
    config = configparser.ConfigParser()
    config.read(path)
    assert config["mypy"]["ignore_missing_imports"] == "True"
    sections = [name for name in config.sections() if "shop_pb2" in name]
    assert sections == ["mypy-shop_pb2"], sections
    assert dict(config["mypy-shop_pb2"]) == {"follow_imports": "skip", "ignore_errors": "True"}
    relaxed = config["mypy-app,till"]
    assert relaxed["warn_unused_ignores"] == "False"  # (a project's own "# type: ignore[...]" is no error here)
    assert dict(config["mypy-legacy"]) == {"ignore_errors": "True"}
