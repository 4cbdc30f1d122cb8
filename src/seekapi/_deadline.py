"""Deadlines and time budgets: plain values and arithmetic, no I/O (the clock comes in).

A call gets a :class:`Budget`: an overall :class:`Deadline` (its ``timeout``, and under
``run()`` the job's deadline too, kept in :data:`job_deadline`), a limit on each stall
(no byte moving), and a limit on connection set-up. For the JSON calls the stall and
set-up limits are half the call's ``timeout`` (at least 1 s), so an attempt that hangs
leaves time for another. A ``timeout`` of :data:`NO_LIMIT_SECONDS` or more (or one too
large for a float) means no limit, like ``None``; see :func:`timeout_seconds`.
"""

from __future__ import annotations

import math
import time
from contextvars import ContextVar

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

NO_LIMIT_SECONDS = 1e9
"""A ``timeout`` this long (about 32 years) or longer means no limit."""


class Deadline:
    """A point on a monotonic clock after which a call must have returned.

    ``at`` is ``math.inf`` for no deadline. ``clock`` is the clock ``at`` was read from.
    """

    __slots__ = ("at", "clock")

    def __init__(self, at: float, clock: Callable[[], float]) -> None:
        self.at = at
        self.clock = clock

    def __repr__(self) -> str:
        return f"Deadline(remaining={self.remaining():.3f})"

    @classmethod
    def after(cls, seconds: float, clock: Callable[[], float]) -> Deadline:
        """A deadline ``seconds`` from now (``math.inf`` for none)."""
        return cls(clock() + seconds, clock)

    @classmethod
    def never(cls, clock: Callable[[], float]) -> Deadline:
        """No deadline: :meth:`remaining` is always ``math.inf``."""
        return cls(math.inf, clock)

    def remaining(self) -> float:
        """Seconds left, never negative (``math.inf`` for no deadline)."""
        return max(0.0, self.at - self.clock())

    def expired(self) -> bool:
        """True once the clock has reached the deadline."""
        return self.clock() >= self.at

    def earliest(self, other: Deadline | None) -> Deadline:
        """The earlier of two deadlines (``None`` counts as no deadline)."""
        if other is None or other.at >= self.at:
            return self
        return other


job_deadline: ContextVar[Deadline | None] = ContextVar("seekapi_job_deadline", default=None)
"""The deadline of the job being run by ``run()``; every call in it is bounded by it too."""


def timeout_seconds(timeout: float | None) -> float:
    """A call's ``timeout`` as seconds: ``math.inf`` for ``None`` or no limit.

    Raises :class:`~seekapi.errors.UsageError` for a value that is not a number of
    seconds, zero, negative or NaN.
    """
    if timeout is None:
        return math.inf
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        from .errors import UsageError

        raise UsageError(f"timeout must be a number of seconds, not {type(timeout).__name__}")
    # Compared before any conversion: an int beyond a float's range must not overflow.
    if not timeout > 0:  # also NaN
        from .errors import UsageError

        raise UsageError("timeout must be a positive number of seconds")
    if timeout >= NO_LIMIT_SECONDS:
        return math.inf
    return float(timeout)


class Budget:
    """How long a call may take: overall, per stall, to set up a connection, and (when
    ``reply`` is set) for the answer to an upload and for each wait between attempts."""

    __slots__ = ("connect", "deadline", "reply", "stall")

    def __init__(
        self, deadline: Deadline, stall: float, connect: float, reply: float | None = None
    ) -> None:
        self.deadline = deadline
        self.stall = stall
        self.connect = connect
        self.reply = reply

    @classmethod
    def total(cls, timeout: float | None, clock: Callable[[], float] = time.monotonic) -> Budget:
        """``timeout`` bounds the whole call; each attempt's waits at most half of it.

        ``None`` (as 1.0.5 allowed) or ``inf`` means no overall limit. The job's
        deadline (:data:`job_deadline`), when one is set, bounds the call too.
        """
        seconds = timeout_seconds(timeout)
        attempt = max(1.0, seconds / 2)
        deadline = Deadline.after(seconds, clock).earliest(job_deadline.get())
        return cls(deadline, attempt, attempt)

    @classmethod
    def per_stall(
        cls, timeout: float | None, clock: Callable[[], float] = time.monotonic
    ) -> Budget:
        """``timeout`` bounds set-up, each stall, the wait for the answer and each wait
        between attempts, but not the whole call: a large upload that keeps moving is not
        cut off. The job's deadline, when one is set, bounds the whole call."""
        seconds = timeout_seconds(timeout)
        deadline = Deadline.never(clock).earliest(job_deadline.get())
        return cls(deadline, seconds, seconds, reply=seconds)
