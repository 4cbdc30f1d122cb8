"""The ``push_file`` request body: ``multipart/form-data`` streamed from disk.

The backend expects exactly three parts, in this order::

    execution_token   text
    name              text (the file's name, exactly as given, UTF-8)
    file              the bytes, with filename="<name>" and a Content-Type

The body is produced in fixed-size pieces read from the open file, so memory use does
not grow with the file, and ``chunks()`` starts again from the first byte on every
call, which is how a retried upload rewinds. Its length is known up front
(``Content-Length``) and checked while reading: a file that changes size during the
upload is an error rather than a body that disagrees with its header.
"""

from __future__ import annotations

import errno
import io
import os
import stat
from collections.abc import Iterator
from types import TracebackType

from .errors import UsageError

__all__ = ["FileUpload", "encode_filename", "guess_content_type"]

DEFAULT_CONTENT_TYPE = "application/octet-stream"
DEFAULT_CHUNK_SIZE = 256 * 1024

# Characters percent-encoded in the filename="..." parameter. The WHATWG HTML form
# encoding escapes '"', CR and LF; backslash and the other controls are escaped too, so
# that no parser reads them as an escape, a path separator or a line break. C1 controls
# and U+2028/U+2029 are escaped because parsers that decode headers as text and split
# lines with str.splitlines() would break the header there.
_FILENAME_ESCAPES = {
    cp: "".join(f"%{b:02X}" for b in chr(cp).encode("utf-8"))
    for cp in (*range(0x20), 0x22, 0x5C, *range(0x7F, 0xA0), 0x2028, 0x2029)
}


def guess_content_type(local_path: str) -> str:
    """The MIME type guessed from ``local_path``'s extension, else ``application/octet-stream``.

    Guessed from the local path, not the pushed name, as seekapi 1.0.5 did.
    """
    import mimetypes  # reads the system's type maps; only push_file needs it

    return mimetypes.guess_type(local_path)[0] or DEFAULT_CONTENT_TYPE


def encode_filename(name: str) -> str:
    """``name`` made safe for a quoted ``filename="..."`` parameter.

    ``"``, ``\\``, C0 and C1 controls, DEL, U+2028 and U+2029 become ``%XX`` escapes of
    their UTF-8 bytes; everything else, non-ASCII included, is kept as is.
    """
    return name.translate(_FILENAME_ESCAPES)


class FileUpload:
    """A ``multipart/form-data`` body whose file part is read from disk in chunks.

    The file is opened (and its size measured) when the upload is built, so a missing
    file or a directory fails then, with the ``OSError`` that ``open`` raises. Use it as
    a context manager, or call :meth:`close`, to close the file.

    Send ``content_type`` as the request's ``Content-Type`` and ``content_length`` as
    its ``Content-Length``, then every piece :meth:`chunks` yields, in order.
    """

    content_type: str
    """The request's ``Content-Type``: ``multipart/form-data; boundary=...``."""
    content_length: int
    """The exact length of the whole body in bytes."""

    def __init__(
        self,
        *,
        execution_token: str,
        name: str,
        local_path: str,
        content_type: str,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> None:
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        token_bytes = _utf8(execution_token, "the execution token")
        name_bytes = _utf8(name, "the file name")
        filename_bytes = encode_filename(name).encode("utf-8")
        part_type = _part_content_type(content_type)
        self._chunk_size = chunk_size

        self._file = open_regular(local_path)
        self._size = os.fstat(self._file.fileno()).st_size

        boundary = _new_boundary()
        # The boundary must not occur inside any part. For the file's bytes a random
        # 128-bit boundary makes that a practical certainty; the text parts are checked.
        while any(boundary in part for part in (token_bytes, name_bytes, filename_bytes)):
            boundary = _new_boundary()
        dash = b"--" + boundary
        self._head = b"".join(
            [
                dash,
                b'\r\nContent-Disposition: form-data; name="execution_token"\r\n\r\n',
                token_bytes,
                b"\r\n",
                dash,
                b'\r\nContent-Disposition: form-data; name="name"\r\n\r\n',
                name_bytes,
                b"\r\n",
                dash,
                b'\r\nContent-Disposition: form-data; name="file"; filename="',
                filename_bytes,
                b'"\r\nContent-Type: ',
                part_type,
                b"\r\n\r\n",
            ]
        )
        self._tail = b"\r\n" + dash + b"--\r\n"
        self.content_type = "multipart/form-data; boundary=" + boundary.decode("ascii")
        self.content_length = len(self._head) + self._size + len(self._tail)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has been called."""
        return self._file.closed

    def chunks(self) -> Iterator[bytes | memoryview]:
        """Yield the whole body from its first byte; each call starts over.

        Every piece but the last is exactly ``chunk_size`` bytes. Pieces are read-only
        views of one buffer that is refilled for the next piece: send (or copy) each
        piece before asking for the next one.

        Raises :class:`~seekapi.errors.UsageError` when the file is found shorter or
        longer than when the upload was built (it changed while being pushed), before
        any byte that would disagree with ``content_length`` is yielded.
        """
        if self._file.closed:
            raise ValueError("the upload is closed")
        self._check_size(os.fstat(self._file.fileno()).st_size)
        return self._generate()

    def _generate(self) -> Iterator[bytes | memoryview]:
        size = self._size
        capacity = self._chunk_size
        buf = bytearray(capacity)
        view = memoryview(buf)
        out = view.toreadonly()
        # Head, file and tail are packed into full buffers: a small body goes out as one
        # piece, a large one as chunk_size pieces, never as many tiny sends.
        filled = 0
        for source in (self._head, None, self._tail):
            if source is None:
                offset = 0
                while offset < size:
                    want = min(capacity - filled, size - offset)
                    got = self._read_at(view[filled : filled + want], offset)
                    if got == 0:
                        self._check_size(offset)
                    filled += got
                    offset += got
                    if filled == capacity:
                        yield out
                        filled = 0
                # One more byte at the end means the file grew since it was measured.
                # (filled < capacity here: a full buffer is always yielded and emptied.)
                if self._read_at(view[filled : filled + 1], size):
                    self._check_size(size + 1)
                continue
            data = memoryview(source)
            pos = 0
            while pos < len(data):
                n = min(capacity - filled, len(data) - pos)
                view[filled : filled + n] = data[pos : pos + n]
                filled += n
                pos += n
                if filled == capacity:
                    yield out
                    filled = 0
        if filled:
            yield out[:filled]

    def _read_at(self, target: memoryview, offset: int) -> int:
        """Read into ``target`` from ``offset``; returns the byte count (0 at end of file)."""
        if _HAVE_PREADV:
            return os.preadv(self._file.fileno(), [target], offset)
        # Windows has no positional reads; seek then read.
        self._file.seek(offset)
        return self._file.readinto(target) or 0

    def _check_size(self, seen: int) -> None:
        if seen != self._size:
            change = "grew" if seen > self._size else "shrank"
            raise UsageError(
                f"the file {change} while being pushed (it had {self._size} bytes when the "
                "push started); push a file that is no longer being written"
            )

    def close(self) -> None:
        """Close the file. Safe to call more than once."""
        self._file.close()

    def __enter__(self) -> FileUpload:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<FileUpload {self._size} bytes, {'closed' if self.closed else 'open'}>"


_HAVE_PREADV = hasattr(os, "preadv")


def open_regular(path: str) -> io.FileIO:
    """Open ``path`` for reading, refusing anything but a regular file.

    Opened non-blocking first so that a named pipe is refused instead of waiting for a
    writer; a pipe or device has no size to announce and cannot be re-read on a retry.
    """
    nonblock: int = getattr(os, "O_NONBLOCK", 0)  # absent on Windows
    fd = os.open(path, os.O_RDONLY | nonblock | getattr(os, "O_BINARY", 0))
    try:
        _require_regular(fd, path)
        if nonblock:
            os.set_blocking(fd, True)
        return io.FileIO(fd, "rb", closefd=True)
    except BaseException:
        os.close(fd)
        raise


def _require_regular(fd: int, path: str) -> None:
    mode = os.fstat(fd).st_mode
    if stat.S_ISDIR(mode):
        # What open() raises for a directory; os.open() itself accepts one.
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
    if not stat.S_ISREG(mode):
        raise UsageError(f"cannot push {path!r}: it is not a regular file")


def _new_boundary() -> bytes:
    # os.urandom, not secrets: importing secrets costs milliseconds (hashlib, random).
    return b"seekapi-" + os.urandom(16).hex().encode("ascii")


def _utf8(text: str, what: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"{what} is not valid text (it holds a lone surrogate)") from None


def _part_content_type(content_type: str) -> bytes:
    value = content_type.strip()
    if not value:
        return DEFAULT_CONTENT_TYPE.encode("ascii")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise UsageError("content_type must not contain line breaks or control characters")
    return _utf8(value, "content_type")
