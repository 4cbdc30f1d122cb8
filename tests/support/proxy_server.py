"""A small forward proxy on 127.0.0.1 for proxy tests: CONNECT tunnels and absolute-URI GET/POST."""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from types import TracebackType


class ForwardProxy:
    """Relays bytes; records each request line and its Proxy-Authorization header."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.request_lines: list[str] = []
        self.authorizations: list[str | None] = []
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def __enter__(self) -> ForwardProxy:
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
        self._server.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            with self._lock:
                self._sockets.append(client)
            thread = threading.Thread(target=self._serve, args=(client,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, client: socket.socket) -> None:
        with contextlib.suppress(OSError):
            head = b""
            while b"\r\n\r\n" not in head:
                data = client.recv(65536)
                if not data:
                    return
                head += data
            header_block, _, rest = head.partition(b"\r\n\r\n")
            lines = header_block.decode("latin-1").split("\r\n")
            method, target, _version = lines[0].split(" ", 2)
            auth = next(
                (
                    ln.split(":", 1)[1].strip()
                    for ln in lines[1:]
                    if ln.lower().startswith("proxy-authorization:")
                ),
                None,
            )
            with self._lock:
                self.request_lines.append(lines[0])
                self.authorizations.append(auth)
            if method == "CONNECT":
                host, port = target.rsplit(":", 1)
                upstream = socket.create_connection((host, int(port)))
                with self._lock:
                    self._sockets.append(upstream)
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                self._relay(client, upstream)
                return
            # Absolute-URI request: forward to the origin as an origin-form request.
            assert target.startswith("http://")
            authority, _, path = target[len("http://") :].partition("/")
            host, _, port = authority.partition(":")
            upstream = socket.create_connection((host, int(port or 80)))
            with self._lock:
                self._sockets.append(upstream)
            kept = [ln for ln in lines[1:] if not ln.lower().startswith("proxy-authorization:")]
            new_head = "\r\n".join([f"{method} /{path} HTTP/1.1", *kept]) + "\r\n\r\n"
            upstream.sendall(new_head.encode("latin-1") + rest)
            self._relay(client, upstream)

    def _relay(self, a: socket.socket, b: socket.socket) -> None:
        pair = {a: b, b: a}
        while not self._stop.is_set():
            ready, _, _ = select.select([a, b], [], [], 0.2)
            for sock in ready:
                data = sock.recv(65536)
                if not data:
                    return
                pair[sock].sendall(data)
