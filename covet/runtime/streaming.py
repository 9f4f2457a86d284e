"""The body of a streaming response as bytes chunks (an async generator, which mypyc cannot compile)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

__all__ = ["body_chunks"]


async def body_chunks(content: Any) -> AsyncGenerator[bytes, None]:
    """The body chunks of a streaming response, as bytes; closes the source when done."""
    if hasattr(content, "__aiter__"):
        source = content.__aiter__()
        try:
            async for item in source:
                yield item.encode() if isinstance(item, str) else bytes(item)
        finally:
            aclose = getattr(source, "aclose", None)
            if aclose is not None:
                await aclose()
    else:
        for item in content:
            yield item.encode() if isinstance(item, str) else bytes(item)
