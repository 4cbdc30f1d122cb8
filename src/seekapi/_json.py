"""Worker values → JSON: the wire encoding and the local-mode text encoding.

Plain ``dict``/``list``/``tuple``/``str``/``int``/``float``/``bool``/``None`` values go
straight through the standard library's encoder; only other types reach the conversion
hook. When encoding fails, a second pass walks the value to name the first offending
spot (``$.items[3].score``), so the success path pays nothing for it. The rules are
written out in ``docs/json.md``.
"""

from __future__ import annotations

import enum
import json
import math
import os
import sys
from collections.abc import Iterator, Mapping

from .errors import JSONValueError

__all__ = ["dumps", "dumps_text"]


def dumps(value: object) -> bytes:
    """Compact wire JSON: separators ``(",", ":")``, ASCII only, no NaN/Infinity, UTF-8 bytes.

    Raises :class:`~seekapi.errors.JSONValueError` for a value JSON cannot hold faithfully;
    its ``where`` locates the first offending value.
    """
    try:
        return _WIRE_ENCODER.encode(value).encode("utf-8")
    except (ValueError, TypeError, RecursionError) as exc:
        raise _failure(value, exc, utf8=False) from exc


def dumps_text(value: object, *, indent: int | None = None) -> str:
    """Text for local-mode files: ``json.dumps(value, ensure_ascii=False, indent=indent)``.

    Default separators, as 1.0.5 wrote ``response_json.json`` (``indent=2``) and each
    ``.jsonl`` line (``indent=None``). The same conversions and errors as :func:`dumps`;
    a string holding a lone surrogate is an error too, because the text is written as UTF-8.
    """
    encoder = _TEXT_ENCODERS.get(indent)
    if encoder is None:
        encoder = _TEXT_ENCODERS.setdefault(indent, _text_encoder(indent))
    try:
        text = encoder.encode(value)
        if not text.isascii():
            # Only a lone surrogate makes this fail; the caller encodes the text itself.
            text.encode("utf-8")
        return text
    except UnicodeEncodeError as exc:
        # The exception holds the whole text, which may hold a secret: the error is
        # raised after this block (so it is not the context) from a copy that holds only
        # the offending characters.
        cause = UnicodeEncodeError(
            exc.encoding, exc.object[exc.start : exc.end], 0, exc.end - exc.start, exc.reason
        )
    except (ValueError, TypeError, RecursionError) as exc:
        raise _failure(value, exc, utf8=True) from exc
    raise _failure(value, cause, utf8=True) from cause


# -- conversion of non-JSON types ------------------------------------------------------


class _UnencodableError(TypeError):
    """Raised by the hook; the message says what is wrong, the walk adds where."""


def _convert(obj: object) -> object:
    """A JSON-encodable stand-in for ``obj``, or :class:`_UnencodableError`.

    datetime, decimal and uuid are looked up in ``sys.modules`` instead of imported: if
    the module was never imported, no value can be one of its types, and ``import
    seekapi`` stays cheap.
    """
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, (bytes, bytearray, memoryview)):
        raise _UnencodableError(
            f"cannot encode {_type_name(obj)} as JSON: encode binary data yourself,"
            " for example base64.b64encode(data).decode('ascii')"
        )
    if isinstance(obj, (set, frozenset)):
        try:
            return sorted(obj)
        except TypeError:
            return list(obj)
    if hasattr(type(obj), "__dataclass_fields__") and not isinstance(obj, type):
        # Only a program that made a dataclass gets here, so importing it costs nothing
        # new; checking the marker first keeps dataclasses out of a cold start.
        import dataclasses

        if dataclasses.is_dataclass(obj):
            # Shallow on purpose: dataclasses.asdict deep-copies every field.
            return {field.name: getattr(obj, field.name) for field in dataclasses.fields(obj)}
    datetime_module = sys.modules.get("datetime")
    if datetime_module is not None:
        if isinstance(obj, (datetime_module.date, datetime_module.time)):
            return obj.isoformat()
        if isinstance(obj, datetime_module.timedelta):
            return obj.total_seconds()
    decimal_module = sys.modules.get("decimal")
    if decimal_module is not None and isinstance(obj, decimal_module.Decimal):
        if not obj.is_finite():
            raise _UnencodableError(f"cannot encode Decimal {obj} as JSON")
        return str(obj)
    uuid_module = sys.modules.get("uuid")
    if uuid_module is not None and isinstance(obj, uuid_module.UUID):
        return str(obj)
    if isinstance(obj, Mapping):
        return dict(obj)
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise _UnencodableError(f"cannot encode an object of type {_type_name(obj)} as JSON")


def _type_name(obj: object) -> str:
    cls = type(obj)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def _text_encoder(indent: int | None) -> json.JSONEncoder:
    return json.JSONEncoder(ensure_ascii=False, allow_nan=False, indent=indent, default=_convert)


_WIRE_ENCODER = json.JSONEncoder(
    ensure_ascii=True, allow_nan=False, separators=(",", ":"), default=_convert
)
_TEXT_ENCODERS: dict[int | None, json.JSONEncoder] = {None: _text_encoder(None)}


# -- locating the failure (runs only after encoding failed) ----------------------------

# A cap on the walk's depth, far beyond what the encoder reaches, so that a value whose
# conversions never end (a mapping that makes a new mapping on each access) cannot keep
# the walk going forever.
_WALK_DEPTH_CAP = 20_000
_MESSAGE_WHERE_LIMIT = 200


class _Bad:
    """A problem found while listing a container's children (a bad object key)."""

    __slots__ = ("what",)

    def __init__(self, what: str) -> None:
        self.what = what


def _failure(value: object, exc: BaseException, *, utf8: bool) -> JSONValueError:
    if isinstance(exc, RecursionError):
        path = _deepest(value, utf8=utf8)
        what = "nesting too deep to encode as JSON"
    else:
        found = _first_problem(value, utf8=utf8)
        if found is None:
            # The walk saw nothing wrong (the value changed meanwhile, or a conversion
            # behaves differently on a second call): say only what kind of failure it was.
            return JSONValueError(f"cannot encode value as JSON ({type(exc).__name__})")
        what, path = found
    where = "$" + "".join(path)
    shown = where
    if len(shown) > _MESSAGE_WHERE_LIMIT:
        shown = f"{where[: _MESSAGE_WHERE_LIMIT - 20]}... ({len(path)} levels deep)"
    return JSONValueError(f"{what} at {shown}", where=where)


def _first_problem(value: object, *, utf8: bool) -> tuple[str, list[str]] | None:
    """The first problem in encoding order, and the path segments leading to it."""
    for path, item in _walk(value, utf8=utf8):
        if isinstance(item, _Bad):
            return item.what, path
    return None


def _deepest(value: object, *, utf8: bool) -> list[str]:
    """The path of the first of the most deeply nested values."""
    # Two passes: copying the path at each new depth would be quadratic in a long chain.
    depth = max(len(path) for path, _ in _walk(value, utf8=utf8))
    for path, _ in _walk(value, utf8=utf8):
        if len(path) == depth:
            return path
    return []  # pragma: no cover - the second pass sees what the first saw


def _walk(value: object, *, utf8: bool) -> Iterator[tuple[list[str], object]]:
    """Visit ``value`` in the encoder's order, depth first and without recursion.

    Yields ``(path, node)`` for each node, or ``(path, _Bad(...))`` for a node (or a key)
    the encoder would reject; the walk does not descend below a rejected node. ``path``
    is the live list of segments: copy it to keep it.
    """
    path: list[str] = []
    # One entry per open container: its children, and the id that marks it as open.
    stack: list[tuple[Iterator[tuple[str, object]], int]] = []
    open_ids: set[int] = set()
    node: object = value
    while True:
        found = _examine(node, utf8, open_ids, len(stack))
        if isinstance(found, _Bad):
            yield path, found
        else:
            yield path, node
            if found is not None:
                stack.append((found, id(node)))
                open_ids.add(id(node))
        # Move to the next node: the next child of the innermost open container.
        while stack:
            del path[len(stack) - 1 :]
            step = next(stack[-1][0], None)
            if step is None:
                open_ids.discard(stack.pop()[1])
                continue
            segment, node = step
            if isinstance(node, _Bad):
                yield path, node
                continue
            path.append(segment)
            break
        else:
            return


def _examine(
    node: object, utf8: bool, open_ids: set[int], depth: int
) -> Iterator[tuple[str, object]] | _Bad | None:
    """What the encoder would do with ``node``: its children, a problem, or None for a leaf."""
    if node is None or isinstance(node, (str, int, float)):
        return _scalar_problem(node, utf8)
    if id(node) in open_ids:
        return _Bad("circular reference: a value contains itself")
    if depth >= _WALK_DEPTH_CAP:
        return _Bad("nesting too deep to encode as JSON")
    return _children(node, utf8)


def _scalar_problem(node: object, utf8: bool) -> _Bad | None:
    if isinstance(node, float):
        name = _non_finite_name(node)
        return None if name is None else _Bad(f"cannot encode float {name} as JSON")
    if isinstance(node, int) and not isinstance(node, bool):
        if _int_too_large(node):
            return _Bad(f"cannot encode int as JSON: {_INT_TOO_LARGE}")
        return None
    if isinstance(node, str) and utf8 and _has_lone_surrogate(node):
        return _Bad("cannot encode a string holding a lone surrogate as UTF-8 JSON")
    return None


_INT_TOO_LARGE = "it has more digits than sys.get_int_max_str_digits() allows"


def _non_finite_name(number: float) -> str | None:
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    return None


def _int_too_large(number: int) -> bool:
    # The smallest limit Python accepts is 640 digits (more than 2000 bits): below that
    # size the conversion cannot fail, so skip the costly attempt.
    if number.bit_length() < 2000:
        return False
    try:
        int.__repr__(number)
    except ValueError:
        return True
    return False


def _has_lone_surrogate(text: str) -> bool:
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _children(node: object, utf8: bool) -> Iterator[tuple[str, object]] | _Bad:
    if isinstance(node, (list, tuple)):
        return ((f"[{index}]", item) for index, item in enumerate(node))
    if isinstance(node, dict):
        return _dict_children(node, utf8)
    try:
        stand_in = _convert(node)
    except _UnencodableError as exc:
        return _Bad(str(exc))
    except Exception as exc:  # noqa: BLE001 - any failure of a conversion is reported
        return _Bad(f"cannot convert {_type_name(node)} to JSON ({type(exc).__name__})")
    # The stand-in takes the node's place: same path, one level deeper, as in the encoder.
    return iter((("", stand_in),))


def _dict_children(node: dict[object, object], utf8: bool) -> Iterator[tuple[str, object]]:
    for key, item in node.items():
        problem = _key_problem(key, utf8)
        if problem is not None:
            yield "", problem
            return
        yield _key_segment(key), item


def _key_problem(key: object, utf8: bool) -> _Bad | None:
    if key is None or isinstance(key, (str, int, float)):
        problem = _scalar_problem(key, utf8)
        return None if problem is None else _Bad(f"{problem.what} in an object key")
    return _Bad(
        f"cannot use a key of type {_type_name(key)} in a JSON object"
        " (keys must be str, int, float, bool or None)"
    )


def _key_segment(key: object) -> str:
    """``.name`` for an identifier key, else ``["..."]`` with the key as the JSON text has it."""
    if isinstance(key, str):
        if key.isascii() and key.isidentifier():
            return f".{key}"
        text = key
    elif key is None:
        text = "null"
    elif key is True:
        text = "true"
    elif key is False:
        text = "false"
    elif isinstance(key, float):
        text = float.__repr__(key)
    elif isinstance(key, int):
        text = int.__repr__(key)
    else:
        text = str(key)
    return f"[{json.dumps(text)}]"
