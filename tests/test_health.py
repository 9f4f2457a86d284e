"""/healthz and /readyz on the real server: ready after start-up, not while a readiness check fails (False, raise,
hang) or once draining; paths configurable or off; an application's own route wins."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import APPS, LOOPS, Server, read_response_simple


def get(srv: Server, path: str) -> httpx.Response:
    with httpx.Client(timeout=10) as c:
        return c.get(srv.url + path)


@pytest.mark.parametrize("runtime", ["interpreted", "compiled"])
@pytest.mark.parametrize("loop", LOOPS)
def test_probes(loop: str, runtime: str, tmp_path: Path) -> None:
    """The probe routes are CovetPy's own (never in an application's build): the runtime under them is compiled or
    pure Python."""
    flag = tmp_path / "flag"
    srv = Server("probes:app", loop, cwd=APPS, pure=runtime == "interpreted", env_extra={"PROBE_FLAG": str(flag)})
    assert srv.runtime == runtime
    try:
        r = get(srv, "/healthz")
        assert r.status_code == 200 and r.json() == {"status": "alive"}
        assert get(srv, "/readyz").json() == {"status": "ready"}
        flag.write_text("down")
        r = get(srv, "/readyz")
        assert r.status_code == 503 and r.json() == {"detail": "readiness check database failed"}
        flag.write_text("raise")
        r = get(srv, "/readyz")
        assert r.status_code == 503 and "ConnectionError" in r.json()["detail"]
        flag.write_text("hang")
        t0 = time.monotonic()
        r = get(srv, "/readyz")
        assert r.status_code == 503 and "longer than 2 s" in r.json()["detail"]
        assert time.monotonic() - t0 < 5
        flag.write_text("ok")
        assert get(srv, "/readyz").status_code == 200
        assert "/healthz" not in json.dumps(get(srv, "/openapi.json").json())

        # Draining: a keep-alive connection's probe hears 503 while a slow request finishes.
        slow = srv.connect(timeout=10)
        slow.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        probe = srv.connect(timeout=10)
        time.sleep(0.3)
        srv.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        probe.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
        reply = read_response_simple(probe, bytearray())
        assert reply.startswith(b"HTTP/1.1 503") and b'"draining"' in reply, reply
        assert read_response_simple(slow, bytearray()).startswith(b"HTTP/1.1 200")
        slow.close()
        probe.close()
    finally:
        code, log = srv.stop()
    assert code == 0, log


@pytest.mark.parametrize("loop", LOOPS)
def test_probe_paths_are_configurable_or_off(loop: str) -> None:
    srv = Server("probes:app", loop, "--health-path", "/live", "--ready-path", "", cwd=APPS)
    try:
        assert get(srv, "/live").json() == {"status": "alive"}
        assert get(srv, "/readyz").status_code == 404
        assert get(srv, "/healthz").status_code == 404
    finally:
        code, log = srv.stop()
    assert code == 0, log


def test_the_application_route_wins(tmp_path: Path) -> None:
    (tmp_path / "own.py").write_text(
        "from covet import Covet\napp = Covet()\n\n@app.get('/healthz')\nasync def mine() -> dict[str, str]:\n"
        "    return {'mine': 'yes'}\n")
    srv = Server("own:app", "uvloop", cwd=tmp_path)
    try:
        assert get(srv, "/healthz").json() == {"mine": "yes"}
        assert get(srv, "/readyz").json() == {"status": "ready"}
    finally:
        code, log = srv.stop()
    assert code == 0, log


