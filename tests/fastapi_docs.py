"""FastAPI's documentation examples, ported to CovetPy by changing imports only, and checked against FastAPI.

What happens, once per FastAPI version (cached under .cache/fastapi-<version>/, git-ignored, behind a file lock so
parallel pytest-xdist workers wait for the first):

1. ``fetch``: FastAPI's source distribution (``pip download fastapi==VERSION --no-binary :all: --no-deps``) is
   unpacked; its ``docs_src/`` (the apps) and ``tests/test_tutorial/`` (FastAPI's tests of them, with the
   ``tests/`` helpers they import) are copied to ``original/`` and, rewritten by ``port_source``, to ``ported/``.
   FastAPI's code is never committed here.
2. ``record``: FastAPI's own tutorial tests run (a subprocess, FastAPI installed) against the original apps with a
   recording TestClient (tests/fastapi_docs_plugins.py): every request each app got and FastAPI's answer, one
   JSON file per app in ``recordings/``. Those answers are what the ports must give.
3. ``replay`` (tests/test_fastapi_docs.py, and ``python -m tests.fastapi_docs report``): each ported app served
   by `covet serve` on a real socket, each recorded request sent with httpx and the answer compared (``compare``).
4. ``run_ported_tests``: FastAPI's tests themselves, rewritten the same way, run against the ports.

The port is the rewrite in ``RENAMES``, applied to identifiers only (tokens, never strings or comments), to the apps
and to FastAPI's tests alike. Nothing else changes.
"""

from __future__ import annotations

import base64
import fcntl
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tokenize
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
VERSION = "0.165.0"  # pinned: the recorded answers and the test module's expected failures are for this version
CACHE = Path(os.environ.get("COVET_FASTAPI_CACHE", ROOT / ".cache")) / f"fastapi-{VERSION}"
ORIGINAL = CACHE / "original"
PORTED = CACHE / "ported"
RECORDINGS = CACHE / "recordings"

# The port, as data: identifier -> identifier. ``fastapi`` is only ever a module name (``from fastapi.x import``,
# ``import fastapi``, ``fastapi.x`` paths); ``FastAPI`` is the application class, imported and called.
RENAMES = {"fastapi": "covet", "FastAPI": "Covet"}

# Chapters of docs_src left out, with why: each needs something that is not a CovetPy feature under test here, or
# its tests do things a replay over a socket cannot.
EXCLUDED_CHAPTERS = {
    "websockets_": "WebSocket traffic is no HTTP answer to replay: tests/test_websockets.py runs FastAPI's own "
                   "tests of these apps, ported, in process",
    "graphql_": "needs strawberry-graphql",
    "wsgi": "mounts a Flask app through WSGIMiddleware (needs flask, a2wsgi)",
    "sql_databases": "needs sqlmodel",
    "pydantic_v1_in_v2": "pydantic.v1 models (FastAPI compatibility shims)",
    "python_types": "Python typing lessons, no app",
    "debugging": "runs uvicorn from __main__",
    "opentelemetry": "FastAPI's OpenTelemetry instrumentation package",
    "async_tests": "the example is a test with an async client, not an app",
    "app_testing": "the examples are tests, dependency_testing's too",
    "dependency_testing": "the test overrides dependencies in process (app.dependency_overrides)",
    "behind_a_proxy": "the tests set the ASGI root_path on the TestClient, which a request cannot carry",
    "settings": "the tests override settings in process (dependency_overrides, monkeypatched env)",
    "generate_clients": "client generation scripts, the app is covered by other chapters",
    "custom_docs_ui": "serves Swagger UI's files from a directory the test creates",
    "server_sent_events": "endless event streams, not replayable as whole answers",
    "stream_data": "endless or timed streams, not replayable as whole answers",
}

# Apps of the chapters in, left out: their answers cannot be replayed the same, on any server.
EXCLUDED_APPS = {
    "query_params_str_validations.tutorial015": "answers with a random.choice() of its items",
    "using_request_directly.tutorial001": "answers with the peer's address, \"testclient\" under FastAPI's TestClient",
}

# Headers whose value differs on every answer (a duration), or with the file served (a file's ETag derives from its
# modification time, which the recording's file and the replay's do not share), as Last-Modified is: only their
# presence is compared.
VARYING_HEADERS = frozenset({"x-process-time", "x-response-time", "etag", "last-modified"})

# Response headers compared, if FastAPI's answer has them (an extra header from CovetPy is not a mismatch). Every
# other header of FastAPI's answer is compared too, except IGNORED_HEADERS. set-cookie compares cookie names only
# (values may be signed or random).
IGNORED_HEADERS = frozenset({
    "date", "server", "connection", "keep-alive", "transfer-encoding",
    # The body is compared (as JSON when it is JSON, whose spacing may differ), so its length is not.
    "content-length",
})


# Several examples answer with a set of strings (``tags: set[str]``), whose order follows the process's string hash
# seed: FastAPI's run and every server get the same one, so that the order is the same given the same inserts.
HASH_SEED = {"PYTHONHASHSEED": "0"}


def port_source(text: str) -> str:
    """``text`` with RENAMES applied to identifiers (NAME tokens), nothing else."""
    lines = text.splitlines(keepends=True)
    edits: list[tuple[int, int, int, str]] = []
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.NAME and tok.string in RENAMES:
            (row, col), (_, end) = tok.start, tok.end
            edits.append((row - 1, col, end, RENAMES[tok.string]))
    for row, col, end, new in reversed(edits):
        lines[row] = lines[row][:col] + new + lines[row][end:]
    return "".join(lines)


class _Lock:
    """An exclusive file lock on ``CACHE``'s lock file, for xdist workers and concurrent runs."""

    def __enter__(self) -> None:
        CACHE.parent.mkdir(parents=True, exist_ok=True)
        self._f = open(f"{CACHE}.lock", "w")
        fcntl.flock(self._f, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        self._f.close()


_PYTEST_INI = "[pytest]\naddopts = -p no:cacheprovider\nfilterwarnings = ignore::DeprecationWarning\n"


def fetch() -> None:
    """Download and unpack FastAPI's sdist, write the original and ported trees (once)."""
    with _Lock():
        if (CACHE / ".fetched").exists():
            return
        shutil.rmtree(CACHE, ignore_errors=True)
        CACHE.mkdir(parents=True)
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", f"fastapi=={VERSION}", "--no-binary",
                            ":all:", "--no-deps", "-d", tmp], check=True, timeout=300)
            (sdist,) = Path(tmp).glob("fastapi-*.tar.gz")
            with tarfile.open(sdist) as tar:
                tar.extractall(tmp, filter="data")
            src = Path(tmp) / f"fastapi-{VERSION}"
            for tree in (ORIGINAL, PORTED):
                shutil.copytree(src / "docs_src", tree / "docs_src")
                (tree / "tests").mkdir()
                for helper in ("__init__.py", "utils.py"):
                    shutil.copy(src / "tests" / helper, tree / "tests" / helper)
                shutil.copytree(src / "tests" / "test_tutorial", tree / "tests" / "test_tutorial",
                                # Its conftest imports FastAPI's telemetry tests, not copied (the chapter is out).
                                ignore=shutil.ignore_patterns("test_opentelemetry"))
                (tree / "pytest.ini").write_text(_PYTEST_INI)
        for path in PORTED.rglob("*.py"):
            path.write_text(port_source(path.read_text()))
        (CACHE / ".fetched").touch()


def _pytest(tree: Path, outcomes: Path, env_extra: dict[str, str], timeout: float) -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tree), str(ROOT)]), COVET_FASTAPI_OUTCOMES=str(outcomes),
               **HASH_SEED, **env_extra)
    env.pop("PYTEST_XDIST_WORKER", None)
    env.pop("PYTEST_ADDOPTS", None)
    env.pop("COVERAGE_PROCESS_CONFIG", None)  # FastAPI's tests, and ours of the ports, out of the line coverage
    outcomes.unlink(missing_ok=True)
    shutil.copy(Path(__file__).with_name("fastapi_docs_plugins.py"), tree / "covet_docs_plugins.py")
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "covet_docs_plugins", "--rootdir", str(tree),
                    "-c", str(tree / "pytest.ini"), "--continue-on-collection-errors", "tests/test_tutorial"],
                   cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout)


def record() -> None:
    """Run FastAPI's tutorial tests on the original apps, recording every exchange (once)."""
    fetch()
    with _Lock():
        if (RECORDINGS / ".made").exists():
            return
        shutil.rmtree(RECORDINGS, ignore_errors=True)
        _pytest(ORIGINAL, CACHE / "fastapi-outcomes.jsonl", {"COVET_FASTAPI_RECORD": str(RECORDINGS)}, 900)
        if not list(RECORDINGS.glob("docs_src.*.json")):
            raise RuntimeError(f"FastAPI's tutorial tests recorded nothing (see {CACHE / 'fastapi-outcomes.jsonl'})")
        (RECORDINGS / ".made").touch()


def outcomes(path: Path) -> dict[str, dict[str, Any]]:
    """Test node id -> its worst outcome line, from a plugin's JSON-lines file."""
    out: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        if rec["test"] not in out or rec["outcome"] == "failed":
            out[rec["test"]] = rec
    return out


def run_ported_tests(where: Path, shim: bool = False) -> None:
    """FastAPI's tutorial tests, ported, run against the ported apps; their outcomes written to ``where``. ``shim``:
    covet.testing.TestClient stands in for a missing covet.testclient (the report's --shim preview)."""
    record()
    # On a copy: FastAPI's tests write and remove files in their working directory (test_templates removes
    # ./static), which the replays, running meanwhile on other workers, serve from PORTED.
    tree = CACHE / "ported-tests"
    shutil.rmtree(tree, ignore_errors=True)
    shutil.copytree(PORTED, tree)
    _pytest(tree, where, {"COVET_FASTAPI_TESTCLIENT_SHIM": "1"} if shim else {}, 900)


def own_failures(test_file: str, ported: dict[str, dict[str, Any]]) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """The tests of ``test_file`` that pass on FastAPI, and those of them that do not pass ported (``ported``: the
    ported run's outcomes; a file that did not import fails all its tests)."""
    fastapi = outcomes(CACHE / "fastapi-outcomes.jsonl")
    wanted = [t for t, r in fastapi.items() if t.startswith(test_file + "::") and r["outcome"] == "passed"]
    unrun = ported.get(test_file, {"outcome": "not run"})
    failed = {t: ported.get(t, unrun) for t in wanted}
    return wanted, {t: r for t, r in failed.items() if r["outcome"] != "passed"}


@dataclass
class App:
    """A recorded docs_src app: its module, the tests that exercised it and everything it was asked."""

    module: str
    attr: str
    exchanges: list[dict[str, Any]]
    tests: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.module.removeprefix("docs_src.")

    @property
    def chapter(self) -> str:
        return self.name.split(".")[0]


def _replayable(rec: dict[str, Any]) -> bool:
    name = rec["module"].removeprefix("docs_src.")
    return (rec["module"].startswith("docs_src.") and name.split(".")[0] not in EXCLUDED_CHAPTERS
            and name not in EXCLUDED_APPS)


def apps() -> list[App]:
    """Every recorded app outside EXCLUDED_CHAPTERS and EXCLUDED_APPS, by module name, without the requests its tests
    made while patching the process (mock.patch, monkeypatch): a server cannot be patched the same."""
    record()
    found = []
    for path in sorted(RECORDINGS.glob("docs_src.*.json")):
        rec = json.loads(path.read_text())
        exchanges = [e for e in rec["exchanges"] if not e.get("patched")]
        if _replayable(rec) and exchanges:
            found.append(App(rec["module"], rec["attr"], exchanges, rec["tests"]))
    return found


def _is_json(content_type: str) -> bool:
    return bool(re.match(r"application/([\w.+-]*\+)?json", content_type.split(";")[0].strip()))


def _cookie_names(values: list[str]) -> list[str]:
    return sorted(v.split("=", 1)[0].strip() for v in values)


def _short(data: bytes, limit: int = 300) -> str:
    text = data.decode("utf-8", "replace")
    return text if len(text) <= limit else text[:limit] + f"... ({len(data)} bytes)"


def compare(exchange: dict[str, Any], got: httpx.Response) -> str | None:
    """None if ``got`` answers as FastAPI did, else what differs (status, body, or a checked header)."""
    if "raised" in exchange:
        # FastAPI's TestClient re-raised the app's exception; a server answers 500 for it.
        return None if got.status_code == 500 else f"status: expected 500 (app raised), got {got.status_code}"
    expected_body = base64.b64decode(exchange["response_body"])
    if got.status_code != exchange["status"]:
        return (f"status: expected {exchange['status']}, got {got.status_code}; expected body "
                f"{_short(expected_body)!r}, got {_short(got.content)!r}")
    expected = httpx.Headers([(k, v) for k, v in exchange["response_headers"]])
    if exchange["method"] != "HEAD":
        if expected.get("content-type", "").split(";")[0].strip() == "application/jsonl":
            # JSON Lines: compared as JSON, line by line, as JSON bodies are (FastAPI writes an untyped item with
            # json.dumps' spaces, CovetPy without)
            try:
                want_lines = [json.loads(line) for line in expected_body.splitlines()]
                have_lines = [json.loads(line) for line in got.content.splitlines()]
            except ValueError:
                return f"body: expected {_short(expected_body)!r}, got {_short(got.content)!r}"
            if want_lines != have_lines:
                return f"body: expected {_short(expected_body)!r}, got {_short(got.content)!r}"
        elif _is_json(expected.get("content-type", "")):
            try:
                want, have = json.loads(expected_body), json.loads(got.content)
            except ValueError:
                return f"body: expected {_short(expected_body)!r}, got {_short(got.content)!r}"
            openapi = exchange["target"].split("?")[0].endswith("openapi.json")
            if openapi and isinstance(want, dict) and isinstance(have, dict):
                # The one default that differs on purpose (docs/migrating-from-fastapi.md): an app that names no
                # title is "FastAPI" on FastAPI and "CovetPy" on CovetPy.
                if want.get("info", {}).get("title") == "FastAPI" and have.get("info", {}).get("title") == "CovetPy":
                    have["info"]["title"] = "FastAPI"
            if want != have:
                # Every difference of an OpenAPI document, for the report's causes; the first few of anything else.
                limit = 60 if openapi else 4
                return "body: " + "; ".join(json_diff(want, have, limit=limit))
        elif expected_body != got.content:
            return f"body: expected {_short(expected_body)!r}, got {_short(got.content)!r}"
    for name in sorted({k.lower() for k in expected} - IGNORED_HEADERS):
        want, have = expected.get_list(name), got.headers.get_list(name)
        if name == "set-cookie":
            want, have = _cookie_names(want), _cookie_names(have)
        elif name in VARYING_HEADERS:
            want, have = ["*"] * bool(want), ["*"] * bool(have)
        if want != have:
            return f"header {name}: expected {want}, got {have}"
    return None


def replay(base_url: str, app: App) -> list[tuple[dict[str, Any], str]]:
    """Every recorded request of ``app`` sent to ``base_url``; the exchanges whose answer differs, with why."""
    mismatches = []
    with httpx.Client(base_url=base_url, timeout=20) as client:
        # The recorded headers only: a FastAPI test that sends fewer than its client's defaults (to test a model
        # that forbids other headers) is replayed as it was sent.
        client.headers.clear()
        for ex in app.exchanges:
            headers = [(k, v) for k, v in ex["headers"] if k.lower() not in ("content-length", "transfer-encoding")]
            try:
                got = client.request(ex["method"], ex["target"], headers=headers,
                                     content=base64.b64decode(ex["body"]) or None)
            except httpx.HTTPError as exc:
                mismatches.append((ex, f"no answer: {type(exc).__name__}: {exc}"))
                continue
            why = compare(ex, got)
            if why:
                mismatches.append((ex, why))
    return mismatches


def describe(ex: dict[str, Any]) -> str:
    body = base64.b64decode(ex["body"])
    return f"{ex['method']} {ex['target']}" + (f" body={_short(body, 120)!r}" if body else "")


# Failure causes, as (pattern, label): the first pattern that matches a start-up error or a mismatch names its cause,
# so that the report can say how many apps each missing feature costs. Labels may use the pattern's groups.
STARTUP_CAUSES = [
    (r"Param\.__init__\(\) got an unexpected keyword argument '(default)'",
     r"Query/Path/Header/Cookie/Body/Form(default=...) not accepted (the non-Annotated style)"),
    (r"Param\.__init__\(\) got an unexpected keyword argument '(\w+)'",
     r"Query/Path/Header/Cookie/Body/Form(\1=...) not accepted"),
    (r"Depends\.__init__\(\) missing", "Depends() with no argument (the annotated class is the dependency)"),
    (r"(\w+)\.__init__\(\) got an unexpected keyword argument '(\w+)'", r"\1(\2=...) not accepted"),
    (r"cannot import name '(\w+)' from '([\w.]+)'", r"\2.\1 missing"),
    (r"No module named '([\w.]+)'", r"module \1 missing"),
    (r"unknown option '(\w+)'", r"route option \1= not accepted"),
    (r"(\w+) parameter '\w+' must be a scalar, a list of scalars or a pydantic model, not <class 'list'>",
     r"bare `list` \1 parameter refused"),
    (r"(\w+) parameter '\w+' must be a scalar, a list of scalars or a pydantic model, not",
     r"\1 parameter of another type refused"),
    (r"file parameter '\w+' must be an UploadFile or a list of them, not", "File() as bytes refused"),
    (r"dependency .* must be a function", "class or callable instance as dependency refused"),
    (r"'Covet' object has no attribute '(\w+)'", r"Covet.\1 missing"),
    (r"middleware 'http' must be", "@app.middleware('http') with call_next refused"),
    (r"is declared twice", "same path and method declared twice (FastAPI: first wins)"),
    (r"route_class = \w+: custom route classes", "route_class (custom route classes) refused"),
    (r"reads its body as JSON or as a form, not both", "Form model and Form fields in one route refused"),
    (r"schema-for-unknown-type|body parameter 'response' of type",
     "handler parameter `response: Response` (to set headers, cookies, status) refused"),
]
DOCS_PATHS = ("/openapi.json", "/docs", "/redoc", "/docs/oauth2-redirect")


def cause_of_startup(message: str) -> str:
    for pattern, label in STARTUP_CAUSES:
        m = re.search(pattern, message)
        if m:
            return m.expand(label)
    return re.sub(r"/\S+\.py:\d+|0x[0-9a-f]+|\d+", "N", message)[:120]


def json_diff(want: Any, have: Any, path: str = "$", limit: int = 4) -> list[str]:
    """The first ``limit`` paths where two JSON values differ, each with both values shortened."""
    if type(want) is not type(have) or not isinstance(want, (dict, list)):
        return [] if want == have else [f"{path}: expected {json.dumps(want)[:80]}, got {json.dumps(have)[:80]}"]
    out: list[str] = []
    if isinstance(want, dict):
        for key in list(want) + [k for k in have if k not in want]:
            if key not in have:
                out.append(f"{path}.{key}: missing")
            elif key not in want:
                out.append(f"{path}.{key}: unexpected")
            else:
                out += json_diff(want[key], have[key], f"{path}.{key}", limit - len(out))
            if len(out) >= limit:
                break
    else:
        if len(want) != len(have):
            out.append(f"{path}: expected {len(want)} items, got {len(have)}")
        for i, (w, h) in enumerate(zip(want, have, strict=False)):
            out += json_diff(w, h, f"{path}[{i}]", limit - len(out))
            if len(out) >= limit:
                break
    return out[:limit]


# A 500 whose logged exception matches: the cause, as (pattern, label).
ERROR_CAUSES = [
    (r"TypeError: (Query|Header|Cookie|Body|Form|File|Path)\b|type '(File)' has no len",
     "`x: T = Query(...)`-style default (not Annotated): the marker object reaches the handler as the value"),
    (r"'tuple' object has no attribute 'host'", "Request.client is a tuple (FastAPI: an object with .host, .port)"),
    (r"(\w*Response)\.__init__\(\) got an unexpected keyword argument '(\w+)'", r"\1(\2=...) not accepted"),
]


def _openapi_causes(why: str) -> list[str]:
    """Each distinct place an OpenAPI document differs, generalised over paths, methods, schemas and indexes."""
    out = []
    for diff in why.removeprefix("body: ").split("; "):
        where, _, what = diff.partition(": ")
        where = re.sub(r"^\$\.paths\.[^.]+(?:\.(get|put|post|delete|patch|head|options|trace))?", "$.paths.*.*",
                       where)
        where = re.sub(r"^\$\.(components\.schemas|webhooks)\.[^.]+", r"$.\1.*", where)
        where = re.sub(r"\[\d+\]", "[*]", where)
        where = re.sub(r"\.(content\.[\w/+.-]+|responses\.\d+|properties\.\w+|\$defs\.\w+)",
                       lambda m: "." + re.sub(r"\.[^.]+$", ".*", m.group(1)), where)
        kind = "missing" if what == "missing" else "unexpected" if what == "unexpected" else "differs"
        label = f"docs/OpenAPI: {where} {kind}"
        if where == "$.info.title":
            label = "docs/OpenAPI: default title (FastAPI's is FastAPI)"
        if label not in out:
            out.append(label)
    return out


def causes_of_mismatch(ex: dict[str, Any], why: str, errors: list[str]) -> list[str]:
    """Short labels for why ``ex`` was answered differently (``errors``: the server's logged exceptions)."""
    target = ex["target"].split("?")[0]
    if target.endswith("openapi.json") and why.startswith("body: $"):
        return _openapi_causes(why)
    return [cause_of_mismatch(ex, why, errors)]


def cause_of_mismatch(ex: dict[str, Any], why: str, errors: list[str]) -> str:
    """A short label for why ``ex`` was answered differently (``errors``: the server's logged exceptions)."""
    target = ex["target"].split("?")[0]
    docs = target in DOCS_PATHS or target.endswith("/openapi.json")
    m = re.match(r"status: expected (\d+)(?: \(app raised\))?, got (\d+)", why)
    if docs:
        if m:
            return f"docs/OpenAPI: {target} status {m.group(1)} expected, got {m.group(2)}"
        return f"docs/OpenAPI: {target} {why.split(':')[0]} differs"
    if why.startswith("no answer"):
        return why[:80]
    if m:
        want, got = m.group(1), m.group(2)
        ctype = next((v for k, v in ex["headers"] if k.lower() == "content-type"), "")
        if (want, got) == ("307", "404"):
            return "redirect_slashes: 307 to the path with/without the trailing slash missing"
        if want == "422" and got == "200" and ex["body"] and "json" not in ctype:
            return "JSON body read without Content-Type: application/json (FastAPI answers 422)"
        if got == "500":
            for pattern, label in ERROR_CAUSES:
                for err in errors:
                    hit = re.search(pattern, err)
                    if hit:
                        return "500: " + hit.expand(label)
            return "500 on a request FastAPI answers " + want + (f": {errors[-1][:100]}" if errors else "")
        return f"status {want} expected, got {got}"
    if why.startswith("body: $.detail"):
        return "422 detail differs (validation error shape or message)"
    if why.startswith("header"):
        return why.split(":")[0] + " differs"
    return "body differs"


def server_errors(log: str) -> list[str]:
    """The exception lines (``SomethingError: ...``) a server logged, in order, without repeats."""
    seen: list[str] = []
    for line in log.splitlines():
        if re.match(r"^[\w.]+(Error|Exception|Exit)\b", line) and line not in seen:
            seen.append(line.strip())
    return seen


def prepare_workdir(tree: Path) -> None:
    """Write into ``tree`` what FastAPI's tests write before importing an app: a ``static/sample.txt``
    (static_files), the templates chapter's ``templates/`` and ``static/`` (templates), and the file that
    custom_response's tests write and point the app's relative ``some_file_path`` at. A replay serves from
    ``tree``."""
    (tree / "large-video-file.mp4").write_bytes(b"Fake video bytes")
    static = tree / "static"
    static.mkdir(exist_ok=True)
    (static / "sample.txt").write_text("This is a sample static file.")
    chapter = tree / "docs_src" / "templates"
    for name in ("templates", "static"):
        if (chapter / name).is_dir():
            shutil.copytree(chapter / name, tree / name, dirs_exist_ok=True)


def check_app(app: App, loop: str, *, pure: bool = True, cwd: Path | None = None,
              extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """Serve the ported ``app`` on ``loop`` and replay its requests: {"startup": error} if it does not start, else
    {"exchanges": n, "mismatches": [{"request", "why", "cause"}], "errors": [logged exceptions], "serving": the start-up
    line}."""
    from tests.conftest import Server

    prepare_workdir(cwd or PORTED)
    try:
        # Not measured for coverage: measuring 200 servers of FastAPI's examples took a third more of this file's
        # time (92 s against 70), for lines the rest of the suite covers.
        srv = Server(f"{app.module}:{app.attr}", loop, *extra, cwd=cwd or PORTED, pure=pure, env_extra=HASH_SEED,
                     measured=False)
    except RuntimeError as exc:
        errs = server_errors(str(exc))
        text = str(exc).strip().splitlines()
        last = errs[-1] if errs else (text[-1] if text else "")
        if not last.startswith("covet: error") and any(t.startswith("covet: error") for t in text):
            last = next(t for t in text if t.startswith("covet: error"))
        return {"startup": last, "cause": cause_of_startup(last), "log": str(exc)[-4000:]}
    try:
        bad = replay(srv.url, app)
    finally:
        srv.stop()
    errors = server_errors(srv.log)
    serving = next((line for line in srv.log.splitlines() if "covet: serving" in line), "")
    return {"exchanges": len(app.exchanges), "errors": errors, "serving": serving,
            "mismatches": [{"request": describe(e), "why": w, "causes": causes_of_mismatch(e, w, errors)}
                           for e, w in bad]}


def build_dir(app: App) -> str:
    """Where ``build`` puts ``app``'s build in its chapter's project (one directory per app, so that the apps of a
    chapter share one copy of it)."""
    return f".covet/{app.name}"


def build(app: App, proj: Path) -> str:
    """``app``, in a project ``proj`` holding its chapter, compiled with `covet build` into ``build_dir(app)``; "" or
    the build's errors. Several apps of one chapter may be built in the same ``proj``.

    FastAPI's ``docs_src`` is a namespace package; `covet build` compiles modules of regular packages only, so the
    project's ``docs_src`` gets an empty ``__init__.py`` (a file added, no code changed)."""
    if not (proj / "docs_src" / app.chapter).exists():
        shutil.copytree(PORTED / "docs_src" / app.chapter, proj / "docs_src" / app.chapter)
    (proj / "docs_src" / "__init__.py").touch()
    prepare_workdir(proj)  # the build imports the app, which may serve a directory its tests create
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(proj), str(ROOT)]))
    out = subprocess.run([sys.executable, "-m", "covet", "build", f"{app.module}:{app.attr}", "--out", build_dir(app)],
                         cwd=proj, env=env, capture_output=True, text=True, timeout=900)
    return "" if out.returncode == 0 else (out.stdout + out.stderr)[-4000:]


def own_cause(outcome: dict[str, Any]) -> str:
    """A ported FastAPI test's failure, labelled like the replay's start-up causes where one matches."""
    message = outcome.get("message", outcome["outcome"])
    for pattern, label in STARTUP_CAUSES + ERROR_CAUSES:
        m = re.search(pattern, message)
        if m:
            return m.expand(label)
    message = re.sub(r"\[[^\]]*\]: an inline snapshot differs", ": an inline snapshot differs", message)
    return re.sub(r"/\S+\.py:\d+|0x[0-9a-f]+", "", message)[:110]


def app_causes(result: dict[str, Any]) -> list[str]:
    """Every distinct cause of an app's failure: its start-up error, or each mismatch's."""
    if "startup" in result:
        return ["start-up: " + result["cause"]]
    return list(dict.fromkeys(c for m in result["mismatches"] for c in m["causes"]))


def xfail_reason(result: dict[str, Any], width: int = 105) -> str:
    """A failed app's causes in one short line: the API's first, then how many places its OpenAPI differs."""
    causes = app_causes(result)
    api = [c for c in causes if not c.startswith("docs/")]
    docs = len(causes) - len(api)
    parts = api + ([f"OpenAPI differs in {docs} place{'s' if docs > 1 else ''}"] if docs else [])
    reason = parts[0][:width]
    for part in parts[1:]:
        if len(reason) + 2 + len(part) > width:
            break
        reason += "; " + part
    return reason


def summary(result: dict[str, Any]) -> str:
    """One line: why an app's check failed (its first mismatch), or "" if it passed."""
    if "startup" in result:
        return f"does not start: {result['startup']}"
    if not result["mismatches"]:
        return ""
    first = result["mismatches"][0]
    n = len(result["mismatches"])
    return f"{n}/{result['exchanges']} answers differ; first: {first['request']}: {first['why'][:400]}"


def main(argv: list[str]) -> int:
    """``report [--loop L] [--json FILE] [--own] [--only PREFIX]``: per chapter, apps ported and apps whose every
    answer matches, each failing app's first mismatch, then the failure causes by number of apps; --own also runs
    FastAPI's ported tests against the ports."""
    import argparse
    from collections import Counter, defaultdict

    ap = argparse.ArgumentParser(prog="python -m tests.fastapi_docs")
    ap.add_argument("command", choices=["report", "fetch"])
    ap.add_argument("--loop", default="asyncio")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--own", action="store_true")
    ap.add_argument("--shim", action="store_true",
                    help="with --own: covet.testing.TestClient stands in for a missing covet.testclient (a preview)")
    ap.add_argument("--only", default="", help="apps whose name starts with this (e.g. query_params.)")
    ap.add_argument("--xfail", type=Path, help="write the failing apps as test_fastapi_docs.EXPECTED_FAILURES lines")
    args = ap.parse_args(argv)
    if args.command == "fetch":
        record()
        return 0
    results: dict[str, Any] = {}
    by_chapter: dict[str, list[App]] = defaultdict(list)
    for app in apps():
        if app.name.startswith(args.only):
            by_chapter[app.chapter].append(app)
    causes: Counter[str] = Counter()
    total = ok = 0
    for chapter, group in sorted(by_chapter.items()):
        lines = []
        for app in group:
            res = results[app.name] = check_app(app, args.loop)
            why = summary(res)
            if why:
                lines.append(f"  FAIL {app.name}: {why}")
            causes.update(app_causes(res))
        good = len(group) - len(lines)
        total += len(group)
        ok += good
        print(f"{chapter}: {good}/{len(group)} apps match")
        for line in lines:
            print(line)
    print(f"\nloop={args.loop}: {ok}/{total} apps answer every request as FastAPI does\n\nCauses (apps):")
    for cause, n in causes.most_common():
        print(f"  {n:4d}  {cause}")
    out: dict[str, Any] = {"loop": args.loop, "apps": results}
    if args.own:
        run_ported_tests(CACHE / "ported-outcomes.jsonl", shim=args.shim)
        own = outcomes(CACHE / "ported-outcomes.jsonl")
        files = sorted({t.split("::")[0] for g in by_chapter.values() for a in g for t in a.tests})
        tests = fails = files_ok = 0
        why: Counter[str] = Counter()
        own_lines = []
        for f in files:
            wanted, failed = own_failures(f, own)
            tests, fails, files_ok = tests + len(wanted), fails + len(failed), files_ok + (not failed)
            why.update(own_cause(r) for r in failed.values())
            if failed:
                first = next(iter(failed.values()))
                reason = f"{len(failed)}/{len(wanted)} fail; first: {own_cause(first)}"
                while len(json.dumps(reason)) > 108:
                    reason = reason[:-1]
                own_lines.append(f"    {json.dumps(f.removeprefix('tests/test_tutorial/'))}:\n"
                                 f"        {json.dumps(reason)},\n")
        if args.xfail:
            args.xfail.with_suffix(".own").write_text("".join(own_lines))
        print(f"\nFastAPI's own tests of these apps, ported: {tests - fails}/{tests} tests pass "
              f"(of those passing on FastAPI); {files_ok}/{len(files)} test files pass whole")
        for message, n in why.most_common(15):
            print(f"  {n:4d}  {message}")
        out["own"] = own
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    if args.xfail:
        lines = [f"    {json.dumps(name)}:\n        {json.dumps(xfail_reason(res))},\n"
                 for name, res in sorted(results.items()) if summary(res)]
        args.xfail.write_text("".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
