"""The HTTP/1.1 side of an upgrade to ``h2c`` (RFC 7540 section 3.2; deprecated by RFC 9113, still sent by curl's
``--http2`` on ``http://``): which requests ask for it, and the 101 that answers them.

Kept apart from ``h2_core`` so that the HTTP/1.1 transports, which ask, import no HTTP/2 library until a
connection switches.
"""

from __future__ import annotations

import base64
import binascii
from typing import Final

__all__ = ["SWITCH", "settings_of", "settings_payload"]

SWITCH: Final = b"HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: h2c\r\n\r\n"


def settings_payload(value: bytes) -> bytes:
    """An ``HTTP2-Settings`` value decoded: a SETTINGS frame's payload (ValueError when it is not base64url)."""
    try:
        # (sent without base64's padding, which Python's decoder wants back)
        return base64.b64decode(value + b"=" * (-len(value) % 4), altchars=b"-_", validate=True)
    except binascii.Error as exc:
        raise ValueError(f"HTTP2-Settings not valid: {exc}") from exc


def settings_of(headers: list[tuple[str, str]]) -> bytes | None:
    """The ``HTTP2-Settings`` of a request that asks to upgrade to ``h2c``: its Upgrade names h2c, its Connection
    names both, and it carries exactly one. None for any other request."""
    upgrade = connection = False
    settings: list[str] = []
    for name, value in headers:
        if name == "upgrade":
            upgrade = upgrade or any(t.strip().lower() == "h2c" for t in value.split(","))
        elif name == "connection":
            tokens = {t.strip().lower() for t in value.split(",")}
            connection = connection or ("upgrade" in tokens and "http2-settings" in tokens)
        elif name == "http2-settings":
            settings.append(value)
    if upgrade and connection and len(settings) == 1:
        return settings[0].strip().encode("latin-1")
    return None
