"""The parser's event kinds, as the C core numbers them (``native/events.h``); a test checks they agree."""

from __future__ import annotations

from typing import Final

__all__ = ["EV_REQUEST", "EV_CONTINUE", "EV_ERROR", "EV_STREAM", "EV_DATA", "EV_END"]

EV_REQUEST: Final = 0  # (kind, method, path, query, minor, headers, keep_alive, body): a complete request
EV_CONTINUE: Final = 1  # (kind,): the client waits for 100 Continue before sending its body
EV_ERROR: Final = 2  # (kind, status, message): the framing broke; the parser is dead
EV_STREAM: Final = 3  # a request's head whose body follows in pieces; its body field is None
EV_DATA: Final = 4  # (kind, bytes): a piece of a streamed body
EV_END: Final = 5  # (kind,): the streamed body ended
