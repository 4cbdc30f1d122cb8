"""A small loopback HTTP server with canned answers, for tests that need full control of a
reply (status line, reason phrase, body) or a proxy that refuses and echoes credentials."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Callable
from types import TracebackType


class Received:
    """One request as it arrived: the request line, headers (lower-case names) and body."""

    def __init__(self, method: str, target: str, headers: dict[str, str], body: bytes) -> None:
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body


Responder = Callable[[Received], bytes]
"""Returns the raw bytes to answer with (status line, headers and body)."""


def response(
    status: int,
    body: bytes = b"",
    *,
    reason: str = "Whatever",
    headers: dict[str, str] | None = None,
) -> bytes:
    """A complete HTTP/1.1 response that closes the connection."""
    lines = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body


class EchoServer:
    """Serves each connection one request, answered by ``responder``, then closes it."""

    def __init__(self, responder: Responder, ssl_context: ssl.SSLContext | None = None) -> None:
        self._responder = responder
        self._ssl_context = ssl_context
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        scheme = "https" if ssl_context is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()

    def __enter__(self) -> EchoServer:
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        for thread in list(self._threads):
            thread.join(timeout=5)
        self._server.close()

    def _accept(self) -> None:
        # A closed listening socket does not wake a blocked accept(): poll the stop flag.
        self._server.settimeout(0.05)
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.setblocking(True)
            thread = threading.Thread(target=self._serve, args=(client,), daemon=True)
            thread.start()
            with self._lock:
                self._threads.append(thread)

    def _serve(self, raw: socket.socket) -> None:
        sock: socket.socket = raw
        with contextlib.suppress(OSError, ValueError), contextlib.closing(raw):
            raw.settimeout(5)
            if self._ssl_context is not None:
                sock = self._ssl_context.wrap_socket(raw, server_side=True)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _version = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            while len(body) < length:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                body += chunk
            request = Received(method, target, headers, body)
            with self._lock:
                self.received.append(request)
            sock.sendall(self._responder(request))
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_WR)
            sock.close()
