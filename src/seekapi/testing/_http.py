"""HTTP/1.1 message plumbing for the test backend: request heads, bodies, response heads."""

from __future__ import annotations

import email.utils
import http
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from io import BufferedReader

__all__ = [
    "MAX_HEADERS",
    "MAX_LINE",
    "BodyReader",
    "ClientGoneError",
    "Headers",
    "MalformedRequestError",
    "RequestHead",
    "chunk_frames",
    "parse_request_head",
    "response_head",
]

MAX_LINE = 8192
"""Longest request line, header line or chunk-size line accepted, in bytes."""
MAX_HEADERS = 100
"""Most header fields accepted in one request (or one chunked trailer)."""

_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")
_DIGITS = re.compile(r"[0-9]{1,18}")


class MalformedRequestError(Exception):
    """The client sent something that is not acceptable HTTP/1.1; answer ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ClientGoneError(Exception):
    """The connection ended in the middle of a request."""


class Headers(Mapping[str, str]):
    """Read-only, case-insensitive header fields; keys iterate in lower case.

    A field sent more than once is one entry, its values joined with ``", "``.
    """

    __slots__ = ("_fields",)

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        fields: dict[str, str] = {}
        for name, value in items:
            key = name.lower()
            fields[key] = f"{fields[key]}, {value}" if key in fields else value
        self._fields = fields

    def __getitem__(self, key: str) -> str:
        return self._fields[key.lower()]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._fields

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __repr__(self) -> str:
        return f"Headers({self._fields!r})"

    def tokens(self, key: str) -> set[str]:
        """The comma-separated tokens of a field, lower-cased (``Connection``, ...)."""
        value = self._fields.get(key.lower(), "")
        return {token.strip().lower() for token in value.split(",") if token.strip()}


@dataclass(frozen=True)
class RequestHead:
    """A parsed request line and header block."""

    method: str
    target: str
    path: str
    query: str
    version: str
    headers: Headers

    @property
    def keep_alive(self) -> bool:
        """Whether the client allows the connection to be reused after this request."""
        tokens = self.headers.tokens("connection")
        if self.version == "HTTP/1.0":
            return "keep-alive" in tokens
        return "close" not in tokens


def _read_line(rfile: BufferedReader, what: str) -> bytes:
    line = rfile.readline(MAX_LINE + 1)
    if len(line) > MAX_LINE:
        raise MalformedRequestError(431 if what == "header" else 400, f"{what} line too long")
    if not line.endswith(b"\n"):
        raise ClientGoneError(f"connection closed inside the {what}s")
    return line


def _read_fields(rfile: BufferedReader) -> list[tuple[str, str]]:
    fields: list[tuple[str, str]] = []
    while True:
        line = _read_line(rfile, "header")
        if line in (b"\r\n", b"\n"):
            return fields
        if len(fields) >= MAX_HEADERS:
            raise MalformedRequestError(431, "too many header fields")
        if line[:1] in (b" ", b"\t"):
            raise MalformedRequestError(400, "obsolete header line folding is not accepted")
        name, sep, value = line.partition(b":")
        if not sep or not _TOKEN.fullmatch(name):
            raise MalformedRequestError(400, "malformed header field")
        fields.append((name.decode("ascii"), value.strip(b" \t\r\n").decode("latin-1")))


def parse_request_head(request_line: bytes, rfile: BufferedReader) -> RequestHead:
    """Parse ``request_line`` (already read) and the header block that follows it."""
    if len(request_line) > MAX_LINE:
        raise MalformedRequestError(414, "request line too long")
    parts = request_line.rstrip(b"\r\n").split(b" ")
    if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]):
        raise MalformedRequestError(400, "malformed request line")
    method, target_bytes, version_bytes = parts
    if version_bytes not in (b"HTTP/1.1", b"HTTP/1.0"):
        raise MalformedRequestError(505, "only HTTP/1.0 and HTTP/1.1 are spoken here")
    try:
        target = target_bytes.decode("ascii")
    except UnicodeDecodeError:
        raise MalformedRequestError(400, "request target is not ASCII") from None
    if not target.startswith("/"):
        raise MalformedRequestError(400, "request target must be an absolute path")
    path, _, query = target.partition("?")
    headers = Headers(_read_fields(rfile))
    return RequestHead(
        method=method.decode("ascii"),
        target=target,
        path=path,
        query=query,
        version=version_bytes.decode("ascii"),
        headers=headers,
    )


class BodyReader:
    """Reads one request body (``Content-Length`` or chunked) from the connection.

    ``on_first_read`` runs before the first byte is read (to send ``100 Continue``).
    The first ``capture_limit`` bytes of the body are kept in :attr:`captured`.
    """

    def __init__(
        self,
        rfile: BufferedReader,
        *,
        length: int,
        chunked: bool,
        on_first_read: Callable[[], None] | None = None,
    ) -> None:
        self._rfile = rfile
        self._chunked = chunked
        self._remaining = 0 if chunked else length
        self._chunk_left = 0
        self._on_first_read = on_first_read
        self.capture_limit = 0
        self._captured = bytearray()
        self.started = False
        self.finished = not chunked and length == 0
        self.received = 0

    @classmethod
    def for_request(
        cls, head: RequestHead, rfile: BufferedReader, on_first_read: Callable[[], None] | None
    ) -> BodyReader:
        """Choose the framing of ``head``'s body; :class:`MalformedRequestError` if unusable."""
        te = head.headers.get("transfer-encoding")
        cl = head.headers.get("content-length")
        if te is not None:
            if cl is not None:
                raise MalformedRequestError(
                    400, "both Content-Length and Transfer-Encoding were sent"
                )
            if te.strip().lower() != "chunked":
                raise MalformedRequestError(501, "only the chunked transfer coding is supported")
            return cls(rfile, length=0, chunked=True, on_first_read=on_first_read)
        if cl is None:
            return cls(rfile, length=0, chunked=False)
        values = {v.strip() for v in cl.split(",")}
        if len(values) != 1 or not _DIGITS.fullmatch(next(iter(values))):
            raise MalformedRequestError(400, "invalid Content-Length")
        length = int(next(iter(values)))
        return cls(rfile, length=length, chunked=False, on_first_read=on_first_read)

    @property
    def declared_length(self) -> int | None:
        """The Content-Length of the body, or ``None`` when it is chunked."""
        return None if self._chunked else self._remaining + self.received

    @property
    def captured(self) -> bytes:
        """The first :attr:`capture_limit` bytes of the body read so far."""
        return bytes(self._captured)

    def read(self, size: int = 65536) -> bytes:
        """Up to ``size`` bytes of the body, as soon as some are available; ``b""`` at its end."""
        if self.finished:
            return b""
        if not self.started:
            self.started = True
            if self._on_first_read is not None:
                self._on_first_read()
        data = self._read_chunked(size) if self._chunked else self._read_plain(size)
        self.received += len(data)
        room = self.capture_limit - len(self._captured)
        if room > 0:
            self._captured += data[:room]
        return data

    def read_all(self, limit: int) -> bytes | None:
        """The whole body, or ``None`` (having read just past ``limit``) if it is longer."""
        parts: list[bytes] = []
        total = 0
        while True:
            data = self.read(65536)
            if not data:
                return b"".join(parts)
            total += len(data)
            if total > limit:
                return None
            parts.append(data)

    def drain(self) -> None:
        """Read and discard the rest of the body."""
        while self.read(262144):
            pass

    def _read_plain(self, size: int) -> bytes:
        data = self._rfile.read1(min(size, self._remaining))
        if not data:
            raise ClientGoneError("connection closed inside the request body")
        self._remaining -= len(data)
        if self._remaining == 0:
            self.finished = True
        return data

    def _read_chunked(self, size: int) -> bytes:
        while self._chunk_left == 0:
            line = _read_line(self._rfile, "chunk size")
            size_field = line.split(b";", 1)[0].strip()
            if not _HEX.fullmatch(size_field):
                raise MalformedRequestError(400, "malformed chunk size")
            self._chunk_left = int(size_field, 16)
            if self._chunk_left == 0:
                _read_fields(self._rfile)  # trailer fields, ignored
                self.finished = True
                return b""
        data = self._rfile.read1(min(size, self._chunk_left))
        if not data:
            raise ClientGoneError("connection closed inside a chunk")
        self._chunk_left -= len(data)
        if self._chunk_left == 0 and _read_line(self._rfile, "chunk end") not in (b"\r\n", b"\n"):
            raise MalformedRequestError(400, "chunk data longer than its size")
        return data


def response_head(
    status: int,
    headers: Iterable[tuple[str, str]],
    *,
    length: int | None,
    keep_alive: bool,
) -> bytes:
    """The status line and header block; ``length=None`` means a chunked body."""
    try:
        reason = http.HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    lines = [f"HTTP/1.1 {status} {reason}", "Server: seekapi-emulator"]
    lines.append(f"Date: {email.utils.formatdate(usegmt=True)}")
    lines.extend(f"{name}: {value}" for name, value in headers)
    if length is None:
        lines.append("Transfer-Encoding: chunked")
    else:
        lines.append(f"Content-Length: {length}")
    lines.append("Connection: keep-alive" if keep_alive else "Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def chunk_frames(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """``chunks`` framed with the chunked transfer coding, last chunk included."""
    for chunk in chunks:
        if chunk:
            yield b"%x\r\n" % len(chunk) + chunk + b"\r\n"
    yield b"0\r\n\r\n"
