"""FakeLambdaContext: the stand-in for the AWS Lambda context object."""

from __future__ import annotations

import uuid

import pytest

from seekapi.testing import FakeLambdaContext


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_remaining_time_counts_down_from_the_timeout() -> None:
    """get_remaining_time_in_millis() falls as the injected clock advances."""
    clock = _Clock()
    ctx = FakeLambdaContext(3.0, clock=clock)
    assert ctx.get_remaining_time_in_millis() == 3000
    clock.now += 1.25
    assert ctx.get_remaining_time_in_millis() == 1750
    clock.now += 1.7495
    assert ctx.get_remaining_time_in_millis() == 0  # 0.5 ms left is 0 whole milliseconds


def test_remaining_time_is_an_int() -> None:
    """get_remaining_time_in_millis() returns an int, as the Lambda runtime does."""
    clock = _Clock()
    ctx = FakeLambdaContext(0.0015, clock=clock)
    assert type(ctx.get_remaining_time_in_millis()) is int
    assert ctx.get_remaining_time_in_millis() == 1


def test_remaining_time_clamps_at_zero() -> None:
    """Once the timeout has passed the remaining time stays 0, never negative."""
    clock = _Clock()
    ctx = FakeLambdaContext(1.0, clock=clock)
    clock.now += 60
    assert ctx.get_remaining_time_in_millis() == 0


def test_default_clock_is_real_time() -> None:
    """Without an injected clock the countdown starts at the timeout and only goes down."""
    ctx = FakeLambdaContext(30.0)
    first = ctx.get_remaining_time_in_millis()
    assert 29_000 < first <= 30_000
    assert ctx.get_remaining_time_in_millis() <= first


def test_request_ids_are_fresh_uuid4_strings() -> None:
    """Each context gets its own aws_request_id, a UUID4 in canonical form."""
    ids = {FakeLambdaContext().aws_request_id for _ in range(50)}
    assert len(ids) == 50
    for value in ids:
        assert str(uuid.UUID(value)) == value
        assert uuid.UUID(value).version == 4


def test_explicit_request_id_and_function_settings_are_kept() -> None:
    """aws_request_id, function_name and memory_limit_in_mb given to the constructor are used."""
    ctx = FakeLambdaContext(aws_request_id="req-1", function_name="resize", memory_limit_in_mb=1024)
    assert ctx.aws_request_id == "req-1"
    assert ctx.function_name == "resize"
    assert ctx.memory_limit_in_mb == 1024
    assert ctx.invoked_function_arn.endswith(":function:resize")
    assert ctx.log_group_name == "/aws/lambda/resize"


def test_has_every_attribute_the_lambda_runtime_sets() -> None:
    """The attributes Powertools reads from a real context exist with Lambda's types."""
    ctx = FakeLambdaContext()
    assert ctx.function_name == "seekapi-worker"
    assert ctx.function_version == "$LATEST"
    assert ctx.invoked_function_arn.startswith("arn:aws:lambda:")
    assert isinstance(ctx.memory_limit_in_mb, int)
    assert ctx.log_group_name.startswith("/aws/lambda/")
    assert "[$LATEST]" in ctx.log_stream_name
    assert ctx.identity is None
    assert ctx.client_context is None


@pytest.mark.parametrize("timeout", [-1.0, float("nan")])
def test_rejects_a_negative_or_nan_timeout(timeout: float) -> None:
    """A timeout that is negative or NaN is a ValueError, not a silent 0."""
    with pytest.raises(ValueError, match="timeout_s"):
        FakeLambdaContext(timeout)
