"""`covet serve --workers`: one socket, workers replaced when they die, reloads and shutdowns that lose nothing.

Real processes, real signals, wrk for load. Every test runs interpreted and compiled on every loop; the compiled
runs switch between two builds made once (editing a handler needs a new build, and a build takes ~15 s here).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from covet.runtime.listener import Listen, close_listener, open_listener, refuse_new_connections
from tests.conftest import LOOPS, ROOT, TRANSPORTS, Server, built_once, checkout_path, read_response_simple

APP = ROOT / "tests" / "apps" / "workers.py"


@pytest.fixture(autouse=True)
def _wrk() -> None:
    # A failure, not a skip: without wrk the reload and worker-loss tests under load would not run at all.
    assert shutil.which("wrk"), "wrk is not installed: `make system-deps` (run by `make test`) installs it"


def source(version: str) -> str:
    text = APP.read_text()
    assert 'VERSION = "v0"' in text
    return text.replace('VERSION = "v0"', f'VERSION = "{version}"')


@pytest.fixture(scope="session")
def builds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with workers.py built twice: as "b1" (VERSION v1) into .covet/b1, as "b2" into .covet/b2."""

    def make(where: Path) -> None:
        for version in ("b1", "b2"):
            (where / "workers.py").write_text(source(version))
            env = dict(os.environ, PYTHONPATH=checkout_path(where))
            out = subprocess.run([sys.executable, "-m", "covet", "build", "workers:app", "--out", f".covet/{version}"],
                                 cwd=where, env=env, capture_output=True, text=True)
            assert out.returncode == 0, out.stdout + out.stderr

    return built_once(tmp_path_factory, "workers-builds", make)


class Project:
    """A copy of the app whose handler can be edited (and, compiled, switched to another build) between reloads."""

    def __init__(self, where: Path, compiled: bool, builds: Path | None) -> None:
        self.where = where
        self.compiled = compiled
        self.builds = builds
        self.set(1)

    def set(self, n: int) -> str:
        """Make version ``n`` the code on disk; returns the VERSION it answers with."""
        if not self.compiled:
            version = f"v{n}"
            (self.where / "workers.py").write_text(source(version))
            return version
        assert self.builds is not None
        version = "b1" if n % 2 else "b2"
        (self.where / "workers.py").write_text(source(version))
        link = self.where / ".covet" / "build"
        link.parent.mkdir(exist_ok=True)
        tmp = link.with_name("build.tmp")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(self.builds / ".covet" / version)
        tmp.replace(link)
        return version


@pytest.fixture
def project(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Project]:
    transport: str = request.param
    if not transport.startswith("compiled"):
        yield Project(tmp_path, False, None)
        return
    built = request.getfixturevalue("builds")
    # The builds record their project root: the copy that is served must be that directory, which every pytest-xdist
    # worker shares. One test at a time edits it: another one's Project(...) switching the code back to b1 in the
    # middle of a reload made a worker serve b1 at the end (CI, stop 27).
    with open(built / ".in-use", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield Project(built, True, built)


def start(transport: str, project: Project, *extra: str) -> Server:
    mode, loop = transport.split("-")
    flags = ["--compiled", "require"] if mode == "compiled" else ["--compiled", "off"]
    srv = Server("workers:app", loop, *flags, *extra, cwd=project.where, pure=mode == "interpreted")
    return srv


def children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.update(int(p) for p in (task / "children").read_text().split())
    return found


def workers(srv: Server) -> set[int]:
    """The supervisor's children that serve: not the spare waiting to replace one (its log says which is which)."""
    log = srv.log
    spares = {int(p) for p in re.findall(r"started spare \d+ \(pid (\d+)\)", log)}
    promoted = {int(p) for p in re.findall(r"spare \d+ \(pid (\d+)\) takes over", log)}
    return children(srv.proc.pid) - (spares - promoted)


def who(url: str) -> dict[str, object]:
    with httpx.Client(timeout=10) as c:  # a new connection each time: it may reach any worker
        r = c.get(url + "/who")
    assert r.status_code == 200, r.text
    return dict(r.json())


def wait_for(what: str, cond: Callable[[], bool], timeout: float = 60.0, srv: Server | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}" + (f"; the server's log:\n{srv.log}" if srv else ""))


def count(srv: Server, pattern: str) -> int:
    return sum(1 for line in list(srv.lines) if re.search(pattern, line))


class Wrk:
    """wrk running until stopped: its totals, socket errors and non-2xx count."""

    def __init__(self, url: str, conns: int = 32, close: bool = False) -> None:
        """``close``: a new connection for each request (`connection: close`), so some always wait in the listening
        socket's queue."""
        fresh = ["-H", "Connection: close"] if close else []
        self.proc = subprocess.Popen(["wrk", "-t1", f"-c{conns}", "-d300s", *fresh, url], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        time.sleep(0.5)

    def stop(self) -> dict[str, int]:
        self.proc.send_signal(signal.SIGINT)
        out, _ = self.proc.communicate(timeout=30)
        found = {"requests": 0, "connect": 0, "read": 0, "write": 0, "timeout": 0, "non2xx": 0}
        m = re.search(r"(\d+) requests in", out)
        assert m, out
        found["requests"] = int(m.group(1))
        m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
        if m:
            found.update(connect=int(m.group(1)), read=int(m.group(2)), write=int(m.group(3)),
                         timeout=int(m.group(4)))
        m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        if m:
            found["non2xx"] = int(m.group(1))
        found["output"] = out  # type: ignore[assignment]
        return found


# -- workers --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("project", TRANSPORTS, indirect=True)
def test_workers_share_one_socket_and_each_serves(request: pytest.FixtureRequest, project: Project) -> None:
    transport = request.node.callspec.params["project"]
    srv = start(transport, project, "--workers", "2")
    try:
        wait_for("two workers", lambda: count(srv, r"covet: serving ") >= 2, srv=srv)
        seen = {who(srv.url)["pid"] for _ in range(200)}
        assert seen == workers(srv), (seen, srv.log)
        assert len(seen) == 2
    finally:
        code, log = srv.stop()
    assert code == 0, log


@pytest.mark.parametrize("project", TRANSPORTS, indirect=True)
def test_reload_under_load_loses_no_request(request: pytest.FixtureRequest, project: Project) -> None:
    """wrk at full load against two workers while they are reloaded three times, the handler edited before each:
    no socket error, no non-2xx, and the last code answers. (Five reloads cost CI 50 s more over six transports
    and found nothing three do not.)"""
    transport = request.node.callspec.params["project"]
    srv = start(transport, project, "--workers", "2")
    try:
        wait_for("two workers", lambda: count(srv, r"covet: serving ") >= 2, srv=srv)
        load = Wrk(srv.url + "/who")
        try:
            for n in range(2, 5):
                version = project.set(n)
                done = count(srv, r"draining worker pid \d+ \(replaced\)") + 2
                srv.proc.send_signal(signal.SIGHUP)
                wait_for(f"reload {n - 1}", lambda d=done: count(srv, r"draining worker pid \d+ \(replaced\)") >= d)
                time.sleep(0.3)
        finally:
            stats = load.stop()
        wait_for("the old workers' exit", lambda: len(workers(srv)) == 2, timeout=30)
        answers = {json.dumps(who(srv.url), sort_keys=True) for _ in range(20)}
        assert {json.loads(a)["version"] for a in answers} == {version}, (answers, srv.log)
        errors = {k: stats[k] for k in ("connect", "read", "write", "timeout", "non2xx")}
        assert stats["requests"] > 1000 and not any(errors.values()), (errors, stats["output"], srv.log)
    finally:
        code, log = srv.stop()
    assert code == 0, log


@pytest.mark.parametrize("loop", LOOPS)
def test_a_killed_worker_is_replaced_within_a_second(loop: str, tmp_path: Path) -> None:
    """SIGKILL one of two workers under load: a new one serves within a second; the requests lost are at most the
    connections the killed worker held (each with at most one request in flight), and the count is printed."""
    project = Project(tmp_path, False, None)
    srv = start(f"interpreted-{loop}", project, "--workers", "2")
    conns = 16
    try:
        wait_for("two workers", lambda: count(srv, r"covet: serving ") >= 2, srv=srv)
        load = Wrk(srv.url + "/who", conns)
        try:
            time.sleep(1)
            victim = min(workers(srv))
            serving = count(srv, r"covet: serving ")
            t0 = time.monotonic()
            os.kill(victim, signal.SIGKILL)
            wait_for("a new worker", lambda: count(srv, r"covet: serving ") > serving, timeout=10)
            took = time.monotonic() - t0
            time.sleep(1)
        finally:
            stats = load.stop()
        lost = stats["read"] + stats["write"] + stats["connect"] + stats["timeout"] + stats["non2xx"]
        print(f"{loop}: new worker serving after {took * 1000:.0f} ms; {lost} of {stats['requests']} requests failed "
              f"({conns} connections)")
        assert took < 1.0, srv.log
        assert lost <= conns, stats["output"]
        assert victim not in children(srv.proc.pid)
        assert len(workers(srv)) == 2
    finally:
        code, log = srv.stop()
    assert code == 0, log


@pytest.mark.parametrize("project", TRANSPORTS, indirect=True)
def test_sigterm_answers_every_accepted_request_and_exits_in_time(request: pytest.FixtureRequest,
                                                                  project: Project) -> None:
    transport = request.node.callspec.params["project"]
    srv = start(transport, project, "--workers", "2", "--graceful-timeout", "5")
    socks: list[socket.socket] = []
    try:
        wait_for("two workers", lambda: count(srv, r"covet: serving ") >= 2, srv=srv)
        for _ in range(20):
            s = srv.connect(timeout=10)
            s.sendall(b"GET /slow?seconds=1.5 HTTP/1.1\r\nHost: x\r\n\r\n")
            socks.append(s)
        time.sleep(0.5)  # every request is in a handler now
        t0 = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        for s in socks:
            reply = read_response_simple(s, bytearray())
            assert reply.startswith(b"HTTP/1.1 200") and b'"slept":1.5' in reply, reply
        srv.proc.wait(timeout=10)
        took = time.monotonic() - t0
        assert took < 5, f"exit took {took:.1f} s"
        with pytest.raises(OSError):
            socket.create_connection((srv.host, srv.port), timeout=2)
    finally:
        for s in socks:
            s.close()
        code, log = srv.stop()
    assert code == 0, log


@pytest.mark.parametrize("project", TRANSPORTS, indirect=True)
def test_a_sync_handler_still_running_does_not_hold_the_exit_past_the_graceful_timeout(
        request: pytest.FixtureRequest, project: Project) -> None:
    """A thread cannot be stopped, and the interpreter waits for the pool's at exit: the server (a worker too: the
    same code) leaves without it."""
    transport = request.node.callspec.params["project"]
    srv = start(transport, project, "--graceful-timeout", "1")
    try:
        wait_for("the server", lambda: count(srv, r"covet: serving ") >= 1, srv=srv)
        with srv.connect(timeout=10) as stuck, srv.connect(timeout=10) as quick:
            stuck.sendall(b"GET /blocking?seconds=60 HTTP/1.1\r\nHost: x\r\n\r\n")
            quick.sendall(b"GET /blocking?seconds=0.3 HTTP/1.1\r\nHost: x\r\n\r\n")
            time.sleep(0.2)  # both are in the pool now
            t0 = time.monotonic()
            srv.proc.send_signal(signal.SIGTERM)
            assert b'"slept":0.3' in read_response_simple(quick, bytearray())  # in time: answered
            srv.proc.wait(timeout=30)
            took = time.monotonic() - t0
            try:
                assert stuck.recv(100) == b""  # not answered: closed (asyncio), or reset (io_uring)
            except ConnectionResetError:
                pass
        assert took < 5, f"exit took {took:.1f} s"
    finally:
        code, log = srv.stop()
    assert code == 0, log
    assert count(srv, r"1 sync handler call\(s\) still running after --graceful-timeout") == 1, log
    # What the stop cut short, said as it is cut.
    assert count(srv, r"graceful stop timed out after 1 s: closing 1 connections, cancelling 1 handler tasks") == 1, log


# -- limits and life cycle ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("loop", LOOPS)
def test_max_requests_replaces_a_worker_without_losing_requests(loop: str, tmp_path: Path) -> None:
    project = Project(tmp_path, False, None)
    srv = start(f"interpreted-{loop}", project, "--workers", "1", "--max-requests", "300",
                "--max-requests-jitter", "50")
    try:
        wait_for("the worker", lambda: count(srv, r"covet: serving ") >= 1)
        pids = set()
        with httpx.Client(base_url=srv.url, timeout=10) as c:
            deadline = time.monotonic() + 30
            while len(pids) < 3 and time.monotonic() < deadline:
                r = c.get("/who")
                assert r.status_code == 200
                pids.add(r.json()["pid"])
        assert len(pids) >= 3, srv.log
        assert count(srv, r"served its --max-requests") >= 2
    finally:
        code, log = srv.stop()
    assert code == 0, log


def test_more_and_fewer_workers_on_ttin_and_ttou(tmp_path: Path) -> None:
    srv = start("interpreted-uvloop", Project(tmp_path, False, None), "--workers", "1")
    try:
        wait_for("the worker", lambda: count(srv, r"covet: serving ") >= 1)
        srv.proc.send_signal(signal.SIGTTIN)
        wait_for("a second worker", lambda: len(workers(srv)) == 2 and count(srv, "covet: serving ") >= 2)
        srv.proc.send_signal(signal.SIGTTOU)
        wait_for("one worker again", lambda: len(workers(srv)) == 1)
        assert who(srv.url)["version"] == "v1"
    finally:
        code, log = srv.stop()
    assert code == 0, log


def test_a_worker_that_cannot_start_stops_the_supervisor(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("raise RuntimeError('no database')\n")
    out = subprocess.run([sys.executable, "-m", "covet", "serve", "broken:app", "--workers", "2", "--port", "0"],
                         cwd=tmp_path, env=dict(os.environ, PYTHONPATH=checkout_path(tmp_path)), capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 3, out.stderr
    assert "covet: error: a worker failed to start" in out.stderr
    assert "Traceback" not in out.stderr.split("a worker failed to start")[-1]


def test_a_new_worker_that_fails_keeps_the_old_one_serving(tmp_path: Path) -> None:
    project = Project(tmp_path, False, None)
    srv = start("interpreted-uvloop", project, "--workers", "1")
    try:
        wait_for("the worker", lambda: count(srv, r"covet: serving ") >= 1)
        (tmp_path / "workers.py").write_text("raise RuntimeError('a bad deploy')\n")
        srv.proc.send_signal(signal.SIGHUP)
        wait_for("the failed start", lambda: count(srv, r"exited with status 1 after") >= 1, srv=srv)
        assert who(srv.url)["version"] == "v1"
        project.set(2)
        srv.proc.send_signal(signal.SIGHUP)
        wait_for("the reload", lambda: count(srv, r"\(replaced\)") >= 1)
        assert who(srv.url)["version"] == "v2"
    finally:
        code, log = srv.stop()
    assert code == 0, log


def test_a_fix_sent_while_a_bad_worker_starts_is_not_called_off(tmp_path: Path) -> None:
    """The replacement from the first HUP fails after the second HUP: that reload still goes on, with the fix."""
    project = Project(tmp_path, False, None)
    srv = start("interpreted-uvloop", project, "--workers", "1")
    try:
        wait_for("the worker", lambda: count(srv, r"covet: serving ") >= 1)
        # Each process that reads this code leaves its pid (the spare may read it too, as it loads).
        (tmp_path / "workers.py").write_text(f"import os, time\nopen({str(tmp_path)!r} + f'/read.{{os.getpid()}}', 'w')"
                                             ".close()\ntime.sleep(2)\nraise RuntimeError('a bad deploy')\n")
        srv.proc.send_signal(signal.SIGHUP)
        wait_for("the bad replacement", lambda: count(srv, r"to replace pid") >= 1)
        replacement = re.findall(r"\(pid (\d+)\) to replace pid", srv.log)[0]
        wait_for("it to read its code", (tmp_path / f"read.{replacement}").exists)
        project.set(2)
        srv.proc.send_signal(signal.SIGHUP)
        wait_for("the failed start", lambda: count(srv, r"exited with status 1 after") >= 1, srv=srv)
        wait_for("the reload", lambda: count(srv, r"\(replaced\)") >= 1, srv=srv)
        assert who(srv.url)["version"] == "v2"
    finally:
        code, log = srv.stop()
    assert code == 0, log


# -- the listening socket -------------------------------------------------------------------------------------------


def serve_uds(request: pytest.FixtureRequest, project: Project, path: str,
              *extra: str) -> tuple[subprocess.Popen[str], str]:
    """workers:app on a Unix socket, on the transport ``project`` is parametrized with; and its "serving" line."""
    mode, loop = request.node.callspec.params["project"].split("-")
    env = dict(os.environ, PYTHONPATH=checkout_path(project.where))
    if mode == "interpreted":
        env["COVET_PURE_RUNTIME"] = "1"
    proc = subprocess.Popen([sys.executable, "-m", "covet", "serve", "workers:app", "--uds", path, "--loop", loop,
                             *extra, "--compiled", "require" if mode == "compiled" else "off"], cwd=project.where,
                            env=env, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    line = ""
    while "covet: serving" not in line:
        line = proc.stderr.readline()
        if not line:
            proc.kill()
            raise AssertionError("the server exited")
    return proc, line


@pytest.mark.parametrize("project", TRANSPORTS, indirect=True)
def test_unix_socket(request: pytest.FixtureRequest, project: Project, tmp_path: Path) -> None:
    path = str(tmp_path / "covet.sock")
    proc, line = serve_uds(request, project, path)
    try:
        assert f"serving unix:{path}" in line
        with httpx.Client(transport=httpx.HTTPTransport(uds=path), base_url="http://covet") as c:
            for _ in range(3):
                r = c.get("/who")
                assert r.status_code == 200 and r.json()["pid"] == proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    assert proc.returncode == 0


@pytest.mark.parametrize("workers", [[], ["--workers", "1"]], ids=["one-process", "workers"])
@pytest.mark.parametrize("project", TRANSPORTS, indirect=True)
def test_sigterm_on_a_unix_socket_answers_every_connection_it_let_in(request: pytest.FixtureRequest,
                                                                      project: Project, workers: list[str],
                                                                      tmp_path: Path) -> None:
    """Clients connecting as fast as they can, a new connection a request, while the server stops: each connection
    made is answered, none reset; after the socket's file goes, a connect fails at once."""
    path = str(tmp_path / "covet.sock")
    proc, _ = serve_uds(request, project, path, "--graceful-timeout", "5", "--no-access-log", *workers)
    answered, lost, refused = [0], [], [0]

    def client() -> None:
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(10)
            try:
                s.connect(path)
            except (FileNotFoundError, ConnectionRefusedError):
                refused[0] += 1
                s.close()
                return
            try:
                s.sendall(b"GET /who HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                got = b""
                while chunk := s.recv(65536):
                    got += chunk
                if got.startswith(b"HTTP/1.1 200 "):
                    answered[0] += 1
                else:
                    lost.append(got[:60])
            except OSError as exc:
                lost.append(repr(exc).encode())
            finally:
                s.close()

    try:
        threads = [threading.Thread(target=client) for _ in range(8)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        for t in threads:
            t.join(30)
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert lost == [] and answered[0] > 0 and refused[0] == 8, (answered, lost, refused)
    assert proc.returncode == 0 and not os.path.exists(path)


@pytest.mark.parametrize("loop", LOOPS)
def test_inherited_descriptor(loop: str, tmp_path: Path) -> None:
    Project(tmp_path, False, None)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "covet", "serve", "workers:app", "--fd", str(listener.fileno()),
                             "--loop", loop, "--compiled", "off"], cwd=tmp_path, pass_fds=(listener.fileno(),),
                            env=dict(os.environ, PYTHONPATH=checkout_path(tmp_path)), stderr=subprocess.PIPE,
                            text=True)
    listener.close()
    try:
        assert proc.stderr is not None
        line = ""
        while "covet: serving" not in line:
            line = proc.stderr.readline()
            assert line, "the server exited"
        assert f":{port} " in line
        assert who(f"http://127.0.0.1:{port}")["pid"] == proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    assert proc.returncode == 0


# -- draining --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("project", TRANSPORTS, indirect=True)
def test_draining_answers_a_request_on_a_just_idle_connection(request: pytest.FixtureRequest,
                                                              project: Project) -> None:
    """A keep-alive connection that was idle when the drain began may be sending its next request: it is answered
    (with connection: close), not reset; one idle for longer is closed within about two seconds."""
    transport = request.node.callspec.params["project"]
    srv = start(transport, project)
    try:
        old = srv.connect(timeout=10)
        old.sendall(b"GET /who HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response_simple(old, bytearray()).startswith(b"HTTP/1.1 200")
        time.sleep(2.5)  # idle for two ticks and more
        busy = srv.connect(timeout=10)
        busy.sendall(b"GET /who HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response_simple(busy, bytearray()).startswith(b"HTTP/1.1 200")
        srv.proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        busy.sendall(b"GET /who HTTP/1.1\r\nHost: x\r\n\r\n")
        reply = read_response_simple(busy, bytearray())
        assert reply.startswith(b"HTTP/1.1 200") and b"connection: close" in reply.lower(), reply
        assert busy.recv(1) == b""
        old.settimeout(5)
        assert old.recv(1) == b""  # closed at the drain's start
        srv.proc.wait(timeout=10)
    finally:
        code, log = srv.stop()
    assert code == 0, log


# -- the command line -----------------------------------------------------------------------------------------------


def one_line_error(args: list[str], cwd: Path = ROOT) -> tuple[int, str]:
    out = subprocess.run([sys.executable, "-m", "covet", *args], cwd=cwd, capture_output=True, text=True,
                         timeout=60, env=dict(os.environ, PYTHONPATH=checkout_path()))
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("covet"), out.stderr
    return out.returncode, lines[0]


@pytest.mark.parametrize("workers", [[], ["--workers", "2"]])
def test_bad_command_lines_get_one_line(workers: list[str]) -> None:
    taken = socket.create_server(("127.0.0.1", 0))
    try:
        code, line = one_line_error(["serve", "examples.hello:app", "--port", str(taken.getsockname()[1]), *workers])
        assert code == 1 and "Address already in use" in line, line
    finally:
        taken.close()
    code, line = one_line_error(["serve", "examples.hello:app", "--loop", "epoll", *workers])
    assert code == 2 and "invalid choice: 'epoll'" in line, line
    code, line = one_line_error(["serve", "examples.hello:app", "--workers", "many"])
    assert code == 2 and "--workers" in line, line
    for flag, value in (("--workers", "-3"), ("--max-requests", "-1"), ("--port", "99999"), ("--port", "65536"),
                        ("--backlog", "0")):
        code, line = one_line_error(["serve", "examples.hello:app", flag, value, *workers])
        assert code == 2 and flag in line, line
    code, line = one_line_error(["serve", "examples.hello:app", "--uds", "/proc/version", *workers])
    assert code == 1 and "not a socket" in line, line
    code, line = one_line_error(["serve", "examples.hello:app", "--fd", "999", *workers])
    assert code == 1 and "--fd 999" in line, line


@pytest.mark.parametrize("project", TRANSPORTS, indirect=True)
@pytest.mark.parametrize("workers", [[], ["--workers", "2"]], ids=["one-process", "two-workers"])
def test_sigterm_under_load_loses_no_accepted_request(request: pytest.FixtureRequest, project: Project,
                                                      workers: list[str]) -> None:
    """wrk at full load, then SIGTERM: every request on a connection the kernel had accepted is answered, and the
    server exits within --graceful-timeout. One wrk keeps its connections alive; the other opens one per request, so
    some are always waiting in the listening socket's queue, which closing it would reset (before stop 30, 1-5 of
    them on uvloop and 25-64 on asyncio, in 4 stops of 6). wrk goes on until it is stopped: its reconnections after
    the exit are refused, and this wrk counts a refused connection as a write error, so only read errors, timeouts
    and non-2xx answers would be requests lost."""
    transport = request.node.callspec.params["project"]
    srv = start(transport, project, *workers, "--graceful-timeout", "5")
    try:
        wait_for("the workers", lambda: count(srv, r"covet: serving ") >= (2 if workers else 1), srv=srv)
        loads = [Wrk(srv.url + "/who", conns=16), Wrk(srv.url + "/who", conns=32, close=True)]
        try:
            time.sleep(1)
            t0 = time.monotonic()
            srv.proc.send_signal(signal.SIGTERM)
            srv.proc.wait(timeout=15)
            took = time.monotonic() - t0
        finally:
            stats = [load.stop() for load in loads]
        for kind, got in zip(("keep-alive", "connection: close"), stats, strict=True):
            lost = {k: got[k] for k in ("read", "timeout", "non2xx")}
            print(f"{transport} {workers} {kind}: exit after {took:.2f} s; {got['requests']} requests, refused "
                  f"afterwards {got['connect'] + got['write']}, {lost}")
            assert not any(lost.values()), (kind, lost, got["output"])
        assert took < 5, srv.log
        assert "ERROR" not in srv.log, srv.log
    finally:
        code, log = srv.stop()
    assert code == 0, log


def test_refusing_new_connections_drops_only_first_syns() -> None:
    """The filter a graceful stop sets: a new client's SYN is dropped, while a connection made before it goes on
    sending, and once the socket closes the client is refused rather than left waiting."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    before = socket.create_connection(("127.0.0.1", port))
    before.sendall(b"one")
    assert refuse_new_connections(listener)
    late = socket.socket()
    late.settimeout(0.5)
    with pytest.raises(TimeoutError):
        late.connect(("127.0.0.1", port))
    late.close()
    taken, _ = listener.accept()
    assert taken.recv(16) == b"one"
    before.sendall(b"two")
    assert taken.recv(16) == b"two"
    listener.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5)
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    assert not refuse_new_connections(unix)  # (unbound: no file to remove, no SYNs to drop)
    for s in (unix, taken, before):
        s.close()


def test_refusing_new_connections_on_a_unix_socket_removes_its_file_only(tmp_path: Path) -> None:
    """On a Unix socket the stop removes the socket's file: a new client fails at once, one already queued is
    taken and served; and a file another server has made at the path since is never removed."""
    path = str(tmp_path / "app.sock")
    spec = Listen(uds=path)
    listener = open_listener(spec)
    queued = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    queued.connect(path)
    queued.sendall(b"one")
    assert refuse_new_connections(listener) and not os.path.exists(path)
    late = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with pytest.raises(FileNotFoundError):
        late.connect(path)
    late.close()
    listener.setblocking(True)
    taken, _ = listener.accept()
    assert taken.recv(16) == b"one"
    taken.sendall(b"answered")
    assert queued.recv(16) == b"answered"
    # A new server at the same path, before this one has closed: its file stays.
    other = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    other.bind(path)
    other.listen()
    close_listener(listener, spec)
    assert os.path.exists(path) and not refuse_new_connections(other)
    for s in (other, taken, queued):
        s.close()


# -- what a hostile review found ------------------------------------------------------------------------------------


def test_workers_orphaned_as_they_start_drain_and_exit(tmp_path: Path) -> None:
    """The supervisor killed just after it started a worker: that worker must not take init for its supervisor."""
    srv = start("interpreted-uvloop", Project(tmp_path, False, None), "--workers", "2")
    wait_for("two workers", lambda: count(srv, r"covet: serving ") >= 2, srv=srv)
    kids = children(srv.proc.pid)
    srv.proc.send_signal(signal.SIGHUP)
    time.sleep(0.15)
    kids |= children(srv.proc.pid)
    srv.proc.kill()
    srv.proc.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in kids):
        time.sleep(0.1)
    alive = [pid for pid in kids if Path(f"/proc/{pid}").exists()]
    for pid in alive:
        os.kill(pid, signal.SIGKILL)
    assert not alive, srv.log


def test_a_reload_during_a_slow_start_ends_on_the_last_code(tmp_path: Path) -> None:
    project = Project(tmp_path, False, None)
    srv = Server("workers:app", "uvloop", "--workers", "1", "--compiled", "off", cwd=tmp_path, pure=True,
                 env_extra={"WORKERS_SLOW_IMPORT": "1.5"})
    try:
        wait_for("the worker", lambda: count(srv, r"covet: serving ") >= 1, srv=srv)
        project.set(2)
        srv.proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)  # the replacement is importing v2
        project.set(3)
        srv.proc.send_signal(signal.SIGHUP)
        wait_for("v3", lambda: who(srv.url)["version"] == "v3", timeout=30, srv=srv)
    finally:
        code, log = srv.stop()
    assert code == 0, log


def test_killing_the_spare_does_not_slow_the_next_replacement(tmp_path: Path) -> None:
    srv = start("interpreted-uvloop", Project(tmp_path, False, None), "--workers", "1")
    try:
        for n in range(1, 4):
            wait_for("a spare", lambda n=n: count(srv, r"started spare") >= n and
                     len(children(srv.proc.pid) - workers(srv)) == 1, srv=srv)
            time.sleep(1.2)  # it has loaded: its death is not a failing start
            (spare,) = children(srv.proc.pid) - workers(srv)
            os.kill(spare, signal.SIGKILL)
        assert "waiting" not in srv.log, srv.log
    finally:
        code, log = srv.stop()
    assert code == 0, log


def test_a_failed_first_start_says_only_that(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "covet", "serve", "nosuchmodule:app", "--workers", "2", "--port", "0"],
                         cwd=tmp_path, env=dict(os.environ, PYTHONPATH=checkout_path(tmp_path)), capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 3, out.stderr
    assert "did not drain" not in out.stderr, out.stderr


def test_a_unix_socket_file_goes_with_the_server_and_a_live_one_is_never_taken(tmp_path: Path) -> None:
    Project(tmp_path, False, None)
    path = tmp_path / "app.sock"
    for workers in ([], ["--workers", "1"]):
        proc = subprocess.Popen([sys.executable, "-m", "covet", "serve", "workers:app", "--uds", str(path),
                                 "--compiled", "off", *workers], cwd=tmp_path,
                                env=dict(os.environ, PYTHONPATH=checkout_path(tmp_path)), stderr=subprocess.PIPE,
                                text=True)
        assert proc.stderr is not None
        while "covet: serving" not in proc.stderr.readline():
            assert proc.poll() is None
        # A second server on the same path is refused, and the first keeps its socket.
        code, line = one_line_error(["serve", "workers:app", "--uds", str(path), "--compiled", "off"], cwd=tmp_path)
        assert code == 1 and "another server is listening" in line, line
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(path)), base_url="http://covet") as c:
            assert c.get("/who").status_code == 200
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
        assert proc.returncode == 0
        assert not path.exists()
