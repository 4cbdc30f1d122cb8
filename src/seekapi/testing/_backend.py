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
"""

from __future__ import annotations

import contextlib
import copy
import errno
import hashlib
import hmac
import io
import itertools
import json
import logging
import math
import os
import secrets
import selectors
import shutil
import socket
import ssl
import struct
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from io import BufferedReader
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, get_args
from urllib.parse import quote, unquote

from ._http import (
    BodyReader,
    ClientGoneError,
    Headers,
    ProtocolError,
    RequestHead,
    chunk_frames,
    parse_request_head,
    response_head,
)
from ._multipart_parser import MultipartError, MultipartReader, Part, parse_boundary
from ._store import JobFolder, LedgerEntry

__all__ = ["Backend", "Fault", "FaultKind", "Job", "ReceivedFile", "RecordedRequest"]

_log = logging.getLogger("seekapi.testing")

FaultKind = Literal["status", "drop", "reset", "hang", "drip", "delay", "truncate", "redirect"]
_FAULT_KINDS: frozenset[str] = frozenset(get_args(FaultKind))

_RECORDED_MULTIPART_BYTES = 64 * 1024
_MAX_TEXT_PART = 64 * 1024
_CHUNK = 64 * 1024
_LINGER_SECONDS = 2.0
_JOIN_SECONDS = 10.0
_BODY_BYTES_PER_SECOND = 16 * 1024
"""A body may take ``request_timeout`` seconds plus one second per this many bytes received."""
_LOG_EVERY = 30.0
"""The same resource warning is logged at most once in this many seconds."""
_ACCEPT_BACKOFF = 0.1
# accept() errors that mean "out of resources for now", not a bug: wait, then go on.
_RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_FILL = (b"abcdefghijklmnopqrstuvwxyz0123456789" * (_CHUNK // 36 + 1))[:_CHUNK]
_ADMIN_PREFIX = "/v1/debug/"
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
_WILDCARD_HOSTS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}  # noqa: S104
# Fault headers that would contradict the framing this server writes itself.
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "connection"})


# Bounds of a fault's numbers: an hour is more than any test waits, and a million
# repeats more than any test sends.
_MAX_FAULT_SECONDS = 3600
_MAX_FAULT_COUNT = 1_000_000


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# -- public value types ------------------------------------------------------------------


@dataclass
class Fault:
    """A misbehaviour to apply to the next ``count`` requests that match it.

    A request matches when its method equals ``method`` (any method when ``None``) and
    its path (without the query) matches ``path`` (any path when ``None``). A ``path``
    names one endpoint exactly: ``/v1/internal/jobs/{id}/push`` matches that path only,
    not ``.../push/file``. A ``path`` ending with ``/`` matches every path that starts
    with it: ``/v1/internal/jobs/`` matches all the job endpoints, ``/input/`` every
    input. Faults are tried in the order they were injected; the first match is used
    and its count goes down by one. Requests to the admin API (``/v1/debug/...``) are
    only subject to faults whose ``path`` matches them (such as ``/v1/debug/``), so
    inspecting a job or arming another fault never uses one up.

    ``count`` is a whole number from 1 to 1,000,000; ``seconds`` and ``interval`` are
    from 0 to 3600; ``path`` starts with ``/``. Anything else is a :class:`ValueError`.

    Kinds:

    ``"status"``
        Answer ``status`` with ``headers`` and ``body``; the request is not processed.
    ``"redirect"``
        Answer ``status`` (302 unless a 3xx is given) with ``Location: location``; the
        request is not processed.
    ``"drop"``
        Close the connection without a response (FIN).
    ``"reset"``
        Abort the connection without a response (RST).
    ``"hang"``
        Send nothing for ``seconds`` (``0``: until :meth:`Backend.stop`), then close.
    ``"delay"``
        Wait ``seconds``, then answer normally.
    ``"drip"``
        Send the whole response (status line, headers, body) one byte every
        ``interval`` seconds.
    ``"truncate"``
        Declare the full ``Content-Length`` but send only half of the body, then close.

    ``after_body`` says when the fault fires. When true (the default) the request body
    is read first and, for ``drop``, ``reset``, ``hang``, ``delay``, ``drip`` and
    ``truncate``, the request is processed (stored, charged) before the fault: this is
    how a lost response is simulated. When false the fault fires right after the
    request headers, the body is never read and nothing is stored; ``delay`` then goes
    on to read and process the request, and ``drip``/``truncate`` deliver a 503 error
    saying the request was not processed.
    """

    kind: FaultKind
    count: int = 1
    path: str | None = None
    method: str | None = None
    status: int = 503
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    seconds: float = 0.0
    interval: float = 0.1
    location: str = ""
    after_body: bool = True

    def __post_init__(self) -> None:
        if self.kind not in _FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}")
        if not _is_int(self.count) or not 1 <= self.count <= _MAX_FAULT_COUNT:
            raise ValueError(f"count must be a whole number from 1 to {_MAX_FAULT_COUNT}")
        if not _is_int(self.status) or not 100 <= self.status <= 999:
            raise ValueError("status must be a three-digit HTTP status")
        for name, value in (("seconds", self.seconds), ("interval", self.interval)):
            # Also refuses NaN and infinities: every comparison with NaN is false.
            if not _is_number(value) or not 0 <= value <= _MAX_FAULT_SECONDS:
                raise ValueError(
                    f"{name} must be a number of seconds from 0 to {_MAX_FAULT_SECONDS}"
                )
        if self.path is not None and not self.path.startswith("/"):
            raise ValueError(f"path must start with '/', as a request path does: {self.path!r}")
        if self.kind == "redirect" and not self.location:
            raise ValueError("a redirect fault needs a location")

    def matches(self, method: str, path: str) -> bool:
        """Whether a request with this method and path is subject to the fault.

        ``path`` matches when it equals the fault's path, or when the fault's path ends
        with ``/`` and ``path`` starts with it.
        """
        if self.method is not None and self.method.upper() != method.upper():
            return False
        if self.path is None:
            return not path.startswith(_ADMIN_PREFIX)
        if self.path.endswith("/"):
            return path.startswith(self.path)
        return path == self.path

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict of every field (``body`` as text, undecodable bytes replaced)."""
        return {
            "kind": self.kind,
            "count": self.count,
            "path": self.path,
            "method": self.method,
            "status": self.status,
            "headers": dict(self.headers),
            "body": self.body.decode("utf-8", "replace"),
            "seconds": self.seconds,
            "interval": self.interval,
            "location": self.location,
            "after_body": self.after_body,
        }


@dataclass(frozen=True)
class RecordedRequest:
    """One request the backend received, as it was received.

    ``headers`` is case-insensitive (keys iterate in lower case). ``body`` is the whole
    body, except for file uploads (``/push/file``) where only its first 64 KiB are kept,
    and requests whose body was never read (faults with ``after_body=False``), where it
    is empty. ``connection_id`` is equal for requests on the same TCP connection.
    ``status`` is what was answered, or ``None`` when no status line was sent (dropped,
    reset, hung, or the client went away). ``fault`` names the injected fault applied.
    ``received_at`` is :func:`time.monotonic` when the request line arrived.
    """

    method: str
    path: str
    query: str
    headers: Headers
    body: bytes
    connection_id: int
    status: int | None
    received_at: float
    fault: FaultKind | None = None

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)

    def __repr__(self) -> str:
        # Headers and body hold the secret and the execution token: keep them out.
        return (
            f"RecordedRequest(method={self.method!r}, path={self.path!r}, "
            f"status={self.status!r}, connection_id={self.connection_id}, "
            f"body=<{len(self.body)} bytes>, fault={self.fault!r})"
        )


@dataclass(frozen=True)
class ReceivedFile:
    """A file uploaded with ``/push/file`` and written to the backend's directory.

    ``name`` is the ``name`` part, ``filename`` the ``filename`` parameter of the file
    part, ``content_type`` its Content-Type as sent; ``path`` is where it was stored: in
    the job folder's ``files/``, named after ``name`` as local mode names it (``-2``,
    ``-3``, ... before the extension when the name is taken).
    """

    name: str
    filename: str
    content_type: str
    size: int
    path: str
    sha256: str

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict of every field."""
        return {
            "name": self.name,
            "filename": self.filename,
            "content_type": self.content_type,
            "size": self.size,
            "path": self.path,
            "sha256": self.sha256,
        }


# -- jobs ----------------------------------------------------------------------------------


@dataclass
class _JobState:
    job_uuid: str
    execution_token: str
    input_url: str
    input_body: bytes | None  # None: generated on the fly
    input_length: int
    input_content_type: str
    input_chunked: bool
    charge_limit: int | None
    folder: JobFolder
    result: object = None
    pushes: list[dict[str, object]] = field(default_factory=list)
    files: list[ReceivedFile] = field(default_factory=list)
    charges: list[dict[str, object]] = field(default_factory=list)
    charge_replies: dict[str, dict[str, object]] = field(default_factory=dict)
    metered_event_count: int = 0
    request_ids: list[str] = field(default_factory=list)
    # Held while a push or charge is applied to both the files and the fields above, so
    # the two agree on the order (the backend's lock is not held during file writes).
    write_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def limit_reached(self) -> bool:
        return self.charge_limit is not None and self.metered_event_count >= self.charge_limit

    def view(self) -> dict[str, object]:
        # The debug endpoint's reply; the execution token stays out of it.
        return {
            "job_uuid": self.job_uuid,
            "result": self.result,
            "pushes": self.pushes,
            "files": [f.to_json() for f in self.files],
            "charges": self.charges,
            "metered_event_count": self.metered_event_count,
            "limit_reached": self.limit_reached,
            "charge_limit": self.charge_limit,
            "request_ids": self.request_ids,
            "directory": self.folder.path,
        }


class Job:
    """A live, thread-safe view of one job held by a :class:`Backend`.

    Every property returns a copy taken under the backend's lock, so it can be read
    while requests are being served.
    """

    __slots__ = ("_lock", "_state")

    def __init__(self, state: _JobState, lock: threading.Lock) -> None:
        self._state = state
        self._lock = lock

    @property
    def job_uuid(self) -> str:
        """The job's id, used in every backend path."""
        return self._state.job_uuid

    @property
    def execution_token(self) -> str:
        """The token every push and charge must carry."""
        return self._state.execution_token

    @property
    def input_url(self) -> str:
        """The presigned-style URL that serves the job's input."""
        return self._state.input_url

    @property
    def event(self) -> dict[str, str]:
        """A Lambda event for this job, as the platform sends it."""
        return {
            "job_uuid": self._state.job_uuid,
            "execution_token": self._state.execution_token,
            "input_presigned_url": self._state.input_url,
        }

    @property
    def charge_limit(self) -> int | None:
        """The metered-event count at which ``limit_reached`` turns true, if any."""
        return self._state.charge_limit

    @property
    def directory(self) -> Path:
        """The job's folder, in the local-mode layout (see :class:`Backend`)."""
        return Path(self._state.folder.path)

    @property
    def result(self) -> Any:
        """The ``data`` of the latest push, or ``None`` when nothing was pushed."""
        with self._lock:
            return copy.deepcopy(self._state.result)

    @property
    def pushes(self) -> list[dict[str, Any]]:
        """Every push in order, each ``{"data": ..., "type": ...}``."""
        with self._lock:
            return copy.deepcopy(self._state.pushes)

    @property
    def files(self) -> list[ReceivedFile]:
        """Every file received, in order."""
        with self._lock:
            return list(self._state.files)

    @property
    def charges(self) -> list[dict[str, Any]]:
        """The charges billed, in order, once per idempotency key, without the token.

        Those of an earlier run in the same job folder come first."""
        with self._lock:
            return copy.deepcopy(self._state.charges)

    @property
    def metered_event_count(self) -> int:
        """Units billed so far."""
        with self._lock:
            return self._state.metered_event_count

    @property
    def limit_reached(self) -> bool:
        """Whether the billed units have reached the charge limit."""
        with self._lock:
            return self._state.limit_reached

    @property
    def request_ids(self) -> list[str]:
        """Worker request ids registered for the job, in order."""
        with self._lock:
            return list(self._state.request_ids)

    def __repr__(self) -> str:
        with self._lock:
            s = self._state
            return (
                f"Job(job_uuid={s.job_uuid!r}, pushes={len(s.pushes)}, files={len(s.files)}, "
                f"metered_event_count={s.metered_event_count})"
            )


# -- connections -------------------------------------------------------------------------

_Outcome = Literal["keep", "close", "graceful", "reset"]


class _RequestTimeout(TimeoutError):
    """A request, or the wait for one, took longer than the emulator allows."""

    def __init__(self, phase: str) -> None:
        super().__init__(f"timed out waiting for {phase}")
        self.phase = phase


class _TimedReader(io.RawIOBase):
    """The connection's incoming bytes; every receive ends by the current deadline.

    :meth:`expect` sets the deadline for what is awaited next: a new request (idle), the
    rest of a request head, or a body, whose deadline moves on with every byte received
    (at :data:`_BODY_BYTES_PER_SECOND`), so a large upload that keeps moving is never
    cut off while one that trickles is.
    """

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self._sock = sock
        self._deadline = math.inf
        self._per_byte = 0.0
        self.phase = "a request"

    def expect(self, phase: str, seconds: float, *, per_byte: float = 0.0) -> None:
        self.phase = phase
        self._deadline = time.monotonic() + seconds
        self._per_byte = per_byte

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise _RequestTimeout(self.phase)
        self._sock.settimeout(left)
        try:
            got = self._sock.recv_into(buffer)
        except TimeoutError:
            raise _RequestTimeout(self.phase) from None
        self._deadline += got * self._per_byte
        return got


class _Connection:
    """One accepted TCP connection and the thread serving it."""

    def __init__(self, connection_id: int, sock: socket.socket, write_timeout: float) -> None:
        self.id = connection_id
        self.sock = sock
        self.write_timeout = write_timeout
        self.reader: _TimedReader | None = None
        self.rfile: BufferedReader | None = None
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()
        # new -> idle (waiting for a request) -> busy -> finishing (last write of a
        # keep-alive response) -> idle ...
        self.state = "new"
        self.closing = False
        self.closed = False
        self.done = threading.Event()

    def sendall(self, data: bytes | bytearray | memoryview) -> None:
        """Send ``data``; a client that stops reading for ``write_timeout`` s is dropped."""
        self.sock.settimeout(self.write_timeout)
        self.sock.sendall(data)

    def shutdown(self, how: int = socket.SHUT_RDWR) -> None:
        with self.lock:
            if not self.closed:
                # The plain socket method: on a TLS socket this skips close_notify and
                # leaves the TLS object in place for the thread still reading from it.
                with contextlib.suppress(OSError):
                    socket.socket.shutdown(self.sock, how)

    def close(self, *, reset: bool = False) -> None:
        with self.lock:
            if self.closed:
                return
            self.closed = True
            if reset:
                with contextlib.suppress(OSError):
                    self.sock.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
            if self.rfile is not None:
                with contextlib.suppress(OSError):
                    self.rfile.close()
            with contextlib.suppress(OSError):
                self.sock.close()


@dataclass
class _Response:
    status: int
    headers: list[tuple[str, str]]
    chunks: Iterable[bytes]
    length: int
    chunked: bool = False
    close: bool = False  # answer without reading the rest of the body, then close


@dataclass
class _Exchange:
    conn: _Connection
    head: RequestHead
    body: BodyReader
    index: int
    fault: Fault | None
    may_drain: bool = True


@dataclass(frozen=True)
class _FilePart:
    filename: str
    content_type: str


@dataclass
class _ArmedFault:
    fault: Fault
    remaining: int


class _Reject(Exception):
    def __init__(self, response: _Response) -> None:
        super().__init__(response.status)
        self.response = response


def _json_response(
    status: int, obj: object, headers: Iterable[tuple[str, str]] = (), *, close: bool = False
) -> _Response:
    body = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return _Response(
        status,
        [("Content-Type", "application/json"), *headers],
        [body],
        len(body),
        close=close,
    )


def _error(
    status: int,
    code: str,
    message: str,
    headers: Iterable[tuple[str, str]] = (),
    *,
    close: bool = False,
) -> _Response:
    obj = {"ok": False, "error": {"code": code, "message": message}}
    return _json_response(status, obj, headers, close=close)


def _forbidden() -> _Response:
    return _error(403, "forbidden", "wrong execution_token")


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


def _no_other_fields(body: Mapping[str, object], known: tuple[str, ...]) -> None:
    unknown = sorted(set(body) - set(known))
    if unknown:
        raise _Reject(
            _error(
                400,
                "bad_request",
                f"unknown field(s) {', '.join(unknown)}; expected some of {', '.join(known)}",
            )
        )


def _optional_text(body: Mapping[str, object], key: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _Reject(_error(400, "bad_request", f"{key} must be a non-blank string"))
    return value


def _fault_from_json(body: Mapping[str, object]) -> Fault:
    """The :class:`Fault` an admin request describes; :class:`_Reject` (400) if it cannot."""

    def bad(message: str) -> _Reject:
        return _Reject(_error(400, "bad_request", message))

    _no_other_fields(body, tuple(f.name for f in fields(Fault)))
    kind = body.get("kind")
    if not isinstance(kind, str):
        raise bad(f"kind must be one of {', '.join(sorted(_FAULT_KINDS))}")
    args: dict[str, Any] = {}
    for key, types in _FAULT_FIELD_TYPES.items():
        if key not in body or (body[key] is None and key in ("path", "method")):
            continue
        value = body[key]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise bad(f"{key} has the wrong type")
        args[key] = value
    headers = body.get("headers", {})
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise bad("headers must be an object of strings")
    raw = body.get("body", "")
    if not isinstance(raw, str):
        raise bad("body must be a string (sent as UTF-8)")
    try:
        return Fault(
            kind,  # type: ignore[arg-type]  # checked by Fault itself
            headers=headers,
            body=raw.encode("utf-8", "surrogatepass"),
            **args,
        )
    except ValueError as exc:
        raise bad(str(exc)) from None


_FAULT_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "count": (int,),
    "path": (str,),
    "method": (str,),
    "status": (int,),
    "seconds": (int, float),
    "interval": (int, float),
    "location": (str,),
    "after_body": (bool,),
}


def _generated_document(size: int) -> Iterator[bytes]:
    """A valid JSON object of exactly ``size`` (>= 2) bytes, in pieces of at most 64 KiB."""
    head, tail = b'{"padding":"', b'"}'
    if size < len(head) + len(tail):
        yield b"{" + b" " * (size - 2) + b"}"
        return
    yield head
    left = size - len(head) - len(tail)
    while left > 0:
        n = min(left, len(_FILL))
        yield _FILL[:n]
        left -= n
    yield tail


# The methods each endpoint answers, as a 405 names them in its Allow header.
_METHODS: dict[str, tuple[str, ...]] = {
    "push": ("POST",),
    "push/file": ("POST",),
    "charge": ("POST",),
    "worker-request-id": ("POST",),
    "input": ("GET",),
    "debug": ("GET",),
    "debug/jobs": ("GET", "POST"),
    "debug/faults": ("GET", "POST", "DELETE"),
}


def _route(path: str) -> tuple[str, str] | None:
    """``(endpoint, job_uuid)`` for a known path (``job_uuid`` empty if none), else ``None``."""
    seg = path.split("/")
    if len(seg) >= 6 and seg[1:4] == ["v1", "internal", "jobs"] and seg[4]:
        tail = "/".join(seg[5:])
        if tail in ("push", "push/file", "charge", "worker-request-id"):
            return tail, unquote(seg[4])
    if len(seg) == 3 and seg[1] == "input" and seg[2]:
        return "input", unquote(seg[2])
    if len(seg) == 5 and seg[1:4] == ["v1", "debug", "jobs"] and seg[4]:
        return "debug", unquote(seg[4])
    if len(seg) == 4 and seg[1:3] == ["v1", "debug"] and seg[3] in ("jobs", "faults"):
        return f"debug/{seg[3]}", ""
    return None


def _resume_ledger(state: _JobState, entries: Iterable[LedgerEntry]) -> None:
    """Carry the charges of a ledger left by an earlier run over to a new job.

    ``entries`` come from the ledger's one rule (``seekapi._local.read_ledger``), which
    local mode and ``seekapi run`` apply too, so all count the same total. Each key
    stays billed, once, and a repeat of it gets the answer it would have got then: the
    count just after it was billed, and whether that reached this job's limit.
    """
    for entry in entries:
        if entry.idempotency_key in state.charge_replies:
            continue  # billed once, whatever lists it twice
        state.metered_event_count += entry.count
        record: dict[str, object] = {"idempotency_key": entry.idempotency_key, "count": entry.count}
        if entry.justification is not None:  # null is what the ledger writes for none
            record["justification"] = entry.justification
        state.charges.append(record)
        state.charge_replies[entry.idempotency_key] = {
            "ok": True,
            "metered_event_count": state.metered_event_count,
            "limit_reached": state.limit_reached,
        }


def _is_loopback(host: str) -> bool:
    return host in _LOOPBACK_HOSTS or host.startswith("127.")


def _check_seconds(name: str, value: object) -> float:
    # Also refuses NaN: every comparison with NaN is false.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise ValueError(f"{name} must be a positive, finite number of seconds")
    return float(value)


def _refusal(message: str) -> bytes:
    """A whole 503 answer that closes the connection, for a connection not served."""
    body = json.dumps({"ok": False, "error": {"code": "unavailable", "message": message}}).encode(
        "utf-8"
    )
    head = response_head(
        503, [("Content-Type", "application/json")], length=len(body), keep_alive=False
    )
    return head + body


class _RateLimitedLog:
    """Warnings about running out of something: the first at once, then one per period."""

    def __init__(self, period: float) -> None:
        self._period = period
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._skipped: dict[str, int] = {}

    def warning(self, key: str, message: str) -> None:
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self._period:
                self._skipped[key] = self._skipped.get(key, 0) + 1
                return
            self._last[key] = now
            skipped = self._skipped.pop(key, 0)
        if skipped:
            message += f" ({skipped} more times since the last such message)"
        _log.warning("%s", message)


def _check_charge_limit(limit: int | None) -> None:
    if limit is not None and (type(limit) is not int or limit < 0):
        raise ValueError("charge_limit must be None or a whole number of units >= 0")


# -- the server ----------------------------------------------------------------------------


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
        _check_charge_limit(charge_limit)
        self._idle_timeout = _check_seconds("idle_timeout", idle_timeout)
        self._request_timeout = _check_seconds("request_timeout", request_timeout)
        if not _is_int(max_connections) or max_connections < 1:
            raise ValueError("max_connections must be a whole number >= 1")
        self._max_connections = max_connections
        self._warnings = _RateLimitedLog(_LOG_EVERY)
        self._spare_fd: int | None = None
        self._secret = secret
        self._host = host
        self._port = port
        self._public_url = public_url.rstrip("/") if public_url else ""
        self._ssl_context = ssl_context
        self._directory = Path(directory) if directory is not None else None
        self._charge_limit = charge_limit
        self._max_json_bytes = max_json_bytes

        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._phase = "new"  # new -> running -> stopped
        self._jobs: dict[str, _JobState] = {}
        self._requests: list[RecordedRequest] = []
        self._faults: list[_ArmedFault] = []
        self._connections: dict[int, _Connection] = {}
        self._connection_seq = 0
        self._internal_errors: list[str] = []
        self._files_dir: Path | None = None
        self._temp_dir: str | None = None
        self._listener: socket.socket | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._url = ""
        self._bound: tuple[str, int] | None = None

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
            family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
            listener = socket.socket(family, socket.SOCK_STREAM)
            self._listener = listener
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((self._host, self._port))
            listener.listen(128)
            listener.setblocking(False)
            self._wake_r, self._wake_w = socket.socketpair()
            self._spare_fd = os.open(os.devnull, os.O_RDONLY)
            port = listener.getsockname()[1]
            self._bound = (self._host, port)
            scheme = "https" if self._ssl_context is not None else "http"
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
            self._accept_thread = threading.Thread(
                target=self._accept_loop, name="seekapi-backend-accept", daemon=True
            )
            self._accept_thread.start()
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
        if self._wake_w is not None:
            with contextlib.suppress(OSError):
                self._wake_w.send(b"\0")
        if self._accept_thread is not None:
            self._accept_thread.join(_JOIN_SECONDS)
        for sock in (self._listener, self._wake_r, self._wake_w):
            if sock is not None:
                sock.close()
        if self._spare_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._spare_fd)
            self._spare_fd = None
        with self._lock:
            connections = list(self._connections.values())
        for conn in connections:
            conn.shutdown()
        deadline = time.monotonic() + _JOIN_SECONDS
        stuck: list[str] = []
        threads = [c.thread for c in connections]
        threads.append(self._accept_thread)
        for thread in threads:
            if thread is not None:
                thread.join(max(0.0, deadline - time.monotonic()))
                if thread.is_alive():
                    stuck.append(thread.name)
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

    # -- configuration and inspection ------------------------------------------------

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
        with self._lock:
            return list(self._requests)

    @property
    def connections_accepted(self) -> int:
        """How many TCP connections have been served since :meth:`start`.

        Connections refused (past ``max_connections``, or for want of descriptors or
        threads) are not counted.
        """
        with self._lock:
            return self._connection_seq

    @property
    def internal_errors(self) -> list[str]:
        """Tracebacks of unexpected errors inside the backend (a bug if not empty)."""
        with self._lock:
            return list(self._internal_errors)

    @property
    def pending_faults(self) -> list[Fault]:
        """Injected faults not yet used up; each ``count`` is what remains of it."""
        with self._lock:
            return [replace(a.fault, count=a.remaining) for a in self._faults]

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
        """
        if sum(x is not None for x in (input, raw_input, input_size)) > 1:
            raise ValueError("give at most one of input, raw_input and input_size")
        _check_charge_limit(charge_limit)
        body: bytes | None
        if raw_input is not None:
            body = bytes(raw_input)
            length = len(body)
        elif input_size is not None:
            if input_size < 2:
                raise ValueError("input_size must be at least 2 bytes (the size of {})")
            body, length = None, input_size
        else:
            document = {} if input is None else input
            body = json.dumps(document, ensure_ascii=False, allow_nan=False).encode("utf-8")
            length = len(body)
        uid = str(uuid.uuid4()) if job_uuid is None else job_uuid
        if not uid.strip():
            raise ValueError("job_uuid must not be blank")
        with self._lock:
            if uid in self._jobs:
                raise ValueError(f"a job {uid!r} already exists")
        folder = JobFolder(str(self.directory), uid)
        state = _JobState(
            job_uuid=uid,
            execution_token=(
                f"exec-{secrets.token_hex(16)}" if execution_token is None else execution_token
            ),
            input_url=self.input_url(uid),
            input_body=body,
            input_length=length,
            input_content_type=input_content_type,
            input_chunked=(body is None) if input_chunked is None else input_chunked,
            charge_limit=self._charge_limit if charge_limit is None else charge_limit,
            folder=folder,
        )
        _resume_ledger(state, folder.read_charges())
        with self._lock:
            if uid in self._jobs:
                raise ValueError(f"a job {uid!r} already exists")
            self._jobs[uid] = state
        return Job(state, self._lock)

    def job(self, job_uuid: str) -> Job:
        """The job registered as ``job_uuid``; :class:`KeyError` if there is none."""
        with self._lock:
            return Job(self._jobs[job_uuid], self._lock)

    def inject(self, fault: Fault) -> None:
        """Arm ``fault`` after the faults already pending."""
        armed = replace(fault, headers=dict(fault.headers))
        with self._lock:
            self._faults.append(_ArmedFault(armed, fault.count))

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
        with self._lock:
            self._faults.clear()

    def close_idle_connections(self) -> int:
        """Close, from the server side (FIN), every connection idle between requests.

        A connection counts as idle once the last byte of its latest response has been
        handed to the socket. Returns how many were closed; they are closed when this
        returns. This is what a server or NAT dropping idle keep-alive connections does,
        for example while a Lambda is frozen between invocations.
        """
        with self._lock:
            connections = list(self._connections.values())
        closing: list[_Connection] = []
        for conn in connections:
            with conn.lock:
                if conn.closed or conn.closing or conn.state not in ("idle", "finishing"):
                    continue
                conn.closing = True
                if conn.state == "idle":
                    with contextlib.suppress(OSError):
                        socket.socket.shutdown(conn.sock, socket.SHUT_RDWR)
            closing.append(conn)
        for conn in closing:
            conn.done.wait(_JOIN_SECONDS)
        return len(closing)

    def __repr__(self) -> str:
        return f"Backend(url={self._url or None!r}, jobs={len(self._jobs)})"

    # -- accepting -------------------------------------------------------------------

    def _accept_loop(self) -> None:
        assert self._listener is not None
        assert self._wake_r is not None
        selector = selectors.DefaultSelector()
        try:
            selector.register(self._listener, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while not self._stop.is_set():
                for key, _ in selector.select():
                    if key.fileobj is self._wake_r:
                        return
                    try:
                        sock, _addr = self._listener.accept()
                    except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                        continue
                    except OSError as exc:
                        if self._stop.is_set():
                            return
                        if exc.errno in _RESOURCE_ERRNOS:
                            self._out_of_descriptors(exc)
                        else:
                            self._internal_error()
                            self._stop.wait(0.05)
                        continue
                    self._start_connection(sock)
        except Exception:  # noqa: BLE001 - recorded in internal_errors for the test to see
            self._internal_error()
        finally:
            selector.close()

    def _out_of_descriptors(self, exc: OSError) -> None:
        """accept() failed for want of descriptors or memory: refuse, warn, go on.

        The descriptor kept in reserve is given up for a moment to accept the waiting
        connection and refuse it at once, so clients are not left hanging in the
        backlog; without one to give, wait a little before trying again.
        """
        reason = os.strerror(exc.errno) if exc.errno is not None else str(exc)
        self._warnings.warning(
            "accept",
            f"the SeekAPI emulator cannot accept connections: {reason.lower()}"
            f" ({errno.errorcode.get(exc.errno or 0, 'error')}); refusing new ones until"
            " some close",
        )
        refused = False
        if self._spare_fd is not None and self._listener is not None:
            os.close(self._spare_fd)
            self._spare_fd = None
            try:
                sock, _addr = self._listener.accept()
            except OSError:
                pass
            else:
                self._refuse(sock, "the emulator is out of file descriptors")
                refused = True
            with contextlib.suppress(OSError):
                self._spare_fd = os.open(os.devnull, os.O_RDONLY)
        if not refused:
            self._stop.wait(_ACCEPT_BACKOFF)

    @staticmethod
    def _refuse(sock: socket.socket, message: str, *, plain: bool = True) -> None:
        """Answer 503 and close, without blocking: the accept loop must not wait on it.

        A TLS connection (``plain`` false) is closed without an answer.
        """
        if not plain:
            sock.close()
            return
        with contextlib.suppress(OSError):
            sock.setblocking(False)
            # What the client already sent is read first, so that closing does not reset
            # the connection before the client reads the answer.
            with contextlib.suppress(BlockingIOError, InterruptedError):
                for _ in range(16):
                    if not sock.recv(_CHUNK):
                        break
            sock.send(_refusal(message))
            sock.shutdown(socket.SHUT_WR)
        sock.close()

    def _start_connection(self, raw: socket.socket) -> None:
        plain = self._ssl_context is None
        with self._lock:
            serving = len(self._connections)
        if serving >= self._max_connections:
            self._warnings.warning(
                "connections",
                f"the SeekAPI emulator refused a connection: {serving} connections are"
                f" open, the most it serves at once (max_connections={self._max_connections})",
            )
            self._refuse(raw, "the emulator serves no more connections at once", plain=plain)
            return
        raw.setblocking(True)
        with contextlib.suppress(OSError):
            # Small replies (and dripped bytes) leave at once instead of waiting on Nagle.
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock = raw
        if self._ssl_context is not None:
            try:
                sock = self._ssl_context.wrap_socket(
                    raw, server_side=True, do_handshake_on_connect=False
                )
            except (OSError, ValueError):
                raw.close()
                return
        with self._lock:
            if self._stop.is_set():
                sock.close()
                return
            self._connection_seq += 1
            conn = _Connection(self._connection_seq, sock, self._request_timeout)
            conn.thread = threading.Thread(
                target=self._serve,
                args=(conn,),
                name=f"seekapi-backend-conn-{conn.id}",
                daemon=True,
            )
            self._connections[conn.id] = conn
            try:
                conn.thread.start()
            except RuntimeError as exc:  # "can't start new thread": out of memory or threads
                del self._connections[conn.id]
                self._connection_seq -= 1  # never served: its id is free again
                failed: RuntimeError | None = exc
            else:
                failed = None
        if failed is not None:
            self._warnings.warning(
                "threads",
                f"the SeekAPI emulator cannot start a thread for a new connection ({failed});"
                f" refusing it ({serving} connections are open)",
            )
            self._refuse(sock, "the emulator cannot serve another connection now", plain=plain)

    # -- serving a connection --------------------------------------------------------

    def _serve(self, conn: _Connection) -> None:
        outcome: _Outcome = "close"
        try:
            if isinstance(conn.sock, ssl.SSLSocket):
                try:
                    conn.sock.settimeout(self._request_timeout)
                    conn.sock.do_handshake()
                except (OSError, ValueError) as exc:
                    _log.debug("connection %d: TLS handshake failed: %s", conn.id, exc)
                    return
            conn.reader = _TimedReader(conn.sock)
            conn.rfile = BufferedReader(conn.reader)
            outcome = "keep"
            while outcome == "keep":
                outcome = self._serve_one(conn)
            if outcome == "graceful":
                self._linger(conn)
        except Exception:  # noqa: BLE001 - recorded in internal_errors for the test to see
            self._internal_error()
        finally:
            conn.close(reset=outcome == "reset")
            with self._lock:
                self._connections.pop(conn.id, None)
            conn.done.set()

    def _serve_one(self, conn: _Connection) -> _Outcome:
        assert conn.rfile is not None
        assert conn.reader is not None
        with conn.lock:
            if conn.closing or self._stop.is_set():
                return "close"
            conn.state = "idle"
        conn.reader.expect("a request", self._idle_timeout)
        try:
            # Waits for the first byte of a request (or takes one read ahead).
            started = bool(conn.rfile.peek(1))
        except _RequestTimeout:
            _log.debug("connection %d: idle for %g s, closed", conn.id, self._idle_timeout)
            started = False
        except (OSError, ValueError):
            started = False
        with conn.lock:
            conn.state = "busy"
            if conn.closing:
                return "close"
        if not started:
            return "close"
        conn.reader.expect("the request head", self._request_timeout)
        try:
            line = conn.rfile.readline(65537)
        except _RequestTimeout as exc:
            return self._timed_out(conn, exc)
        except (OSError, ValueError):
            return "close"
        if not line:
            return "close"
        if line in (b"\r\n", b"\n"):
            return "keep"  # a stray empty line between requests is allowed (RFC 9112 §2.2)
        try:
            return self._handle(conn, line)
        except (ClientGoneError, OSError) as exc:
            _log.debug("connection %d: ended during a request: %s", conn.id, exc)
            return "close"

    def _handle(self, conn: _Connection, line: bytes) -> _Outcome:
        assert conn.rfile is not None
        received_at = time.monotonic()
        try:
            head = parse_request_head(line, conn.rfile)
        except ProtocolError as exc:
            self._send(conn, _error(exc.status, "bad_request", exc.message), keep=False)
            return "graceful"
        except _RequestTimeout as exc:
            return self._timed_out(conn, exc)
        index = self._record_start(head, conn.id, received_at)
        fault = self._take_fault(head.method, head.path)
        expects_continue = head.version == "HTTP/1.1" and "100-continue" in head.headers.tokens(
            "expect"
        )

        def start_body() -> None:
            assert conn.reader is not None
            per_byte = 1.0 / _BODY_BYTES_PER_SECOND
            conn.reader.expect("the request body", self._request_timeout, per_byte=per_byte)
            if expects_continue:
                conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")

        try:
            body = BodyReader.for_request(head, conn.rfile, start_body)
        except ProtocolError as exc:
            response = _error(exc.status, "bad_request", exc.message)
            self._record_finish(index, b"", response.status, None)
            self._send(conn, response, keep=False)
            return "graceful"
        body.capture_limit = (
            _RECORDED_MULTIPART_BYTES if head.path.endswith("/push/file") else self._max_json_bytes
        )
        exchange = _Exchange(conn, head, body, index, fault)
        try:
            return self._exchange(exchange)
        except ProtocolError as exc:
            response = _error(exc.status, "bad_request", exc.message)
            self._record_finish(index, body.captured, response.status, None)
            self._send(conn, response, keep=False)
            return "graceful"
        except _RequestTimeout as exc:
            self._record_finish(index, body.captured, 408, fault.kind if fault else None)
            return self._timed_out(conn, exc)
        except (ClientGoneError, OSError):
            self._record_finish(index, body.captured, None, fault.kind if fault else None)
            raise
        except Exception:  # noqa: BLE001 - recorded, and answered with 500
            self._internal_error()
            response = _error(500, "internal_error", "the test backend failed; see its log")
            self._record_finish(index, body.captured, response.status, None)
            self._send(conn, response, keep=False)
            return "graceful"

    def _timed_out(self, conn: _Connection, exc: _RequestTimeout) -> _Outcome:
        """Answer 408 to a request that did not arrive in time; the connection ends."""
        _log.debug("connection %d: %s", conn.id, exc)
        response = _error(
            408,
            "request_timeout",
            f"{exc.phase} did not arrive within the emulator's time limit (request_timeout)",
        )
        try:
            self._send(conn, response, keep=False)
        except OSError:
            return "close"
        return "graceful"

    def _exchange(self, x: _Exchange) -> _Outcome:
        fault = x.fault
        if fault is not None and not fault.after_body:
            if fault.kind == "delay":
                if self._stop.wait(fault.seconds):
                    self._record_finish(x.index, b"", None, fault.kind)
                    return "close"
                return self._finish(x, self._dispatch(x), None)
            x.may_drain = False
            if fault.kind in ("drop", "reset", "hang"):
                return self._finish(x, None, fault)
            if fault.kind in ("status", "redirect"):
                return self._finish(x, self._fault_response(fault), None)
            not_processed = _error(
                503, "not_processed", "the request was not processed (injected fault)"
            )
            return self._finish(x, not_processed, fault)
        if fault is not None and fault.kind in ("status", "redirect"):
            x.body.drain()
            return self._finish(x, self._fault_response(fault), None)
        return self._finish(x, self._dispatch(x), fault)

    def _finish(self, x: _Exchange, response: _Response | None, action: Fault | None) -> _Outcome:
        """Answer the exchange (or apply the connection fault ``action``)."""
        keep = x.head.keep_alive and not self._stop.is_set()
        if response is not None and response.close:
            x.may_drain = False
        if not x.body.finished:
            waiting_for_continue = (
                not x.body.started
                and x.head.version == "HTTP/1.1"
                and "100-continue" in x.head.headers.tokens("expect")
            )
            if x.may_drain and not waiting_for_continue:
                x.body.drain()
            else:
                keep = False
        fault_kind = x.fault.kind if x.fault is not None else None
        kind = action.kind if action is not None else None
        if response is None or kind in ("drop", "reset", "hang"):
            self._record_finish(x.index, x.body.captured, None, fault_kind)
            if action is not None and action.kind == "hang":
                self._stop.wait(action.seconds or None)
            return "reset" if kind == "reset" else "graceful"
        if action is not None and action.kind == "delay" and self._stop.wait(action.seconds):
            self._record_finish(x.index, x.body.captured, None, fault_kind)
            return "close"
        self._record_finish(x.index, x.body.captured, response.status, fault_kind)
        if x.head.method == "HEAD":
            response = replace(response, chunks=(), chunked=False)
        _log.debug("%s %s -> %d", x.head.method, x.head.path, response.status)
        if action is not None and action.kind == "drip":
            if not self._send_drip(x.conn, response, keep, action.interval):
                return "close"
        elif action is not None and action.kind == "truncate":
            self._send_truncated(x.conn, response, keep)
            return "graceful"
        else:
            self._send(x.conn, response, keep=keep)
        return "keep" if keep else "graceful"

    # -- writing ---------------------------------------------------------------------

    def _send(self, conn: _Connection, response: _Response, *, keep: bool) -> None:
        length = None if response.chunked else response.length
        head = response_head(response.status, response.headers, length=length, keep_alive=keep)
        frames = chunk_frames(response.chunks) if response.chunked else response.chunks
        # Hold back the last piece so the connection can be marked idle just before it
        # goes out: a client that has read the whole response finds it idle.
        pending = bytearray(head)
        for piece in frames:
            if len(pending) >= _CHUNK:
                conn.sendall(pending)
                pending = bytearray(piece)
            else:
                pending += piece
        if keep:
            with conn.lock:
                conn.state = "finishing"
        conn.sendall(pending)

    def _send_drip(
        self, conn: _Connection, response: _Response, keep: bool, interval: float
    ) -> bool:
        length = None if response.chunked else response.length
        head = response_head(response.status, response.headers, length=length, keep_alive=keep)
        frames = chunk_frames(response.chunks) if response.chunked else response.chunks
        first = True
        for piece in itertools.chain((head,), frames):
            for i in range(len(piece)):
                if not first and self._stop.wait(interval):
                    return False
                first = False
                conn.sendall(piece[i : i + 1])
        return True

    def _send_truncated(self, conn: _Connection, response: _Response, keep: bool) -> None:
        declared = max(response.length, 1)
        left = response.length // 2
        head = response_head(response.status, response.headers, length=declared, keep_alive=keep)
        conn.sendall(head)
        for piece in response.chunks:
            if left <= 0:
                break
            conn.sendall(piece[:left])
            left -= len(piece)

    def _linger(self, conn: _Connection) -> None:
        """Send FIN, then read until the client closes (briefly) before closing.

        Closing a socket with unread input makes the kernel send RST, which the client
        may see before it reads the reply: reading the rest first makes the close a FIN.
        """
        conn.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + _LINGER_SECONDS
        with contextlib.suppress(OSError, ValueError):
            while not self._stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                conn.sock.settimeout(left)
                if not conn.sock.recv(_CHUNK):
                    break

    # -- endpoints -------------------------------------------------------------------

    def _dispatch(self, x: _Exchange) -> _Response:
        route = _route(x.head.path)
        if route is None:
            return _error(404, "not_found", "no such endpoint")
        endpoint, job_uuid = route
        allowed = _METHODS[endpoint]
        if x.head.method not in allowed:
            return _error(
                405,
                "method_not_allowed",
                f"use {' or '.join(allowed)} for this endpoint",
                [("Allow", ", ".join(allowed))],
            )
        if endpoint != "input" and not self._secret_ok(x.head.headers):
            return _error(401, "unauthorized", "missing or wrong X-Internal-Secret header")
        try:
            if endpoint.startswith("debug/"):
                return self._admin(x, endpoint)
            with self._lock:
                job = self._jobs.get(job_uuid)
            if job is None:
                return _error(404, "job_not_found", "no such job")
            if endpoint == "input":
                return self._serve_input(job)
            if endpoint == "debug":
                with self._lock:
                    return _json_response(200, job.view())
            if endpoint == "push/file":
                return self._push_file(x, job)
            body = self._read_json(x)
            if endpoint == "push":
                return self._push(body, job)
            if endpoint == "charge":
                return self._charge(body, job)
            return self._worker_request_id(body, job)
        except _Reject as reject:
            return reject.response

    # -- the admin API ---------------------------------------------------------------

    def _admin(self, x: _Exchange, endpoint: str) -> _Response:
        method = x.head.method
        if endpoint == "debug/jobs":
            if method == "GET":
                with self._lock:
                    jobs = [
                        {
                            "job_uuid": job.job_uuid,
                            "pushes": len(job.pushes),
                            "files": len(job.files),
                            "metered_event_count": job.metered_event_count,
                            "limit_reached": job.limit_reached,
                            "directory": job.folder.path,
                        }
                        for job in self._jobs.values()
                    ]
                return _json_response(200, {"jobs": jobs})
            return self._admin_create_job(self._read_json(x, admin=True))
        if method == "GET":
            return _json_response(200, {"faults": [f.to_json() for f in self.pending_faults]})
        if method == "DELETE":
            with self._lock:
                cleared = len(self._faults)
                self._faults.clear()
            return _json_response(200, {"ok": True, "cleared": cleared})
        self.inject(_fault_from_json(self._read_json(x, admin=True)))
        return _json_response(
            201, {"ok": True, "faults": [f.to_json() for f in self.pending_faults]}
        )

    def _admin_create_job(self, body: dict[str, Any]) -> _Response:
        _no_other_fields(body, ("input", "job_uuid", "execution_token", "charge_limit"))
        job_uuid = _optional_text(body, "job_uuid")
        token = _optional_text(body, "execution_token")
        limit = body.get("charge_limit")
        if limit is not None and (type(limit) is not int or limit < 0):
            raise self._bad("charge_limit must be null or a whole number >= 0")
        if job_uuid is not None:
            with self._lock:
                if job_uuid in self._jobs:
                    return _error(409, "conflict", "a job with this job_uuid already exists")
        try:
            job = self.create_job(
                body.get("input"), job_uuid=job_uuid, execution_token=token, charge_limit=limit
            )
        except ValueError as exc:
            raise self._bad(str(exc)) from None
        location = f"{_ADMIN_PREFIX}jobs/{quote(job.job_uuid, safe='')}"
        return _json_response(201, job.event, [("Location", location)])

    def _secret_ok(self, headers: Headers) -> bool:
        given = headers.get("x-internal-secret")
        if given is None:
            return False
        return hmac.compare_digest(given.encode("latin-1"), self._secret.encode("utf-8"))

    def _read_json(self, x: _Exchange, *, admin: bool = False) -> dict[str, Any]:
        """The body as a JSON object; the admin API takes any Content-Type and no body."""
        media_type = x.head.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/json" and not admin:
            raise _Reject(
                _error(415, "unsupported_media_type", "Content-Type must be application/json")
            )
        declared = x.body.declared_length
        too_large = _error(
            413,
            "payload_too_large",
            f"the body is larger than {self._max_json_bytes} bytes",
            close=True,
        )
        if declared is not None and declared > self._max_json_bytes:
            raise _Reject(too_large)
        raw = x.body.read_all(self._max_json_bytes)
        if raw is None:
            raise _Reject(too_large)
        if admin and not raw.strip():
            return {}
        try:
            obj = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise _Reject(_error(400, "bad_request", "the body is not valid UTF-8 JSON")) from None
        if not isinstance(obj, dict):
            raise _Reject(_error(400, "bad_request", "the body must be a JSON object"))
        return obj

    @staticmethod
    def _bad(message: str) -> _Reject:
        return _Reject(_error(400, "bad_request", message))

    def _require_token(self, body: dict[str, Any]) -> str:
        token = body.get("execution_token")
        if not isinstance(token, str):
            raise self._bad("execution_token is missing or not a string")
        return token

    @staticmethod
    def _token_ok(token: str, job: _JobState) -> bool:
        return hmac.compare_digest(token.encode("utf-8"), job.execution_token.encode("utf-8"))

    def _push(self, body: dict[str, Any], job: _JobState) -> _Response:
        token = self._require_token(body)
        if "data" not in body:
            raise self._bad("data is missing")
        kind = body.get("type")
        if not isinstance(kind, str):
            raise self._bad("type is missing or not a string")
        if not self._token_ok(token, job):
            return _forbidden()
        with job.write_lock:
            job.folder.push_data(job.job_uuid, token, body["data"], kind)
            with self._lock:
                job.pushes.append({"data": body["data"], "type": kind})
                job.result = body["data"]
        return _json_response(200, {"ok": True})

    def _charge(self, body: dict[str, Any], job: _JobState) -> _Response:
        token = self._require_token(body)
        key = body.get("idempotency_key")
        if not isinstance(key, str) or not key.strip():
            raise self._bad("idempotency_key is missing or blank")
        count = body.get("count")
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise self._bad("count must be a positive integer")
        if "justification" in body and not isinstance(body["justification"], dict):
            raise self._bad("justification must be a JSON object")
        if not self._token_ok(token, job):
            return _forbidden()
        with job.write_lock:
            with self._lock:
                reply = job.charge_replies.get(key)
            if reply is None:
                # Billed once per key: a repeat gets the first answer again.
                job.folder.record_charge(job.job_uuid, key, count, body.get("justification"))
                with self._lock:
                    job.metered_event_count += count
                    record: dict[str, object] = {"idempotency_key": key, "count": count}
                    if "justification" in body:
                        record["justification"] = body["justification"]
                    job.charges.append(record)
                    reply = {
                        "ok": True,
                        "metered_event_count": job.metered_event_count,
                        "limit_reached": job.limit_reached,
                    }
                    job.charge_replies[key] = reply
        return _json_response(200, reply)

    def _worker_request_id(self, body: dict[str, Any], job: _JobState) -> _Response:
        request_id = body.get("request_id")
        if not isinstance(request_id, str) or not request_id:
            raise self._bad("request_id is missing or not a non-empty string")
        with self._lock:
            job.request_ids.append(request_id)
        return _json_response(200, {"ok": True})

    def _serve_input(self, job: _JobState) -> _Response:
        chunks: Iterable[bytes]
        if job.input_body is not None:
            chunks = [job.input_body]
        else:
            chunks = _generated_document(job.input_length)
        return _Response(
            200,
            [("Content-Type", job.input_content_type)],
            chunks,
            job.input_length,
            chunked=job.input_chunked,
        )

    def _push_file(self, x: _Exchange, job: _JobState) -> _Response:
        try:
            boundary = parse_boundary(x.head.headers.get("content-type"))
        except MultipartError as exc:
            raise self._bad(str(exc)) from None
        reader = MultipartReader(x.body.read, boundary, chunk_size=_CHUNK)
        target: str | None = None
        try:
            token = self._text_part(reader, reader.next_part(), "execution_token", 1)
            name = self._text_part(reader, reader.next_part(), "name", 2)
            part = self._file_part(reader.next_part())
            allowed = self._token_ok(token, job)
            digest = hashlib.sha256()
            size = 0
            if allowed:
                # Named as local mode names a pushed file: after the name part.
                stored_name, target, fd = job.folder.claim_file(name or part.filename)
                with open(fd, "wb", closefd=True) as out:
                    while chunk := reader.read():
                        out.write(chunk)
                        digest.update(chunk)
                        size += len(chunk)
            else:
                while reader.read():
                    pass
            self._expect_end(reader)
        except MultipartError as exc:
            self._discard(target)
            raise self._bad(f"malformed multipart body: {exc}") from None
        except BaseException:
            self._discard(target)
            raise
        if not allowed or target is None:
            return _forbidden()
        received = ReceivedFile(
            name=name,
            filename=part.filename,
            content_type=part.content_type,
            size=size,
            path=target,
            sha256=digest.hexdigest(),
        )
        with job.write_lock:
            job.folder.record_file(
                job.job_uuid, token, name, stored_name, target, part.content_type, size
            )
            with self._lock:
                job.files.append(received)
        return _json_response(200, {"ok": True})

    def _file_part(self, part: Part | None) -> _FilePart:
        if part is None or part.name != "file":
            raise self._bad('part 3 must be the file part (name="file")')
        if part.filename is None:
            raise self._bad("the file part has no filename parameter")
        if part.content_type is None:
            raise self._bad("the file part has no Content-Type")
        return _FilePart(part.filename, part.content_type)

    def _expect_end(self, reader: MultipartReader) -> None:
        if reader.next_part() is not None:
            raise self._bad("expected exactly three parts (execution_token, name, file), got more")

    def _text_part(self, reader: MultipartReader, part: Part | None, name: str, pos: int) -> str:
        if part is None or part.name != name:
            raise self._bad(f"part {pos} must be the text part name={name!r}")
        if part.filename is not None:
            raise self._bad(f"the {name} part must be text, not a file")
        try:
            return reader.read_all(_MAX_TEXT_PART).decode("utf-8")
        except UnicodeDecodeError:
            raise self._bad(f"the {name} part is not valid UTF-8") from None

    @staticmethod
    def _discard(target: str | None) -> None:
        if target is not None:
            with contextlib.suppress(OSError):
                os.unlink(target)

    @staticmethod
    def _fault_response(fault: Fault) -> _Response:
        headers = [(k, v) for k, v in fault.headers.items() if k.lower() not in _FRAMING_HEADERS]
        status = fault.status
        if fault.kind == "redirect":
            status = status if 300 <= status < 400 else 302
            headers.insert(0, ("Location", fault.location))
        return _Response(status, headers, [fault.body], len(fault.body))

    # -- bookkeeping -----------------------------------------------------------------

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for i, armed in enumerate(self._faults):
                if armed.fault.matches(method, path):
                    armed.remaining -= 1
                    if armed.remaining <= 0:
                        del self._faults[i]
                    return armed.fault
        return None

    def _record_start(self, head: RequestHead, connection_id: int, received_at: float) -> int:
        record = RecordedRequest(
            method=head.method,
            path=head.path,
            query=head.query,
            headers=head.headers,
            body=b"",
            connection_id=connection_id,
            status=None,
            received_at=received_at,
        )
        with self._lock:
            self._requests.append(record)
            return len(self._requests) - 1

    def _record_finish(
        self, index: int, body: bytes, status: int | None, fault: FaultKind | None
    ) -> None:
        with self._lock:
            self._requests[index] = replace(
                self._requests[index], body=body, status=status, fault=fault
            )

    def _internal_error(self) -> None:
        text = traceback.format_exc()
        _log.error("seekapi test backend: unexpected error\n%s", text)
        with self._lock:
            self._internal_errors.append(text)
