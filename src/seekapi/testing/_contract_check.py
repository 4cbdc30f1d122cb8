"""Checking a job's input against a worker's input type, before the job is created."""

from __future__ import annotations

from collections.abc import Callable

from .._signature import contracts_of
from .._worker import Worker
from ..errors import ContractError

__all__ = ["check_input"]


def check_input(worker: Callable[..., object] | None, document: object) -> None:
    """Raise :class:`~seekapi.errors.InvalidValue` when ``document`` breaks the input type
    of ``worker`` (a ``@seekapi.worker`` handler or an annotated worker function), exactly
    as ``run()`` would refuse it; nothing when ``worker`` is ``None``."""
    if worker is None:
        return
    fn = worker.fn if isinstance(worker, Worker) else worker
    side = contracts_of(fn, strict=True).input
    if side is None:
        name = getattr(fn, "__qualname__", repr(fn))
        raise ContractError(f"{name} has no input type to check the input against")
    side.validate(document)
