"""**transport**: what the asyncio transports of every protocol do alike with their connection.

``reset``: ``transport.abort()`` closes the socket, but the kernel goes on sending what it still holds, for minutes,
to a peer that reads a byte at a time (the socket sits in FIN-WAIT-1 with its send queue full). With ``SO_LINGER``
at zero the close is a reset, and that memory goes at once.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import TYPE_CHECKING

from covet.runtime.connection import Left

if TYPE_CHECKING:
    from covet.runtime.state import Connection, ServerState

__all__ = ["forget", "reset"]


def forget(state: ServerState, conn: Connection, left: Left) -> None:
    """The connection is gone: its requests may ask (``left``), the server stops tracking it, the metrics count it."""
    left.left = True
    state.connections.discard(conn)
    access = state.access
    if access is not None:
        access.connections(-1)


def reset(transport: asyncio.BaseTransport) -> None:
    """Cut the connection now, with a reset."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    transport.abort()  # type: ignore[attr-defined]
