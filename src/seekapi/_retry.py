"""Retry policy and deadline arithmetic. Plain values, no I/O: clock and randomness come in.

Which calls may be repeated after the request may have reached the server, and why:

=====================  ===========  ==========================================================
call                   replay       why
=====================  ===========  ==========================================================
``get_input``          always       a GET of the input changes nothing
``push_data``          always       the platform keeps the last push: sending it again is harmless
``charge``             always       the platform de-duplicates on ``idempotency_key``, which is
                                    chosen once and sent unchanged on every attempt
``register_request_id`` always      linking the same request id twice changes nothing
``push_file``          unsent only  each push adds a file, so it is repeated only when the backend
                                    cannot have stored it: the connection failed before the whole
                                    body was sent, or the status says the request was not taken
                                    (408, 425, 429, 503)
=====================  ===========  ==========================================================

How long to go on: a call that may always be replayed is retried for as long as its
time budget (its ``timeout``, and the job's deadline) allows, with no count of attempts:
a charge whose answers keep getting lost is sent again until one arrives or the time is
up. A call without any deadline (``timeout=None`` outside ``run()``), and ``push_file``
(whose ``timeout`` bounds each stall, not the whole upload), make at most
``max_attempts`` attempts (4).

The wait after failed attempt ``n`` is drawn uniformly from
``[0, min(backoff_max, backoff_base * 2**(n - 1))]`` (0.1 s doubling, at most 2 s: "full
jitter", so workers that fail together do not retry in step). A ``Retry-After`` from the
server replaces it; when that would not fit in the time left the call fails at once. No
attempt is started with less than :data:`LAST_ATTEMPT_SECONDS` left: a drawn wait that
would leave less is shortened to half the time left, so the end of a budget still gets
an attempt, and when even that leaves too little the call fails.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable

LAST_ATTEMPT_SECONDS = 0.1
"""No attempt after the first is started with less time than this left."""

# Statuses that say "try again": timeouts, rate limits, and gateway/server faults.
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
# The subset that also says the request was not processed, so even a call that must not
# run twice (push_file) may be sent again.
NOT_PROCESSED_STATUSES = frozenset({408, 425, 429, 503})


class Replay(enum.Enum):
    """Whether a call may be sent again after the request may have reached the server."""

    ALWAYS = "always"
    UNSENT_ONLY = "unsent-only"


class RetryPolicy:
    """When to try again, and how long to wait between attempts.

    The wait before attempt ``n + 1`` is drawn uniformly from
    ``[0, min(backoff_max, backoff_base * 2**(n - 1))]`` ("full jitter"), so many workers
    failing together do not retry in step. A ``Retry-After`` from the server replaces it.
    ``max_retry_after`` caps the ``Retry-After`` wait a call accepts. ``max_attempts``
    bounds the calls that do not retry until their deadline (see :meth:`may_try_again`).
    """

    # A plain class, not a dataclass: importing dataclasses slows a cold start.
    __slots__ = ("backoff_base", "backoff_max", "max_attempts", "max_retry_after")

    def __init__(
        self,
        max_attempts: int = 4,
        backoff_base: float = 0.1,
        backoff_max: float = 2.0,
        max_retry_after: float = 30.0,
    ) -> None:
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_retry_after = max_retry_after

    def __repr__(self) -> str:
        return (
            f"RetryPolicy(max_attempts={self.max_attempts}, backoff_base={self.backoff_base},"
            f" backoff_max={self.backoff_max}, max_retry_after={self.max_retry_after})"
        )

    def may_retry_status(self, status: int, replay: Replay) -> bool:
        """True when an answer with ``status`` may be followed by another attempt."""
        if replay is Replay.ALWAYS:
            return status in RETRY_STATUSES
        return status in NOT_PROCESSED_STATUSES

    def may_retry_failure(self, *, request_sent: bool, replay: Replay) -> bool:
        """True when a failed attempt (no answer) may be followed by another one."""
        return replay is Replay.ALWAYS or not request_sent

    def may_try_again(self, attempts: int, replay: Replay, *, bounded: bool) -> bool:
        """True when another attempt may follow ``attempts`` failed ones, time permitting.

        A call that may always be replayed and has a deadline (``bounded``) goes on until
        the deadline; any other call stops after ``max_attempts``.
        """
        if replay is Replay.ALWAYS and bounded:
            return True
        return attempts < self.max_attempts

    def backoff(self, attempt: int, rand: Callable[[], float]) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        # The exponent is bounded: a float power overflows past 2**1023.
        doubling = 2.0 ** min(max(attempt - 1, 0), 64)
        ceiling = min(self.backoff_max, self.backoff_base * doubling)
        return float(ceiling * rand())


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
        return cls(math.inf, clock)

    def remaining(self) -> float:
        """Seconds left, never negative (``math.inf`` for no deadline)."""
        return max(0.0, self.at - self.clock())

    def expired(self) -> bool:
        return self.clock() >= self.at

    def earliest(self, other: Deadline | None) -> Deadline:
        """The earlier of two deadlines (``None`` counts as no deadline)."""
        if other is None or other.at >= self.at:
            return self
        return other


def parse_retry_after(value: str | None, now_epoch: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date.

    Returns ``None`` when absent or unreadable; a date in the past gives ``0``.
    """
    if not value:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return float(text)
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        # Not allowed by RFC 9110, but sent by real servers; a negative or NaN is junk.
        return seconds if seconds >= 0 and math.isfinite(seconds) else None
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now_epoch)
