"""Async generators in a module that `covet build` compiles (tests/test_asyncgens.py): a lifespan under
asynccontextmanager, a yield dependency that awaits in its finally, streaming handlers, beside compiled code.
mypyc compiles none of them; the build lifts them out and compiles the rest of the module. The layout is part of
the test: one-line generators, a decorator whose expression starts a line after its @, a form feed line."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from covet import Covet, Depends

events: list[str] = []


@asynccontextmanager
async def lifespan(app: Covet) -> AsyncIterator[None]:
    events.append("started")
    yield
    events.append("stopped")


app = Covet(lifespan=lifespan)


async def session() -> AsyncIterator[str]:
    events.append("open")
    try:
        yield "db"
    finally:
        await asyncio.sleep(0)  # (an await in a finally: mypyc 2.4 compiles that wrongly, and this one is not compiled)
        events.append("close")


def squares(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


def compiled() -> bool:
    return type(squares).__name__ != "function"  # mypyc's functions are built-in ones


@app.get("/sum/{n}")
async def sum_route(n: int, db: Annotated[str, Depends(session)]) -> dict[str, object]:
    return {"db": db, "total": squares(n), "compiled": compiled()}


@app.get("/stream/{n}")
async def stream(n: int) -> AsyncIterator[dict[str, int]]:
    for i in range(n):
        yield {"i": i, "square": squares(i + 1) - squares(i)}


@app.get("/fails")
async def fails() -> AsyncIterator[int]:
    yield 1
    raise ValueError("the stream failed")


@app.get("/events")
def get_events() -> list[str]:
    return events

# (a form feed starts this line: str.splitlines counts one line more here than Python does)
defaults_made: list[int] = []


def default_start() -> int:
    defaults_made.append(1)
    return 10


async def one() -> AsyncIterator[int]: yield 1
async def counted(start: int = default_start()) -> AsyncIterator[int]: yield start


@(
    app.get("/made")
)
async def made() -> AsyncIterator[int]:
    async for i in one():
        yield i
    async for i in counted():
        yield i
    yield len(defaults_made)  # 1: the default was made once, as interpreted


@app.get("/boom")
def boom() -> int:
    raise ValueError("compiled code failed")  # (its traceback's line, compiled: unmoved by the lines above)
