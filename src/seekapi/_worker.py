"""``@seekapi.worker``: a typed worker function made into the Lambda handler, and
:func:`schema`. Loaded on first use of either (``seekapi.worker`` is a lazy name)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar, overload

from ._signature import contracts_of
from .errors import ContractError, UsageError

__all__ = ["Worker", "schema", "worker"]

In = TypeVar("In")
Out = TypeVar("Out")


class Worker(Generic[In, Out]):
    """A worker function made into a Lambda handler by :func:`worker`.

    ``handler(event, context)`` runs the job as :func:`seekapi.run` does, checking the
    input before the function runs and its result before it is pushed; ``handler.fn``
    is the function itself (call it in unit tests); ``handler.schema()`` gives the JSON
    Schemas of its input and output. It carries the function's ``__name__``,
    ``__qualname__``, ``__module__`` and ``__doc__``.
    """

    __name__: str
    __qualname__: str

    def __init__(self, fn: Callable[[In], Out], *, safety_margin: float | None = None) -> None:
        if safety_margin is not None and (
            isinstance(safety_margin, bool)
            or not isinstance(safety_margin, (int, float))
            or not 0 <= safety_margin < float("inf")
        ):
            raise UsageError(
                f"safety_margin must be a finite number of seconds >= 0, not {safety_margin!r}"
            )
        self.fn = fn
        self.safety_margin = safety_margin
        try:
            self._contracts = contracts_of(fn, strict=True)
        except ContractError as exc:
            # Raised afresh here: the traceback shows the worker's module, not the compiler.
            raise ContractError(str(exc)) from None
        self.__name__ = str(getattr(fn, "__name__", type(fn).__name__))
        self.__qualname__ = str(getattr(fn, "__qualname__", self.__name__))
        for attribute in ("__module__", "__doc__"):
            value = getattr(fn, attribute, None)
            if value is not None:
                setattr(self, attribute, value)

    def __call__(self, event: dict[str, Any], context: object) -> dict[str, Any]:
        from ._run import run

        return run(event, context, self.fn, safety_margin=self.safety_margin)

    def schema(self) -> dict[str, Any]:
        """``{"input": ..., "output": ...}``: JSON Schema (draft 2020-12) of each side;
        ``output`` is ``None`` when the function has no return annotation."""
        return self._contracts.schema()

    def __repr__(self) -> str:
        return f"<seekapi.Worker {getattr(self.fn, '__qualname__', self.fn)!r}>"


@overload
def worker(fn: Callable[[In], Out], /) -> Worker[In, Out]: ...
@overload
def worker(
    fn: None = None, /, *, safety_margin: float | None = None
) -> Callable[[Callable[[In], Out]], Worker[In, Out]]: ...
def worker(
    fn: Callable[[In], Out] | None = None, /, *, safety_margin: float | None = None
) -> Worker[In, Out] | Callable[[Callable[[In], Out]], Worker[In, Out]]:
    """Make a typed worker function the Lambda handler: ``@seekapi.worker``.

    The function's first parameter's annotation is the input type and its return
    annotation the output type (see ``docs/contract.md``). Both are compiled now: an
    annotation seekapi cannot use raises :class:`~seekapi.errors.ContractError` here,
    when the handler module is imported. ``@seekapi.worker(safety_margin=...)`` passes
    :func:`seekapi.run`'s options.
    """
    if fn is None:

        def decorate(inner: Callable[[In], Out]) -> Worker[In, Out]:
            return Worker(inner, safety_margin=safety_margin)

        return decorate
    return Worker(fn, safety_margin=safety_margin)


def schema(fn: Callable[..., object]) -> dict[str, Any]:
    """The JSON Schemas (draft 2020-12) of a worker function's input and output.

    Returns ``{"input": ..., "output": ...}``; a side without an annotation is ``None``.
    ``fn`` is a plain annotated function or a :class:`Worker`. Raises
    :class:`~seekapi.errors.ContractError` for an annotation seekapi cannot use.
    """
    if isinstance(fn, Worker):
        return fn.schema()
    return contracts_of(fn, strict=True).schema()
