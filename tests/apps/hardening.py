"""Routes for tests/test_hardening.py: what a hostile client, or a careless handler, can make of a response."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from typing import Annotated, Any, cast

from covet import Covet, Depends, HTTPError, Query, Request, Response, StaticFiles, StreamingResponse
from hardening_support import ENDLESS, ModelOut, chunks, endless, numbers, sse_events

app = Covet()


@app.get("/split/error")
def split_error(v: str) -> str:
    raise HTTPError(401, headers={"x-next": v})


@app.get("/split/media")
def split_media(t: str) -> Response:
    return Response("x", media_type=t)


@app.get("/split/raw")
def split_raw(v: str) -> Response:
    # Past the checks of response.headers and set_header: only the writer stands between this value and the wire.
    r = Response("x")
    r.raw_headers.append((b"x-raw", v.encode("latin-1")))
    return r


@app.get("/split/raw-name")
def split_raw_name(v: str) -> Response:
    r = Response("x")
    r.raw_headers.append((v.encode("latin-1"), b"1"))
    return r


@app.get("/split/stream-media")
def split_stream_media(t: str) -> StreamingResponse:
    return StreamingResponse(chunks(), media_type=t)


@app.get("/split/stream-raw")
def split_stream_raw(v: str) -> StreamingResponse:
    r = StreamingResponse(chunks())
    r.raw_headers.append((b"x-raw", v.encode("latin-1")))
    return r


@app.get("/status/{code}")
def status_response(code: int) -> Response:
    return Response("x", status=code)


@app.get("/status-error/{code}")
def status_error(code: int) -> str:
    raise HTTPError(code, "no")


@app.get("/status-stream/{code}")
def status_stream(code: int) -> StreamingResponse:
    return StreamingResponse(chunks(), status=code)


@dataclasses.dataclass
class UserOut:
    name: str
    email: str


@dataclasses.dataclass
class UserIn(UserOut):
    password_hash: str


def row() -> Any:
    """What a database driver gives: untyped, with more columns than the answer should carry."""
    return {"name": "ann", "email": "ann@example.com", "password_hash": "$2b$12$secret"}


@app.get("/users/dict")
def user_dict() -> UserOut:
    return cast(UserOut, row())


@app.get("/users/subclass")
def user_subclass() -> UserOut:
    return UserIn("ann", "ann@example.com", "$2b$12$secret")


@app.get("/users/list")
def user_list() -> list[UserOut]:
    return cast(list[UserOut], [row(), row()])


@app.get("/users/model")
def user_model() -> ModelOut:
    return cast(ModelOut, row())


@app.get("/users/wrong")
def user_wrong() -> UserOut:
    return cast(UserOut, {"name": ["not", "a", "string"]})


class Row:
    """An ORM object: read by attribute, as FastAPI's from_attributes does."""

    def __init__(self) -> None:
        self.name = "ann"
        self.email = "ann@example.com"
        self.password_hash = "$2b$12$secret"


@app.get("/users/attrs")
def user_attrs() -> ModelOut:
    return cast(ModelOut, Row())


@app.get("/counts")
def counts() -> dict[str, int]:
    return cast(dict[str, int], {"a": "not a number"})


@app.get("/counts/ok")
def counts_ok() -> dict[str, int]:
    return {"a": 1}


@app.get("/anything")
def anything() -> dict[str, object]:
    return {"a": [1, "x"], "b": None}


@app.get("/stream/int")
def stream_int() -> StreamingResponse:
    return StreamingResponse(cast(Any, numbers()))


@app.get("/stream/int-sync")
def stream_int_sync() -> StreamingResponse:
    return StreamingResponse(cast(Any, [b"ok,", 7]))


@app.get("/stream/kinds")
def stream_kinds() -> StreamingResponse:
    return StreamingResponse([b"a", "b", bytearray(b"c"), memoryview(b"d")])


@app.get("/files/{rest:path}")
def files(rest: str) -> str:
    return rest


@app.get("/item/{name}")
def item(name: str) -> str:
    return name


@app.get("/num")
def num(x: float, xs: Annotated[list[float], Query()] = []) -> dict[str, object]:
    return {"x": x, "xs": xs}


@app.get("/num/any")
def num_any(x: Annotated[float, Query(allow_inf_nan=True)]) -> str:
    return repr(x)


@app.get("/slow-blocking", blocking=True)
def slow_blocking() -> str:
    time.sleep(2.0)
    return "slept"


app.include_router(StaticFiles("/static", os.environ.get("COVET_TEST_STATIC", ".")))


EVENTS: list[str] = []  # what the lifetime routes saw, for /lifetime/events


@app.get("/lifetime/slow", timeout=0.5)
async def lifetime_slow(seconds: float) -> str:
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        EVENTS.append("slow cancelled")
        raise
    return "done"


@app.get("/lifetime/watch")
async def lifetime_watch(request: Request, tag: str) -> str:
    for _ in range(200):
        if await request.is_disconnected():
            EVENTS.append(f"{tag} saw the client leave")
            return "gone"
        await asyncio.sleep(0.05)
    return "still there"


@app.get("/lifetime/cancel", cancel_on_disconnect=True)
async def lifetime_cancel(tag: str) -> str:
    try:
        await asyncio.sleep(10)
    except asyncio.CancelledError:
        EVENTS.append(f"{tag} cancelled")
        raise
    return "done"


@app.get("/lifetime/keep")
async def lifetime_keep(tag: str) -> str:
    await asyncio.sleep(1.0)
    EVENTS.append(f"{tag} finished")
    return "done"


@app.get("/lifetime/events")
def lifetime_events() -> list[str]:
    return EVENTS


# A handler or dependency that raises CancelledError itself (nobody cancelled it): a 500, as any failure.
async def cancelling_dep() -> int:
    raise asyncio.CancelledError()


def sync_cancelling_dep() -> int:
    raise asyncio.CancelledError()


@app.get("/cancel/dep")
async def cancel_dep(x: Annotated[int, Depends(cancelling_dep)]) -> dict[str, int]:
    return {"x": x}


@app.get("/cancel/sync-dep")
def cancel_sync_dep(x: Annotated[int, Depends(sync_cancelling_dep)]) -> dict[str, int]:
    return {"x": x}


@app.get("/cancel/first")
async def cancel_first() -> str:
    raise asyncio.CancelledError()


@app.get("/cancel/later")
async def cancel_later() -> str:
    await asyncio.sleep(0.01)
    raise asyncio.CancelledError()


@app.get("/cancel/awaited")
async def cancel_awaited() -> str:
    """Awaits a task someone else cancelled: the CancelledError reaches the handler's own Task uncancelled."""
    other = asyncio.get_running_loop().create_task(asyncio.sleep(10))
    asyncio.get_running_loop().call_later(0.01, other.cancel)
    await other
    return "unreachable"


# HTTP/2 (tests/test_http2.py): bodies larger than a stream's window, both ways, and a stream that can be cut.
@app.post("/h2/upload")
async def h2_upload(request: Request) -> dict[str, object]:
    import hashlib

    digest = hashlib.sha256()
    size = 0
    async for chunk in request.stream():
        digest.update(chunk)
        size += len(chunk)
        if request.query_params.get("slow"):
            await asyncio.sleep(0.001)  # a route that reads slower than the client sends: flow control holds it
    return {"size": size, "sha256": digest.hexdigest()}


@app.get("/h2/big/{n}")
def h2_big(n: int) -> Response:
    return Response(bytes(range(256)) * (n // 256) + bytes(n % 256), media_type="application/octet-stream")


@app.get("/h2/sse")
def h2_sse() -> StreamingResponse:
    return StreamingResponse(sse_events(), media_type="text/event-stream")


@app.get("/h2/endless")
def h2_endless() -> StreamingResponse:
    return StreamingResponse(endless(), media_type="application/octet-stream")


@app.get("/h2/closed")
def h2_closed() -> dict[str, int]:
    return ENDLESS
