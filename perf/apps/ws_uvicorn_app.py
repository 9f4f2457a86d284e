"""The WebSocket benchmark routes as a plain ASGI app (no framework), for uvicorn (perf/ws_bench.py).

/echo sends back every text message; /sub joins a set of connections (after saying "joined") until the client
goes; /pub sends every message it receives to each member of that set in turn: the hand-written fan-out.
"""

subscribers: set = set()


async def app(scope, receive, send):  # type: ignore[no-untyped-def]
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "websocket":
        await receive()
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b"not found"})
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    path = scope["path"]
    if path == "/echo":
        while True:
            message = await receive()
            if message["type"] != "websocket.receive":
                return
            await send({"type": "websocket.send", "text": message.get("text"), "bytes": message.get("bytes")})
    elif path == "/sub":
        subscribers.add(send)
        try:
            await send({"type": "websocket.send", "text": "joined"})
            while (await receive())["type"] == "websocket.receive":
                pass
        finally:
            subscribers.discard(send)
    elif path == "/pub":
        while True:
            message = await receive()
            if message["type"] != "websocket.receive":
                return
            out = {"type": "websocket.send", "text": message.get("text")}
            for member in list(subscribers):
                try:
                    await member(out)
                except Exception:
                    subscribers.discard(member)
