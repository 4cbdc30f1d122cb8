"""Typed worker contracts: a type annotation compiled into a validator, a dumper and a schema.

``compile(tp)`` inspects the annotation once and returns a :class:`Contract` whose
``validate`` converts JSON input into the annotated Python values, whose ``dump`` turns
output values back into JSON data (checking them against the type), and whose
``schema`` is the JSON Schema (draft 2020-12) that accepts exactly what ``validate``
accepts. Nothing here is imported by ``import seekapi``; a worker that uses contracts
pays for ``typing``, ``dataclasses``, ``re`` and ``datetime`` on first use.

The rules (``validate``; the schema says the same):

- **Objects.** A dataclass or ``TypedDict`` is a JSON object. Unknown keys are refused
  (``"additionalProperties": false``). A dataclass field is required when it has neither
  a default nor a ``default_factory``; a missing optional field gets its default from the
  dataclass. Fields with ``init=False`` are not part of the contract. A ``TypedDict`` key
  is required by ``total`` and ``Required``/``NotRequired``. A ``ValueError`` or
  ``TypeError`` from the dataclass's own ``__init__``/``__post_init__`` is reported as a
  problem at the object (the schema cannot say what such code checks).
- **Numbers.** JSON has one number type, so an integral number is an integer: ``3`` and
  ``3.0`` are both accepted for ``int`` (``3.0`` is converted to ``3``); ``3.5`` is not.
  An ``int`` is accepted for ``float`` and converted. ``true``/``false`` are never
  numbers. NaN and infinities (not JSON) are refused, as is an integer too large for a
  float where a ``float`` is expected.
- **Strings** are never coerced to numbers, nor numbers to strings. Lengths count code
  points. ``Field(pattern=...)`` is *searched* (JSON Schema's rule): anchor it with
  ``^...$`` to match the whole string.
- **Choices.** ``Literal`` and ``Enum`` match by JSON value (an ``Enum`` by its members'
  values, which must be JSON scalars) and return the literal or the member; ``1`` and
  ``1.0`` are the same JSON value, ``true`` and ``1`` are not.
- **Unions** (``Optional``, ``X | None``, ``Union``) try their members in the order
  written; the first that accepts the value converts it.
- **Dates and times** are RFC 3339 strings (the JSON Schema formats): ``datetime`` is
  ``format: date-time`` and needs an offset (``2026-01-31T12:00:00Z`` or ``+02:00``),
  ``time`` is ``format: time`` and needs one too, ``date`` is ``format: date``
  (``2026-01-31``). Fractions of a second beyond microseconds are truncated; leap seconds
  are refused. Output datetimes and times must therefore be aware.
- **UUID** is ``format: uuid``: 8-4-4-4-12 hexadecimal digits.
- **Decimal** accepts a JSON number or a string holding a decimal number
  (``-12.50``, ``1e3``: the schema's pattern), converted exactly from the string and from
  the shortest repr of a float; ``dump`` writes it as a string, so no digit is lost.
  ``ge``/``gt``/``le``/``lt`` are refused on it (a schema cannot bound a string).
- **Arrays.** ``list[T]`` and ``tuple[T, ...]`` are arrays (converted to a list or a
  tuple); ``tuple[A, B]`` is an array of exactly two. ``dict[str, T]`` is an object of
  any keys.
- **Problems.** ``validate`` reports every problem up to :data:`MAX_PROBLEMS` (20) as
  ``InvalidValue.details``, each a JSON Pointer (RFC 6901) and a message saying what was
  expected and what came; a union that fails reports the problems of the one member
  whose JSON kind fits the value, else one problem naming all members.

``Any`` is any JSON value, and a bare ``list``/``dict``/``tuple`` holds any JSON values.
``Field(pattern=...)`` has JSON Schema's (ECMA-262) meaning: see
:mod:`seekapi._contract_regex`.

Not supported, refused by ``compile`` with :class:`ContractError` naming the
annotation and where it sits: recursive types and aliases, ``object``, ``set``, dict
keys other than ``str``, string annotations that do not resolve, dataclasses with
``InitVar`` fields or without ``__init__``, and any other class.
"""

from __future__ import annotations

import copy

from ._contract_compile import build
from ._contract_types import (
    BAD,
    MAX_PROBLEMS,
    ContractError,
    Field,
    Full,
    InvalidValue,
    Node,
    invalid_value,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._contract_types import Problems

__all__ = ["MAX_PROBLEMS", "Contract", "ContractError", "Field", "InvalidValue", "compile"]

_DIALECT = "https://json-schema.org/draft/2020-12/schema"


class Contract:
    """A compiled type: ``validate`` input, ``dump`` output, publish ``schema()``."""

    __slots__ = ("_node", "annotation")

    def __init__(self, annotation: object, node: Node) -> None:
        self.annotation = annotation
        self._node = node

    def validate(self, value: object) -> object:
        """The value converted to the annotated type; :class:`InvalidValue` if it breaks it."""
        return self._run(self._node.check, value)

    def dump(self, value: object) -> object:
        """An output value as JSON data; raise :class:`InvalidValue` if it does not fit the type."""
        return self._run(self._node.dump, value)

    def schema(self) -> dict[str, object]:
        """The JSON Schema (draft 2020-12) of what :meth:`validate` accepts (a fresh copy)."""
        return {"$schema": _DIALECT, **copy.deepcopy(self._node.schema)}

    @staticmethod
    def _run(check: object, value: object) -> object:
        problems: Problems = []
        truncated = False
        try:
            result = check(value, None, None, problems)  # type: ignore[operator]
        except Full:
            result = BAD
            truncated = True
        if result is BAD or problems:
            raise invalid_value(problems, truncated=truncated)
        return result

    def __repr__(self) -> str:
        return f"Contract({self.annotation!r})"


def compile(tp: object, *, where: str = "the annotation") -> Contract:
    """Compile a type annotation; raise :class:`ContractError` if it cannot be a contract."""
    return Contract(tp, build(tp, where))
