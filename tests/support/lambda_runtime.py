"""A loopback imitation of the AWS Lambda Runtime API, to run workers under the real awslambdaric.

:class:`LambdaRuntime` is a threaded HTTP/1.1 server on 127.0.0.1 that serves the
endpoints a Lambda runtime client polls (``/next``, ``/response``, ``/error`` and
``/init/error`` of API version 2018-06-01) and records what the runtime posts back.
:func:`start_runtime_process` starts ``python -m awslambdaric module.function`` against
it, with the environment a Lambda execution environment provides::

    with LambdaRuntime() as runtime:
        process = start_runtime_process(runtime, "app.handler", cwd=task_root)
        first = runtime.wait(runtime.invoke({"n": 1}, timeout_s=5))
        second = runtime.wait(runtime.invoke({"n": 2}))  # the same, warm process
    assert first.response == {"n": 1}
    print(process.read_stdout())  # the handler's prints and log records

How the runtime process ends: :meth:`LambdaRuntime.stop` answers every pending and
later ``/next`` with :data:`SHUTDOWN_STATUS`. awslambdaric treats any status other than
200 on ``/next`` as fatal: its C extension raises ``RuntimeError("Failed to get next")``,
nothing catches it, and the interpreter exits with status 1 (a traceback on stderr)
within a fraction of a second. ``stop()`` then waits for the processes started with
:func:`start_runtime_process` and only terminates or kills one that outlives the grace
period (say, a handler still running).

Quirks of awslambdaric 4.2.2 that this imitation accommodates:

- Every ``/next`` answer, the shutdown error included, must carry a ``Content-Type``
  header: the vendored aws-lambda-cpp builds a ``std::string`` from libcurl's content
  type, a null pointer when the header is missing, and the process dies of SIGSEGV.
  The value must be exactly ``application/json`` for the event to be parsed; any other
  value (even with ``; charset=utf-8``) hands the handler the raw bytes.
- The response and error posts use a 100 ms libcurl timeout, so they are answered at
  once. libcurl honours ``*_proxy`` variables, so the child environment drops them.
- Only ``AWS_LAMBDA_RUNTIME_API`` is required; the handler comes from the command line.
  The handler gets a ``LambdaContext`` built from the ``/next`` headers (request id,
  deadline, function ARN) and the ``AWS_LAMBDA_*`` variables (function name, version,
  memory size as a string, log group and stream; ``None`` when unset).
- Logging goes to stdout: a handler on the root logger writes
  ``[LEVEL]\\t<UTC time>\\t<request id>\\t<message>``; the root level stays WARNING
  unless ``AWS_LAMBDA_LOG_LEVEL`` is set. A handler's exception is logged as one record
  whose lines are joined by ``\\r``. Python tracebacks (the exit on shutdown) go to stderr.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import re
import secrets
import select
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

__all__ = [
    "SHUTDOWN_STATUS",
    "InitError",
    "Invocation",
    "LambdaRuntime",
    "RuntimeProcess",
    "start_runtime_process",
]

#: The status ``/next`` answers once the runtime is stopping; awslambdaric exits on it.
SHUTDOWN_STATUS = 500

_API = "/2018-06-01/runtime"
_NEXT_PATH = f"{_API}/invocation/next"
_INIT_ERROR_PATH = f"{_API}/init/error"
_RESULT_PATH = re.compile(rf"^{_API}/invocation/(?P<id>[^/]+)/(?P<kind>response|error)$")
_ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
_MAX_BODY = 16 * 1024 * 1024
# How often a waiting /next looks for a runtime that hung up, and a waiting
# wait() for a runtime process that died.
_POLL_S = 0.05
# Environment variables that would change how awslambdaric runs (multi-concurrency,
# SnapStart, framed telemetry logs) or where libcurl connects (proxies).
_DROPPED_ENV = frozenset(
    {
        "AWS_LAMBDA_MAX_CONCURRENCY",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "_LAMBDA_TELEMETRY_LOG_FD",
        "_LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET",
        "AWS_EXECUTION_ENV",
    }
)


@dataclass(eq=False)
class Invocation:
    """One queued invocation and, once the runtime answered, its outcome.

    ``deadline_epoch_ms`` and ``delivered_at_*`` are set when the runtime takes the
    invocation from ``/next`` (the deadline is that moment + ``timeout_s``); the
    ``responded_*`` fields, ``outcome``, ``body``, ``headers`` (lower-cased names) and
    either ``response`` or ``error`` when the runtime posts the outcome. ``response`` and
    ``error`` hold the parsed JSON body (``None`` if it was not JSON; ``body`` always has
    the raw bytes). awslambdaric's error body is ``{"errorMessage", "errorType",
    "requestId", "stackTrace"}``.
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
        """Whether the outcome was posted to ``/error`` (the handler raised)."""
        return self.outcome == "error"

    @property
    def margin_s(self) -> float:
        """Seconds between the outcome's arrival and the deadline (negative if late).

        Raises RuntimeError while the invocation has not been answered.
        """
        if self.deadline_epoch_ms is None or self.responded_at_epoch is None:
            raise RuntimeError(f"invocation {self.request_id} has not been answered yet")
        return self.deadline_epoch_ms / 1000.0 - self.responded_at_epoch


@dataclass(frozen=True)
class InitError:
    """An ``/init/error`` post: the handler could not be loaded."""

    body: Any
    error_type: str | None
    at_epoch: float


class RuntimeProcess(subprocess.Popen[bytes]):
    """A ``python -m awslambdaric`` process whose stdout and stderr go to files.

    The files are written by the child directly, so nothing blocks however much it
    prints; read them at any time, typically after :meth:`LambdaRuntime.stop`.
    """

    stdout_path: Path
    stderr_path: Path

    def read_stdout(self) -> str:
        """What the process wrote to stdout so far: the handler's prints and log records.

        Read as bytes, so the ``\\r`` awslambdaric puts between the lines of one error
        record stays as it is.
        """
        return self.stdout_path.read_bytes().decode("utf-8", errors="replace")

    def read_stderr(self) -> str:
        """What the process wrote to stderr so far (tracebacks, warnings)."""
        return self.stderr_path.read_bytes().decode("utf-8", errors="replace")

    def stop(self, grace_s: float = 2.0) -> int:
        """Wait up to ``grace_s`` for the process to exit, then terminate, then kill it.

        Returns the exit status (negative: the signal that ended it).
        """
        with contextlib.suppress(subprocess.TimeoutExpired):
            return self.wait(timeout=grace_s)
        self.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            return self.wait(timeout=1.0)
        self.kill()
        return self.wait()


class LambdaRuntime:
    """The Lambda Runtime API on 127.0.0.1: queue invocations, then read their outcomes.

    ``invoke()`` queues an event; a runtime polling ``/next`` takes queued events in
    order (one at a time per poll, long-polling while the queue is empty). Every
    request that breaks the protocol (unknown path, unknown or already answered
    request id, malformed body) is answered with 4xx and described in ``problems``.
    """

    def __init__(
        self,
        *,
        function_name: str = "seekapi-test-worker",
        region: str = "us-east-1",
        memory_mb: int = 128,
    ) -> None:
        self.function_name = function_name
        self.region = region
        self.memory_mb = memory_mb
        self.function_arn = f"arn:aws:lambda:{region}:123456789012:function:{function_name}"
        self._cond = threading.Condition()
        self._queue: collections.deque[Invocation] = collections.deque()
        self._by_id: dict[str, Invocation] = {}
        self._invocations: list[Invocation] = []
        self._init_errors: list[InitError] = []
        self._problems: list[str] = []
        self._processes: list[RuntimeProcess] = []
        self._stopping = False
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle -----------------------------------------------------------------------

    def start(self) -> LambdaRuntime:
        """Listen on an ephemeral port of 127.0.0.1 and serve in background threads."""
        if self._server is not None or self._stopping:
            raise RuntimeError("a LambdaRuntime can be started once")
        server = _Server(self)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": _POLL_S},
            name=f"lambda-runtime-{server.server_address[1]}",
        )
        self._thread.start()
        return self

    def stop(self, grace_s: float = 2.0) -> None:
        """Make the runtime processes exit, then close every socket and join every thread.

        Pending and later ``/next`` polls are answered with :data:`SHUTDOWN_STATUS`, on
        which awslambdaric exits. Each process started by :func:`start_runtime_process`
        gets ``grace_s`` seconds to do so before it is terminated. Idempotent.
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

    def __enter__(self) -> LambdaRuntime:
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
            raise RuntimeError("the LambdaRuntime is not running")
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    # ---- invocations ---------------------------------------------------------------------

    def invoke(
        self, event: object, *, timeout_s: float = 10.0, request_id: str | None = None
    ) -> Invocation:
        """Queue one invocation of ``event`` (JSON-serialisable) and return at once.

        ``timeout_s`` is the function timeout: the deadline handed to the runtime is the
        moment it takes the invocation from ``/next`` plus ``timeout_s``.
        """
        json.dumps(event)  # fail here, not in a server thread
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        invocation = Invocation(
            request_id=request_id if request_id is not None else str(uuid.uuid4()),
            event=event,
            timeout_s=timeout_s,
            trace_id=_trace_id(),
        )
        with self._cond:
            if self._stopping:
                raise RuntimeError("the LambdaRuntime is stopped")
            if invocation.request_id in self._by_id:
                raise ValueError(f"request id {invocation.request_id!r} was already used")
            self._by_id[invocation.request_id] = invocation
            self._invocations.append(invocation)
            self._queue.append(invocation)
            self._cond.notify_all()
        return invocation

    def wait(self, invocation: Invocation, timeout: float = 30.0) -> Invocation:
        """Block until the runtime posted the invocation's response or error; return it.

        Raises RuntimeError as soon as every process started for this runtime has exited
        without answering (the message quotes any ``/init/error``), TimeoutError after
        ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while not invocation._done.wait(_POLL_S):
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

    @property
    def invocations(self) -> list[Invocation]:
        """Every invocation queued so far, in order."""
        with self._cond:
            return list(self._invocations)

    @property
    def init_errors(self) -> list[InitError]:
        """Every ``/init/error`` post, in order."""
        with self._cond:
            return list(self._init_errors)

    @property
    def problems(self) -> list[str]:
        """Protocol violations and server-side failures seen so far (empty when all went well)."""
        with self._cond:
            return list(self._problems)

    # ---- internals used by the request handler -------------------------------------------

    def _attach(self, process: RuntimeProcess) -> None:
        with self._cond:
            self._processes.append(process)

    def _problem(self, text: str) -> None:
        with self._cond:
            self._problems.append(text)

    def _take_next(self, connection: socket.socket) -> Invocation | None:
        """The next queued invocation, waiting for one; None once stopping or the peer left."""
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

    def _requeue(self, invocation: Invocation) -> None:
        with self._cond:
            invocation.deadline_epoch_ms = None
            invocation.delivered_at_epoch = invocation.delivered_at_monotonic = None
            self._queue.appendleft(invocation)
            self._cond.notify_all()

    def _record_result(
        self,
        request_id: str,
        kind: Literal["response", "error"],
        body: bytes,
        headers: dict[str, str],
    ) -> str | None:
        """Store an outcome; the reason it is refused, or None."""
        epoch, monotonic = time.time(), time.monotonic()
        with self._cond:
            invocation = self._by_id.get(request_id)
            if invocation is None:
                return f"unknown request id {request_id!r}"
            if invocation.delivered_at_epoch is None:
                return f"request id {request_id!r} was not handed out by /next"
            if invocation.done:
                return f"request id {request_id!r} was already answered"
            parsed = _parse_json(body)
            if kind == "response":
                invocation.response = parsed
            else:
                invocation.error = parsed
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
        error = InitError(
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


class _Server(ThreadingHTTPServer):
    # Connection threads are joined by server_close(), so none outlives stop().
    daemon_threads = False
    block_on_close = True

    def __init__(self, runtime: LambdaRuntime) -> None:
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
        """Unblock every connection thread waiting for a request on a keep-alive connection.

        A connection serving a request is left to finish its answer; its handler closes
        it afterwards because the runtime is stopping.
        """
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
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output clean; outcomes are recorded on the runtime instead."""

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
        body = self._read_body()
        if body is None:
            return
        headers = {name.lower(): value for name, value in self.headers.items()}
        runtime = self.server.runtime
        if path == _INIT_ERROR_PATH:
            runtime._record_init_error(body, headers)
            self._send(202, {"status": "OK"})
            return
        match = _RESULT_PATH.match(path)
        if match is None:
            self._refuse(404, f"POST {self.path}: no such endpoint")
            return
        kind: Literal["response", "error"] = "response" if match["kind"] == "response" else "error"
        refused = runtime._record_result(unquote(match["id"]), kind, body, headers)
        if refused is not None:
            self._refuse(400, f"POST {self.path}: {refused}")
            return
        self._send(202, {"status": "OK"})

    def _read_body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if not 0 <= length <= _MAX_BODY:
            self.close_connection = True
            self._refuse(400, f"{self.command} {self.path}: bad Content-Length")
            return None
        body = self.rfile.read(length)
        if len(body) != length:
            self.close_connection = True
            return None  # the runtime hung up mid-body
        return body

    def _read_chunked(self) -> bytes | None:
        parts: list[bytes] = []
        size_total = 0
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
                return b"".join(parts)
            size_total += size
            if size_total > _MAX_BODY:
                self.close_connection = True
                self._refuse(400, f"{self.command} {self.path}: body too large")
                return None
            parts.append(self.rfile.read(size))
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


def start_runtime_process(
    runtime: LambdaRuntime,
    handler: str,
    *,
    cwd: str | Path,
    env: Mapping[str, str] | None = None,
    python: str = sys.executable,
    log_dir: str | Path | None = None,
) -> RuntimeProcess:
    """Start ``python -m awslambdaric <handler>`` polling ``runtime``; return at once.

    ``cwd`` is the task root: the process runs there and it leads ``PYTHONPATH``, so
    ``handler`` (``"module.function"``) names a module in it. The environment is this
    process's, minus proxy variables and the ones that switch awslambdaric into other
    modes, plus what Lambda sets (``AWS_LAMBDA_RUNTIME_API``, ``_HANDLER``,
    ``LAMBDA_TASK_ROOT``, ``AWS_LAMBDA_FUNCTION_*``, ``AWS_LAMBDA_LOG_*``,
    ``AWS_REGION``), then ``env`` on top. stdout and stderr go to fresh files in
    ``log_dir`` (default: ``cwd``), see :class:`RuntimeProcess`. The runtime's
    :meth:`~LambdaRuntime.stop` waits for the process.
    """
    task_root = Path(cwd).resolve()
    logs = Path(log_dir) if log_dir is not None else task_root
    child_env = {
        name: value
        for name, value in os.environ.items()
        if name not in _DROPPED_ENV and not name.lower().endswith("_proxy")
    }
    python_path = [str(task_root)]
    if child_env.get("PYTHONPATH"):
        python_path.append(child_env["PYTHONPATH"])
    child_env.update(
        {
            "AWS_LAMBDA_RUNTIME_API": runtime.address,
            "_HANDLER": handler,
            "LAMBDA_TASK_ROOT": str(task_root),
            "PYTHONPATH": os.pathsep.join(python_path),
            "AWS_LAMBDA_FUNCTION_NAME": runtime.function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(runtime.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{runtime.function_name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"{time.strftime('%Y/%m/%d')}/[$LATEST]"
            + secrets.token_hex(16),
            "AWS_REGION": runtime.region,
            "AWS_DEFAULT_REGION": runtime.region,
        }
    )
    if env is not None:
        child_env.update(env)
    out_fd, out_name = tempfile.mkstemp(prefix="awslambdaric-", suffix=".stdout", dir=logs)
    err_fd, err_name = tempfile.mkstemp(prefix="awslambdaric-", suffix=".stderr", dir=logs)
    try:
        process = RuntimeProcess(
            [python, "-m", "awslambdaric", handler],
            cwd=task_root,
            env=child_env,
            stdin=subprocess.DEVNULL,
            stdout=out_fd,
            stderr=err_fd,
        )
    finally:
        os.close(out_fd)
        os.close(err_fd)
    process.stdout_path = Path(out_name)
    process.stderr_path = Path(err_name)
    runtime._attach(process)
    return process


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
