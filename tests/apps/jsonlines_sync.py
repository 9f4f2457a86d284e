"""Plain generator handlers answering JSON Lines, for tests/test_jsonlines.py: compiled natively in a build."""

from collections.abc import Iterable, Iterator
from typing import Annotated, Any

from covet import APIRouter, Depends, StreamingResponse
from jsonlines_models import Item

router = APIRouter()
closed: list[str] = []


@router.get("/plain")
def plain() -> Iterable[Item]:
    for name in ("Plumbus", "Portal Gun"):
        yield Item(name=name)


@router.get("/filtered")
def filtered() -> Iterator[Item]:
    # dicts are validated as the declared item, which drops what it does not declare
    yield {"name": "pen", "secret": "hidden"}  # type: ignore[misc]
    yield {"name": "ink", "description": "blue", "secret": "hidden"}  # type: ignore[misc]


@router.get("/invalid")
def invalid() -> Iterator[Item]:
    yield Item(name="fine")
    yield {"description": "no name"}  # type: ignore[misc]


@router.get("/blocking-lines")
def blocking_lines() -> Iterator[dict[str, Any]]:
    import time

    try:
        for i in range(3):
            time.sleep(0.05)  # a plain generator runs in the pool: the loop serves others meanwhile
            yield {"line": i}
    finally:
        closed.append("blocking closed")


@router.get("/slow-steps")
def slow_steps() -> Iterator[int]:
    import time

    try:
        for i in range(100):
            yield i
            time.sleep(0.2)  # the client leaves meanwhile: the generator is closed once a step returns
    finally:
        closed.append("slow closed")


def session() -> Iterator[str]:
    try:
        yield "session"
    except Exception as e:
        closed.append(f"rolled back: {type(e).__name__}")
        raise
    else:
        closed.append("committed")


@router.get("/failing-with-session")
def failing_with_session(s: Annotated[str, Depends(session)]) -> Iterator[int]:
    yield 1
    raise RuntimeError("the stream broke")  # thrown into session(): it rolls back, and does not commit


def sleepy_chunks() -> Iterator[str]:
    import threading
    import time

    for i in range(3):
        time.sleep(0.2)  # a plain source of a StreamingResponse is stepped in the pool, as Starlette does
        yield f"{i} {threading.current_thread() is threading.main_thread()}\n"


@router.get("/streaming-def")
def streaming_def() -> StreamingResponse:
    return StreamingResponse(sleepy_chunks(), media_type="text/plain")
