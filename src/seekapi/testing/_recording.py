"""What the emulator saw: every request received, and its own unexpected errors."""

from __future__ import annotations

import json
import logging
import threading
import traceback
from dataclasses import dataclass, replace
from typing import Any

from ._faults import FaultKind
from ._http import Headers, RequestHead

_log = logging.getLogger("seekapi.testing")


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


class RequestLog:
    """Every request received, in arrival order; a request is recorded when its head
    has arrived and completed once it has been answered (or not)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []

    def start(self, head: RequestHead, connection_id: int, received_at: float) -> int:
        """Record a request whose head arrived; returns its index for :meth:`finish`."""
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

    def finish(self, index: int, body: bytes, status: int | None, fault: FaultKind | None) -> None:
        """Complete request ``index`` with its body, the status answered and the fault."""
        with self._lock:
            self._requests[index] = replace(
                self._requests[index], body=body, status=status, fault=fault
            )

    def snapshot(self) -> list[RecordedRequest]:
        """Every request so far."""
        with self._lock:
            return list(self._requests)


class InternalErrors:
    """Tracebacks of the emulator's own unexpected errors (a bug if there are any)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._errors: list[str] = []

    def record(self) -> None:
        """Log and keep the traceback of the exception being handled."""
        text = traceback.format_exc()
        _log.error("seekapi test backend: unexpected error\n%s", text)
        with self._lock:
            self._errors.append(text)

    def snapshot(self) -> list[str]:
        """Every traceback so far."""
        with self._lock:
            return list(self._errors)
