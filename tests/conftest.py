"""Shared fixtures: real `covet serve` subprocesses on free ports, one per I/O loop."""

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

ROOT = Path(__file__).resolve().parent.parent
LOOPS = ["uring", "uvloop", "asyncio"]
_LINE = re.compile(r"covet: serving https?://([^ ]+):(\d+) \(handlers=(\w+)(?:, [^)]*?)?, loop=(\w+), "
                   r"server runtime=(\w+), http2=(\w+)[^)]*\)")


class Server:
    """A running `covet serve` subprocess."""

    def __init__(self, target: str, loop: str, *extra: str, cwd: Path = ROOT, pure: bool = False,
                 env_extra: dict[str, str] | None = None, preexec_fn: Callable[[], None] | None = None,
                 command: str = "serve", measured: bool = True) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1", **(env_extra or {}))
        if not measured:  # out of `make test`'s line coverage (its subprocess hook reads this variable)
            env.pop("COVERAGE_PROCESS_CONFIG", None)
        if env.get("COVET_TEST_SERVER_PRELOAD"):
            # native/tests/asan_server.sh: the sanitizer's runtime in the servers only, not in curl or the tests.
            env["LD_PRELOAD"] = env["COVET_TEST_SERVER_PRELOAD"]
        if pure:
            env["COVET_PURE_RUNTIME"] = "1"  # the pure-Python runtime, even where compiled modules exist
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(cwd), str(ROOT), env.get("PYTHONPATH")]))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "covet", command, target, "--port", "0", "--loop", loop, *extra],
            cwd=cwd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=preexec_fn,
        )
        self.lines: list[str] = []
        self._started = threading.Event()
        self._match: re.Match[str] | None = None
        # One thread reads stderr for the server's whole life, so a chatty server never blocks.
        self._drain = threading.Thread(target=self._read_stderr, daemon=True)
        self._drain.start()
        if not self._started.wait(60) or self._match is None:
            self.proc.kill()
            self._drain.join(5)
            raise RuntimeError(f"server did not start (exit {self.proc.poll()}):\n" + "".join(self.lines))
        m = self._match
        self.host, self.port = m.group(1), int(m.group(2))
        self.mode, self.loop, self.runtime = m.group(3), m.group(4), m.group(5)
        self.framing = m.group(6)  # what frames HTTP/2: nghttp2, or h2 (COVET_H2_FRAMING=h2, or a build without it)
        self.scheme = "https" if "serving https://" in m.group(0) else "http"
        self.url = f"{self.scheme}://{self.host}:{self.port}"

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)
            if self._match is None:
                m = _LINE.search(line)
                if m:
                    self._match = m
                    self._started.set()
        self._started.set()

    @property
    def log(self) -> str:
        return "".join(self.lines)

    def logged(self, *texts: str, timeout: float = 5.0) -> bool:
        """Whether any of ``texts`` reaches the log within ``timeout``: a server writes its log after it has
        answered, so a test that has its answer may still be ahead of the line."""
        deadline = time.monotonic() + timeout
        while not any(t in self.log for t in texts):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def connect(self, timeout: float = 5.0) -> socket.socket:
        s = socket.create_connection((self.host, self.port), timeout=timeout)
        return s

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> tuple[int, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._drain.join(5)
        return self.proc.returncode, self.log


def checkout_path(*first: Path) -> str:
    """PYTHONPATH for a `covet` subprocess: ``first``, then this checkout, so that the child runs this checkout's
    covet (and is measured by `make test`'s coverage) even where the venv's editable install points elsewhere."""
    return os.pathsep.join([*map(str, first), str(ROOT)])


# Every transport the example app is tested on: mode (interpreted or compiled) x I/O loop.
TRANSPORTS = [f"{mode}-{loop}" for mode in ("interpreted", "compiled") for loop in LOOPS]
# HTTP/2's tests: every transport with nghttp2's framing, and h2's (the fallback: pure Python whatever the mode, and
# test_h2_core runs all of it) on one.
H2_TRANSPORTS = [*TRANSPORTS, "interpreted-asyncio+h2"]


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str, make: Callable[[Path], None]) -> Path:
    """The directory ``name``, filled by ``make`` once per run: under pytest-xdist, by the first worker to ask, while
    the others wait for it (builds are most of the suite's CPU)."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the workers' common directory
    where = root / name
    with open(f"{where}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = where / ".made"
        if not done.exists():
            shutil.rmtree(where, ignore_errors=True)
            where.mkdir()
            make(where)
            done.touch()
    return where


def build_project(tmp_path_factory: pytest.TempPathFactory, source: Path, *others: Path) -> Path:
    """``source`` (an app module, with ``others`` beside it: files, or directories such as templates/) as a project
    of its own, compiled with `covet build` as ``<stem>:app``; made once per run, whichever worker asks first."""

    def make(proj: Path) -> None:
        for path in (source, *others):
            if path.is_dir():
                shutil.copytree(path, proj / path.name)
            else:
                shutil.copy(path, proj / path.name)
        env = dict(os.environ, PYTHONPATH=checkout_path(proj))
        out = subprocess.run([sys.executable, "-m", "covet", "build", f"{source.stem}:app"], cwd=proj, env=env,
                             capture_output=True, text=True, timeout=900)
        assert out.returncode == 0, out.stdout + out.stderr

    return built_once(tmp_path_factory, "-".join(["built", *(p.stem for p in (source, *others))]), make)


@pytest.fixture(scope="session")
def built_hello(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """examples/hello.py as a project of its own, compiled once with `covet build`."""
    return build_project(tmp_path_factory, ROOT / "examples" / "hello.py")


APPS = Path(__file__).resolve().parent / "apps"


@pytest.fixture(scope="session")
def built_forms(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/apps/forms.py compiled (test_forms.py, test_uploads.py)."""
    return build_project(tmp_path_factory, APPS / "forms.py")


@pytest.fixture(scope="session")
def built_hardening(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/apps/hardening.py compiled (test_hardening.py, test_http2.py)."""
    return build_project(tmp_path_factory, APPS / "hardening.py", APPS / "hardening_support.py")


@pytest.fixture(scope="session")
def static_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory tests/apps/hardening.py serves under /static (COVET_TEST_STATIC)."""
    root = tmp_path_factory.mktemp("hardening-static")
    (root / "hello.txt").write_bytes(b"hello, static world")
    return root


def app_server(request: pytest.FixtureRequest, transport: str, module: str, built_fixture: str, *extra: str,
               env: dict[str, str] | None = None, glue_only: bool = False) -> Server:
    """tests/apps/<module>.py on ``transport`` ("compiled-uvloop", ...); compiled from the ``built_fixture`` build.
    ``glue_only``: the build keeps the app's module interpreted, and every route's glue is compiled, calling it."""
    transport, _, framing = transport.partition("+")
    if framing:  # "compiled-uring+h2": HTTP/2 framed by h2, where nghttp2 would be
        env = dict(env or {}, COVET_H2_FRAMING=framing)
    mode, loop = transport.split("-")
    if mode == "compiled" and glue_only:
        built = request.getfixturevalue(built_fixture)
        srv = Server(f"{module}:app", loop, *extra, cwd=built, env_extra=env)
        assert (srv.mode, srv.runtime) == ("compiled", "compiled"), srv.log
        assert re.search(r"handlers=compiled, 0/(\d+) routes compiled, \1/\1 compiled glue", srv.log), srv.log
        return srv
    if mode == "compiled":
        built = request.getfixturevalue(built_fixture)
        # Every handler module of the test app compiled (CovetPy's own, StaticFiles, run interpreted by design), or
        # the compiled transports would be testing interpreted code.
        manifest = json.loads((built / ".covet" / "build" / "covet-manifest.json").read_text())
        interpreted = [m for m in manifest["not_compiled"] if m["module"].split(".")[0] != "covet"]
        assert not interpreted, interpreted
        srv = Server(f"{module}:app", loop, "--compiled", "require", *extra, cwd=built, env_extra=env)
        assert (srv.mode, srv.runtime) == ("compiled", "compiled"), srv.log
        return srv
    return Server(f"{module}:app", loop, *extra, cwd=APPS, pure=True, env_extra=env)


def app_client(request: pytest.FixtureRequest, module: str, built_fixture: str, *extra: str,
               env: dict[str, str] | None = None, config: object = None, glue_only: bool = False) -> Iterator[object]:
    """A client of tests/apps/<module>.py for a fixture parametrized over "inprocess" and TRANSPORTS: the in-process
    TestClient, or httpx on a real server. ``client.server`` is the Server (None in process)."""
    if request.param == "inprocess":
        import importlib

        from covet.testing import TestClient

        os.environ.update(env or {})
        sys.path.insert(0, str(APPS))
        app = importlib.import_module(module).app
        # As httpx.Client on a server: an unhandled exception is a 500, not raised in the test; redirects are read.
        with TestClient(app, raise_server_exceptions=False, follow_redirects=False,
                        **({"config": config} if config is not None else {})) as c:
            c.server = None  # type: ignore[attr-defined]
            yield c
        return
    srv = app_server(request, request.param, module, built_fixture, *extra, env=env, glue_only=glue_only)
    with httpx.Client(base_url=srv.url, timeout=20) as client:
        client.server = srv  # type: ignore[attr-defined]
        yield client
    code, log = srv.stop()
    assert code == 0, log


def hello_server(request: pytest.FixtureRequest, transport: str, *extra: str,
                 env_extra: dict[str, str] | None = None) -> Server:
    """The example app on ``transport`` ("compiled-uvloop", ...)."""
    mode, loop = transport.split("-")
    if mode == "compiled":
        built = request.getfixturevalue("built_hello")
        srv = Server("hello:app", loop, "--compiled", "require", *extra, cwd=built, env_extra=env_extra)
        # The app's build and the runtime's compiled modules are what is under test.
        assert (srv.mode, srv.runtime) == ("compiled", "compiled"), srv.log
        return srv
    srv = Server("examples.hello:app", loop, *extra, pure=True, env_extra=env_extra)
    assert (srv.mode, srv.runtime) == ("interpreted", "interpreted"), srv.log
    return srv


@pytest.fixture(scope="session", params=TRANSPORTS)
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    """The example app served on each mode and I/O loop."""
    srv = hello_server(request, request.param)
    yield srv
    code, log = srv.stop()
    assert code == 0, log


class InProcess:
    """TestClient with httpx-like calls, so one test body runs on every transport."""

    def __init__(self) -> None:
        from covet.testing import TestClient
        from examples.hello import app

        # As httpx.Client on a server: a 500 rather than the exception, and redirects read rather than followed.
        self.client = TestClient(app, raise_server_exceptions=False, follow_redirects=False)
        self.client.__enter__()

    def request(self, method: str, url: str, **kw: object):  # type: ignore[no-untyped-def]
        return self.client.request(method, url, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="session", params=["inprocess", *TRANSPORTS])
def client(request: pytest.FixtureRequest) -> Iterator[object]:
    """The example app behind every transport: in-process TestClient, and real servers per mode and loop."""
    if request.param == "inprocess":
        sys.path.insert(0, str(ROOT))
        ip = InProcess()
        yield ip
        ip.client.__exit__(None, None, None)
        return
    srv = hello_server(request, request.param)
    with httpx.Client(base_url=srv.url, timeout=10) as c:
        yield c
    code, log = srv.stop()
    assert code == 0, log


def read_response_simple(sock: socket.socket, buf: bytearray, chunked: bool = False) -> bytes:
    """One response off ``sock``, head and body: Content-Length framed, or chunked up to the last chunk."""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError(f"closed mid-response: {bytes(buf)!r}")
        buf += data
    end = buf.index(b"\r\n\r\n") + 4
    if chunked:
        while b"\r\n0\r\n\r\n" not in buf[end - 2:]:
            data = sock.recv(65536)
            if not data:
                raise ConnectionError("closed mid-body")
            buf += data
        stop = buf.index(b"\r\n0\r\n\r\n", end - 2) + 7
    else:
        m = re.search(rb"(?i)\r\ncontent-length: *(\d+)", bytes(buf[:end]))
        stop = end + (int(m.group(1)) if m else 0)
        while len(buf) < stop:
            data = sock.recv(65536)
            if not data:
                raise ConnectionError("closed mid-body")
            buf += data
    out = bytes(buf[:stop])
    del buf[:stop]
    return out


def recv_until_closed(sock: socket.socket, timeout: float = 5.0) -> bytes:
    sock.settimeout(timeout)
    chunks = []
    while True:
        try:
            data = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


def exchange(srv: Server, raw: bytes, timeout: float = 5.0) -> bytes:
    """Send ``raw`` on a fresh connection (any worker may take it); everything answered until the server closes
    (or ``timeout`` passes without a byte)."""
    with srv.connect() as s:
        s.sendall(raw)
        s.settimeout(timeout)
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
        except (TimeoutError, ConnectionResetError):
            pass
        return out
