"""Shared fixtures: real `covet serve` subprocesses on free ports, one per I/O loop."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
LOOPS = ["uvloop", "asyncio"]
_LINE = re.compile(r"covet: serving http://([^ ]+):(\d+) \(mode=(\w+), loop=(\w+)\)")


class Server:
    """A running `covet serve` subprocess."""

    def __init__(self, target: str, loop: str, *extra: str, cwd: Path = ROOT) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(cwd), str(ROOT), env.get("PYTHONPATH")]))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "covet", "serve", target, "--port", "0", "--loop", loop, *extra],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        deadline = time.monotonic() + 30
        assert self.proc.stderr is not None
        while True:
            line = self.proc.stderr.readline()
            if not line:
                raise RuntimeError(f"server exited ({self.proc.wait()}):\n" + "".join(self.lines))
            self.lines.append(line)
            m = _LINE.search(line)
            if m:
                self.host, self.port = m.group(1), int(m.group(2))
                self.mode, self.loop = m.group(3), m.group(4)
                break
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start:\n" + "".join(self.lines))
        self.url = f"http://{self.host}:{self.port}"
        # Keep draining stderr, so a chatty server never blocks on a full pipe.
        self._drain = threading.Thread(target=self._read_stderr, daemon=True)
        self._drain.start()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    @property
    def log(self) -> str:
        return "".join(self.lines)

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


@pytest.fixture(scope="session", params=LOOPS)
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    """The example app served on each I/O loop."""
    srv = Server("examples.hello:app", request.param)
    yield srv
    code, log = srv.stop()
    assert code == 0, log


class InProcess:
    """TestClient with httpx-like calls, so one test body runs on every transport."""

    def __init__(self) -> None:
        from covet.testing import TestClient
        from examples.hello import app

        self.client = TestClient(app)
        self.client.__enter__()

    def request(self, method: str, url: str, **kw: object):  # type: ignore[no-untyped-def]
        return self.client.request(method, url, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="session", params=["inprocess", *LOOPS])
def client(request: pytest.FixtureRequest) -> Iterator[object]:
    """The example app behind every transport: in-process TestClient and a real server per loop."""
    if request.param == "inprocess":
        sys.path.insert(0, str(ROOT))
        ip = InProcess()
        yield ip
        ip.client.__exit__(None, None, None)
        return
    srv = Server("examples.hello:app", request.param)
    with httpx.Client(base_url=srv.url, timeout=10) as c:
        yield c
    code, log = srv.stop()
    assert code == 0, log


def recv_until_closed(sock: socket.socket, timeout: float = 5.0) -> bytes:
    sock.settimeout(timeout)
    chunks = []
    while True:
        try:
            data = sock.recv(65536)
        except (ConnectionResetError, TimeoutError, socket.timeout):
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)
