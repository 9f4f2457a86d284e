"""What a route may know about the connection that carried its request."""

from __future__ import annotations

from typing import final

__all__ = ["ConnectionInfo"]


@final
class ConnectionInfo:
    """Peer and protocol facts, shared by every request on one connection."""

    __slots__ = ("client", "server", "scheme", "http_version")

    def __init__(
        self,
        client: tuple[str, int] | None,
        server: tuple[str, int] | None,
        scheme: str = "http",
        http_version: str = "1.1",
    ) -> None:
        self.client = client
        self.server = server
        self.scheme = scheme
        self.http_version = http_version
