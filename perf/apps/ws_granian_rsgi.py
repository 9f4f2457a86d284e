"""The WebSocket benchmark routes as a raw RSGI app, for Granian (perf/ws_bench.py).

/echo sends back every text message; /sub joins a set of connections (after saying "joined") until the client
goes; /pub sends every message it receives to each member of that set in turn: the hand-written fan-out.
"""

from granian.rsgi import WebsocketMessageType

subscribers: set = set()
CLOSE = WebsocketMessageType.close


async def app(scope, proto):  # type: ignore[no-untyped-def]
    if scope.proto != "ws":
        proto.response_str(404, [("content-type", "text/plain")], "not found")
        return
    ws = await proto.accept()
    path = scope.path
    try:
        if path == "/echo":
            while True:
                message = await ws.receive()
                if message.kind == CLOSE:
                    break
                if isinstance(message.data, str):
                    await ws.send_str(message.data)
                else:
                    await ws.send_bytes(message.data)
        elif path == "/sub":
            subscribers.add(ws)
            try:
                await ws.send_str("joined")
                while (await ws.receive()).kind != CLOSE:
                    pass
            finally:
                subscribers.discard(ws)
        elif path == "/pub":
            while True:
                message = await ws.receive()
                if message.kind == CLOSE:
                    break
                for member in list(subscribers):
                    try:
                        await member.send_str(message.data)
                    except Exception:
                        subscribers.discard(member)
    except Exception:
        pass  # the peer went
    proto.close()
