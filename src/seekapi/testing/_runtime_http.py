"""The HTTP side of the loopback Lambda Runtime API: what awslambdaric talks to.

A threaded HTTP/1.1 server on 127.0.0.1 serving ``/next``, ``/response``, ``/error`` and
``/init/error`` of API version 2018-06-01 from an :class:`InvocationBook`.
"""

from __future__ import annotations

import contextlib
import json
import re
import select
import socket
import socketserver
import sys
import threading
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from ._runtime_book import SHUTDOWN_STATUS, InvocationBook, too_large_error

__all__ = ["RuntimeHTTPServer"]

_API = "/2018-06-01/runtime"
_NEXT_PATH = f"{_API}/invocation/next"
_INIT_ERROR_PATH = f"{_API}/init/error"
_RESULT_PATH = re.compile(rf"^{_API}/invocation/(?P<id>[^/]+)/(?P<kind>response|error)$")
# Error bodies and init errors are kept whole up to this size; larger ones are read
# and dropped.
_MAX_KEPT_BODY = 32 * 1024 * 1024
_CHUNK = 1024 * 1024


class RuntimeHTTPServer(ThreadingHTTPServer):
    """Serves the Runtime API from ``book``; ``function_arn`` goes in each ``/next`` answer."""

    # Connection threads are joined by server_close(), so none outlives stop().
    daemon_threads = False
    block_on_close = True

    def __init__(self, book: InvocationBook, function_arn: str) -> None:
        self.book = book
        self.function_arn = function_arn
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
        if isinstance(exc, ConnectionError) or (isinstance(exc, OSError) and self.book.stopping):
            return
        self.book.problem(f"server error: {traceback.format_exc()}")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # The headers and the body are two writes: without this, the body of a /next answer
    # waits for the runtime's delayed ACK (40 ms on Linux) on a kept-alive connection.
    disable_nagle_algorithm = True
    server: RuntimeHTTPServer

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
            if self.server.book.stopping:
                self.close_connection = True

    def _get(self) -> None:
        path = urlsplit(self.path).path
        if path != _NEXT_PATH:
            self._refuse(404, f"GET {self.path}: no such endpoint")
            return
        book = self.server.book
        connection = self.connection
        invocation = book.take_next(lambda: _peer_closed(connection))
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
            self.send_header("Lambda-Runtime-Invoked-Function-Arn", self.server.function_arn)
            self.send_header("Lambda-Runtime-Trace-Id", invocation.trace_id)
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            book.requeue(invocation)
            raise

    def _post(self) -> None:
        path = urlsplit(self.path).path
        book = self.server.book
        match = _RESULT_PATH.match(path)
        is_response = match is not None and match["kind"] == "response"
        limit = book.max_response_bytes if is_response else _MAX_KEPT_BODY
        read = self._read_body(limit)
        if read is None:
            return
        body, size = read
        headers = {name.lower(): value for name, value in self.headers.items()}
        if path == _INIT_ERROR_PATH and body is not None:
            book.record_init_error(body, headers)
            self._send(202, {"status": "OK"})
            return
        if match is None or (body is None and not is_response):
            self._refuse(404 if match is None else 413, f"POST {self.path}: refused")
            return
        kind: Literal["response", "error"] = "response" if is_response else "error"
        refused = book.record_result(unquote(match["id"]), kind, body, size, headers)
        if refused is not None:
            self._refuse(400, f"POST {self.path}: {refused}")
        elif body is None:
            self._send(413, too_large_error(book.max_response_bytes))
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
        self.server.book.problem(problem)
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
