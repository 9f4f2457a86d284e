"""Publish and subscribe by channel, across connections, workers and machines (docs/websockets.md#broadcast).

    broadcast = Broadcast("redis://localhost:6379")     # or "memory://": one process only

    @app.websocket("/rooms/{room}")
    async def room(websocket: WebSocket, room: str) -> None:
        await websocket.accept()
        async with broadcast.subscribe(room) as subscriber:
            async for event in subscriber:
                await websocket.send_text(event.message)

    await broadcast.publish(room, "hello")              # from any handler, any worker, any machine

``connect()`` and ``disconnect()`` belong in the application's lifespan (``Covet(lifespan=broadcast.lifespan)``
does both). Each process holds one connection to publish on and one to listen on, whatever the number of
subscribers: a message reaches the process once, and is handed to each of its local subscribers there.

A subscriber that does not keep up is bounded: past ``max_queue`` unread messages, its iteration raises
``SubscriberOverflow`` (the handler then closes its connection, 1013 say) instead of holding ever more memory or
silently losing messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any, Final, NamedTuple, Protocol, final
from urllib.parse import urlsplit

__all__ = ["Broadcast", "Event", "Subscriber", "SubscriberOverflow"]

log = logging.getLogger("covet.broadcast")

MAX_QUEUE: Final = 1024


class Event(NamedTuple):
    """One message published on ``channel``."""

    channel: str
    message: str


class SubscriberOverflow(Exception):
    """A subscriber fell more than ``max_queue`` messages behind: it is dropped rather than let grow."""


@final
class Subscriber:
    """The messages of one channel for one subscriber, in order: iterate it (``async for event in subscriber``)."""

    __slots__ = ("channel", "queue", "waiter", "max_queue", "overflowed", "closed")

    def __init__(self, channel: str, max_queue: int) -> None:
        self.channel = channel
        self.queue: deque[Event] = deque()
        self.waiter: asyncio.Future[None] | None = None
        self.max_queue = max_queue
        self.overflowed = False
        self.closed = False

    def put(self, event: Event) -> None:
        if self.overflowed or self.closed:
            return
        if len(self.queue) >= self.max_queue:
            self.overflowed = True
            self.queue.clear()
        else:
            self.queue.append(event)
        self._wake()

    def close(self) -> None:
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self) -> Event:
        """The next event; ``SubscriberOverflow`` once it fell behind, ``StopAsyncIteration`` once unsubscribed."""
        while not self.queue:
            if self.overflowed:
                raise SubscriberOverflow(f"a subscriber of {self.channel!r} fell over {self.max_queue} messages "
                                         "behind")
            if self.closed:
                raise StopAsyncIteration
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        return self.queue.popleft()

    def __aiter__(self) -> Subscriber:
        return self

    async def __anext__(self) -> Event:
        return await self.get()


class Backend(Protocol):
    """Where messages go between processes: subscribe a channel, unsubscribe it, publish; ``deliver`` is called with
    each message of a subscribed channel."""

    async def connect(self, deliver: Callable[[Event], None]) -> None: ...

    async def disconnect(self) -> None: ...

    async def subscribe(self, channel: str) -> None: ...

    async def unsubscribe(self, channel: str) -> None: ...

    async def publish(self, channel: str, message: str) -> None: ...


@final
class MemoryBackend:
    """One process: a publish is delivered to this process's subscribers only."""

    def __init__(self) -> None:
        self.deliver: Callable[[Event], None] | None = None

    async def connect(self, deliver: Callable[[Event], None]) -> None:
        self.deliver = deliver

    async def disconnect(self) -> None:
        self.deliver = None

    async def subscribe(self, channel: str) -> None:
        pass

    async def unsubscribe(self, channel: str) -> None:
        pass

    async def publish(self, channel: str, message: str) -> None:
        if self.deliver is not None:
            self.deliver(Event(channel, message))


@final
class RedisBackend:
    """Redis pub/sub (redis-py's asyncio client): every process that subscribed a channel gets its messages."""

    def __init__(self, url: str) -> None:
        try:
            import redis.asyncio as aioredis
        except ImportError as exc:  # pragma: no cover - the redis extra brings it
            raise ImportError("covet.broadcast's Redis backend needs redis-py: pip install 'covet[redis]'") from exc
        self._client: Any = aioredis.Redis.from_url(url, decode_responses=True)
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._deliver: Callable[[Event], None] | None = None

    async def connect(self, deliver: Callable[[Event], None]) -> None:
        self._deliver = deliver
        await self._client.ping()  # a wrong URL fails here, at start-up, not at the first publish
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)

    async def disconnect(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
        if self._pubsub is not None:
            await self._pubsub.aclose()
            self._pubsub = None
        await self._client.aclose()

    async def subscribe(self, channel: str) -> None:
        await self._pubsub.subscribe(channel)
        if self._reader is None:
            self._reader = asyncio.get_running_loop().create_task(self._read())

    async def unsubscribe(self, channel: str) -> None:
        if self._pubsub is not None:
            await self._pubsub.unsubscribe(channel)

    async def publish(self, channel: str, message: str) -> None:
        await self._client.publish(channel, message)

    async def _read(self) -> None:
        """Deliver what Redis sends. When the connection fails, retry each second: redis-py reconnects and renews
        the subscriptions itself (tests/test_broadcast.py restarts Redis under a subscriber); what was published
        meanwhile is lost, as pub/sub keeps nothing. One error line with its traceback, one line when it is back."""
        pubsub = self._pubsub
        down_since = 0.0
        while True:
            try:
                item = await pubsub.get_message(timeout=1.0 if down_since else None)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not down_since:
                    down_since = time.monotonic()
                    log.error("broadcast: reading from Redis failed; retrying each second", exc_info=exc)
                await asyncio.sleep(1.0)
                continue
            if down_since:
                log.warning("broadcast: Redis is back after %.0f s; messages published meanwhile were lost",
                            time.monotonic() - down_since)
                down_since = 0.0
            if item is not None and item.get("type") == "message" and self._deliver is not None:
                self._deliver(Event(str(item["channel"]), str(item["data"])))


@final
class Broadcast:
    """Channels any handler may publish on and subscribe to: ``memory://`` (this process), ``redis://host:port``."""

    def __init__(self, url: str = "memory://", *, max_queue: int = MAX_QUEUE) -> None:
        scheme = urlsplit(url).scheme
        self._backend: Backend
        if scheme == "memory":
            self._backend = MemoryBackend()
        elif scheme in ("redis", "rediss", "unix"):
            self._backend = RedisBackend(url)
        else:
            raise ValueError(f"Broadcast({url!r}): use memory:// or redis://host:port")
        self.max_queue = max_queue
        self._subscribers: dict[str, set[Subscriber]] = {}
        self._connected = False

    async def connect(self) -> None:
        await self._backend.connect(self._deliver)
        self._connected = True

    async def disconnect(self) -> None:
        self._connected = False
        for subscribers in self._subscribers.values():
            for s in subscribers:
                s.close()
        self._subscribers.clear()
        await self._backend.disconnect()

    @contextlib.asynccontextmanager
    async def lifespan(self, app: object) -> AsyncIterator[None]:
        """``Covet(lifespan=broadcast.lifespan)``: connected while the application serves."""
        await self.connect()
        try:
            yield
        finally:
            await self.disconnect()

    def _deliver(self, event: Event) -> None:
        for s in tuple(self._subscribers.get(event.channel, ())):
            s.put(event)

    async def publish(self, channel: str, message: str) -> None:
        """Send ``message`` to every subscriber of ``channel``, in every process."""
        if not self._connected:
            raise RuntimeError("Broadcast.publish before connect(): give the app lifespan=broadcast.lifespan")
        await self._backend.publish(channel, message)

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[Subscriber]:
        """Subscribe to ``channel`` for the ``async with`` block: the messages published from then on."""
        if not self._connected:
            raise RuntimeError("Broadcast.subscribe before connect(): give the app lifespan=broadcast.lifespan")
        subscriber = Subscriber(channel, self.max_queue)
        local = self._subscribers.get(channel)
        first = local is None
        if local is None:
            local = self._subscribers[channel] = set()
        local.add(subscriber)
        try:
            if first:
                await self._backend.subscribe(channel)
            yield subscriber
        finally:
            subscriber.close()
            local.discard(subscriber)
            if not local and self._subscribers.get(channel) is local:
                del self._subscribers[channel]
                if self._connected:
                    await self._backend.unsubscribe(channel)

