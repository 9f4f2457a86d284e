"""Two pytest plugins for the subprocesses of tests/fastapi_docs.py, copied beside FastAPI's test tree (which has its
own `tests` package, so this file cannot be imported from ours there).

``record``: loaded into FastAPI's own tutorial tests run against the original apps on FastAPI's TestClient, it writes
every request and answer each app gives, one JSON file per app module, to $COVET_FASTAPI_RECORD. Those are the
expected answers the ports are checked against.

Both: every test's outcome, by node id, to $COVET_FASTAPI_OUTCOMES (JSON lines) with the first line of its failure.
"""

from __future__ import annotations

import base64
import inspect
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest

_current: list[str] = [""]
_patching: list[bool] = [False]
_records: dict[str, dict[str, Any]] = {}


def _app_module(app: object) -> tuple[str, str] | None:
    """(module, attribute) of the docs_src module that holds ``app``."""
    for name, mod in list(sys.modules.items()):
        if not name.startswith("docs_src.") or mod is None:
            continue
        for attr, value in list(vars(mod).items()):
            if value is app:
                return name, attr
    return None


def _install_recorder() -> None:
    from starlette.testclient import _TestClientTransport

    original = _TestClientTransport.handle_request

    def handle_request(self: Any, request: Any) -> Any:
        where = _app_module(self.app)
        body = request.read()
        exchange: dict[str, Any] = {
            "test": _current[0],
            "patched": _patching[0],
            "method": request.method,
            "target": request.url.raw_path.decode("ascii"),
            "scheme": request.url.scheme,
            "headers": [[k, v] for k, v in request.headers.multi_items()],
            "body": base64.b64encode(body).decode(),
        }
        try:
            response = original(self, request)
        except BaseException as exc:
            exchange["raised"] = f"{type(exc).__name__}: {exc}"[:300]
            _add(where, exchange)
            raise
        try:
            content = response.read()
        except BaseException as exc:  # a stream the test cancels: not replayable
            exchange["raised"] = f"reading the body: {type(exc).__name__}: {exc}"[:300]
            _add(where, exchange)
            raise
        exchange["status"] = response.status_code
        exchange["response_headers"] = [[k, v] for k, v in response.headers.multi_items()]
        exchange["response_body"] = base64.b64encode(content).decode()
        _add(where, exchange)
        return response

    _TestClientTransport.handle_request = handle_request  # type: ignore[method-assign]


def _add(where: tuple[str, str] | None, exchange: dict[str, Any]) -> None:
    module, attr = where or ("<unknown>", "")
    rec = _records.setdefault(module, {"module": module, "attr": attr, "exchanges": [], "tests": {}})
    rec["exchanges"].append(exchange)


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("COVET_FASTAPI_RECORD"):
        _install_recorder()
    if os.environ.get("COVET_FASTAPI_TESTCLIENT_SHIM") and "covet.testclient" not in sys.modules:
        # A preview for while covet.testclient does not exist: covet.testing's TestClient stands in for it. Never
        # the suite's measurement (tests/test_fastapi_docs.py does not set it).
        import importlib.util
        import types

        if importlib.util.find_spec("covet.testclient") is None:
            from covet.testing import TestClient

            shim = types.ModuleType("covet.testclient")
            shim.TestClient = TestClient  # type: ignore[attr-defined]
            sys.modules["covet.testclient"] = shim


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    _current[0] = item.nodeid
    # A test that patches the app's process (unittest.mock, monkeypatch) gets answers no server would give.
    func = getattr(item, "function", None)
    try:
        source = inspect.getsource(func) if func is not None else ""
    except (OSError, TypeError):
        source = ""
    _patching[0] = ("monkeypatch" in getattr(item, "fixturenames", ())
                    or re.search(r"(?<![\w.])patch(\.\w+)?\(|\bmock\.", source) is not None)
    try:
        return (yield)
    finally:
        _current[0] = ""
        _patching[0] = False


def pytest_collectreport(report: pytest.CollectReport) -> None:
    """A test file that does not import (on the ports: a name CovetPy lacks) fails every test in it."""
    if report.failed:
        _write({"test": report.nodeid, "when": "collect", "outcome": "failed",
                "message": str(report.longrepr).strip().splitlines()[-1][:600]})


def _write(line: dict[str, Any]) -> None:
    out = os.environ.get("COVET_FASTAPI_OUTCOMES")
    if out:
        with open(out, "a") as f:
            f.write(json.dumps(line) + "\n")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "call" and not (report.failed or report.skipped):
        return
    if report.when == "teardown" and not report.failed:
        return
    line = {"test": report.nodeid, "when": report.when, "outcome": report.outcome}
    if report.failed:
        text = str(report.longrepr)
        # The assertion or exception line (pytest's "E   " lines) says most.
        errors = [ln[4:].strip() for ln in text.splitlines() if ln.startswith("E   ")
                  and "inline-snapshot" not in ln and "ignore this message" not in ln and ln[4:].strip()]
        if not errors and "inline-snapshot" in text:
            errors = [f"{report.nodeid.rsplit('::', 1)[-1]}: an inline snapshot differs"]
        line["message"] = (" | ".join(errors[:3]) or text.strip().splitlines()[-1])[:600]
    elif report.skipped:
        line["message"] = str(report.longrepr)[-300:]
    _write(line)
    for rec in _records.values():
        if any(e["test"] == report.nodeid for e in rec["exchanges"]):
            rec["tests"][report.nodeid] = report.outcome if report.when == "call" else f"{report.when} {report.outcome}"


def pytest_sessionfinish(session: pytest.Session) -> None:
    where = os.environ.get("COVET_FASTAPI_RECORD")
    if not where:
        return
    Path(where).mkdir(parents=True, exist_ok=True)
    for module, rec in _records.items():
        (Path(where) / f"{module}.json").write_text(json.dumps(rec, indent=1))
