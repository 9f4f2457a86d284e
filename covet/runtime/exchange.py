"""One request's life, written once for every transport and protocol.

A request meets the route's glue here, and nothing else decides what is
answered: the glue is called (``answer_now``), its exceptions become error
replies, work to run after the response is unwrapped, and the reply is
either answered on the spot (the caller renders it) or taken over by an
``Exchange``: a suspended handler runs as a Task under its ``Watch``, a
streaming response is pulled and sent, a streamed request body is read,
and in the end the exchange tells its ``Channel`` to end, close or abort.

Rules:
1. An exchange talks to its transport only through its ``Channel``; it never
   sees bytes, sockets or connection ids. A channel is one response's way
   out: HTTP/1.1 renders it (``h1_response.H1Channel``), an HTTP/2 stream
   would frame it.
2. Several exchanges may be live on one connection at once (HTTP/2 streams):
   an exchange keeps no state of its connection, only its channel.
3. Exactly one of ``respond``, ``end``, ``close`` or ``abort`` is called on a
   channel, once, even when the connection is gone (so its transport can
   forget the exchange); a handler's after-response work runs either way.
4. A response cut short (a stream that failed or was cancelled after its
   head) is aborted, never ended: the client must not take it for complete.
"""

from __future__ import annotations

import asyncio
import logging
from asyncio.tasks import _enter_task as enter_task, _leave_task as leave_task
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Final, Protocol, cast, final

from covet.exceptions import ClientDisconnect, HTTPError
from covet.responses import StreamingResponse
from covet.runtime.body import (
    OVER_LIMIT,
    OVER_LIMIT_REPLY,
    TOO_LARGE,
    RequestBody,
    content_length,
    keep_alive_after,
    streamed_glue,
)
from covet.runtime.connection import ConnectionInfo
from covet.runtime.encode import HeaderSeq, Reply, error_reply, http_error_reply, server_error_reply
from covet.runtime.exits import AfterReply, RouteExit
from covet.runtime.glue import RoutePlan
from covet.runtime.lifetime import Watch
from covet.runtime.resume import EagerTask, resume
from covet.runtime.state import ServerState
from covet.runtime.streaming import call_streamed, send_body

__all__ = ["Channel", "Exchange", "TOO_LARGE_REPLY", "UNAVAILABLE_REPLY", "answer_now", "answer_streamed",
           "failure_reply", "task_reply"]

log = logging.getLogger("covet.exchange")

# The answer to a body too large to hold, for a route that cannot read one as a stream; the connection closes.
TOO_LARGE_REPLY: Final = error_reply(413, TOO_LARGE)
OVER_LIMIT_CHUNKED_REPLY: Final = error_reply(413, OVER_LIMIT)
# The answer past --limit-concurrency (the io_uring core asks the handler's error() for the same).
UNAVAILABLE: Final = "Service Unavailable"
UNAVAILABLE_REPLY: Final = error_reply(503, UNAVAILABLE)


class Channel(Protocol):
    """What an exchange needs of the protocol that carries it: one response's way out."""

    def respond(self, reply: tuple[int, HeaderSeq, bytes], keep_alive: bool, /) -> None:
        """Send the complete response; the connection goes on, or closes after it."""

    def start(self, resp: StreamingResponse, keep_alive: bool, /) -> bool:
        """Send a streamed response's head; False when the connection is gone."""

    def wants_body(self) -> bool:
        """Whether the body is sent after the head (not for HEAD)."""

    def send(self, chunk: bytes, /) -> int:
        """A piece of the streamed body: -1 gone, 0 sent, 1 sent and ``drained()`` must be awaited first."""

    def drained(self) -> Awaitable[None]:
        """Done when the peer has taken enough of what was sent, or is gone."""

    def end(self) -> None:
        """The streamed response is complete."""

    def close(self) -> None:
        """Nothing will be answered (the handler was cancelled)."""

    def abort(self) -> None:
        """The response was cut short: the client must see a reset, not an end."""

    def gone(self) -> bool:
        """The connection is closed or reset."""


def failure_reply(label: str, exc: BaseException) -> tuple[int, HeaderSeq, bytes]:
    """The reply to a route that raised ``exc``: its HTTPError, or a logged 500."""
    if isinstance(exc, HTTPError):
        return http_error_reply(exc)
    if isinstance(exc, ClientDisconnect):  # nobody is left to answer: not a server error
        return error_reply(400, str(exc))
    if isinstance(exc, (KeyboardInterrupt, SystemExit)):
        raise exc  # not a route's answer: the server stops
    # Any other BaseException (a BaseExceptionGroup from a TaskGroup, GeneratorExit) is the route's failure too: left
    # to propagate, it would leave its exchange unanswered and its connection held.
    return server_error_reply(label, exc)


def task_reply(task: asyncio.Task[Any], label: str) -> Reply:
    """The reply of a handler's finished (not cancelled) Task: its result, or the error reply of what it raised."""
    exc = task.exception()
    if exc is None:
        reply: Reply = task.result()
        return reply
    return failure_reply(label, exc)


def answer_now(state: ServerState, plan: RoutePlan, method: str, path: str, query: str,
               headers: list[tuple[str, str]], body: bytes, params: list[str], info: ConnectionInfo) -> Any:
    """Run a route on the caller's stack: its reply tuple, or what an ``Exchange`` must take over (a suspended
    handler's coroutine, an async exception handler's, or a ``StreamingResponse``).

    An async handler is started with ``send(None)``: one that finishes without suspending costs no Task.
    """
    # (A bodiless request skips the plan's attribute, a generic lookup on an interpreted class. A body past the
    # server's limit never gets here.)
    if body and 0 <= plan.max_body < len(body):
        # FastAPI's two answers: its middleware's text for a declared length, its error for a chunked body.
        return OVER_LIMIT_REPLY if content_length(headers) is not None else OVER_LIMIT_CHUNKED_REPLY
    try:
        if plan.is_async:
            coro = plan.glue(method, path, query, headers, body, params, info)
            # The handler's first step, with a stand-in for the Task it would run in as the current task
            # (runtime/resume.py): asyncio.timeout() and its kind need one.
            loop = state.running_loop()
            stand_in: EagerTask | None = state.eager
            try:
                enter_task(loop, stand_in)  # type: ignore[arg-type]  # (asyncio keeps any object as current)
            except RuntimeError:  # inside a Task already (a test driving the exchange): the handler runs in it
                stand_in = None
            try:
                waiting = coro.send(None)
            except StopIteration as stop:
                reply = stop.value
            else:
                state.eager = EagerTask()  # this one stands for the handler's Task from now on
                return resume(coro, waiting, stand_in)
            finally:
                if stand_in is not None:
                    leave_task(loop, stand_in)  # type: ignore[arg-type]
            if stand_in is not None and stand_in.used:
                state.eager = EagerTask()
        else:
            reply = plan.glue(method, path, query, headers, body, params, info)
    except HTTPError as exc:
        reply = http_error_reply(exc)
    except Exception as exc:
        reply = failure_reply(plan.label, exc)
    except asyncio.CancelledError as exc:
        # Nothing cancels a handler's first step: it raised CancelledError itself. A failure like any other (500,
        # logged, as uvicorn answers), not a reason to leave the request unanswered.
        reply = failure_reply(plan.label, exc)
    if type(reply) is not tuple:
        return state.unwrap(reply)
    return reply


def answer_streamed(state: ServerState, channel: Channel, plan: RoutePlan, method: str, path: str, query: str,
                    headers: list[tuple[str, str]], params: list[str], info: ConnectionInfo, keep_alive: bool,
                    resume_reading: Callable[[], None], stop: Callable[[], None]) -> Exchange | None:
    """A request whose body is too large to hold: a route that reads a stream runs at once, as a Task, reading the
    exchange's ``body`` while the transport feeds it; None for any other route (answer ``TOO_LARGE_REPLY``)."""
    glue = streamed_glue(plan.glue, plan.streams_body, headers, plan.max_body)
    if glue is None:
        return None
    body = state.open_body(headers, resume_reading, stop, plan.max_body)
    exchange = Exchange(state, channel, plan, keep_alive, body)
    exchange.suspend(call_streamed(glue, (method, path, query, headers, body, params, info)))
    return exchange


@final
class Exchange:
    """A request that was not answered on the spot: it answers through ``channel`` when its handler is done."""

    __slots__ = ("state", "channel", "label", "plan", "keep_alive", "body", "watch", "stream", "task")

    def __init__(self, state: ServerState, channel: Channel, plan: RoutePlan, keep_alive: bool,
                 body: RequestBody | None = None) -> None:
        self.state = state
        self.channel = channel
        self.plan = plan
        self.label = plan.label
        self.keep_alive = keep_alive
        self.body = body  # the request body, when it streams in while the route runs
        self.watch: Watch | None = None  # the suspended handler's deadline and disconnect policy
        self.stream: asyncio.Task[bool] | None = None  # the streaming response being sent
        self.task: asyncio.Task[Any] | None = None  # the suspended handler

    def take(self, reply: Any) -> None:
        """Go on with what ``answer_now`` could not finish."""
        if isinstance(reply, StreamingResponse):
            self._start_stream(reply)
        elif isinstance(reply, Coroutine):
            self.suspend(reply)
        else:
            self._answer(reply)

    def suspend(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run a handler (or a route whose body streams in) as a Task; it answers when done."""
        loop = self.state.running_loop()
        task = loop.create_task(coro)
        self.task = task
        self.state.tasks.add(task)
        self.watch = Watch(task, self.plan, loop)
        task.add_done_callback(self._handler_done)

    # -- what the transport tells ---------------------------------------------------

    def client_left(self) -> None:
        """The client shut its side or went away: a route that asked for it is cancelled."""
        watch = self.watch
        if watch is not None:
            watch.client_gone()

    def lost(self) -> None:
        """The connection is gone: the handler hears it (as ``client_left``), and a stream's source is closed now,
        not when it next has something to send."""
        self.client_left()
        stream = self.stream
        if stream is not None and not stream.done():
            stream.cancel()

    # -- the handler's end ----------------------------------------------------------

    def _handler_done(self, task: asyncio.Task[Any]) -> None:
        try:
            self._settle(task)
        except BaseException:
            # Rule 3 holds even when settling fails: the transport must not keep waiting for this exchange.
            self.channel.abort()
            raise

    def _settle(self, task: asyncio.Task[Any]) -> None:
        self.state.tasks.discard(task)
        self.task = None
        watch = self.watch
        self.watch = None
        late = watch.finished() if watch is not None else None
        channel = self.channel
        if task.cancelled() and (late is None or channel.gone()):
            if late is None and task.cancelling() == 0 and not channel.gone():
                # Nobody cancelled it (no deadline, no client gone, no shutdown): the handler raised CancelledError
                # itself, or awaited something cancelled. It failed, and the client hears so.
                late = failure_reply(self.label, _cancelled_error(task))
            else:
                self._drop_body()
                channel.close()
                return
        reply = late if late is not None else task_reply(task, self.label)
        if channel.gone():
            if type(reply) is AfterReply:  # nobody to answer, but the route's clean-up still runs
                self.state.run_after(reply.after)
            self._drop_body()
            channel.close()  # the transport forgets the exchange
            return
        if type(reply) is not tuple:
            reply = self.state.unwrap(reply)
            if isinstance(reply, StreamingResponse):
                body = self.body
                if body is not None and not body.done:
                    # The stream may still read the request body: it is dropped when the stream ends, and the
                    # connection closes after it.
                    self.keep_alive = False
                self._start_stream(reply)
                return
            if isinstance(reply, Coroutine):  # an async exception handler's answer, still to come
                self.suspend(reply)
                return
        self._answer(cast(tuple[int, HeaderSeq, bytes], reply))

    def _answer(self, reply: tuple[int, HeaderSeq, bytes]) -> None:
        body = self.body
        if body is not None:  # the route answered before its body ended: the rest is dropped
            if not keep_alive_after(body):
                self.keep_alive = False
            self._drop_body()
        self.channel.respond(reply, self.keep_alive)

    def _drop_body(self) -> None:
        """The route is done with its body: what still arrives is dropped (or, if it failed, forgotten)."""
        body = self.body
        if body is not None:
            body.discard()
            if body.done:
                self.state.bodies.discard(body)

    # -- streaming responses ----------------------------------------------------------

    def _start_stream(self, resp: StreamingResponse) -> None:
        task = self.state.running_loop().create_task(self._stream(resp))
        self.state.tasks.add(task)
        self.stream = task
        task.add_done_callback(self._stream_done)
        after = resp.after
        if after is not None:
            task.add_done_callback(_AfterStream(self.state, after).run)

    async def _stream(self, resp: StreamingResponse) -> bool:
        """Send a streaming response; False when it was cut short (the connection went away)."""
        channel = self.channel
        if not channel.start(resp, self.keep_alive):
            return False
        if channel.wants_body():
            return await send_body(resp.content, resp.length, channel.send, channel.drained)
        return True

    def _stream_done(self, task: asyncio.Task[bool]) -> None:
        self.state.tasks.discard(task)
        self.stream = None
        try:
            self._drop_body()
        except BaseException:
            self.channel.abort()
            raise
        if not task.cancelled():
            exc = task.exception()
            if exc is None:
                if task.result():
                    self.channel.end()
                    return
            else:
                log.error("streaming response failed after its head was sent", exc_info=exc)
        self.channel.abort()


def _cancelled_error(task: asyncio.Task[Any]) -> BaseException:
    """The CancelledError a cancelled task ended with (its context is the one its code raised)."""
    try:
        task.result()
    except asyncio.CancelledError as exc:
        return exc
    return asyncio.CancelledError()


@final
class _AfterStream:
    """The after-response work of a stream, run once the stream is done, however it ended."""

    __slots__ = ("state", "after")

    def __init__(self, state: ServerState, after: Callable[[], Awaitable[None]]) -> None:
        self.state = state
        self.after = after

    def run(self, task: asyncio.Task[bool]) -> None:
        after = self.after
        if isinstance(after, RouteExit) and not task.cancelled():
            after.error = task.exception()
        self.state.run_after(after)
