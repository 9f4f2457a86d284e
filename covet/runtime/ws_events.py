"""The WebSocket events of the C frame parser (``covet._native.WSParser``), and the opcodes, by name.

``WSParser.feed(data)`` returns a list of tuples whose first item says their kind. The values are those of
``native/ws_binding.h`` (the kinds) and ``native/ws_frame.h`` (the opcodes of RFC 6455 5.2);
``tests/test_contract.py`` checks that both sides agree. They are ``Final`` ints, so that mypyc inlines them.

The parser reads the frames a client sends (server side only). After a ``WS_CLOSE`` or a ``WS_ERROR`` event it takes
no more input: ``feed`` returns ``[]`` from then on. The close codes of its errors (RFC 6455 7.4.1):

    1002  protocol error: an unmasked frame, a reserved bit or opcode, a fragmented or oversized (> 125 bytes)
          control frame, a continuation of nothing or a new message inside another, a length not in its shortest
          form or with its top bit set, a close payload of 1 byte or with a code a peer may not send
    1007  a text message (uncompressed) or a close reason that is not UTF-8
    1009  a frame over ``max_frame`` or a message over ``max_message``
    1011  out of memory
"""

from typing import Final

__all__ = [
    "WS_TEXT", "WS_BINARY", "WS_PING", "WS_PONG", "WS_CLOSE", "WS_ERROR", "WS_TEXT_COMPRESSED", "WS_BINARY_COMPRESSED",
    "WS_OP_CONT", "WS_OP_TEXT", "WS_OP_BINARY", "WS_OP_CLOSE", "WS_OP_PING", "WS_OP_PONG",
]

WS_TEXT: Final = 0
"""``(WS_TEXT, str)``: a whole text message (its fragments joined), checked UTF-8."""

WS_BINARY: Final = 1
"""``(WS_BINARY, bytes)``: a whole binary message."""

WS_PING: Final = 2
"""``(WS_PING, bytes)``: a ping; answer with a pong that carries the same payload. May come between the fragments of a
message."""

WS_PONG: Final = 3
"""``(WS_PONG, bytes)``: a pong (an answer to a ping, or unsolicited)."""

WS_CLOSE: Final = 4
"""``(WS_CLOSE, code, reason)``: the client closes. ``code`` is one a peer may send, or 1005 (with reason ``""``) for
a close frame without a payload; ``reason`` is a str."""

WS_ERROR: Final = 5
"""``(WS_ERROR, close_code, message)``: the client broke the protocol; send a close frame with ``close_code`` and
close the connection (the parser is dead). ``message`` is an English sentence for the log."""

WS_TEXT_COMPRESSED: Final = 6
"""``(WS_TEXT_COMPRESSED, bytes)``: with ``rsv1_allowed``, a text message whose first frame had RSV1 set, as sent:
inflate it, then check it is UTF-8 (``covet._native.utf8_valid``). ``max_message`` bounded its compressed size only:
bound the inflated size while inflating."""

WS_BINARY_COMPRESSED: Final = 7
"""``(WS_BINARY_COMPRESSED, bytes)``: with ``rsv1_allowed``, a compressed binary message, as sent."""

WS_OP_CONT: Final = 0x0
"""Opcode of a continuation frame."""

WS_OP_TEXT: Final = 0x1
"""Opcode of the first frame of a text message."""

WS_OP_BINARY: Final = 0x2
"""Opcode of the first frame of a binary message."""

WS_OP_CLOSE: Final = 0x8
"""Opcode of a close frame."""

WS_OP_PING: Final = 0x9
"""Opcode of a ping frame."""

WS_OP_PONG: Final = 0xA
"""Opcode of a pong frame."""
