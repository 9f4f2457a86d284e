"""The app Autobahn|Testsuite's fuzzingclient talks to (tests/autobahn/run.py): every message echoed as it came."""

from __future__ import annotations

from covet import Covet, WebSocket, WebSocketDisconnect

app = Covet()


@app.websocket("/")
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is not None:
                await websocket.send_text(text)
            else:
                await websocket.send_bytes(message["bytes"])
    except WebSocketDisconnect:
        pass
