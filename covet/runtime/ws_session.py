"""One WebSocket connection after its 101, whatever carries it: the protocol's life, written once.

Frames come in through the C parser (``covet._native.WSParser``: unmasking, fragments, UTF-8, limits) and leave
through ``covet._native.ws_frame``. This module holds what is left: the close handshake, answering pings,
keep-alive pings, and the two bounded queues. A transport gives the session a ``WSLink`` (bytes out, reading
paused and resumed, a way to wait until the peer reads) and calls ``feed``, ``lost`` and ``tick``; the handler's
``WebSocket`` calls ``receive``, ``send`` and ``close``.

Backpressure, both ways: past ``max_queue`` messages nobody has received, the link stops reading (the peer's
sends then wait in the kernel, then in the peer); ``send`` waits while the link holds more than its high-water
mark unsent, so a peer that does not read cannot grow the server's memory.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Awaitable
from typing import Any, Final, Protocol, final

from covet._native import WSParser, ws_frame
from covet.runtime.clock import Clock
from covet.runtime.ws_close import ABNORMAL, NO_STATUS, WebSocketDisconnect, close_payload, sendable
from covet.runtime.ws_deflate import MIN_SIZE, PerMessageDeflate, TooLarge
from covet.runtime.ws_events import (
    WS_BINARY,
    WS_BINARY_COMPRESSED,
    WS_CLOSE,
    WS_ERROR,
    WS_OP_BINARY,
    WS_OP_CLOSE,
    WS_OP_PING,
    WS_OP_PONG,
    WS_OP_TEXT,
    WS_PING,
    WS_TEXT,
    WS_TEXT_COMPRESSED,
)

__all__ = ["Messages", "WSConfig", "WSLink", "WSSession", "OPEN", "CLOSING", "CLOSED"]

log = logging.getLogger("covet.websocket")

OPEN: Final = 1
CLOSING: Final = 2  # our Close frame is sent; waiting for the peer's
CLOSED: Final = 3

@final
class WSConfig:
    """The WebSocket limits of one server (``covet serve --ws-*``, uvicorn's names and defaults)."""

    __slots__ = ("max_size", "max_queue", "ping_interval", "ping_timeout", "close_timeout", "deflate")

    def __init__(self, max_size: int = 16 * 1024 * 1024, max_queue: int = 32, ping_interval: float = 20.0,
                 ping_timeout: float = 20.0, close_timeout: float = 5.0, deflate: bool = True) -> None:
        self.deflate = deflate  # permessage-deflate is agreed when a client offers it
        self.max_size = max_size  # bytes of one message (and so of one frame); 1009 past it
        self.max_queue = max_queue  # received messages held before reading stops
        self.ping_interval = ping_interval  # 0: no keep-alive pings
        self.ping_timeout = ping_timeout  # a ping unanswered this long closes the connection (1011)
        self.close_timeout = close_timeout  # our Close unanswered this long: the connection is cut


class WSLink(Protocol):
    """What a transport gives a WebSocket session: its connection, after the 101."""

    def carry(self, session: WSSession, /) -> None:
        """From now on, hand what the peer sends to ``session`` (``feed``, ``lost``)."""

    def write(self, data: bytes, /) -> None: ...

    def close(self) -> None:
        """Close the connection once what was written is sent."""

    def abort(self) -> None:
        """Cut the connection now."""

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def wake(self) -> None:
        """Wake whoever waits in ``drained`` (the session is over)."""

    def backed_up(self) -> bool:
        """More is waiting to be sent than the high-water mark."""

    async def drained(self) -> None:
        """Return once the unsent bytes are below the low-water mark, or the connection is gone."""


def _text(message: str | bytes) -> str:
    if isinstance(message, str):
        return message
    raise TypeError("receive_text: the peer sent a binary message (use receive_bytes or receive)")


def _bytes(message: str | bytes) -> bytes:
    if isinstance(message, bytes):
        return message
    raise TypeError("receive_bytes: the peer sent a text message (use receive_text or receive)")


@final
class WSSession:
    """One WebSocket connection: see the module's docstring."""

    __slots__ = ("link", "config", "clock", "parser", "state", "inbox", "waiter", "reading", "closed_with",
                 "close_sent", "ping_sent", "ping_payload", "last_seen", "closing_since", "pings", "deflate", "failing",
                 "failing_since", "cut_at", "told", "loop")

    def __init__(self, link: WSLink, config: WSConfig, clock: Clock) -> None:
        self.link = link
        self.config = config
        self.clock = clock  # its ``now``, a second's precision, is all the timeouts need
        self.parser = WSParser(max_frame=config.max_size, max_message=config.max_size)
        self.state = OPEN
        # A list, not a deque: it holds at most max_queue messages, and an empty deque costs 760 bytes, held by every
        # idle connection.
        self.inbox: list[str | bytes] = []
        self.waiter: asyncio.Future[None] | None = None  # a receive() waiting for a message
        self.loop: asyncio.AbstractEventLoop | None = None  # the loop the receiver runs on, once it has waited
        self.reading = True
        self.closed_with: WebSocketDisconnect | None = None  # once over: what a receiver is told
        self.close_sent = False
        self.ping_sent = 0.0  # when our unanswered keep-alive ping went out (0: none out)
        self.ping_payload = b""
        self.last_seen = clock.now  # the last time the peer sent anything
        self.closing_since = 0.0
        self.pings = 0
        self.deflate: PerMessageDeflate | None = None
        # The peer broke the protocol right after messages the handler has not read yet: those are handed over
        # first (its answers to them still go out), then the connection fails (at the next receive(), or after
        # close_timeout). Autobahn's strict behaviour; failing at once dropped the answers.
        self.failing: tuple[int, str] | None = None
        self.failing_since = 0.0
        # Once failed: when the connection is cut if the peer has not taken our Close by then (one that reads
        # nothing would hold it, and what was queued before it, for as long as the kernel lets it).
        self.cut_at = 0.0
        self.told = False  # the handler was told the connection is over (WebSocketDisconnect; client_state)

    def use_deflate(self, deflate: PerMessageDeflate) -> None:
        """permessage-deflate was agreed (ws_deflate.py): before the first byte is fed."""
        self.deflate = deflate
        # A compressed message may be longer than what it inflates to: by ~0.03% with zlib's defaults, by up to
        # ~14% with a small memLevel (zlib's deflateBound), which clients use to save memory (websockets' adds
        # 0.25% to random bytes). The parser lets that much through; the size that counts is the inflated one
        # (``_inflate``), or, for a message sent uncompressed, its own (``feed``).
        limit = self.config.max_size
        slack = limit + (limit >> 3) + (limit >> 6) + 64
        self.parser.configure(max_frame=slack, max_message=slack, rsv1_allowed=True)  # (a transport may hold it)

    # -- from the transport ---------------------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Bytes the peer sent."""
        if self.state != CLOSED:
            self.handle(self.parser.feed(data))

    def handle(self, events: list[tuple[Any, ...]]) -> None:
        """The events of ``parser`` for what the peer sent (a transport may run the parser itself: io_uring's core
        feeds it from its read buffer)."""
        if self.state == CLOSED:
            return
        self.last_seen = self.clock.now
        for ev in events:
            kind = ev[0]
            if kind == WS_TEXT or kind == WS_BINARY:
                if self.state != OPEN:
                    continue  # after our Close, data is read and dropped (RFC 6455 1.4)
                if self.deflate is not None and len(ev[1]) > self.config.max_size:
                    self._fail(1009, "Message over the size limit")  # (see use_deflate)
                    return
                self.inbox.append(ev[1])
                if len(self.inbox) >= self.config.max_queue and self.reading:
                    self.reading = False
                    self.link.pause_reading()
                self._wake()
            elif kind == WS_TEXT_COMPRESSED or kind == WS_BINARY_COMPRESSED:
                if self.state != OPEN:
                    continue
                message = self._inflate(ev[1], kind == WS_TEXT_COMPRESSED)
                if message is None:
                    return
                self.inbox.append(message)
                if len(self.inbox) >= self.config.max_queue and self.reading:
                    self.reading = False
                    self.link.pause_reading()
                self._wake()
            elif kind == WS_PING:
                if not self.close_sent:
                    self.link.write(ws_frame(WS_OP_PONG, ev[1]))
            elif kind == WS_CLOSE:
                self._peer_closed(ev[1], ev[2])
                return
            elif kind == WS_ERROR:
                log.debug("closing a WebSocket: %s (%d)", ev[2], ev[1])
                if self.inbox and self.state == OPEN:
                    self.failing = (ev[1], ev[2])
                    self.failing_since = self.clock.now
                    if self.reading:
                        self.reading = False
                        self.link.pause_reading()
                    return
                self._fail(ev[1], ev[2])
                return
            else:  # a pong
                if self.ping_sent and ev[1] == self.ping_payload:
                    self.ping_sent = 0.0

    def _inflate(self, data: bytes, text: bool) -> str | bytes | None:
        """A compressed message, inflated (and decoded when text); None when it failed the connection."""
        try:
            raw = PerMessageDeflate.decompress(data, self.config.max_size)
        except TooLarge as exc:
            self._fail(1009, str(exc))
            return None
        except zlib.error:
            self._fail(1007, "the message is not a valid deflate stream")
            return None
        if not text:
            return bytes(raw)
        try:
            return str(raw.decode())
        except UnicodeDecodeError:
            self._fail(1007, "the text message is not UTF-8")
            return None

    def lost(self) -> None:
        """The connection is gone (reset, closed, or closed by us after the handshake)."""
        if self.state != CLOSED:
            self._over(WebSocketDisconnect(ABNORMAL))

    def tick(self, now: float) -> None:
        """Once a second: keep-alive pings, and the limits on waiting for the peer's Close, or for it to take ours."""
        if self.state == CLOSED:
            if self.cut_at and now >= self.cut_at:
                self.cut_at = 0.0
                self.link.abort()
            return
        config = self.config
        if self.state == CLOSING:
            if now - self.closing_since >= config.close_timeout:
                self.link.abort()
                self._over(self.closed_with or WebSocketDisconnect(ABNORMAL))
            return
        failing = self.failing
        if failing is not None:
            if now - self.failing_since >= config.close_timeout:
                self._fail(failing[0], failing[1])
            return
        if self.ping_sent:
            if config.ping_timeout and now - self.ping_sent >= config.ping_timeout:
                log.debug("closing a WebSocket: no pong in %.0f s", config.ping_timeout)
                self._fail(1011, "keepalive ping timeout")
        elif config.ping_interval and now - self.last_seen >= config.ping_interval:
            self.pings += 1
            self.ping_payload = b"%d" % self.pings
            self.ping_sent = now
            self.link.write(ws_frame(WS_OP_PING, self.ping_payload))

    # -- from the handler -------------------------------------------------------------------------------------------

    # receive() and the forms the WebSocket's receive_text/bytes and iter_text/bytes return as they are: each one
    # coroutine, waiting on the arrival future itself, so that a message resumes one compiled frame, not a chain.

    async def receive(self) -> str | bytes:
        """The next message; ``WebSocketDisconnect`` once the connection is over and every message before that was
        read (and ``RuntimeError`` after that)."""
        message = self._take()
        while message is None:
            await self._arrival()
            message = self._take()
        return message

    # receive_text and receive_bytes repeat receive()'s loop instead of awaiting it: one coroutine frame less on
    # every message, measured on the echo benchmark.
    async def receive_text(self) -> str:
        message = self._take()
        while message is None:
            await self._arrival()
            message = self._take()
        return _text(message)

    async def receive_bytes(self) -> bytes:
        message = self._take()
        while message is None:
            await self._arrival()
            message = self._take()
        return _bytes(message)

    def messages(self, text: bool) -> Messages:
        """An ``async for`` over the text (``text``) or binary messages: ``iter_text``, ``iter_bytes``."""
        return Messages(self, text)

    async def next_message(self, text: bool) -> str | bytes:
        """``receive_text`` (``text``) or ``receive_bytes`` for an ``async for``, which it ends
        (``StopAsyncIteration``) once the peer is gone."""
        try:
            message = self._take()
            while message is None:
                await self._arrival()
                message = self._take()
        except WebSocketDisconnect:
            raise StopAsyncIteration from None
        return _text(message) if text else _bytes(message)

    def _take(self) -> str | bytes | None:
        """The next message when one is here, None when the receiver must wait for ``_arrival``; raises once the
        connection is over."""
        if self.told:
            raise self._tell(True)
        if not self.inbox:
            failing = self.failing
            if failing is not None and self.state == OPEN:
                self._fail(failing[0], failing[1])
            if self.closed_with is not None or self.state != OPEN:
                raise self._tell(True)
            return None
        message = self.inbox.pop(0)
        if (not self.reading and len(self.inbox) < self.config.max_queue // 2 + 1 and self.state == OPEN
                and self.failing is None):
            self.reading = True
            self.link.resume_reading()
        return message

    def _arrival(self) -> asyncio.Future[None]:
        """Set when a message arrives or the connection ends (``_wake``)."""
        loop = self.loop
        if loop is None:
            # PERF: asked once; get_running_loop() makes a getpid() system call each time (~130 ns a message).
            loop = self.loop = asyncio.get_running_loop()
        waiter = self.waiter = loop.create_future()
        return waiter

    def _tell(self, receiving: bool) -> Exception:
        """What a receive() or send() raises once the connection is over: a WebSocketDisconnect (each its own, so that
        tracebacks do not pile up on one); for a receive() after the handler was told, RuntimeError, as in
        Starlette."""
        if self.told and receiving:
            return RuntimeError('Cannot call "receive" once a disconnect message has been received.')
        self.told = True
        closed = self.closed_with or WebSocketDisconnect(ABNORMAL)
        return WebSocketDisconnect(closed.code, closed.reason)

    async def send(self, data: str | bytes) -> None:
        """One message, as one frame; waits while the peer is behind. ``WebSocketDisconnect`` when the connection is
        over."""
        if self.close_sent or self.state == CLOSED:
            raise self._tell(False)
        if isinstance(data, str):
            op, payload = WS_OP_TEXT, data.encode()
        else:
            op, payload = WS_OP_BINARY, bytes(data)
        deflate = self.deflate
        if deflate is not None and deflate.server_bits and len(payload) >= MIN_SIZE:
            self.link.write(ws_frame(op, deflate.compress(payload), True, True))
        else:
            self.link.write(ws_frame(op, payload))
        while self.link.backed_up() and self.state != CLOSED:
            await self.link.drained()
        if self.state == CLOSED and self.close_sent and self.closed_with is not None and self.closed_with.code != 1000:
            raise self._tell(False)  # (the message may not have gone: the connection failed while it waited)

    async def close(self, code: int, reason: str) -> None:
        """Start the close handshake (the peer's Close, or ``close_timeout``, ends it)."""
        self.start_close(code, reason)

    def start_close(self, code: int, reason: str) -> None:
        """``ValueError`` for a code no Close may carry (before anything changes); nothing once the connection is
        over (a handler that lets the peer's WebSocketDisconnect(1006) out ends here)."""
        if self.close_sent or self.state == CLOSED:
            return
        if not sendable(code) or code == NO_STATUS:
            raise ValueError(f"close code {code} cannot be sent: use 1000-1003, 1007-1014 or 3000-4999")
        self._send_close(code, reason)
        self.state = CLOSING
        # What a receive() still waiting is told, should the peer's Close not come.
        self.closed_with = WebSocketDisconnect(code, reason)
        self._wake()

    # -- the close handshake ----------------------------------------------------------------------------------------

    def _send_close(self, code: int, reason: str) -> None:
        self.close_sent = True
        self.closing_since = self.clock.now
        self.link.write(ws_frame(WS_OP_CLOSE, close_payload(code, reason)))

    def _peer_closed(self, code: int, reason: str) -> None:
        """The peer's Close: echo it (unless ours went first), then the server closes the connection (RFC 6455
        7.1.1: the server closes the TCP connection first)."""
        if not self.close_sent:
            self._send_close(code if code != NO_STATUS else NO_STATUS, "")
            self.closed_with = WebSocketDisconnect(code, reason)
        elif self.closed_with is None:
            self.closed_with = WebSocketDisconnect(code, reason)
        self.link.close()
        self._over(self.closed_with)

    def _fail(self, code: int, why: str) -> None:
        """The peer broke the protocol (or stopped answering): send our Close and go (RFC 6455 7.1.7), cutting the
        connection after ``close_timeout`` if it has not taken the Close by then."""
        if not self.close_sent:
            self._send_close(code, why)
        self.link.close()
        self.cut_at = self.clock.now + self.config.close_timeout
        self._over(WebSocketDisconnect(code, why))

    def _over(self, closed: WebSocketDisconnect) -> None:
        self.state = CLOSED
        if self.closed_with is None:
            self.closed_with = closed
        self._wake()
        self.link.wake()  # a send() waiting for the peer to read hears that it is over

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():  # (cancelled with its receiver)
                waiter.set_result(None)


@final
class Messages:
    """``iter_text``/``iter_bytes``: each step is the session's own coroutine (``WSSession.next_message``).

    PERF: compiled, its ``__anext__`` is the type's slot; the interpreted class it replaces cost a slot lookup and a
    Python frame a message (with ``send_text``'s frames, 15-20% of uvloop's echo rate at 256 connections)."""

    __slots__ = ("session", "text")

    def __init__(self, session: WSSession, text: bool) -> None:
        self.session = session
        self.text = text

    def __aiter__(self) -> Messages:
        return self

    def __anext__(self) -> Awaitable[str | bytes]:
        return self.session.next_message(self.text)
