"""Which core frames HTTP/2 in this process: nghttp2's (``covet._h2native``, where the build has it) or h2's (pure
Python, the portable fallback). ``COVET_H2_FRAMING=h2`` asks for the fallback. Kept apart so the server can say which
at start without importing either."""

from __future__ import annotations

import os
from typing import Any, Final

__all__ = ["FRAMING", "FRAMING_NAME", "NATIVE_CORE"]


def _native_core() -> tuple[Any, str]:
    if os.environ.get("COVET_H2_FRAMING", "") == "h2":
        return None, ""
    try:
        from covet._h2native import NGHTTP2_VERSION, H2Native
    except ImportError:
        return None, ""
    return H2Native, NGHTTP2_VERSION


_FOUND: Final = _native_core()
NATIVE_CORE: Final[Any] = _FOUND[0]
FRAMING: Final = "h2" if NATIVE_CORE is None else "nghttp2"
"""nghttp2 (native, the fast path) or h2 (pure Python)."""
FRAMING_NAME: Final = FRAMING if NATIVE_CORE is None else f"nghttp2 {_FOUND[1]}"
