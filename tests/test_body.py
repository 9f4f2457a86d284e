"""RequestBody's flow control on its own: when it asks its connection to stop reading, and when to read again.

(The same rules over real sockets, on every transport, are in tests/test_uploads.py.)
"""

from __future__ import annotations

import asyncio

import pytest

from covet.exceptions import ClientDisconnect
from covet.runtime.body import HIGH_WATER, BodyBudget, RequestBody


class Reader:
    """The connection's side of one body: counts the resumes it is asked for."""

    def __init__(self) -> None:
        self.resumed = 0
        self.stopped = 0

    def resume(self) -> None:
        self.resumed += 1

    def stop(self) -> None:
        self.stopped += 1


def body(budget: BodyBudget | None = None) -> tuple[RequestBody, Reader]:
    conn = Reader()
    return RequestBody(None, 1 << 20, conn.resume, conn.stop, budget), conn


def test_one_body_pauses_at_its_high_water_and_resumes_once_read() -> None:
    b, conn = body()
    piece = b"x" * (HIGH_WATER // 4)
    assert [b.feed(piece) for _ in range(4)] == [False, False, False, True]
    assert asyncio.run(b.read()) == piece * 4
    assert conn.resumed == 1


def test_past_the_shared_budget_every_body_pauses_as_soon_as_it_holds_anything() -> None:
    budget = BodyBudget(100)
    a, conn_a = body(budget)
    b, conn_b = body(budget)
    assert a.feed(b"a" * 60) is False  # under the budget: read on
    assert b.feed(b"b" * 60) is True  # 120 unread in all: stop
    assert a.feed(b"a") is True
    assert budget.queued == 121
    assert asyncio.run(a.read()) == b"a" * 61
    assert (budget.queued, conn_a.resumed) == (60, 1)
    b.discard()  # the route is done with it: what it held no longer counts
    assert (budget.queued, conn_b.resumed) == (0, 1)
    assert b.feed(b"late") is False and budget.queued == 0  # dropped as it arrives


def test_a_failed_body_drops_what_it_held_and_its_reader_gets_the_error() -> None:
    budget = BodyBudget(1 << 30)
    b, _ = body(budget)
    b.feed(b"unread")
    b.fail(ClientDisconnect("gone"))
    assert budget.queued == 0
    with pytest.raises(ClientDisconnect):
        asyncio.run(b.read())


def test_a_reader_waits_for_the_next_piece_and_sees_the_end() -> None:
    async def run() -> list[bytes]:
        b, _ = body()
        got: list[bytes] = []

        async def read() -> None:
            async for data in b.chunks():
                got.append(data)

        task = asyncio.create_task(read())
        await asyncio.sleep(0)
        b.feed(b"one")
        await asyncio.sleep(0)
        b.feed(b"two")
        b.end()
        await task
        return got

    assert asyncio.run(run()) == [b"one", b"two"]
