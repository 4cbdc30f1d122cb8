"""FakeLambdaContext: the stand-in for the AWS Lambda context object."""

from __future__ import annotations

import uuid
from typing import Any

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
    assert ctx.memory_limit_in_mb == "1024"
    assert ctx.invoked_function_arn.endswith(":function:resize")
    assert ctx.log_group_name == "/aws/lambda/resize"


def test_memory_limit_is_text_as_the_runtime_reads_it_from_the_environment() -> None:
    """memory_limit_in_mb is a str ("512" by default); an int or a str argument gives that text."""
    assert FakeLambdaContext().memory_limit_in_mb == "512"
    assert FakeLambdaContext(memory_limit_in_mb=2048).memory_limit_in_mb == "2048"
    assert FakeLambdaContext(memory_limit_in_mb="128").memory_limit_in_mb == "128"


@pytest.mark.parametrize("memory", [True, 1.5, None, 0, -128, "", "lots"])
def test_rejects_a_memory_limit_that_is_not_a_whole_number_of_mb(memory: object) -> None:
    """A memory limit that is not a positive whole number (as int or digits) is refused."""
    with pytest.raises((TypeError, ValueError), match="memory_limit_in_mb"):
        FakeLambdaContext(memory_limit_in_mb=memory)  # type: ignore[arg-type]


def test_has_every_attribute_the_lambda_runtime_sets() -> None:
    """The attributes Powertools reads from a real context exist with Lambda's types."""
    ctx = FakeLambdaContext()
    assert ctx.function_name == "seekapi-worker"
    assert ctx.function_version == "$LATEST"
    assert ctx.invoked_function_arn.startswith("arn:aws:lambda:")
    assert ctx.log_group_name.startswith("/aws/lambda/")
    assert "[$LATEST]" in ctx.log_stream_name
    assert ctx.tenant_id is None
    assert ctx.client_context is None
    assert ctx.identity.cognito_identity_id is None
    assert ctx.identity.cognito_identity_pool_id is None
    assert ctx.w3c() == {}


def _slot_values(obj: Any, model: Any) -> Any:
    """``obj``'s values of the slots of ``model``'s class, nested; other values as they are."""
    slots = getattr(type(model), "__slots__", None)
    if model is None or slots is None:
        return obj
    return {slot: _slot_values(getattr(obj, slot), getattr(model, slot)) for slot in slots}


def test_attributes_have_the_types_of_the_real_runtimes_context(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every public attribute of awslambdaric's LambdaContext exists on the fake, same type."""
    module = pytest.importorskip("awslambdaric.lambda_context")
    for name, value in {
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/f",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/01/01/[$LATEST]abc",
        "AWS_LAMBDA_FUNCTION_NAME": "f",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    }.items():
        monkeypatch.setenv(name, value)
    arn = "arn:aws:lambda:us-east-1:123456789012:function:f"
    client_context = {"custom": {"a": "b"}, "env": {}, "client": {"app_title": "t"}}
    identity = {"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "pool-1"}
    cases = [
        (module.LambdaContext("r", None, None, 0, arn), FakeLambdaContext()),
        (
            module.LambdaContext("r", dict(client_context), identity, 0, arn, "tenant-1"),
            FakeLambdaContext(
                tenant_id="tenant-1", client_context=client_context, identity=identity
            ),
        ),
    ]
    for real, fake in cases:
        public = [name for name in dir(real) if not name.startswith("_")]
        assert public  # the comparison below compares something
        for name in public:
            real_value, fake_value = getattr(real, name), getattr(fake, name)
            if callable(real_value):
                assert callable(fake_value), name
            elif hasattr(type(real_value), "__slots__"):  # identity, client_context
                expected = _slot_values(real_value, real_value)
                assert _slot_values(fake_value, real_value) == expected, name
            else:
                assert type(fake_value) is type(real_value), name


def test_client_context_and_identity_take_the_shape_lambda_sends() -> None:
    """client_context and identity are built from the headers' JSON, as the runtime builds them."""
    ctx = FakeLambdaContext(
        client_context={
            "custom": {"k": "v"},
            "env": {"platform": "x"},
            "client": {"installation_id": "i-1", "app_title": "App"},
            "w3c": {"traceparent": "00-abc-def-01", "tracestate": 5, "other": "dropped"},
        },
        identity={"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "pool-1"},
        tenant_id="tenant-1",
    )
    assert ctx.client_context is not None
    assert (ctx.client_context.custom, ctx.client_context.env) == ({"k": "v"}, {"platform": "x"})
    assert ctx.client_context.client is not None
    assert ctx.client_context.client.installation_id == "i-1"
    assert ctx.client_context.client.app_title == "App"
    assert ctx.client_context.client.app_package_name is None
    assert (ctx.identity.cognito_identity_id, ctx.identity.cognito_identity_pool_id) == (
        "id-1",
        "pool-1",
    )
    assert ctx.tenant_id == "tenant-1"
    assert ctx.w3c() == {"traceparent": "00-abc-def-01"}


def test_log_writes_the_text_of_the_message_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    """log(msg) writes str(msg) to standard output as is, like the runtime without a log sink."""
    ctx = FakeLambdaContext()
    ctx.log("one\n")
    ctx.log(2)
    assert capsys.readouterr().out == "one\n2"


@pytest.mark.parametrize("timeout", [-1.0, float("nan")])
def test_rejects_a_negative_or_nan_timeout(timeout: float) -> None:
    """A timeout that is negative or NaN is a ValueError, not a silent 0."""
    with pytest.raises(ValueError, match="timeout_s"):
        FakeLambdaContext(timeout)
