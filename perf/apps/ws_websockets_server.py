"""The WebSocket benchmark routes on the `websockets` package's own asyncio server, on uvloop (perf/ws_bench.py).

Run as `python ws_websockets_server.py --port N`. /echo sends back every message; /sub joins a set of connections
(after saying "joined") until the client goes; /pub sends every message it receives to each member of that set in
turn: the hand-written fan-out (websockets.broadcast() would write without waiting; the loop is the same for all).
"""

import argparse

import uvloop
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

subscribers: set[ServerConnection] = set()


async def handler(ws: ServerConnection) -> None:
    path = ws.request.path if ws.request is not None else ""
    try:
        if path == "/echo":
            async for message in ws:
                await ws.send(message)
        elif path == "/sub":
            subscribers.add(ws)
            try:
                await ws.send("joined")
                async for _ in ws:
                    pass
            finally:
                subscribers.discard(ws)
        elif path == "/pub":
            async for message in ws:
                for member in list(subscribers):
                    try:
                        await member.send(message)
                    except ConnectionClosed:
                        subscribers.discard(member)
    except ConnectionClosed:
        pass


async def main(port: int) -> None:
    async with serve(handler, "127.0.0.1", port) as server:
        await server.serve_forever()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8000)
    try:
        uvloop.run(main(ap.parse_args().port))
    except KeyboardInterrupt:
        pass
