"""What a route may know about the connection that carried its request."""

from __future__ import annotations

from typing import Protocol, final

__all__ = ["AddressSource", "ConnectionInfo"]


class AddressSource(Protocol):
    """Where the addresses of a connection can be asked for later (the io_uring core keeps no address)."""

    def peer(self, key: int, /) -> tuple[str, int] | None: ...

    def sockname(self, key: int, /) -> tuple[str, int] | None: ...


@final
class ConnectionInfo:
    """Peer and protocol facts of the connection that carried a request.

    With a ``source``, the addresses are asked of it on first use: the io_uring
    backend builds one per request and most routes never look.
    """

    __slots__ = ("_client", "_server", "scheme", "http_version", "_source", "_key")

    def __init__(
        self,
        client: tuple[str, int] | None,
        server: tuple[str, int] | None,
        scheme: str = "http",
        http_version: str = "1.1",
        source: AddressSource | None = None,
        key: int = 0,
    ) -> None:
        self._client = client
        self._server = server
        self.scheme = scheme
        self.http_version = http_version
        self._source = source
        self._key = key

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
