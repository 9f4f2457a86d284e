"""The per-second clock: the Date header and the tick that timeouts count in.

Formatting a date costs more than the rest of a small response, so it is
done once a second by the server's ticker, never per request.
"""

from __future__ import annotations

import time
from email.utils import formatdate

__all__ = ["Clock"]


class Clock:
    """Holds the current tick and the rendered ``date``/``server`` header lines."""

    __slots__ = ("now", "head_lines", "_server", "_date")

    def __init__(self, server_header: str | None, date_header: bool = True) -> None:
        self._date = date_header
        self._server = (
            b"" if server_header is None else b"server: " + server_header.encode("latin-1") + b"\r\n"
        )
        self.now = 0.0
        self.head_lines = b""
        self.update()

    def update(self) -> None:
        self.now = time.monotonic()
        if self._date:
            self.head_lines = b"date: " + formatdate(usegmt=True).encode() + b"\r\n" + self._server
        else:
            self.head_lines = self._server
