"""Test tools for seekapi workers: the backend emulator, local mode, a fake Lambda context.

:class:`Backend` is the SeekAPI backend emulator: a real HTTP/1.1 server on 127.0.0.1
(optionally over TLS) that implements the platform's worker endpoints, stores what a job
receives in the local-mode layout, records every request and can misbehave on demand
(:class:`Fault`). :class:`FakeLambdaContext` stands in for the context object AWS
Lambda passes to a handler. :class:`LocalMode` runs jobs in local mode in one folder
and reads back what they wrote::

    from seekapi.testing import Backend, FakeLambdaContext

    def test_handler_pushes_its_result(monkeypatch):
        with Backend() as backend:
            for name, value in backend.env.items():
                monkeypatch.setenv(name, value)
            job = backend.create_job({"text": "hello"})
            handler(job.event, FakeLambdaContext(timeout_s=30))
            assert job.result == {"length": 5}

With pytest, the fixtures ``seekapi_emulator``, ``lambda_context`` and ``seekapi_local``
(see :mod:`seekapi.pytest_plugin`) do the set-up and clean-up.

:class:`RuntimeAPI` is the AWS Lambda Runtime API on 127.0.0.1, and
:func:`start_runtime_process` runs a handler under the real Lambda runtime client
(``awslambdaric``, the optional ``seekapi[lambda]`` extra) against it, as Lambda runs
it; the ``lambda_runtime`` fixture does both (see docs/lambda-runtime.md)::

    with RuntimeAPI() as api:
        process = start_runtime_process(api, "handler.handler", cwd="my-worker")
        done = api.wait(api.invoke(job.event, timeout_s=10))
        assert done.response["ok"] is True

This package is not imported by ``import seekapi``; it uses the standard library only.
"""

from ._backend import Backend, Job
from ._context import FakeLambdaContext, LambdaContextFactory
from ._faults import Fault, FaultKind
from ._http import Headers
from ._jobs import ReceivedFile
from ._localmode import LocalJob, LocalMode
from ._recording import RecordedRequest
from ._runtime_api import RuntimeAPI
from ._runtime_book import MAX_RESPONSE_BYTES, SHUTDOWN_STATUS, RuntimeInitError, RuntimeInvocation
from ._runtime_process import RuntimeProcess, awslambdaric_missing, start_runtime_process


def reset_sdk_state() -> None:
    """Forget the SDK's process-wide state: close the default client's connections.

    The next call builds a new client, reading ``SSL_CERT_FILE`` and the like again,
    warnings logged once are logged again, and jobs that ended are forgotten (calls for
    them are no longer refused). Use it between tests.
    """
    from .._api import reset_warnings
    from .._client import reset_default_client
    from .._jobstate import forget_ended

    reset_default_client()
    reset_warnings()
    forget_ended()


__all__ = [
    "MAX_RESPONSE_BYTES",
    "SHUTDOWN_STATUS",
    "Backend",
    "FakeLambdaContext",
    "Fault",
    "FaultKind",
    "Headers",
    "Job",
    "LambdaContextFactory",
    "LocalJob",
    "LocalMode",
    "ReceivedFile",
    "RecordedRequest",
    "RuntimeAPI",
    "RuntimeInitError",
    "RuntimeInvocation",
    "RuntimeProcess",
    "awslambdaric_missing",
    "reset_sdk_state",
    "start_runtime_process",
]
