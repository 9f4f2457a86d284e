"""An app for behaviours the example does not show: where handlers run, and how."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

from covet import Covet, Response, StreamingResponse

app = Covet(server_header="behaviour-test")
MAIN = threading.main_thread().name


def on_loop_thread() -> bool:
    """Whether the caller runs on the event loop's thread (the main thread under `covet serve`; the test client's
    loop thread in process)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


@app.get("/where/sync")
def where_sync() -> dict[str, object]:
    return {"loop_thread": on_loop_thread()}


@app.get("/where/inline", inline=True)
def where_inline() -> dict[str, object]:
    return {"loop_thread": on_loop_thread()}


@app.get("/where/blocking", blocking=True)  # the old spelling of the default
def where_blocking() -> dict[str, object]:
    return {"loop_thread": on_loop_thread()}


@app.get("/where/async")
async def where_async() -> dict[str, object]:
    # The first step runs on the transport's stack, yet the handler sees a current task there, and the same one
    # after it suspended (runtime/resume.py: EagerTask).
    before = asyncio.current_task()
    await asyncio.sleep(0)
    after = asyncio.current_task()
    return {"task_before_suspending": before is not None, "task_after": after is not None, "same": before is after}


@app.get("/bad-header")
def bad_header() -> Response:
    return Response("x", headers={"x-evil": "a\r\nset-cookie: pwned=1"})


@app.get("/unannotated")
def unannotated(x="1"):  # type: ignore[no-untyped-def]
    return {"x": x}


@app.get("/boom-async")
async def boom_async() -> str:
    await asyncio.sleep(0)
    raise ValueError("async failure on purpose")


@app.on_shutdown
async def write_marker() -> None:
    import os

    marker = os.environ.get("COVET_TEST_SHUTDOWN_FILE")
    if marker and os.environ.get("COVET_TEST_SHUTDOWN_HANG"):
        with open(marker, "w") as f:
            f.write("hanging")
        await asyncio.sleep(3600)  # a hook that never ends: only a second signal gets the server out
    if marker:
        with open(marker, "w") as f:
            f.write("shutdown ran")


stream_stats = {"closed": 0}


async def _forever() -> AsyncIterator[str]:
    try:
        while True:
            yield "x" * 1024
            await asyncio.sleep(0.001)
    finally:
        stream_stats["closed"] += 1


@app.get("/forever")
def forever() -> StreamingResponse:
    return StreamingResponse(_forever(), media_type="text/plain")


@app.get("/stream-stats")
def get_stream_stats() -> dict[str, int]:
    return stream_stats


async def _broken() -> AsyncIterator[str]:
    yield "first part;"
    raise RuntimeError("stream broke on purpose")


@app.get("/broken-stream")
def broken_stream() -> StreamingResponse:
    return StreamingResponse(_broken())


from pydantic import BaseModel, Field  # noqa: E402


class User(BaseModel):
    name: str = Field(min_length=1)
    age: int = Field(ge=0)


@app.post("/users")
def create_user(user: User) -> User:
    return user


@app.post("/scores")
def total(scores: dict[str, float]) -> dict[str, float]:
    return {"total": sum(scores.values())}


@app.get("/scale/{factor}/{flag}")
def scale(factor: float, flag: bool) -> dict[str, object]:
    return {"factor": factor, "flag": flag}


@app.post("/embed")
def embed(user: User, note: dict[str, str]) -> dict[str, object]:
    return {"user": user.name, "note": note}


# On io_uring the core calls these itself, handing their glue only the request's Content-Type.
@app.post("/inline/users", inline=True)
def create_user_inline(user: User) -> User:
    return user


@app.post("/inline/embed", inline=True)
def embed_inline(user: User, note: dict[str, str]) -> dict[str, object]:
    return {"user": user.name, "note": note}
