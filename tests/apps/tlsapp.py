"""What a route sees over TLS, for tests/test_tls.py and tests/test_uring_tls.py: served interpreted and compiled."""

from __future__ import annotations

import hashlib
import random

from covet import Covet, Request, Response, StreamingResponse, WebSocket

app = Covet()


@app.get("/whoami")
def whoami(request: Request) -> dict[str, str]:
    return {"scheme": request.scheme, "http_version": request.http_version}


@app.get("/plain")
def plain() -> dict[str, str]:
    """A static path with a sync handler that takes no request: the io_uring core calls it directly."""
    return {"plain": "yes"}


@app.websocket("/ws")
async def ws_echo(websocket: WebSocket) -> None:
    """wss://: says its URL's scheme, then echoes (text and binary)."""
    await websocket.accept()
    await websocket.send_text(websocket.url.scheme)
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") is not None:
            await websocket.send_text(message["text"])
        else:
            await websocket.send_bytes(message["bytes"])


@app.post("/echo")
async def echo(request: Request) -> dict[str, str]:
    body = await request.body()
    return {"size": str(len(body)), "head": body[:8].decode()}


@app.post("/count")
async def count(request: Request) -> dict[str, object]:
    """Reads the body as a stream: it may be far larger than the in-memory limit."""
    digest = hashlib.sha256()
    size = 0
    async for data in request.stream():
        digest.update(data)
        size += len(data)
    return {"size": size, "sha256": digest.hexdigest()}


def payload(n: int) -> bytes:
    """``n`` bytes the client can make again (random.Random(n).randbytes(n)): a record out of place shows."""
    return random.Random(n).randbytes(n)


@app.get("/big")
def big(n: int) -> Response:
    return Response(payload(n), media_type="application/octet-stream")


@app.get("/stream")
def stream(n: int) -> StreamingResponse:
    data = payload(n)
    return StreamingResponse((data[i:i + 65536] for i in range(0, n, 65536)), media_type="application/octet-stream")
