"""pytest fixtures for testing SeekAPI workers.

Installing seekapi registers this plugin (the ``pytest11`` entry point ``seekapi``), so
a worker's tests can use these fixtures without any set-up:

``seekapi_emulator``
    A started :class:`seekapi.testing.Backend`, the backend emulator, storing uploads
    under the test's ``tmp_path``. For the length of the test, ``WORKER_API_BASE_URL``
    and ``WORKER_INTERNAL_SECRET`` point at it, ``SEEKAPI_LOCAL_MODE`` is unset, and a
    configured proxy is bypassed for it; the SDK's state is reset before and after
    (:func:`seekapi.testing.reset_sdk_state`). It is stopped after the test, and the
    test errors if the emulator itself hit an unexpected error. Use it to build job
    events (``create_job(input) -> Job``, ``Job.event``), to read what a job received
    (``Job.result``, ``.pushes``, ``.files``, ``.charges``, ``.metered_event_count``)
    and to inject faults (``fail_next``, ``inject(Fault(...))``).

``lambda_context``
    A factory, ``lambda_context(timeout_s=30.0, **kwargs) -> FakeLambdaContext``: a
    Lambda context whose remaining time counts down from ``timeout_s`` (see
    :class:`seekapi.testing.LambdaContextFactory` for the keyword arguments).

``seekapi_local``
    Local mode in a folder under ``tmp_path``: a :class:`seekapi.testing.LocalMode`
    (``os.fspath()`` of it is the folder). For the length of the test
    ``SEEKAPI_LOCAL_MODE``, ``SEEKAPI_LOCAL_DIR`` and ``SEEKAPI_LOCAL_FIXTURES`` are
    set, the backend variables are unset, and the SDK's state is reset before and after.
    ``set_fixtures({...})`` writes the fixtures file; ``create_job(input)`` gives an
    event whose input is a local file; the job's ``result``, ``pushes``, ``files`` and
    ``charges`` are read from its folder.

``lambda_runtime``
    A started :class:`seekapi.testing.RuntimeAPI`: the AWS Lambda Runtime API on
    127.0.0.1, for running a handler under the real Lambda runtime client
    (``awslambdaric``, the ``seekapi[lambda]`` extra; Linux only). Start the handler's
    process with :func:`seekapi.testing.start_runtime_process`, queue invocations with
    ``invoke(event, timeout_s=...)`` and read what the runtime posted with ``wait()``.
    The processes are stopped after the test, and the test errors if the runtime broke
    the protocol. Without awslambdaric the test fails saying what to install (on other
    systems than Linux, where it does not run, it is skipped).

A whole test::

    from seekapi.testing import Backend, LambdaContextFactory

    from handler import handler


    def test_greets_by_name(
        seekapi_emulator: Backend, lambda_context: LambdaContextFactory
    ) -> None:
        job = seekapi_emulator.create_job({"name": "Ada"})
        assert handler(job.event, lambda_context())["ok"] is True
        assert job.result == {"message": "hello Ada"}

This module is imported by pytest only; ``import seekapi`` never imports it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

TYPE_CHECKING = False
if TYPE_CHECKING:
    from seekapi.testing import (
        Backend,
        FakeLambdaContext,
        LambdaContextFactory,
        LocalMode,
        RuntimeAPI,
    )

__all__ = ["lambda_context", "lambda_runtime", "seekapi_emulator", "seekapi_local"]

_PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY")
_NO_PROXY_VARIABLES = ("no_proxy", "NO_PROXY")


@pytest.fixture
def seekapi_emulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backend]:
    """A started backend emulator that the SDK talks to for the length of the test."""
    from seekapi._settings import ENV_LOCAL_MODE
    from seekapi.testing import Backend, reset_sdk_state

    monkeypatch.delenv(ENV_LOCAL_MODE, raising=False)
    reset_sdk_state()
    backend = Backend(directory=tmp_path / "seekapi-emulator")
    with backend:
        for name, value in backend.env.items():
            monkeypatch.setenv(name, value)
        _bypass_proxy(monkeypatch, backend.address[0])
        try:
            yield backend
        finally:
            # Closes the SDK's pooled connections first, so stopping waits for nothing.
            reset_sdk_state()
    errors = backend.internal_errors
    if errors:
        pytest.fail(
            f"the SeekAPI emulator hit {len(errors)} unexpected error(s):\n{errors[0]}",
            pytrace=False,
        )


@pytest.fixture
def lambda_context() -> LambdaContextFactory:
    """A factory of fake Lambda contexts: ``lambda_context(timeout_s=30.0, **kwargs)``."""
    import time

    from seekapi.testing import FakeLambdaContext

    def make(
        timeout_s: float = 30.0,
        *,
        aws_request_id: str | None = None,
        function_name: str = "seekapi-worker",
        memory_limit_in_mb: int | str = 512,
        tenant_id: str | None = None,
        client_context: Mapping[str, Any] | None = None,
        identity: Mapping[str, Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> FakeLambdaContext:
        return FakeLambdaContext(
            timeout_s,
            aws_request_id=aws_request_id,
            function_name=function_name,
            memory_limit_in_mb=memory_limit_in_mb,
            tenant_id=tenant_id,
            client_context=client_context,
            identity=identity,
            clock=clock,
        )

    return make


@pytest.fixture
def seekapi_local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalMode]:
    """Local mode in ``tmp_path / "seekapi-local"`` for the length of the test."""
    from seekapi._settings import ENV_API_BASE, ENV_SECRET
    from seekapi.testing import LocalMode, reset_sdk_state

    local = LocalMode(tmp_path / "seekapi-local")
    monkeypatch.delenv(ENV_API_BASE, raising=False)
    monkeypatch.delenv(ENV_SECRET, raising=False)
    for name, value in local.env.items():
        monkeypatch.setenv(name, value)
    reset_sdk_state()
    try:
        yield local
    finally:
        reset_sdk_state()


@pytest.fixture
def lambda_runtime() -> Iterator[RuntimeAPI]:
    """A started Lambda Runtime API on loopback, stopped with its processes after the test."""
    import sys

    from seekapi.testing import RuntimeAPI, awslambdaric_missing

    missing = awslambdaric_missing()
    if missing is not None:
        if not sys.platform.startswith("linux"):
            pytest.skip(missing)
        pytest.fail(missing, pytrace=False)
    with RuntimeAPI() as runtime:
        yield runtime
    problems = runtime.problems
    if problems:
        pytest.fail(
            f"the Lambda Runtime API saw {len(problems)} protocol problem(s):\n{problems[0]}",
            pytrace=False,
        )


def _bypass_proxy(monkeypatch: pytest.MonkeyPatch, host: str) -> None:
    """Add ``host`` to ``no_proxy`` when a proxy is configured: a proxy cannot reach it."""
    import os

    if not any(os.environ.get(name) for name in _PROXY_VARIABLES):
        return
    host = "127.0.0.1" if host in ("", "0.0.0.0") else host  # noqa: S104 - a comparison
    for name in _NO_PROXY_VARIABLES:
        current = os.environ.get(name, "")
        entries = [entry.strip() for entry in current.split(",") if entry.strip()]
        if host not in entries and "*" not in entries:
            monkeypatch.setenv(name, ",".join([*entries, host]))
