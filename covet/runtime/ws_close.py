"""How a WebSocket ends: the ``WebSocketDisconnect`` a handler is told, which close codes a Close may carry, its
payload.

Apart from ws_session.py, so that ``covet.websockets`` (imported by ``import covet``) needs no native extension.
"""

from __future__ import annotations

import struct
from typing import Final

__all__ = ["WebSocketDisconnect", "sendable", "close_payload", "ABNORMAL", "NO_STATUS"]

# What a handler is told once the connection went without a Close, or the peer's Close had no code.
ABNORMAL: Final = 1006
NO_STATUS: Final = 1005


class WebSocketDisconnect(Exception):
    """The connection is over: the peer closed it (its close ``code`` and ``reason``), or it went (1006).

    (``covet.websockets`` exports it; it lives here so that the compiled session raises it to the handler itself.)
    """

    __module__ = "covet.websockets"  # where users import it from: its repr, tracebacks and pickles say so

    def __init__(self, code: int = 1000, reason: str | None = None) -> None:
        self.code = code
        self.reason = reason or ""
        super().__init__(code, self.reason)


def sendable(code: int) -> bool:
    """Whether a Close may carry ``code`` (RFC 6455 7.4: 1004-1006 and 1015 are never sent; 1005 is sent as an empty
    payload here, the peer's Close without a code echoed)."""
    return (1000 <= code <= 4999 and code not in (1004, 1006, 1015)) and not 1016 <= code <= 2999


def close_payload(code: int, reason: str) -> bytes:
    """A Close frame's payload: the code, then the reason cut to fit a control frame (125 bytes)."""
    if code == NO_STATUS:
        return b""
    raw = reason.encode()
    if len(raw) > 123:
        raw = raw[:123].decode(errors="ignore").encode()  # never half a character
    return struct.pack("!H", code) + raw
