"""One accepted connection: its timed reads, its state, and how answers are written.

:class:`EmulatorConnection` is what the server accepts and a serving thread owns; it
knows whether it is idle between requests (so the server can close it from its side),
and writes answers whole, dripped or truncated.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import math
import socket
import struct
import threading
import time
from io import BufferedReader
from typing import Any, Literal

from ._http import chunk_frames, response_head
from ._replies import EmulatorResponse

BODY_BYTES_PER_SECOND = 16 * 1024
"""A body may take ``request_timeout`` seconds plus one second per this many bytes received."""
CHUNK = 64 * 1024
_LINGER_SECONDS = 2.0

ConnectionFate = Literal["keep", "close", "graceful", "reset"]
"""What becomes of a connection after a request: kept alive, closed at once, closed
after lingering for the client's last bytes (a FIN it reads after the answer), or reset."""


class RequestTimedOut(TimeoutError):
    """A request, or the wait for one, took longer than the emulator allows."""

    def __init__(self, phase: str) -> None:
        super().__init__(f"timed out waiting for {phase}")
        self.phase = phase


class TimedReader(io.RawIOBase):
    """The connection's incoming bytes; every receive ends by the current deadline.

    :meth:`expect` sets the deadline for what is awaited next: a new request (idle), the
    rest of a request head, or a body, whose deadline moves on with every byte received
    (at :data:`BODY_BYTES_PER_SECOND`), so a large upload that keeps moving is never
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
            raise RequestTimedOut(self.phase)
        self._sock.settimeout(left)
        try:
            got = self._sock.recv_into(buffer)
        except TimeoutError:
            raise RequestTimedOut(self.phase) from None
        self._deadline += got * self._per_byte
        return got


class EmulatorConnection:
    """One accepted TCP connection and the thread serving it."""

    def __init__(self, connection_id: int, sock: socket.socket, write_timeout: float) -> None:
        self.id = connection_id
        self.sock = sock
        self.write_timeout = write_timeout
        self.reader: TimedReader | None = None
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

    # -- writing ---------------------------------------------------------------------

    def send_response(self, response: EmulatorResponse, *, keep: bool) -> None:
        """Write ``response`` whole; with ``keep``, the connection is idle once it is out."""
        length = None if response.chunked else response.length
        head = response_head(response.status, response.headers, length=length, keep_alive=keep)
        frames = chunk_frames(response.chunks) if response.chunked else response.chunks
        # Hold back the last piece so the connection can be marked idle just before it
        # goes out: a client that has read the whole response finds it idle.
        pending = bytearray(head)
        for piece in frames:
            if len(pending) >= CHUNK:
                self.sendall(pending)
                pending = bytearray(piece)
            else:
                pending += piece
        if keep:
            with self.lock:
                self.state = "finishing"
        self.sendall(pending)

    def send_dripped(
        self, response: EmulatorResponse, keep: bool, interval: float, stop: threading.Event
    ) -> bool:
        """Write ``response`` a byte every ``interval`` s; false if ``stop`` cut it short."""
        length = None if response.chunked else response.length
        head = response_head(response.status, response.headers, length=length, keep_alive=keep)
        frames = chunk_frames(response.chunks) if response.chunked else response.chunks
        first = True
        for piece in itertools.chain((head,), frames):
            for i in range(len(piece)):
                if not first and stop.wait(interval):
                    return False
                first = False
                self.sendall(piece[i : i + 1])
        return True

    def send_truncated(self, response: EmulatorResponse, keep: bool) -> None:
        """Declare the whole length of ``response`` and write half of its body."""
        declared = max(response.length, 1)
        left = response.length // 2
        head = response_head(response.status, response.headers, length=declared, keep_alive=keep)
        self.sendall(head)
        for piece in response.chunks:
            if left <= 0:
                break
            self.sendall(piece[:left])
            left -= len(piece)

    def linger(self, stop: threading.Event) -> None:
        """Send FIN, then read until the client closes (briefly) before closing.

        Closing a socket with unread input makes the kernel send RST, which the client
        may see before it reads the reply: reading the rest first makes the close a FIN.
        """
        self.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + _LINGER_SECONDS
        with contextlib.suppress(OSError, ValueError):
            while not stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.sock.settimeout(left)
                if not self.sock.recv(CHUNK):
                    break
