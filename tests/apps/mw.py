"""Middleware, exception handlers, cookies and sessions, for tests/test_middleware.py: served interpreted and
compiled."""

from __future__ import annotations

import asyncio
from typing import Annotated

from covet import (
    AnyResponse,
    BackgroundTasks,
    CallNext,
    Covet,
    Depends,
    HTTPError,
    JSONResponse,
    PlainTextResponse,
    Query,
    Request,
    RequestValidationError,
    Response,
    Router,
    Session,
    SessionMiddleware,
    session,
)

app = Covet()
seen: list[str] = []


async def stamp(request: Request, call_next: CallNext) -> AnyResponse:
    """App-wide: answers /blocked itself, and stamps every other response."""
    if request.path == "/blocked":
        return PlainTextResponse("blocked by middleware", status=403)
    seen.append(f"{request.method} {request.path}")
    response = await call_next(request)
    response.set_header("x-stamp", f"{response.status}")
    return response


app.add_middleware(stamp)


@app.get("/seen")
def get_seen() -> list[str]:
    return seen


@app.get("/plain")
def plain() -> str:
    return "plain"


@app.get("/teapot")
def teapot() -> str:
    raise HTTPError(418, "short and stout")


@app.get("/slow")
async def slow() -> str:
    await asyncio.sleep(0.01)
    return "slow"


# -- exception handlers ----------------------------------------------------------------------------


class OutOfStock(Exception):
    def __init__(self, item: str) -> None:
        super().__init__(item)
        self.item = item


def out_of_stock(request: Request, exc: OutOfStock) -> Response:
    body = {"error": "out of stock", "item": exc.item, "path": request.path}
    probe = request.headers.get("x-probe")
    if probe is not None:
        body["probe"] = probe  # the handler sees the request's headers, on every transport
    return JSONResponse(body, status=409)


class Gone(HTTPError):
    def __init__(self) -> None:
        super().__init__(410, "gone")


def gone(request: Request, exc: Gone) -> Response:
    return PlainTextResponse("gone for good", status=410)


async def lookup_failed(request: Request, exc: LookupError) -> Response:
    await asyncio.sleep(0)
    return JSONResponse({"error": "not found", "kind": type(exc).__name__}, status=404)


def key_failed(request: Request, exc: KeyError) -> Response:
    return JSONResponse({"error": "no such key", "key": str(exc.args[0])}, status=404)


def anything(request: Request, exc: Exception) -> Response:
    return PlainTextResponse(f"handled {type(exc).__name__}", status=500)


app.exception_handler(OutOfStock)(out_of_stock)
app.exception_handler(LookupError)(lookup_failed)
app.exception_handler(KeyError)(key_failed)
app.exception_handler(Exception)(anything)
app.exception_handler(Gone)(gone)


def invalid(request: Request, exc: RequestValidationError) -> Response:
    where = [".".join(str(part) for part in e["loc"]) for e in exc.errors()]
    return JSONResponse({"error": "invalid request", "where": where, "path": request.path}, status=400)


app.exception_handler(RequestValidationError)(invalid)


@app.get("/count")
def count(n: int, m: Annotated[int, Query(ge=0)] = 0) -> dict[str, int]:
    return {"n": n, "m": m}


@app.post("/count")
async def post_count(body: dict[str, int]) -> dict[str, int]:
    await asyncio.sleep(0)
    return body


@app.get("/static-error")
def static_error() -> str:
    raise OutOfStock("static")


@app.get("/gone")
def gone_route() -> str:
    raise Gone()


@app.get("/buy/{item}")
def buy(item: str) -> str:
    raise OutOfStock(item)


@app.get("/index")
def index_error() -> str:
    items: list[str] = []
    return items[1]  # IndexError: a LookupError, answered by the async handler


@app.get("/key")
async def key_error() -> str:
    await asyncio.sleep(0)
    table: dict[str, str] = {}
    return table["missing"]  # KeyError: the more specific handler wins


@app.get("/zero")
def zero() -> str:
    return str(1 / 0)


@app.get("/http-error")
def http_error() -> str:
    raise HTTPError(402, "pay first")  # keeps its own answer: only an HTTPError handler would take it


def failing_dependency() -> int:
    raise OutOfStock("from a dependency")


@app.get("/dep-error")
def dep_error(n: Annotated[int, Depends(failing_dependency)]) -> str:
    return str(n)


# -- cookies and sessions, on a router with its own middleware ---------------------------------------


@app.get("/cookie/set")
def set_cookie() -> Response:
    r = PlainTextResponse("set")
    r.set_cookie("theme", "dark mode", max_age=60, httponly=True, samesite="strict")
    r.set_cookie("plain", "1", path=None, samesite=None)
    return r


@app.get("/cookie/delete")
def delete_cookie() -> Response:
    r = PlainTextResponse("deleted")
    r.delete_cookie("theme")
    return r


accounts = Router(prefix="/s", middleware=[SessionMiddleware("not-a-real-secret", max_age=3600)])


@accounts.post("/login")
def login(user: str, s: Annotated[Session, Depends(session)]) -> str:
    s["user"] = user
    s["visits"] = 0
    return f"hello {user}"


@accounts.get("/me")
async def me(s: Annotated[Session, Depends(session)]) -> dict[str, object]:
    await asyncio.sleep(0)  # suspends: the session must still be this request's
    if "user" not in s:
        raise HTTPError(401, "not signed in")
    s["visits"] = s.get("visits", 0) + 1
    return {"user": s["user"], "visits": s["visits"]}


@accounts.post("/logout")
def logout(s: Annotated[Session, Depends(session)]) -> str:
    s.clear()
    return "bye"


app.include_router(accounts)


async def replace(request: Request, call_next: CallNext) -> AnyResponse:
    await call_next(request)
    return JSONResponse({"replaced": True})


replaced = Router(prefix="/r")


@replaced.get("/task")
def with_task(tasks: BackgroundTasks) -> str:
    tasks.add_task(seen.append, "task after a replaced response")
    return "original"


app.include_router(replaced, middleware=[replace])


@app.get("/no-session")
def no_session(s: Annotated[Session, Depends(session)]) -> str:
    return "unreachable"
