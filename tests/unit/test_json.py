"""How worker values become JSON: conversions, errors and where they point."""

from __future__ import annotations

import collections
import dataclasses
import datetime
import decimal
import enum
import json
import math
import pathlib
import re
import sys
import types
import uuid
from collections.abc import Iterator, Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seekapi._json import dumps, dumps_text
from seekapi.errors import JSONValueError

# -- helpers -----------------------------------------------------------------------------

_SEGMENT = re.compile(r'\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]')


def resolve(value: object, where: str) -> object:
    """The value that the JSONPath-like ``where`` names inside ``value``."""
    assert where.startswith("$")
    position = 1
    while position < len(where):
        match = _SEGMENT.match(where, position)
        assert match is not None, f"cannot parse {where!r} at {position}"
        name, index, quoted = match.groups()
        if index is not None:
            assert isinstance(value, list)
            value = value[int(index)]
        else:
            assert isinstance(value, dict)
            value = value[name if name is not None else json.loads(quoted)]
        position = match.end()
    return value


def both(value: object) -> tuple[object, object]:
    """What the wire and the text encodings give, parsed back."""
    return json.loads(dumps(value)), json.loads(dumps_text(value))


def error_of(value: object, *, text: bool = False) -> JSONValueError:
    encode = dumps_text if text else dumps
    with pytest.raises(JSONValueError) as caught:
        encode(value)
    return caught.value


class Color(enum.Enum):
    RED = "red"
    PAIR = (1, 2)
    PRICE = decimal.Decimal("9.99")


class Level(enum.IntEnum):
    HIGH = 3


class Tag(str, enum.Enum):
    NEW = "new"


@dataclasses.dataclass
class Point:
    x: float
    y: float


@dataclasses.dataclass
class Box:
    name: str
    corner: Point
    extra: object = None


class Thing:
    pass


class NoDeepCopy(Mapping[str, int]):
    """A mapping that refuses to be deep-copied (as a client or lock might)."""

    def __getitem__(self, key: str) -> int:
        return {"a": 1}[key]

    def __iter__(self) -> Iterator[str]:
        return iter(["a"])

    def __len__(self) -> int:
        return 1

    def __deepcopy__(self, memo: object) -> NoDeepCopy:
        raise TypeError("cannot deep-copy")


# -- formatting ----------------------------------------------------------------------------


def test_dumps_is_compact_ascii_utf8_bytes() -> None:
    """The wire form has no spaces, escapes non-ASCII, and is bytes."""
    value = {"name": "café ☕", "n": [1, 2.5, None, True]}
    assert dumps(value) == b'{"name":"caf\\u00e9 \\u2615","n":[1,2.5,null,true]}'


def test_dumps_text_formats_like_json_dumps() -> None:
    """The text form is json.dumps(ensure_ascii=False) with default separators, any indent."""
    value = {"name": "café", "items": [1, {"a": []}, {}], "t": (1, 2)}
    assert dumps_text(value) == json.dumps(value, ensure_ascii=False)
    assert dumps_text(value, indent=2) == json.dumps(value, ensure_ascii=False, indent=2)
    assert dumps_text(value, indent=4) == json.dumps(value, ensure_ascii=False, indent=4)


def test_lone_surrogate_is_escaped_on_the_wire() -> None:
    """The ASCII wire form can carry a lone surrogate as a \\u escape."""
    assert dumps("a\ud800") == b'"a\\ud800"'


# -- conversions ---------------------------------------------------------------------------


def test_datetimes_become_iso_strings() -> None:
    """Naive stays naive, aware keeps its offset; dates and times use isoformat."""
    tz = datetime.timezone(datetime.timedelta(hours=2))
    value = [
        datetime.datetime(2026, 1, 2, 3, 4, 5, 6),
        datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=tz),
        datetime.date(2026, 1, 2),
        datetime.time(3, 4, 5),
    ]
    expected = [
        "2026-01-02T03:04:05.000006",
        "2026-01-02T03:04:05+02:00",
        "2026-01-02",
        "03:04:05",
    ]
    assert both(value) == (expected, expected)


def test_timedelta_becomes_total_seconds() -> None:
    """A timedelta is its total number of seconds."""
    assert both(datetime.timedelta(minutes=1, seconds=30, microseconds=500000)) == (90.5, 90.5)


def test_decimal_becomes_its_exact_string() -> None:
    """A Decimal keeps every digit, as a string."""
    value = [decimal.Decimal("1.10"), decimal.Decimal("12345678901234567890.000000001")]
    expected = ["1.10", "12345678901234567890.000000001"]
    assert both(value) == (expected, expected)


@pytest.mark.parametrize("text", ["NaN", "sNaN", "Infinity", "-Infinity"])
def test_non_finite_decimal_is_an_error(text: str) -> None:
    """A Decimal NaN or Infinity cannot be encoded."""
    error = error_of({"price": decimal.Decimal(text)})
    assert error.where == "$.price"
    assert f"Decimal {text}" in str(error)


def test_uuid_becomes_its_string() -> None:
    """A UUID is its canonical string."""
    value = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert both(value) == (str(value), str(value))


def test_enum_becomes_its_value_converted() -> None:
    """An Enum member is its value, itself converted; int and str enums stay native."""
    value = [Color.RED, Color.PAIR, Color.PRICE, Level.HIGH, Tag.NEW]
    expected = ["red", [1, 2], "9.99", 3, "new"]
    assert both(value) == (expected, expected)


def test_sets_become_sorted_lists() -> None:
    """A set or frozenset of orderable items is a sorted list, the same every run."""
    assert both({"b", "c", "a"}) == (["a", "b", "c"], ["a", "b", "c"])
    assert both(frozenset({3, 1, 2})) == ([1, 2, 3], [1, 2, 3])


def test_unorderable_set_keeps_iteration_order() -> None:
    """A set whose items cannot be compared is listed in iteration order."""
    value = {1, "a", None}
    assert both(value) == (list(value), list(value))


def test_tuple_becomes_list() -> None:
    """A tuple is a JSON array."""
    assert both((1, (2, 3))) == ([1, [2, 3]], [1, [2, 3]])


def test_dataclass_becomes_dict_of_fields() -> None:
    """A dataclass instance is a dict of its fields, nested values converted too."""
    value = Box("b", Point(1.0, 2.5), extra=Color.RED)
    expected = {"name": "b", "corner": {"x": 1.0, "y": 2.5}, "extra": "red"}
    assert both(value) == (expected, expected)


def test_dataclass_fields_are_not_deep_copied() -> None:
    """A field that refuses deep copies still encodes (dataclasses.asdict would fail)."""
    assert (
        both(Box("b", Point(0, 0), extra=NoDeepCopy()))
        == ({"name": "b", "corner": {"x": 0, "y": 0}, "extra": {"a": 1}},) * 2
    )


def test_dataclass_type_is_an_error() -> None:
    """A dataclass class (not an instance) is an unknown object."""
    error = error_of({"kind": Point})
    assert error.where == "$.kind"
    assert "type" in str(error)


def test_mappings_become_dicts() -> None:
    """Any Mapping is an object with the same items."""
    value = [
        types.MappingProxyType({"a": 1}),
        collections.ChainMap({"b": 2}),
        NoDeepCopy(),
    ]
    assert both(value) == ([{"a": 1}, {"b": 2}, {"a": 1}],) * 2


def test_paths_become_strings() -> None:
    """A path is its file-system string."""
    assert both(pathlib.PurePosixPath("/tmp/a b")) == ("/tmp/a b", "/tmp/a b")


@pytest.mark.parametrize("blob", [b"\x00\x01", bytearray(b"ab"), memoryview(b"ab")])
def test_binary_is_an_error_suggesting_base64(blob: object) -> None:
    """Bytes-like values are refused with a hint to base64-encode them."""
    error = error_of({"file": [blob]})
    assert error.where == "$.file[0]"
    assert "base64" in str(error)
    assert str(error).endswith("at $.file[0]")


def test_unknown_object_is_an_error_naming_its_type() -> None:
    """Any other object is refused, naming its type and where it is."""
    error = error_of({"a": [1, Thing()]})
    assert str(error) == f"cannot encode an object of type {__name__}.Thing as JSON at $.a[1]"
    assert error.where == "$.a[1]"
    assert isinstance(error.__cause__, TypeError)


def test_error_is_a_value_error() -> None:
    """JSONValueError is a ValueError, as 1.0.5's json errors were."""
    assert isinstance(error_of(float("nan")), ValueError)


# -- errors and where they point -------------------------------------------------------


def test_nan_error_names_its_location() -> None:
    """A NaN deep inside is reported with its JSONPath-like location."""
    value = {"items": [{"score": 1.0}, {}, {}, {"score": float("nan")}]}
    error = error_of(value)
    assert str(error) == "cannot encode float NaN as JSON at $.items[3].score"
    assert error.where == "$.items[3].score"
    assert isinstance(error.__cause__, ValueError)


@pytest.mark.parametrize(("number", "name"), [(math.inf, "Infinity"), (-math.inf, "-Infinity")])
def test_infinity_is_an_error(number: float, name: str) -> None:
    """Infinities are refused by both encodings."""
    for text in (False, True):
        error = error_of([number], text=text)
        assert str(error) == f"cannot encode float {name} as JSON at $[0]"


def test_non_identifier_keys_are_quoted_in_where() -> None:
    """Keys that are not identifiers appear as ["..."] with JSON escapes."""
    value = {"key with space": {'q"uote': {"é": {"3": [math.nan]}}}}
    error = error_of(value)
    assert error.where == '$["key with space"]["q\\"uote"]["\\u00e9"]["3"][0]'
    assert resolve(value, error.where) is value["key with space"]['q"uote']["é"]["3"][0]


def test_non_string_keys_appear_as_their_json_text() -> None:
    """An int key 3 is the JSON key "3", so the location says ["3"]."""
    error = error_of({3: math.nan})
    assert error.where == '$["3"]'


def test_first_offending_value_is_reported() -> None:
    """With several problems, the one the encoder meets first is named."""
    error = error_of({"a": [1, 2], "b": {"c": object()}, "d": math.nan})
    assert error.where == "$.b.c"


def test_dataclass_fields_appear_in_where() -> None:
    """A problem inside a dataclass names the field."""
    error = error_of([Box("b", Point(0.0, math.nan))])
    assert error.where == "$[0].corner.y"


def test_set_items_appear_by_sorted_index() -> None:
    """A problem inside a set is located by its index in the sorted list."""
    error = error_of({"s": {3.0, 1.0, math.inf}})
    assert error.where == "$.s[2]"


def test_circular_list_is_an_error() -> None:
    """A list that contains itself is refused, pointing at the repeat."""
    value: list[object] = [1]
    value.append({"again": value})
    error = error_of(value)
    assert error.where == "$[1].again"
    assert "circular" in str(error)


def test_circular_dataclass_is_an_error() -> None:
    """A dataclass that refers to itself is refused."""
    box = Box("b", Point(0, 0))
    box.extra = box
    error = error_of({"box": box})
    assert error.where == "$.box.extra"
    assert "circular" in str(error)


def test_shared_values_are_not_circular() -> None:
    """The same list twice side by side is fine."""
    shared = [1, 2]
    assert json.loads(dumps([shared, shared])) == [[1, 2], [1, 2]]


def test_too_deep_nesting_is_an_error() -> None:
    """Nesting deeper than the encoder can go is refused, with the deep location."""
    value: list[object] = []
    inner = value
    for _ in range(100_000):  # beyond any encoder limit, whatever the Python version
        child: list[object] = []
        inner.append(child)
        inner = child
    for text in (False, True):
        error = error_of(value, text=text)
        assert "nesting too deep" in str(error)
        assert error.where is not None
        assert error.where.startswith("$[0][0][0]")
        assert len(str(error)) < 400  # the message abbreviates a long location
        assert isinstance(error.__cause__, RecursionError)


@pytest.mark.skipif(not hasattr(sys, "get_int_max_str_digits"), reason="no int-to-str digit limit")
def test_int_too_large_is_an_error() -> None:
    """An int beyond the int-to-str digit limit is refused, without its digits."""
    big = 10 ** (sys.get_int_max_str_digits() + 10)
    error = error_of({"n": [big]})
    assert error.where == "$.n[0]"
    assert len(str(error)) < 200


def test_lone_surrogate_in_text_is_an_error_without_the_string() -> None:
    """Text output is UTF-8, so a lone surrogate is refused; the string is not shown."""
    value = {"token": "abc-secret-xyz", "note": "secret-value\ud800"}
    error = error_of(value, text=True)
    assert error.where == "$.note"
    assert "secret" not in str(error)
    assert "surrogate" in str(error)
    # The chained cause holds only the offending character, not the whole text.
    assert isinstance(error.__cause__, UnicodeEncodeError)
    assert "secret" not in repr(error.__cause__)
    assert error.__context__ is None or "secret" not in repr(error.__context__)


def test_lone_surrogate_in_key_is_an_error() -> None:
    """A key holding a lone surrogate is refused in text, pointing at its object."""
    error = error_of({"a": {"\udfff": 1}}, text=True)
    assert error.where == "$.a"
    assert "key" in str(error)


def test_string_values_never_appear_in_messages() -> None:
    """A message names the type and location, never the offending string value."""
    error = error_of({"password": "hunter2", "x": [Thing(), "hunter2"]})
    assert "hunter2" not in str(error)


@pytest.mark.parametrize(
    ("key", "words"),
    [((1, 2), "key of type tuple"), (Thing(), "key of type"), (math.nan, "NaN")],
)
def test_bad_keys_are_errors_at_their_object(key: object, words: str) -> None:
    """Keys JSON cannot hold are refused, located at the object that has them."""
    error = error_of({"outer": {"fine": 1, key: 2}})
    assert error.where == "$.outer"
    assert words in str(error)


def test_json_native_keys_are_converted_like_json_dumps() -> None:
    """int, float, bool and None keys become strings as the json module does."""
    value = {1: "a", 2.5: "b", False: "c", None: "d"}
    assert both(value) == ({"1": "a", "2.5": "b", "false": "c", "null": "d"},) * 2


# -- properties --------------------------------------------------------------------------

_keys = st.text(max_size=8)
_finite = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
_json_values = st.recursive(
    _finite,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(_keys, children, max_size=5),
    max_leaves=30,
)
_with_non_finite = st.recursive(
    _finite | st.sampled_from([math.nan, math.inf, -math.inf]),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(_keys, children, max_size=5),
    max_leaves=30,
)


def _first_non_finite(value: object, where: str = "$") -> str | None:
    """Reference: the location of the first NaN/inf in encoding order."""
    if isinstance(value, float) and not math.isfinite(value):
        return where
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _first_non_finite(item, f"{where}[{index}]")
            if found is not None:
                return found
    if isinstance(value, dict):
        for key, item in value.items():
            segment = f".{key}" if key.isascii() and key.isidentifier() else f"[{json.dumps(key)}]"
            found = _first_non_finite(item, where + segment)
            if found is not None:
                return found
    return None


@given(_json_values)
def test_json_native_values_round_trip(value: object) -> None:
    """Any JSON-native value survives both encodings unchanged."""
    assert json.loads(dumps(value)) == value
    assert json.loads(dumps_text(value)) == value
    assert json.loads(dumps_text(value, indent=2)) == value


@given(_json_values)
def test_text_encoding_equals_json_dumps(value: object) -> None:
    """For JSON-native values the text form is exactly json.dumps(ensure_ascii=False)."""
    assert dumps_text(value) == json.dumps(value, ensure_ascii=False)
    assert dumps_text(value, indent=2) == json.dumps(value, ensure_ascii=False, indent=2)


@given(_with_non_finite.filter(lambda value: _first_non_finite(value) is not None))
def test_non_finite_floats_are_located(value: object) -> None:
    """The error's location names the first NaN or infinity, wherever it is."""
    for text in (False, True):
        error = error_of(value, text=text)
        assert error.where is not None
        assert error.where == _first_non_finite(value)
        found = resolve(value, error.where)
        assert isinstance(found, float)
        assert not math.isfinite(found)


@given(
    st.one_of(st.lists(_json_values, max_size=4), st.dictionaries(_keys, _json_values, max_size=4)),
    st.integers(min_value=0, max_value=4),
)
def test_circular_containers_are_errors(
    container: list[object] | dict[str, object], at: int
) -> None:
    """A list or dict that holds itself anywhere is refused, pointing at the repeat."""
    if isinstance(container, list):
        container.insert(min(at, len(container)), container)
    else:
        container["self"] = container
    error = error_of(container)
    assert "circular" in str(error)
    assert error.where is not None
    assert resolve(container, error.where) is container
