"""The app of tests/test_supervisor.py: which worker answered, which code it runs, and a slow route."""

from __future__ import annotations

import asyncio
import os
import time

from covet import Covet

VERSION = "v0"
time.sleep(float(os.environ.get("WORKERS_SLOW_IMPORT", "0")))  # a slow import or start-up, for reload tests

app = Covet()


@app.get("/who")
async def who() -> dict[str, object]:
    return {"pid": os.getpid(), "version": VERSION}


@app.get("/slow")
async def slow(seconds: float = 1.0) -> dict[str, object]:
    await asyncio.sleep(seconds)
    return {"pid": os.getpid(), "slept": seconds}


@app.get("/blocking", blocking=True)
def blocking(seconds: float = 1.0) -> dict[str, object]:
    time.sleep(seconds)  # in the thread pool
    return {"pid": os.getpid(), "slept": seconds}


@app.get("/boom")
async def boom() -> dict[str, object]:
    raise ValueError("the handler failed on purpose")
