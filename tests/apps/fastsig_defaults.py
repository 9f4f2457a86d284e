"""FastAPI's tutorial style to the letter, for tests/test_fastapi_signature.py: parameter markers written as
defaults, and a pydantic model beside the routes.

``covet build`` keeps this module interpreted and says why (mypyc checks a default against its parameter's type,
and would erase the model's field types); it is served interpreted on every loop.
"""

from typing import Any

from pydantic import BaseModel

from covet import Body, Covet, File, Header, Path, Query

app = Covet()


class Item(BaseModel):
    name: str
    description: str | None = None
    price: float


@app.post("/items/")
async def create_item(item: Item) -> Item:
    return item


@app.get("/search/")
async def search(
    q: str | None = Query(default=None, max_length=5, title="Query string", description="What to find"),
    limit: int = Query(10, ge=1, le=100),
    tag: list[str] = Query(default=[], alias="item-tag"),
    bare: list = Query(default=[]),  # FastAPI reads a bare list as list[Any]
) -> Any:
    return {"q": q, "limit": limit, "tag": tag, "bare": bare}


@app.get("/things/{thing_id}")
async def read_thing(
    thing_id: int = Path(..., gt=0, title="The ID of the thing"),
    size: float = Query(..., lt=10.5),
    user_agent: str | None = Header(None),
) -> Any:
    return {"thing_id": thing_id, "size": size, "user_agent": user_agent}


@app.put("/importance")
async def importance(value: int = Body(..., gt=0, embed=True), note: str = Body("none")) -> Any:
    return {"value": value, "note": note}


@app.post("/files/")
async def create_file(file: bytes = File(), other: bytes | None = File(None)) -> Any:
    return {"file_size": len(file), "other": other}


@app.get("/untyped")
async def untyped(name: str = Query("Rick")):  # type: ignore[no-untyped-def]  # FastAPI's examples have none
    return name
