"""OpenTelemetry spans on the real server: named by route template, in the caller's trace, with status; none
unless --tracing."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import APPS, LOOPS, Server

TRACE = "0af7651916cd43dd8448eb211c80319c"
PARENT = "b7ad6b7169203331"


@pytest.mark.parametrize("runtime", ["interpreted", "compiled"])
@pytest.mark.parametrize("loop", LOOPS)
def test_spans(loop: str, runtime: str) -> None:
    srv = Server("traced:app", loop, "--tracing", cwd=APPS, pure=runtime == "interpreted")
    try:
        with httpx.Client(base_url=srv.url, timeout=10) as c:
            r = c.get("/items/7", headers={"traceparent": f"00-{TRACE}-{PARENT}-01"})
            assert r.json() == {"item_id": 7, "trace_id": TRACE}
            assert c.get("/sync").status_code == 200
            assert c.get("/fail").status_code == 500
            assert c.get("/missing").status_code == 404
            got = {s["name"]: s for s in c.get("/spans").json()}
        assert set(got) == {"GET /items/{item_id}", "GET /sync", "GET /fail", "GET /missing"}, got
        item = got["GET /items/{item_id}"]
        assert item["kind"] == "SERVER" and item["trace_id"] == TRACE and item["parent"] == PARENT
        assert item["attributes"]["http.route"] == "/items/{item_id}"
        assert item["attributes"]["http.response.status_code"] == 200
        assert item["attributes"]["url.path"] == "/items/7"
        assert got["GET /sync"]["parent"] is None and got["GET /sync"]["trace_id"] != TRACE
        assert got["GET /fail"]["status"] == "ERROR"
        assert got["GET /missing"]["attributes"]["http.response.status_code"] == 404
        assert got["GET /missing"]["status"] == "UNSET"
    finally:
        code, log = srv.stop()
    assert code == 0, log


def test_no_spans_without_the_flag() -> None:
    srv = Server("traced:app", "uvloop", cwd=APPS)
    try:
        with httpx.Client(base_url=srv.url, timeout=10) as c:
            assert c.get("/items/1").status_code == 200
            assert c.get("/spans").json() == []
    finally:
        code, log = srv.stop()
    assert code == 0, log
