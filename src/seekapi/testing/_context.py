"""A stand-in for the AWS Lambda context object."""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Protocol

__all__ = [
    "FakeClient",
    "FakeClientContext",
    "FakeCognitoIdentity",
    "FakeLambdaContext",
    "LambdaContextFactory",
]

# The trace-context fields the runtime hands out through w3c(); it drops any other.
_W3C_FIELDS = ("traceparent", "tracestate", "baggage")


class FakeCognitoIdentity:
    """``context.identity``: the Amazon Cognito identity of the caller, if any.

    Both fields are ``None`` unless the invocation came with an identity; the object
    itself is always there, as in the Lambda runtime.
    """

    __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")

    def __init__(self, identity: Mapping[str, Any] | None = None) -> None:
        identity = identity or {}
        self.cognito_identity_id: str | None = identity.get("cognitoIdentityId")
        self.cognito_identity_pool_id: str | None = identity.get("cognitoIdentityPoolId")

    def __repr__(self) -> str:
        return (
            f"FakeCognitoIdentity(cognito_identity_id={self.cognito_identity_id!r}, "
            f"cognito_identity_pool_id={self.cognito_identity_pool_id!r})"
        )


class FakeClient:
    """``context.client_context.client``: the mobile app that invoked the function."""

    __slots__ = (
        "app_package_name",
        "app_title",
        "app_version_code",
        "app_version_name",
        "installation_id",
    )

    def __init__(self, client: Mapping[str, Any]) -> None:
        self.installation_id: Any = client.get("installation_id")
        self.app_title: Any = client.get("app_title")
        self.app_version_name: Any = client.get("app_version_name")
        self.app_version_code: Any = client.get("app_version_code")
        self.app_package_name: Any = client.get("app_package_name")

    def __repr__(self) -> str:
        return f"FakeClient(installation_id={self.installation_id!r}, app_title={self.app_title!r})"


class FakeClientContext:
    """``context.client_context``: what a mobile client sent; ``None`` when nothing was."""

    __slots__ = ("client", "custom", "env")

    def __init__(self, client_context: Mapping[str, Any]) -> None:
        self.custom: Any = client_context.get("custom")
        self.env: Any = client_context.get("env")
        client = client_context.get("client")
        # The runtime makes an object of a "client" that is there, even if it is {}.
        self.client: FakeClient | None = None if client is None else FakeClient(client)

    def __repr__(self) -> str:
        return (
            f"FakeClientContext(custom={self.custom!r}, env={self.env!r}, client={self.client!r})"
        )


def _memory_text(value: object) -> str:
    """The memory size as the runtime holds it: the text of a positive whole number of MB."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(f"memory_limit_in_mb must be an int or a str, not {type(value).__name__}")
    text = str(value)
    if not (text.isascii() and text.isdigit() and int(text) > 0):
        raise ValueError(f"memory_limit_in_mb must be a positive whole number of MB, not {value!r}")
    return text


class FakeLambdaContext:
    """An object shaped like the context AWS Lambda passes to a Python handler.

    It has every attribute and method of the context the Lambda runtime
    (``awslambdaric``) builds, with the same types: ``aws_request_id``,
    ``function_name``, ``function_version``, ``invoked_function_arn``,
    ``memory_limit_in_mb`` (a ``str``, as the runtime reads it from
    ``AWS_LAMBDA_FUNCTION_MEMORY_SIZE``; an ``int`` argument is stored as its text),
    ``log_group_name``, ``log_stream_name``, ``tenant_id`` (``None`` unless given),
    ``client_context`` (``None`` unless given), ``identity`` (always an object; its
    ``cognito_identity_id`` and ``cognito_identity_pool_id`` are ``None`` unless
    given), :meth:`w3c`, :meth:`log`, and :meth:`get_remaining_time_in_millis`, which
    counts down from ``timeout_s`` from the moment the object is built.

    ``client_context`` and ``identity`` take the JSON the platform sends in the
    ``Lambda-Runtime-Client-Context`` and ``Lambda-Runtime-Cognito-Identity`` headers:
    ``{"custom": ..., "env": ..., "client": {...}, "w3c": {...}}`` and
    ``{"cognitoIdentityId": ..., "cognitoIdentityPoolId": ...}``.

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
        memory_limit_in_mb: int | str = 512,
        tenant_id: str | None = None,
        client_context: Mapping[str, Any] | None = None,
        identity: Mapping[str, Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not timeout_s >= 0:  # also rejects NaN
            raise ValueError("timeout_s must be a non-negative number of seconds")
        self.aws_request_id: str = (
            aws_request_id if aws_request_id is not None else str(uuid.uuid4())
        )
        self.function_name: str = function_name
        self.memory_limit_in_mb: str = _memory_text(memory_limit_in_mb)
        self.invoked_function_arn: str = (
            f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        )
        self.log_group_name: str = f"/aws/lambda/{function_name}"
        self.log_stream_name: str = (
            f"{time.strftime('%Y/%m/%d', time.gmtime())}/[{self.function_version}]"
            f"{uuid.uuid4().hex}"
        )
        self.tenant_id: str | None = tenant_id
        sent = dict(client_context) if client_context is not None else None
        # As in the runtime, the trace context is taken out of the client context.
        w3c = sent.pop("w3c", None) if sent is not None else None
        self._w3c: dict[str, str] = (
            {k: v for k in _W3C_FIELDS if isinstance(v := w3c.get(k), str)}
            if isinstance(w3c, Mapping)
            else {}
        )
        self.client_context: FakeClientContext | None = (
            FakeClientContext(sent) if sent is not None else None
        )
        self.identity: FakeCognitoIdentity = FakeCognitoIdentity(identity)
        self._clock = clock
        self._deadline = clock() + float(timeout_s)

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the invocation's timeout, never below 0."""
        remaining = self._deadline - self._clock()
        return max(0, int(remaining * 1000))

    def w3c(self) -> dict[str, str]:
        """The W3C trace context the invocation came with (``traceparent``, ...), or ``{}``."""
        return dict(self._w3c)

    def log(self, msg: object) -> None:
        """Write ``str(msg)`` to standard output as it is (no newline is added)."""
        sys.stdout.write(str(msg))

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
        memory_limit_in_mb: int | str = 512,
        tenant_id: str | None = None,
        client_context: Mapping[str, Any] | None = None,
        identity: Mapping[str, Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> FakeLambdaContext: ...
