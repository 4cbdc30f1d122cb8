"""Checking a job's input against a worker's input type, before the job is created."""

from __future__ import annotations

from collections.abc import Callable

from .._signature import contracts_of
from .._worker import Worker
from ..errors import ContractError, UsageError

__all__ = ["check_input"]


def check_input(
    worker: Callable[..., object] | None, document: object, raw: bytes | None = None
) -> None:
    """Raise :class:`~seekapi.errors.InvalidValue` when the input breaks the input type of
    ``worker`` (a ``@seekapi.worker`` handler or an annotated worker function), exactly as
    ``run()`` would refuse it once served; nothing when ``worker`` is ``None``.

    The input is what the job will serve: ``raw`` decoded as JSON when given, else
    ``document`` encoded as JSON and decoded again (a tuple becomes a list, an ``int`` key
    a string), as the worker will read it.
    """
    if worker is None:
        return
    import json

    if raw is not None:
        try:
            document = json.loads(raw)
        except ValueError as exc:
            raise UsageError(f"check=: the raw input is not JSON ({exc})") from None
    else:
        document = json.loads(json.dumps(document))
    fn = worker.fn if isinstance(worker, Worker) else worker
    side = contracts_of(fn, strict=True).input
    if side is None:
        name = getattr(fn, "__qualname__", repr(fn))
        raise ContractError(f"{name} has no input type to check the input against")
    side.validate(document)
