"""Forms and uploads, for tests/test_forms.py: served interpreted and compiled."""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import AsyncIterator
from typing import Annotated

from covet import (
    AnyResponse,
    CallNext,
    ClientDisconnect,
    Covet,
    File,
    Form,
    Request,
    Router,
    StreamingResponse,
    UploadFile,
)

app = Covet(form_limits={"max_files": 50})  # (the tests send fewer, but to /limited/files)


@app.post("/login")
def login(username: Annotated[str, Form(min_length=2)], age: Annotated[int, Form(ge=0)] = 0,
          tags: Annotated[list[str], Form(alias="tag")] = []) -> dict[str, object]:
    return {"username": username, "age": age, "tags": tags}


@app.post("/upload")
async def upload(doc: UploadFile, note: Annotated[str, Form()] = "", extra: list[UploadFile] = []) -> dict[str, object]:
    digest = hashlib.sha256()
    while data := await doc.read(1 << 20):  # in pieces: the file may be larger than memory
        digest.update(data)
    return {
        "filename": doc.filename,
        "content_type": doc.content_type,
        "size": doc.size,
        "sha256": digest.hexdigest(),
        "on_disk": not isinstance(doc.file, io.BytesIO),
        "note": note,
        "extra": [f.filename for f in extra],
        "part_type": doc.headers.get("content-type"),
    }


@app.post("/optional")
def optional(doc: Annotated[UploadFile | None, File()] = None) -> str:
    return "none" if doc is None else f"{doc.filename}"


@app.post("/ordered")
async def ordered(file: Annotated[bytes, File()], token: Annotated[str, Form()]) -> dict[str, object]:
    return {"size": len(file), "token": token}


# -- bodies past the in-memory limit (tests/test_uploads.py) ---------------------------------------------------

seen: dict[str, object] = {}


@app.post("/raw")
async def raw(request: Request) -> dict[str, object]:
    """Reads the body as a stream: it may be far larger than the in-memory limit."""
    digest = hashlib.sha256()
    size = pieces = 0
    try:
        async for data in request.stream():
            digest.update(data)
            size += len(data)
            pieces += 1
    except ClientDisconnect:
        seen["raw"] = f"disconnected after {size} bytes"
        raise
    seen["raw"] = f"read {size} bytes"
    return {"size": size, "sha256": digest.hexdigest(), "pieces": pieces}


@app.post("/slow")
async def slow(request: Request) -> dict[str, int]:
    """A consumer slower than the client: the server must stop reading rather than queue the body."""
    size = 0
    async for data in request.stream():
        size += len(data)
        await asyncio.sleep(0.01)
    return {"size": size}


class Upper:
    """The pieces of a body, upper-cased (a class: mypyc compiles no async generators)."""

    def __init__(self, source: AsyncIterator[bytes]) -> None:
        self.source = source

    def __aiter__(self) -> Upper:
        return self

    async def __anext__(self) -> bytes:
        return (await self.source.__anext__()).upper()


@app.post("/shout")
async def shout(request: Request) -> StreamingResponse:
    """A streaming response that reads its request body while it streams."""
    return StreamingResponse(Upper(request.stream()), media_type="application/octet-stream")


@app.post("/whole")
async def whole(request: Request) -> dict[str, int]:
    """Reads the body whole: bounded by the in-memory limit (413 past it)."""
    return {"size": len(await request.body())}


@app.post("/early")
def early(request: Request) -> str:
    """Answers without reading the body; the connection drops it and serves the next request."""
    return "early"


@app.post("/json")
def json_body(item: dict[str, int]) -> dict[str, int]:
    """A JSON body is held whole: past the in-memory limit it is 413 before the handler runs."""
    return item


@app.get("/seen")
def last_seen() -> dict[str, object]:
    return seen


async def tagged(request: Request, call_next: CallNext) -> AnyResponse:
    response = await call_next(request)
    response.set_header("x-through", "middleware")
    return response


wrapped = Router(prefix="/mw", middleware=[tagged])


@wrapped.post("/upload")
async def wrapped_upload(doc: UploadFile) -> dict[str, object]:
    """An upload behind a middleware streams the same way."""
    size = 0
    while data := await doc.read(1 << 20):
        size += len(data)
    return {"size": size, "on_disk": not isinstance(doc.file, io.BytesIO)}


app.include_router(wrapped)


# -- body limits (FastAPI's max_body_size and form_limits; tests/test_limits.py) ---------------------------------

limited = Router(prefix="/limited", max_body_size=64 * 1024, form_limits={"max_fields": 3})


@limited.post("/note")
def limited_note(text: Annotated[str, Form()], tag: Annotated[list[str], Form()] = []) -> dict[str, int]:
    """The router's limits: 64 KiB in all, three fields, and the application's 50 files."""
    return {"size": len(text), "tags": len(tag)}


@limited.post("/doc", max_body_size=8 * 1024 * 1024, form_limits={"max_part_size": 2048})
async def limited_doc(text: Annotated[str, Form()], doc: UploadFile | None = None) -> dict[str, int]:
    """Its own: 8 MiB in all, fields of at most 2 KiB; the router's three fields still hold."""
    size = 0
    if doc is not None:
        while data := await doc.read(1 << 20):
            size += len(data)
    return {"size": len(text), "file": size}


@limited.post("/files")
async def limited_files(docs: list[UploadFile]) -> dict[str, int]:
    return {"files": len(docs)}


@limited.post("/raw", max_body_size=1024 * 1024)
async def limited_raw(request: Request) -> dict[str, int]:
    """A stream, cut at 1 MiB whatever the client announces."""
    size = 0
    async for data in request.stream():
        size += len(data)
    return {"size": size}


app.include_router(limited, max_body_size=1, form_limits={"max_fields": 1})  # the router's own come first


@app.post("/limited/json", max_body_size=100)
def limited_json(item: dict[str, int]) -> dict[str, int]:
    return item
