"""The CovetPy tour: every feature of the core in one small app.

Run it with ``make run`` (or ``covet serve examples.hello:app``) and try::

    curl localhost:8000/
    curl 'localhost:8000/users/7?q=hi&limit=3'
    curl -X POST localhost:8000/items -d '{"name": "pen", "price": 1.5, "tags": ["office"]}'
"""

from __future__ import annotations

import asyncio
import enum
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from typing_extensions import TypedDict  # pydantic needs this one on Python < 3.12

from covet import (
    BackgroundTasks,
    Body,
    Cookie,
    Covet,
    Depends,
    Header,
    HTTPError,
    JSONResponse,
    Path,
    PlainTextResponse,
    Query,
    RedirectResponse,
    Request,
    Response,
    Router,
    StreamingResponse,
)

app = Covet(title="CovetPy tour", version="1.0.0", description="Every feature of the core in one small app.")


@app.get("/", inline=True)
def index() -> str:
    return "Hello, World!"


@app.get("/plaintext", inline=True)
def plaintext() -> str:
    return "Hello, World!"


@app.get("/json", inline=True)
def json_hello() -> dict[str, str]:
    return {"message": "Hello, World!"}


@app.get("/users/{user_id}", inline=True)
def get_user(user_id: int, q: str | None = None, limit: int = 10) -> dict[str, object]:
    return {"id": user_id, "q": q, "limit": limit}


@dataclass
class Item:
    name: str
    price: float
    tags: list[str]


@app.post("/items", status=201)
async def create_item(item: Item) -> Item:
    return item


class Point(TypedDict):
    x: float
    y: float


@app.post("/points", responses={400: "No points were given"}, inline=True)
def centroid(points: list[Point]) -> Point:
    """The centroid of some points.

    Answers 400 when the list is empty.
    """
    if not points:
        raise HTTPError(400, "at least one point is needed")
    n = len(points)
    # Divide first: the sum of a few huge coordinates would overflow to infinity, which JSON cannot hold.
    return {"x": sum(p["x"] / n for p in points), "y": sum(p["y"] / n for p in points)}


@app.get("/h", inline=True)
def header_echo(x_test: Annotated[str, Header()] = "") -> str:
    return x_test


@app.get("/whoami", inline=True)
def whoami(session: Annotated[str | None, Cookie()] = None,
           user_agent: Annotated[str, Header()] = "?") -> dict[str, object]:
    return {"session": session, "user_agent": user_agent}


@app.get("/search", inline=True)
def search(ids: list[int] = [], page_size: Annotated[int, Query(alias="page-size")] = 20) -> dict[str, object]:
    return {"ids": ids, "page_size": page_size}


class Color(enum.Enum):
    red = "red"
    green = "green"


@app.get("/colors/{color}", inline=True)
def color(color: Color) -> str:
    return color.value


@app.get("/things/{thing_id}", inline=True)
def thing(thing_id: uuid.UUID, verbose: bool = False) -> dict[str, object]:
    return {"id": str(thing_id), "verbose": verbose}


@app.get("/files/{rest:path}", inline=True)
def files(rest: str) -> str:
    return rest


@app.post("/echo")
async def echo(request: Request) -> bytes:
    return await request.body()


@app.route("/inspect", methods=["GET", "POST", "PUT"])
async def inspect_request(request: Request) -> dict[str, object]:
    return {
        "method": request.method,
        "path": request.path,
        "host": request.headers.get("host"),
        "query": request.query.multi_items(),
        "headers": request.headers.getall("x-multi"),
        "cookies": request.cookies,
        "client": list(request.client) if request.client else None,
    }


@app.delete("/items/{item_id}", responses={404: "No such item"}, inline=True)
def delete_item(item_id: int) -> None:
    if item_id < 0:
        raise HTTPError(404, f"item {item_id} not found", headers={"x-reason": "negative"})


@app.get("/slow")
async def slow(ms: Annotated[int, Query(ge=0, le=2000, description="how long to sleep")] = 50) -> str:
    await asyncio.sleep(ms / 1000)
    return f"slept {ms} ms"


# A ``def`` handler runs in the thread pool (as in FastAPI): a long computation or a blocking call holds up only
# its own request. The routes above that only compute an answer from their parameters say ``inline=True``: they
# never block, so they skip the hand-off to a thread and run on the event loop.
@app.get("/cpu")
def cpu_bound(n: Annotated[int, Query(ge=0, le=10_000_000)] = 100_000) -> dict[str, int]:
    return {"sum": sum(range(n))}


@app.get("/custom",
         responses={418: {"description": "Always", "content": {"text/plain": {"schema": {"type": "string"}}}}})
def custom() -> Response:
    return PlainTextResponse("teapot", status=418, headers={"x-custom": "yes"})


@app.get("/made", status=202, inline=True)
def made() -> JSONResponse:
    return JSONResponse({"made": True}, status=202)


@app.get("/old", responses={307: {"description": "Moved to /"}}, inline=True)
def old() -> RedirectResponse:
    return RedirectResponse("/")


@app.get("/stream", inline=True)
def stream(n: Annotated[int, Query(ge=0, le=10_000)] = 5) -> StreamingResponse:
    # Any iterable or async iterable of str/bytes streams; each item is one chunk.
    return StreamingResponse((f"{i}\n" for i in range(n)), media_type="text/plain")


@app.get("/boom", include_in_schema=False, inline=True)
def boom() -> str:
    raise RuntimeError("this handler is broken on purpose")


# Dependencies: providers computed per request, declared with Depends, planned once at start-up.
cleanups: list[str] = []  # what the generator dependency and background tasks did, for /deps/log


class Settings(TypedDict):
    region: str


def get_settings() -> Settings:
    return {"region": "eu"}


def get_db(settings: Annotated[Settings, Depends(get_settings)]) -> Iterator[str]:
    """A resource opened for the request and closed after the response is sent."""
    conn = f"db-{settings['region']}"
    try:
        yield conn
    finally:
        cleanups.append(f"closed {conn}")


async def current_user(x_token: Annotated[str, Header()] = "", db: Annotated[str, Depends(get_db)] = "") -> str:
    if x_token != "secret":
        raise HTTPError(401, "a valid X-Token header is needed", headers={"www-authenticate": "Token"})
    return f"ada (via {db})"


@app.get("/me", responses={401: "No valid X-Token"})
async def me(user: Annotated[str, Depends(current_user)], settings: Annotated[Settings, Depends(get_settings)],
             tasks: BackgroundTasks) -> dict[str, object]:
    tasks.add_task(cleanups.append, f"notified {user}")
    return {"user": user, "region": settings["region"]}


@app.get("/deps/log", inline=True)
def deps_log() -> list[str]:
    return cleanups


# A router groups routes under a prefix and tags; include_router adds them to the app.
accounts = Router(prefix="/accounts", tags=["accounts"])


@accounts.get("/{account_id}", inline=True)
def get_account(account_id: Annotated[int, Path(ge=1)], verbose: bool = False) -> dict[str, object]:
    """One account, by its number."""
    return {"account": account_id, "verbose": verbose}


@accounts.post("/{account_id}/rename", inline=True)
def rename_account(account_id: Annotated[int, Path(ge=1)],
                   name: Annotated[str, Body(min_length=1, max_length=40)]) -> dict[str, object]:
    return {"account": account_id, "name": name}


app.include_router(accounts)


state: dict[str, bool] = {"started": False}


@app.on_startup
async def startup() -> None:
    state["started"] = True


@app.on_shutdown
def shutdown() -> None:
    state["started"] = False


@app.get("/health", inline=True)
def health() -> dict[str, bool]:
    return state
