"""Reading HTTP/1.1 responses from a byte stream: status line, headers, body framing.

Small and strict on purpose. ``http.client`` parses headers with the ``email``
package, which costs more CPU than the rest of a keep-alive request; the backend's
answers are small JSON objects, so a direct parser is both faster and simpler to bound.
One :class:`Reader` lives as long as its connection, so no byte read ahead is lost
between responses.

Strict where leniency could let two readers disagree on where a response ends
(RFC 9112): the status line is ``HTTP/1.x``, one space, three digits, then an optional
reason; chunk sizes are hex digits only; ``chunked`` alone is the only transfer coding
(no ``TE`` is ever sent); differing ``Content-Length`` values are refused. A response
framed both ways is read as chunked and its connection is not kept
(:meth:`Head.keeps_alive`). Every refusal is a :class:`ProtocolError`.

Memory follows the bytes that arrive, never a size the peer announces: a body is read
in pieces of at most 64 KiB and grows as they come.
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
_PREALLOCATE = 256 * 1024
"""Bodies announced up to this size get their buffer at once; larger ones grow as they arrive."""
_DECIMAL = frozenset("0123456789")
_LINE_ENDS = ("\r\n", "\n")
_HEX_DIGITS = b"0123456789abcdefABCDEF"
_MAX_CHUNK_DIGITS = 16
_MAX_LENGTH_DIGITS = 18


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

    def header_block(self) -> str | None:
        """The header lines up to the empty line ending them, joined by CRLF, if buffered.

        Consumes the block and its empty line. ``None``, consuming nothing, when the
        block is not all in one receive, uses a bare LF anywhere, or is long: the caller
        then reads it line by line, with that path's limits.
        """
        buffer = self._buffer
        start = self._start
        if buffer.startswith(b"\r\n", start):
            self._start = start + 2
            return ""
        end = buffer.find(b"\r\n\r\n", start, start + MAX_LINE)
        if end < 0 or buffer.count(b"\n", start, end) != buffer.count(b"\r\n", start, end):
            return None
        self._start = end + 4
        return buffer[start:end].decode("latin-1")

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

    def append_to(self, body: bytearray, size: int) -> int:
        """Append up to ``size`` bytes to ``body``; return how many arrived before end of stream.

        Reads in pieces of at most 64 KiB, so ``body`` grows only as bytes arrive.
        """
        added = 0
        waiting = self.buffered()
        if waiting:
            start = self._start
            added = min(waiting, size)
            body += self._buffer[start : start + added]
            self._start = start + added
        scratch = self._scratch
        recv_into = self._recv_into
        while added < size:
            left = size - added
            got = recv_into(scratch if left >= _RECV_SIZE else scratch[:left])
            if not got:
                break
            body += scratch[:got]
            added += got
        return added

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
        """Whether the connection may carry another request after this response.

        Never after a response whose framing is suspect: ``Transfer-Encoding`` together
        with ``Content-Length``, or in an HTTP/1.0 response (RFC 9112 §6.1).
        """
        headers = self.headers
        old = self.version == "HTTP/1.0"
        if "transfer-encoding" in headers and ("content-length" in headers or old):
            return False
        value = headers.get("connection")
        if value is None:
            return not old
        tokens = {t.strip().lower() for t in value.split(",")}
        if old:
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
        version, status, reason = _status_line(line)
        headers = _read_headers(reader)
        if 100 <= status < 200 and status != 101:
            continue
        return Head(version, status, reason, headers)
    raise ProtocolError(f"more than {MAX_INTERIM} informational answers")


def _status_line(line: bytes) -> tuple[str, int, str]:
    """``HTTP/1.<digit> SP <3 digits> [SP reason]``: anything else is refused.

    ``int()`` alone would take ``+20``, `` 20`` or ``2_0`` as a status.
    """
    text = line.decode("latin-1")
    code = text[9:12]
    if not (
        text.startswith("HTTP/1.")
        and text[7:8] in _DECIMAL
        and text[8:9] == " "
        and "100" <= code <= "599"
        and code.isdigit()
        and code.isascii()
        and (text[12:13] == " " or text[12:] in _LINE_ENDS)
    ):
        raise ProtocolError("the answer does not start with an HTTP/1.x status line")
    return text[:8], int(code), text[13:].rstrip("\r\n")


def _read_headers(reader: Reader) -> dict[str, str]:
    headers: dict[str, str] = {}
    block = reader.header_block()
    if block is not None:
        if not block:
            return headers
        lines = block.split("\r\n")
        if len(lines) > MAX_HEADERS:
            raise ProtocolError(f"the answer has more than {MAX_HEADERS} headers")
        for field in lines:
            _add_header(headers, field)
        return headers
    # Bare line feeds, a block still arriving or a very long one: line by line.
    for _ in range(MAX_HEADERS):
        line = reader.readline()
        if not line.endswith(b"\n"):
            raise ClosedEarly("the connection closed in the middle of the headers", started=True)
        if line in (b"\r\n", b"\n"):
            return headers
        _add_header(headers, line.decode("latin-1"))
    raise ProtocolError(f"the answer has more than {MAX_HEADERS} headers")


def _add_header(headers: dict[str, str], line: str) -> None:
    name, colon, value = line.partition(":")
    if not colon or not name or name != name.strip():
        raise ProtocolError("the answer holds a malformed header line")
    key = name.lower()
    value = value.strip()
    headers[key] = f"{headers[key]}, {value}" if key in headers else value


def read_body(reader: Reader, head: Head, method: str, max_body: int) -> bytearray:
    """The body framed as RFC 9112 says: no body, chunked, Content-Length, or until close.

    Returns it whole; raises :class:`TooLarge` past ``max_body`` (before reading, when
    the length is announced), :class:`ClosedEarly` when it is cut short.
    """
    status = head.status
    if method == "HEAD" or (method == "CONNECT" and 200 <= status < 300) or status in (204, 304):
        return bytearray()
    coding = head.headers.get("transfer-encoding")
    if coding is not None:
        # Header values are stripped, and repeats joined by ", ": one "chunked" is all.
        if coding.lower() != "chunked":
            raise ProtocolError("the answer uses a transfer coding other than chunked alone")
        return _read_chunked(reader, max_body)
    declared = _content_length(head)
    if declared is None:
        return _read_until_close(reader, max_body)
    if declared > max_body:
        raise TooLarge(max_body, declared)
    if declared <= _PREALLOCATE:
        body = bytearray(declared)
        arrived = reader.read_into(memoryview(body))
    else:
        body = bytearray()
        arrived = reader.append_to(body, declared)
    if arrived < declared:
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
    if len(value.lstrip("0")) > _MAX_LENGTH_DIGITS:
        # Beyond any real body, and int() refuses thousands of digits.
        raise ProtocolError("the answer has an out-of-range Content-Length")
    return int(value)


def _read_chunked(reader: Reader, max_body: int) -> bytearray:
    body = bytearray()
    while True:
        line = reader.readline()
        if not line.endswith(b"\n"):
            raise ClosedEarly(
                "the connection closed before the whole response body arrived", started=True
            )
        size = _chunk_size(line)
        if size == 0:
            _read_headers(reader)  # trailers, ignored
            return body
        if len(body) + size > max_body:
            raise TooLarge(max_body, None)
        if reader.append_to(body, size) < size:
            raise ClosedEarly(
                "the connection closed before the whole response body arrived", started=True
            )
        if reader.readline() not in (b"\r\n", b"\n"):
            raise ProtocolError("a chunk of the answer is not followed by a line break")


def _chunk_size(line: bytes) -> int:
    """The size on a chunk-size line: hex digits, then optionally white space and ``;ext``.

    ``int(x, 16)`` alone would also take a sign, ``0x``, ``_`` and surrounding spaces.
    """
    field = line[: -2 if line.endswith(b"\r\n") else -1].partition(b";")[0].rstrip(b" \t")
    if not 0 < len(field) <= _MAX_CHUNK_DIGITS or field.translate(None, _HEX_DIGITS):
        raise ProtocolError("the answer has an invalid chunk size")
    return int(field, 16)


def _read_until_close(reader: Reader, max_body: int) -> bytearray:
    body = bytearray()
    while True:
        data = reader.read_available(_RECV_SIZE)
        if not data:
            return body
        if len(body) + len(data) > max_body:
            raise TooLarge(max_body, None)
        body += data
