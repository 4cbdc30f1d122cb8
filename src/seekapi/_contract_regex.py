"""JSON Schema's ``pattern``, an ECMA-262 regular expression, run by Python's ``re``.

The two dialects read some of the same text differently; :func:`ecma_regex` rewrites
those parts so that a pattern means in seekapi what it means in the schema:

- ``$`` is the end of the string (Python's ``$`` also matches before a final newline);
- ``.`` matches anything but a line terminator (``\\n``, ``\\r``, U+2028, U+2029);
- ``\\d``, ``\\w`` and ``\\b`` are ASCII; ``\\s`` is ECMA's white space, Unicode's spaces
  included.

What only Python understands (inline flags ``(?i)``, named groups ``(?P<n>...)``,
comments ``(?#...)``, atomic groups ``(?>...)``, ``\\A``, ``\\Z``, possessive
quantifiers) is refused with :class:`~seekapi.errors.ContractError`, as is anything
Python's ``re`` cannot compile.
"""

from __future__ import annotations

import re

from .errors import ContractError

__all__ = ["ecma_regex"]

_SPACE = r"\t\n\x0b\x0c\r \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_INSIDE = {"s": _SPACE}
_OUTSIDE = {"s": f"[{_SPACE}]", "S": f"[^{_SPACE}]"}
_PYTHON_ONLY_ESCAPES = frozenset("AZz")
_PYTHON_ONLY_GROUPS = ("(?P", "(?#", "(?>")
_FLAG_LETTERS = frozenset("aiLmsux-")


def ecma_regex(pattern: str) -> re.Pattern[str]:
    """``pattern`` compiled with ECMA-262's meaning; :class:`ContractError` if it uses
    what only Python's dialect has, or does not compile."""
    try:
        return re.compile(_translate(pattern), re.ASCII)
    except re.error as exc:
        raise ContractError(
            f"pattern {pattern!r} is not a valid regular expression: {exc}"
        ) from None


def _translate(pattern: str) -> str:
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            escaped = pattern[i + 1 : i + 2]
            if escaped in _PYTHON_ONLY_ESCAPES:
                raise _refuse(pattern, f"\\{escaped}")
            if in_class and escaped == "S":
                raise _refuse(pattern, "\\S inside a character class")
            table = _INSIDE if in_class else _OUTSIDE
            out.append(table.get(escaped, "\\" + escaped))
            i += 2
            continue
        if in_class:
            in_class = char != "]"
            out.append(char)
        elif char == "[":
            in_class = True
            out.append(char)
            if pattern[i + 1 : i + 2] == "^":
                out.append("^")
                i += 1
        elif char == "$":
            out.append(r"\Z")
        elif char == ".":
            out.append(r"[^\n\r\u2028\u2029]")
        elif char == "(" and pattern.startswith(_PYTHON_ONLY_GROUPS, i):
            raise _refuse(pattern, pattern[i : i + 3])
        elif char == "(" and pattern[i + 1 : i + 2] == "?" and _is_flag(pattern[i + 2 : i + 3]):
            raise _refuse(pattern, "an inline flag (?...)")
        elif char in "*+?}" and pattern[i + 1 : i + 2] == "+":
            raise _refuse(pattern, "a possessive quantifier")
        else:
            out.append(char)
        i += 1
    return "".join(out)


def _is_flag(char: str) -> bool:
    return bool(char) and char in _FLAG_LETTERS


def _refuse(pattern: str, what: str) -> ContractError:
    return ContractError(
        f"pattern {pattern!r} uses {what}, which JSON Schema's regular expressions"
        " (ECMA-262) do not have"
    )
