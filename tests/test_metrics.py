"""Prometheus metrics (`covet serve --metrics`): the exposition, and counts that match the requests sent, on every
transport, across workers, and across a reload (docs/metrics.md).

The text is checked by prometheus_client's parser and by ``promtool check metrics`` (Debian's ``prometheus``
package; `make system-deps` installs it): a missing promtool fails the test, it does not skip.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import TRANSPORTS, Server, exchange, hello_server, read_response_simple
from tests.test_supervisor import workers

Sample = tuple[str, tuple[tuple[str, str], ...]]


def _exchange(srv: Server, raw: bytes) -> bytes:
    return exchange(srv, raw, 5)


def _get(srv: Server, target: str) -> bytes:
    return _exchange(srv, f"GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())


def _body(response: bytes) -> bytes:
    return response.partition(b"\r\n\r\n")[2]


def _parse(text: str) -> dict[Sample, float]:
    """Every sample by (name, sorted labels); the text must also pass promtool."""
    samples: dict[Sample, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    _promtool(text)
    return samples


def _promtool(text: str) -> None:
    tool = shutil.which("promtool")
    assert tool is not None, "promtool is missing: `make system-deps` installs it (apt-get install prometheus)"
    out = subprocess.run([tool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr


def _scrape(srv: Server) -> tuple[dict[Sample, float], bytes]:
    raw = _get(srv, "/metrics")
    assert raw.startswith(b"HTTP/1.1 200"), raw[:300]
    assert b"content-type: text/plain; version=0.0.4" in raw.lower(), raw[:300]
    return _parse(_body(raw).decode()), raw


def _requests(samples: dict[Sample, float]) -> Counter[tuple[str, str, str]]:
    """covet_requests_total by (route, method, status)."""
    out: Counter[tuple[str, str, str]] = Counter()
    for (name, labels), value in samples.items():
        if name == "covet_requests_total":
            d = dict(labels)
            out[(d["route"], d["method"], d["status"])] = int(value)
    return out


def _check_histograms(samples: dict[Sample, float]) -> None:
    """Buckets are cumulative and end at +Inf == _count, and _count is the requests counter of the route and
    method."""
    by_route: dict[tuple[str, str], list[tuple[float, float]]] = {}
    counts: dict[tuple[str, str], float] = {}
    for (name, labels), value in samples.items():
        d = dict(labels)
        if name == "covet_request_duration_seconds_bucket":
            by_route.setdefault((d["route"], d["method"]), []).append((float(d["le"]), value))
        elif name == "covet_request_duration_seconds_count":
            counts[(d["route"], d["method"])] = value
    requests: Counter[tuple[str, str]] = Counter()
    for (route, method, _), n in _requests(samples).items():
        requests[(route, method)] += n
    assert set(by_route) == set(counts) == set(requests)
    for key, buckets in by_route.items():
        buckets.sort()
        values = [v for _, v in buckets]
        assert values == sorted(values), (key, buckets)
        assert buckets[-1][0] == float("inf") and values[-1] == counts[key] == requests[key], (key, buckets)
        assert len(buckets) == 17


# -- the segment, without a server -----------------------------------------------------------------------------


# (covet._native is imported inside the tests: native/tests/asan_server.sh runs this module with an ASan build of it
# that only the servers load.)


def test_segment_sums_slots_and_folds_without_going_back() -> None:
    from covet._native import Metrics

    seg = Metrics(slots=2, slot=0, shared=True)
    assert seg.fd >= 0 and seg.slots == 2
    w1, w2 = Metrics(fd=seg.fd, slot=1), Metrics(fd=seg.fd, slot=2)
    for _ in range(3):
        w1.count(0, "GET", 200, 10, 0, 50_000)  # 50 us: the first bucket
    w2.count(0, "GET", 200, 5, 7, 3_000_000_000)  # 3 s
    w2.count(-1, "BREW", 404, 9, 0, 0)
    w1.connections(1)
    before = seg.snapshot()
    assert before[1:5] == (0, 1, 7, 44)
    assert sorted(before[5]) == [(-1, 0, 404, 1), (0, 1, 200, 4)]
    seg.fold(1)  # worker 1 exited: its counts stay, its gauge goes
    seg.restarted()
    after = seg.snapshot()
    assert after[0] == 1 and after[2] == 0 and after[3:5] == before[3:5]
    assert sorted(after[5]) == sorted(before[5]) and sorted(after[6]) == sorted(before[6])
    hist = {(r, m): (s, b) for r, m, s, b in after[6]}
    sum_ns, buckets = hist[(0, 1)]
    assert sum_ns == 3 * 50_000 + 3_000_000_000 and buckets[0] == 3 and buckets[14] == 1 and sum(buckets) == 4
    # The slot is empty again for the next worker, which counts on from the past.
    w3 = Metrics(fd=seg.fd, slot=1)
    w3.count(0, "GET", 200, 1, 0, 1)
    assert {(r, m, s): n for r, m, s, n in seg.snapshot()[5]}[(0, 1, 200)] == 5


def test_bounded_routes_and_series() -> None:
    from covet._native import Metrics
    from covet.metrics import METHODS, render
    from covet.runtime.dispatch import route_id

    m = Metrics()
    b = route_id("/b")
    m.count(route_id("/gone"), "GET", 200, 0, 0, 0)  # a route id this process does not serve (a reload removed it)
    for status in range(100, 600):  # 500 statuses x 8 methods would pass the table: the rest overflow
        for method in METHODS:
            m.count(b, method, status, 0, 0, 0)
    series = m.snapshot()[5]
    assert sum(n for *_, n in series) == 1 + 500 * 8
    assert len(series) <= 4096
    text = render(m, {route_id("/a"): "/a", b: "/b"})
    samples = _parse(text)
    assert samples[("covet_requests_total", (("method", "GET"), ("route", "<retired>"), ("status", "200")))] == 1
    assert samples[("covet_requests_total", (("method", "GET"), ("route", "/b"), ("status", "100")))] == 1
    overflow = [v for (name, labels), v in samples.items()
                if name == "covet_requests_total" and ("route", "<overflow>") in labels]
    assert overflow and sum(overflow) == 500 * 8 - (3072 - 1)  # (the table fills at 3072 series, "/gone" one)
    _check_histograms(samples)


def test_grpc_codes_are_counted_without_a_duration() -> None:
    """A gRPC call's status (covet.runtime.grpc_call): a series of its own, no histogram, its own family."""
    from covet._native import Metrics
    from covet.metrics import GRPC_CODE_BASE, render
    from covet.runtime.dispatch import route_id

    m = Metrics()
    say = route_id("/demo.Greeter/SayHello")
    m.count(say, "POST", 200, 10, 5, 40_000)  # the HTTP side of the call, as its access record counts it
    for code in (0, 0, 3, 1, 99):  # OK twice, INVALID_ARGUMENT, CANCELLED, a code gRPC does not name
        m.count(say, "POST", GRPC_CODE_BASE + code, 0, 0, -1)
    snap = m.snapshot()
    assert snap[3:5] == (5, 10)  # (the status counts add no bytes)
    assert [(r, m, sum(b)) for r, m, _sum, b in snap[6]] == [(say, 3, 1)]  # (3: POST) the HTTP side's alone
    samples = _parse(render(m, {say: "/demo.Greeter/SayHello"}))
    route = ("route", "/demo.Greeter/SayHello")
    assert samples[("covet_grpc_calls_total", (("code", "OK"), route))] == 2
    assert samples[("covet_grpc_calls_total", (("code", "INVALID_ARGUMENT"), route))] == 1
    assert samples[("covet_grpc_calls_total", (("code", "CANCELLED"), route))] == 1
    assert samples[("covet_grpc_calls_total", (("code", "99"), route))] == 1
    assert samples[("covet_requests_total", (("method", "POST"), route, ("status", "200")))] == 1
    assert not [k for k in samples if k[0] == "covet_requests_total" and ("status", "1000") in k[1]]
    assert samples[("covet_request_duration_seconds_count", (("method", "POST"), route))] == 1
    _check_histograms(samples)


def test_app_route_at_the_path_wins() -> None:
    from covet import Covet
    from covet.metrics import install

    app = Covet()

    @app.get("/metrics")
    def mine() -> str:
        return "mine"

    install(app, "/metrics")
    assert [rd.path for rd in app.routes] == ["/metrics"]
    other = Covet()
    install(other, "/m")
    assert [(rd.path, rd.include_in_schema) for rd in other.routes] == [("/m", False)]
    assert "/m" not in other.openapi()["paths"]


# -- real servers ------------------------------------------------------------------------------------------------

_POST = b'{"name": "a", "price": 1.5, "tags": []}'


def _traffic(srv: Server, n: int) -> tuple[Counter[tuple[str, str, str]], int]:
    """n requests to each of several routes, each on a new connection: what the counts should become, and the
    response body bytes sent."""
    sent: Counter[tuple[str, str, str]] = Counter()
    out = 0
    post = (b"POST /items HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n%s" % (len(_POST), _POST))
    for i in range(n):
        for target, key in (("/plaintext", ("/plaintext", "GET", "200")),  # direct routes on io_uring
                            ("/json", ("/json", "GET", "200")),
                            (f"/users/{i}", ("/users/{user_id}", "GET", "200")),  # a template, never the raw path
                            (f"/nope/{i}", ("<unmatched>", "GET", "404")),
                            ("/boom", ("/boom", "GET", "500")),
                            ("/slow?ms=1", ("/slow", "GET", "200"))):  # suspended: an exchange records it
            raw = _get(srv, target)
            assert raw.startswith(b"HTTP/1.1 " + key[2].encode()), (target, raw[:200])
            out += len(_body(raw))
            sent[key] += 1
        raw = _exchange(srv, post)
        assert raw.startswith(b"HTTP/1.1 201"), raw[:200]
        out += len(_body(raw))
        sent[("/items", "POST", "201")] += 1
    return sent, out


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_counts_match_on_every_transport(request: pytest.FixtureRequest, transport: str) -> None:
    # The access log on for the interpreted runs, off for the compiled ones: metrics count either way.
    log = [] if transport.startswith("interpreted") else ["--no-access-log"]
    srv = hello_server(request, transport, "--metrics", *log)
    try:
        n = 4
        sent, out = _traffic(srv, n)
        samples, first = _scrape(srv)
        assert _requests(samples) == sent, srv.log
        _check_histograms(samples)
        assert samples[("covet_request_body_bytes_total", ())] == n * len(_POST)
        assert samples[("covet_response_body_bytes_total", ())] == out
        assert samples[("covet_worker_restarts_total", ())] == 0
        assert samples[("covet_open_connections", ())] >= 1  # (the scrape's own)
        assert samples[("covet_requests_in_flight", ())] == 0
        # The scrape itself counts once it is answered; a request in flight shows while it is held.
        with srv.connect() as held:
            held.sendall(b"GET /slow?ms=600 HTTP/1.1\r\nHost: t\r\n\r\n")
            time.sleep(0.2)
            samples, _ = _scrape(srv)
            assert samples[("covet_requests_in_flight", ())] == 1
            assert samples[("covet_open_connections", ())] >= 2
        sent[("/metrics", "GET", "200")] += 1
        assert _requests(samples) == sent
        assert samples[("covet_response_body_bytes_total", ())] == out + len(_body(first))
    finally:
        code, text = srv.stop()
    assert code == 0, text


def _scrape_whom(srv: Server) -> tuple[dict[Sample, float], int]:
    """A scrape on a new keep-alive connection, and the pid of the worker that answered it."""
    with srv.connect() as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n")
        raw = read_response_simple(s, bytearray())
        assert raw.startswith(b"HTTP/1.1 200"), raw[:300]
        port = s.getsockname()[1]
        out = subprocess.run(["ss", "-Htnp", "state", "established", f"( sport = :{srv.port} and dport = :{port} )"],
                             capture_output=True, text=True, timeout=10).stdout
    m = re.search(r"pid=(\d+)", out)
    assert m, out
    return _parse(_body(raw).decode()), int(m.group(1))


def _serving(srv: Server) -> int:
    return sum(1 for line in list(srv.lines) if "covet: serving " in line)


def _wait(what: str, cond: Callable[[], bool], srv: Server, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}:\n{srv.log}")


@pytest.mark.parametrize("transport", ["interpreted-uring", "interpreted-uvloop", "compiled-asyncio"])
def test_workers_merge_and_survive_reload(request: pytest.FixtureRequest, transport: str) -> None:
    srv = hello_server(request, transport, "--metrics", "--no-access-log", "--workers", "2")
    try:
        _wait("two workers", lambda: _serving(srv) >= 2, srv)
        sent, _ = _traffic(srv, 6)
        scrapes = 0
        answered: set[int] = set()
        # New connections until each worker has answered a scrape (``ss`` says which process holds the server's
        # end): each worker's scrape shows what both counted.
        for _ in range(60):
            samples, pid = _scrape_whom(srv)
            answered.add(pid)
            got = _requests(samples)
            got.pop(("/metrics", "GET", "200"), None)
            assert got == sent
            _check_histograms(samples)
            scrapes += 1
            if len(answered) == 2 and scrapes >= 4:
                break
        assert answered == workers(srv), (answered, srv.log)
        before = _requests(_scrape(srv)[0])
        scrapes += 1
        assert before[("/metrics", "GET", "200")] == scrapes - 1
        old = workers(srv)
        srv.proc.send_signal(signal.SIGHUP)  # every worker replaced: their counts fold into the past
        _wait("the reload", lambda: len(workers(srv)) == 2 and not workers(srv) & old and _serving(srv) >= 4, srv)
        after = _requests(_scrape(srv)[0])
        scrapes += 1
        for key, value in before.items():
            assert after[key] >= value, (key, before, after)
        assert after.pop(("/metrics", "GET", "200")) == scrapes - 1
        assert after == sent
        # A worker that dies is counted, and what it counted stays.
        alive = workers(srv)
        os.kill(min(alive), signal.SIGKILL)
        _wait("the replacement", lambda: len(workers(srv)) == 2 and min(alive) not in workers(srv), srv)
        samples, _ = _scrape(srv)
        scrapes += 1
        assert samples[("covet_worker_restarts_total", ())] == 1
        after = _requests(samples)
        assert after.pop(("/metrics", "GET", "200")) == scrapes - 1
        assert after == sent
    finally:
        code, text = srv.stop()
    assert code == 0, text




@pytest.mark.parametrize("transport", TRANSPORTS)
def test_streamed_request_bodies_count(request: pytest.FixtureRequest, transport: str) -> None:
    """A body past --max-body streams to the route that reads it: its bytes count when its response does."""
    from tests.conftest import app_server

    srv = app_server(request, transport, "forms", "built_forms", "--metrics", "--no-access-log", "--max-body", "1024")
    try:
        sized = b"x" * 5000
        raw = _exchange(srv, b"POST /raw HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n"
                        + sized)
        assert raw.startswith(b"HTTP/1.1 200"), raw[:300]
        chunked = b"".join(b"%x\r\n%s\r\n" % (1000, b"y" * 1000) for _ in range(3)) + b"0\r\n\r\n"
        raw = _exchange(srv, b"POST /raw HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                        + chunked)
        assert raw.startswith(b"HTTP/1.1 200"), raw[:300]
        samples, _ = _scrape(srv)
        assert samples[("covet_request_body_bytes_total", ())] == 8000
        assert _requests(samples)[("/raw", "POST", "200")] == 2
    finally:
        code, text = srv.stop()
    assert code == 0, text


_RELOADED = '''
from covet import Covet

app = Covet()
{extra}

@app.get("/a")
def a() -> str:
    return "a"


@app.get("/b/{{n}}")
def b(n: int) -> str:
    return "b"
'''


def test_a_reload_that_changes_the_routes_keeps_each_routes_counts(tmp_path: Path) -> None:
    """Route ids are their templates' hashes, not their places: a route added before the others by a reload does
    not move their counts, and a route it removes keeps its counts under "<retired>"."""
    (tmp_path / "reloaded.py").write_text(
        _RELOADED.format(extra='@app.get("/old")\ndef old() -> str:\n    return "o"\n'))
    srv = Server("reloaded:app", "uvloop", "--metrics", "--no-access-log", "--workers", "2", cwd=tmp_path, pure=True)
    try:
        _wait("two workers", lambda: _serving(srv) >= 2, srv)
        for target in ("/a", "/b/1", "/b/2", "/old"):
            assert _get(srv, target).startswith(b"HTTP/1.1 200")
        (tmp_path / "reloaded.py").write_text(
            _RELOADED.format(extra='@app.get("/new")\ndef new() -> str:\n    return "n"\n'))
        old = workers(srv)
        srv.proc.send_signal(signal.SIGHUP)
        _wait("the reload", lambda: len(workers(srv)) == 2 and not workers(srv) & old and _serving(srv) >= 4, srv)
        assert _get(srv, "/new").startswith(b"HTTP/1.1 200")
        got = _requests(_scrape(srv)[0])
        assert got == {("/a", "GET", "200"): 1, ("/b/{n}", "GET", "200"): 2, ("<retired>", "GET", "200"): 1,
                       ("/new", "GET", "200"): 1}, got
    finally:
        code, text = srv.stop()
    assert code == 0, text


def test_a_segment_of_the_wrong_kind_is_refused(tmp_path: Path) -> None:
    """A worker given a descriptor that is not a metrics segment, or one of another layout, says so; bad sizes are
    refused before anything is mapped."""
    from covet._native import Metrics

    small = tmp_path / "small"
    small.write_bytes(b"x" * 100)
    zeros = tmp_path / "zeros"
    zeros.write_bytes(bytes(2 << 20))
    for path, message in ((small, "not a metrics segment"), (zeros, "another layout")):
        with open(path, "r+b") as f, pytest.raises(ValueError, match=message):
            Metrics(fd=f.fileno())
    for slots in (0, 1025):
        with pytest.raises(ValueError, match="must be 1 to 1024"):
            Metrics(slots=slots)
    with pytest.raises(ValueError, match="the segment has slots 1 to 2"):
        Metrics(slots=2, slot=3)
    with pytest.raises(TypeError):
        Metrics(slots="two")  # type: ignore[arg-type]
    shared = Metrics(slots=2, shared=True)
    assert shared.fd >= 0
    with pytest.raises(ValueError, match="the segment has slots 1 to 2"):
        Metrics(fd=shared.fd, slot=7)


def test_every_method_has_its_label_and_others_share_one() -> None:
    from covet._native import Metrics

    m = Metrics(slots=1)
    names = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "BREW", "PROPFIND", "X"]
    for i, name in enumerate(names):
        m.count(1, name, 200, 10, 0, 1000 * (i + 1))
    series = m.snapshot()[5]
    assert sum(count for _, _, _, count in series) == len(names)
    methods = {method for _, method, _, _ in series}
    assert len(methods) == 8  # seven named methods, and one label for every other


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_scrapes_in_a_crowd_of_connections_and_traffic(request: pytest.FixtureRequest, transport: str) -> None:
    """Two workers, 2,000 idle keep-alive connections held open, requests and scrapes from many threads at once:
    every scrape parses, the open connections show the crowd, and the final counts are exact."""
    srv = hello_server(request, transport, "--metrics", "--no-access-log", "--workers", "2")
    crowd: list[socket.socket] = []
    try:
        _wait("two workers", lambda: _serving(srv) >= 2, srv)
        for _ in range(2000):
            crowd.append(srv.connect(timeout=10))
        # (connected is not yet accepted: the kernel's queue holds some until the workers get to them)
        _wait("the crowd accepted", lambda: _scrape(srv)[0][("covet_open_connections", ())] >= 2000, srv)
        errors: list[str] = []
        scrapes = [0]

        def client(k: int) -> None:
            try:
                with srv.connect(timeout=20) as s:  # keep-alive: 30 requests on one connection
                    buf = bytearray()
                    for i in range(30):
                        s.sendall(b"GET /users/%d HTTP/1.1\r\nHost: t\r\n\r\n" % (k * 100 + i))
                        reply = read_response_simple(s, buf)
                        if not reply.startswith(b"HTTP/1.1 200"):
                            errors.append(reply[:100].decode("latin-1"))
            except OSError as exc:
                errors.append(f"client {k}: {exc!r}")

        def scraper() -> None:
            try:
                for _ in range(10):
                    samples, _ = _scrape(srv)
                    scrapes[0] += 1
                    if samples[("covet_open_connections", ())] < 2000:
                        errors.append(f"open connections {samples[('covet_open_connections', ())]}")
            except (OSError, AssertionError, ValueError) as exc:
                errors.append(f"scrape: {exc!r}")

        threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
        threads += [threading.Thread(target=scraper) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, errors[:5]
        samples, _ = _scrape(srv)
        got = _requests(samples)
        assert got.pop(("/metrics", "GET", "200")) >= scrapes[0]
        assert got == Counter({("/users/{user_id}", "GET", "200"): 8 * 30})
        _check_histograms(samples)
        for s in crowd:
            s.close()
        crowd.clear()
        _wait("the crowd's connections to close", lambda: _scrape(srv)[0][("covet_open_connections", ())] < 10, srv)
    finally:
        for s in crowd:
            s.close()
        code, text = srv.stop()
    assert code == 0, text
