"""The benchmark endpoints written idiomatically for Robyn (Rust runtime, one process, one worker).

Run as `python robyn_app.py --processes 1 --workers 1 --log-level WARNING --port N`: Robyn's own
CLI ignores --port, which this file reads. Path and query parameters are bound and coerced from
the handlers' annotations; the POST body is validated by a pydantic model (bad body 422).
"""

import argparse

from pydantic import BaseModel
from robyn import Robyn

app = Robyn(__file__)


class Item(BaseModel):
    name: str
    price: float
    tags: list[str]


@app.get("/plaintext")
def plaintext() -> str:
    return "Hello, World!"


@app.get("/json")
def json_() -> dict[str, str]:
    return {"message": "Hello, World!"}


@app.get("/users/:user_id")
def user(user_id: int, q: str | None = None) -> dict[str, object]:
    return {"id": user_id, "q": q}


@app.post("/items")
def items(item: Item) -> Item:
    return item


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8080)
    port = ap.parse_known_args()[0].port
    app.start(host="127.0.0.1", port=port)
