"""A FastAPI-style application written with FastAPI's spellings, for tests/test_fastapi_spellings.py: served
interpreted and compiled."""

from __future__ import annotations

import datetime
import decimal
import os
from typing import Annotated, Any

from starlette.exceptions import HTTPException as StarletteHTTPException

from covet import APIRouter, Body, Covet, Depends, Header, HTTPException, Request, status
from covet.encoders import jsonable_encoder
from covet.exceptions import RequestValidationError
from covet.responses import (
    FileResponse,
    JSONResponse,
    ORJSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from covet.staticfiles import StaticFiles
from spellings_support import Colour, Item, Point, events, lifespan  # from tests/apps, or built beside it

STATIC = os.environ.get("COVET_TEST_STATIC", ".")

def not_blocked(x_block: Annotated[str, Header()] = "") -> None:
    if x_block:
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="blocked")


app = Covet(lifespan=lifespan, dependencies=[Depends(not_blocked)])
app.state.greeting = "hello"


@app.on_event("startup")
async def started() -> None:
    events.append("startup")


@app.on_event("shutdown")
def stopping() -> None:
    events.append("shutdown")


router = APIRouter(prefix="/r", tags=["router"], responses={404: "Not here"})


@router.get("/items/{item_id}", name="router_item")
def read_router_item(item_id: int) -> dict[str, int]:
    return {"item_id": item_id}


app.include_router(router)


@app.get("/events")
def get_events() -> list[str]:
    return events


@app.get("/teapot")
def teapot() -> None:
    raise HTTPException(status_code=status.HTTP_418_IM_A_TEAPOT, detail="tea", headers={"x-tea": "earl grey"})


@app.get("/positional")
def positional() -> None:
    raise HTTPException(status.HTTP_409_CONFLICT, "taken")


@app.get("/gone")
def gone() -> None:
    raise HTTPException(status_code=410)


@app.get("/responses/{kind}")
def responses(kind: str) -> Response:
    if kind == "plain":
        return PlainTextResponse("made", status_code=status.HTTP_201_CREATED)
    if kind == "json":
        return JSONResponse({"accepted": True}, status_code=202)
    if kind == "orjson":
        return ORJSONResponse({"fast": [1, 2]}, status_code=200)
    if kind == "redirect":
        return RedirectResponse("/teapot", status_code=302)
    if kind == "redirect-default":
        return RedirectResponse(url="/teapot")
    return Response(content=b"raw", status_code=203, media_type="text/plain", headers={"x-kind": kind})


@app.get("/file")
def file() -> FileResponse:
    return FileResponse(os.path.join(STATIC, "hello.txt"), filename="greeting.txt")


@app.get("/state")
def state(request: Request) -> dict[str, object]:
    request.state.user = "ann"
    return {
        "greeting": request.app.state.greeting,
        "pool": request.app.state.pool,
        "db": request.state.db,
        "user": request.state.user,
        "item_url": str(request.url_for("router_item", item_id=3)),
        "static_url": str(request.url_for("static", path="/hello.txt")),
        "teapot_path": request.app.url_path_for("teapot"),
    }


@app.get("/state/fresh")
def fresh_state(request: Request) -> dict[str, bool]:
    return {"user_seen": hasattr(request.state, "user")}


@app.get("/slash/")
def slash(q: str = "") -> dict[str, str]:
    return {"route": "slash/", "q": q}


@app.post("/noslash")
def noslash() -> dict[str, str]:
    return {"route": "noslash"}


@app.get("/twice")
def twice_first() -> list[str]:
    return ["first"]


@app.get("/twice")  # FastAPI: the first declaration answers; the second is shadowed (and documented)
def twice_second() -> list[str]:
    return ["second"]


@app.get("/encoded")
def encoded() -> dict[str, object]:
    data = {
        "when": datetime.datetime(2026, 1, 2, 3, 4, 5),
        "whole": decimal.Decimal("3"),
        "part": decimal.Decimal("1.5"),
        "colour": Colour.RED,
        "point": Point(1, 2),
        "item": Item(name="pen"),
        "tags": {"a"},
        "took": datetime.timedelta(seconds=90),
    }
    out = jsonable_encoder(data)
    out["unset"] = jsonable_encoder(Item(name="pen"), exclude_unset=True)
    return {"encoded": out}


@app.post("/items")
def create_item(item: Item) -> Item:
    return item


@app.post("/inline/items", inline=True)  # on io_uring, called by the core itself, handed only the Content-Type
def create_item_inline(item: Item) -> Item:
    return item


@app.post("/text")
async def take_text(text: Annotated[str, Body()]) -> dict[str, str]:
    return {"text": text}


@app.get("/validated/{n}")
def validated(n: int) -> dict[str, int]:
    return {"n": n}


app.mount("/static", StaticFiles(directory=STATIC), name="static")


@app.exception_handler(404)
async def not_found(request: Request, exc: HTTPException) -> JSONResponse:
    return JSONResponse({"missing": request.url.path, "detail": exc.detail}, status_code=404)


# What it receives is CovetPy's HTTPException (status_code, detail, headers): annotated Any, as FastAPI's tutorial
# leaves it unannotated (a compiled handler checks its argument's declared class).
@app.exception_handler(StarletteHTTPException)
async def http_errors(request: Request, exc: Any) -> PlainTextResponse:
    return PlainTextResponse(f"caught: {exc.detail}", status_code=exc.status_code, headers=exc.headers)


@app.exception_handler(RequestValidationError)
async def invalid(request: Request, exc: RequestValidationError) -> PlainTextResponse:
    body = f" {exc.body!r}" if exc.body is not None else ""
    return PlainTextResponse(f"invalid: {exc.errors()[0]['loc']}{body}", status_code=400)
