"""permessage-deflate (RFC 7692): the offer answered, and messages inflated and deflated, in bounded memory.

The well-known trap is memory: a deflate context takes ~256 KiB and an inflate one ~40 KiB, and a server that keeps
both for every connection (context takeover) holds gigabytes for a few thousand idle ones. This server never does.
It always answers with ``server_no_context_takeover`` and ``client_no_context_takeover`` (RFC 7692 7.1.1: a server
may add both to any offer), so each message is compressed on its own, and then:

- every connection's messages are deflated by one compressor per window size and process, reset after each message
  with a full flush (nothing after it refers to what came before, so no connection's data can show through another's
  message), so sending costs no memory per connection;
- each received message is inflated by a fresh decompressor, freed with the message (a shared one would keep the
  last message's window, which a crafted message could refer back into), and never past the size limit: a small
  message that inflates to gigabytes is cut at ``max_size`` and closes the connection (1009).

Idle, a connection holds nothing of zlib's.
"""

from __future__ import annotations

import zlib
from typing import Final, final

__all__ = ["PerMessageDeflate", "negotiate", "TooLarge", "MIN_SIZE"]

_TAIL: Final = b"\x00\x00\xff\xff"  # what RFC 7692 7.2.1 strips from the end of each compressed message
# Messages shorter than this are sent as they are (RSV1 unset, which the extension allows): deflate would make them
# longer, and costs more than it saves.
MIN_SIZE: Final = 64

_compressors: dict[int, zlib._Compress] = {}


class TooLarge(Exception):
    """A compressed message inflates past the size limit."""


def _compressor(bits: int) -> zlib._Compress:
    c = _compressors.get(bits)
    if c is None:
        # memLevel 8 is zlib's default; the context exists once per window size and process, not per connection.
        c = _compressors[bits] = zlib.compressobj(6, zlib.DEFLATED, -bits, 8)
    return c


@final
class PerMessageDeflate:
    """The agreed parameters of one connection: only the window the server may use for what it sends (0: it sends
    uncompressed, which the extension allows)."""

    __slots__ = ("server_bits",)

    def __init__(self, server_bits: int) -> None:
        self.server_bits = server_bits

    def compress(self, data: bytes) -> bytes:
        """One message's payload, deflated on its own (RFC 7692 7.2.1); ``server_bits`` must not be 0."""
        c = _compressor(self.server_bits)
        out = c.compress(data) + c.flush(zlib.Z_FULL_FLUSH)  # a full flush also forgets the history
        return out[:-4] if out.endswith(_TAIL) else out

    @staticmethod
    def decompress(data: bytes, limit: int) -> bytes:
        """A received message's payload, inflated (RFC 7692 7.2.2); ``TooLarge`` past ``limit`` bytes, and
        ``zlib.error`` when it is not a deflate stream."""
        d = zlib.decompressobj(-15)
        out = d.decompress(data + _TAIL, limit + 1)
        if len(out) > limit or d.unconsumed_tail:
            raise TooLarge(f"the message inflates past {limit} bytes")
        return out


def _params(offer: str) -> dict[str, str | None] | None:
    """One offer's parameters; None when it is not permessage-deflate or repeats a parameter."""
    parts = [p.strip() for p in offer.split(";")]
    if parts[0].lower() != "permessage-deflate":
        return None
    params: dict[str, str | None] = {}
    for p in parts[1:]:
        if not p:
            continue
        name, eq, value = p.partition("=")
        name = name.strip().lower()
        if name in params:
            return None
        params[name] = value.strip().strip('"') if eq else None
    return params


def _bits(value: str | None) -> int | None:
    if value is None or not value.isdigit() or not 8 <= int(value) <= 15:
        return None
    return int(value)


def negotiate(headers: list[tuple[str, str]]) -> tuple[str, PerMessageDeflate] | None:
    """The first permessage-deflate offer this server accepts: the ``Sec-WebSocket-Extensions`` value to answer
    with, and the connection's codec; None when there is none (the connection goes uncompressed)."""
    offers = [o for k, v in headers if k == "sec-websocket-extensions" for o in v.split(",")]
    for offer in offers:
        params = _params(offer)
        if params is None:
            continue
        known = {"server_no_context_takeover", "client_no_context_takeover", "server_max_window_bits",
                 "client_max_window_bits"}
        if set(params) - known:
            continue  # a parameter we do not know: decline this offer (RFC 7692 5)
        if params.get("server_no_context_takeover", None) is not None:
            continue
        if params.get("client_no_context_takeover", None) is not None:
            continue
        server_bits = 15
        answer = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
        if "server_max_window_bits" in params:
            bits = _bits(params["server_max_window_bits"])
            if bits is None:
                continue
            # zlib cannot make a raw deflate stream with an 8-bit window: 9 is the smallest that fits in 8's.
            # zlib makes no raw deflate stream with an 8-bit window (it uses 9): with 8, messages go uncompressed.
            server_bits = bits if bits > 8 else 0
            answer += f"; server_max_window_bits={bits}"
        if "client_max_window_bits" in params:
            value = params["client_max_window_bits"]
            if value is not None and _bits(value) is None:
                continue
            # (We inflate with a 15-bit window, which reads any smaller one: no need to ask for less.)
        return answer, PerMessageDeflate(server_bits)
    return None
