"""Typed contracts: every supported type, every constraint, the problems and the schema."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import json
import time
import types
import typing
import uuid
from typing import Annotated, Any, Literal, Optional, TypedDict, Union

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typing_extensions import NotRequired, Required  # typing has them from 3.11

from seekapi._contract import MAX_PROBLEMS, Contract, ContractError, Field, InvalidValue, compile
from seekapi.errors import SeekAPIError, UsageError

# -- the types used below ------------------------------------------------------------------


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@dataclasses.dataclass
class Point:
    x: int
    y: int = 0


@dataclasses.dataclass
class Line:
    sku: Annotated[str, Field(min_length=1, max_length=8, description="The article")]
    score: Annotated[float, Field(ge=0, le=1)]
    color: Color = Color.RED
    tags: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Order:
    lines: list[Line]
    placed: datetime.datetime
    note: str | None = None


class Movie(TypedDict):
    title: str
    year: NotRequired[int]


class Partial(TypedDict, total=False):
    title: Required[str]
    year: int


@dataclasses.dataclass
class Checked:
    n: int

    def __post_init__(self) -> None:
        if self.n == 13:
            raise ValueError("13 is unlucky")


@dataclasses.dataclass
class Node:
    children: list[Node]


@dataclasses.dataclass
class Unsupported:
    bad: set[int]


@dataclasses.dataclass
class Holder:
    lines: list[Unsupported]


def problems(contract: Contract, value: object) -> list[dict[str, str]]:
    with pytest.raises(InvalidValue) as info:
        contract.validate(value)
    return info.value.details


def problems_of_dump(contract: Contract, value: object) -> list[dict[str, str]]:
    with pytest.raises(InvalidValue) as info:
        contract.dump(value)
    return info.value.details


def paths(contract: Contract, value: object) -> list[str]:
    return [item["path"] for item in problems(contract, value)]


# -- scalars -------------------------------------------------------------------------------


def test_str() -> None:
    c = compile(str)
    assert c.validate("a") == "a"
    assert c.schema() == {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "string",
    }
    assert problems(c, 5) == [{"path": "", "message": "expected a string, got 5"}]


def test_int_accepts_integral_numbers_only() -> None:
    c = compile(int)
    assert c.validate(3) == 3
    result = c.validate(3.0)
    assert result == 3
    assert type(result) is int
    for wrong in (3.5, True, "3", None, [3]):
        assert paths(c, wrong) == [""]
    assert problems(c, True)[0]["message"] == "expected an integer, got true"


def test_float_accepts_int_converted() -> None:
    c = compile(float)
    result = c.validate(2)
    assert result == 2.0
    assert type(result) is float
    assert c.validate(2.5) == 2.5
    for wrong in (False, "2.5", float("nan"), float("inf"), 10**400):
        assert paths(c, wrong) == [""]


def test_bool_and_none() -> None:
    assert compile(bool).validate(True) is True
    assert paths(compile(bool), 1) == [""]
    assert compile(None).validate(None) is None
    assert compile(type(None)).validate(None) is None
    assert problems(compile(None), 0)[0]["message"] == "expected null, got 0"


def test_datetime_date_time() -> None:
    dt = compile(datetime.datetime)
    assert dt.validate("2026-01-31T12:00:00Z") == datetime.datetime(
        2026, 1, 31, 12, tzinfo=datetime.timezone.utc
    )
    parsed = dt.validate("2026-01-31t12:00:00.1234567-02:30")
    assert isinstance(parsed, datetime.datetime)
    assert parsed.microsecond == 123456
    for wrong in ("2026-01-31T12:00:00", "2026-02-30T12:00:00Z", "2026-01-31", 5, "x"):
        assert paths(dt, wrong) == [""]
    assert dt.schema()["format"] == "date-time"
    d = compile(datetime.date)
    assert d.validate("2026-01-31") == datetime.date(2026, 1, 31)
    for wrong in ("2026-1-31", "20260131", "2026-02-30", "2026-01-31T00:00:00Z"):
        assert paths(d, wrong) == [""]
    assert d.schema()["format"] == "date"
    t = compile(datetime.time)
    assert t.validate("12:30:00+01:00") == datetime.time(
        12, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=1))
    )
    for wrong in ("12:30:00", "25:00:00Z", "12:30Z"):
        assert paths(t, wrong) == [""]
    assert t.schema()["format"] == "time"


def test_uuid() -> None:
    c = compile(uuid.UUID)
    value = uuid.uuid4()
    assert c.validate(str(value)) == value
    assert c.validate(str(value).upper()) == value
    for wrong in (value.hex, "{" + str(value) + "}", "urn:uuid:" + str(value), 1):
        assert paths(c, wrong) == [""]
    assert c.schema()["format"] == "uuid"
    assert c.dump(value) == str(value)


def test_decimal_from_string_or_number() -> None:
    c = compile(decimal.Decimal)
    assert c.validate("12.50") == decimal.Decimal("12.50")
    assert str(c.validate("12.50")) == "12.50"
    assert c.validate(0.1) == decimal.Decimal("0.1")
    assert c.validate(3) == decimal.Decimal(3)
    assert c.validate("-1e3") == decimal.Decimal("-1e3")
    for wrong in ("NaN", "1,5", "", " 1", True, None, "01"):
        assert paths(c, wrong) == [""]
    assert c.dump(decimal.Decimal("1.10")) == "1.10"
    with pytest.raises(ContractError, match="ge/gt/le/lt"):
        compile(Annotated[decimal.Decimal, Field(ge=0)])


# -- choices -------------------------------------------------------------------------------


def test_literal() -> None:
    c = compile(Literal["a", 1, True, None])
    assert c.validate("a") == "a"
    assert c.validate(1.0) == 1
    assert c.validate(True) is True
    assert c.validate(None) is None
    assert paths(c, "b") == [""]
    assert c.schema()["enum"] == ["a", 1, True, None]
    assert compile(Literal["x"]).schema()["const"] == "x"
    assert compile(Literal[Color.RED]).validate("red") is Color.RED
    only_one = compile(Literal[1])
    assert paths(only_one, True) == [""]


def test_enum_by_value() -> None:
    c = compile(Color)
    assert c.validate("red") is Color.RED
    assert problems(c, "RED") == [
        {"path": "", "message": 'expected one of "red", "green", got "RED"'}
    ]
    assert c.schema()["enum"] == ["red", "green"]
    assert c.dump(Color.GREEN) == "green"
    # An output value must be a member, not its plain value.
    assert problems_of_dump(c, "green") == [
        {"path": "", "message": 'expected a member of Color, got "green"'}
    ]
    levels = compile(Level)
    assert levels.validate(2) is Level.HIGH
    assert paths(levels, True) == [""]


def test_enum_with_non_json_values_is_refused() -> None:
    class Odd(enum.Enum):
        A = (1, 2)

    with pytest.raises(ContractError, match="Odd"):
        compile(Odd)


def test_unions() -> None:
    c = compile(Optional[int])  # noqa: UP045 (Optional is one of the spellings tested)
    assert c.validate(None) is None
    assert c.validate(4) == 4
    assert problems(c, "x") == [{"path": "", "message": 'expected an integer or null, got "x"'}]
    u = compile(Union[int, str])  # noqa: UP007
    assert u.validate("x") == "x"
    assert compile(int | None).validate(None) is None
    # One member fits the value's JSON kind: its own problems are reported.
    p = compile(Point | None)
    assert problems(p, {"x": "a"}) == [{"path": "/x", "message": 'expected an integer, got "a"'}]
    assert c.schema()["anyOf"] == [{"type": "integer"}, {"type": "null"}]


# -- containers ----------------------------------------------------------------------------


def test_list_tuple_dict() -> None:
    assert compile(list[int]).validate([1, 2.0]) == [1, 2]
    assert paths(compile(list[int]), [1, "a", 3, None]) == ["/1", "/3"]
    assert paths(compile(list[int]), (1, 2)) == [""]
    assert compile(tuple[int, ...]).validate([1, 2]) == (1, 2)
    fixed = compile(tuple[int, str])
    assert fixed.validate([1, "a"]) == (1, "a")
    assert paths(fixed, [1]) == [""]
    assert paths(fixed, [1, "a", 2]) == [""]
    assert paths(fixed, ["a", 1]) == ["/0", "/1"]
    assert fixed.schema()["prefixItems"] == [{"type": "integer"}, {"type": "string"}]
    assert compile(tuple[()]).validate([]) == ()
    mapping = compile(dict[str, int])
    assert mapping.validate({"a/b": 1}) == {"a/b": 1}
    assert problems(mapping, {"a/b": "x", "c~d": 2, "e": None}) == [
        {"path": "/a~1b", "message": 'expected an integer, got "x"'},
        {"path": "/e", "message": "expected an integer, got null"},
    ]


# -- objects -------------------------------------------------------------------------------


def test_dataclass_defaults_required_unknown() -> None:
    c = compile(Line)
    line = c.validate({"sku": "A1", "score": 1})
    assert line == Line(sku="A1", score=1.0)
    assert line.tags == []
    assert problems(c, {"score": 0.5, "bogus": 1}) == [
        {"path": "/sku", "message": "required by Line, missing"},
        {"path": "/bogus", "message": "unknown key for Line (allowed: sku, score, color, tags)"},
    ]
    schema = c.schema()
    assert schema["required"] == ["sku", "score"]
    assert schema["additionalProperties"] is False
    props = schema["properties"]
    assert isinstance(props, dict)
    assert props["color"] == {"title": "Color", "enum": ["red", "green"], "default": "red"}
    assert props["sku"]["description"] == "The article"
    assert "default" not in props["tags"]
    assert paths(c, ["sku"]) == [""]


def test_dataclass_own_checks_are_problems() -> None:
    c = compile(Checked)
    assert c.validate({"n": 1}) == Checked(1)
    assert problems(c, {"n": 13}) == [{"path": "", "message": "refused by Checked: 13 is unlucky"}]


def test_typeddict_total_required_notrequired() -> None:
    movie = compile(Movie)
    assert movie.validate({"title": "x"}) == {"title": "x"}
    assert movie.validate({"title": "x", "year": 1999}) == {"title": "x", "year": 1999}
    assert paths(movie, {"year": 1}) == ["/title"]
    assert paths(movie, {"title": "x", "other": 1}) == ["/other"]
    assert movie.schema()["required"] == ["title"]
    partial = compile(Partial)
    assert partial.validate({"title": "x"}) == {"title": "x"}
    assert paths(partial, {}) == ["/title"]
    assert partial.dump({"title": "t", "year": 2}) == {"title": "t", "year": 2}


def test_nesting_paths() -> None:
    c = compile(Order)
    good = {
        "lines": [{"sku": "A", "score": 0.5, "color": "green", "tags": ["n"]}],
        "placed": "2026-01-31T12:00:00Z",
    }
    order = c.validate(good)
    assert isinstance(order, Order)
    assert order.lines[0].color is Color.GREEN
    bad = {
        "lines": [
            {"sku": "A", "score": 0.5},
            {"sku": "", "score": 2, "color": "blue", "tags": ["ok", 3]},
        ],
        "placed": "yesterday",
    }
    assert problems(c, bad) == [
        {"path": "/lines/1/sku", "message": "expected at least 1 character, got 0"},
        {"path": "/lines/1/score", "message": "expected a number at most 1, got 2"},
        {"path": "/lines/1/color", "message": 'expected one of "red", "green", got "blue"'},
        {"path": "/lines/1/tags/1", "message": "expected a string, got 3"},
        {
            "path": "/placed",
            "message": "expected an RFC 3339 date-time with an offset"
            ' (2026-01-31T12:00:00Z), got "yesterday"',
        },
    ]


def test_problems_are_capped_and_named_in_the_message() -> None:
    c = compile(list[int])
    with pytest.raises(InvalidValue) as info:
        c.validate(["x"] * 100)
    error = info.value
    assert len(error.details) == MAX_PROBLEMS
    assert error.truncated
    assert str(error).startswith('20+ problems: /0: expected an integer, got "x"; /1: ')
    assert "and 17 more" in str(error)
    assert isinstance(error, SeekAPIError)
    assert isinstance(error, ValueError)
    with pytest.raises(InvalidValue) as caught:
        compile(int).validate("x")
    one = caught.value
    assert str(one) == '1 problem: <root>: expected an integer, got "x"'
    assert not one.truncated


# -- constraints ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "good", "bad", "keyword"),
    [
        (Field(ge=1), 1, 0, {"minimum": 1}),
        (Field(gt=1), 2, 1, {"exclusiveMinimum": 1}),
        (Field(le=1), 1, 2, {"maximum": 1}),
        (Field(lt=1), 0, 1, {"exclusiveMaximum": 1}),
    ],
)
def test_number_bounds(field: Field, good: int, bad: int, keyword: dict[str, int]) -> None:
    for base in (int, float):
        c = compile(Annotated[base, field])
        assert c.validate(good) == good
        assert paths(c, bad) == [""]
        schema = c.schema()
        assert {k: schema[k] for k in keyword} == keyword


def test_string_constraints() -> None:
    c = compile(Annotated[str, Field(min_length=2, max_length=3, pattern="^[a-z]+$")])
    assert c.validate("ab") == "ab"
    assert problems(c, "a")[0]["message"] == "expected at least 2 characters, got 1"
    assert problems(c, "abcd")[0]["message"] == "expected at most 3 characters, got 4"
    assert problems(c, "A1")[0]["message"] == 'expected a string matching ^[a-z]+$, got "A1"'
    searched = compile(Annotated[str, Field(pattern="[0-9]")])
    assert searched.validate("a1b") == "a1b"
    assert c.schema()["pattern"] == "^[a-z]+$"


def test_sizes_of_lists_and_dicts() -> None:
    items = compile(Annotated[list[int], Field(min_length=1, max_length=2)])
    assert items.validate([1]) == [1]
    assert problems(items, [])[0]["message"] == "expected at least 1 item, got 0"
    assert paths(items, [1, 2, 3]) == [""]
    assert items.schema()["minItems"] == 1
    keys = compile(Annotated[dict[str, int], Field(max_length=1)])
    assert paths(keys, {"a": 1, "b": 2}) == [""]
    assert keys.schema()["maxProperties"] == 1


def test_description_and_examples() -> None:
    c = compile(Annotated[Color, Field(description="Paint", examples=[Color.RED])])
    schema = c.schema()
    assert schema["description"] == "Paint"
    assert schema["examples"] == ["red"]
    with pytest.raises(ContractError, match="example 0"):
        compile(Annotated[int, Field(examples=["x"])])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ge": "1"},
        {"gt": True},
        {"le": float("nan")},
        {"min_length": -1},
        {"max_length": 1.5},
        {"min_length": 3, "max_length": 2},
        {"pattern": "("},
        {"pattern": 5},
        {"description": 1},
        {"examples": "x"},
    ],
)
def test_field_refuses_bad_arguments(kwargs: dict[str, object]) -> None:
    with pytest.raises(ContractError):
        Field(**kwargs)  # type: ignore[arg-type]


def test_field_is_frozen_and_comparable() -> None:
    field = Field(ge=1, description="d")
    with pytest.raises(AttributeError):
        field.ge = 2
    assert field == Field(ge=1, description="d")
    assert hash(field) == hash(Field(ge=1, description="d"))
    assert repr(field) == "Field(description='d', ge=1)"


@pytest.mark.parametrize(
    "tp",
    [
        Annotated[str, Field(ge=1)],
        Annotated[int, Field(pattern="x")],
        Annotated[int, Field(min_length=1)],
        Annotated[bool, Field(min_length=1)],
        Annotated[Color, Field(ge=1)],
        Annotated[Point, Field(max_length=1)],
        Annotated[int, Field(), Field()],
    ],
)
def test_misplaced_constraints_are_refused(tp: object) -> None:
    with pytest.raises(ContractError):
        compile(tp)


# -- what cannot be a contract -------------------------------------------------------------


@pytest.mark.parametrize(
    ("tp", "words"),
    [
        (object, "object at the annotation: not a supported type"),
        (dict[int, str], "JSON object keys are strings"),
        ("Point", "not resolved"),
        (list[set[int]], "at the annotation[item]"),
        (Node, "recursive"),
        (Literal[1.5], "Literal values"),
    ],
)
def test_unsupported_annotations(tp: object, words: str) -> None:
    with pytest.raises(ContractError, match=words.replace("[", r"\[")) as info:
        compile(tp)
    assert isinstance(info.value, UsageError)


def test_unresolvable_dataclass_names_the_field() -> None:
    @dataclasses.dataclass
    class Broken:
        x: Missing  # type: ignore[name-defined]  # noqa: F821

    with pytest.raises(
        ContractError, match="Broken at the annotation: its annotations do not resolve"
    ):
        compile(Broken)
    with pytest.raises(ContractError, match=r"set\[int\] at the annotation\.lines\[item\]\.bad"):
        compile(Holder)


# -- dump ----------------------------------------------------------------------------------


def test_dump_converts_and_checks() -> None:
    c = compile(Order)
    order = Order(
        lines=[Line("A", 0.5, Color.GREEN, ["t"])],
        placed=datetime.datetime(2026, 1, 31, tzinfo=datetime.timezone.utc),
    )
    data = c.dump(order)
    assert data == {
        "lines": [{"sku": "A", "score": 0.5, "color": "green", "tags": ["t"]}],
        "placed": "2026-01-31T00:00:00+00:00",
        "note": None,
    }
    assert c.validate(data) == order
    naive = Order(lines=[Line("", 2.0)], placed=datetime.datetime(2026, 1, 31))
    with pytest.raises(InvalidValue) as info:
        c.dump(naive)
    assert [d["path"] for d in info.value.details] == ["/lines/0/sku", "/lines/0/score", "/placed"]
    with pytest.raises(InvalidValue):
        c.dump({"lines": [], "placed": "x"})
    assert compile(tuple[int, ...]).dump((1, 2)) == [1, 2]
    assert compile(datetime.date).dump(datetime.date(2026, 1, 2)) == "2026-01-02"
    with pytest.raises(InvalidValue):
        compile(datetime.date).dump(datetime.datetime(2026, 1, 2))
    assert (
        compile(datetime.time).dump(datetime.time(1, 2, 3, tzinfo=datetime.timezone.utc))
        == "01:02:03+00:00"
    )
    with pytest.raises(InvalidValue):
        compile(int).dump(True)
    assert compile(Literal["a", "b"]).dump("b") == "b"


# -- speed ---------------------------------------------------------------------------------


def test_ten_thousand_dataclasses_validate_well_under_100_ms() -> None:
    @dataclasses.dataclass
    class Item:
        id: int
        name: Annotated[str, Field(min_length=1, max_length=40, pattern="^[a-z0-9-]+$")]
        kind: Color
        at: datetime.datetime
        score: float
        tags: list[str]

    c = compile(list[Item])
    data = [
        {
            "id": i,
            "name": f"item-{i}",
            "kind": "red",
            "at": "2026-01-31T12:00:00Z",
            "score": i / 3,
            "tags": ["x"],
        }
        for i in range(10_000)
    ]
    best = min(_timed(c, data) for _ in range(3))
    assert best < 0.1, best


def _timed(c: Contract, data: object) -> float:
    start = time.perf_counter()
    c.validate(data)
    return time.perf_counter() - start


# -- differential: the schema says exactly what validate accepts ---------------------------

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["", "a", "red", "green", "2026-01-31", "2026-02-30", "x1", "1.5", "-3"])
    | st.text(max_size=6)
    | st.uuids().map(str),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["x", "y", "sku", "score", "color", "tags", "title", "year", "z"]),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)

_FIXED: list[object] = [
    int,
    float,
    bool,
    str,
    None,
    Color,
    Level,
    Literal["a", 1, None],
    list[int],
    tuple[int, str],
    tuple[float, ...],
    dict[str, bool],
    int | str | None,
    Point,
    Line,
    Movie,
    Partial,
    datetime.date,
    uuid.UUID,
    decimal.Decimal,
    Annotated[int, Field(ge=-5, lt=100)],
    Annotated[float, Field(gt=0.5, le=1e6)],
    Annotated[str, Field(min_length=1, max_length=3, pattern="^[a-z]")],
    Annotated[list[int], Field(min_length=1, max_length=2)],
    list[Point | None],
]

_leaf_types = st.sampled_from([int, float, bool, str, type(None), Color, datetime.date, uuid.UUID])


def _compose(inner: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return (
        inner.map(lambda t: list[t])  # type: ignore[valid-type]
        | inner.map(lambda t: dict[str, t])  # type: ignore[valid-type]
        | st.tuples(inner, inner).map(lambda ts: tuple[ts[0], ts[1]])  # type: ignore[valid-type]
        | st.tuples(inner, inner).map(lambda ts: Union[ts[0], ts[1]])  # noqa: UP007
    )


_types = st.sampled_from(_FIXED) | st.recursive(_leaf_types, _compose, max_leaves=4)


def _values_for(tp: object) -> st.SearchStrategy[object]:
    """Values shaped like the type (often valid, sometimes just off) and any JSON at all."""
    return _shaped(tp) | _json


def _shaped(tp: object) -> st.SearchStrategy[object]:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Annotated:
        return _shaped(args[0])
    simple: dict[object, st.SearchStrategy[object]] = {
        int: st.integers(-10, 200) | st.integers(-10, 10).map(float),
        float: st.floats(-10, 1e7, allow_nan=False) | st.integers(-10, 10),
        bool: st.booleans(),
        str: st.text(max_size=4),
        None: st.none(),
        type(None): st.none(),
        datetime.date: st.dates().map(datetime.date.isoformat),
        uuid.UUID: st.uuids().map(str),
        decimal.Decimal: st.decimals(allow_nan=False, allow_infinity=False, places=3).map(str)
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False),
    }
    if tp in simple:
        return simple[tp]
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return st.sampled_from([member.value for member in tp])
    if origin is Literal:
        return st.sampled_from([a.value if isinstance(a, enum.Enum) else a for a in args])
    if origin is list or (origin is tuple and len(args) == 2 and args[1] is Ellipsis):
        return st.lists(st.deferred(lambda: _values_for(args[0])), max_size=3)
    if origin is tuple:
        return st.tuples(*(_values_for(a) for a in args)).map(list)
    if origin is dict:
        return st.dictionaries(st.text(max_size=2), _values_for(args[1]), max_size=3)
    if origin is Union or origin is types.UnionType:
        return st.one_of([_shaped(a) for a in args])
    if isinstance(tp, type) and (dataclasses.is_dataclass(tp) or typing.is_typeddict(tp)):
        hints = typing.get_type_hints(tp)
        return st.fixed_dictionaries(
            {}, optional={name: _values_for(hint) for name, hint in hints.items()}
        )
    return _json


def _reference_validator(schema: dict[str, object]) -> Any:
    """jsonschema's Draft 2020-12 validator with its format checker, its ``pattern`` run
    by an ECMA-262 engine (regress), as the specification says, not by Python's ``re``."""
    jsonschema = pytest.importorskip("jsonschema")
    regress = pytest.importorskip("regress")
    from jsonschema import ValidationError, validators

    def pattern(validator: Any, regex: str, instance: object, schema: object) -> Any:
        if (
            validator.is_type(instance, "string")
            and regress.Regex(regex, "u").find(instance) is None
        ):
            yield ValidationError(f"{instance!r} does not match {regex!r}")

    base = jsonschema.Draft202012Validator
    ecma = validators.extend(base, {"pattern": pattern})  # type: ignore[no-untyped-call]
    return ecma(schema, format_checker=base.FORMAT_CHECKER)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tp=_types, data=st.data())
def test_validate_accepts_exactly_what_the_schema_accepts(tp: object, data: st.DataObject) -> None:
    contract = compile(tp)
    validator = _reference_validator(contract.schema())
    value = data.draw(_values_for(tp))
    expected = validator.is_valid(value)
    details: list[dict[str, str]] | None
    try:
        converted = contract.validate(value)
    except InvalidValue as exc:
        details = exc.details
    else:
        details = None
    if details is not None:
        assert not expected, (tp, value, details)
        for item in details:
            _resolve(value, item["path"])
    else:
        assert expected, (tp, value, contract.schema())
        # What validate returns dumps back to JSON data the schema accepts.
        dumped = contract.dump(converted)
        assert validator.is_valid(json.loads(json.dumps(dumped))), (tp, value, dumped)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_values_built_from_the_schema_side_agree(data: st.DataObject) -> None:
    tp = data.draw(st.sampled_from(_FIXED))
    contract = compile(tp)
    validator = _reference_validator(contract.schema())
    value = data.draw(_near(tp))
    try:
        contract.validate(value)
        accepted = True
    except InvalidValue:
        accepted = False
    assert accepted == validator.is_valid(value), (tp, value)


def _near(tp: object) -> st.SearchStrategy[object]:
    """JSON shaped like ``tp``'s objects, so objects get past the key checks sometimes."""
    table: dict[object, dict[str, st.SearchStrategy[object]]] = {
        Point: {"x": _json, "y": _json},
        Line: {"sku": st.text(max_size=9), "score": st.floats(0, 1) | _json, "color": _json},
        Movie: {"title": st.text(max_size=3), "year": st.integers() | _json},
        Partial: {"title": st.text(max_size=3), "year": _json},
    }
    fields = table.get(tp)
    if fields is None:
        return _json
    return st.fixed_dictionaries({}, optional=fields)


def _resolve(value: object, path: str) -> None:
    """A reported path points into the value (or at a missing key of an object in it)."""
    if not path:
        return
    parts = [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]
    for i, part in enumerate(parts):
        if isinstance(value, dict):
            if part not in value:
                assert i == len(parts) - 1, path
                return
            value = value[part]
        else:
            assert isinstance(value, (list, tuple)), path
            value = value[int(part)]


def test_dates_and_times_follow_rfc_3339() -> None:
    """date-time and time are not checked by jsonschema without extra packages: pin them here."""
    dt = compile(datetime.datetime)
    for text in (
        "2026-01-31T23:59:59.5+14:00",
        "2000-02-29T00:00:00z",
        "2026-01-31T00:00:00-00:00",
    ):
        dt.validate(text)
    for text in (
        "2026-01-31 00:00:00Z",
        "2026-01-31T00:00Z",
        "2026-01-31T00:00:00+2400",
        "2026-01-31T00:00:00+24:00",
        "2001-02-29T00:00:00Z",
        "\uff12026-01-31T00:00:00Z",
    ):
        assert paths(dt, text) == [""], text


@pytest.mark.parametrize(
    ("tp", "schema"),
    [
        (typing.Any, {}),
        (list, {"type": "array", "items": {}}),
        (dict, {"type": "object", "additionalProperties": {}}),
        (dict[str, typing.Any], {"type": "object", "additionalProperties": {}}),
        (tuple, {"type": "array", "items": {}}),
    ],
)
def test_any_and_bare_containers_hold_any_json_value(tp: object, schema: object) -> None:
    """``Any`` is every JSON value; a bare ``list``/``dict``/``tuple`` holds any values."""
    contract = compile(tp)
    body = contract.schema()
    body.pop("$schema")
    assert body == schema
    value = [1, "a", None] if tp in (list, tuple) else {"a": [1, {"b": None}]}
    assert contract.dump(contract.validate(value)) == (list(value) if tp is tuple else value)
    if tp is not typing.Any:
        with pytest.raises(InvalidValue):
            contract.validate("not a container")


_PATTERNS = [r"^[a-z]+$", r"^\d{5}$", r"^a.c$", r"\w+", r"^\s*$", r"^\S+$", r"x$", r"[0-9]"]
_STRINGS = ["abc", "abc\n", "69001", "69001\n", "١٢٣٤٥", "a\nc", "a\u2028c", "abc", "é", "",
            " \u00a0\u3000", "\t", "x\n", "7"]  # fmt: skip


@pytest.mark.parametrize("pattern", _PATTERNS)
def test_patterns_mean_what_ecma_262_says(pattern: str) -> None:
    """A pattern accepts exactly the strings an ECMA-262 engine finds it in, where
    Python's re differs ($ before a final newline, Unicode digits, . and line ends)."""
    regress = pytest.importorskip("regress")
    contract = compile(Annotated[str, Field(pattern=pattern)])
    for text in _STRINGS:
        expected = regress.Regex(pattern, "u").find(text) is not None
        try:
            contract.validate(text)
        except InvalidValue:
            accepted = False
        else:
            accepted = True
        assert accepted == expected, (pattern, text)


@pytest.mark.parametrize("pattern", [r"(?i)abc", r"\Aabc", r"abc\Z", r"(?P<n>a)", r"(?#c)a", "a++"])
def test_python_only_regex_syntax_is_refused(pattern: str) -> None:
    with pytest.raises(ContractError, match="ECMA-262"):
        Field(pattern=pattern)


def test_a_decimal_string_with_a_final_newline_is_refused() -> None:
    with pytest.raises(InvalidValue):
        compile(decimal.Decimal).validate("1.5\n")
