"""Where sync code runs: ``def`` handlers and dependencies in the thread pool, unless the route is inline."""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Iterator
from typing import Annotated

from covet import Covet, Depends, HTTPError

app = Covet()
REQUEST_TAG: contextvars.ContextVar[str] = contextvars.ContextVar("request_tag", default="unset")
EVENTS: list[str] = []


def on_loop() -> bool:
    """Whether the caller runs on the event loop's thread (a pool thread has no running loop)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def sync_dep() -> bool:
    return on_loop()


def sync_gen() -> Iterator[bool]:
    EVENTS.append(f"enter on_loop={on_loop()}")
    try:
        yield on_loop()
    except ValueError as exc:
        EVENTS.append(f"thrown {exc} on_loop={on_loop()}")
        raise
    finally:
        EVENTS.append(f"exit on_loop={on_loop()}")


async def tagged() -> str:
    REQUEST_TAG.set("from-an-async-dependency")
    return "tagged"


def refuse() -> None:
    raise HTTPError(401, "Not authenticated", headers={"www-authenticate": "Bearer"})


@app.get("/sleep")
def sleep(seconds: float = 0.3) -> dict[str, float]:
    start = time.monotonic()
    time.sleep(seconds)
    return {"slept": round(time.monotonic() - start, 2)}


@app.get("/where/sync")
def where_sync(dep: Annotated[bool, Depends(sync_dep)], gen: Annotated[bool, Depends(sync_gen)]) -> dict[str, bool]:
    return {"handler": on_loop(), "dep": dep, "gen": gen}


@app.get("/where/inline", inline=True)
def where_inline(dep: Annotated[bool, Depends(sync_dep)], gen: Annotated[bool, Depends(sync_gen)]) -> dict[str, bool]:
    return {"handler": on_loop(), "dep": dep, "gen": gen}


@app.get("/where/async")
async def where_async(dep: Annotated[bool, Depends(sync_dep)]) -> dict[str, bool]:
    return {"handler": on_loop(), "dep": dep}


@app.get("/context")
def context(tag: Annotated[str, Depends(tagged)]) -> dict[str, str]:
    return {"dep": tag, "seen_in_thread": REQUEST_TAG.get()}


@app.get("/raises")
def raises(gen: Annotated[bool, Depends(sync_gen)]) -> str:
    raise ValueError("handler failed")


@app.get("/refused", dependencies=[Depends(refuse)])
def refused() -> str:
    return "never"


@app.get("/events", inline=True)
def events() -> list[str]:
    found = list(EVENTS)
    EVENTS.clear()
    return found


@app.get("/hog", inline=True)
def hog(seconds: float = 0.8) -> str:
    time.sleep(seconds)
    return "done"
