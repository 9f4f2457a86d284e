"""An async generator provider: mypyc cannot compile async generators, so it lives in a module without handlers,
which the build imports rather than compiles."""

from __future__ import annotations

from collections.abc import AsyncIterator

events: list[str] = []


async def asession() -> AsyncIterator[str]:
    events.append("aopen")
    yield "a"
    events.append("aclose")
