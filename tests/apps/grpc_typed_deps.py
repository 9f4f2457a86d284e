"""The dependencies of the typed gRPC methods (grpc_typed.py), which a REST route of grpc_app.py shares. A
generator dependency is an async generator, which mypyc does not compile: it lives here, apart from the methods."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from covet import Depends, Header, HTTPException

finished: list[str] = []  # the users whose session dependency has finished (and what else ended), in order


async def current_user(x_user: Annotated[str | None, Header()] = None) -> str:
    if x_user is None:
        raise HTTPException(401, "who are you?")
    if x_user == "mallory":
        raise HTTPException(403, "not you")
    return x_user


async def session(user: Annotated[str, Depends(current_user)],
                  x_cleanup: Annotated[float, Header()] = 0.0) -> AsyncIterator[str]:
    """Its clean-up takes ``x-cleanup`` seconds: past the call's deadline, it still runs whole."""
    try:
        yield f"session of {user}"
    finally:
        await asyncio.sleep(x_cleanup)
        finished.append(user)
