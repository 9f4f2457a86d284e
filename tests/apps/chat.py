"""The app of tests/test_broadcast.py: chat rooms over WebSockets, fanned out by covet.broadcast."""

from __future__ import annotations

import asyncio
import os

from covet import Covet, WebSocket
from covet.broadcast import Broadcast

broadcast = Broadcast(os.environ.get("BROADCAST_URL", "memory://"))
app = Covet(lifespan=broadcast.lifespan)


@app.websocket("/rooms/{room}")
async def room(websocket: WebSocket, room: str) -> None:
    """Every message sent in the room reaches every member, on whichever worker (or machine) it is connected."""
    await websocket.accept()
    async with broadcast.subscribe(room) as subscriber:
        await websocket.send_json({"ready": os.getpid()})

        async def pump() -> None:
            async for event in subscriber:
                await websocket.send_text(event.message)

        task = asyncio.get_running_loop().create_task(pump())
        try:
            async for text in websocket.iter_text():
                await broadcast.publish(room, text)
        finally:
            task.cancel()


@app.post("/rooms/{room}")
async def post(room: str, message: str) -> dict[str, int]:
    await broadcast.publish(room, message)
    return {"pid": os.getpid()}
