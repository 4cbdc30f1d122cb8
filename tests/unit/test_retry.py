"""Retry policy and deadline arithmetic, with the clock and randomness passed in."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from seekapi._retry import (
    NOT_PROCESSED_STATUSES,
    RETRY_STATUSES,
    Deadline,
    Replay,
    RetryPolicy,
    parse_retry_after,
)


class FakeClock:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_retry_statuses_are_the_documented_set() -> None:
    """Timeouts, rate limits and gateway faults are retried; nothing else is."""
    assert frozenset({408, 425, 429, 500, 502, 503, 504}) == RETRY_STATUSES
    assert NOT_PROCESSED_STATUSES < RETRY_STATUSES


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 413, 422, 301, 501])
def test_other_statuses_are_not_retried(status: int) -> None:
    """A client error or an unknown status is final for every kind of call."""
    policy = RetryPolicy()
    assert not policy.may_retry_status(status, Replay.ALWAYS)
    assert not policy.may_retry_status(status, Replay.UNSENT_ONLY)


@pytest.mark.parametrize("status", [500, 502, 504])
def test_upload_is_not_retried_when_the_server_may_have_stored_it(status: int) -> None:
    """A 500/502/504 may follow a stored file, so a push_file is not sent again."""
    assert RetryPolicy().may_retry_status(status, Replay.ALWAYS)
    assert not RetryPolicy().may_retry_status(status, Replay.UNSENT_ONLY)


def test_failures_after_the_request_was_sent_are_retried_only_for_replayable_calls() -> None:
    """A lost answer is retried for idempotent calls, and for uploads only when unsent."""
    policy = RetryPolicy()
    assert policy.may_retry_failure(request_sent=True, replay=Replay.ALWAYS)
    assert policy.may_retry_failure(request_sent=False, replay=Replay.UNSENT_ONLY)
    assert not policy.may_retry_failure(request_sent=True, replay=Replay.UNSENT_ONLY)


def test_backoff_grows_exponentially_with_full_jitter_and_is_capped() -> None:
    """The wait ceiling doubles per attempt up to backoff_max; jitter scales it."""
    policy = RetryPolicy(backoff_base=0.1, backoff_max=1.0)
    ceilings = [policy.backoff(n, lambda: 1.0) for n in range(1, 7)]
    assert ceilings == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])
    assert policy.backoff(3, lambda: 0.5) == pytest.approx(0.2)
    assert policy.backoff(3, lambda: 0.0) == 0.0


def test_deadline_counts_down_and_never_goes_negative() -> None:
    """remaining() falls with the clock and stops at zero."""
    clock = FakeClock()
    deadline = Deadline.after(2.0, clock)
    assert deadline.remaining() == pytest.approx(2.0)
    clock.now += 1.5
    assert deadline.remaining() == pytest.approx(0.5)
    assert not deadline.expired()
    clock.now += 5
    assert deadline.remaining() == 0.0
    assert deadline.expired()


def test_earliest_picks_the_sooner_deadline_and_ignores_none() -> None:
    """A call inside a job is bounded by whichever deadline comes first."""
    clock = FakeClock()
    short, long = Deadline.after(1, clock), Deadline.after(5, clock)
    assert short.earliest(long) is short
    assert long.earliest(short) is short
    assert long.earliest(None) is long
    assert math.isinf(Deadline.never(clock).remaining())


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("3", 3.0),
        (" 10 ", 10.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("-1", None),
        ("soon", None),
        ("", None),
        (None, None),
        ("nan", None),
    ],
)
def test_retry_after_seconds(header: str | None, expected: float | None) -> None:
    """Retry-After as delta-seconds; junk values are ignored."""
    assert parse_retry_after(header, now_epoch=0.0) == expected


def test_retry_after_http_date() -> None:
    """Retry-After as an HTTP date is the time until then, never negative."""
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    later = format_datetime(now + timedelta(seconds=7), usegmt=True)
    earlier = format_datetime(now - timedelta(seconds=7), usegmt=True)
    assert parse_retry_after(later, now.timestamp()) == pytest.approx(7.0)
    assert parse_retry_after(earlier, now.timestamp()) == 0.0


def test_replayable_calls_with_a_deadline_have_no_attempt_cap() -> None:
    """Calls safe to repeat go on while their deadline allows; others stop at four."""
    policy = RetryPolicy()
    assert policy.may_try_again(1000, Replay.ALWAYS, bounded=True)
    assert policy.may_try_again(3, Replay.ALWAYS, bounded=False)
    assert not policy.may_try_again(4, Replay.ALWAYS, bounded=False)
    assert policy.may_try_again(3, Replay.UNSENT_ONLY, bounded=True)
    assert not policy.may_try_again(4, Replay.UNSENT_ONLY, bounded=True)


def test_backoff_of_a_very_late_attempt_stays_at_the_cap() -> None:
    """The thousandth attempt waits at most backoff_max: no float overflow."""
    policy = RetryPolicy()
    assert policy.backoff(5000, lambda: 1.0) == pytest.approx(2.0)
    assert policy.backoff(0, lambda: 1.0) == pytest.approx(0.1)
