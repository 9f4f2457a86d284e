"""`covet dev`: a change to a source reloads the worker; a change that does not import leaves the old one serving,
with its traceback on stderr; a handler's exception is answered with its traceback."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import LOOPS, ROOT, Server

APP = ROOT / "tests" / "apps" / "workers.py"


def version(srv: Server) -> str:
    with httpx.Client(timeout=10) as c:
        return str(c.get(srv.url + "/who").json()["version"])


def wait_for(what: str, cond: object, srv: Server, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(cond) and cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}:\n{srv.log}")


@pytest.mark.parametrize("runtime", ["interpreted", "compiled"])
@pytest.mark.parametrize("loop", LOOPS)
def test_dev_reloads_on_change_and_shows_tracebacks(loop: str, runtime: str, tmp_path: Path) -> None:
    """The application always runs interpreted under `covet dev` (a build would be stale at the first edit); the
    runtime under it is the compiled one or the pure-Python one."""
    source = tmp_path / "workers.py"
    source.write_text(APP.read_text().replace('VERSION = "v0"', 'VERSION = "v1"'))
    srv = Server("workers:app", loop, cwd=tmp_path, command="dev", pure=runtime == "interpreted")
    try:
        assert (srv.mode, srv.runtime) == ("interpreted", runtime), srv.log
        assert version(srv) == "v1"
        with httpx.Client(timeout=10) as c:
            r = c.get(srv.url + "/boom")
        assert r.status_code == 500 and r.headers["content-type"].startswith("text/plain"), r.text
        assert "Traceback" in r.text and "ValueError: the handler failed on purpose" in r.text

        serving = sum("covet: serving" in line for line in srv.lines)
        source.write_text(source.read_text().replace('VERSION = "v1"', 'VERSION = "v2"'))
        wait_for("the reload", lambda: version(srv) == "v2", srv)

        good = source.read_text()
        source.write_text(good + "\ndef broken(:\n")
        wait_for("the failed start", lambda: any("SyntaxError" in line for line in srv.lines), srv)
        assert version(srv) == "v2"  # the running worker serves on
        source.write_text(good.replace('VERSION = "v2"', 'VERSION = "v3"'))
        wait_for("the second reload", lambda: version(srv) == "v3", srv)
        assert sum("covet: serving" in line for line in srv.lines) >= serving + 2
        assert not re.search(r"started spare", srv.log)
    finally:
        code, log = srv.stop()
    assert code == 0, log
