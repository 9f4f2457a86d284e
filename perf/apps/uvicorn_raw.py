"""Raw ASGI app on uvicorn (httptools, uvloop): the fastest idiomatic uvicorn can be."""

import json


async def app(scope, receive, send):  # type: ignore[no-untyped-def]
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/plaintext":
        body, ctype, status = b"Hello, World!", b"text/plain; charset=utf-8", 200
    elif path == "/json":
        body, ctype, status = json.dumps({"message": "Hello, World!"}).encode(), b"application/json", 200
    elif path.startswith("/users/"):
        try:
            uid = int(path[7:])
        except ValueError:
            body, ctype, status = b'{"detail":"bad id"}', b"application/json", 422
        else:
            q = None
            for part in scope["query_string"].decode().split("&"):
                k, _, v = part.partition("=")
                if k == "q":
                    q = v
            body, ctype, status = json.dumps({"id": uid, "q": q}).encode(), b"application/json", 200
    elif path == "/items":
        raw = b""
        more = True
        while more:
            msg = await receive()
            raw += msg.get("body", b"")
            more = msg.get("more_body", False)
        data = json.loads(raw)
        item = {"name": str(data["name"]), "price": float(data["price"]), "tags": [str(t) for t in data["tags"]]}
        body, ctype, status = json.dumps(item).encode(), b"application/json", 200
    else:
        body, ctype, status = b"not found", b"text/plain", 404
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", ctype), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
