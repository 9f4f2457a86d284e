"""Dependencies in every shape, for tests/test_depends.py: served interpreted and compiled."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from covet import (
    BackgroundTasks,
    Covet,
    Depends,
    Header,
    HTTPError,
    Query,
    Request,
    Router,
    StreamingResponse,
)
from deps_async import asession, events  # served from tests/apps, or built as a project of its own

app = Covet()
calls: dict[str, int] = {"counted": 0}


@app.get("/events")
def get_events() -> list[str]:
    return events


@app.post("/events/clear")
def clear_events() -> None:
    events.clear()
    calls["counted"] = 0


# -- caching ------------------------------------------------------------------------------------


def counted() -> int:
    calls["counted"] += 1
    return calls["counted"]


def first(n: Annotated[int, Depends(counted)]) -> int:
    return n


def second(n: Annotated[int, Depends(counted)]) -> int:
    return n


@app.get("/cached")
def cached(a: Annotated[int, Depends(first)], b: Annotated[int, Depends(second)],
           c: Annotated[int, Depends(counted)]) -> dict[str, int]:
    return {"a": a, "b": b, "c": c, "calls": calls["counted"]}


@app.get("/uncached")
def uncached(a: Annotated[int, Depends(counted, use_cache=False)],
             b: Annotated[int, Depends(counted, use_cache=False)]) -> dict[str, int]:
    return {"a": a, "b": b}


# -- nesting, parameters of providers ------------------------------------------------------------


def paging(page: Annotated[int, Query(ge=1)] = 1, size: Annotated[int, Query(ge=1, le=100)] = 10) -> tuple[int, int]:
    return (page - 1) * size, size


async def listing(window: Annotated[tuple[int, int], Depends(paging)], request: Request) -> dict[str, object]:
    offset, limit = window
    return {"offset": offset, "limit": limit, "path": request.path}


@app.get("/items")
async def items(found: Annotated[dict[str, object], Depends(listing)], size: int = 10) -> dict[str, object]:
    return {**found, "size_seen_by_handler": size}


# -- checks that run for their effect -------------------------------------------------------------


def require_key(x_key: Annotated[str, Header()] = "") -> None:
    if x_key != "k":
        raise HTTPError(403, "an X-Key header is needed")


@app.get("/guarded", dependencies=[Depends(require_key)])
def guarded() -> str:
    return "in"


admin = Router(prefix="/admin", tags=["admin"], dependencies=[Depends(require_key)])


@admin.get("/stats")
def stats() -> dict[str, int]:
    return {"users": 1}


app.include_router(admin)


# -- generators: clean-up after the response, and exceptions ---------------------------------------


def session(x_name: Annotated[str, Header()] = "s") -> Iterator[str]:
    events.append(f"open {x_name}")
    try:
        yield x_name
    except HTTPError as exc:
        events.append(f"{x_name} saw {exc.status}")
        raise
    finally:
        events.append(f"close {x_name}")


@app.get("/session")
async def use_session(s: Annotated[str, Depends(session)], a: Annotated[str, Depends(asession)],
                      tasks: BackgroundTasks) -> str:
    tasks.add_task(events.append, "task")
    events.append("handler")
    return s + a


@app.get("/session/conflict")
def conflict(s: Annotated[str, Depends(session)]) -> str:
    raise HTTPError(409, "taken")


def translate() -> Iterator[None]:
    try:
        yield
    except ValueError as exc:
        raise HTTPError(400, f"bad value: {exc}") from exc


@app.get("/session/translated")
def translated(_: Annotated[None, Depends(translate)]) -> str:
    raise ValueError("nope")


class Dangerous(Exception):
    pass


def swallow() -> Iterator[str]:
    try:
        yield "Rick"
    except Dangerous:
        events.append("swallowed")  # not raised again: the handler's own exception goes on (a 500)


@app.get("/session/swallowed")
def swallowed(name: Annotated[str, Depends(swallow)]) -> str:
    raise Dangerous(f"too dangerous for {name}")


@app.get("/session/stream")
def stream(s: Annotated[str, Depends(session)]) -> StreamingResponse:
    def chunks() -> Iterator[str]:
        for i in range(3):
            events.append(f"chunk {i}")
            yield f"{i}\n"

    return StreamingResponse(chunks(), media_type="text/plain")


def notify(tasks: BackgroundTasks) -> BackgroundTasks:
    tasks.add_task(events.append, "from a dependency")
    return tasks


@app.get("/collide")
def collide(tasks: int, bg: BackgroundTasks, d1_x: str = "mine") -> dict[str, object]:
    bg.add_task(events.append, f"collide {tasks}")
    return {"tasks": tasks, "d1_x": d1_x}


@app.get("/session/blocking", blocking=True)
def blocking(s: Annotated[str, Depends(session)], _: Annotated[BackgroundTasks, Depends(notify)]) -> str:
    events.append("blocking handler")
    return s


# -- scope="function": finished once the handler has returned, before the response is sent -----------------------


@app.get("/session/function")
async def function_scoped(s: Annotated[str, Depends(session, scope="function")],
                          a: Annotated[str, Depends(asession, scope="function")], tasks: BackgroundTasks) -> str:
    tasks.add_task(events.append, "task")
    events.append("handler")
    return s + a


@app.get("/session/function/mixed")
def function_and_request(s: Annotated[str, Depends(session, scope="function")],
                         a: Annotated[str, Depends(asession)], tasks: BackgroundTasks) -> str:
    tasks.add_task(events.append, "task")
    events.append("handler")
    return s + a


@app.get("/session/function/conflict")
def function_conflict(s: Annotated[str, Depends(session, scope="function")]) -> str:
    raise HTTPError(409, "taken")


@app.get("/session/function/stream")
def function_stream(s: Annotated[str, Depends(session, scope="function")]) -> StreamingResponse:
    def chunks() -> Iterator[str]:
        for i in range(2):
            events.append(f"chunk {i}")
            yield f"{i}\n"

    return StreamingResponse(chunks(), media_type="text/plain")


@app.get("/session/function/inline", inline=True)
def function_inline(s: Annotated[str, Depends(session, scope="function")], tasks: BackgroundTasks) -> str:
    tasks.add_task(events.append, "task")
    events.append("inline handler")
    return s


# A default that calls something runs once, when its def runs, in both modes: the compiled glue takes the value the
# def computed (covet/runtime/kept.py) instead of evaluating the expression again.
default_calls: list[str] = []


def stamp(what: str) -> str:
    default_calls.append(what)
    return f"{what}-{len(default_calls)}"


def stamped(tag: str = stamp("dep")) -> str:
    return tag


LIMIT = 10


@app.get("/defaults")
def defaults(dep: Annotated[str, Depends(stamped)],
             own: str = stamp(
                 "handler"), limit: int = LIMIT) -> dict[str, object]:
    return {"dep": dep, "own": own, "limit": limit, "calls": list(default_calls)}


LIMIT = 20  # bound again: the default is still the value the def saw
