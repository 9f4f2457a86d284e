"""The benchmark endpoints written idiomatically for CovetPy."""

from dataclasses import dataclass

from covet import Covet

app = Covet()


@app.get("/plaintext", inline=True)
def plaintext() -> str:
    return "Hello, World!"


@app.get("/json", inline=True)
def json_() -> dict[str, str]:
    return {"message": "Hello, World!"}


@app.get("/users/{user_id}", inline=True)
def user(user_id: int, q: str | None = None) -> dict[str, object]:
    return {"id": user_id, "q": q}


@dataclass
class Item:
    name: str
    price: float
    tags: list[str]


@app.post("/items", inline=True)
def items(item: Item) -> Item:
    return item
