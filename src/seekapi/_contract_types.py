"""The parts of a worker contract that every compiled type shares.

``Field`` (the constraints and documentation written as ``Annotated[T, Field(...)]``),
the two failures (re-exported from :mod:`seekapi.errors`), the compiled ``Node`` and the problem
list with its cap. The rules themselves are written in ``seekapi._contract``.
"""

from __future__ import annotations

from .errors import ContractError, InvalidValue

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    # Where a value sits: (where its parent sits, its key or index); the root is (None, None).
    Location = tuple["Location | None", "str | int | None"] | None
    Problems = list[tuple[Location, "str | int | None", str]]
    Check = Callable[[object, Location, "str | int | None", Problems], object]

__all__ = [
    "BAD",
    "MAX_PROBLEMS",
    "MESSAGE_CHARS",
    "ContractError",
    "Field",
    "Full",
    "InvalidValue",
    "Node",
    "invalid_value",
    "json_kind",
    "pointer",
    "report",
    "shown",
]

#: The most problems one validation reports; it stops looking at the next one.
MAX_PROBLEMS = 20
#: The longest a problem's message is (a long list of choices is cut there).
MESSAGE_CHARS = 200


class Full(Exception):
    """Raised inside validation when the problem list has reached its cap."""


class _Invalid:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<invalid>"


#: What a check returns for a value it refused (its problems are in the list).
BAD: object = _Invalid()

_NUMBER_TYPES = (int, float)


class Field:
    """Constraints and documentation for one annotated type: ``Annotated[T, Field(...)]``.

    ``ge``/``gt``/``le``/``lt`` bound an ``int`` or ``float``; ``min_length`` and
    ``max_length`` bound the characters of a ``str``, the items of a ``list`` or ``tuple``
    and the keys of a ``dict``; ``pattern`` is a regular expression a ``str`` must
    contain (searched, as JSON Schema does: anchor it with ``^...$`` to match the whole
    string). ``description`` and ``examples`` go into the schema. A ``Field`` is frozen.
    """

    __slots__ = (
        "description",
        "examples",
        "ge",
        "gt",
        "le",
        "lt",
        "max_length",
        "min_length",
        "pattern",
    )

    ge: int | float | None
    gt: int | float | None
    le: int | float | None
    lt: int | float | None
    min_length: int | None
    max_length: int | None
    pattern: str | None
    description: str | None
    examples: tuple[object, ...] | None

    def __init__(
        self,
        *,
        ge: float | None = None,
        gt: float | None = None,
        le: float | None = None,
        lt: float | None = None,
        min_length: int | None = None,
        max_length: int | None = None,
        pattern: str | None = None,
        description: str | None = None,
        examples: list[object] | tuple[object, ...] | None = None,
    ) -> None:
        for name, bound in (("ge", ge), ("gt", gt), ("le", le), ("lt", lt)):
            if bound is not None and (
                isinstance(bound, bool)
                or not isinstance(bound, _NUMBER_TYPES)
                or bound != bound  # noqa: PLR0124 (NaN)
                or bound in (float("inf"), float("-inf"))
            ):
                raise ContractError(f"Field({name}=...) must be a finite number, not {bound!r}")
            object.__setattr__(self, name, bound)
        for name, length in (("min_length", min_length), ("max_length", max_length)):
            if length is not None and (
                isinstance(length, bool) or not isinstance(length, int) or length < 0
            ):
                raise ContractError(f"Field({name}=...) must be a non-negative int, not {length!r}")
            object.__setattr__(self, name, length)
        if min_length is not None and max_length is not None and min_length > max_length:
            raise ContractError(
                f"Field(min_length={min_length}) is larger than max_length={max_length}"
            )
        if pattern is not None:
            if not isinstance(pattern, str):
                raise ContractError(f"Field(pattern=...) must be a str, not {pattern!r}")
            from ._contract_regex import ecma_regex

            try:
                ecma_regex(pattern)
            except ContractError as exc:
                raise ContractError(f"Field(pattern=...): {exc}") from None
        object.__setattr__(self, "pattern", pattern)
        if description is not None and not isinstance(description, str):
            raise ContractError(f"Field(description=...) must be a str, not {description!r}")
        object.__setattr__(self, "description", description)
        if examples is not None and not isinstance(examples, (list, tuple)):
            raise ContractError(f"Field(examples=...) must be a list, not {examples!r}")
        object.__setattr__(self, "examples", None if examples is None else tuple(examples))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Field is frozen: cannot set {name}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Field is frozen: cannot delete {name}")

    def _items(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Field):
            return NotImplemented
        return self._items() == other._items()

    def __hash__(self) -> int:
        return hash(("Field", *(repr(item) for item in self._items())))

    def __repr__(self) -> str:
        parts = [
            f"{name}={getattr(self, name)!r}"
            for name in sorted(self.__slots__)
            if getattr(self, name) is not None
        ]
        return f"Field({', '.join(parts)})"


class Node:
    """One compiled type: its check (validate and convert), its dump, its schema.

    ``check(value, parent, key, problems)`` returns the converted value, or :data:`BAD`
    after adding the problems to the list; ``dump`` has the same shape for output
    values. ``kinds`` are the JSON kinds (:func:`json_kind`) the check may accept, used
    to choose which branch of a union explains a failure.
    """

    __slots__ = ("check", "describe", "dump", "fast", "kinds", "schema")

    def __init__(
        self,
        check: Check,
        dump: Check,
        schema: dict[str, object],
        kinds: frozenset[str],
        describe: str,
        *,
        fast: type | None = None,
    ) -> None:
        self.check = check
        self.dump = dump
        self.schema = schema
        self.kinds = kinds
        self.describe = describe
        self.fast = fast


def json_kind(value: object) -> str:
    """The JSON kind of a value: null, boolean, integer, number, string, array, object."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__qualname__


def shown(value: object) -> str:
    """A short, readable account of a value for a problem's message."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        import json

        text = json.dumps(value, ensure_ascii=False)
        return text if len(text) <= 42 else text[:40] + '…"'
    if isinstance(value, (int, float)):
        text = repr(value)
        return text if len(text) <= 40 else text[:40] + "…"
    if isinstance(value, (list, tuple)):
        return f"an array of {len(value)}"
    if isinstance(value, dict):
        return f"an object of {len(value)} key{'' if len(value) == 1 else 's'}"
    return f"a {type(value).__qualname__}"


def report(problems: Problems, parent: Location, key: str | int | None, message: str) -> None:
    """Add a problem (its message cut to :data:`MESSAGE_CHARS`); raise :class:`Full`
    when it is one more than :data:`MAX_PROBLEMS`, so the search stops there."""
    if len(message) > MESSAGE_CHARS:
        message = message[: MESSAGE_CHARS - 1] + "…"
    problems.append((parent, key, message))
    if len(problems) > MAX_PROBLEMS:
        raise Full


def pointer(parent: Location, key: str | int | None) -> str:
    """The JSON Pointer (RFC 6901) of the value at ``key`` under ``parent``."""
    parts: list[str] = []
    location: Location = (parent, key)
    while location is not None:
        up, step = location
        if step is None:
            break
        parts.append(str(step).replace("~", "~0").replace("/", "~1"))
        location = up
    return "".join("/" + part for part in reversed(parts))


def invalid_value(problems: Problems, *, truncated: bool) -> InvalidValue:
    """The :class:`InvalidValue` for a list of problems."""
    return InvalidValue(
        [
            {"path": pointer(parent, key), "message": message}
            for parent, key, message in problems[:MAX_PROBLEMS]
        ],
        truncated=truncated,
    )
