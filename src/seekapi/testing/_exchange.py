"""Serving a connection: its requests one after another, each recorded, faulted, answered.

:class:`ConnectionHandler` runs in the connection's own thread. For each request it
applies the limits (idle, head and body time), takes the fault the request matches,
reads the body as the fault says, asks the endpoints for the answer, records the
exchange and writes the answer, or does to the connection what the fault does.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from io import BufferedReader

from ._connection import (
    BODY_BYTES_PER_SECOND,
    ConnectionFate,
    EmulatorConnection,
    RequestTimedOut,
    TimedReader,
)
from ._faults import Fault, FaultSwitchboard, fault_response
from ._http import (
    BodyReader,
    ClientGoneError,
    MalformedRequestError,
    RequestHead,
    parse_request_head,
)
from ._recording import InternalErrors, RequestLog
from ._replies import EmulatorResponse, error_response

_log = logging.getLogger("seekapi.testing")

RECORDED_MULTIPART_BYTES = 64 * 1024
"""Of a file upload's body, only this much is kept in :class:`RecordedRequest`."""


def _expects_continue(head: RequestHead) -> bool:
    return head.version == "HTTP/1.1" and "100-continue" in head.headers.tokens("expect")


@dataclass
class RequestExchange:
    """One request being served: where it came from, its head, its body, its fault."""

    conn: EmulatorConnection
    head: RequestHead
    body: BodyReader
    index: int  # in the request log
    fault: Fault | None
    may_drain: bool = True


@dataclass(frozen=True)
class ServingLimits:
    """The time limits of a connection, and the largest JSON body recorded whole."""

    idle_timeout: float
    request_timeout: float
    max_json_bytes: int


class ConnectionHandler:
    """Serves the requests of one connection after another until it ends."""

    def __init__(
        self,
        *,
        limits: ServingLimits,
        answer: Callable[[RequestHead, BodyReader], EmulatorResponse],
        faults: FaultSwitchboard,
        requests: RequestLog,
        errors: InternalErrors,
        stop: threading.Event,
    ) -> None:
        self._idle_timeout = limits.idle_timeout
        self._request_timeout = limits.request_timeout
        self._max_json_bytes = limits.max_json_bytes
        self._answer = answer
        self._faults = faults
        self._requests = requests
        self._errors = errors
        self._stop = stop

    def serve(self, conn: EmulatorConnection) -> None:
        """Serve ``conn`` until it ends, then close it; run in the connection's thread."""
        outcome: ConnectionFate = "close"
        try:
            if isinstance(conn.sock, ssl.SSLSocket):
                try:
                    conn.sock.settimeout(self._request_timeout)
                    conn.sock.do_handshake()
                except (OSError, ValueError) as exc:
                    _log.debug("connection %d: TLS handshake failed: %s", conn.id, exc)
                    return
            conn.reader = TimedReader(conn.sock)
            conn.rfile = BufferedReader(conn.reader)
            outcome = "keep"
            while outcome == "keep":
                outcome = self._serve_one(conn)
            if outcome == "graceful":
                conn.linger(self._stop)
        except Exception:  # noqa: BLE001 - recorded in internal_errors for the test to see
            self._errors.record()
        finally:
            conn.close(reset=outcome == "reset")

    def _serve_one(self, conn: EmulatorConnection) -> ConnectionFate:
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
        except RequestTimedOut:
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
        except RequestTimedOut as exc:
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

    def _handle(self, conn: EmulatorConnection, line: bytes) -> ConnectionFate:
        assert conn.rfile is not None
        received_at = time.monotonic()
        try:
            head = parse_request_head(line, conn.rfile)
        except MalformedRequestError as exc:
            conn.send_response(error_response(exc.status, "bad_request", exc.message), keep=False)
            return "graceful"
        except RequestTimedOut as exc:
            return self._timed_out(conn, exc)
        index = self._requests.start(head, conn.id, received_at)
        fault = self._faults.take(head.method, head.path)
        try:
            body = BodyReader.for_request(head, conn.rfile, self._body_starter(conn, head))
        except MalformedRequestError as exc:
            response = error_response(exc.status, "bad_request", exc.message)
            self._requests.finish(index, b"", response.status, None)
            conn.send_response(response, keep=False)
            return "graceful"
        body.capture_limit = (
            RECORDED_MULTIPART_BYTES if head.path.endswith("/push/file") else self._max_json_bytes
        )
        exchange = RequestExchange(conn, head, body, index, fault)
        try:
            return self._exchange(exchange)
        except MalformedRequestError as exc:
            response = error_response(exc.status, "bad_request", exc.message)
            self._requests.finish(index, body.captured, response.status, None)
            conn.send_response(response, keep=False)
            return "graceful"
        except RequestTimedOut as exc:
            self._requests.finish(index, body.captured, 408, fault.kind if fault else None)
            return self._timed_out(conn, exc)
        except (ClientGoneError, OSError):
            self._requests.finish(index, body.captured, None, fault.kind if fault else None)
            raise
        except Exception:  # noqa: BLE001 - recorded, and answered with 500
            self._errors.record()
            response = error_response(500, "internal_error", "the test backend failed; see its log")
            self._requests.finish(index, body.captured, response.status, None)
            conn.send_response(response, keep=False)
            return "graceful"

    def _body_starter(self, conn: EmulatorConnection, head: RequestHead) -> Callable[[], None]:
        """What to do when the body is first read: time it, and answer 100 Continue."""
        expects_continue = _expects_continue(head)

        def start_body() -> None:
            assert conn.reader is not None
            per_byte = 1.0 / BODY_BYTES_PER_SECOND
            conn.reader.expect("the request body", self._request_timeout, per_byte=per_byte)
            if expects_continue:
                conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")

        return start_body

    def _timed_out(self, conn: EmulatorConnection, exc: RequestTimedOut) -> ConnectionFate:
        """Answer 408 to a request that did not arrive in time; the connection ends."""
        _log.debug("connection %d: %s", conn.id, exc)
        response = error_response(
            408,
            "request_timeout",
            f"{exc.phase} did not arrive within the emulator's time limit (request_timeout)",
        )
        try:
            conn.send_response(response, keep=False)
        except OSError:
            return "close"
        return "graceful"

    def _exchange(self, x: RequestExchange) -> ConnectionFate:
        fault = x.fault
        if fault is not None and not fault.after_body:
            if fault.kind == "delay":
                if self._stop.wait(fault.seconds):
                    self._requests.finish(x.index, b"", None, fault.kind)
                    return "close"
                return self._finish(x, self._answer(x.head, x.body), None)
            x.may_drain = False
            if fault.kind in ("drop", "reset", "hang"):
                return self._finish(x, None, fault)
            if fault.kind in ("status", "redirect"):
                return self._finish(x, fault_response(fault), None)
            not_processed = error_response(
                503, "not_processed", "the request was not processed (injected fault)"
            )
            return self._finish(x, not_processed, fault)
        if fault is not None and fault.kind in ("status", "redirect"):
            x.body.drain()
            return self._finish(x, fault_response(fault), None)
        return self._finish(x, self._answer(x.head, x.body), fault)

    def _finish(
        self, x: RequestExchange, response: EmulatorResponse | None, action: Fault | None
    ) -> ConnectionFate:
        """Answer the exchange (or apply the connection fault ``action``)."""
        keep = x.head.keep_alive and not self._stop.is_set()
        if response is not None and response.close:
            x.may_drain = False
        if not x.body.finished:
            waiting_for_continue = not x.body.started and _expects_continue(x.head)
            if x.may_drain and not waiting_for_continue:
                x.body.drain()
            else:
                keep = False
        fault_kind = x.fault.kind if x.fault is not None else None
        kind = action.kind if action is not None else None
        if response is None or kind in ("drop", "reset", "hang"):
            self._requests.finish(x.index, x.body.captured, None, fault_kind)
            if action is not None and action.kind == "hang":
                self._stop.wait(action.seconds or None)
            return "reset" if kind == "reset" else "graceful"
        if action is not None and action.kind == "delay" and self._stop.wait(action.seconds):
            self._requests.finish(x.index, x.body.captured, None, fault_kind)
            return "close"
        self._requests.finish(x.index, x.body.captured, response.status, fault_kind)
        if x.head.method == "HEAD":
            response = replace(response, chunks=(), chunked=False)
        _log.debug("%s %s -> %d", x.head.method, x.head.path, response.status)
        if action is not None and action.kind == "drip":
            if not x.conn.send_dripped(response, keep, action.interval, self._stop):
                return "close"
        elif action is not None and action.kind == "truncate":
            x.conn.send_truncated(response, keep)
            return "graceful"
        else:
            x.conn.send_response(response, keep=keep)
        return "keep" if keep else "graceful"
