"""The charge ledger: the one rule that counts it, and the lock that keeps it whole.

``charges.jsonl`` holds one line per distinct idempotency key. :func:`read_ledger` is the
rule every reader applies (local mode, the emulator, ``seekapi run``'s summary), so the
totals they show agree. Writers append under the job's lock and, across processes, under
the ledger's ``flock``, so the ledger holds one line per key however many processes
charge; :class:`LedgerIndex` remembers what a process has read of it already.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import time
from collections.abc import Container

from ._localfs import FILE_FLAGS, READ_PATH_FLAGS, Folder, open_file, read_all, write_all
from .errors import ConfigurationError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: the per-process lock only
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "LedgerEntry",
    "LedgerIndex",
    "append_charge",
    "ledger_size",
    "lock_exclusively",
    "open_ledger",
    "parse_ledger",
    "read_ledger",
    "sync_index",
    "unlock",
]

_LEDGER_FLAGS = os.O_RDWR | os.O_APPEND | os.O_CREAT | FILE_FLAGS
# flock() errors of a file system that cannot lock: the per-process lock is all there is.
_NO_FLOCK = frozenset(
    code
    for code in (getattr(errno, name, None) for name in ("ENOLCK", "EOPNOTSUPP", "ENOSYS"))
    if code is not None
)


# -- what a process has read of a ledger --------------------------------------------------


class LedgerIndex:
    """What has been read of a ledger: its keys and total up to ``offset`` (its complete
    lines, ``lines`` of them), valid while the file is ``identity`` (device, inode)."""

    __slots__ = ("identity", "keys", "lines", "offset", "total")

    def __init__(self, identity: tuple[int, int] | None = None) -> None:
        self.identity = identity
        self.keys: set[str] = set()
        self.total = 0
        self.offset = 0
        self.lines = 0


def sync_index(index: LedgerIndex, fd: int, where: str) -> LedgerIndex:
    """``index`` brought up to date with the open ledger ``fd`` (at ``where``).

    Lines appended by another process are read and indexed; a file that was removed,
    replaced or cut short is indexed again from the start (a new index is returned), so
    deleting the folder between runs starts a fresh ledger. The index changes only when
    the read succeeds.
    """
    st = os.fstat(fd)
    identity = (st.st_dev, st.st_ino)
    if identity != index.identity or st.st_size < index.offset:
        index = LedgerIndex(identity)
    if st.st_size > index.offset:
        chunk = os.pread(fd, st.st_size - index.offset, index.offset)
        entries, used, lines = parse_ledger(
            chunk, where, offset=index.offset, line=index.lines + 1, known=index.keys
        )
        index.keys.update(entry.idempotency_key for entry in entries)
        index.total += sum(entry.count for entry in entries)
        index.offset += used
        index.lines += lines
    return index


def append_charge(
    fd: int, index: LedgerIndex, line: bytes, *, key: str, count: int, locked: bool
) -> tuple[bool, int]:
    """Add ``line`` to the open ledger ``fd`` unless ``key`` is in ``index`` (just synced).

    Returns whether it was added and the ledger's total afterwards. A last line without
    its newline is cut off when ``locked`` (no writer holds the lock), and only ended
    otherwise.
    """
    size = os.fstat(fd).st_size
    if size > index.offset:
        if locked:
            os.ftruncate(fd, index.offset)
        else:  # someone may be writing it: only end it
            line = b"\n" + line
    if key in index.keys:
        return False, index.total
    write_all(fd, line)
    index.keys.add(key)
    index.total += count
    end = os.lseek(fd, 0, os.SEEK_CUR)
    if end - len(line) == index.offset:
        # Nothing else was appended since the index was read: skip
        # our own line (without the lock, the next read gets it).
        index.offset = end
        index.lines += 1
    return True, index.total


# -- the cross-process lock ---------------------------------------------------------------


def open_ledger(folder: Folder, name: str) -> int:
    """The ledger ``name`` in ``folder``, open for reading and appending, and still the
    file of that name."""
    while True:
        fd = open_file(folder, name, _LEDGER_FLAGS)
        if folder.fd is None:
            return fd
        try:
            named = os.stat(name, dir_fd=folder.fd, follow_symlinks=False)
        except FileNotFoundError:
            named = None
        st = os.fstat(fd)
        if named is not None and (named.st_dev, named.st_ino) == (st.st_dev, st.st_ino):
            return fd
        os.close(fd)  # removed or replaced just after it was opened: open the new one


def lock_exclusively(fd: int, deadline: float | None, where: str) -> bool:
    """Take the ledger's cross-process lock; False where the system or file system has none.

    Polled rather than blocking, so that an interruption at the job's deadline is not
    held up by another process holding the lock, and so that ``deadline`` (a
    ``time.monotonic()`` value) bounds the wait.
    """
    if fcntl is None:  # pragma: no cover - Windows
        return False
    delay = 0.0005
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            pause = delay
            if deadline is not None:
                pause = min(pause, deadline - time.monotonic())
                if pause <= 0:
                    from .errors import DeadlineExceeded

                    raise DeadlineExceeded(
                        f"charge: another process held the lock of the charge ledger {where!r}"
                        " for the whole of the call's timeout"
                    ) from None
            time.sleep(pause)
            delay = min(delay * 2, 0.01)
        except OSError as exc:
            if exc.errno in _NO_FLOCK:
                return False
            raise


def unlock(fd: int) -> None:
    # Explicitly: a child forked meanwhile shares the descriptor, and closing ours alone
    # would leave the lock held by its copy.
    fcntl.flock(fd, fcntl.LOCK_UN)


# -- the ledger's rule -------------------------------------------------------------------


class LedgerEntry:
    """One charge billed in a ledger: its key, its count, its justification (or ``None``),
    and where its line starts in the file (``offset``, in bytes)."""

    __slots__ = ("count", "idempotency_key", "justification", "offset")

    def __init__(
        self, idempotency_key: str, count: int, justification: object, offset: int = 0
    ) -> None:
        self.idempotency_key = idempotency_key
        self.count = count
        self.justification = justification
        self.offset = offset

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LedgerEntry):
            return NotImplemented
        return (self.idempotency_key, self.count, self.justification, self.offset) == (
            other.idempotency_key,
            other.count,
            other.justification,
            other.offset,
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"LedgerEntry(idempotency_key={self.idempotency_key!r}, count={self.count!r},"
            f" justification={self.justification!r}, offset={self.offset!r})"
        )


def read_ledger(path: str | os.PathLike[str]) -> list[LedgerEntry]:
    """The charges billed in the ledger at ``path``, in order, once per idempotency key.

    The one rule every reader applies (``docs/local-mode.md``): lines end at ``"\\n"``
    and only complete lines count (a last line without its newline is still being
    written); a line that is not a JSON object with a non-blank text ``idempotency_key``
    and a whole ``count`` of at least 1 counts for nothing; a key seen again counts once,
    at its first line. A line nested too deeply to parse raises
    :class:`~seekapi.errors.ConfigurationError` naming the file and the line: it may be
    a charge, so it is not skipped. A missing file is an empty ledger; one that is not a
    regular file (a named pipe...) is a ``ConfigurationError``.
    """
    where = os.fspath(path)
    try:
        fd = os.open(where, READ_PATH_FLAGS)
    except FileNotFoundError:
        return []
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ConfigurationError(f"the charge ledger {where!r} is not a regular file")
        content = read_all(fd)
    finally:
        os.close(fd)
    return parse_ledger(content, where)[0]


def ledger_size(path: str | os.PathLike[str]) -> int:
    """The size of the ledger's complete lines, where the next charge recorded will start."""
    try:
        with open(path, "rb") as ledger:
            content = ledger.read()
    except OSError:
        return 0
    return content.rfind(b"\n") + 1


def parse_ledger(
    content: bytes,
    where: str,
    *,
    offset: int = 0,
    line: int = 1,
    known: Container[str] = frozenset(),
) -> tuple[list[LedgerEntry], int, int]:
    """The entries in ``content``'s complete lines whose keys are not ``known``; also the
    bytes and lines used. ``offset`` and ``line`` say where ``content`` starts in the
    file, for the entries and for an error. Nothing is changed when it raises."""
    keys: set[str] = set()
    entries: list[LedgerEntry] = []
    end = content.rfind(b"\n") + 1  # a line still being written waits
    start = 0
    number = line
    while start < end:
        stop = content.index(b"\n", start)
        entry = _ledger_entry(content[start:stop], where, number, offset + start)
        if (
            entry is not None
            and entry.idempotency_key not in keys
            and (entry.idempotency_key not in known)
        ):
            keys.add(entry.idempotency_key)
            entries.append(entry)
        start = stop + 1
        number += 1
    return entries, end, number - line


def _ledger_entry(raw: bytes, where: str, number: int, offset: int) -> LedgerEntry | None:
    """The charge on one ledger line, or ``None`` when the line is not one."""
    try:
        record = json.loads(raw)
    except RecursionError:
        raise ConfigurationError(
            f"line {number} of the charge ledger {where!r} is nested too deeply to read;"
            " it may be a charge, so it is not skipped: remove or fix the line"
        ) from None
    except ValueError:  # not JSON, or not UTF-8
        return None
    if not isinstance(record, dict):
        return None
    key, count = record.get("idempotency_key"), record.get("count")
    if not isinstance(key, str) or not key.strip() or type(count) is not int or count < 1:
        return None
    return LedgerEntry(key, count, record.get("justification"), offset)
