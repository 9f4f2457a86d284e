"""The exchange against a fake channel, with no socket and no transport: what one request's life says, and in
which order (the way h11 tests its connection: events in, calls out).

Every transport runs requests through ``covet.runtime.exchange``; the socket tests (test_http1_server,
test_uring_server, test_hardening) check the same life end to end on each of them.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

import pytest

from covet import BackgroundTasks, Covet, HTTPError, Request, StreamingResponse
from covet.exceptions import ClientDisconnect
from covet.runtime.config import Config
from covet.runtime.connection import ConnectionInfo
from covet.runtime.encode import HeaderSeq
from covet.runtime.exchange import TOO_LARGE_REPLY, Exchange, answer_now, answer_streamed
from covet.runtime.state import ServerState

INFO = ConnectionInfo(None, None)


def in_loop(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Runs an async test on a fresh event loop, with a deadline: a hung exchange fails, it does not hang."""
    @functools.wraps(test)
    def run_test(*args: Any, **kwargs: Any) -> None:
        asyncio.run(asyncio.wait_for(test(*args, **kwargs), 10))
    return run_test


class FakeChannel:
    """Records what an exchange asks of its channel; ``send`` answers from ``sends`` (0 when it runs out)."""

    def __init__(self, sends: list[int] | None = None, wants_body: bool = True,
                 order: list[str] | None = None) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.order = order  # where the final call is noted too, to see what happened before and after it
        self.sends = list(sends or [])
        self.body_wanted = wants_body
        self.is_gone = False
        self.drain: asyncio.Future[None] | None = None
        self.finished = asyncio.get_running_loop().create_future()

    def _last(self, *call: Any) -> None:
        self.calls.append(call)
        if self.order is not None:
            self.order.append(call[0])
        if not self.finished.done():
            self.finished.set_result(None)

    def respond(self, reply: tuple[int, HeaderSeq, bytes], keep_alive: bool, /) -> None:
        self._last("respond", reply[0], reply[2], keep_alive)

    def start(self, resp: StreamingResponse, keep_alive: bool, /) -> bool:
        self.calls.append(("start", resp.status, keep_alive))
        return not self.is_gone

    def wants_body(self) -> bool:
        return self.body_wanted

    def send(self, chunk: bytes, /) -> int:
        self.calls.append(("send", chunk))
        if self.is_gone:
            return -1
        return self.sends.pop(0) if self.sends else 0

    def drained(self) -> Awaitable[None]:
        self.calls.append(("drained",))
        self.drain = asyncio.get_running_loop().create_future()
        return self.drain

    def end(self) -> None:
        self._last("end")

    def close(self) -> None:
        self._last("close")

    def abort(self) -> None:
        self._last("abort")

    def gone(self) -> bool:
        return self.is_gone


class Weird(BaseException):
    """Not an Exception: what a TaskGroup's BaseExceptionGroup, or a careless library, can raise."""


def make_app(seen: list[str]) -> Covet:
    """Routes for each part of a request's life; they note what happened in ``seen``."""
    app = Covet()

    @app.get("/now", inline=True)  # on the spot: sync code on the loop (a def route is pooled otherwise)
    def now() -> dict[str, str]:
        return {"at": "once"}

    @app.get("/async-now")
    async def async_now() -> dict[str, str]:
        return {"at": "once, async"}

    @app.get("/later")
    async def later() -> dict[str, str]:
        await asyncio.sleep(0)
        return {"at": "later"}

    @app.get("/wait/{name}")
    async def wait(name: str) -> dict[str, str]:
        await asyncio.sleep(0.05 if name == "slow" else 0)
        return {"name": name}

    @app.get("/teapot", inline=True)
    def teapot() -> dict[str, str]:
        raise HTTPError(418, "short and stout")

    @app.get("/boom")
    async def boom() -> dict[str, str]:
        await asyncio.sleep(0)
        raise RuntimeError("kaput")

    @app.get("/weird")
    async def weird() -> dict[str, str]:
        await asyncio.sleep(0)
        raise Weird("not an Exception")

    @app.get("/left", inline=True)
    def left() -> dict[str, str]:
        raise ClientDisconnect("gone")

    @app.get("/after")
    async def after(tasks: BackgroundTasks) -> dict[str, str]:
        await asyncio.sleep(0)
        tasks.add_task(seen.append, "after")
        return {"ok": "yes"}

    @app.get("/stream")
    def stream() -> StreamingResponse:
        return StreamingResponse(iter([b"a", b"", b"bc"]))

    @app.get("/stream-fails")
    def stream_fails() -> StreamingResponse:
        async def source() -> AsyncIterator[bytes]:
            yield b"first"
            raise RuntimeError("the source broke")
        return StreamingResponse(source())

    @app.get("/stream-closes")
    def stream_closes() -> StreamingResponse:
        async def source() -> AsyncIterator[bytes]:
            try:
                while True:
                    yield b"x"
                    await asyncio.sleep(0.01)
            finally:
                seen.append("source closed")
        return StreamingResponse(source())

    @app.get("/forever", cancel_on_disconnect=True)
    async def forever() -> dict[str, str]:
        try:
            await asyncio.sleep(60)
        finally:
            seen.append("cancelled")
        return {}

    @app.get("/deadline", timeout=0.05)
    async def deadline() -> dict[str, str]:
        await asyncio.sleep(60)
        return {}

    @app.post("/upload")
    async def upload(request: Request) -> dict[str, int]:
        n = 0
        async for chunk in request.stream():
            n += len(chunk)
        return {"bytes": n}

    @app.post("/plain")
    def plain() -> dict[str, str]:
        return {}

    return app


async def run(state: ServerState, method: str, path: str, channel: FakeChannel, keep_alive: bool = True) -> Any:
    """One request through the exchange: the reply tuple when answered on the spot, else the Exchange."""
    plan, params = state.dispatcher.resolve(method, path)
    reply = answer_now(state, plan, method, path, "", [], b"", params, INFO)
    if type(reply) is tuple:
        return reply
    exchange = Exchange(state, channel, plan, keep_alive)
    exchange.take(reply)
    return exchange


@pytest.fixture
def seen() -> list[str]:
    return []


@pytest.fixture
def state(seen: list[str]) -> ServerState:
    return ServerState(make_app(seen).dispatcher(), Config())


@in_loop
async def test_a_sync_route_and_an_async_one_that_never_waits_answer_on_the_spot(state: ServerState) -> None:
    ch = FakeChannel()
    assert (await run(state, "GET", "/now", ch))[2] == b'{"at":"once"}'
    assert (await run(state, "GET", "/async-now", ch))[2] == b'{"at":"once, async"}'
    assert ch.calls == []  # no channel, no Task


@in_loop
async def test_a_suspended_handler_answers_through_its_channel_once(state: ServerState) -> None:
    ch = FakeChannel()
    exchange = await run(state, "GET", "/later", ch, keep_alive=False)
    assert isinstance(exchange, Exchange) and ch.calls == []
    await ch.finished
    assert ch.calls == [("respond", 200, b'{"at":"later"}', False)]
    assert not state.tasks


@pytest.mark.parametrize(("path", "status", "detail"), [
    ("/teapot", 418, "short and stout"),
    ("/left", 400, "gone"),
    ("/nowhere", 404, "Not Found"),
])
@in_loop
async def test_errors_on_the_spot_have_fastapis_shape(state: ServerState, path: str, status: int, detail: str) -> None:
    reply = await run(state, "GET", path, FakeChannel())
    assert reply[0] == status and json.loads(reply[2]) == {"detail": detail}


@in_loop
async def test_a_suspended_handler_that_raises_is_a_logged_500(state: ServerState,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    ch = FakeChannel()
    with caplog.at_level(logging.ERROR):
        await run(state, "GET", "/boom", ch)
        await ch.finished
    assert ch.calls == [("respond", 500, b"Internal Server Error", True)]
    assert "kaput" in caplog.text and "GET /boom" in caplog.text


@in_loop
async def test_a_handler_that_raises_a_base_exception_is_still_answered(state: ServerState,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    ch = FakeChannel()
    with caplog.at_level(logging.ERROR):
        await run(state, "GET", "/weird", ch)
        await ch.finished
    assert ch.calls == [("respond", 500, b"Internal Server Error", True)]
    assert "not an Exception" in caplog.text


@in_loop
async def test_after_response_work_runs_after_the_response(state: ServerState, seen: list[str]) -> None:
    ch = FakeChannel(order=seen)
    await run(state, "GET", "/after", ch)
    await ch.finished
    await drain_tasks(state)
    assert ch.calls == [("respond", 200, b'{"ok":"yes"}', True)] and seen == ["respond", "after"]


@in_loop
async def test_a_stream_is_started_sent_and_ended(state: ServerState) -> None:
    ch = FakeChannel()
    await run(state, "GET", "/stream", ch)
    await ch.finished
    assert ch.calls == [("start", 200, True), ("send", b"a"), ("send", b"bc"), ("end",)]


@in_loop
async def test_head_of_a_stream_sends_no_body(state: ServerState) -> None:
    ch = FakeChannel(wants_body=False)
    await run(state, "HEAD", "/stream", ch)
    await ch.finished
    assert ch.calls == [("start", 200, True), ("end",)]


@in_loop
async def test_a_stream_waits_for_the_peer_when_the_channel_says_so(state: ServerState) -> None:
    ch = FakeChannel(sends=[1])
    await run(state, "GET", "/stream", ch)
    for _ in range(10):
        await asyncio.sleep(0)
    assert ch.calls == [("start", 200, True), ("send", b"a"), ("drained",)]  # bc waits
    assert ch.drain is not None
    ch.drain.set_result(None)
    await ch.finished
    assert ch.calls[-2:] == [("send", b"bc"), ("end",)]


@in_loop
async def test_a_stream_cut_short_is_aborted_never_ended(state: ServerState, caplog: pytest.LogCaptureFixture) -> None:
    ch = FakeChannel()
    with caplog.at_level(logging.ERROR):
        await run(state, "GET", "/stream-fails", ch)
        await ch.finished
    assert ch.calls == [("start", 200, True), ("send", b"first"), ("abort",)]
    assert "the source broke" in caplog.text


@in_loop
async def test_a_lost_connection_closes_the_streams_source_at_once(state: ServerState, seen: list[str]) -> None:
    ch = FakeChannel()
    exchange = await run(state, "GET", "/stream-closes", ch)
    await asyncio.sleep(0.03)
    ch.is_gone = True
    exchange.lost()
    await ch.finished
    assert ch.calls[-1] == ("abort",) and "source closed" in seen


@in_loop
async def test_a_client_that_leaves_cancels_a_handler_that_asked_for_it(state: ServerState, seen: list[str]) -> None:
    ch = FakeChannel()
    exchange = await run(state, "GET", "/forever", ch)
    await asyncio.sleep(0)
    exchange.client_left()
    await ch.finished
    assert ch.calls == [("close",)] and seen == ["cancelled"]


@in_loop
async def test_a_handler_past_its_timeout_is_answered_504(state: ServerState) -> None:
    ch = FakeChannel()
    await run(state, "GET", "/deadline", ch)
    await ch.finished
    assert ch.calls[0][:2] == ("respond", 504)


@in_loop
async def test_a_handler_that_finishes_after_its_connection_went_only_lets_go(state: ServerState,
                                                                               seen: list[str]) -> None:
    ch = FakeChannel()
    await run(state, "GET", "/after", ch)
    ch.is_gone = True
    await ch.finished
    assert ch.calls == [("close",)]
    await drain_tasks(state)
    assert seen == ["after"]  # the route's clean-up still runs


@in_loop
async def test_exchanges_on_one_connection_may_be_live_at_once_and_end_in_any_order(state: ServerState) -> None:
    # What HTTP/2 streams need: nothing of an exchange is kept per connection.
    slow, quick = FakeChannel(), FakeChannel()
    await run(state, "GET", "/wait/slow", slow)
    await run(state, "GET", "/wait/later", quick)
    await quick.finished
    assert quick.calls == [("respond", 200, b'{"name":"later"}', True)] and slow.calls == []
    await slow.finished
    assert slow.calls == [("respond", 200, b'{"name":"slow"}', True)]


@in_loop
async def test_a_streamed_body_is_read_by_its_route_while_it_arrives(state: ServerState) -> None:
    ch = FakeChannel()
    plan, params = state.dispatcher.resolve("POST", "/upload")
    resumed: list[bool] = []
    headers = [("content-length", "6")]
    exchange = answer_streamed(state, ch, plan, "POST", "/upload", "", headers, params, INFO, True,
                               lambda: resumed.append(True), lambda: None)
    assert exchange is not None and exchange.body is not None
    exchange.body.feed(b"abc")
    await asyncio.sleep(0)
    exchange.body.feed(b"def")
    exchange.body.end()
    await ch.finished
    assert ch.calls == [("respond", 200, b'{"bytes":6}', True)]
    assert exchange.body not in state.bodies


@in_loop
async def test_a_streamed_body_for_a_route_that_cannot_read_one_is_refused(state: ServerState) -> None:
    plan, params = state.dispatcher.resolve("POST", "/plain")
    assert answer_streamed(state, FakeChannel(), plan, "POST", "/plain", "", [], params, INFO, True,
                           lambda: None, lambda: None) is None
    assert TOO_LARGE_REPLY[0] == 413 and not state.bodies


async def drain_tasks(state: ServerState) -> None:
    for _ in range(20):
        if not state.tasks:
            return
        await asyncio.gather(*state.tasks, return_exceptions=True)



def test_cancel_on_disconnect_given_as_a_truthy_non_bool_still_serves() -> None:
    """``cancel_on_disconnect=1`` means yes, on the app and on a route, as before the route plan became a compiled
    class (which takes only a bool in that field)."""
    from covet.testclient import TestClient

    for app_level, route_level in ((1, None), (None, 1), (0, 1)):
        app = Covet(cancel_on_disconnect=app_level) if app_level is not None else Covet()

        @app.get("/", cancel_on_disconnect=route_level)
        def hello() -> dict[str, int]:
            return {"a": 1}

        with TestClient(app) as client:
            assert client.get("/").json() == {"a": 1}
