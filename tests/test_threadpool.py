"""``def`` handlers and dependencies run in the thread pool (FastAPI's rule), ``inline=True`` on the loop; the loop
watchdog names what holds the loop. On every loop, interpreted and compiled."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import APPS, TRANSPORTS, Server, app_server, build_project


@pytest.fixture(scope="session")
def built_threads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_project(tmp_path_factory, APPS / "threads.py")


@pytest.fixture(scope="module", params=TRANSPORTS)
def srv(request: pytest.FixtureRequest) -> Iterator[Server]:
    server = app_server(request, request.param, "threads", "built_threads", "--workers", "1")
    yield server
    code, log = server.stop()
    assert code == 0, log


def _concurrently(url: str, n: int) -> tuple[float, list[httpx.Response]]:
    with httpx.Client(timeout=20) as client, concurrent.futures.ThreadPoolExecutor(n) as pool:
        client.get(url.replace("/sleep", "/events"))  # connections warm, the server's first request done
        start = time.monotonic()
        answers = list(pool.map(lambda _: client.get(url), range(n)))
        return time.monotonic() - start, answers


def test_eight_sleeping_def_handlers_run_side_by_side(srv: Server) -> None:
    # Best of three: on a shared two-core machine one round can lose 0.2 s to others' work; serialised, every round
    # would take 2.4 s.
    times = []
    for _ in range(3):
        elapsed, answers = _concurrently(f"{srv.url}/sleep?seconds=0.3", 8)
        assert [r.status_code for r in answers] == [200] * 8
        assert all(r.json()["slept"] >= 0.29 for r in answers)
        times.append(elapsed)
        if elapsed < 0.5:
            break
    assert min(times) < 0.5, f"8 x 0.3 s took {times} s: the def handlers did not run side by side"


def test_sync_code_runs_in_the_pool_and_inline_code_on_the_loop(srv: Server) -> None:
    with httpx.Client(base_url=srv.url, timeout=10) as c:
        c.get("/events")
        assert c.get("/where/sync").json() == {"handler": False, "dep": False, "gen": False}
        # The generator dependency's clean-up after the response ran in the pool too.
        assert _events(c) == ["enter on_loop=False", "exit on_loop=False"]
        assert c.get("/where/inline").json() == {"handler": True, "dep": True, "gen": True}
        assert _events(c) == ["enter on_loop=True", "exit on_loop=True"]
        # An async handler's sync dependency is sync code too.
        assert c.get("/where/async").json() == {"handler": True, "dep": False}


def _events(c: httpx.Client) -> list[str]:
    deadline = time.monotonic() + 5
    found: list[str] = []
    while True:  # the clean-up runs after the response is sent (each read takes what has come so far)
        found += c.get("/events").json()
        if any(e.startswith("exit") for e in found) or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def test_a_pooled_handler_sees_the_context_its_dependencies_set(srv: Server) -> None:
    r = httpx.get(f"{srv.url}/context", timeout=10)
    assert r.json() == {"dep": "tagged", "seen_in_thread": "from-an-async-dependency"}


def test_errors_raised_in_the_pool_are_answered_as_on_the_loop(srv: Server) -> None:
    with httpx.Client(base_url=srv.url, timeout=10) as c:
        c.get("/events")
        r = c.get("/raises")
        assert r.status_code == 500
        # The generator dependency saw the handler's exception, in the pool.
        assert _events(c) == ["enter on_loop=False", "thrown handler failed on_loop=False", "exit on_loop=False"]
        r = c.get("/refused")
        assert (r.status_code, r.json(), r.headers["www-authenticate"]) == (
            401, {"detail": "Not authenticated"}, "Bearer")


def test_a_crowd_of_pooled_requests_half_of_whose_clients_vanish(srv: Server) -> None:
    """1,200 connections at once, each asking a def handler that takes 20 ms; half close as soon as they have asked.
    The 40 threads work through the queue, the rest are all answered, and a newcomer is served right after."""
    import resource
    import select
    import socket

    n = 1200
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4 * n)), hard))
    host, port = srv.url.removeprefix("http://").split(":")
    seen = len(srv.log)  # the module's other tests log tracebacks on purpose
    request = b"GET /sleep?seconds=0.02 HTTP/1.1\r\nHost: x\r\n\r\n"
    kept: dict[int, tuple[socket.socket, bytearray]] = {}
    for i in range(n):
        s = socket.create_connection((host, int(port)), timeout=10)
        s.sendall(request)
        if i % 2:
            s.close()  # the client vanishes with its request queued
        else:
            s.setblocking(False)
            kept[s.fileno()] = (s, bytearray())
    deadline = time.monotonic() + 60
    done = 0
    poller = select.poll()
    for fd in kept:
        poller.register(fd, select.POLLIN)
    while done < len(kept) and time.monotonic() < deadline:
        for fd, _ in poller.poll(1000):
            sock, buf = kept[fd]
            chunk = sock.recv(65536)
            buf += chunk
            if not chunk or (b"\r\n\r\n" in buf and buf.endswith(b"}")):
                poller.unregister(fd)
                done += 1
    try:
        answers = [bytes(buf) for _, buf in kept.values()]
        assert done == len(kept), f"{len(kept) - done} of {len(kept)} clients still wait after 60 s"
        wrong = [a for a in answers if not (a.startswith(b"HTTP/1.1 200 ") and b'{"slept":' in a)]
        assert not wrong, f"{len(wrong)} wrong answers, the first: {wrong[0]!r}"
        start = time.monotonic()
        assert httpx.get(f"{srv.url}/sleep?seconds=0", timeout=10).status_code == 200
        assert time.monotonic() - start < 2, "a newcomer waited behind the crowd"
    finally:
        for sock, _ in kept.values():
            sock.close()
    assert srv.proc.poll() is None and "Traceback" not in srv.log[seen:], srv.log[seen:][-3000:]


def test_the_pool_is_bounded_by_threads() -> None:
    server = Server("threads:app", "uvloop", "--threads", "2", cwd=APPS, pure=True)
    try:
        elapsed, answers = _concurrently(f"{server.url}/sleep?seconds=0.3", 4)
        assert [r.status_code for r in answers] == [200] * 4
        assert elapsed >= 0.55, f"4 x 0.3 s on 2 threads took {elapsed:.2f} s"
    finally:
        code, log = server.stop()
    assert code == 0, log


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_the_watchdog_names_the_route_that_holds_the_loop(request: pytest.FixtureRequest, transport: str) -> None:
    server = app_server(request, transport, "threads", "built_threads", "--loop-watchdog", "0.2")
    try:
        with httpx.Client(base_url=server.url, timeout=10) as c:
            slow = concurrent.futures.ThreadPoolExecutor(1).submit(c.get, "/hog", params={"seconds": "0.8"})
            time.sleep(0.1)
            start = time.monotonic()
            assert httpx.get(f"{server.url}/events", timeout=10).status_code == 200
            waited = time.monotonic() - start
            assert slow.result().text == "done"
            assert waited > 0.4  # what the warning is about: the other client waited for the hog
        server.logged("free again")
    finally:
        code, log = server.stop()
    assert code == 0, log
    warning = next(line for line in log.splitlines() if "event loop has been held" in line)
    assert "covet.watchdog" in warning
    if transport.startswith("interpreted"):
        assert "route GET /hog, at " in warning and "threads.py:" in warning, warning
    assert "the event loop is free again, after 0." in log
    assert log.count("event loop has been held") == 1  # one warning per stall


def test_the_watchdog_is_quiet_for_pooled_handlers_and_can_be_turned_off() -> None:
    quiet = Server("threads:app", "uvloop", "--loop-watchdog", "0.2", cwd=APPS, pure=True)
    off = Server("threads:app", "uvloop", "--loop-watchdog", "0", cwd=APPS, pure=True)
    try:
        assert httpx.get(f"{quiet.url}/sleep", params={"seconds": "0.6"}, timeout=10).status_code == 200
        assert httpx.get(f"{off.url}/hog", params={"seconds": "0.6"}, timeout=10).text == "done"
        time.sleep(0.3)
    finally:
        logs = [s.stop() for s in (quiet, off)]
    for code, log in logs:
        assert code == 0, log
        assert "event loop has been held" not in log
