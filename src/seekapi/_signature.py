"""A worker function's contracts, read from its signature: its input and output types.

The first parameter's annotation is the input type, the return annotation the output
type. :func:`contracts_of` compiles both once per function and keeps them; ``run()``
asks for them only when the function has annotations at all, so an unannotated worker
never loads this module. Loaded on first use: it imports ``inspect`` and ``typing``.
"""

from __future__ import annotations

import inspect
import sys
import threading
import weakref
from collections.abc import Callable, Mapping
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
    name = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        if strict:
            raise ContractError(f"{name}: its signature cannot be read: {exc}") from None
        return _NONE
    parameters = [
        p
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
    ]
    hints = _hints(fn, name, strict=strict)
    if hints is None:
        return _NONE
    sides: list[Side | None] = []
    for side, annotation in (
        ("input", _first_annotation(parameters, signature, hints)),
        ("output", hints.get("return", signature.return_annotation)),
    ):
        if annotation is inspect.Parameter.empty:
            sides.append(None)
            continue
        try:
            sides.append(compile_side(annotation, f"{name} {side}", output=side == "output"))
        except ContractError as exc:
            if strict:
                raise
            _warn_once(name, side, exc)
            sides.append(None)
    if strict and not parameters:
        raise ContractError(f"{name}: a worker function takes the job's input as its argument")
    return Contracts(sides[0], sides[1])


def _first_annotation(
    parameters: list[inspect.Parameter],
    signature: inspect.Signature,
    hints: Mapping[str, object],
) -> object:
    if not parameters:
        return inspect.Parameter.empty
    first = parameters[0]
    return hints.get(first.name, first.annotation)


def _hints(fn: Callable[..., object], name: str, *, strict: bool) -> dict[str, object] | None:
    """The function's annotations, string annotations resolved and ``Annotated`` kept;
    ``None`` (after a warning) when they cannot be resolved and ``strict`` is false."""
    import typing

    target: object = getattr(fn, "func", fn)  # functools.partial
    if not inspect.isfunction(target) and not inspect.ismethod(target):
        target = type(target).__dict__.get("__call__", target)  # a callable instance
    try:
        return typing.get_type_hints(target, include_extras=True)
    except Exception as exc:  # noqa: BLE001 - NameError, TypeError, ... from user types
        message = f"{name}: an annotation cannot be resolved: {type(exc).__name__}: {exc}"
        if strict:
            raise ContractError(message) from None
        _warn_once(name, "annotations", ContractError(message))
        return None


def compile_side(annotation: object, where: str, *, output: bool = False) -> Side:
    """One side's contract: seekapi's own, or pydantic's when the type needs pydantic.

    A pydantic model or pydantic dataclass goes to pydantic; so does any other type that
    seekapi cannot compile while pydantic is already imported (seekapi never imports it).
    """
    from ._contract import compile

    if _is_pydantic_type(annotation):
        from ._contract_pydantic import adapt

        return adapt(annotation, where, output=output)
    try:
        return compile(annotation, where=where)
    except ContractError as exc:
        if "pydantic" not in sys.modules:
            raise
        from ._contract_pydantic import adapt

        return adapt(annotation, where, output=output, seekapi_reason=str(exc))


def _is_pydantic_type(annotation: object) -> bool:
    pydantic = sys.modules.get("pydantic")
    if pydantic is None or not isinstance(annotation, type):
        return False
    return issubclass(annotation, pydantic.BaseModel) or hasattr(
        annotation, "__pydantic_validator__"
    )


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
