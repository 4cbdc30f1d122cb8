"""A worker function's contracts, read from its signature: its input and output types.

The first parameter's annotation is the input type, the return annotation the output
type. :func:`contracts_of` compiles both once per function and keeps them; ``run()``
asks for them only when the function has annotations at all, so an unannotated worker
never loads this module. Loaded on first use: it imports ``inspect`` and ``typing``.
"""

from __future__ import annotations

import contextlib
import inspect
import sys
import threading
import weakref
from collections.abc import Callable
from typing import Any, Protocol

from .errors import ContractError

__all__ = ["Contracts", "Side", "compile_side", "contracts_of"]


class Side(Protocol):
    """One side of a contract: seekapi's own compiled type, or a pydantic adapter."""

    def validate(self, value: object) -> object: ...
    def dump(self, value: object) -> object: ...
    def schema(self) -> dict[str, object]: ...


class Contracts:
    """The input and output contracts of one worker function (``None``: unchecked)."""

    __slots__ = ("input", "output")

    def __init__(self, input: Side | None, output: Side | None) -> None:
        self.input = input
        self.output = output

    def schema(self) -> dict[str, Any]:
        """``{"input": <JSON Schema or None>, "output": <JSON Schema or None>}``."""
        return {
            "input": None if self.input is None else self.input.schema(),
            "output": None if self.output is None else self.output.schema(),
        }


_NONE = Contracts(None, None)
_lock = threading.Lock()
_strict: weakref.WeakKeyDictionary[object, Contracts] = weakref.WeakKeyDictionary()
_lenient: weakref.WeakKeyDictionary[object, Contracts] = weakref.WeakKeyDictionary()
_warned: set[str] = set()


def contracts_of(fn: Callable[..., object], *, strict: bool) -> Contracts:
    """The contracts of ``fn``, compiled on the first call and kept while ``fn`` lives.

    ``strict`` (``@seekapi.worker``, :func:`schema`): an annotation that cannot be a
    contract raises :class:`~seekapi.errors.ContractError`. Otherwise (plain ``run()``)
    that side is left unchecked and a warning is logged once per function and side.
    """
    cache = _strict if strict else _lenient
    try:
        with _lock:
            found = cache.get(fn)
            if found is None and not strict:
                found = _strict.get(fn)
    except TypeError:  # not weakly referenceable: compiled on every call
        found = None
    if found is not None:
        return found
    contracts = _compile(fn, strict=strict)
    try:
        with _lock:
            cache[fn] = contracts
    except TypeError:
        pass
    return contracts


def _compile(fn: Callable[..., object], *, strict: bool) -> Contracts:
    name = _name(fn)
    if isinstance(fn, type):
        if strict:
            raise ContractError(f"{name} is a class: a worker is a function of the input")
        return _NONE
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        if strict:
            raise ContractError(f"{name}: its signature cannot be read: {exc}") from None
        return _NONE
    parameters = list(signature.parameters.values())
    first = next((p for p in parameters if p.kind in _POSITIONAL), None)
    if strict:
        _check_callable_with_one_argument(name, parameters, first)
    sides: list[Side | None] = []
    for side, annotation in (
        ("input", inspect.Parameter.empty if first is None else first.annotation),
        ("output", signature.return_annotation),
    ):
        if annotation is inspect.Parameter.empty:
            sides.append(None)
            continue
        where = f"{name} {side}"
        try:
            resolved = _resolve(fn, annotation, where)
            sides.append(compile_side(resolved, where, output=side == "output"))
        except ContractError as exc:
            if strict:
                raise
            _warn_once(name, side, exc)
            sides.append(None)
        except Exception as exc:  # noqa: BLE001 - an annotation's own code failing
            error = ContractError(f"{where}: cannot be compiled: {type(exc).__name__}: {exc}")
            if strict:
                raise error from None
            _warn_once(name, side, error)
            sides.append(None)
    return Contracts(sides[0], sides[1])


_POSITIONAL = (
    inspect.Parameter.POSITIONAL_ONLY,
    inspect.Parameter.POSITIONAL_OR_KEYWORD,
    inspect.Parameter.VAR_POSITIONAL,
)


def _name(fn: object) -> str:
    inner = getattr(fn, "func", None)  # functools.partial
    if inner is not None:
        return f"partial({_name(inner)})"
    name = getattr(fn, "__qualname__", None)
    return name if isinstance(name, str) else type(fn).__qualname__


def _check_callable_with_one_argument(
    name: str, parameters: list[inspect.Parameter], first: inspect.Parameter | None
) -> None:
    """``@seekapi.worker`` refuses a function ``run()`` could not call as ``fn(input)``."""
    if first is None:
        raise ContractError(f"{name}: a worker function takes the job's input as its argument")
    others = [
        p
        for p in parameters
        if p is not first
        and p.default is inspect.Parameter.empty
        and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    if others:
        raise ContractError(
            f"{name}: a worker function takes one argument, the job's input; "
            + ", ".join(p.name for p in others)
            + " would have no value"
        )


def _resolve(fn: Callable[..., object], annotation: object, where: str) -> object:
    """One annotation with a string (``from __future__ import annotations``) resolved in
    the function's module, ``Annotated`` kept; only this one needs to resolve."""
    if not isinstance(annotation, str):
        return annotation
    import types
    import typing

    target = _function_of(fn)
    namespace = getattr(target, "__globals__", None)
    if not isinstance(namespace, dict):
        module = sys.modules.get(getattr(target, "__module__", "") or "")
        namespace = vars(module) if module is not None else {}
    holder = types.SimpleNamespace(__annotations__={"value": annotation})
    try:
        return typing.get_type_hints(holder, globalns=namespace, include_extras=True)["value"]
    except Exception as exc:  # noqa: BLE001 - NameError, SyntaxError, ... from user types
        raise ContractError(
            f"{where}: the annotation {annotation!r} cannot be resolved: {type(exc).__name__}:"
            f" {exc} (with `from __future__ import annotations`, its types must be defined"
            " at module level, before the function is decorated)"
        ) from None


def _function_of(fn: object) -> object:
    target: object = getattr(fn, "func", fn)  # functools.partial
    target = getattr(target, "__func__", target)  # a bound method
    if not inspect.isfunction(target):
        # A callable instance: its class's __call__, wherever in the class's bases.
        target = inspect.getattr_static(type(target), "__call__", target)
    return inspect.unwrap(target) if inspect.isfunction(target) else target


def compile_side(annotation: object, where: str, *, output: bool = False) -> Side:
    """One side's contract: seekapi's own, or pydantic's for a type that uses pydantic.

    A type uses pydantic when a pydantic model, a pydantic dataclass or a pydantic
    constraint appears anywhere in it (``list[Model]``, a dataclass with a model field):
    pydantic then validates the whole annotation. seekapi never imports pydantic, and
    the rule does not depend on what else was imported: without such a part, an
    unsupported type is a :class:`~seekapi.errors.ContractError`.
    """
    from ._contract import compile

    if "pydantic" in sys.modules:
        found: set[str] = set()
        _scan(annotation, set(), found)
        if "pydantic" in found:
            if "field" in found:
                raise ContractError(
                    f"{where}: a seekapi.Field in a type that pydantic validates would be"
                    " ignored: use pydantic.Field there"
                )
            from ._contract_pydantic import adapt

            return adapt(annotation, where, output=output)
    return compile(annotation, where=where)


def _scan(tp: object, seen: set[int], found: set[str]) -> None:
    """Note in ``found`` whether a pydantic type or constraint (``"pydantic"``) and a
    ``seekapi.Field`` (``"field"``) appear anywhere in ``tp``."""
    import dataclasses
    import typing

    from ._contract_types import Field

    if id(tp) in seen:
        return
    seen.add(id(tp))
    if isinstance(tp, type) and (
        hasattr(tp, "__pydantic_validator__") or hasattr(tp, "__get_pydantic_core_schema__")
    ):
        found.add("pydantic")
        return
    parts: list[object] = list(typing.get_args(tp))
    if typing.get_origin(tp) is typing.Annotated:
        for extra in parts[1:]:
            if isinstance(extra, Field):
                found.add("field")
            elif type(extra).__module__.split(".")[0] in ("pydantic", "annotated_types"):
                found.add("pydantic")
        parts = parts[:1]
    for attribute in ("__value__", "__supertype__"):  # type aliases, NewType
        inner = getattr(tp, attribute, None)
        if inner is not None:
            parts.append(inner)
    if isinstance(tp, type) and (dataclasses.is_dataclass(tp) or typing.is_typeddict(tp)):
        # A failure here is seekapi's own compile's to report.
        with contextlib.suppress(Exception):
            parts.extend(typing.get_type_hints(tp, include_extras=True).values())
    for part in parts:
        _scan(part, seen, found)


def _warn_once(name: str, side: str, exc: ContractError) -> None:
    key = f"{name}:{side}"
    with _lock:
        if key in _warned:
            return
        _warned.add(key)
    import logging

    logging.getLogger("seekapi").warning(
        "the %s of %s is not checked: %s (use @seekapi.worker to make this an error)",
        side,
        name,
        exc,
    )
