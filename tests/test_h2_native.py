"""covet._h2native's own contract (native/h2_binding.c): what a caller gets wrong is a Python exception, never a
crash; the limits it is given are checked. (What the core does is tests/test_h2_core.py's, on both cores.)"""

from __future__ import annotations

from typing import Any

import pytest
from hpack import Encoder
from hyperframe.frame import SettingsFrame

from covet.runtime.h2_core import H2_REQUEST, PREFACE, H2Limits
from covet.runtime.h2_framing import NATIVE_CORE
from covet.runtime.h2c import settings_payload

if NATIVE_CORE is None:  # (make system-deps installs nghttp2's headers: CI builds it)
    pytest.skip("this build has no covet._h2native (nghttp2's headers were missing)", allow_module_level=True)

H2Native: Any = NATIVE_CORE


def opened() -> Any:
    core = H2Native()
    core.feed(PREFACE + SettingsFrame(0).serialize(), 0.0)
    return core


def request(core: Any, sid: int = 1, end: bool = True, extra: tuple[tuple[str, str], ...] = ()) -> list[Any]:
    block = Encoder().encode([(":method", "GET" if end else "POST"), (":path", "/p?q=1"), (":scheme", "http"),
                              (":authority", "x"), *extra])
    frame = len(block).to_bytes(3, "big") + bytes([0x1, 0x4 | (0x1 if end else 0)]) + sid.to_bytes(4, "big")
    return core.feed(frame + block, 0.0)  # type: ignore[no-any-return]


def test_a_core_never_initialised_says_so() -> None:
    core = H2Native.__new__(H2Native)
    assert core.closed
    for call in (lambda: core.feed(b"", 0.0), core.data_to_send, lambda: core.respond(1, 200, []),
                 lambda: core.send(1, b""), lambda: core.trailers(1, []), lambda: core.reset(1),
                 lambda: core.consume(1, 1), core.shutdown, core.finished, core.busy, lambda: core.held(1),
                 core.held_out, lambda: core.request_head(1), lambda: core.stalled(0.0, 1.0),
                 lambda: core.unfinished(0.0, 1.0), core.open_streams,
                 lambda: core.upgraded("GET", "/", "", [])):
        with pytest.raises(RuntimeError, match="__init__"):
            call()
    core.lost()  # (nothing to lose)


@pytest.mark.parametrize("limits", [H2Limits(max_frame_size=100), H2Limits(max_frame_size=1 << 24),
                                    H2Limits(window=1 << 31), H2Limits(max_concurrent_streams=1 << 32)])
def test_limits_out_of_range_are_refused(limits: H2Limits) -> None:
    with pytest.raises(ValueError):
        H2Native(limits)


def test_limits_must_be_numbers() -> None:
    class Odd:
        def __getattr__(self, name: str) -> object:
            return "many"

    with pytest.raises(TypeError):
        H2Native(Odd())
    with pytest.raises(AttributeError):
        H2Native(object())


def test_arguments_of_the_wrong_kind_raise() -> None:
    core = opened()
    with pytest.raises(TypeError):
        core.feed(b"")
    with pytest.raises(TypeError):
        core.feed("text", 0.0)
    with pytest.raises(TypeError):
        core.feed(b"", "now")
    with pytest.raises(TypeError):
        core.respond(1, 200)
    with pytest.raises(TypeError):
        core.respond("one", 200, [])
    with pytest.raises(TypeError):
        core.respond(1, "ok", [])
    with pytest.raises(TypeError):
        core.send(1)
    with pytest.raises(TypeError):
        core.trailers(1)
    with pytest.raises(TypeError):
        core.reset()
    with pytest.raises(TypeError):
        core.reset(1, "code")
    with pytest.raises(TypeError):
        core.consume(1)
    with pytest.raises(TypeError):
        core.consume("one", 1)
    with pytest.raises(TypeError):
        core.stalled(0.0)
    with pytest.raises(TypeError):
        core.unfinished("now", 1.0)
    with pytest.raises(TypeError):
        core.held("one")
    with pytest.raises(TypeError):
        core.upgraded("GET", "/", "")
    assert not core.closed


def test_response_fields_of_the_wrong_kind_raise_before_anything_is_sent() -> None:
    core = opened()
    request(core)
    core.data_to_send()
    for fields in ([("name", "value")], [(b"name",)], [b"name: value"], 42):
        with pytest.raises(TypeError):
            core.respond(1, 200, fields)
    with pytest.raises(TypeError):
        core.respond(1, 200, [], "body")
    with pytest.raises(ValueError, match="status"):
        core.respond(1, 99, [])
    assert core.data_to_send() == b""
    many = [(b"x-%d" % i, b"v" * 40) for i in range(100)]  # (past the stack's room for pairs and names)
    assert core.respond(1, 200, many, b"ok")
    assert b"ok" in core.data_to_send()


def test_calls_on_streams_that_are_not_there() -> None:
    core = opened()
    assert core.respond(7, 200, []) is False
    assert core.send(7, b"x") == -1
    assert core.trailers(7, []) is False
    assert core.held(7) == -1
    core.reset(7)
    core.reset(-1)
    core.consume(7, 100)
    core.consume(0, 100)
    with pytest.raises(KeyError):
        core.request_head(7)
    assert core.stalled(10.0, 1.0) == [] and core.unfinished(10.0, 1.0) == []
    with pytest.raises(RuntimeError, match="upgraded"):
        core.upgraded("GET", "/", "", [])


def test_send_and_trailers_before_the_head_are_refused() -> None:
    core = opened()
    request(core, end=False)
    with pytest.raises(RuntimeError, match="respond"):
        core.send(1, b"x")
    with pytest.raises(RuntimeError, match="respond"):
        core.trailers(1, [])
    assert core.request_head(1) == ("POST", "/p", "q=1", [("host", "x")])
    assert core.unfinished(100.0, 1.0) == [1]  # its body stopped arriving
    assert core.respond(1, 200, [], b"", False)
    assert core.respond(1, 200, []) is False  # one head a stream
    core.reset(1, 1 << 40)  # (a code past 32 bits is INTERNAL_ERROR)
    assert core.open_streams() == []


def test_an_upgrade_with_settings_that_are_not_valid_is_refused() -> None:
    for value in (b"AAIAAAAC", b"AAQAAAAA" + b"gAAAAA", b"AAUAAAAA", b"AAgAAAAC", b"AAQAAAAA"[:7]):
        with pytest.raises(ValueError):
            H2Native(None, settings_payload(value))
    core = H2Native(None, settings_payload(b"AAMAAABkAAQCAAAAAAIAAAAA"))
    event = core.upgraded("GET", "/a", "b=1", [("host", "x")])
    assert event == (H2_REQUEST, 1, "GET", "/a", "b=1", [("host", "x")], b"")
    with pytest.raises(RuntimeError, match="upgraded"):
        core.upgraded("GET", "/a", "", [])  # once
    with pytest.raises(TypeError):
        H2Native(None, settings_payload(b"AAMAAABk")).upgraded("GET", "/", "", [("host",)])
    with pytest.raises(UnicodeEncodeError):
        H2Native(None, settings_payload(b"AAMAAABk")).upgraded("GET", "/\u263a", "", [])


def test_a_stalled_stream_is_named_and_a_lost_core_answers_nothing() -> None:
    core = opened()
    core.feed(SettingsFrame(0, settings={0x4: 0}).serialize(), 0.0)  # windows shut
    request(core)
    assert core.respond(1, 200, [], b"held")
    assert core.held(1) == 4 and core.held_out() == 4 and core.busy()
    assert core.stalled(30.0, 10.0) == [1]
    core.lost()
    assert core.closed and core.feed(b"\x00" * 9, 31.0) == [] and core.respond(1, 200, []) is False
