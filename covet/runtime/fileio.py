"""File I/O off the event loop, on a thread pool of its own.

``blocking=True`` handlers and sync background tasks run on the loop's default
executor (six threads on two cores). Static files and uploads used it too, so
40 slow blocking calls kept a static file waiting 17 s. File reads and writes
are short and bounded; here they get ``FILE_THREADS`` threads that application
code cannot take.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO, Final, TypeVar

__all__ = ["FILE_THREADS", "run_file_io", "file_chunks"]

FILE_THREADS: Final = 4

T = TypeVar("T")
_pool: list[ThreadPoolExecutor] = []


def run_file_io(func: Callable[..., T], *args: object) -> asyncio.Future[T]:
    """``func(*args)`` on the file pool, awaited from the running loop."""
    if not _pool:
        _pool.append(ThreadPoolExecutor(FILE_THREADS, thread_name_prefix="covet-file"))
    return asyncio.get_running_loop().run_in_executor(_pool[0], func, *args)


CHUNK: Final = 256 * 1024


async def file_chunks(f: BinaryIO, length: int) -> AsyncGenerator[bytes, None]:
    """``length`` bytes of the open file ``f`` from where it stands, in pieces read on the file pool; ``f`` is
    closed at the end, or when the stream is dropped. A file that shrinks meanwhile raises ``OSError``."""
    try:
        left = length
        while left > 0:
            chunk = await run_file_io(f.read, min(CHUNK, left))
            if not chunk:
                raise OSError(f"{f.name} got shorter while it was being sent")
            left -= len(chunk)
            yield chunk
    finally:
        await run_file_io(f.close)
