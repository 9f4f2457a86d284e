"""The app of tests/test_current_task.py: handlers that need to run in a Task, as every asyncio library assumes."""

from __future__ import annotations

import asyncio

import anyio

from covet import Covet

app = Covet()


@app.get("/timeout")
async def timeout() -> dict[str, bool]:
    """asyncio.timeout() in the handler's first step (redis-py's and aiohttp's timeouts work the same way)."""
    async with asyncio.timeout(5):
        pass
    return {"task": asyncio.current_task() is not None}


@app.get("/expires")
async def expires() -> dict[str, str]:
    """A timeout entered in the first step that expires after the handler suspended: it cancels the right Task."""
    try:
        async with asyncio.timeout(0.05):
            await asyncio.sleep(5)
    except TimeoutError:
        return {"timed": "out"}
    return {"timed": "not"}


@app.get("/nested")
async def nested() -> dict[str, str]:
    """A timeout that does not expire, around a suspension, then one that does."""
    async with asyncio.timeout(5):
        await asyncio.sleep(0)
    try:
        async with asyncio.timeout(0.01):
            await asyncio.sleep(5)
    except TimeoutError:
        return {"second": "timed out"}
    return {"second": "not"}


@app.get("/anyio")
async def anyio_scope() -> dict[str, bool]:
    """anyio's cancel scopes (FastAPI's dependencies run under anyio) in the first step and across a suspension."""
    with anyio.move_on_after(0.05) as scope:
        await anyio.sleep(5)
    with anyio.fail_after(5):
        pass
    return {"cancelled": scope.cancelled_caught}
