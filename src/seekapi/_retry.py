"""Retry policy: which calls may be repeated, how long to wait, when to give up. No I/O.

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

:func:`decide` is all of this as one function: from the attempt number, its outcome
(an :class:`Answer` or a :class:`Failure`), the replay rule, the policy, the time left
and a random draw, it returns a :class:`Decision`: wait and try again, or give up and why.
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


class Answer:
    """An attempt's outcome that is an answer outside 2xx: its ``status``, and the
    seconds its ``Retry-After`` asked for (``None`` without a readable one)."""

    __slots__ = ("retry_after", "status")

    def __init__(self, status: int, retry_after: float | None = None) -> None:
        self.status = status
        self.retry_after = retry_after


class Failure:
    """An attempt's outcome that is no answer at all.

    ``request_sent``: the whole request may have reached the server. ``timed_out``: the
    call's own time budget (not only a stall limit) ran out during the attempt.
    ``permanent``: trying again cannot help (a certificate that fails verification).
    ``stale``: a kept-alive connection turned out dead before any answer, as one closed
    while idle does.
    """

    __slots__ = ("permanent", "request_sent", "stale", "timed_out")

    def __init__(
        self,
        *,
        request_sent: bool,
        timed_out: bool = False,
        permanent: bool = False,
        stale: bool = False,
    ) -> None:
        self.request_sent = request_sent
        self.timed_out = timed_out
        self.permanent = permanent
        self.stale = stale


class GiveUp(enum.Enum):
    """Why a call stops trying."""

    FINAL_STATUS = "the status is not retried for this call"
    NOT_REPLAYABLE = "the request may have reached the server and must not run twice"
    PERMANENT = "trying again cannot help"
    OUT_OF_TIME = "the time budget ran out during the attempt"
    ATTEMPTS_USED = "the call has made all the attempts it may"
    RETRY_AFTER_TOO_LONG = "the server asked for a longer wait than the call may still wait"
    NO_TIME_LEFT = "no further attempt fits in the time left"


class Decision:
    """What to do after a failed attempt.

    Either try again after ``wait`` seconds (``give_up`` is ``None``; ``fresh`` when the
    attempt is to be repeated at once on a new connection, without counting as one), or
    stop (``give_up`` says why). For :attr:`GiveUp.RETRY_AFTER_TOO_LONG`, ``wait`` is the
    wait the server asked for and ``may_wait`` the longest the call could still accept.
    """

    __slots__ = ("fresh", "give_up", "may_wait", "wait")

    def __init__(
        self,
        wait: float = 0.0,
        give_up: GiveUp | None = None,
        *,
        fresh: bool = False,
        may_wait: float = math.inf,
    ) -> None:
        self.wait = wait
        self.give_up = give_up
        self.fresh = fresh
        self.may_wait = may_wait

    def __repr__(self) -> str:
        if self.give_up is not None:
            return f"Decision(give_up={self.give_up.name})"
        return f"Decision(wait={self.wait:g}{', fresh=True' if self.fresh else ''})"


def decide(
    attempt: int,
    outcome: Answer | Failure,
    replay: Replay,
    policy: RetryPolicy,
    *,
    left: float,
    draw: float,
    wait_cap: float = math.inf,
    replaced_stale: bool = False,
) -> Decision:
    """Decide what follows failed attempt number ``attempt`` (1-based).

    ``left`` is the time left before the call's deadline (``math.inf`` for none),
    ``draw`` a random number in ``[0, 1)`` for the backoff's jitter, ``wait_cap`` the
    longest wait between attempts the call's budget allows (on top of
    ``policy.max_retry_after`` for a ``Retry-After``), and ``replaced_stale`` whether a
    stale connection has already been replaced once during this call.
    """
    bounded = math.isfinite(left)
    if isinstance(outcome, Failure):
        allowed = policy.may_retry_failure(request_sent=outcome.request_sent, replay=replay)
        if outcome.stale and allowed and not replaced_stale:
            # A kept-alive connection that died while idle: try a fresh one now.
            return Decision(fresh=True)
        if outcome.timed_out:
            return Decision(give_up=GiveUp.OUT_OF_TIME)
        if outcome.permanent:
            return Decision(give_up=GiveUp.PERMANENT)
        if not allowed:
            return Decision(give_up=GiveUp.NOT_REPLAYABLE)
    elif not policy.may_retry_status(outcome.status, replay):
        return Decision(give_up=GiveUp.FINAL_STATUS)
    if not policy.may_try_again(attempt, replay, bounded=bounded):
        return Decision(give_up=GiveUp.ATTEMPTS_USED)
    asked = outcome.retry_after if isinstance(outcome, Answer) else None
    if asked is None:
        wait = fit(policy.backoff(attempt, lambda: draw), left, drawn=True)
    else:
        may_wait = min(policy.max_retry_after, left, wait_cap)
        if asked >= may_wait:
            return Decision(asked, GiveUp.RETRY_AFTER_TOO_LONG, may_wait=may_wait)
        wait = fit(asked, left, drawn=False)
    if wait is None:
        return Decision(give_up=GiveUp.NO_TIME_LEFT)
    return Decision(wait)


def fit(wait: float, left: float, *, drawn: bool) -> float | None:
    """``wait`` if an attempt with at least :data:`LAST_ATTEMPT_SECONDS` can follow it in
    the ``left`` seconds before the deadline, else ``None``.

    A ``drawn`` (jittered) wait that would leave too little time is shortened to half the
    time left, so the end of a budget still gets an attempt; a wait the server asked for
    is kept as it is.
    """
    if drawn and left - wait < LAST_ATTEMPT_SECONDS:
        wait = left / 2
    return wait if left - wait >= LAST_ATTEMPT_SECONDS else None


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
