"""The app of tests/test_health.py: a readiness check the test switches through a file, and a /healthz of its own
in the variant that declares one."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from covet import Covet

app = Covet()
FLAG = Path(os.environ.get("PROBE_FLAG", "/nonexistent"))


@app.on_startup
async def warm_up() -> None:
    await asyncio.sleep(float(os.environ.get("PROBE_STARTUP", "0")))


@app.readiness_check
async def database() -> bool:
    mode = FLAG.read_text().strip() if FLAG.exists() else "ok"
    if mode == "raise":
        raise ConnectionError("the database is down")
    if mode == "hang":
        await asyncio.sleep(60)
    return mode == "ok"


@app.get("/slow")
async def slow() -> dict[str, str]:
    await asyncio.sleep(2)
    return {"ok": "yes"}
