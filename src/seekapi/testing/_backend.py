"""The SeekAPI backend emulator: a loopback HTTP/1.1 server speaking the wire contract.

:class:`Backend` serves the internal job endpoints (push, push file, charge, worker
request id) and a presigned-URL-like input endpoint for the jobs it creates, stores what
it receives in the local-mode layout, records every request, offers an admin API
(``/v1/debug/...``: create jobs, view them, inject faults) for a worker running in
another process, and injects faults on demand (error statuses, dropped or reset
connections, hangs, slow or truncated responses, redirects) so that behaviour under
failure can be tested against real sockets.

It is a development tool: it binds to 127.0.0.1 by default and has no protection beyond
the shared secret. Never expose it to a network you do not trust.

:class:`Backend` wires the parts, each in a module of its own: the server and its
connections (``_server``, ``_connection``), serving a request (``_exchange``), the
endpoints (``_dispatch``, ``_worker_api``, ``_admin_api``), faults (``_faults``), job
state (``_jobs``) and what was received (``_recording``).
"""

from __future__ import annotations

import logging
import math
import os
import secrets
import shutil
import ssl
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

from ._admin_api import AdminEndpoints
from ._contract_check import check_input
from ._dispatch import EndpointDispatcher
from ._exchange import ConnectionHandler, ServingLimits
from ._faults import Fault, FaultKind, FaultSwitchboard, is_whole_number
from ._jobs import EmulatedJob, JobBook, JobInput, ReceivedFile, check_charge_limit, job_input
from ._recording import InternalErrors, RecordedRequest, RequestLog
from ._server import ConnectionServer
from ._worker_api import WorkerEndpoints

__all__ = ["Backend", "Fault", "FaultKind", "Job", "ReceivedFile", "RecordedRequest"]

Job = EmulatedJob
"""The live view of a job, :class:`EmulatedJob`, under its exported name."""

_log = logging.getLogger("seekapi.testing")

_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
_WILDCARD_HOSTS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}  # noqa: S104


def _is_loopback(host: str) -> bool:
    return host in _LOOPBACK_HOSTS or host.startswith("127.")


def _check_seconds(name: str, value: object) -> float:
    # Also refuses NaN: every comparison with NaN is false.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise ValueError(f"{name} must be a positive, finite number of seconds")
    return float(value)


class Backend:
    """The SeekAPI backend emulator: a development tool, on a loopback socket by default.

    Use it as a context manager or call :meth:`start` and :meth:`stop`::

        with Backend() as backend:
            job = backend.create_job({"text": "hello"})
            os.environ.update(backend.env)
            handler(job.event, FakeLambdaContext())
            assert job.result == {...}

    Every connection is served by its own thread; connections are persistent (HTTP/1.1
    keep-alive) until the client sends ``Connection: close``, a fault ends them,
    :meth:`close_idle_connections` closes them or :meth:`stop` is called. With an
    ``ssl_context`` (a server-side context holding a certificate) it speaks HTTPS.

    What a job receives is kept in memory (:class:`Job`) and written under ``directory``
    in the local-mode layout, one folder per job (``docs/local-mode.md``):
    ``response_json.json``, ``data_pushes.jsonl``, ``file_pushes.jsonl``,
    ``charges.jsonl`` and ``files/``. Without a ``directory``, a temporary directory
    removed by :meth:`stop` is used. A folder that is already there (the same
    ``directory`` and job id as an earlier run) is added to, as in local mode, and its
    charge ledger carries over: the keys billed then are not billed again, and their
    units count in :attr:`Job.metered_event_count` and towards the limit.

    ``charge_limit`` is the default spending limit of every job (see
    :meth:`create_job`). JSON bodies larger than ``max_json_bytes`` are refused with 413.
    ``host`` is where it listens: keep the default, 127.0.0.1, unless a worker in a
    container must reach it (a warning is logged for any other address).
    ``public_url`` is the base URL to hand to workers (in :attr:`env` and input URLs)
    when they reach the emulator under another name, such as
    ``http://host.docker.internal:8787``.

    Limits, so that no client can starve it: a connection that carries no request for
    ``idle_timeout`` seconds is closed; a request head must arrive within
    ``request_timeout`` seconds of its first byte, and a body within
    ``request_timeout`` seconds plus one second per 16 KiB received (otherwise 408 and
    the connection is closed); a client that stops reading an answer for
    ``request_timeout`` seconds is dropped. At most ``max_connections`` connections are
    served at once: past that, a new connection is answered 503 and closed, and a
    warning is logged (at most one every 30 seconds, as for running out of file
    descriptors or threads).

    Status codes: 401 missing or wrong ``X-Internal-Secret``; 404 unknown path or job;
    405 wrong method; 415 a JSON endpoint called without ``Content-Type:
    application/json``; 400 a malformed body; 403 a well-formed body with the wrong
    ``execution_token``; 409 an admin request to create a job that exists; 413 a JSON
    body over the cap. Error bodies are ``{"ok": false, "error": {"code": ...,
    "message": ...}}`` and never hold the secret or a token.

    Admin API, for a worker driven from another process (every call needs the secret;
    see ``docs/emulator.md``): ``POST /v1/debug/jobs`` creates a job and answers its
    event, ``GET /v1/debug/jobs`` lists the jobs, ``GET /v1/debug/jobs/{job_uuid}``
    shows one, ``POST``/``GET``/``DELETE /v1/debug/faults`` arm, list and clear faults.
    """

    def __init__(
        self,
        *,
        secret: str = "test-secret",  # noqa: S107 - a fixed value for tests
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        directory: str | os.PathLike[str] | None = None,
        charge_limit: int | None = None,
        max_json_bytes: int = 64 * 1024 * 1024,
        public_url: str | None = None,
        idle_timeout: float = 30.0,
        request_timeout: float = 10.0,
        max_connections: int = 256,
    ) -> None:
        check_charge_limit(charge_limit)
        limits = ServingLimits(
            idle_timeout=_check_seconds("idle_timeout", idle_timeout),
            request_timeout=_check_seconds("request_timeout", request_timeout),
            max_json_bytes=max_json_bytes,
        )
        if not is_whole_number(max_connections) or max_connections < 1:
            raise ValueError("max_connections must be a whole number >= 1")
        self._secret = secret
        self._host = host
        self._port = port
        self._public_url = public_url.rstrip("/") if public_url else ""
        self._tls = ssl_context is not None
        self._directory = Path(directory) if directory is not None else None
        self._charge_limit = charge_limit

        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._phase = "new"  # new -> running -> stopped
        self._jobs = JobBook()
        self._faults = FaultSwitchboard()
        self._requests = RequestLog()
        self._errors = InternalErrors()
        self._server = self._assemble(secret, ssl_context, limits, max_connections)
        self._files_dir: Path | None = None
        self._temp_dir: str | None = None
        self._url = ""
        self._bound: tuple[str, int] | None = None

    def _assemble(
        self,
        secret: str,
        ssl_context: ssl.SSLContext | None,
        limits: ServingLimits,
        max_connections: int,
    ) -> ConnectionServer:
        """Wire the endpoints to the jobs and faults, and the server to the endpoints."""
        max_json_bytes = limits.max_json_bytes
        endpoints = EndpointDispatcher(
            secret,
            self._jobs,
            WorkerEndpoints(self._jobs, max_json_bytes),
            AdminEndpoints(self._jobs, self._faults, self.create_job, max_json_bytes),
        )
        handler = ConnectionHandler(
            limits=limits,
            answer=endpoints.answer,
            faults=self._faults,
            requests=self._requests,
            errors=self._errors,
            stop=self._stop,
        )
        return ConnectionServer(
            ssl_context=ssl_context,
            max_connections=max_connections,
            write_timeout=limits.request_timeout,
            serve=handler.serve,
            errors=self._errors,
            stop=self._stop,
        )

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> Backend:
        """Bind, listen and start serving; returns ``self``. A backend starts once."""
        with self._lock:
            if self._phase != "new":
                raise RuntimeError("a Backend can be started only once")
            self._phase = "running"
        try:
            if self._directory is not None:
                self._directory.mkdir(parents=True, exist_ok=True)
                self._files_dir = self._directory
            else:
                self._temp_dir = tempfile.mkdtemp(prefix="seekapi-backend-")
                self._files_dir = Path(self._temp_dir)
            port = self._server.listen(self._host, self._port)
            self._bound = (self._host, port)
            scheme = "https" if self._tls else "http"
            # A wildcard address accepts connections but is no address to connect to.
            reach = _WILDCARD_HOSTS.get(self._host, self._host)
            host = f"[{reach}]" if ":" in reach else reach
            self._url = self._public_url or f"{scheme}://{host}:{port}"
            if not _is_loopback(self._host):
                _log.warning(
                    "the SeekAPI emulator is listening on %s:%d: it is a development tool,"
                    " protected by its secret only; keep it off networks you do not trust",
                    self._host,
                    port,
                )
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Close the listener and every connection, join every thread, remove temp files.

        Hung and dripping responses end at once. Safe to call more than once. Raises
        :class:`RuntimeError` if a serving thread does not end within 10 seconds.
        """
        with self._lock:
            if self._phase == "stopped":
                return
            self._phase = "stopped"
        self._stop.set()
        stuck = self._server.close()
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
        if stuck:
            raise RuntimeError(f"backend threads did not stop: {', '.join(stuck)}")

    def __enter__(self) -> Backend:
        if self._phase == "new":
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL, ``http://127.0.0.1:PORT`` (``https`` with TLS), no trailing ``/``.

        ``public_url`` when one was given. On a wildcard ``host`` (``0.0.0.0``, ``::``),
        the loopback address of the same family.
        """
        if not self._url:
            raise RuntimeError("the backend has not been started")
        return self._url

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` the server listens on; the port is the real one when 0 was asked."""
        if self._bound is None:
            raise RuntimeError("the backend has not been started")
        return self._bound

    @property
    def directory(self) -> Path:
        """Where job folders are written (the temporary directory when none was given)."""
        if self._files_dir is None:
            raise RuntimeError("the backend has not been started")
        return self._files_dir

    @property
    def secret(self) -> str:
        """The internal secret the backend expects in ``X-Internal-Secret``."""
        return self._secret

    @property
    def env(self) -> dict[str, str]:
        """The environment the platform would give a worker talking to this backend."""
        return {"WORKER_API_BASE_URL": self.url, "WORKER_INTERNAL_SECRET": self._secret}

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, in arrival order.

        A request whose request line or headers cannot be parsed is answered with an
        error and not recorded.
        """
        return self._requests.snapshot()

    @property
    def connections_accepted(self) -> int:
        """How many TCP connections have been served since :meth:`start`.

        Connections refused (past ``max_connections``, or for want of descriptors or
        threads) are not counted.
        """
        return self._server.accepted

    @property
    def internal_errors(self) -> list[str]:
        """Tracebacks of unexpected errors inside the backend (a bug if not empty)."""
        return self._errors.snapshot()

    @property
    def pending_faults(self) -> list[Fault]:
        """Injected faults not yet used up; each ``count`` is what remains of it."""
        return self._faults.pending

    def input_url(self, job_uuid: str) -> str:
        """A URL shaped like an S3 presigned GET that serves ``job_uuid``'s input.

        Its query string carries a fresh random ``X-Amz-Signature`` on every call; the
        backend accepts any query.
        """
        day = time.strftime("%Y%m%d", time.gmtime())
        query = (
            "X-Amz-Algorithm=AWS4-HMAC-SHA256"
            f"&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F{day}%2Fus-east-1%2Fs3%2Faws4_request"
            f"&X-Amz-Date={day}T000000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host"
            f"&X-Amz-Signature={secrets.token_hex(32)}"
        )
        return f"{self.url}/input/{quote(job_uuid, safe='')}?{query}"

    def create_job(
        self,
        input: object = None,
        *,
        raw_input: bytes | None = None,
        job_uuid: str | None = None,
        execution_token: str | None = None,
        input_size: int | None = None,
        input_content_type: str = "application/json",
        charge_limit: int | None = None,
        input_chunked: bool | None = None,
        check: Callable[..., object] | None = None,
    ) -> Job:
        """Register a job and return a live view of it.

        The input served at :attr:`Job.input_url` is one of: ``input`` encoded as UTF-8
        JSON (``{}`` when ``None``); ``raw_input`` byte for byte (invalid JSON or UTF-8
        for error tests); or, with ``input_size``, a valid JSON object of exactly that
        many bytes generated while it is sent and never held in memory. The input is
        sent chunked when ``input_chunked`` is true and with ``Content-Length`` when it
        is false; by default generated inputs are chunked and the others are not.

        ``job_uuid`` defaults to a new UUID4, ``execution_token`` to a random token.
        ``charge_limit`` (a count of units, ``>= 0``) overrides the backend's default for
        this job: once the units billed reach it, charges answer ``limit_reached: true``.
        The job's folder is made at once (:attr:`Job.directory`). When it is already
        there, the charges in its ``charges.jsonl`` are the job's first charges: a
        repeat of one of their keys bills nothing and gets the answer it got then.

        ``check`` (a ``@seekapi.worker`` handler or an annotated worker function): the
        input that will be served (``input`` as JSON, or ``raw_input``) must match its
        input type, as ``run()`` would check it, or :class:`~seekapi.errors.InvalidValue`
        is raised (with ``details``) and no job is made.
        """
        if sum(x is not None for x in (input, raw_input, input_size)) > 1:
            raise ValueError("give at most one of input, raw_input and input_size")
        if check is not None:
            if input_size is not None:
                raise ValueError("check= needs input or raw_input, not a generated input_size")
            check_input(check, {} if input is None else input, raw_input)
        check_charge_limit(charge_limit)
        body, length = job_input(input, raw_input, input_size)
        uid = self._jobs.free_id(str(uuid.uuid4()) if job_uuid is None else job_uuid)
        served = JobInput(
            body=body,
            length=length,
            content_type=input_content_type,
            chunked=(body is None) if input_chunked is None else input_chunked,
        )
        return self._jobs.register(
            uid,
            execution_token=execution_token,
            input_url=self.input_url(uid),
            served=served,
            charge_limit=self._charge_limit if charge_limit is None else charge_limit,
            directory=str(self.directory),
        )

    def job(self, job_uuid: str) -> Job:
        """The job registered as ``job_uuid``; :class:`KeyError` if there is none."""
        return self._jobs.view_of(job_uuid)

    def inject(self, fault: Fault) -> None:
        """Arm ``fault`` after the faults already pending."""
        self._faults.inject(fault)

    def fail_next(
        self,
        count: int = 1,
        status: int = 503,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        path: str | None = None,
        method: str | None = None,
    ) -> None:
        """Answer the next ``count`` matching requests with ``status`` without processing."""
        self.inject(
            Fault(
                "status",
                count=count,
                status=status,
                headers=dict(headers or {}),
                body=body,
                path=path,
                method=method,
            )
        )

    def clear_faults(self) -> None:
        """Disarm every pending fault."""
        self._faults.clear()

    def close_idle_connections(self) -> int:
        """Close, from the server side (FIN), every connection idle between requests.

        A connection counts as idle once the last byte of its latest response has been
        handed to the socket. Returns how many were closed; they are closed when this
        returns. This is what a server or NAT dropping idle keep-alive connections does,
        for example while a Lambda is frozen between invocations.
        """
        return self._server.close_idle()

    def __repr__(self) -> str:
        return f"Backend(url={self._url or None!r}, jobs={len(self._jobs)})"
