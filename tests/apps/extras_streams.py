"""The async generators of tests/apps/extras.py: mypyc compiles no async generators, so they live in a module
without handlers, which the build imports rather than compiles (as docs/dependencies.md advises)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from covet import ServerSentEvent

events: list[str] = []


async def ticks(n: int) -> AsyncIterator[ServerSentEvent]:
    try:
        for i in range(n):
            yield ServerSentEvent({"tick": i}, event="tick", id=str(i))
            await asyncio.sleep(0.01)
        while True:  # then nothing, until the client goes away
            await asyncio.sleep(3600)
    finally:
        events.append("ticks closed")


async def endless() -> AsyncIterator[str]:
    try:
        while True:
            yield "."
            await asyncio.sleep(0.01)
    finally:
        events.append("endless closed")
