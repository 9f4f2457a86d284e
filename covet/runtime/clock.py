"""The per-second clock: the Date header and the tick that timeouts count in.

Formatting a date costs more than the rest of a small response, so it is
done once a second by the server's ticker, never per request.
"""

from __future__ import annotations

import time
from email.utils import formatdate

__all__ = ["Clock"]


class Clock:
    """Holds the current tick and the ``date``/``server`` headers: rendered lines (HTTP/1.1) and pairs (HTTP/2)."""

    __slots__ = ("now", "head_lines", "fields", "_server", "_server_field", "_date")

    def __init__(self, server_header: str | None, date_header: bool = True) -> None:
        self._date = date_header
        value = None if server_header is None else server_header.encode("latin-1")
        self._server = b"" if value is None else b"server: " + value + b"\r\n"
        self._server_field: tuple[tuple[bytes, bytes], ...] = () if value is None else ((b"server", value),)
        self.now = 0.0
        self.head_lines = b""
        self.fields: tuple[tuple[bytes, bytes], ...] = ()
        self.update()

    def update(self) -> None:
        self.now = time.monotonic()
        if self._date:
            date = formatdate(usegmt=True).encode()
            self.head_lines = b"date: " + date + b"\r\n" + self._server
            self.fields = ((b"date", date), *self._server_field)
        else:
            self.head_lines = self._server
            self.fields = self._server_field
