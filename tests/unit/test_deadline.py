"""Deadline and budget arithmetic, with the clock passed in."""

from __future__ import annotations

import math

import pytest

from seekapi._deadline import NO_LIMIT_SECONDS, Budget, Deadline, job_deadline, timeout_seconds
from seekapi.errors import UsageError


class FakeClock:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


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
    ("timeout", "expected"),
    [(None, math.inf), (math.inf, math.inf), (NO_LIMIT_SECONDS, math.inf), (10**400, math.inf)],
)
def test_no_limit_forms_mean_infinity(timeout: float | None, expected: float) -> None:
    """None, inf, 10**9 s or more (even an int too large for a float) mean no limit."""
    assert timeout_seconds(timeout) == expected


def test_a_finite_timeout_is_kept_as_float_seconds() -> None:
    """A positive number of seconds below the no-limit mark is used as it is."""
    assert timeout_seconds(3) == 3.0
    assert isinstance(timeout_seconds(3), float)
    assert timeout_seconds(0.25) == 0.25


@pytest.mark.parametrize("timeout", [0, -1, -0.5, math.nan])
def test_zero_negative_or_nan_is_a_usage_error(timeout: float) -> None:
    """A timeout that cannot bound anything is refused."""
    with pytest.raises(UsageError, match="positive"):
        timeout_seconds(timeout)


@pytest.mark.parametrize("timeout", [True, "5", [5]])
def test_a_timeout_that_is_no_number_is_a_usage_error(timeout: object) -> None:
    """A bool, a string or another object is not a number of seconds."""
    with pytest.raises(UsageError, match="number of seconds"):
        timeout_seconds(timeout)  # type: ignore[arg-type]


def test_total_budget_bounds_the_call_and_gives_each_wait_half() -> None:
    """timeout bounds the whole call; set-up and each stall get half, at least 1 s."""
    clock = FakeClock()
    budget = Budget.total(10, clock)
    assert budget.deadline.remaining() == pytest.approx(10.0)
    assert budget.stall == budget.connect == pytest.approx(5.0)
    assert budget.reply is None
    assert Budget.total(1, clock).stall == 1.0


def test_per_stall_budget_has_no_overall_deadline() -> None:
    """An upload's timeout bounds each stall and the answer, not the whole call."""
    budget = Budget.per_stall(7, FakeClock())
    assert math.isinf(budget.deadline.remaining())
    assert budget.stall == budget.connect == budget.reply == 7.0


def test_the_job_deadline_bounds_every_budget() -> None:
    """Under run(), a call ends by the job's deadline even when its timeout is later."""
    clock = FakeClock()
    token = job_deadline.set(Deadline.after(2, clock))
    try:
        assert Budget.total(30, clock).deadline.remaining() == pytest.approx(2.0)
        assert Budget.per_stall(30, clock).deadline.remaining() == pytest.approx(2.0)
        assert Budget.total(None, clock).deadline.remaining() == pytest.approx(2.0)
    finally:
        job_deadline.reset(token)
    assert math.isinf(Budget.total(None, clock).deadline.remaining())
