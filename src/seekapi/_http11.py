"""Reading HTTP/1.1 responses from a byte stream: status line, headers, body framing.

Small and strict on purpose. ``http.client`` parses headers with the ``email``
package, which costs more CPU than the rest of a keep-alive request; the backend's
answers are small JSON objects, so a direct parser is both faster and simpler to bound.
One :class:`Reader` lives as long as its connection, so no byte read ahead is lost
between responses.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

MAX_LINE = 64 * 1024
MAX_HEADERS = 200
MAX_INTERIM = 20
"""Informational (1xx) answers skipped before the real one; more is a misbehaving peer."""
_RECV_SIZE = 64 * 1024


class ProtocolError(Exception):
    """The peer sent something that is not a valid HTTP/1.1 response."""


class ClosedEarly(Exception):
    """The connection closed before the response was complete.

    ``started`` tells whether any byte of the response had arrived.
    """

    def __init__(self, message: str, *, started: bool) -> None:
        super().__init__(message)
        self.started = started


class TooLarge(Exception):
    """The body is larger than the caller's cap (``declared`` when the length was announced)."""

    def __init__(self, limit: int, declared: int | None) -> None:
        super().__init__(limit, declared)
        self.limit = limit
        self.declared = declared


class Reader:
    """Buffered reads over ``recv_into``; kept for the connection's whole life."""

    __slots__ = ("_buffer", "_recv_into", "_scratch", "_start")

    def __init__(self, recv_into: Callable[[memoryview], int]) -> None:
        self._recv_into = recv_into
        self._buffer = bytearray()
        self._start = 0
        self._scratch = memoryview(bytearray(_RECV_SIZE))

    def buffered(self) -> int:
        """Bytes received and not consumed yet."""
        return len(self._buffer) - self._start

    def _fill(self) -> int:
        if self._start:
            # Drop what was consumed before growing the buffer.
            del self._buffer[: self._start]
            self._start = 0
        got = self._recv_into(self._scratch)
        if got:
            self._buffer += self._scratch[:got]
        return got

    def readline(self) -> bytes:
        """One line including its ``\\n``; ``b""`` at end of stream before any byte."""
        while True:
            end = self._buffer.find(b"\n", self._start)
            if end >= 0:
                line = bytes(self._buffer[self._start : end + 1])
                self._start = end + 1
                return line
            if self.buffered() > MAX_LINE:
                raise ProtocolError("a response line is too long")
            if not self._fill():
                rest = bytes(self._buffer[self._start :])
                self._start = len(self._buffer)
                return rest

    def read_into(self, view: memoryview) -> int:
        """Fill ``view`` completely; return how many bytes arrived before end of stream."""
        filled = 0
        size = len(view)
        waiting = self.buffered()
        if waiting:
            take = min(waiting, size)
            view[:take] = self._buffer[self._start : self._start + take]
            self._start += take
            filled = take
        while filled < size:
            got = self._recv_into(view[filled:])
            if not got:
                break
            filled += got
        return filled

    def read_available(self, limit: int) -> bytes:
        """Up to ``limit`` bytes: what is buffered, else one receive (``b""`` at end)."""
        if not self.buffered() and not self._fill():
            return b""
        take = min(self.buffered(), limit)
        data = bytes(self._buffer[self._start : self._start + take])
        self._start += take
        return data


class Head:
    """A response's status line and headers (names lower-cased, repeats joined by ", ")."""

    __slots__ = ("headers", "reason", "status", "version")

    def __init__(self, version: str, status: int, reason: str, headers: dict[str, str]) -> None:
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers

    def keeps_alive(self) -> bool:
        tokens = {t.strip().lower() for t in self.headers.get("connection", "").split(",")}
        if self.version == "HTTP/1.0":
            return "keep-alive" in tokens
        return "close" not in tokens


def read_head(reader: Reader) -> Head:
    """Read a status line and headers, skipping informational (1xx) answers."""
    for _ in range(MAX_INTERIM + 1):
        line = reader.readline()
        if not line:
            raise ClosedEarly("the server closed the connection without answering", started=False)
        if not line.endswith(b"\n"):
            raise ClosedEarly(
                "the connection closed in the middle of the status line", started=True
            )
        parts = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or len(parts[1]) != 3:
            raise ProtocolError("the answer is not an HTTP/1.x response")
        try:
            status = int(parts[1])
        except ValueError:
            raise ProtocolError("the answer has no numeric status code") from None
        headers = _read_headers(reader)
        if 100 <= status < 200 and status != 101:
            continue
        return Head(parts[0], status, parts[2] if len(parts) > 2 else "", headers)
    raise ProtocolError(f"more than {MAX_INTERIM} informational answers")


def _read_headers(reader: Reader) -> dict[str, str]:
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADERS):
        line = reader.readline()
        if not line.endswith(b"\n"):
            raise ClosedEarly("the connection closed in the middle of the headers", started=True)
        if line in (b"\r\n", b"\n"):
            return headers
        name, colon, value = line.decode("latin-1").partition(":")
        if not colon or not name or name != name.strip():
            raise ProtocolError("the answer holds a malformed header line")
        key = name.lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    raise ProtocolError(f"the answer has more than {MAX_HEADERS} headers")


def read_body(reader: Reader, head: Head, method: str, max_body: int) -> bytearray:
    """The body framed as RFC 9112 says: no body, chunked, Content-Length, or until close.

    Returns it whole; raises :class:`TooLarge` past ``max_body`` (before reading, when
    the length is announced), :class:`ClosedEarly` when it is cut short.
    """
    status = head.status
    if method == "HEAD" or (method == "CONNECT" and 200 <= status < 300) or status in (204, 304):
        return bytearray()
    if "chunked" in head.headers.get("transfer-encoding", "").lower():
        return _read_chunked(reader, max_body)
    declared = _content_length(head)
    if declared is None:
        return _read_until_close(reader, max_body)
    if declared > max_body:
        raise TooLarge(max_body, declared)
    body = bytearray(declared)
    if reader.read_into(memoryview(body)) < declared:
        raise ClosedEarly(
            "the connection closed before the whole response body arrived", started=True
        )
    return body


def _content_length(head: Head) -> int | None:
    raw = head.headers.get("content-length")
    if raw is None:
        return None
    values = {v.strip() for v in raw.split(",")}
    if len(values) != 1:
        raise ProtocolError("the answer has conflicting Content-Length headers")
    value = values.pop()
    if not (value.isascii() and value.isdigit()):
        raise ProtocolError("the answer has an invalid Content-Length")
    return int(value)


def _read_chunked(reader: Reader, max_body: int) -> bytearray:
    body = bytearray()
    while True:
        line = reader.readline()
        if not line.endswith(b"\n"):
            raise ClosedEarly(
                "the connection closed before the whole response body arrived", started=True
            )
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise ProtocolError("the answer has an invalid chunk size") from None
        if size < 0:
            raise ProtocolError("the answer has an invalid chunk size")
        if size == 0:
            _read_headers(reader)  # trailers, ignored
            return body
        if len(body) + size > max_body:
            raise TooLarge(max_body, None)
        chunk = bytearray(size)
        if reader.read_into(memoryview(chunk)) < size:
            raise ClosedEarly(
                "the connection closed before the whole response body arrived", started=True
            )
        body += chunk
        if reader.readline() not in (b"\r\n", b"\n"):
            raise ProtocolError("a chunk of the answer is not followed by a line break")


def _read_until_close(reader: Reader, max_body: int) -> bytearray:
    body = bytearray()
    while True:
        data = reader.read_available(_RECV_SIZE)
        if not data:
            return body
        if len(body) + len(data) > max_body:
            raise TooLarge(max_body, None)
        body += data
