"""The WebSocket benchmark routes on socketify's native API (uWebSockets), not its ASGI bridge (perf/ws_bench.py).

Run as `python ws_socketify_app.py --port N`. /echo sends back every message; /sub joins a set of connections
(after saying "joined") until the client goes; /pub sends every message it receives to each member of that set
in turn: the hand-written fan-out, as on the other peers (uWebSockets' own topics would do it in C++).
Compression off; the idle timeout at its longest (960 s), so idle connections stay for the memory count.
"""

import argparse

from socketify import App, AppListenOptions, CompressOptions, OpCode

# socketify hands each callback a new WebSocket wrapper around the same uWebSockets pointer: the set is keyed by
# that pointer (``ws.ws``), so the close callback finds what the open callback added.
subscribers: dict = {}


def echo_message(ws, message, opcode):  # type: ignore[no-untyped-def]
    ws.send(message, opcode)


def sub_open(ws):  # type: ignore[no-untyped-def]
    subscribers[ws.ws] = ws
    ws.send("joined", OpCode.TEXT)


def sub_close(ws, code, message):  # type: ignore[no-untyped-def]
    subscribers.pop(ws.ws, None)


def pub_message(ws, message, opcode):  # type: ignore[no-untyped-def]
    for member in list(subscribers.values()):
        member.send(message, OpCode.TEXT)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8000)
    port = ap.parse_args().port
    app = App()
    common = {"compression": CompressOptions.DISABLED, "idle_timeout": 960, "max_payload_length": 16 * 1024 * 1024}
    app.ws("/echo", {**common, "message": echo_message})
    app.ws("/sub", {**common, "open": sub_open, "close": sub_close})
    app.ws("/pub", {**common, "message": pub_message})
    app.any("/*", lambda res, req: res.write_status(404).end("not found"))
    app.listen(AppListenOptions(port=port, host="127.0.0.1"))
    app.run()


if __name__ == "__main__":
    main()
