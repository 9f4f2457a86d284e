"""The contract between the C extension (covet._native) and the Python runtime: what one side names, the other
names the same, and the stub (covet/_native.pyi) says what the extension has."""

from __future__ import annotations

import pytest

from covet import _native

PREFIX = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n"
LINES = b"date: x\r\nserver: covet\r\n"


@pytest.mark.parametrize(
    ("keep_alive", "minor", "tail"),
    [(True, 1, b""), (True, 0, b"connection: keep-alive\r\n"), (False, 1, b"connection: close\r\n"),
     (False, 0, b"connection: close\r\n")],
)
def test_render_reply_picks_the_connection_field(keep_alive: bool, minor: int, tail: bytes) -> None:
    out = _native.render_reply(PREFIX, 200, LINES, b"hi", keep_alive, False, minor)
    assert out == PREFIX + LINES + b"content-length: 2\r\n" + tail + b"\r\nhi"


def test_render_reply_head_announces_the_length_without_the_body() -> None:
    out = _native.render_reply(PREFIX, 200, LINES, b"hello", True, True, 1)
    assert out == PREFIX + LINES + b"content-length: 5\r\n\r\n"


@pytest.mark.parametrize("status", [204, 304])
@pytest.mark.parametrize("is_head", [False, True])
def test_render_reply_no_body_statuses(status: int, is_head: bool) -> None:
    """204 and 304 end at their head: no body and no content-length (the C side alone knows which statuses)."""
    out = _native.render_reply(PREFIX, status, LINES, b"ignored", False, is_head, 1)
    assert out == PREFIX + LINES + b"connection: close\r\n\r\n"


def test_render_reply_checks_its_arguments() -> None:
    with pytest.raises(TypeError):
        _native.render_reply(PREFIX, 200, LINES, "hi", True, False, 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _native.render_reply(PREFIX, 200, LINES, b"hi", True, False)  # type: ignore[call-arg]
