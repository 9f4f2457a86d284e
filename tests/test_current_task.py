"""A handler runs in a Task as far as it can tell (asyncio.current_task()), including during the first step that
CovetPy runs on the transport's stack: asyncio.timeout(), anyio's scopes, redis-py and aiohttp need one. On every
transport, interpreted and compiled."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import APPS, TRANSPORTS, Server, app_server, build_project


@pytest.fixture(scope="session")
def built_current_task(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_project(tmp_path_factory, APPS / "current_task.py")


@pytest.fixture(scope="module", params=TRANSPORTS)
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    srv = app_server(request, request.param, "current_task", "built_current_task")
    yield srv
    code, log = srv.stop()
    assert code == 0, log


@pytest.mark.parametrize(("path", "answer"), [
    ("/timeout", {"task": True}),
    ("/expires", {"timed": "out"}),
    ("/nested", {"second": "timed out"}),
    ("/anyio", {"cancelled": True}),
])
def test_handlers_run_in_a_task(server: Server, path: str, answer: dict[str, object]) -> None:
    r = httpx.get(server.url + path, timeout=10)
    assert (r.status_code, r.json()) == (200, answer), server.log
