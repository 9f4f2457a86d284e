"""The benchmark endpoints on socketify's native API (uWebSockets), not its ASGI bridge.

Run as `python socketify_app.py --port N`. socketify has no validation of its own: the POST body,
read with uWebSockets' on_data callback (socketify's `await res.get_data()` costs about 4x the
throughput here), is decoded straight into a msgspec Struct (bad shape 422, malformed JSON 400).
"""

import argparse

import msgspec
from socketify import App, AppListenOptions


class Item(msgspec.Struct):
    name: str
    price: float
    tags: list[str]


decode_item = msgspec.json.Decoder(Item).decode
encode = msgspec.json.Encoder().encode


def plaintext(res, req):  # type: ignore[no-untyped-def]
    res.send(b"Hello, World!", content_type=b"text/plain; charset=utf-8")


def json_(res, req):  # type: ignore[no-untyped-def]
    res.send(encode({"message": "Hello, World!"}), content_type=b"application/json")


def user(res, req):  # type: ignore[no-untyped-def]
    try:
        uid = int(req.get_parameter(0))
    except ValueError:
        res.send(b'{"detail":"bad id"}', content_type=b"application/json", status=422)
        return
    res.send(encode({"id": uid, "q": req.get_query("q")}), content_type=b"application/json")


# The body is read with uWebSockets' on_data callback, which gets it in chunks. socketify leaves a
# response that waits for its body reachable only through a reference cycle (the response and its
# cffi handle, which uWebSockets holds as a bare pointer): Python's cyclic GC could free it before
# the body arrives, and the next data callback would then abort the process. Holding the waiting
# responses here keeps them alive until their body is read.
waiting: dict[object, list[bytes]] = {}


def items(res, req):  # type: ignore[no-untyped-def]
    waiting[res] = []
    res.on_aborted(forget)
    res.on_data(item_data)


def forget(res):  # type: ignore[no-untyped-def]
    waiting.pop(res, None)


def item_data(res, chunk, is_end):  # type: ignore[no-untyped-def]
    if chunk:
        waiting[res].append(chunk)
    if not is_end:
        return
    body = b"".join(waiting.pop(res))
    try:
        item = decode_item(body)
    except msgspec.ValidationError as exc:
        res.send(encode({"detail": str(exc)}), content_type=b"application/json", status=422)
    except msgspec.DecodeError as exc:
        res.send(encode({"detail": str(exc)}), content_type=b"application/json", status=400)
    else:
        res.send(encode(item), content_type=b"application/json")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8000)
    port = ap.parse_args().port
    app = App()
    app.get("/plaintext", plaintext)
    app.get("/json", json_)
    app.get("/users/:id", user)
    app.post("/items", items)
    app.listen(AppListenOptions(port=port, host="127.0.0.1"))
    app.run()


if __name__ == "__main__":
    main()
