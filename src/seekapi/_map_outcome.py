"""What ``job.map`` gives back: :class:`MapOutcome` and the :class:`ItemFailure` of each
item that failed. Plain values, with a JSON form (:meth:`MapOutcome.to_json`) that can be
a job's result."""

from __future__ import annotations

# typing costs milliseconds to import; mypy honours a module-level TYPE_CHECKING.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Generic, TypeVar

    R = TypeVar("R")

    class _Generic(Generic[R]):
        """``MapOutcome[R]`` for the type checker."""

else:
    R = None

    class _Generic:
        # No typing at run time (cold start): MapOutcome[int] is MapOutcome itself.
        __slots__ = ()

        def __class_getitem__(cls, item: object) -> type:
            return cls


class ItemFailure:
    """An item whose function raised (``stage="item"``) or whose charge failed
    (``stage="charge"``): its input index, the exception's type name and its message,
    with the job's secrets and the backend's address masked and cut to 300 characters.

    An item whose charge failed was not delivered, but may have been billed (the
    backend may have recorded a charge whose answer was lost); its key makes a re-run
    of the job bill it at most once.
    """

    __slots__ = ("error", "index", "message", "stage")

    def __init__(self, index: int, error: str, message: str, stage: str = "item") -> None:
        self.index = index
        self.error = error
        self.message = message
        self.stage = stage

    def __repr__(self) -> str:
        return f"ItemFailure(index={self.index}, error={self.error!r}, stage={self.stage!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ItemFailure) and self.to_json() == other.to_json()

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    def to_json(self) -> dict[str, Any]:
        """``{"index", "error", "message", "stage"}``."""
        return {
            "index": self.index,
            "error": self.error,
            "message": self.message,
            "stage": self.stage,
        }


class MapOutcome(_Generic[R]):
    """What :meth:`seekapi.Job.map` did.

    - ``results``: the results of the delivered items, in input order; ``indices``: the
      input index of each (``results[k]`` is item ``indices[k]``'s). An item is
      delivered if and only if it was billed (with ``charge=0``: if it succeeded).
    - ``failed``: :class:`ItemFailure` for each item that raised or whose charge failed.
    - ``dropped``: indices of items that finished after the map stopped billing (the
      limit was reached, an item called ``job.stop()``, or one failed with
      ``on_error="raise"``): neither billed nor delivered.
    - ``not_started``: how many items never started; they are the last ones of the input
      (``range(total - not_started, total)``). ``stopped`` says why: ``"limit"``,
      ``"deadline"``, ``"stop"`` (an item called ``job.stop()``), ``"error"``
      (``on_error="raise"``), ``"charge"`` (a charge failed); ``None`` when every item
      started.
    - ``units``: units charged for the delivered items (a key billed by an earlier run
      of the job counts, though the platform bills it once).
    - ``overshoot``: delivered items billed after the spending limit was reached, at
      most ``concurrency - 1``; ``limit_reached``: a charge of the map answered it.
    - ``total``: how many items were given.

    :meth:`to_json` gives it as a JSON object, ready to be the job's result or part of it.
    """

    __slots__ = (
        "dropped",
        "failed",
        "in_flight",
        "indices",
        "limit_reached",
        "not_started",
        "overshoot",
        "results",
        "stopped",
        "total",
        "units",
    )

    def __init__(
        self,
        *,
        results: list[R],
        indices: list[int],
        failed: list[ItemFailure],
        dropped: list[int],
        not_started: int,
        stopped: str | None,
        units: int,
        overshoot: int,
        limit_reached: bool,
        total: int,
        in_flight: int = 0,
    ) -> None:
        self.results = results
        self.indices = indices
        self.failed = failed
        self.dropped = dropped
        self.not_started = not_started
        self.stopped = stopped
        self.units = units
        self.overshoot = overshoot
        self.limit_reached = limit_reached
        self.total = total
        self.in_flight = in_flight
        """Items still running (non-zero only in a progress snapshot)."""

    @property
    def delivered(self) -> int:
        """How many items were delivered (``len(results)``)."""
        return len(self.results)

    @property
    def complete(self) -> bool:
        """True when every item was delivered."""
        return len(self.results) == self.total

    def __repr__(self) -> str:
        return (
            f"<MapOutcome {len(self.results)}/{self.total} delivered, {len(self.failed)} failed,"
            f" {self.units} units, stopped={self.stopped!r}>"
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON object: ``results``, ``indices``, ``failed`` (objects), ``dropped``,
        ``not_started``, ``stopped``, ``units``, ``overshoot``, ``limit_reached``,
        ``total``, ``in_flight``. The results are put in as they are; pushing it encodes
        them with seekapi's JSON rules (docs/json.md)."""
        return {
            "results": list(self.results),
            "indices": list(self.indices),
            "failed": [failure.to_json() for failure in self.failed],
            "dropped": list(self.dropped),
            "not_started": self.not_started,
            "stopped": self.stopped,
            "units": self.units,
            "overshoot": self.overshoot,
            "limit_reached": self.limit_reached,
            "total": self.total,
            "in_flight": self.in_flight,
        }
