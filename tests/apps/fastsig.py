"""FastAPI's handler-signature and response-model features, written in FastAPI's style, for
tests/test_fastapi_signature.py: served interpreted and compiled. The models are in fastsig_models.py (a module
that defines pydantic models stays interpreted in a build); markers written as defaults, which mypyc cannot
compile either, are in fastsig_defaults.py, with models beside its routes."""

from ipaddress import IPv4Address
from pathlib import PurePosixPath
from typing import Annotated, Any

from pydantic import HttpUrl

from covet import Body, Covet, File, HTMLResponse, PlainTextResponse, Query, RedirectResponse, Response
from fastsig_models import Aliased, Item, Message, User, UserIn, UserOut  # served from tests/apps, or built beside this

app = Covet()


items: dict[str, dict[str, Any]] = {
    "foo": {"name": "Foo", "price": 50.2},
    "bar": {"name": "Bar", "description": "The bartenders", "price": 62, "tax": 20.2},
    "baz": {"name": "Baz", "description": None, "price": 50.2, "tax": 10.5, "tags": []},
}


@app.get("/items/{item_id}", response_model=Item, response_model_exclude_unset=True)
async def read_item(item_id: str) -> Any:
    return items[item_id]


@app.get("/items/{item_id}/name", response_model=Item, response_model_include={"name", "description"})
async def read_item_name(item_id: str) -> Any:
    return items[item_id]


@app.get("/items/{item_id}/public", response_model=Item, response_model_exclude={"tax"})
async def read_item_public_data(item_id: str) -> Any:
    return items[item_id]


@app.get("/items/{item_id}/nonone", response_model=Item, response_model_exclude_none=True)
async def read_item_no_none(item_id: str) -> Any:
    return items[item_id]


@app.get("/items/{item_id}/nodefaults", response_model=Item, response_model_exclude_defaults=True)
async def read_item_no_defaults(item_id: str) -> Any:
    return items[item_id]


@app.post("/user/", response_model=UserOut)
async def create_user(user: UserIn) -> Any:
    return user


@app.get("/unfiltered", response_model=None)
async def unfiltered() -> dict[str, Any]:
    return {"kept": True, "secret": "x"}


@app.get("/users", response_model=list[User])
async def list_users() -> Any:
    return [{"username": "ada", "password": "hidden"}, {"username": "bob", "full_name": "Bob"}]


@app.get("/page", response_class=HTMLResponse)
async def page() -> str:
    return "<h1>hello</h1>"


@app.get("/text", response_class=PlainTextResponse)
def text() -> str:
    return "plain"


@app.get("/go", response_class=RedirectResponse)
async def go() -> str:
    return "/page"


@app.get("/found", response_class=RedirectResponse, status_code=302)
async def found() -> str:
    return "/text"


@app.get("/messages/{item_id}", responses={404: {"model": Message, "description": "The item was not found"}})
async def read_message(item_id: str) -> Any:
    if item_id not in items:
        return Response('{"message": "Item not found"}', 404, media_type="application/json")
    return Item(**items[item_id])


@app.put("/merge/{item_id}")
async def merge(item_id: int, item: Item, user: User, importance: Annotated[int, Body(gt=0)],
                q: str | None = None) -> Any:
    return {"item_id": item_id, "item": item, "user": user, "importance": importance, "q": q}


@app.put("/embed/{item_id}")
async def embed(item_id: int, item: Annotated[Item, Body(embed=True)]) -> Any:
    return {"item_id": item_id, "item": item}


@app.post("/tags/")
async def tags(tags: Annotated[list[str], Body()], limit: int = 10) -> Any:
    return {"tags": tags[:limit]}


@app.get("/any-text")
async def any_text() -> Any:
    return "hello"


@app.get("/plain-text")
async def plain_text() -> str:
    return "hello"


@app.post("/files/")
async def create_file(file: Annotated[bytes, File()]) -> Any:
    return {"file_size": len(file)}


@app.post("/many-files/")
async def create_files(files: Annotated[list[bytes], File()]) -> Any:
    return {"file_sizes": [len(f) for f in files]}


@app.put("/headers/")
def with_headers(response: Response) -> Any:
    response.set_header("X-Cat-Dog", "alone in the world")
    response.set_cookie(key="fakesession", value="fake-cookie-session-value")
    return {"message": "Hello World"}


@app.put("/status/{key}", status_code=200)
async def status(key: str, response: Response) -> Any:
    if key == "new":
        response.status_code = 201
        return {"created": key}
    return {"existing": key}


@app.get("/own-response")
async def own_response(response: Response) -> Any:
    response.set_header("x-ignored", "yes")
    return PlainTextResponse("mine")


@app.get("/alias", response_model=Aliased)
async def alias() -> Any:
    return {"itemName": "pen"}


@app.get("/no-alias", response_model=Aliased, response_model_by_alias=False)
async def no_alias() -> Any:
    return Aliased(itemName="pen")


@app.get("/bare-list")
async def bare_list(q: Annotated[list, Query()] = []) -> Any:  # FastAPI reads a bare list as list[Any]
    return {"q": q}


@app.get("/where")
async def where(url: HttpUrl | None = None, ip: IPv4Address | None = None, path: PurePosixPath | None = None) -> Any:
    """Types that are no model, mapping or sequence: read from the query, as FastAPI reads them."""
    return {"url": str(url), "host": url.host if url else None, "ip": str(ip), "path": str(path)}
