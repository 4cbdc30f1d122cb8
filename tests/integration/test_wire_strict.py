"""The SDK against servers that send exactly the bytes a test chooses, over real sockets.

Answers whose framing could be read two ways are refused with a documented error and
their connection is never reused; a size announced but not sent costs no memory.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import seekapi
from seekapi import errors
from seekapi.testing import reset_sdk_state

Answer = Callable[[int], bytes]
"""The bytes to send for the n-th request (counted from 0 over all connections)."""


class RawServer:
    """A loopback server that reads each request and writes scripted bytes back.

    ``then`` says what follows an answer: ``"keep"`` waits for the next request on the
    same connection, ``"close"`` closes it, ``"stall"`` sends nothing more until the
    client goes away. ``connections`` holds, per connection, how many requests it carried.
    """

    def __init__(self, answer: Answer, then: str = "keep") -> None:
        self._answer = answer
        self._then = then
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._socks: list[socket.socket] = []
        self.connections: list[int] = []
        self.client_closed: list[bool] = []
        self._served = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                index = len(self.connections)
                self.connections.append(0)
                self.client_closed.append(False)
                self._socks.append(sock)
                thread = threading.Thread(target=self._serve, args=(sock, index), daemon=True)
                self._threads.append(thread)
            thread.start()

    def _serve(self, sock: socket.socket, index: int) -> None:
        buffer = b""
        with sock:
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = self._recv(sock)
                    if not data:
                        with self._lock:
                            self.client_closed[index] = True
                        return
                    buffer += data
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(buffer) < length:
                    data = self._recv(sock)
                    if not data:
                        return
                    buffer += data
                buffer = buffer[length:]
                with self._lock:
                    self.connections[index] += 1
                    number = self._served
                    self._served += 1
                try:
                    sock.sendall(self._answer(number))
                except OSError:
                    return
                if self._then == "close":
                    with contextlib.suppress(OSError):  # the client may have gone already
                        sock.shutdown(socket.SHUT_WR)
                    while self._recv(sock):
                        pass
                    return
                if self._then == "stall":
                    while self._recv(sock):
                        pass
                    with self._lock:
                        self.client_closed[index] = True
                    return

    def wait_all_closed(self, timeout: float) -> bool:
        """Whether the client closed every connection within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if all(self.client_closed):
                    return True
            time.sleep(0.02)
        return False

    @staticmethod
    def _recv(sock: socket.socket) -> bytes:
        try:
            return sock.recv(65536)
        except OSError:
            return b""

    def close(self) -> None:
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self._listener.close()
        with self._lock:
            socks = list(self._socks)
            threads = list(self._threads)
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._accepting.join(5)
        for thread in threads:
            thread.join(5)


@pytest.fixture
def raw_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., RawServer]]:
    """Start a :class:`RawServer` and point the SDK's backend settings at it."""
    started: list[RawServer] = []

    def start(answer: bytes | Answer, then: str = "keep") -> RawServer:
        fixed = answer
        server = RawServer(fixed if callable(fixed) else (lambda _n: fixed), then)
        started.append(server)
        monkeypatch.setenv("WORKER_API_BASE_URL", server.url)
        monkeypatch.setenv("WORKER_INTERNAL_SECRET", "raw-secret")
        return server

    yield start
    reset_sdk_state()
    for server in started:
        server.close()


def _ctx() -> dict[str, Any]:
    return seekapi.create_context({"job_uuid": "job-raw", "execution_token": "tok"})


OK_BODY = b'{"ok":true}'
OK_CHUNKED = b"b\r\n" + OK_BODY + b"\r\n0\r\n\r\n"


def _fixed(status_line: bytes, headers: bytes = b"", body: bytes = OK_BODY) -> bytes:
    length = b"Content-Length: %d\r\n" % len(body)
    return status_line + b"\r\n" + headers + length + b"\r\n" + body


def _chunked(size_line: bytes, coding: bytes = b"chunked", version: bytes = b"HTTP/1.1") -> bytes:
    return (
        version
        + b" 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: "
        + coding
        + b"\r\n\r\n"
        + size_line
        + b"\r\n"
        + OK_BODY
        + b"\r\n0\r\n\r\n"
    )


# -- refused answers -----------------------------------------------------------------------

REFUSED = {
    "status +20": _fixed(b"HTTP/1.1 +20 OK"),
    "status 2_0": _fixed(b"HTTP/1.1 2_0 OK"),
    "status 099": _fixed(b"HTTP/1.1 099 OK"),
    "status with two digits": _fixed(b"HTTP/1.1 20 OK"),
    "space before the status": _fixed(b"HTTP/1.1  200 OK"),
    "space before the version": _fixed(b" HTTP/1.1 200 OK"),
    "HTTP/2.0": _fixed(b"HTTP/2.0 200 OK"),
    "HTTP/1.10": _fixed(b"HTTP/1.10 200 OK"),
    "chunk size +b": _chunked(b"+b"),
    "chunk size 0xb": _chunked(b"0xb"),
    "chunk size 0_b": _chunked(b"0_b"),
    "chunk size with a leading space": _chunked(b" b"),
    "coding gzip": _chunked(b"b", b"gzip"),
    "coding gzip, chunked": _chunked(b"b", b"gzip, chunked"),
    "coding chunked, identity": _chunked(b"b", b"chunked, identity"),
    "two differing lengths": b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\nContent-Length: 12\r\n"
    b"\r\n" + OK_BODY,
    "a length of 5000 digits": b"HTTP/1.1 200 OK\r\nContent-Length: " + b"1" * 5000 + b"\r\n"
    b"\r\n" + OK_BODY,
}


@pytest.mark.parametrize("answer", list(REFUSED.values()), ids=list(REFUSED))
def test_ambiguous_answers_are_transport_errors_on_discarded_connections(
    raw_server: Callable[..., RawServer], answer: bytes
) -> None:
    """Each refused answer is a TransportError (never a bare ValueError) and ends its connection.

    The server closes after answering, so an answer read leniently would succeed.
    """
    server = raw_server(answer, "close")
    with pytest.raises(errors.TransportError) as info:
        seekapi.push_data(_ctx(), {"a": 1}, timeout=1)
    assert "not valid HTTP" in str(info.value)
    assert server.connections
    assert all(n == 1 for n in server.connections), server.connections


@pytest.mark.parametrize(
    "name", ["status +20", "chunk size 0xb", "coding gzip", "a length of 5000 digits"]
)
def test_get_input_refuses_them_as_an_input_transport_error(
    raw_server: Callable[..., RawServer], name: str
) -> None:
    """For the input, a refused answer is an InputTransportError, as every transport failure."""
    server = raw_server(REFUSED[name], "close")
    event = {"job_uuid": "j", "execution_token": "t", "input_presigned_url": f"{server.url}/in"}
    with pytest.raises(errors.InputTransportError, match="not valid HTTP"):
        seekapi.get_input(event, timeout=1)


KEPT_OPEN = ["status +20", "HTTP/1.10", "chunk size 0xb", "coding gzip, chunked"]


@pytest.mark.parametrize("answer", [REFUSED[k] for k in KEPT_OPEN], ids=KEPT_OPEN)
def test_a_refused_answer_kept_open_is_not_reused(
    raw_server: Callable[..., RawServer], answer: bytes
) -> None:
    """On a connection the server keeps open, the SDK closes it after a refused answer."""
    server = raw_server(answer, "stall")
    with pytest.raises(errors.TransportError):
        seekapi.charge(_ctx(), "key-1", timeout=1)
    assert server.connections
    assert all(n == 1 for n in server.connections), server.connections
    # Waited for before the pool is emptied: a pooled connection would stay open.
    assert server.wait_all_closed(5), server.client_closed


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n" + OK_CHUNKED,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n" + OK_CHUNKED,
        _chunked(b"b", version=b"HTTP/1.0").replace(
            b"OK\r\n", b"OK\r\nConnection: keep-alive\r\n", 1
        ),
    ],
    ids=["length then chunked", "chunked then length", "chunked in HTTP/1.0"],
)
def test_suspect_framing_is_read_as_chunked_on_a_connection_used_once(
    raw_server: Callable[..., RawServer], answer: bytes
) -> None:
    """Content-Length with Transfer-Encoding (or chunks in HTTP/1.0): chunked, then closed."""
    server = raw_server(answer, "keep")
    ctx = _ctx()
    assert seekapi.push_data(ctx, {"a": 1}, timeout=5) == {"ok": True}
    assert seekapi.push_data(ctx, {"a": 2}, timeout=5) == {"ok": True}
    assert server.connections == [1, 1]


def test_a_sound_answer_keeps_its_connection(raw_server: Callable[..., RawServer]) -> None:
    """The control case: a plain chunked answer is read and its connection reused."""
    server = raw_server(_chunked(b"b;ext=1"), "keep")
    ctx = _ctx()
    assert seekapi.push_data(ctx, {"a": 1}, timeout=5) == {"ok": True}
    assert seekapi.push_data(ctx, {"a": 2}, timeout=5) == {"ok": True}
    assert server.connections == [2]


# -- memory follows the bytes received -----------------------------------------------------

DECLARED = 200_000_000
MIB = 1024 * 1024


def _peak(call: Callable[[], object]) -> tuple[int, BaseException | None]:
    """The peak of Python allocations during ``call``, and what it raised."""
    raised: BaseException | None = None
    tracemalloc.start()
    try:
        try:
            call()
        except Exception as exc:  # returned to the test
            raised = exc
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak, raised


ANNOUNCED = {
    "content-length": b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
    b"\r\nhello",
    "chunked": b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n%x\r\nhello",
}


@pytest.mark.parametrize("then", ["close", "stall"])
@pytest.mark.parametrize("template", list(ANNOUNCED.values()), ids=list(ANNOUNCED))
def test_get_input_does_not_allocate_what_is_only_announced(
    raw_server: Callable[..., RawServer], template: bytes, then: str
) -> None:
    """200 MB announced under the 256 MiB input cap, 5 bytes sent: a few MiB at most."""
    server = raw_server(template % DECLARED, then)
    event = {"job_uuid": "j", "execution_token": "t", "input_presigned_url": f"{server.url}/in"}
    peak, raised = _peak(lambda: seekapi.get_input(event, timeout=1.5))
    assert isinstance(raised, errors.InputError), raised
    assert peak < 4 * MIB, f"peak {peak / MIB:.1f} MiB"


@pytest.mark.parametrize("then", ["close", "stall"])
@pytest.mark.parametrize("template", list(ANNOUNCED.values()), ids=list(ANNOUNCED))
def test_a_backend_reply_does_not_allocate_what_is_only_announced(
    raw_server: Callable[..., RawServer], template: bytes, then: str
) -> None:
    """Just under the 8 MiB reply cap announced, 5 bytes sent: far less than that allocated."""
    raw_server(template % (8 * MIB - 1), then)
    peak, raised = _peak(lambda: seekapi.push_data(_ctx(), {"a": 1}, timeout=1.5))
    assert isinstance(raised, errors.TransportError), raised
    assert peak < 2 * MIB, f"peak {peak / MIB:.1f} MiB"


def test_a_large_body_that_does_arrive_is_read_whole(raw_server: Callable[..., RawServer]) -> None:
    """Growing the body as it arrives still reads a large input exactly."""
    document = b'{"pad":"' + b"x" * (20 * MIB) + b'"}'
    server = raw_server(
        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(document) + document, "keep"
    )
    event = {"job_uuid": "j", "execution_token": "t", "input_presigned_url": f"{server.url}/in"}
    assert len(seekapi.get_input(event, timeout=30)["pad"]) == 20 * MIB
