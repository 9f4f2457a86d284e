"""covet.broadcast: chat rooms over WebSockets (tests/apps/chat.py), fanned out in one process (memory://) and across
workers through a real redis-server, on every transport, interpreted and compiled."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from conftest import APPS, TRANSPORTS, Server, app_server, build_project
from covet.broadcast import Broadcast, SubscriberOverflow


@pytest.fixture(scope="session")
def built_chat(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_project(tmp_path_factory, APPS / "chat.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_redis(port: int, where: Path) -> subprocess.Popen[bytes]:
    """A real redis-server on ``port``, answering PING."""
    # A failure, not a skip: `make test` installs redis-server (make system-deps).
    assert shutil.which("redis-server"), "redis-server is not installed: `make system-deps` installs it"
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(where)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as c:
                c.sendall(b"PING\r\n")
                if c.recv(16).startswith(b"+PONG"):
                    return proc
        except OSError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, "redis-server did not start"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on a free port, for this module."""
    port = free_port()
    proc = start_redis(port, tmp_path_factory.mktemp("redis"))
    yield f"redis://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


def join(stack: contextlib.ExitStack, srv: Server, room: str) -> tuple[ClientConnection, int]:
    """A member of ``room`` (closed with ``stack``): its connection, and the pid of the worker it reached (once
    subscribed)."""
    ws = stack.enter_context(connect(f"ws://{srv.host}:{srv.port}/rooms/{room}", open_timeout=10))
    ready = json.loads(ws.recv(timeout=10))
    return ws, int(ready["ready"])


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_one_process_memory(request: pytest.FixtureRequest, transport: str) -> None:
    srv = app_server(request, transport, "chat", "built_chat")
    try:
        with contextlib.ExitStack() as stack:
            a, _ = join(stack, srv, "lobby")
            b, _ = join(stack, srv, "lobby")
            other, _ = join(stack, srv, "elsewhere")
            a.send("hello from a")
            assert a.recv(timeout=5) == "hello from a"
            assert b.recv(timeout=5) == "hello from a"
            with pytest.raises(TimeoutError):
                other.recv(timeout=0.3)  # another room hears nothing
    finally:
        code, log = srv.stop()
    assert code == 0, log


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_across_two_workers_through_redis(request: pytest.FixtureRequest, transport: str, redis_url: str) -> None:
    """Members connected to both workers; a message published on one worker (over HTTP) reaches all of them."""
    srv = app_server(request, transport, "chat", "built_chat", "--workers", "2", env={"BROADCAST_URL": redis_url})
    members: list[tuple[ClientConnection, int]] = []
    try:
        with contextlib.ExitStack() as stack:
            deadline = time.monotonic() + 30
            while len({pid for _, pid in members}) < 2 or len(members) < 6:  # the kernel picks the worker
                assert time.monotonic() < deadline, f"every member reached one worker: {members}"
                members.append(join(stack, srv, "blue"))
            for n in range(5):
                r = httpx.post(f"{srv.url}/rooms/blue", params={"message": f"news {n}"}, timeout=10)
                assert r.status_code == 200, srv.log
                for ws, _ in members:
                    assert ws.recv(timeout=5) == f"news {n}"
            # A member's own message, published by whichever worker holds it, reaches the other worker's members.
            members[0][0].send("from a member")
            for ws, _ in members:
                assert ws.recv(timeout=5) == "from a member"
    finally:
        code, log = srv.stop()
    assert code == 0, log


def test_a_subscriber_that_falls_behind_overflows() -> None:
    """Past max_queue unread messages a subscriber raises SubscriberOverflow (bounded, and nothing lost silently);
    the others are served on."""

    async def main() -> None:
        broadcast = Broadcast("memory://", max_queue=8)
        await broadcast.connect()
        async with broadcast.subscribe("c") as slow, broadcast.subscribe("c") as fast:
            got: list[str] = []
            for n in range(20):
                await broadcast.publish("c", str(n))
                got.append((await fast.get()).message)
            assert got == [str(n) for n in range(20)]
            with pytest.raises(SubscriberOverflow):
                await slow.get()
        await broadcast.disconnect()

    asyncio.run(main())


def test_subscribers_hear_again_once_redis_is_back(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Redis restarted under a subscriber: publishing fails (loudly) while it is down, and once it is back the
    subscription is renewed by itself and messages flow again. Pub/sub keeps nothing, so what was published in
    between is gone (docs/websockets.md)."""
    port = free_port()
    redis = start_redis(port, tmp_path)

    async def main() -> None:
        nonlocal redis
        broadcast = Broadcast(f"redis://127.0.0.1:{port}")
        await broadcast.connect()
        try:
            async with broadcast.subscribe("c") as sub:
                await broadcast.publish("c", "before")
                assert (await asyncio.wait_for(sub.get(), 5)).message == "before"
                redis.kill()
                redis.wait(10)
                with pytest.raises(Exception, match=r"(?i)connect"):
                    await broadcast.publish("c", "while down")
                redis = await asyncio.to_thread(start_redis, port, tmp_path)
                deadline = time.monotonic() + 15
                while True:
                    with contextlib.suppress(Exception):
                        await broadcast.publish("c", "after")
                    with contextlib.suppress(asyncio.TimeoutError):
                        if (await asyncio.wait_for(sub.get(), 0.5)).message == "after":
                            break
                    assert time.monotonic() < deadline, "the subscriber never heard from Redis again"
        finally:
            await broadcast.disconnect()

    try:
        asyncio.run(main())
    finally:
        redis.kill()
        redis.wait(10)
    said = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "covet.broadcast"]
    assert [level for level, _ in said] == ["ERROR", "WARNING"], said  # one line each way, however long it was down
    assert "Redis is back" in said[1][1]


def test_misuse() -> None:
    with pytest.raises(ValueError, match="memory:// or redis://"):
        Broadcast("kafka://x")

    async def main() -> None:
        b = Broadcast()
        with pytest.raises(RuntimeError, match=r"lifespan=broadcast\.lifespan"):
            await b.publish("c", "m")

    asyncio.run(main())
