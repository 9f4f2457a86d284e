"""What the io_uring core (``covet._native.UringServer``) calls in Python: the one handler object it is given.

``UringServer(listen_fd, handler, *, limits...)`` looks up the handler's methods once, by the names in
``UringServer.HANDLER_METHODS`` (one table in ``native/uring_server.c``); ``UringHandler`` declares the same methods,
in the same order, and ``tests/test_contract.py`` checks that the two agree. ``covet.runtime.uring_http1.UringHTTP1``
is the handler of the server.

The other way, what Python calls in the core is the stub ``covet/_native.pyi`` (checked against the extension by
mypy's stubtest, ``tests/test_contract.py``); ``UringTLS`` names the one method through which ``covet.runtime.tls``
hands the core its TLS settings, so that module needs nothing else of the core.
"""

from __future__ import annotations

from typing import Any, Final, Protocol

__all__ = ["UringHandler", "UringTLS", "HEADERS_NONE", "HEADERS_ALL", "HEADERS_CONTENT_TYPE"]

# Which headers the core hands a direct route's glue (``UringServer.add_route``; enum covet_headers in
# native/events.h): none, all, or only Content-Type, for a route that reads no header but its JSON body's type.
HEADERS_NONE: Final = 0
HEADERS_ALL: Final = 1
HEADERS_CONTENT_TYPE: Final = 2


class UringHandler(Protocol):
    """The Python half of the io_uring core. ``cid`` names a connection (generation << 32 | descriptor)."""

    def request(self, cid: int, ev: tuple[Any, ...], /) -> bytes | None:
        """A complete request, or the head of one whose body streams (a ``covet._native.Request``, see
        ``covet.runtime.events``): the response bytes, or None when Python keeps the connection and answers later
        (``reply``, ``write``, ``finish``)."""

    def error(self, status: int, message: str, /) -> bytes:
        """The response to a request that broke the protocol; the core closes the connection after it."""

    def wake(self) -> None:
        """Work was queued outside the core's own pass: call ``flush()`` soon."""

    def drained(self, cid: int, /) -> None:
        """The connection's output fell below the low-water mark, or its client left."""

    def body(self, cid: int, item: bytes | tuple[int, str] | bool | None, /) -> bool:
        """A piece of a streamed body, None at its end, (status, message) when its framing broke, False when the
        connection is gone, True when the client shut its side first; True back asks the core to stop reading
        until ``resume_body``."""

    def reply_for(self, cid: int, plan: Any, reply: Any, keep_alive: bool, is_head: bool, minor: int,
                  line: tuple[str, str, str], /) -> bytes | None:
        """The response bytes of a direct route's reply the core could not render itself (None when an exchange
        goes on with it); ``line`` is the request's (method, path, query), for the access log."""

    def failed(self, cid: int, plan: Any, exc: BaseException, keep_alive: bool, is_head: bool, minor: int,
               line: tuple[str, str, str], /) -> bytes | None:
        """A direct route raised ``exc``: its error response."""


class UringTLS(Protocol):
    """The core serving TLS (``native/uring_tls.c``): ``UringServer.set_tls``."""

    def set_tls(self, certfile: str, keyfile: str | None, password: bytes | None, ca_certs: str | None,
                cert_reqs: int, ciphers: str, alpn: bytes, /) -> None:
        """Serve TLS with an OpenSSL context built in C from settings ``covet.runtime.tls`` has validated: the key's
        ``password`` encoded, ``cert_reqs`` 0, 1 or 2 (none, optional, required), ``alpn`` the protocols in ALPN's
        wire format. New connections get it; open ones keep theirs. Raises ``ssl.SSLError`` when OpenSSL refuses
        them (the context in service then stays)."""
