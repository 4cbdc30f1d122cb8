"""A stand-in for the AWS Lambda context object."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Protocol

__all__ = ["FakeLambdaContext", "LambdaContextFactory"]


class FakeLambdaContext:
    """An object shaped like the context AWS Lambda passes to a Python handler.

    It carries the attributes the Lambda runtime sets and that seekapi and Powertools
    for AWS Lambda read: ``aws_request_id``, ``function_name``, ``function_version``,
    ``invoked_function_arn``, ``memory_limit_in_mb``, ``log_group_name``,
    ``log_stream_name``, ``identity`` and ``client_context`` (both ``None``), and
    :meth:`get_remaining_time_in_millis`, which counts down from ``timeout_s`` from
    the moment the object is built.

    ``clock`` is the monotonic time source in seconds; pass your own to control the
    countdown in tests::

        now = [0.0]
        ctx = FakeLambdaContext(3.0, clock=lambda: now[0])
        now[0] = 1.25
        assert ctx.get_remaining_time_in_millis() == 1750
    """

    function_version: str = "$LATEST"

    def __init__(
        self,
        timeout_s: float = 30.0,
        *,
        aws_request_id: str | None = None,
        function_name: str = "seekapi-worker",
        memory_limit_in_mb: int = 512,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not timeout_s >= 0:  # also rejects NaN
            raise ValueError("timeout_s must be a non-negative number of seconds")
        self.aws_request_id: str = (
            aws_request_id if aws_request_id is not None else str(uuid.uuid4())
        )
        self.function_name: str = function_name
        self.memory_limit_in_mb: int = memory_limit_in_mb
        self.invoked_function_arn: str = (
            f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        )
        self.log_group_name: str = f"/aws/lambda/{function_name}"
        self.log_stream_name: str = (
            f"{time.strftime('%Y/%m/%d', time.gmtime())}/[{self.function_version}]"
            f"{uuid.uuid4().hex}"
        )
        self.identity: object | None = None
        self.client_context: object | None = None
        self._clock = clock
        self._deadline = clock() + float(timeout_s)

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the invocation's timeout, never below 0."""
        remaining = self._deadline - self._clock()
        return max(0, int(remaining * 1000))

    def __repr__(self) -> str:
        return (
            f"FakeLambdaContext(aws_request_id={self.aws_request_id!r}, "
            f"function_name={self.function_name!r}, "
            f"remaining_ms={self.get_remaining_time_in_millis()})"
        )


class LambdaContextFactory(Protocol):
    """What the ``lambda_context`` pytest fixture is: it builds a :class:`FakeLambdaContext`.

    Annotate the fixture argument with it::

        def test_handler(lambda_context: LambdaContextFactory) -> None:
            handler(event, lambda_context(timeout_s=5))
    """

    def __call__(
        self,
        timeout_s: float = 30.0,
        *,
        aws_request_id: str | None = None,
        function_name: str = "seekapi-worker",
        memory_limit_in_mb: int = 512,
        clock: Callable[[], float] = time.monotonic,
    ) -> FakeLambdaContext: ...
