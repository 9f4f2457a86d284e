"""An async generator the build cannot lift out of its module (a method): the module stays interpreted."""

from __future__ import annotations

from collections.abc import AsyncIterator

from covet import Covet

app = Covet()


class Numbers:
    async def count(self, n: int) -> AsyncIterator[int]:
        for i in range(n):
            yield i


@app.get("/count/{n}")
async def count(n: int) -> list[int]:
    return [i async for i in Numbers().count(n)]
