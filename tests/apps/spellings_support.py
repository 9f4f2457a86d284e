"""The lifespan and data classes of tests/apps/spellings.py: an async generator, which mypyc cannot compile (nor
a pydantic model, here), so they live in a module without handlers that the build imports rather than compiles."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from pydantic import BaseModel

events: list[str] = []


@asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[dict[str, Any]]:
    events.append("lifespan enter")
    app.state.pool = "the pool"
    yield {"db": "lifespan db"}
    events.append("lifespan exit")


class Colour(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Item(BaseModel):
    name: str
    price: float = 1.0
    note: str | None = None
