"""The app of tests/test_websockets.py: WebSocket routes beside an HTTP one."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from typing import Annotated

from covet import Covet, Depends, Header, HTTPException, Query, WebSocket, WebSocketDisconnect, WebSocketException
from ws_models import Move

app = Covet()

closed: list[int] = []  # the codes the echo handler saw its peers leave with (read by /closes)


@app.get("/plain")
async def plain() -> dict[str, str]:
    return {"http": "yes"}


@app.get("/closes")
async def closes() -> list[int]:
    return closed


@app.websocket("/echo")
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                closed.append(message["code"])
                return
            if "text" in message:
                await websocket.send_text(message["text"])
            else:
                await websocket.send_bytes(message["bytes"])
    except WebSocketDisconnect as exc:
        closed.append(exc.code)


after: dict[str, list[str]] = {}  # by the client's first message: what the handler saw once the peer had gone


@app.get("/after/{key}")
async def after_of(key: str) -> list[str]:
    return after.get(key, [])


@app.websocket("/after")
async def after_close(websocket: WebSocket) -> None:
    """Starlette's rules once the peer is gone: the first receive raises WebSocketDisconnect, a second one
    RuntimeError; a send raises WebSocketDisconnect; client_state says DISCONNECTED."""
    await websocket.accept()
    key = await websocket.receive_text()
    seen = after[key] = [websocket.client_state.name]
    async for _ in websocket.iter_text():
        pass
    seen.append(websocket.client_state.name)
    for attempt in (websocket.receive_text, lambda: websocket.send_text("late")):
        try:
            await attempt()
        except (RuntimeError, WebSocketDisconnect) as exc:
            seen.append(f"{type(exc).__name__}: {exc}")


def held_resource(websocket: WebSocket) -> Iterator[str]:
    """A yield dependency (a plain generator: mypyc compiles no async one): its exit runs once the handler is over
    (the glue awaits the handler for it)."""
    key = websocket.query_params["key"]
    after[key] = ["opened"]
    try:
        yield "resource"
    finally:
        after[key].append("closed")


@app.websocket("/held")
async def held(websocket: WebSocket, resource: Annotated[str, Depends(held_resource)]) -> None:
    await websocket.accept()
    await websocket.send_text(resource)
    async for _ in websocket.iter_text():
        pass


@app.websocket("/returns")
async def returns_a_reply_shaped_value(websocket: WebSocket, accept: bool = False) -> tuple[int, str, bytes]:
    """A handler's own result is not an HTTP answer, whatever its shape (the glue hands its coroutine to the Task)."""
    if accept:
        await websocket.accept()
    return (500, "x", b"")


def cancels() -> None:
    raise asyncio.CancelledError


@app.websocket("/cancelled", dependencies=[Depends(cancels)])
async def cancelled(websocket: WebSocket) -> None:
    await websocket.accept()


@app.websocket("/json")
async def json_echo(websocket: WebSocket) -> None:
    await websocket.accept()
    async for item in websocket.iter_json():
        await websocket.send_json({"got": item})


@app.websocket("/moves")
async def moves(websocket: WebSocket) -> None:
    """Typed messages: each one validated into a Move; a bad one closes the connection (1007)."""
    await websocket.accept()
    total = 0
    while True:
        move = await websocket.receive_json(model=Move)
        total += move.x * move.y
        await websocket.send_json({"total": total})


def token(token: Annotated[str, Query()]) -> str:
    if token == "forbidden":
        raise HTTPException(status_code=401, detail="bad token")
    if token == "policy":
        raise WebSocketException(code=1008, reason="policy")
    return token


@app.websocket("/rooms/{room}")
async def room(websocket: WebSocket, room: str, user: Annotated[str, Depends(token)],
               x_client: Annotated[str | None, Header()] = None, n: int = 1) -> None:
    await websocket.accept()
    await websocket.send_json({"room": room, "user": user, "client": x_client, "n": n,
                               "path": websocket.url.path, "scheme": websocket.url.scheme})
    await websocket.close()


@app.websocket("/close")
async def close_with_code(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.close(code=4001, reason="bye")


@app.websocket("/refuse")
async def refuse(websocket: WebSocket) -> None:
    await websocket.close()


@app.websocket("/boom")
async def boom(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.receive_text()
    raise ValueError("the handler failed on purpose")


@app.websocket("/boom-early")
async def boom_early(websocket: WebSocket) -> None:
    raise ValueError("the handler failed before accepting")


@app.websocket("/protocols")
async def protocols(websocket: WebSocket) -> None:
    offered = websocket.scope["subprotocols"]
    assert isinstance(offered, list)
    await websocket.accept(subprotocol="chat.v2" if "chat.v2" in offered else None, headers={"x-extra": "1"})
    await websocket.send_text(",".join(offered))
    await websocket.close()


@app.websocket("/flood")
async def flood(websocket: WebSocket, size: int = 65536, count: int = 1000) -> None:
    """Sends ``count`` messages of ``size`` bytes to a peer that may not read them: send() must wait."""
    await websocket.accept()
    chunk = os.urandom(size)  # (random: deflate, when agreed, leaves it as large on the wire)
    for _ in range(count):
        await websocket.send_bytes(chunk)
    await websocket.close()


@app.websocket("/sleepy")
async def sleepy(websocket: WebSocket) -> None:
    """Accepts and reads nothing for a while: what the peer sends waits in a bounded queue."""
    await websocket.accept()
    await asyncio.sleep(3)
    total = 0
    async for data in websocket.iter_bytes():
        total += len(data)
        if data == b"end":
            break
    await websocket.send_json({"total": total})
    await websocket.close()


@app.websocket("/slowaccept")
async def slow_accept(websocket: WebSocket, t: float = 0.3) -> None:
    """Awaits before it accepts (a database lookup, say); then echoes."""
    await asyncio.sleep(t)
    await websocket.accept()
    async for text in websocket.iter_text():
        await websocket.send_text(text)


@app.get("/slowhttp")
async def slow_http() -> dict[str, str]:
    await asyncio.sleep(0.3)
    return {"slow": "yes"}


@app.websocket("/badclose")
async def bad_close(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.close(code=70000)  # no Close may carry it: ValueError, and the connection closes with 1011


@app.websocket("/leaky")
async def leaky(websocket: WebSocket) -> None:
    """FastAPI's most common shape: no try, so the peer's WebSocketDisconnect ends the handler."""
    await websocket.accept()
    while True:
        await websocket.send_text(await websocket.receive_text())
