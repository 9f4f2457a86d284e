"""Raw RSGI app on Granian: the fastest idiomatic Granian can be (the RSGI twin of uvicorn_raw.py)."""

import json
from urllib.parse import parse_qs

JSON = [("content-type", "application/json")]
TEXT = [("content-type", "text/plain; charset=utf-8")]


async def app(scope, proto):  # type: ignore[no-untyped-def]
    if scope.proto != "http":
        return
    path = scope.path
    if path == "/plaintext":
        proto.response_str(200, TEXT, "Hello, World!")
    elif path == "/json":
        proto.response_str(200, JSON, json.dumps({"message": "Hello, World!"}))
    elif path.startswith("/users/"):
        try:
            uid = int(path[7:])
        except ValueError:
            proto.response_str(422, JSON, '{"detail":"bad id"}')
            return
        q = parse_qs(scope.query_string).get("q")
        proto.response_str(200, JSON, json.dumps({"id": uid, "q": q[0] if q else None}))
    elif path == "/items" and scope.method == "POST":
        try:
            data = json.loads(await proto())
        except ValueError:
            proto.response_str(400, JSON, '{"detail":"malformed JSON"}')
            return
        try:
            item = {"name": data["name"], "price": float(data["price"]), "tags": data["tags"]}
            ok = (isinstance(item["name"], str) and isinstance(item["tags"], list)
                  and all(isinstance(t, str) for t in item["tags"]))
        except (KeyError, TypeError, ValueError):
            ok = False
        if not ok:
            proto.response_str(422, JSON, '{"detail":"invalid item"}')
            return
        proto.response_str(200, JSON, json.dumps(item))
    else:
        proto.response_str(404, TEXT, "not found")
