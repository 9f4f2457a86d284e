"""The WebSocket benchmark routes written idiomatically for CovetPy (perf/ws_bench.py).

/echo sends back every text message; /sub subscribes to one channel of covet.broadcast (memory://, this process)
and forwards what is published there, after saying "joined"; /pub publishes every message it receives on it.
"""

import asyncio

from covet import Covet, WebSocket
from covet.broadcast import Broadcast

broadcast = Broadcast("memory://")
app = Covet(lifespan=broadcast.lifespan)


@app.websocket("/echo")
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    async for text in websocket.iter_text():
        await websocket.send_text(text)


@app.websocket("/sub")
async def sub(websocket: WebSocket) -> None:
    await websocket.accept()
    async with broadcast.subscribe("bench") as subscriber:
        await websocket.send_text("joined")

        async def pump() -> None:
            async for event in subscriber:
                await websocket.send_text(event.message)

        task = asyncio.get_running_loop().create_task(pump())
        try:
            async for _ in websocket.iter_text():
                pass
        finally:
            task.cancel()


@app.websocket("/pub")
async def pub(websocket: WebSocket) -> None:
    await websocket.accept()
    async for text in websocket.iter_text():
        await broadcast.publish("bench", text)
