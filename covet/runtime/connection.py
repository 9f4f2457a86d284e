"""What a route may know about the connection that carried its request."""

from __future__ import annotations

from typing import Protocol, final

from covet.runtime.proxy import Front, forwarded

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
    backend builds one per request and most routes never look. Behind a trusted
    proxy (``front`` with a trust set, and the request's ``headers``), ``client``,
    ``scheme`` and ``host`` are what the forwarding headers say, read on first use
    too (``covet/runtime/proxy.py``).
    """

    __slots__ = ("_client", "_server", "_scheme", "http_version", "_source", "_key", "_watch", "_front", "_headers",
                 "_host")

    def __init__(
        self,
        client: tuple[str, int] | None,
        server: tuple[str, int] | None,
        scheme: str = "http",
        http_version: str = "1.1",
        source: AddressSource | None = None,
        key: int = 0,
        watch: Liveness | None = None,
        front: Front | None = None,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        self._client = client
        self._server = server
        self._scheme = scheme
        self.http_version = http_version
        self._source = source
        self._key = key
        self._watch = watch
        self._front = front
        # Set while the forwarding headers are still to be read: only when a trust set is configured.
        self._headers = headers if front is not None and front.trust is not None else None
        self._host: str | None = None

    def for_request(self, headers: list[tuple[str, str]]) -> ConnectionInfo:
        """This connection's facts for one request whose forwarding headers may be read (a connection that is
        shared by its requests, on the asyncio transports)."""
        return ConnectionInfo(self._client, self._server, self._scheme, self.http_version, self._source, self._key,
                              self._watch, self._front, headers)

    def _forward(self) -> None:
        headers = self._headers
        front = self._front
        self._headers = None
        if headers is None or front is None:
            return
        trust = front.trust
        if trust is None or not trust.peer_trusted(self._client):
            return
        said = forwarded(trust, headers)
        if said.client is not None:
            self._client = said.client
        if said.scheme is not None:
            self._scheme = said.scheme
        self._host = said.host

    def _resolve(self) -> None:
        source = self._source
        if source is not None:
            self._source = None
            self._client = source.peer(self._key)
            self._server = source.sockname(self._key)

    @property
    def client(self) -> tuple[str, int] | None:
        """The client's ``(host, port)``: the peer's, or a trusted proxy's word for it (port 0 when it gave none)."""
        if self._source is not None:
            self._resolve()
        if self._headers is not None:
            self._forward()
        return self._client

    @property
    def scheme(self) -> str:
        """``http`` or ``https``: the connection's own, or a trusted proxy's word for the client's."""
        if self._headers is not None:
            if self._source is not None:
                self._resolve()
            self._forward()
        return self._scheme

    @property
    def forwarded_host(self) -> str | None:
        """The host (and port) a trusted proxy says the client asked for, or None: then the URL's host is the
        request's ``Host`` header."""
        if self._headers is not None:
            if self._source is not None:
                self._resolve()
            self._forward()
        return self._host

    @property
    def root_path(self) -> str:
        """Where the application is mounted behind its proxy (``--root-path``), or ``""``."""
        front = self._front
        return "" if front is None else front.root_path

    @property
    def server(self) -> tuple[str, int] | None:
        if self._source is not None:
            self._resolve()
        return self._server

    def disconnected(self) -> bool:
        """Whether the client has gone away (closed or reset the connection); False when nobody can tell."""
        watch = self._watch
        return watch is not None and watch.gone(self._key)
