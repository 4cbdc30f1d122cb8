"""The AWS Lambda Runtime API on loopback, for running workers under the real awslambdaric.

:class:`RuntimeAPI` is a threaded HTTP/1.1 server on 127.0.0.1 that serves what a Lambda
runtime client polls and posts (``/next``, ``/response``, ``/error`` and ``/init/error``
of API version 2018-06-01), hands out queued invocations with the headers Lambda sends,
and records each outcome. :func:`seekapi.testing.start_runtime_process` starts
``python -m awslambdaric module.function`` against it.

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

import collections
import contextlib
import json
import re
import secrets
import select
import socket
import socketserver
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal, Protocol
from urllib.parse import unquote, urlsplit

__all__ = [
    "MAX_RESPONSE_BYTES",
    "RESPONSE_TOO_LARGE",
    "SHUTDOWN_STATUS",
    "AttachedProcess",
    "RuntimeAPI",
    "RuntimeInitError",
    "RuntimeInvocation",
    "too_large_error",
]

SHUTDOWN_STATUS = 500
"""The status ``/next`` answers once the API is stopping; awslambdaric exits on it."""

MAX_RESPONSE_BYTES = 6_291_556
"""The largest response Lambda accepts from a function invoked synchronously, in bytes."""

RESPONSE_TOO_LARGE = "Function.ResponseSizeTooLarge"
"""The ``errorType`` of an invocation whose response was over the limit."""

_API = "/2018-06-01/runtime"
_NEXT_PATH = f"{_API}/invocation/next"
_INIT_ERROR_PATH = f"{_API}/init/error"
_RESULT_PATH = re.compile(rf"^{_API}/invocation/(?P<id>[^/]+)/(?P<kind>response|error)$")
_ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
# Error bodies and init errors are kept whole up to this size; larger ones are read
# and dropped.
_MAX_KEPT_BODY = 32 * 1024 * 1024
_CHUNK = 1024 * 1024
# How often a waiting /next looks for a runtime that hung up, and a waiting wait() for
# a runtime process that died.
_POLL_S = 0.02


class AttachedProcess(Protocol):
    """A runtime process :meth:`RuntimeAPI.stop` waits for (a ``subprocess.Popen`` with
    a ``stop(grace_s)`` method, as :class:`seekapi.testing.RuntimeProcess`)."""

    returncode: int | None

    def poll(self) -> int | None: ...

    def stop(self, grace_s: float = 2.0) -> int: ...


@dataclass(eq=False)
class RuntimeInvocation:
    """One queued invocation and, once the runtime answered, its outcome.

    ``deadline_epoch_ms`` and ``delivered_at_*`` are set when the runtime takes the
    invocation from ``/next`` (the deadline is that moment plus ``timeout_s``); the
    ``responded_*`` fields, ``outcome``, ``body``, ``headers`` (lower-case names) and
    either ``response`` or ``error`` when the runtime posts the outcome. ``response`` and
    ``error`` hold the parsed JSON body (``None`` if it was not JSON; ``body`` has the
    raw bytes). awslambdaric's error body is ``{"errorMessage", "errorType",
    "requestId", "stackTrace"}``. A response over the API's size limit is refused:
    ``outcome`` is then ``"error"``, ``error`` is Lambda's
    ``{"errorType": "Function.ResponseSizeTooLarge", "errorMessage": ...}``, ``body`` is
    ``None`` and ``response_bytes`` says how large it was.
    """

    request_id: str
    event: Any
    timeout_s: float
    trace_id: str
    deadline_epoch_ms: int | None = None
    delivered_at_epoch: float | None = None
    delivered_at_monotonic: float | None = None
    outcome: Literal["response", "error"] | None = None
    response: Any = None
    error: Any = None
    error_type: str | None = None
    """The ``Lambda-Runtime-Function-Error-Type`` header, if any (awslambdaric 4.2.2 sends
    it on ``/init/error`` only; the type of a handler's exception is in ``error``)."""
    body: bytes | None = None
    response_bytes: int = 0
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    responded_at_epoch: float | None = None
    responded_at_monotonic: float | None = None
    _done: threading.Event = field(default_factory=threading.Event, init=False, repr=False)

    @property
    def done(self) -> bool:
        """Whether the runtime has posted a response or an error for this invocation."""
        return self._done.is_set()

    @property
    def failed(self) -> bool:
        """Whether the outcome is an error (the handler raised, or the response was refused)."""
        return self.outcome == "error"

    @property
    def duration_s(self) -> float | None:
        """Seconds from delivery to the outcome's arrival; ``None`` until answered."""
        if self.delivered_at_monotonic is None or self.responded_at_monotonic is None:
            return None
        return self.responded_at_monotonic - self.delivered_at_monotonic

    @property
    def margin_s(self) -> float:
        """Seconds between the outcome's arrival and the deadline (negative if late).

        Raises RuntimeError while the invocation has not been answered.
        """
        if self.deadline_epoch_ms is None or self.responded_at_epoch is None:
            raise RuntimeError(f"invocation {self.request_id} has not been answered yet")
        return self.deadline_epoch_ms / 1000.0 - self.responded_at_epoch

    def wait_done(self, timeout: float | None) -> bool:
        """Block up to ``timeout`` seconds for the outcome; whether it arrived."""
        return self._done.wait(timeout)


@dataclass(frozen=True)
class RuntimeInitError:
    """An ``/init/error`` post: the handler could not be loaded."""

    body: Any
    error_type: str | None
    at_epoch: float


class RuntimeAPI:
    """The Lambda Runtime API on 127.0.0.1: queue invocations, then read their outcomes.

    ``invoke()`` queues an event; a runtime polling ``/next`` takes queued events in
    order (one per poll, long-polling while the queue is empty). Every request that
    breaks the protocol (unknown path, unknown or already answered request id, malformed
    body) is answered with 4xx and described in ``problems``. ``function_name``,
    ``region`` and ``memory_mb`` describe the function to the processes started for it.
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
        self._cond = threading.Condition()
        self._queue: collections.deque[RuntimeInvocation] = collections.deque()
        self._by_id: dict[str, RuntimeInvocation] = {}
        self._invocations: list[RuntimeInvocation] = []
        self._init_errors: list[RuntimeInitError] = []
        self._problems: list[str] = []
        self._polls: list[float] = []
        self._processes: list[AttachedProcess] = []
        self._stopping = False
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle -----------------------------------------------------------------------

    def start(self) -> RuntimeAPI:
        """Listen on an ephemeral port of 127.0.0.1 and serve in background threads."""
        if self._server is not None or self._stopping:
            raise RuntimeError("a RuntimeAPI can be started once")
        server = _Server(self)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": _POLL_S},
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
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            processes = list(self._processes)
        for process in processes:
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
        with self._cond:
            self._processes.append(process)

    # ---- invocations ---------------------------------------------------------------------

    def invoke(
        self, event: object, *, timeout_s: float = 10.0, request_id: str | None = None
    ) -> RuntimeInvocation:
        """Queue one invocation of ``event`` (JSON-serialisable) and return at once.

        ``timeout_s`` is the function timeout: the deadline handed to the runtime is the
        moment it takes the invocation from ``/next`` plus ``timeout_s``.
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
        with self._cond:
            if self._stopping:
                raise RuntimeError("the RuntimeAPI is stopped")
            if invocation.request_id in self._by_id:
                raise ValueError(f"request id {invocation.request_id!r} was already used")
            self._by_id[invocation.request_id] = invocation
            self._invocations.append(invocation)
            self._queue.append(invocation)
            self._cond.notify_all()
        return invocation

    def wait(self, invocation: RuntimeInvocation, timeout: float = 30.0) -> RuntimeInvocation:
        """Block until the runtime posted the invocation's response or error; return it.

        Raises RuntimeError as soon as every attached process has exited without
        answering (the message quotes any ``/init/error``), TimeoutError after
        ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while not invocation.wait_done(_POLL_S):
            with self._cond:
                processes = list(self._processes)
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
        with self._cond:
            return next((at for at in self._polls if at >= since), None)

    @property
    def invocations(self) -> list[RuntimeInvocation]:
        """Every invocation queued so far, in order."""
        with self._cond:
            return list(self._invocations)

    @property
    def init_errors(self) -> list[RuntimeInitError]:
        """Every ``/init/error`` post, in order."""
        with self._cond:
            return list(self._init_errors)

    @property
    def problems(self) -> list[str]:
        """Protocol violations and server-side failures seen so far (empty when all went well)."""
        with self._cond:
            return list(self._problems)

    # ---- what the request handler reports -----------------------------------------------

    def _problem(self, text: str) -> None:
        with self._cond:
            self._problems.append(text)

    def _take_next(self, connection: socket.socket) -> RuntimeInvocation | None:
        """The next queued invocation, waiting for one; None once stopping."""
        with self._cond:
            self._polls.append(time.monotonic())
        while True:
            with self._cond:
                if self._stopping:
                    return None
                if self._queue:
                    invocation = self._queue.popleft()
                    invocation.delivered_at_monotonic = time.monotonic()
                    invocation.delivered_at_epoch = now = time.time()
                    invocation.deadline_epoch_ms = int((now + invocation.timeout_s) * 1000)
                    return invocation
                self._cond.wait(_POLL_S)
            # A runtime killed while polling must not swallow the next invocation.
            if _peer_closed(connection):
                raise ConnectionAbortedError("the runtime closed its /next connection")

    def _requeue(self, invocation: RuntimeInvocation) -> None:
        with self._cond:
            invocation.deadline_epoch_ms = None
            invocation.delivered_at_epoch = invocation.delivered_at_monotonic = None
            self._queue.appendleft(invocation)
            self._cond.notify_all()

    def _record_result(
        self,
        request_id: str,
        kind: Literal["response", "error"],
        body: bytes | None,
        size: int,
        headers: dict[str, str],
    ) -> str | None:
        """Store an outcome (``body`` is ``None`` for a response over the limit); the
        reason it is refused, or None."""
        epoch, monotonic = time.time(), time.monotonic()
        with self._cond:
            invocation = self._by_id.get(request_id)
            if invocation is None:
                return f"unknown request id {request_id!r}"
            if invocation.delivered_at_epoch is None:
                return f"request id {request_id!r} was not handed out by /next"
            if invocation.done:
                return f"request id {request_id!r} was already answered"
            invocation.response_bytes = size
            if body is None:
                kind = "error"
                invocation.error = too_large_error(self.max_response_bytes)
            elif kind == "response":
                invocation.response = _parse_json(body)
            else:
                invocation.error = _parse_json(body)
                invocation.error_type = headers.get(_ERROR_TYPE_HEADER.lower())
            invocation.body = body
            invocation.content_type = headers.get("content-type")
            invocation.outcome = kind
            invocation.headers = headers
            invocation.responded_at_epoch = epoch
            invocation.responded_at_monotonic = monotonic
            invocation._done.set()
        return None

    def _record_init_error(self, body: bytes, headers: dict[str, str]) -> None:
        error = RuntimeInitError(
            body=_parse_json(body),
            error_type=headers.get(_ERROR_TYPE_HEADER.lower()),
            at_epoch=time.time(),
        )
        with self._cond:
            self._init_errors.append(error)

    @property
    def _is_stopping(self) -> bool:
        with self._cond:
            return self._stopping


def too_large_error(limit: int = MAX_RESPONSE_BYTES) -> dict[str, str]:
    """Lambda's error for a response over ``limit`` bytes."""
    return {
        "errorType": RESPONSE_TOO_LARGE,
        "errorMessage": (
            f"Response payload size exceeded maximum allowed payload size ({limit} bytes)."
        ),
    }


class _Server(ThreadingHTTPServer):
    # Connection threads are joined by server_close(), so none outlives stop().
    daemon_threads = False
    block_on_close = True

    def __init__(self, runtime: RuntimeAPI) -> None:
        self.runtime = runtime
        self._connections: set[socket.socket] = set()
        self._busy: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can stall on a bad resolver.
        socketserver.TCPServer.server_bind(self)
        self.server_name = "127.0.0.1"
        self.server_port = int(self.server_address[1])

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def set_busy(self, connection: socket.socket, busy: bool) -> None:
        """Mark a connection as serving a request (left alone by close_connections)."""
        with self._connections_lock:
            if busy:
                self._busy.add(connection)
            else:
                self._busy.discard(connection)

    def close_connections(self) -> None:
        """Unblock every connection thread waiting for a request on a kept-alive connection;
        one serving a request finishes its answer and is closed afterwards."""
        with self._connections_lock:
            connections = list(self._connections - self._busy)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        # A runtime that hangs up (killed, or exiting on stop) is not a failure.
        if isinstance(exc, ConnectionError) or (
            isinstance(exc, OSError) and self.runtime._is_stopping
        ):
            return
        self.runtime._problem(f"server error: {traceback.format_exc()}")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # The headers and the body are two writes: without this, the body of a /next answer
    # waits for the runtime's delayed ACK (40 ms on Linux) on a kept-alive connection.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the output clean; outcomes are recorded on the runtime instead."""

    def do_GET(self) -> None:
        self._serve(self._get)

    def do_POST(self) -> None:
        self._serve(self._post)

    def _serve(self, method: Callable[[], None]) -> None:
        self.server.set_busy(self.connection, True)
        try:
            method()
        finally:
            self.server.set_busy(self.connection, False)
            if self.server.runtime._is_stopping:
                self.close_connection = True

    def _get(self) -> None:
        path = urlsplit(self.path).path
        if path != _NEXT_PATH:
            self._refuse(404, f"GET {self.path}: no such endpoint")
            return
        runtime = self.server.runtime
        invocation = runtime._take_next(self.connection)
        if invocation is None:
            self.close_connection = True
            self._send(SHUTDOWN_STATUS, {"errorMessage": "the runtime is shutting down"})
            return
        assert invocation.deadline_epoch_ms is not None
        body = json.dumps(invocation.event).encode()
        try:
            self.send_response(200)
            # Exactly this value: anything else reaches the handler as raw bytes.
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Lambda-Runtime-Aws-Request-Id", invocation.request_id)
            self.send_header("Lambda-Runtime-Deadline-Ms", str(invocation.deadline_epoch_ms))
            self.send_header("Lambda-Runtime-Invoked-Function-Arn", runtime.function_arn)
            self.send_header("Lambda-Runtime-Trace-Id", invocation.trace_id)
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            runtime._requeue(invocation)
            raise

    def _post(self) -> None:
        path = urlsplit(self.path).path
        runtime = self.server.runtime
        match = _RESULT_PATH.match(path)
        is_response = match is not None and match["kind"] == "response"
        limit = runtime.max_response_bytes if is_response else _MAX_KEPT_BODY
        read = self._read_body(limit)
        if read is None:
            return
        body, size = read
        headers = {name.lower(): value for name, value in self.headers.items()}
        if path == _INIT_ERROR_PATH and body is not None:
            runtime._record_init_error(body, headers)
            self._send(202, {"status": "OK"})
            return
        if match is None or (body is None and not is_response):
            self._refuse(404 if match is None else 413, f"POST {self.path}: refused")
            return
        kind: Literal["response", "error"] = "response" if is_response else "error"
        refused = runtime._record_result(unquote(match["id"]), kind, body, size, headers)
        if refused is not None:
            self._refuse(400, f"POST {self.path}: {refused}")
        elif body is None:
            self._send(413, too_large_error(runtime.max_response_bytes))
        else:
            self._send(202, {"status": "OK"})

    def _read_body(self, limit: int) -> tuple[bytes | None, int] | None:
        """The body and its size; the body is ``None`` when it is over ``limit`` (it is
        read and dropped). ``None`` when the request is broken (answered here)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked(limit)
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            self._refuse(400, f"{self.command} {self.path}: bad Content-Length")
            return None
        parts = _Parts(limit)
        left = length
        while left > 0:
            chunk = self.rfile.read(min(left, _CHUNK))
            if not chunk:
                self.close_connection = True
                return None  # the runtime hung up mid-body
            parts.add(chunk)
            left -= len(chunk)
        return parts.body(), parts.size

    def _read_chunked(self, limit: int) -> tuple[bytes | None, int] | None:
        parts = _Parts(limit)
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                self.close_connection = True
                self._refuse(400, f"{self.command} {self.path}: bad chunk size")
                return None
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                return parts.body(), parts.size
            while size > 0:
                chunk = self.rfile.read(min(size, _CHUNK))
                if not chunk:
                    self.close_connection = True
                    return None
                parts.add(chunk)
                size -= len(chunk)
            self.rfile.readline(3)

    def _refuse(self, status: int, problem: str) -> None:
        self.server.runtime._problem(problem)
        self._send(status, {"errorMessage": problem})

    def _send(self, status: int, payload: object) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)


class _Parts:
    """A request body read in pieces, kept only while it is within a limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self._kept: list[bytes] | None = []

    def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self._kept is not None:
            self._kept.append(chunk)
            if self.size > self.limit:
                self._kept = None

    def body(self) -> bytes | None:
        return None if self._kept is None else b"".join(self._kept)


def _trace_id() -> str:
    return (
        f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)};"
        f"Parent={secrets.token_hex(8)};Sampled=0"
    )


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _peer_closed(connection: socket.socket) -> bool:
    """Whether the client has closed its end (readable, and a peek reads nothing)."""
    if hasattr(select, "poll"):  # select.select() cannot watch descriptors >= 1024
        poller = select.poll()
        poller.register(connection, select.POLLIN)
        if not poller.poll(0):
            return False
    elif not select.select([connection], [], [], 0)[0]:
        return False
    try:
        return connection.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True
