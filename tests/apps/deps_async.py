"""An async generator provider in a module without handlers: the build compiles it as a helper of deps.py, the
generator lifted out and run interpreted (mypyc cannot compile async generators)."""

from __future__ import annotations

from collections.abc import AsyncIterator

events: list[str] = []


async def asession() -> AsyncIterator[str]:
    events.append("aopen")
    yield "a"
    events.append("aclose")
