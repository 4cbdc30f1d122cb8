"""The benchmark's backend: a small, fast HTTP/1.1 server on 127.0.0.1, plain and TLS.

It runs in its own process (``python _server.py CONFIG_JSON``) so that its CPU time can be
reported apart from the client's. It answers the worker contract minimally:

* ``POST /v1/internal/jobs/{id}/push``        -> ``{"ok":true}``
* ``POST /v1/internal/jobs/{id}/charge``      -> ``{"ok":true,"metered_event_count":N,...}``
* ``POST /v1/internal/jobs/{id}/push/file``   -> the body is read in 1 MiB pieces and
  counted, never kept; the reply says how many bytes arrived
* ``GET /input/small.json``                   -> a tiny input document (for warm-ups)
* ``GET /input/...``                          -> the input document given at start-up

Connections are kept alive (HTTP/1.1), every accepted socket gets ``TCP_NODELAY`` (else
Nagle's algorithm and the peer's delayed ACK add up to 40 ms to a request/response
exchange), and small replies go out in one ``sendall``. Requests are parsed by hand:
``http.server`` spends more CPU per request than the clients under test do.

Control is over stdin/stdout, not HTTP, so the parent's questions open no connection:
the first stdout line is ``{"http": PORT, "https": PORT}``; then each ``stats`` line on
stdin is answered with one JSON line (connections accepted per scheme, requests, upload
bytes, the process's CPU seconds and a monotonic clock); ``quit`` stops the server.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import sys
import threading
import time

_RECV = 1 << 16
_UPLOAD_PIECE = 1 << 20
_MAX_HEAD = 64 * 1024
SMALL_DOCUMENT = b'{"job":"warm-up","items":[]}'


class _Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.connections = {"http": 0, "https": 0}
        self.requests = 0
        self.charges = 0
        self.upload_bytes = 0
        self.errors = 0

    def snapshot(self) -> dict[str, object]:
        times = os.times()
        with self.lock:
            return {
                "connections": dict(self.connections),
                "requests": self.requests,
                "upload_bytes": self.upload_bytes,
                "errors": self.errors,
                "cpu": times.user + times.system,
                "clock": time.monotonic(),
            }


STATS = _Stats()


class _Closed(Exception):
    """The peer closed the connection (between or in the middle of requests)."""


def _head(status: str, length: int, close: bool) -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n"
    if close:
        head += "Connection: close\r\n"
    return head.encode("ascii") + b"\r\n"


def _reply(status: str, body: bytes, *, close: bool = False) -> bytes:
    return _head(status, len(body), close) + body


class _Handler:
    """Serves one connection: parses requests by hand and answers them in order."""

    def __init__(self, sock: socket.socket, document: bytes) -> None:
        self.sock = sock
        self.document = document
        self.buf = bytearray()
        self.piece = bytearray(_UPLOAD_PIECE)

    def _fill(self) -> None:
        data = self.sock.recv(_RECV)
        if not data:
            raise _Closed
        self.buf += data

    def _read_head(self) -> bytes | None:
        start = 0
        while True:
            end = self.buf.find(b"\r\n\r\n", start)
            if end >= 0:
                head = bytes(self.buf[:end])
                del self.buf[: end + 4]
                return head
            if len(self.buf) > _MAX_HEAD:
                return None
            start = max(0, len(self.buf) - 3)
            self._fill()

    def _read_body(self, length: int) -> bytes:
        while len(self.buf) < length:
            self._fill()
        body = bytes(self.buf[:length])
        del self.buf[:length]
        return body

    def _drain_body(self, length: int) -> tuple[int, bytes]:
        """Read ``length`` bytes without keeping them; returns the count and the last bytes."""
        have = min(len(self.buf), length)
        tail = bytes(self.buf[max(0, have - 64) : have])
        del self.buf[:have]
        got = have
        view = memoryview(self.piece)
        while got < length:
            n = self.sock.recv_into(view, min(len(view), length - got))
            if not n:
                raise _Closed
            got += n
            tail = (tail + bytes(view[max(0, n - 64) : n]))[-64:]
        return got, tail

    def serve(self) -> None:
        while True:
            head = self._read_head()
            if head is None:
                self.sock.sendall(_reply("431 Too Large", b'{"ok":false}', close=True))
                return
            lines = head.split(b"\r\n")
            try:
                method, target, version = lines[0].split(b" ", 2)
            except ValueError:
                self.sock.sendall(_reply("400 Bad Request", b'{"ok":false}', close=True))
                return
            length = 0
            close = version != b"HTTP/1.1"
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                key = name.strip().lower()
                if key == b"content-length":
                    length = int(value)
                elif key == b"connection":
                    close = value.strip().lower() == b"close"
            path = target.split(b"?", 1)[0]
            self.sock.sendall(self._answer(method, path, length, close))
            if close:
                return

    def _answer(self, method: bytes, path: bytes, length: int, close: bool) -> bytes:
        if method == b"POST" and path.endswith(b"/push/file"):
            got, tail = self._drain_body(length)
            ok = tail.endswith(b"--\r\n")
            with STATS.lock:
                STATS.requests += 1
                STATS.upload_bytes += got
                STATS.errors += not ok
            body = b'{"ok":%s,"bytes":%d}' % (b"true" if ok else b"false", got)
            return _reply("200 OK" if ok else "400 Bad Request", body, close=close)
        if method == b"POST":
            self._read_body(length)
            with STATS.lock:
                STATS.requests += 1
                if path.endswith(b"/charge"):
                    STATS.charges += 1
                    count = STATS.charges
                else:
                    count = -1
            if count >= 0:
                body = b'{"ok":true,"metered_event_count":%d,"limit_reached":false}' % count
            elif path.endswith(b"/push"):
                body = b'{"ok":true}'
            else:
                return _reply("404 Not Found", b'{"ok":false}', close=close)
            return _reply("200 OK", body, close=close)
        if method == b"GET" and path.startswith(b"/input/"):
            with STATS.lock:
                STATS.requests += 1
            if path == b"/input/small.json":
                return _reply("200 OK", SMALL_DOCUMENT, close=close)
            # The document is large: send the head, then the body without copying it.
            self.sock.sendall(_head("200 OK", len(self.document), close))
            return self.document
        with STATS.lock:
            STATS.errors += 1
        return _reply("404 Not Found", b'{"ok":false}', close=close)


def _handle(sock: socket.socket, tls: ssl.SSLContext | None, document: bytes) -> None:
    try:
        if tls is not None:
            sock = tls.wrap_socket(sock, server_side=True)
        _Handler(sock, document).serve()
    except (_Closed, OSError):
        pass
    finally:
        sock.close()


def _accept_loop(
    listener: socket.socket, scheme: str, tls: ssl.SSLContext | None, document: bytes
) -> None:
    while True:
        sock, _ = listener.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with STATS.lock:
            STATS.connections[scheme] += 1
        threading.Thread(target=_handle, args=(sock, tls, document), daemon=True).start()


def _listen() -> socket.socket:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(256)
    return listener


def main() -> None:
    config = json.loads(sys.argv[1])
    with open(config["document"], "rb") as handle:
        document = handle.read()
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(config["cert"], config["key"])
    plain, secure = _listen(), _listen()
    for listener, scheme, context in ((plain, "http", None), (secure, "https", tls)):
        threading.Thread(
            target=_accept_loop, args=(listener, scheme, context, document), daemon=True
        ).start()
    out = sys.stdout
    out.write(json.dumps({"http": plain.getsockname()[1], "https": secure.getsockname()[1]}))
    out.write("\n")
    out.flush()
    for line in sys.stdin:
        command = line.strip()
        if command == "stats":
            out.write(json.dumps(STATS.snapshot()) + "\n")
            out.flush()
        elif command == "quit":
            break


if __name__ == "__main__":
    main()
