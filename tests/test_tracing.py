"""OpenTelemetry spans on the real server: named by route template, in the caller's trace, with status; none
unless --tracing."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import APPS, LOOPS, Server, read_response_simple

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


HOSTILE_TRACEPARENTS = [
    b"garbage",
    b"00-" + b"0" * 32 + b"-" + b"0" * 16 + b"-01",  # all-zero ids: invalid by the spec
    b"ff-" + TRACE.encode() + b"-" + PARENT.encode() + b"-01",  # version ff: forbidden
    b"00-" + TRACE.encode() + b"-" + PARENT.encode() + b"-01-extra",  # version 00 takes no more fields
    b"00-" + TRACE.upper().encode() + b"-" + PARENT.encode() + b"-01",  # upper case hex
    b"00-" + TRACE.encode() + b"-" + PARENT.encode() + b"-0\x01",  # a control byte
    b"00-" + TRACE.encode() + b"-" + PARENT.encode() + b"-\xff\xfe",  # not UTF-8
    b"00-" + b"a" * 6000,  # long
]


@pytest.mark.parametrize("loop", LOOPS)
def test_a_hostile_traceparent_starts_a_new_trace(loop: str) -> None:
    """OpenTelemetry's propagator parses traceparent: whatever a client sends there, the request is served, in a new
    trace of its own, and the server goes on."""
    srv = Server("traced:app", loop, "--tracing", cwd=APPS)
    try:
        for value in HOSTILE_TRACEPARENTS:
            with srv.connect(timeout=10) as s:
                s.sendall(b"GET /items/3 HTTP/1.1\r\nHost: x\r\ntraceparent: " + value +
                          b"\r\nConnection: close\r\n\r\n")
                reply = read_response_simple(s, bytearray())
            assert reply.startswith((b"HTTP/1.1 200", b"HTTP/1.1 400")), (value, reply)
            if reply.startswith(b"HTTP/1.1 200"):
                assert TRACE.encode() not in reply and TRACE.upper().encode() not in reply, value
        with httpx.Client(base_url=srv.url, timeout=10) as c:
            spans = c.get("/spans").json()
            assert all(s["parent"] is None for s in spans), spans
            assert c.get("/items/1", headers={"traceparent": f"00-{TRACE}-{PARENT}-01"}).json()["trace_id"] == TRACE
    finally:
        code, log = srv.stop()
    assert code == 0, log
    assert "Traceback" not in log, log
