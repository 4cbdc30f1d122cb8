"""The scalar types of a contract: strings, numbers, booleans, null, dates, UUID, Decimal.

Each ``*_node`` function returns the compiled :class:`~seekapi._contract_types.Node`;
the rules are written in ``seekapi._contract``.
"""

from __future__ import annotations

import datetime
import decimal
import re
import sys
import typing
import uuid

from ._contract_regex import ecma_regex
from ._contract_types import BAD, ContractError, Field, Node, report, shown

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._contract_types import Check, Location, Problems

__all__ = [
    "DECIMAL_PATTERN",
    "any_node",
    "boolean_node",
    "date_node",
    "datetime_node",
    "decimal_node",
    "float_node",
    "integer_node",
    "null_node",
    "parse_datetime",
    "parse_time",
    "string_node",
    "time_node",
    "uuid_node",
]

_UTC = datetime.timezone.utc
_NUMBER = frozenset({"integer", "number"})
_DATETIME_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))"
)
_TIME_RE = re.compile(
    r"([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))"
)
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_UUID_RE = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
#: A decimal number written as a JSON Schema pattern.
DECIMAL_PATTERN = r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$"
_DECIMAL_RE = ecma_regex(DECIMAL_PATTERN)
_FAST_ISO = sys.version_info >= (3, 11)


# -- scalars ------------------------------------------------------------------------------


def string_node(field: Field | None, where: str) -> Node:
    schema: dict[str, object] = {"type": "string"}
    low = high = search = None
    if field is not None:
        low, high = field.min_length, field.max_length
        if low is not None:
            schema["minLength"] = low
        if high is not None:
            schema["maxLength"] = high
        if field.pattern is not None:
            schema["pattern"] = field.pattern
            search = ecma_regex(field.pattern).search
        if (
            field.ge is not None
            or field.gt is not None
            or field.le is not None
            or field.lt is not None
        ):
            raise ContractError(f"str at {where}: ge/gt/le/lt apply to int and float only")
    pattern = schema.get("pattern")

    if low is None and high is None and search is None:

        def check(
            value: object, parent: Location, key: str | int | None, problems: Problems
        ) -> object:
            if isinstance(value, str):
                return value
            report(problems, parent, key, f"expected a string, got {shown(value)}")
            return BAD

    else:

        def check(
            value: object, parent: Location, key: str | int | None, problems: Problems
        ) -> object:
            if not isinstance(value, str):
                report(problems, parent, key, f"expected a string, got {shown(value)}")
                return BAD
            if low is not None and len(value) < low:
                report(problems, parent, key, f"expected at least {_chars(low)}, got {len(value)}")
                return BAD
            if high is not None and len(value) > high:
                report(problems, parent, key, f"expected at most {_chars(high)}, got {len(value)}")
                return BAD
            if search is not None and search(value) is None:
                report(
                    problems,
                    parent,
                    key,
                    f"expected a string matching {pattern}, got {shown(value)}",
                )
                return BAD
            return value

    plain = low is None and high is None and search is None
    return Node(
        check, check, schema, frozenset({"string"}), "a string", fast=str if plain else None
    )


def _bounds(field: Field | None, schema: dict[str, object]) -> list[tuple[str, float, str]]:
    tests: list[tuple[str, float, str]] = []
    if field is None:
        return tests
    for name, keyword, words in (
        ("ge", "minimum", "at least"),
        ("gt", "exclusiveMinimum", "more than"),
        ("le", "maximum", "at most"),
        ("lt", "exclusiveMaximum", "less than"),
    ):
        bound = getattr(field, name)
        if bound is not None:
            schema[keyword] = bound
            tests.append((name, bound, words))
    if field.min_length is not None or field.max_length is not None or field.pattern is not None:
        raise ContractError("min_length/max_length/pattern do not apply to a number")
    return tests


def _in_bounds(value: float, tests: list[tuple[str, float, str]]) -> str | None:
    for name, bound, words in tests:
        if name == "ge":
            ok = value >= bound
        elif name == "gt":
            ok = value > bound
        elif name == "le":
            ok = value <= bound
        else:
            ok = value < bound
        if not ok:
            return f"expected a number {words} {bound}, got {value!r}"
    return None


def integer_node(field: Field | None) -> Node:
    schema: dict[str, object] = {"type": "integer"}
    tests = _bounds(field, schema)

    def check(value: object, parent: Location, key: str | int | None, problems: Problems) -> object:
        if type(value) is int:
            result = value
        elif (type(value) is float and value.is_integer()) or (
            isinstance(value, int) and not isinstance(value, bool)
        ):
            result = int(value)
        else:
            report(problems, parent, key, f"expected an integer, got {shown(value)}")
            return BAD
        if tests:
            wrong = _in_bounds(value, tests)
            if wrong is not None:
                report(problems, parent, key, wrong)
                return BAD
        return result

    def dump(value: object, parent: Location, key: str | int | None, problems: Problems) -> object:
        if isinstance(value, int) and not isinstance(value, bool):
            return check(value, parent, key, problems)
        report(problems, parent, key, f"expected an integer, got {shown(value)}")
        return BAD

    return Node(
        check, dump, schema, frozenset({"integer"}), "an integer", fast=None if tests else int
    )


def float_node(field: Field | None) -> Node:
    schema: dict[str, object] = {"type": "number"}
    tests = _bounds(field, schema)
    inf = float("inf")

    def check(value: object, parent: Location, key: str | int | None, problems: Problems) -> object:
        if type(value) is float:
            if value != value or value in (inf, -inf):  # noqa: PLR0124
                report(problems, parent, key, f"expected a finite number, got {value!r}")
                return BAD
            result: float = value
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                result = float(value)
            except OverflowError:
                report(
                    problems, parent, key, "expected a number, got an integer too large for a float"
                )
                return BAD
            if result != result or result in (inf, -inf):  # noqa: PLR0124
                report(problems, parent, key, f"expected a finite number, got {value!r}")
                return BAD
        else:
            report(problems, parent, key, f"expected a number, got {shown(value)}")
            return BAD
        if tests:
            wrong = _in_bounds(value, tests)
            if wrong is not None:
                report(problems, parent, key, wrong)
                return BAD
        return result

    return Node(check, check, schema, _NUMBER, "a number")


def boolean_node() -> Node:
    def check(value: object, parent: Location, key: str | int | None, problems: Problems) -> object:
        if value is True or value is False:
            return value
        report(problems, parent, key, f"expected true or false, got {shown(value)}")
        return BAD

    return Node(
        check, check, {"type": "boolean"}, frozenset({"boolean"}), "true or false", fast=bool
    )


def _chars(count: int) -> str:
    return f"{count} character{'' if count == 1 else 's'}"


_ANY_KINDS = frozenset({"null", "boolean", "integer", "number", "string", "array", "object"})


def any_node() -> Node:
    """``Any``: every JSON value, taken as it is (the schema ``{}``)."""

    def check(value: object, parent: Location, key: str | int | None, problems: Problems) -> object:
        return value

    return Node(check, check, {}, _ANY_KINDS, "any JSON value")


def null_node() -> Node:
    def check(value: object, parent: Location, key: str | int | None, problems: Problems) -> object:
        if value is None:
            return None
        report(problems, parent, key, f"expected null, got {shown(value)}")
        return BAD

    return Node(check, check, {"type": "null"}, frozenset({"null"}), "null", fast=type(None))


def _offset(sign: str | None, hours: str, minutes: str) -> datetime.timezone | None:
    if sign is None:
        return _UTC
    h, m = int(hours), int(minutes)
    if h > 23 or m > 59:
        return None
    delta = datetime.timedelta(hours=h, minutes=m)
    return datetime.timezone(-delta if sign == "-" else delta)


def _micro(fraction: str | None) -> int:
    return 0 if fraction is None else int(fraction[:6].ljust(6, "0"))


def parse_datetime(text: str) -> datetime.datetime | None:
    """An RFC 3339 date-time (offset required) → an aware datetime, or None."""
    match = _DATETIME_RE.fullmatch(text)
    if match is None:
        return None
    if _FAST_ISO:
        try:
            return datetime.datetime.fromisoformat(text)
        except ValueError:
            pass
    y, mo, d, h, mi, s, frac, _z, sign, oh, om = match.groups()
    zone = _offset(sign, oh, om)
    if zone is None:
        return None
    try:
        return datetime.datetime(
            int(y), int(mo), int(d), int(h), int(mi), int(s), _micro(frac), tzinfo=zone
        )
    except ValueError:
        return None


def parse_time(text: str) -> datetime.time | None:
    """An RFC 3339 full-time (offset required) → an aware time, or None."""
    match = _TIME_RE.fullmatch(text)
    if match is None:
        return None
    h, mi, s, frac, _z, sign, oh, om = match.groups()
    zone = _offset(sign, oh, om)
    if zone is None:
        return None
    try:
        return datetime.time(int(h), int(mi), int(s), _micro(frac), tzinfo=zone)
    except ValueError:
        return None


def _parsed(describe: str, parse: typing.Callable[[str], object | None]) -> Check:
    def check(value: object, parent: Location, key: str | int | None, problems: Problems) -> object:
        if isinstance(value, str):
            result = parse(value)
            if result is not None:
                return result
        report(problems, parent, key, f"expected {describe}, got {shown(value)}")
        return BAD

    return check


def _formatted_node(
    describe: str,
    fmt: str,
    parse: typing.Callable[[str], object | None],
    to_text: typing.Callable[[object], str | None],
    expected: str,
) -> Node:
    """A JSON string in format ``fmt``: ``parse`` reads it (``None`` when it does not
    fit), ``to_text`` writes an output value back (``None`` when it cannot)."""
    schema: dict[str, object] = {"type": "string", "format": fmt}
    check = _parsed(describe, parse)

    def dump(value: object, parent: Location, key: str | int | None, problems: Problems) -> object:
        text = to_text(value)
        if text is not None:
            return text
        report(problems, parent, key, f"expected {expected}, got {shown(value)}")
        return BAD

    return Node(check, dump, schema, frozenset({"string"}), describe)


def _datetime_text(value: object) -> str | None:
    if isinstance(value, datetime.datetime):
        text = value.isoformat()
        if _DATETIME_RE.fullmatch(text):
            return text
    return None


def datetime_node() -> Node:
    return _formatted_node(
        "an RFC 3339 date-time with an offset (2026-01-31T12:00:00Z)",
        "date-time",
        parse_datetime,
        _datetime_text,
        "a datetime with a time zone",
    )


def _parse_date(text: str) -> datetime.date | None:
    if _DATE_RE.fullmatch(text) is None:
        return None
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        return None


def _date_text(value: object) -> str | None:
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return value.isoformat()
    return None


def date_node() -> Node:
    return _formatted_node("a date (2026-01-31)", "date", _parse_date, _date_text, "a date")


def _time_text(value: object) -> str | None:
    if isinstance(value, datetime.time):
        text = value.isoformat()
        if _TIME_RE.fullmatch(text):
            return text
    return None


def time_node() -> Node:
    return _formatted_node(
        "an RFC 3339 time with an offset (12:00:00Z)",
        "time",
        parse_time,
        _time_text,
        "a time with a time zone",
    )


def _parse_uuid(text: str) -> uuid.UUID | None:
    return uuid.UUID(text) if _UUID_RE.fullmatch(text) else None


def uuid_node() -> Node:
    return _formatted_node(
        "a UUID (8-4-4-4-12 hexadecimal digits)",
        "uuid",
        _parse_uuid,
        lambda value: str(value) if isinstance(value, uuid.UUID) else None,
        "a UUID",
    )


def decimal_node() -> Node:
    describe = "a decimal number or a string holding one"
    schema: dict[str, object] = {
        "anyOf": [{"type": "number"}, {"type": "string", "pattern": DECIMAL_PATTERN}]
    }
    inf = float("inf")

    def check(value: object, parent: Location, key: str | int | None, problems: Problems) -> object:
        if isinstance(value, str):
            if _DECIMAL_RE.search(value) is not None:
                return decimal.Decimal(value.strip())
        elif isinstance(value, int) and not isinstance(value, bool):
            return decimal.Decimal(value)
        elif isinstance(value, float) and value == value and value not in (inf, -inf):  # noqa: PLR0124
            return decimal.Decimal(repr(value))
        report(problems, parent, key, f"expected {describe}, got {shown(value)}")
        return BAD

    def dump(value: object, parent: Location, key: str | int | None, problems: Problems) -> object:
        if isinstance(value, decimal.Decimal) and value.is_finite():
            return str(value)
        report(problems, parent, key, f"expected a finite Decimal, got {shown(value)}")
        return BAD

    return Node(check, dump, schema, frozenset({"integer", "number", "string"}), describe)
