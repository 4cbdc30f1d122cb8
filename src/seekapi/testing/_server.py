"""The server: the listening socket, the accept loop, one thread per connection.

:class:`ConnectionServer` accepts connections, refuses those it cannot serve (past
``max_connections``, out of descriptors or threads: 503 and close, a warning at most
every 30 seconds), hands each other one to a thread of its own, and closes them all when
it stops. What is done with a connection is the ``serve`` callable's business.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable

from ._connection import CHUNK, EmulatorConnection
from ._http import response_head
from ._recording import InternalErrors

_log = logging.getLogger("seekapi.testing")

JOIN_SECONDS = 10.0
"""How long stopping, or closing idle connections, waits for a thread to end."""
_LOG_EVERY = 30.0
"""The same resource warning is logged at most once in this many seconds."""
_ACCEPT_BACKOFF = 0.1
# accept() errors that mean "out of resources for now", not a bug: wait, then go on.
_RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


def _refusal(message: str) -> bytes:
    """A whole 503 answer that closes the connection, for a connection not served."""
    body = json.dumps({"ok": False, "error": {"code": "unavailable", "message": message}}).encode(
        "utf-8"
    )
    head = response_head(
        503, [("Content-Type", "application/json")], length=len(body), keep_alive=False
    )
    return head + body


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
                if not sock.recv(CHUNK):
                    break
        sock.send(_refusal(message))
        sock.shutdown(socket.SHUT_WR)
    sock.close()


class ThrottledWarnings:
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


class ConnectionServer:
    """Listens, accepts, and serves every connection in a thread of its own."""

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None,
        max_connections: int,
        write_timeout: float,
        serve: Callable[[EmulatorConnection], None],
        errors: InternalErrors,
        stop: threading.Event,
    ) -> None:
        self._ssl_context = ssl_context
        self._max_connections = max_connections
        self._write_timeout = write_timeout
        self._serve = serve
        self._errors = errors
        self._stop = stop
        self._warnings = ThrottledWarnings(_LOG_EVERY)
        self._lock = threading.Lock()
        self._connections: dict[int, EmulatorConnection] = {}
        self._connection_seq = 0
        self._listener: socket.socket | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._spare_fd: int | None = None
        self._accept_thread: threading.Thread | None = None

    @property
    def accepted(self) -> int:
        """How many connections have been served (refused ones are not counted)."""
        with self._lock:
            return self._connection_seq

    def listen(self, host: str, port: int) -> int:
        """Bind and listen on ``(host, port)``, start accepting; returns the port bound."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        self._listener = listener
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(128)
        listener.setblocking(False)
        self._wake_r, self._wake_w = socket.socketpair()
        self._spare_fd = os.open(os.devnull, os.O_RDONLY)
        bound: int = listener.getsockname()[1]
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name="seekapi-backend-accept", daemon=True
        )
        self._accept_thread.start()
        return bound

    def close(self) -> list[str]:
        """Stop accepting, end every connection, join every thread (set ``stop`` first).

        Returns the names of the threads still running after :data:`JOIN_SECONDS`.
        """
        if self._wake_w is not None:
            with contextlib.suppress(OSError):
                self._wake_w.send(b"\0")
        if self._accept_thread is not None:
            self._accept_thread.join(JOIN_SECONDS)
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
        deadline = time.monotonic() + JOIN_SECONDS
        stuck: list[str] = []
        threads = [c.thread for c in connections]
        threads.append(self._accept_thread)
        for thread in threads:
            if thread is not None:
                thread.join(max(0.0, deadline - time.monotonic()))
                if thread.is_alive():
                    stuck.append(thread.name)
        return stuck

    def close_idle(self) -> int:
        """Close (FIN) every connection idle between requests; returns how many."""
        with self._lock:
            connections = list(self._connections.values())
        closing: list[EmulatorConnection] = []
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
            conn.done.wait(JOIN_SECONDS)
        return len(closing)

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
                    self._accept_one(self._listener)
        except Exception:  # noqa: BLE001 - recorded in internal_errors for the test to see
            self._errors.record()
        finally:
            selector.close()

    def _accept_one(self, listener: socket.socket) -> None:
        try:
            sock, _addr = listener.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return
        except OSError as exc:
            if self._stop.is_set():
                return
            if exc.errno in _RESOURCE_ERRNOS:
                self._out_of_descriptors(exc)
            else:
                self._errors.record()
                self._stop.wait(0.05)
            return
        self._start_connection(sock)

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
                _refuse(sock, "the emulator is out of file descriptors")
                refused = True
            with contextlib.suppress(OSError):
                self._spare_fd = os.open(os.devnull, os.O_RDONLY)
        if not refused:
            self._stop.wait(_ACCEPT_BACKOFF)

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
            _refuse(raw, "the emulator serves no more connections at once", plain=plain)
            return
        sock = self._prepare(raw)
        if sock is None:
            return
        failed = self._spawn(sock)
        if failed is not None:
            self._warnings.warning(
                "threads",
                f"the SeekAPI emulator cannot start a thread for a new connection ({failed});"
                f" refusing it ({serving} connections are open)",
            )
            _refuse(sock, "the emulator cannot serve another connection now", plain=plain)

    def _prepare(self, raw: socket.socket) -> socket.socket | None:
        """The accepted socket made blocking, without Nagle, and wrapped in TLS if need be."""
        raw.setblocking(True)
        with contextlib.suppress(OSError):
            # Small replies (and dripped bytes) leave at once instead of waiting on Nagle.
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._ssl_context is None:
            return raw
        try:
            return self._ssl_context.wrap_socket(
                raw, server_side=True, do_handshake_on_connect=False
            )
        except (OSError, ValueError):
            raw.close()
            return None

    def _spawn(self, sock: socket.socket) -> RuntimeError | None:
        """Serve ``sock`` in a thread of its own; the error if no thread could start."""
        with self._lock:
            if self._stop.is_set():
                sock.close()
                return None
            self._connection_seq += 1
            conn = EmulatorConnection(self._connection_seq, sock, self._write_timeout)
            conn.thread = threading.Thread(
                target=self._run,
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
                return exc
        return None

    def _run(self, conn: EmulatorConnection) -> None:
        try:
            self._serve(conn)
        finally:
            with self._lock:
                self._connections.pop(conn.id, None)
            conn.done.set()
