"""A streaming ``multipart/form-data`` parser that holds at most one read in memory.

It reads from any ``read(size) -> bytes`` callable (a request body), so a part of any
size passes through in pieces of at most ``chunk_size`` bytes::

    reader = MultipartReader(body.read, boundary)
    while (part := reader.next_part()) is not None:
        while chunk := reader.read():
            ...
"""

from __future__ import annotations

import email.message
import email.parser
import email.utils
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["MultipartError", "MultipartReader", "Part", "parse_boundary"]

_MAX_BOUNDARY = 70  # RFC 2046 §5.1.1


class MultipartError(ValueError):
    """The body is not well-formed ``multipart/form-data``; the message says where."""


def parse_boundary(content_type: str | None) -> bytes:
    """The boundary of a ``multipart/form-data`` Content-Type, or :class:`MultipartError`."""
    if not content_type:
        raise MultipartError("Content-Type is missing; expected multipart/form-data")
    msg = email.message.Message()
    msg["Content-Type"] = content_type
    if msg.get_content_type() != "multipart/form-data":
        raise MultipartError("Content-Type is not multipart/form-data")
    boundary = msg.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise MultipartError("Content-Type has no boundary parameter")
    if len(boundary) > _MAX_BOUNDARY or not boundary.isascii():
        raise MultipartError("boundary must be 1 to 70 ASCII characters")
    return boundary.encode("ascii")


@dataclass(frozen=True)
class Part:
    """The header block of one part."""

    headers: email.message.Message
    name: str | None
    filename: str | None
    content_type: str | None
    """The part's Content-Type field as sent, or ``None`` when it has none."""


class MultipartReader:
    """Pull parser over a multipart body; see the module docstring for the loop."""

    def __init__(
        self,
        read: Callable[[int], bytes],
        boundary: bytes,
        *,
        chunk_size: int = 65536,
        max_header_bytes: int = 16384,
    ) -> None:
        self._read = read
        self._chunk_size = chunk_size
        self._max_header_bytes = max_header_bytes
        self._dash_boundary = b"--" + boundary
        self._delimiter = b"\r\n--" + boundary
        self._buf = bytearray()
        self._eof = False
        self._state = "preamble"  # preamble | headers | body | between | done

    def next_part(self) -> Part | None:
        """Skip what is left of the current part and return the next part's headers.

        Returns ``None`` once the closing delimiter has been read.
        """
        if self._state == "preamble":
            self._skip_preamble()
        elif self._state == "body":
            while self.read():
                pass
        if self._state == "between":
            self._after_delimiter()
        if self._state == "done":
            return None
        return self._read_headers()

    def read(self) -> bytes:
        """The next piece of the current part's body, ``b""`` at the end of the part."""
        if self._state != "body":
            return b""
        delimiter = self._delimiter
        while True:
            index = self._buf.find(delimiter)
            if index >= 0:
                data = bytes(self._buf[:index])
                del self._buf[: index + len(delimiter)]
                self._state = "between"
                return data
            # Hold back what could be the start of a delimiter split across reads.
            safe = len(self._buf) - len(delimiter) + 1
            if safe >= self._chunk_size:
                data = bytes(self._buf[:safe])
                del self._buf[:safe]
                return data
            if not self._fill():
                raise MultipartError("the body ended inside a part (no closing boundary)")

    def read_all(self, limit: int) -> bytes:
        """The rest of the current part's body; :class:`MultipartError` beyond ``limit``."""
        data = bytearray()
        while chunk := self.read():
            data += chunk
            if len(data) > limit:
                raise MultipartError(f"a text part is longer than {limit} bytes")
        return bytes(data)

    # -- internals -------------------------------------------------------------------

    def _fill(self) -> bool:
        """Append one read to the buffer; False at the end of the body."""
        if self._eof:
            return False
        data = self._read(self._chunk_size)
        if not data:
            self._eof = True
            return False
        self._buf += data
        return True

    def _need(self, count: int) -> bool:
        while len(self._buf) < count:
            if not self._fill():
                return False
        return True

    def _skip_preamble(self) -> None:
        # The first delimiter opens the body, or follows a preamble ending in CRLF.
        if self._need(len(self._dash_boundary)) and self._buf.startswith(self._dash_boundary):
            del self._buf[: len(self._dash_boundary)]
            self._state = "between"
            return
        while True:
            index = self._buf.find(self._delimiter)
            if index >= 0:
                del self._buf[: index + len(self._delimiter)]
                self._state = "between"
                return
            if len(self._buf) > self._max_header_bytes:
                raise MultipartError("no opening boundary in the first bytes of the body")
            if not self._fill():
                raise MultipartError("the body has no opening boundary")

    def _after_delimiter(self) -> None:
        if not self._need(2):
            raise MultipartError("the body ended right after a boundary")
        if self._buf.startswith(b"--"):
            # Closing delimiter; whatever follows is an epilogue, ignored.
            self._buf.clear()
            self._state = "done"
            return
        # Transport padding (spaces, tabs) may precede the CRLF ending a boundary line.
        while True:
            stripped = self._buf.lstrip(b" \t")
            if len(stripped) >= 2 or len(self._buf) > 1024:
                break
            if not self._fill():
                break
        if not stripped.startswith(b"\r\n"):
            raise MultipartError("a boundary line does not end with CRLF")
        del self._buf[: len(self._buf) - len(stripped) + 2]
        self._state = "headers"

    def _read_headers(self) -> Part:
        while True:
            if self._buf.startswith(b"\r\n"):  # a part with no header fields
                end, skip = 0, 2
                break
            index = self._buf.find(b"\r\n\r\n")
            if index >= 0:
                end, skip = index, index + 4
                break
            if len(self._buf) > self._max_header_bytes:
                raise MultipartError("a part's header block is too long")
            if not self._fill():
                raise MultipartError("the body ended inside a part's headers")
        raw = bytes(self._buf[:end])
        del self._buf[:skip]
        if len(raw) > self._max_header_bytes:
            raise MultipartError("a part's header block is too long")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise MultipartError("a part's headers are not valid UTF-8") from None
        headers = email.parser.HeaderParser().parsestr(text + "\r\n\r\n")
        if headers.defects:
            raise MultipartError("a part's headers are malformed")
        self._state = "body"
        name: str | None = None
        filename: str | None = None
        if headers.get("content-disposition") is not None:
            if headers.get_content_disposition() != "form-data":
                raise MultipartError("a part's Content-Disposition is not form-data")
            raw_name = headers.get_param("name", header="content-disposition")
            name = email.utils.collapse_rfc2231_value(raw_name) if raw_name is not None else None
            filename = headers.get_filename()
        content_type = headers.get("content-type")
        return Part(
            headers=headers,
            name=name,
            filename=filename,
            content_type=content_type.strip() if content_type is not None else None,
        )
