"""FastAPI's middleware under FastAPI's names and spellings, for tests/test_fastapi_middleware.py: served
interpreted and compiled. Written as a FastAPI app is, with only the imports changed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from covet import AnyResponse, CallNext, Covet, JSONResponse, PlainTextResponse, Request, Response, StreamingResponse
from covet.middleware.cors import CORSMiddleware
from covet.middleware.gzip import GZipMiddleware
from covet.middleware.trustedhost import TrustedHostMiddleware

app = Covet()


@app.middleware("http")
async def inner(request: Request, call_next: CallNext) -> AnyResponse:
    response = await call_next(request)
    response.headers.append("x-trace", "inner")
    return response


@app.middleware("http")
async def outer(request: Request, call_next: CallNext) -> AnyResponse:
    if request.path == "/answered":  # answers by itself: the middleware added before it never runs
        return PlainTextResponse("answered by outer")
    response = await call_next(request)
    response.headers.append("x-trace", "outer")
    return response


async def innermost(request: Request, call_next: CallNext) -> AnyResponse:
    response = await call_next(request)
    response.headers.append("x-trace", "innermost")
    return response


app.add_middleware(innermost)  # covet's own spelling: inside everything added before it
app.add_middleware(TrustedHostMiddleware, allowed_hosts=["127.0.0.1", "testserver", "example.com", "*.example.com",
                                                         "www.shop.test"])
app.add_middleware(GZipMiddleware, minimum_size=100)
app.add_middleware(
    CORSMiddleware,
    allow_origins=["https://app.example.com"],
    allow_origin_regex=r"https://[a-z]+\.example\.org",
    allow_credentials=True,
    allow_methods=["GET", "POST"],
    allow_headers=["X-Token"],
    expose_headers=["X-Total", "X-Page"],
    max_age=300,
)


@app.get("/items")
def items() -> dict[str, list[int]]:
    return {"items": [1, 2, 3]}


@app.post("/items")
async def add_item(item: dict[str, int]) -> dict[str, int]:
    await asyncio.sleep(0)
    return item


@app.get("/big")
def big() -> str:
    return "covet " * 200


@app.get("/png")
def png() -> Response:
    return Response(b"\x89PNG" + b"\x00" * 1000, media_type="image/png")


@app.get("/headers")
def headers() -> Response:
    response = JSONResponse({"ok": True}, headers={"x-gone": "1", "x-kept": "k"})
    response.headers["X-Set"] = "one"
    response.headers["x-set"] = "two"  # replaces, case-insensitively
    response.headers.append("x-many", "a")
    response.headers.append("x-many", "b")
    del response.headers["x-gone"]
    del response.headers["x-never-there"]  # no error, as in Starlette
    seen = (response.headers.get("x-kept"), response.headers.get("x-none", "dflt"), "x-many" in response.headers,
            response.headers.getlist("x-many"))
    response.headers["x-read"] = ",".join(str(v) for v in seen)
    return response


@app.get("/inject")
def inject(value: str) -> Response:
    response = PlainTextResponse("never sent")
    response.headers["x-echo"] = value  # CR/LF in value: ValueError here, a 500 for the client
    return response


def chunks() -> Iterator[bytes]:
    for i in range(3):
        yield b"chunk %d;" % i


@app.get("/stream")
def stream() -> StreamingResponse:
    response = StreamingResponse(chunks(), media_type="text/plain")
    response.headers["x-stream"] = "yes"
    return response


@app.middleware("http")
async def stamp(request: Request, call_next: CallNext) -> AnyResponse:
    response = await call_next(request)
    if request.path == "/headers":
        response.headers["x-stamped"] = response.headers["x-set"]
    return response
