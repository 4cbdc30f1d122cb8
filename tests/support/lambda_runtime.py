"""The loopback Lambda Runtime API under its former names; it is :mod:`seekapi.testing` now."""

from __future__ import annotations

from seekapi.testing import SHUTDOWN_STATUS, RuntimeAPI, RuntimeProcess, start_runtime_process
from seekapi.testing import RuntimeInitError as InitError
from seekapi.testing import RuntimeInvocation as Invocation

LambdaRuntime = RuntimeAPI

__all__ = [
    "SHUTDOWN_STATUS",
    "InitError",
    "Invocation",
    "LambdaRuntime",
    "RuntimeProcess",
    "start_runtime_process",
]
