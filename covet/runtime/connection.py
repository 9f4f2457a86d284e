"""What a route may know about the connection that carried its request."""

from __future__ import annotations

from typing import Protocol, final

__all__ = ["AddressSource", "ConnectionInfo", "Left", "Liveness"]


class AddressSource(Protocol):
    """Where the addresses of a connection can be asked for later (the io_uring core keeps no address)."""

    def peer(self, key: int, /) -> tuple[str, int] | None: ...

    def sockname(self, key: int, /) -> tuple[str, int] | None: ...


class Liveness(Protocol):
    """Who knows whether a connection is still there (the transport)."""

    def gone(self, key: int, /) -> bool: ...


@final
class Left:
    """A connection's own flag that its client left, for transports that know it as it happens (asyncio).

    Kept apart from the connection object so that a request's ``ConnectionInfo`` does not make a reference
    cycle with it: a closed connection is freed by reference counting, not at the next GC pass.
    """

    __slots__ = ("left",)

    def __init__(self) -> None:
        self.left = False

    def gone(self, key: int, /) -> bool:
        return self.left


@final
class ConnectionInfo:
    """Peer and protocol facts of the connection that carried a request.

    With a ``source``, the addresses are asked of it on first use: the io_uring
    backend builds one per request and most routes never look.
    """

    __slots__ = ("_client", "_server", "scheme", "http_version", "_source", "_key", "_watch")

    def __init__(
        self,
        client: tuple[str, int] | None,
        server: tuple[str, int] | None,
        scheme: str = "http",
        http_version: str = "1.1",
        source: AddressSource | None = None,
        key: int = 0,
        watch: Liveness | None = None,
    ) -> None:
        self._client = client
        self._server = server
        self.scheme = scheme
        self.http_version = http_version
        self._source = source
        self._key = key
        self._watch = watch

    def _resolve(self) -> None:
        source = self._source
        if source is not None:
            self._source = None
            self._client = source.peer(self._key)
            self._server = source.sockname(self._key)

    @property
    def client(self) -> tuple[str, int] | None:
        if self._source is not None:
            self._resolve()
        return self._client

    @property
    def server(self) -> tuple[str, int] | None:
        if self._source is not None:
            self._resolve()
        return self._server

    def disconnected(self) -> bool:
        """Whether the client has gone away (closed or reset the connection); False when nobody can tell."""
        watch = self._watch
        return watch is not None and watch.gone(self._key)
