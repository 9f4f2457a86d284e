"""What tests/apps/hardening.py uses but cannot compile: an async generator (mypyc compiles none), and a pydantic
model (mypyc 2.4.1 fails on a BaseModel subclass in a compiled module: ``CPyModule_pydantic___main``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from pydantic import BaseModel


async def chunks() -> AsyncIterator[bytes]:
    yield b"one,"
    yield b"two"


class ModelOut(BaseModel):
    name: str


async def numbers() -> AsyncIterator[object]:
    yield b"ok,"
    yield 5  # a count where bytes were meant


async def sse_events() -> AsyncIterator[str]:
    import asyncio

    for i in range(3):
        await asyncio.sleep(0.01)
        yield f"data: event {i}\n\n"


ENDLESS = {"closed": 0}  # endless streams whose source was closed (the client reset, or left)


async def endless() -> AsyncIterator[bytes]:
    import asyncio

    try:
        while True:
            yield b"x" * 16384
            await asyncio.sleep(0.005)
    finally:
        ENDLESS["closed"] += 1
