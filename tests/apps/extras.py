"""Static files, Server-Sent Events and compression, for tests/test_extras.py: served interpreted and compiled.

The static root is the directory named by COVET_TEST_STATIC (the test makes it, with a symlink out of it).
"""

from __future__ import annotations

import os
from typing import Annotated

from covet import (
    CompressionMiddleware,
    Covet,
    EventSourceResponse,
    Header,
    PlainTextResponse,
    Response,
    Router,
    StaticFiles,
    StreamingResponse,
)
from extras_streams import endless, events, ticks

app = Covet()

app.include_router(StaticFiles("/static", os.environ.get("COVET_TEST_STATIC", "."), html=True))


@app.get("/events")
def get_events() -> list[str]:
    return events


@app.get("/sse")
def sse(n: int = 3, last_event_id: Annotated[str, Header()] = "") -> EventSourceResponse:
    return EventSourceResponse(ticks(n), ping=0.2)


@app.get("/sse/finite")
def sse_finite() -> EventSourceResponse:
    return EventSourceResponse(["one", "two\nlines", {"data": "x", "event": "named", "retry": 500}], ping=None)


@app.get("/endless")
def endless_stream() -> StreamingResponse:
    return StreamingResponse(endless(), media_type="text/plain")


zipped = Router(prefix="/z", middleware=[CompressionMiddleware(minimum_size=100)])
TEXT = "CovetPy compresses what is worth it. " * 100


@zipped.get("/text")
def text() -> str:
    return TEXT


@zipped.get("/small")
def small() -> str:
    return "tiny"


@zipped.get("/png")
def png() -> Response:
    return Response(b"\x89PNG" + b"\0" * 2000, media_type="image/png")


@zipped.get("/stream")
def stream() -> StreamingResponse:
    return StreamingResponse((TEXT[i:i + 500] for i in range(0, len(TEXT), 500)), media_type="text/plain")


@zipped.get("/sse")
def zipped_sse() -> EventSourceResponse:
    return EventSourceResponse(["a" * 1000], ping=None)


@zipped.get("/vary")
def vary() -> Response:
    return PlainTextResponse(TEXT, headers={"vary": "Cookie"})


app.include_router(zipped)
