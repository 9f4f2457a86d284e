"""The benchmark endpoints written idiomatically for FastAPI."""

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

app = FastAPI()


@app.get("/plaintext", response_class=PlainTextResponse)
async def plaintext() -> str:
    return "Hello, World!"


@app.get("/json")
async def json_() -> dict[str, str]:
    return {"message": "Hello, World!"}


@app.get("/users/{user_id}")
async def user(user_id: int, q: str | None = None) -> dict[str, object]:
    return {"id": user_id, "q": q}


class Item(BaseModel):
    name: str
    price: float
    tags: list[str]


@app.post("/items")
async def items(item: Item) -> Item:
    return item
