"""What a hostile client, or a careless handler, can make of a response: on every transport, in both modes.

Each test here failed before its fix (issue 13): header values and media types went to the wire as given,
statuses 0 and 1xx were written verbatim, and a dict returned for a declared model went out whole.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import LOOPS, TRANSPORTS, Server, app_client, app_server, read_response_simple

CRLF_ATTACKS = [
    "a\r\nset-cookie: pwned=1",
    "a\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\npwned",
    "a\nset-cookie: pwned=1",
    "a\rset-cookie: pwned=1",
    "a\x00b",
    "a\x0bb",
    "a\x7fb",
    " leading",
]


@pytest.fixture(scope="module", params=["inprocess", *TRANSPORTS])
def hclient(request: pytest.FixtureRequest, static_root: Path) -> Iterator[Any]:
    yield from app_client(request, "hardening", "built_hardening", env={"COVET_TEST_STATIC": str(static_root)})


def logged(client: Any, text: str) -> bool:
    server = getattr(client, "server", None)
    if server is None:
        return True  # in process, the log is the test's own
    return bool(server.logged(text))


def raw_pipelined(client: Any, path: str) -> bytes:
    """``path`` then ``/counts/ok`` pipelined on one connection: everything the server writes back."""
    req = f"GET {path} HTTP/1.1\r\nhost: x\r\n\r\nGET /counts/ok HTTP/1.1\r\nhost: x\r\n\r\n".encode("latin-1")
    server = getattr(client, "server", None)
    if server is None:
        return b"".join(r.raw for r in client.raw(req, responses=2))
    with socket.create_connection((server.host, server.port), timeout=5) as s:
        s.sendall(req)
        buf = bytearray()
        return read_response_simple(s, buf) + read_response_simple(s, buf)


@pytest.mark.parametrize("value", CRLF_ATTACKS)
@pytest.mark.parametrize("route", ["/split/error", "/split/raw"])
def test_header_values_cannot_split_the_response(hclient: Any, route: str, value: str) -> None:
    from urllib.parse import quote

    wire = raw_pipelined(hclient, f"{route}?v={quote(value)}")
    # Exactly two answers: a 500 for the bad header, then the next request's own.
    assert wire.count(b"HTTP/1.1 ") == 2, wire
    assert wire.startswith(b"HTTP/1.1 500 "), wire
    assert b"pwned" not in wire and b"x-next" not in wire and b"x-raw" not in wire
    assert wire.endswith(b'{"a":1}'), wire
    assert logged(hclient, "response not sent, answered 500 instead") or logged(hclient, "invalid response header")


@pytest.mark.parametrize("name", ["x y", "x:y", "", "x\r\ny", "\u00e9"])
def test_header_names_are_checked(hclient: Any, name: str) -> None:
    r = hclient.get("/split/raw-name", params={"v": name})
    assert r.status_code == 500
    assert logged(hclient, "invalid response header")


@pytest.mark.parametrize("route", ["/split/media", "/split/stream-media"])
def test_media_type_cannot_inject_headers(hclient: Any, route: str) -> None:
    r = hclient.get(route, params={"t": "text/html\r\nset-cookie: pwned=1"})
    assert r.status_code == 500
    assert "set-cookie" not in r.headers
    assert logged(hclient, "invalid response header")


def test_a_stream_with_a_bad_header_is_a_whole_500(hclient: Any) -> None:
    wire = raw_pipelined(hclient, "/split/stream-raw?v=a%0d%0aset-cookie:%20pwned=1")
    assert wire.startswith(b"HTTP/1.1 500 "), wire
    assert b"pwned" not in wire and b"one," not in wire
    assert wire.endswith(b'{"a":1}'), wire


def test_a_good_media_type_is_sent(hclient: Any) -> None:
    r = hclient.get("/split/media", params={"t": "application/x-thing"})
    assert (r.status_code, r.headers["content-type"]) == (200, "application/x-thing")


@pytest.mark.parametrize("code", [0, -1, 99999, 100, 101, 199, 600, 999])
@pytest.mark.parametrize("route", ["/status", "/status-error", "/status-stream"])
def test_statuses_outside_200_599_are_refused(hclient: Any, route: str, code: int) -> None:
    wire = raw_pipelined(hclient, f"{route}/{code}")
    assert wire.startswith(b"HTTP/1.1 500 "), wire
    assert wire.count(b"HTTP/1.1 ") == 2 and wire.endswith(b'{"a":1}'), wire
    assert logged(hclient, "a response's status must be 200-599")


@pytest.mark.parametrize("code", [200, 201, 299, 418, 599])
def test_statuses_in_range_are_sent(hclient: Any, code: int) -> None:
    assert hclient.get(f"/status/{code}").status_code == code


def compiled(client: Any) -> bool:
    server = getattr(client, "server", None)
    return server is not None and server.mode == "compiled"


def test_a_dict_returned_for_a_declared_dataclass_is_filtered(hclient: Any) -> None:
    r = hclient.get("/users/dict")
    assert "secret" not in r.text
    if compiled(hclient):
        # A compiled handler checks its own return type (mypyc): the dict never leaves it.
        assert r.status_code == 500
        assert logged(hclient, "UserOut object expected; got dict")
    else:
        assert r.status_code == 200
        assert r.json() == {"name": "ann", "email": "ann@example.com"}


def test_a_subclass_instance_is_written_as_the_declared_class(hclient: Any) -> None:
    r = hclient.get("/users/subclass")
    assert r.status_code == 200
    assert r.json() == {"name": "ann", "email": "ann@example.com"}


def test_a_declared_list_of_models_filters_each(hclient: Any) -> None:
    r = hclient.get("/users/list")
    assert r.json() == [{"name": "ann", "email": "ann@example.com"}] * 2


def test_a_declared_pydantic_model_filters_a_dict_and_reads_an_object(hclient: Any) -> None:
    assert hclient.get("/users/model").json() == {"name": "ann"}
    assert hclient.get("/users/attrs").json() == {"name": "ann"}


@pytest.mark.parametrize("route", ["/users/wrong", "/counts"])
def test_a_result_of_the_wrong_type_is_a_500(hclient: Any, route: str) -> None:
    r = hclient.get(route)
    assert r.status_code == 500
    assert r.text == "Internal Server Error"
    if compiled(hclient) and route == "/users/wrong":
        assert logged(hclient, "UserOut object expected; got dict")  # refused at the compiled handler's return
    else:
        assert logged(hclient, "ResponseValidationError")


@pytest.mark.parametrize("route", ["/cancel/dep", "/cancel/sync-dep", "/cancel/first", "/cancel/later",
                                   "/cancel/awaited"])
def test_a_handler_raising_cancelled_error_itself_is_a_500(hclient: Any, route: str) -> None:
    """Nobody cancelled it (no deadline, no client gone, no shutdown), so it failed: uvicorn's answer. It used to get
    no response at all, the connection dropped."""
    r = hclient.get(route)
    assert (r.status_code, r.text) == (500, "Internal Server Error")
    assert logged(hclient, "CancelledError")
    assert hclient.get("/counts/ok").json() == {"a": 1}


def test_results_that_fit_are_sent(hclient: Any) -> None:
    assert hclient.get("/counts/ok").json() == {"a": 1}
    assert hclient.get("/anything").json() == {"a": [1, "x"], "b": None}


def test_a_route_status_outside_200_599_is_refused_at_start() -> None:
    from covet import Covet, RouteDefinitionError

    app = Covet()
    for code in (0, 100, 101, 600):
        with pytest.raises(RouteDefinitionError, match="not a final HTTP status"):
            app.get("/x", status=code)(lambda: "x")


@pytest.mark.parametrize("route", ["/stream/int", "/stream/int-sync"])
def test_a_stream_source_giving_an_int_is_an_error_not_nul_bytes(hclient: Any, route: str) -> None:
    wire = raw_until_closed(hclient, route)
    assert wire.startswith(b"HTTP/1.1 200 "), wire
    assert b"ok," in wire and b"\x00" not in wire
    assert not wire.endswith(b"0\r\n\r\n")  # cut short, and it does not look complete
    assert logged(hclient, "a source may give bytes, bytearray, memoryview or str")


def test_a_stream_source_may_give_bytes_str_bytearray_memoryview(hclient: Any) -> None:
    assert hclient.get("/stream/kinds").content == b"abcd"


def raw_until_closed(client: Any, path: str) -> bytes:
    """Everything the server writes back to one request for ``path`` before it closes the connection."""
    req = f"GET {path} HTTP/1.1\r\nhost: x\r\n\r\n".encode()
    server = getattr(client, "server", None)
    if server is None:
        return b"".join(r.raw for r in client.raw(req, responses=1, timeout=5))
    from conftest import recv_until_closed

    with socket.create_connection((server.host, server.port), timeout=5) as s:
        s.sendall(req)
        return recv_until_closed(s)


def _cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


@pytest.mark.parametrize("loop", LOOPS)
def test_at_the_descriptor_limit_the_server_waits_quietly_and_recovers(loop: str) -> None:
    """asyncio's own accept loop spun at 100% CPU and logged a traceback per try at EMFILE (issue 13)."""
    import resource

    import httpx

    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

    srv = Server("examples.hello:app", loop, preexec_fn=low_limit)
    socks = []
    try:
        for _ in range(100):  # past the server's 64 descriptors; the rest wait in the kernel's accept queue
            socks.append(socket.create_connection((srv.host, srv.port), timeout=5))
        time.sleep(0.5)
        before = _cpu_ticks(srv.proc.pid)
        time.sleep(2)
        assert _cpu_ticks(srv.proc.pid) - before < 20  # under 10% of a core; it was ~50% on asyncio
        assert srv.log.count("Traceback") == 0, srv.log[-2000:]
        assert srv.log.count("cannot accept connections") <= 1, srv.log[-2000:]
        for s in socks:
            s.close()
        socks.clear()
        assert httpx.get(srv.url + "/plaintext", timeout=10).status_code == 200
    finally:
        for s in socks:
            s.close()
        code, log = srv.stop()
    assert code == 0, log


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "Infinity", "1e999999", "-1e999999"])
def test_non_finite_floats_are_refused(hclient: Any, value: str) -> None:
    """Accepted and echoed as null before (issue 13)."""
    r = hclient.get("/num", params={"x": value})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["type"] == "finite_number"
    r = hclient.get("/num", params={"x": "1.5", "xs": ["2", value]})
    assert r.status_code == 422, r.text


def test_a_float_that_allows_non_finite_values_gets_them(hclient: Any) -> None:
    assert hclient.get("/num/any", params={"x": "nan"}).text == "nan"
    assert hclient.get("/num", params={"x": "1e300"}).json() == {"x": 1e300, "xs": []}


@pytest.mark.parametrize("path", ["/files/a%00b", "/files/%00", "/item/a%00", "/files/../etc/passwd",
                                  "/files/a/../../etc", "/files/%2e%2e/etc/passwd", "/files/a%2F..%2Fb",
                                  "/files/./x", "/item/..", "/item/%2E", "/item/..%2Fx"])
def test_nul_and_dot_segments_never_reach_a_route(hclient: Any, path: str) -> None:
    wire = raw_pipelined(hclient, path)
    assert wire.startswith(b"HTTP/1.1 400 "), wire
    assert wire.endswith(b'{"a":1}'), wire  # and the connection goes on


@pytest.mark.parametrize("path, value", [("/files/a/b.c/..d/...", "a/b.c/..d/..."), ("/item/.x", ".x"),
                                         ("/files/%2e%2e.txt", "...txt"), ("/item/a%2Fb", "a/b")])
def test_dots_that_are_no_dot_segments_are_kept(hclient: Any, path: str, value: str) -> None:
    r = hclient.get(path)
    assert (r.status_code, r.text) == (200, value)


@pytest.mark.parametrize("transport", [t for t in TRANSPORTS if t.startswith("interpreted")])  # nothing compiled
def test_slow_blocking_handlers_do_not_hold_up_static_files(request: pytest.FixtureRequest, static_root: Path,
                                                            transport: str) -> None:
    """Static files had the default executor's six threads to share with blocking=True handlers: 40 slow calls
    kept one waiting 17 s (issue 13). File I/O has a pool of its own now."""
    import threading

    import httpx

    srv = app_server(request, transport, "hardening", "built_hardening", env={"COVET_TEST_STATIC": str(static_root)})
    try:
        def slow() -> None:
            httpx.get(srv.url + "/slow-blocking", timeout=60)

        threads = [threading.Thread(target=slow) for _ in range(24)]  # four rounds of the default pool's six
        for t in threads:
            t.start()
        time.sleep(0.3)
        t0 = time.monotonic()
        r = httpx.get(srv.url + "/static/hello.txt", timeout=30)
        took = time.monotonic() - t0
        assert r.content == b"hello, static world"
        assert took < 2.0, took  # it waited for the four rounds, 8 s, on the default pool
        for t in threads:
            t.join()
    finally:
        code, log = srv.stop()
    assert code == 0, log


def test_a_handler_past_its_timeout_is_cancelled_and_answered_504(hclient: Any) -> None:
    assert hclient.get("/lifetime/slow", params={"seconds": "0.01"}).text == "done"
    t0 = time.monotonic()
    r = hclient.get("/lifetime/slow", params={"seconds": "5"})
    assert (r.status_code, r.json()) == (504, {"detail": "The request took longer than 0.5 s"})
    assert time.monotonic() - t0 < 3
    assert "slow cancelled" in hclient.get("/lifetime/events").json()
    assert hclient.get("/counts/ok").json() == {"a": 1}  # the connection goes on


def test_an_application_wide_timeout_and_a_route_that_overrides_it() -> None:
    import asyncio

    from covet import Covet
    from covet.testing import TestClient

    app = Covet(handler_timeout=0.2)

    @app.get("/sleep")
    async def sleep() -> str:
        await asyncio.sleep(2)
        return "done"

    @app.get("/patient", timeout=5)
    async def patient() -> str:
        await asyncio.sleep(0.4)
        return "done"

    client = TestClient(app)
    assert client.get("/sleep").status_code == 504
    assert client.get("/patient").text == "done"


def needs_a_socket(client: Any) -> None:
    if client.server is None:
        pytest.skip("in process there is no client to leave")


def leave_during(client: Any, path: str, wait: float = 0.3) -> None:
    """Send a request for ``path``, then close the connection before the answer comes."""
    server = client.server
    with socket.create_connection((server.host, server.port), timeout=5) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nhost: x\r\n\r\n".encode())
        time.sleep(wait)


def events_soon(client: Any, wanted: str, timeout: float = 5.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        events = client.get("/lifetime/events").json()
        if wanted in events or time.monotonic() > deadline:
            return events
        time.sleep(0.05)


def test_a_handler_can_ask_whether_its_client_left(hclient: Any) -> None:
    needs_a_socket(hclient)
    tag = f"w{time.monotonic_ns()}"
    leave_during(hclient, f"/lifetime/watch?tag={tag}")
    assert f"{tag} saw the client leave" in events_soon(hclient, f"{tag} saw the client leave")


def test_a_route_may_be_cancelled_when_its_client_leaves(hclient: Any) -> None:
    needs_a_socket(hclient)
    tag = f"c{time.monotonic_ns()}"
    leave_during(hclient, f"/lifetime/cancel?tag={tag}")
    assert f"{tag} cancelled" in events_soon(hclient, f"{tag} cancelled")


def test_by_default_a_handler_runs_to_its_end_when_its_client_leaves(hclient: Any) -> None:
    needs_a_socket(hclient)
    tag = f"k{time.monotonic_ns()}"
    leave_during(hclient, f"/lifetime/keep?tag={tag}", wait=0.1)
    assert f"{tag} finished" in events_soon(hclient, f"{tag} finished")
