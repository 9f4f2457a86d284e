"""The benchmark endpoints written idiomatically for BlackSheep (served by uvicorn).

Parameters are bound from the handlers' annotations; the POST body is bound by FromJSON to a
pydantic model (a bad body answers 400, BlackSheep's way) and the returned model is sent as JSON.
"""

from blacksheep import Application, FromJSON, get, post, text
from pydantic import BaseModel

app = Application()


class Item(BaseModel):
    name: str
    price: float
    tags: list[str]


@get("/plaintext")
async def plaintext():  # type: ignore[no-untyped-def]
    return text("Hello, World!")


@get("/json")
async def json_():  # type: ignore[no-untyped-def]
    return {"message": "Hello, World!"}


@get("/users/{user_id}")
async def user(user_id: int, q: str | None = None):  # type: ignore[no-untyped-def]
    return {"id": user_id, "q": q}


@post("/items")
async def items(item: FromJSON[Item]) -> Item:
    return item.value
