"""Retry policy and the retry decision, with the time left and randomness passed in."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from seekapi._retry import (
    NOT_PROCESSED_STATUSES,
    RETRY_STATUSES,
    Answer,
    Decision,
    Failure,
    GiveUp,
    Replay,
    RetryPolicy,
    decide,
    parse_retry_after,
)


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


# -- the retry decision ----------------------------------------------------------------


def _decide(
    outcome: Answer | Failure,
    *,
    attempt: int = 1,
    replay: Replay = Replay.ALWAYS,
    left: float = 10.0,
    draw: float = 0.5,
    wait_cap: float = math.inf,
    replaced_stale: bool = False,
) -> Decision:
    return decide(
        attempt,
        outcome,
        replay,
        RetryPolicy(),
        left=left,
        draw=draw,
        wait_cap=wait_cap,
        replaced_stale=replaced_stale,
    )


@pytest.mark.parametrize("status", sorted(RETRY_STATUSES))
def test_each_retryable_status_is_retried_after_a_jittered_backoff(status: int) -> None:
    """A retryable status is followed by the drawn share of the first backoff ceiling."""
    decision = _decide(Answer(status), draw=0.5)
    assert decision.give_up is None
    assert decision.wait == pytest.approx(0.05)
    assert not decision.fresh


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 413, 422, 301, 501])
def test_each_other_status_gives_up_at_once(status: int) -> None:
    """A status outside the retryable set is final, whatever the time left."""
    for replay in Replay:
        assert _decide(Answer(status), replay=replay).give_up is GiveUp.FINAL_STATUS


@pytest.mark.parametrize("status", sorted(NOT_PROCESSED_STATUSES))
def test_an_upload_is_retried_on_statuses_that_say_it_was_not_taken(status: int) -> None:
    """408, 425, 429 and 503 say the request was not processed: even push_file retries."""
    assert _decide(Answer(status), replay=Replay.UNSENT_ONLY).give_up is None


@pytest.mark.parametrize("status", sorted(RETRY_STATUSES - NOT_PROCESSED_STATUSES))
def test_an_upload_is_not_retried_on_statuses_after_which_it_may_be_stored(status: int) -> None:
    """500, 502 and 504 may follow a stored file: push_file gives up."""
    decision = _decide(Answer(status), replay=Replay.UNSENT_ONLY)
    assert decision.give_up is GiveUp.FINAL_STATUS


def test_a_retry_after_that_fits_replaces_the_backoff() -> None:
    """The wait the server asked for is used as it is, not the drawn one."""
    decision = _decide(Answer(503, retry_after=1.5), draw=0.0)
    assert decision.give_up is None
    assert decision.wait == 1.5


def test_a_retry_after_longer_than_the_time_left_gives_up_without_waiting() -> None:
    """When the asked wait would not fit before the deadline, the call fails at once."""
    decision = _decide(Answer(429, retry_after=5.0), left=3.0)
    assert decision.give_up is GiveUp.RETRY_AFTER_TOO_LONG
    assert decision.wait == 5.0
    assert decision.may_wait == pytest.approx(3.0)


def test_a_retry_after_beyond_the_policy_or_budget_cap_gives_up() -> None:
    """max_retry_after and the budget's cap on each wait bound a Retry-After too."""
    too_long = _decide(Answer(503, retry_after=31.0), left=math.inf)
    assert too_long.give_up is GiveUp.RETRY_AFTER_TOO_LONG
    assert too_long.may_wait == 30.0
    capped = _decide(Answer(503, retry_after=2.0), wait_cap=1.0)
    assert capped.give_up is GiveUp.RETRY_AFTER_TOO_LONG
    assert capped.may_wait == 1.0


def test_a_retry_after_that_leaves_no_time_for_an_attempt_gives_up() -> None:
    """An asked wait that fits but leaves under LAST_ATTEMPT_SECONDS is not slept."""
    decision = _decide(Answer(503, retry_after=2.95), left=3.0)
    assert decision.give_up is GiveUp.NO_TIME_LEFT


def test_a_drawn_wait_that_would_leave_too_little_is_halved() -> None:
    """Near the end of a budget the drawn wait shrinks to half the time left."""
    decision = _decide(Answer(500), attempt=5, draw=1.0, left=1.0)
    assert decision.give_up is None
    assert decision.wait == pytest.approx(0.5)


def test_the_budget_running_out_gives_up() -> None:
    """With less than two LAST_ATTEMPT_SECONDS left, no attempt fits any more."""
    assert _decide(Answer(503), left=0.12).give_up is GiveUp.NO_TIME_LEFT
    assert _decide(Failure(request_sent=True), left=0.0).give_up is GiveUp.NO_TIME_LEFT


def test_a_failure_that_ran_out_of_budget_gives_up() -> None:
    """A failure during which the call's own deadline passed is final."""
    decision = _decide(Failure(request_sent=True, timed_out=True))
    assert decision.give_up is GiveUp.OUT_OF_TIME


def test_a_permanent_failure_gives_up() -> None:
    """A certificate that fails verification does not get better by retrying."""
    decision = _decide(Failure(request_sent=False, permanent=True))
    assert decision.give_up is GiveUp.PERMANENT


def test_replay_always_retries_a_failure_after_the_request_was_sent() -> None:
    """A lost answer to a call safe to repeat is retried after a backoff."""
    decision = _decide(Failure(request_sent=True), draw=1.0)
    assert decision.give_up is None
    assert decision.wait == pytest.approx(0.1)


def test_replay_unsent_only_retries_only_a_request_that_cannot_have_arrived() -> None:
    """An upload is sent again only when the backend cannot have stored it."""
    sent = _decide(Failure(request_sent=True), replay=Replay.UNSENT_ONLY)
    assert sent.give_up is GiveUp.NOT_REPLAYABLE
    unsent = _decide(Failure(request_sent=False), replay=Replay.UNSENT_ONLY)
    assert unsent.give_up is None


def test_a_stale_connection_is_replaced_at_once_without_waiting() -> None:
    """A pooled connection that died while idle is replaced now, once per call."""
    decision = _decide(Failure(request_sent=True, stale=True), draw=1.0)
    assert decision.fresh
    assert decision.give_up is None
    assert decision.wait == 0.0
    again = _decide(Failure(request_sent=True, stale=True), draw=1.0, replaced_stale=True)
    assert not again.fresh
    assert again.wait == pytest.approx(0.1)


def test_a_stale_connection_is_not_replaced_when_the_call_must_not_repeat() -> None:
    """An upload whose whole body went out on a dead connection is not sent again."""
    decision = _decide(Failure(request_sent=True, stale=True), replay=Replay.UNSENT_ONLY)
    assert decision.give_up is GiveUp.NOT_REPLAYABLE
    unsent = _decide(Failure(request_sent=False, stale=True), replay=Replay.UNSENT_ONLY)
    assert unsent.fresh


@pytest.mark.parametrize(
    ("replay", "left"),
    [(Replay.ALWAYS, math.inf), (Replay.UNSENT_ONLY, 10.0), (Replay.UNSENT_ONLY, math.inf)],
)
def test_four_attempts_at_most_without_a_deadline_or_for_an_upload(
    replay: Replay, left: float
) -> None:
    """Calls without a deadline, and uploads, stop after the fourth attempt."""
    assert _decide(Answer(503), attempt=3, replay=replay, left=left).give_up is None
    fourth = _decide(Answer(503), attempt=4, replay=replay, left=left)
    assert fourth.give_up is GiveUp.ATTEMPTS_USED
    failed = _decide(Failure(request_sent=False), attempt=4, replay=replay, left=left)
    assert failed.give_up is GiveUp.ATTEMPTS_USED


def test_a_replayable_call_with_a_deadline_has_no_attempt_cap() -> None:
    """A call safe to repeat goes on while its budget allows, however many attempts."""
    assert _decide(Answer(503), attempt=1000, left=10.0).give_up is None
    assert _decide(Failure(request_sent=True), attempt=1000, left=10.0).give_up is None


def test_a_decision_reads_as_what_it_says() -> None:
    """repr names the wait or the reason for giving up."""
    assert repr(Decision(0.25)) == "Decision(wait=0.25)"
    assert repr(Decision(fresh=True)) == "Decision(wait=0, fresh=True)"
    assert repr(Decision(give_up=GiveUp.PERMANENT)) == "Decision(give_up=PERMANENT)"
