"""covet._native.json_flat against pydantic-core's to_json, whose bytes it must write or decline to write."""

from __future__ import annotations

import enum
import random
import typing

import pydantic_core
import pytest

from covet._native import JSON_BOOL, JSON_FLOAT, JSON_INT, JSON_NONE, JSON_STR, json_flat
from covet.runtime.gluekit import flat_mask

ALL = JSON_STR | JSON_INT | JSON_FLOAT | JSON_BOOL | JSON_NONE


def _text(rng: random.Random) -> str:
    pool = ['"', "\\", "\x00", "\x1f", "\x7f", "\b", "\f", "\n", "\r", "\t", "é", "\u2028", "€", "😀", "a", " ", "/"]
    return "".join(rng.choice(pool) if rng.random() < 0.5 else chr(rng.randrange(0x20, 0x7f))
                   for _ in range(rng.randrange(0, 12)))


def _value(rng: random.Random) -> object:
    kind = rng.randrange(7)
    if kind == 0:
        return _text(rng)
    if kind == 1:
        return rng.choice([0, -1, 1, 2**63 - 1, -(2**63), 2**63, 10**30, rng.randrange(-10**12, 10**12)])
    if kind == 2:
        return rng.choice([0.0, -0.0, 1.5, 0.1, 1e16, 1e15, 1e-7, 1e-5, 123.456, float("inf"), float("nan"),
                           rng.uniform(-1e6, 1e6), rng.random() * 10 ** rng.randrange(-9, 22)])
    if kind == 3:
        return rng.random() < 0.5
    if kind == 4:
        return None
    if kind == 5:
        return _text(rng) + "\ud800"  # a lone surrogate: not UTF-8, declined
    return rng.choice([[1], {"a": 1}, b"x", (1,)])


def test_writes_what_pydantic_core_writes_or_declines() -> None:
    rng = random.Random(19)
    written = declined = 0
    for _ in range(20000):
        d = {_text(rng): _value(rng) for _ in range(rng.randrange(0, 6))}
        out = json_flat(d, ALL)
        if out is None:
            declined += 1
            continue
        written += 1
        assert out == pydantic_core.to_json(d), d
    assert written > 5000 and declined > 5000  # both paths were taken


def test_declines_what_the_mask_leaves_out_and_inexact_types() -> None:
    class Colour(str, enum.Enum):  # noqa: UP042 (a str subclass, as such enums are)
        red = "red"

    class Level(enum.IntEnum):
        high = 3

    assert json_flat({"a": 1}, JSON_STR) is None
    assert json_flat({"a": True}, JSON_INT) is None  # a bool is no int here: pydantic would read it as 1
    assert json_flat({"a": 1}, JSON_FLOAT) is None  # an int declared float is written 1.0 by pydantic
    assert json_flat({"a": Colour.red}, JSON_STR) is None
    assert json_flat({"a": Level.high}, JSON_INT) is None
    assert json_flat({1: "a"}, ALL) is None
    assert json_flat({Colour.red: "a"}, ALL) is None
    assert json_flat([("a", 1)], ALL) is None
    assert json_flat({}, ALL) == b"{}"
    assert json_flat({"a": None, "b": "x"}, JSON_STR | JSON_NONE) == b'{"a":null,"b":"x"}'


def test_a_large_dict_and_long_strings() -> None:
    d = {f"k{i}": "x\n" * i for i in range(2000)}
    assert json_flat(d, JSON_STR) == pydantic_core.to_json(d)


@pytest.mark.parametrize(("tp", "mask"), [
    (dict, ALL), (dict[str, typing.Any], ALL), (dict[str, object], ALL), (dict[str, str], JSON_STR),
    (dict[str, int], JSON_INT), (dict[str, float | None], JSON_FLOAT | JSON_NONE),
    (dict[str, typing.Union[str, None]], JSON_STR | JSON_NONE),  # noqa: UP007 (typing.Union, as older code has)
    (dict[str, int | str], JSON_INT | JSON_STR),
    (dict[int, str], 0), (dict[str, list[int]], 0), (list[int], 0), (dict[str, typing.Annotated[int, 1]], 0),
    (typing.Annotated[dict[str, int], 1], 0),
])
def test_which_declared_types_are_written_flat(tp: object, mask: int) -> None:
    assert flat_mask(tp) == mask
