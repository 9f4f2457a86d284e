"""Generator handlers answering JSON Lines as FastAPI does, for tests/test_jsonlines.py. mypyc compiles no async
generators, so a build keeps this module interpreted behind compiled glue; the plain generators of
jsonlines_sync.py compile natively."""

import asyncio
from collections.abc import AsyncIterable, AsyncIterator
from typing import Annotated, Any

from covet import BackgroundTasks, Covet, Depends, EventSourceResponse, Response
from jsonlines_models import Item
from jsonlines_sync import closed, router

app = Covet()
app.include_router(router)


@app.get("/items")
async def items() -> AsyncIterable[Item]:
    for name in ("Plumbus", "Portal Gun", "Meeseeks Box"):
        yield Item(name=name, description=f"a {name.lower()}")


@app.get("/untyped")
async def untyped():  # type: ignore[no-untyped-def]  # FastAPI's examples have none: any JSON, a line each
    yield {"a": 1}
    yield [1, 2]
    yield "text"
    yield None


@app.get("/endless")
async def endless() -> AsyncIterator[dict[str, int]]:
    try:
        i = 0
        while True:
            yield {"tick": i}
            i += 1
            await asyncio.sleep(0.01)
    finally:
        closed.append("endless closed")


@app.get("/events", response_class=EventSourceResponse)
async def events() -> AsyncIterator[dict[str, Any]]:
    yield {"data": "one"}
    yield {"data": "two"}


@app.get("/closed")
async def was_closed() -> list[str]:
    return closed


def stamp(response: Response) -> None:
    response.headers["x-stream"] = "yes"
    response.status_code = 201


@app.get("/with-response", dependencies=[Depends(stamp)])
async def with_response(response: Response) -> AsyncIterator[int]:
    yield 1  # (what the generator sets on its Response now comes after the head, as in FastAPI: too late)
    yield 2


@app.get("/with-task")
async def with_task(tasks: BackgroundTasks) -> AsyncIterator[int]:
    yield 1
    tasks.add_task(closed.append, "task ran")  # added while the stream runs: still run after it
    yield 2


@app.get("/model-ignored", response_model=list[Item])
async def model_ignored() -> AsyncIterator[Item]:
    yield Item(name="one")  # each item is an Item, as declared; response_model does not apply to items


async def async_session() -> AsyncIterator[str]:
    try:
        yield "session"
    except Exception as e:
        closed.append(f"async rolled back: {type(e).__name__}")
        raise
    else:
        closed.append("async committed")


@app.get("/async-failing-with-session")
async def async_failing(s: Annotated[str, Depends(async_session)]) -> AsyncIterator[Item]:
    yield Item(name="fine")
    yield {"description": "no name"}  # type: ignore[misc]  # fails its type: thrown into async_session()


@app.get("/async-with-session")
async def async_with_session(s: Annotated[str, Depends(async_session)]) -> AsyncIterator[str]:
    yield s
