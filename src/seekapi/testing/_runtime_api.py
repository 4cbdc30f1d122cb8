"""The AWS Lambda Runtime API on loopback, for running workers under the real awslambdaric.

:class:`RuntimeAPI` is a threaded HTTP/1.1 server on 127.0.0.1 that serves what a Lambda
runtime client polls and posts (``/next``, ``/response``, ``/error`` and ``/init/error``
of API version 2018-06-01), hands out queued invocations with the headers Lambda sends,
and records each outcome. :func:`seekapi.testing.start_runtime_process` starts
``python -m awslambdaric module.function`` against it. Its parts: what it keeps in
:mod:`._runtime_book`, what it serves in :mod:`._runtime_http`.

How a runtime process ends: :meth:`RuntimeAPI.stop` answers every pending and later
``/next`` with :data:`SHUTDOWN_STATUS`. awslambdaric treats any status other than 200
on ``/next`` as fatal and exits with status 1 within a fraction of a second. ``stop()``
then waits for the processes attached to it and only terminates or kills one that
outlives the grace period (a handler still running, say).

What awslambdaric (4.2.2) needs from the server, and gets:

- Every ``/next`` answer, the shutdown error included, carries a ``Content-Type``
  header: without one its C++ client dies of SIGSEGV. The value is exactly
  ``application/json``, the only one for which the event is parsed; with any other
  (even ``; charset=utf-8``) the handler gets the raw bytes.
- The response and error posts wait 100 ms at most for an answer, so they are answered
  at once.
- A response over :data:`MAX_RESPONSE_BYTES` is refused with 413, as Lambda refuses
  it, and recorded as a ``Function.ResponseSizeTooLarge`` error.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from types import TracebackType

from ._runtime_book import (
    MAX_RESPONSE_BYTES,
    POLL_S,
    AttachedProcess,
    InvocationBook,
    RuntimeInitError,
    RuntimeInvocation,
)
from ._runtime_http import RuntimeHTTPServer

__all__ = ["RuntimeAPI"]


class RuntimeAPI:
    """The Lambda Runtime API on 127.0.0.1: queue invocations, then read their outcomes.

    ``invoke()`` queues an event; a runtime polling ``/next`` takes queued events in
    order (one per poll, long-polling while the queue is empty). Every request that
    breaks the protocol (unknown path, unknown or already answered request id, malformed
    body) is answered with 4xx and described in ``problems``. ``function_name``,
    ``region`` and ``memory_mb`` describe the function to the processes started for it;
    a response over ``max_response_bytes`` is refused, as Lambda refuses it.
    """

    def __init__(
        self,
        *,
        function_name: str = "seekapi-test-worker",
        region: str = "us-east-1",
        memory_mb: int = 128,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self.function_name = function_name
        self.region = region
        self.memory_mb = memory_mb
        self.max_response_bytes = max_response_bytes
        self.function_arn = f"arn:aws:lambda:{region}:123456789012:function:{function_name}"
        self._book = InvocationBook(max_response_bytes)
        self._server: RuntimeHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle -----------------------------------------------------------------------

    def start(self) -> RuntimeAPI:
        """Listen on an ephemeral port of 127.0.0.1 and serve in background threads."""
        if self._server is not None or self._book.stopping:
            raise RuntimeError("a RuntimeAPI can be started once")
        server = RuntimeHTTPServer(self._book, self.function_arn)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": POLL_S},
            name=f"lambda-runtime-api-{server.server_address[1]}",
        )
        self._thread.start()
        return self

    def stop(self, grace_s: float = 2.0) -> None:
        """Make the runtime processes exit, then close every socket and join every thread.

        Pending and later ``/next`` polls are answered with :data:`SHUTDOWN_STATUS`, on
        which awslambdaric exits. Each attached process gets ``grace_s`` seconds to do so
        before it is terminated. Idempotent.
        """
        for process in self._book.stop():
            process.stop(grace_s)
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.close_connections()
            server.server_close()  # joins the connection threads
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> RuntimeAPI:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``, the value for ``AWS_LAMBDA_RUNTIME_API``."""
        if self._server is None:
            raise RuntimeError("the RuntimeAPI is not running")
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    def attach(self, process: AttachedProcess) -> None:
        """Have :meth:`stop` wait for ``process`` and :meth:`wait` notice its death."""
        self._book.attach(process)

    # ---- invocations ---------------------------------------------------------------------

    def invoke(
        self, event: object, *, timeout_s: float = 10.0, request_id: str | None = None
    ) -> RuntimeInvocation:
        """Queue one invocation of ``event`` (JSON-serialisable) and return at once.

        ``timeout_s`` is the function timeout: the deadline handed to the runtime is the
        moment it takes the invocation from ``/next`` plus ``timeout_s``. Raises
        ValueError for a request id used before, RuntimeError once stopped.
        """
        json.dumps(event)  # fail here, not in a server thread
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        invocation = RuntimeInvocation(
            request_id=request_id if request_id is not None else str(uuid.uuid4()),
            event=event,
            timeout_s=timeout_s,
            trace_id=_trace_id(),
        )
        self._book.queue(invocation)
        return invocation

    def wait(self, invocation: RuntimeInvocation, timeout: float = 30.0) -> RuntimeInvocation:
        """Block until the runtime posted the invocation's response or error; return it.

        Raises RuntimeError as soon as every attached process has exited without
        answering (the message quotes any ``/init/error``), TimeoutError after
        ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while not invocation.wait_done(POLL_S):
            processes = self._book.processes
            if processes and all(p.poll() is not None for p in processes):
                if invocation.done:  # answered just before the exit
                    break
                codes = ", ".join(str(p.returncode) for p in processes)
                raise RuntimeError(
                    f"the runtime process exited (status {codes}) without answering "
                    f"{invocation.request_id}; init errors: {self.init_errors!r}"
                )
            if time.monotonic() >= deadline:
                state = "taken from /next" if invocation.delivered_at_epoch else "still queued"
                raise TimeoutError(
                    f"no answer for {invocation.request_id} within {timeout} s ({state})"
                )
        return invocation

    def first_poll_after(self, since: float) -> float | None:
        """The :func:`time.monotonic` time of the first ``/next`` request at or after
        ``since``, or ``None`` if none came yet: the end of a runtime's init phase."""
        return self._book.first_poll_after(since)

    @property
    def invocations(self) -> list[RuntimeInvocation]:
        """Every invocation queued so far, in order."""
        return self._book.invocations

    @property
    def init_errors(self) -> list[RuntimeInitError]:
        """Every ``/init/error`` post, in order."""
        return self._book.init_errors

    @property
    def problems(self) -> list[str]:
        """Protocol violations and server-side failures seen so far (empty when all went well)."""
        return self._book.problems


def _trace_id() -> str:
    return (
        f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)};"
        f"Parent={secrets.token_hex(8)};Sampled=0"
    )
