"""The dependencies of the typed gRPC methods (grpc_typed.py), which a REST route of grpc_app.py shares. A
generator dependency is an async generator, which mypyc does not compile: it lives here, apart from the methods."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from covet import Depends, Header, HTTPException

finished: list[str] = []  # the users whose session dependency has finished, in order


async def current_user(x_user: Annotated[str | None, Header()] = None) -> str:
    if x_user is None:
        raise HTTPException(401, "who are you?")
    if x_user == "mallory":
        raise HTTPException(403, "not you")
    return x_user


async def session(user: Annotated[str, Depends(current_user)]) -> AsyncIterator[str]:
    yield f"session of {user}"
    finished.append(user)
