"""covet._native.json_flat and json_records against pydantic-core, whose bytes they must write or decline to write."""

from __future__ import annotations

import dataclasses
import enum
import random
import typing
from typing import Any

import pydantic
import pydantic_core
import pytest
import typing_extensions

from covet._native import JSON_BOOL, JSON_FLOAT, JSON_INT, JSON_NONE, JSON_STR, json_flat, json_records
from covet.runtime.gluekit import flat_mask, record_fields, result_validator, serializer

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


def _of(rng: random.Random, mask: int) -> object:
    """A value of one of ``mask``'s types (mostly: the float may be one json_flat declines)."""
    while True:
        value = _value(rng)
        kinds = {str: JSON_STR, int: JSON_INT, float: JSON_FLOAT, bool: JSON_BOOL, type(None): JSON_NONE}
        kind = kinds.get(type(value))
        if kind and kind & mask:
            return value


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


# json_records: dataclasses and models of scalar fields, and lists of them.

@dataclasses.dataclass
class Sale:
    region: str
    units: int
    revenue: float
    note: str | None = None
    done: bool = False


class Order(pydantic.BaseModel):
    id: int
    customer: str
    total: float | None = None
    express: bool = False


class Aliased(pydantic.BaseModel):
    id: int = pydantic.Field(alias="ID")


class Computed(pydantic.BaseModel):
    id: int

    @pydantic.computed_field  # type: ignore[prop-decorator]
    @property
    def twice(self) -> int:
        return 2 * self.id


class Extra(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="allow")
    id: int


class Nested(pydantic.BaseModel):
    ids: list[int]


class Point(typing_extensions.TypedDict):
    x: int
    label: str | None
    weight: float


@dataclasses.dataclass
class Shadowed:
    id: int

    def __post_init__(self) -> None:
        self.__dict__["id"] = -1  # what a property named like the field would hide


@pytest.mark.parametrize("tp", [Sale, Order, list[Sale], list[Order], Point, list[Point]])
def test_records_are_written_as_the_serializer_writes_them_or_declined(tp: Any) -> None:
    rng = random.Random(19)
    fields = record_fields(tp)
    assert fields is not None
    cls, many, names, masks = fields
    ser = serializer(tp)
    written = 0
    for _ in range(3000):
        values = [_value(rng) if rng.random() < 0.05 else _of(rng, mask) for mask in masks]
        try:
            model = isinstance(cls, type) and issubclass(cls, pydantic.BaseModel)
            fields = dict(zip(names, values, strict=True))
            one = cls.model_construct(**fields) if model else fields if cls is dict else cls(*values)
        except TypeError:
            continue
        value: Any = [one, one] if many else one
        out = json_records(value, cls, names, masks)
        if out is None:
            continue
        written += 1
        # (A TypedDict result is validated before it is serialized: that orders it and drops undeclared keys.)
        assert out == (ser(result_validator(tp)(value)) if cls is dict else ser(value)), values
    assert written > 150


def test_records_decline_other_classes_and_are_not_offered_for_what_they_cannot_write() -> None:
    class Sub(Sale):
        pass

    fields = record_fields(Sale)
    assert fields is not None
    _, _, names, masks = fields
    assert json_records(Sub("n", 1, 1.5), Sale, names, masks) is None  # exactly the class: its fields only
    assert json_records([Sale("n", 1, 1.5), "x"], Sale, names, masks) is None
    assert json_records(Sale("n", True, 1.5), Sale, names, masks) is None  # a bool where an int is declared
    assert json_records([], Sale, names, masks) == b"[]"
    for tp in (Aliased, Computed, Extra, Nested, list[Nested], dict[str, Sale], int):
        assert record_fields(tp) is None, tp
    with pytest.raises(TypeError):
        json_records(Sale("n", 1, 1.5), Sale, names, masks[:-1])


def test_typed_dicts_are_written_in_their_declared_order_without_other_keys() -> None:
    fields = record_fields(Point)
    assert fields is not None and fields[0] is dict
    _, _, names, masks = fields
    assert json_records({"weight": 1.5, "x": 1, "label": None, "extra": [1]}, dict, names, masks) == (
        b'{"x":1,"label":null,"weight":1.5}')
    assert json_records({"x": 1, "label": None}, dict, names, masks) is None  # a key missing: the validator's 500


def test_native_mask_bits_are_the_python_contract() -> None:
    from covet import _native
    from covet.runtime import gluekit

    for name in ("JSON_STR", "JSON_INT", "JSON_FLOAT", "JSON_BOOL", "JSON_NONE"):
        assert getattr(_native, name) == getattr(gluekit, name), name


def test_records_of_slotted_classes_and_missing_fields() -> None:
    @dataclasses.dataclass(slots=True)
    class Slotted:
        id: int
        name: str

    fields = record_fields(Slotted)
    assert fields is not None
    _, _, names, masks = fields
    value = Slotted(1, "a")
    assert json_records(value, Slotted, names, masks) == serializer(Slotted)(value)  # read by getattr: no __dict__
    del value.name
    assert json_records(value, Slotted, names, masks) is None  # a field that is not there: pydantic-core's path


def test_the_writers_refuse_wrong_arguments() -> None:
    with pytest.raises(TypeError):
        json_flat({})  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        json_flat({}, "all")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        json_records(Sale("n", 1, 1.5), "Sale", ("region",), (1,))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        json_records(Sale("n", 1, 1.5), Sale, (1,), (1,))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        json_records(Sale("n", 1, 1.5), Sale, ("region",), ("str",))  # type: ignore[arg-type]
