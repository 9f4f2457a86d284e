"""Twenty typed routes, for timing `covet build` (perf/buildtime.py)."""

from dataclasses import dataclass
from typing import Annotated

from typing_extensions import TypedDict

from covet import Covet, Header, HTTPError

app = Covet()


@dataclass
class Item:
    name: str
    price: float
    tags: list[str]


class Point(TypedDict):
    x: int
    y: int


ITEMS: dict[int, Item] = {}


@app.get("/", inline=True)
def index() -> str:
    return "ok"


@app.get("/health", inline=True)
def health() -> dict[str, str]:
    return {"status": "up"}


@app.get("/users/{user_id}", inline=True)
def get_user(user_id: int, q: str | None = None) -> dict[str, object]:
    return {"id": user_id, "q": q}


@app.get("/users/{user_id}/posts", inline=True)
def user_posts(user_id: int, limit: int = 10, offset: int = 0) -> list[int]:
    return list(range(offset, offset + limit))


@app.get("/users/{user_id}/posts/{post_id}", inline=True)
def user_post(user_id: int, post_id: int) -> dict[str, int]:
    return {"user": user_id, "post": post_id}


@app.post("/items", status=201, inline=True)
def create_item(item: Item) -> Item:
    ITEMS[len(ITEMS)] = item
    return item


@app.get("/items/{item_id}", inline=True)
def read_item(item_id: int) -> Item:
    found = ITEMS.get(item_id)
    if found is None:
        raise HTTPError(404, "no such item")
    return found


@app.put("/items/{item_id}", inline=True)
def replace_item(item_id: int, item: Item) -> Item:
    ITEMS[item_id] = item
    return item


@app.delete("/items/{item_id}", inline=True)
def delete_item(item_id: int) -> None:
    ITEMS.pop(item_id, None)


@app.get("/items", inline=True)
def list_items(tag: str | None = None) -> list[Item]:
    return [i for i in ITEMS.values() if tag is None or tag in i.tags]


@app.post("/points", inline=True)
def sum_points(points: list[Point]) -> Point:
    return {"x": sum(p["x"] for p in points), "y": sum(p["y"] for p in points)}


@app.get("/echo/{word}", inline=True)
def echo(word: str, times: int = 1) -> str:
    return word * times


@app.get("/agent", inline=True)
def agent(user_agent: Annotated[str | None, Header()] = None) -> dict[str, str | None]:
    return {"agent": user_agent}


@app.get("/square/{n}", inline=True)
def square(n: int) -> int:
    return n * n


@app.get("/divide", inline=True)
def divide(a: float, b: float) -> float:
    if b == 0:
        raise HTTPError(400, "division by zero")
    return a / b


@app.get("/flags", inline=True)
def flags(verbose: bool = False, level: int = 0) -> dict[str, object]:
    return {"verbose": verbose, "level": level}


@app.get("/files/{path:path}", inline=True)
def files(path: str) -> str:
    return path


@app.get("/async/{n}")
async def async_square(n: int) -> int:
    return n * n


@app.get("/bytes", inline=True)
def raw() -> bytes:
    return b"\x00\x01"


@app.get("/version", inline=True)
def version() -> dict[str, str]:
    return {"version": "1"}
