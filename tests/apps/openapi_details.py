"""An app whose OpenAPI document uses FastAPI's details (tests/test_openapi_details.py): the info fields, tags and
servers, titles of inline body and result schemas, body and form field keywords, route options for the document,
webhooks, a ReDoc page."""

from __future__ import annotations

from typing import Annotated, Any

from covet import Body, Covet, File, Form, Path, Query, Request, Response, UploadFile
from covet.responses import JSONResponse
from openapi_details_models import Blob, Item

app = Covet(
    title="Details",
    version="3.0.0",
    summary="Every detail of the document.",
    terms_of_service="https://example.com/terms/",
    contact={"name": "Ada", "email": "ada@example.com"},
    license_info={"name": "MIT", "identifier": "MIT"},
    openapi_tags=[{"name": "items", "description": "Things for sale.",
                   "externalDocs": {"url": "https://example.com/items"}}],
    servers=[{"url": "https://api.example.com", "description": "Production"}],
)


@app.post("/weights/", tags=["items"])
async def weights(items: list[Item]) -> dict[str, float]:
    """Each item's price, by name.

    Prices are in euros.
    \f
    Not for the document: what follows a form feed is for the code's readers.
    """
    return {item.name: item.price for item in items}


@app.put("/items/{item_id}")
async def update(q: str, item_id: Annotated[int, Path(title="The item")],
                 hidden: Annotated[str | None, Query(include_in_schema=False)] = None,
                 item: Annotated[Item | None, Body(description="What to store")] = None) -> dict[str, Any]:
    return {"item_id": item_id, "q": q, "item": item.model_dump() if item else None, "hidden": hidden}


@app.post("/examples/")
async def examples(item: Annotated[Item, Body(examples=[{"name": "pen", "price": 1.5}])]) -> Item:
    return item


@app.post("/upload/")
async def upload(file: Annotated[UploadFile | None, File(description="Any file")] = None,
                 note: Annotated[str, Form(description="A note")] = "none") -> dict[str, Any]:
    return {"file": file.filename if file else None, "note": note}


@app.post("/blob/")
async def blob(data: Blob) -> Blob:
    return data


@app.post("/raw/", response_description="The body's size",
          openapi_extra={"x-raw": True,
                         "requestBody": {"required": True, "content": {
                             "application/json": {"schema": {"type": "object"}}}}})
async def raw(request: Request) -> dict[str, int]:
    return {"size": len(await request.body())}


@app.get("/portal")
async def portal(teleport: bool = False) -> Response:
    return JSONResponse({"teleport": teleport})


@app.webhooks.post("new-item")
def new_item(body: Item) -> None:
    """We POST each new item to the URL you register for `new-item`."""
