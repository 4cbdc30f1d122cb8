"""Local mode: push_data, push_file and charge write files instead of calling the backend.

Everything for one job goes under ``<directory>/<job>/`` (see ``docs/local-mode.md``)::

    response_json.json   the latest push_data payload (replaced atomically)
    data_pushes.jsonl    one line per push_data
    file_pushes.jsonl    one line per push_file
    charges.jsonl        one line per distinct idempotency key (the charge ledger)
    files/               copies of pushed files

Many threads may push at once: each ``.jsonl`` line is one ``write`` on an append-only
descriptor under the job's lock, so lines never interleave; ``response_json.json`` is
written to a temporary file that then takes its name in one step, so a reader sees the
old file or the new one, never a part. The ledger is also locked across processes
(``flock``), so it holds one line per key however many processes charge. Nothing inside
the local directory is written through a symbolic link: names are resolved from open
folder descriptors, without following links. Nothing is fsynced: these are a
developer's scratch files, and speed matters more.

The emulator (:mod:`seekapi.testing`) writes its job folders with :class:`JobFiles` and
reads ledgers with :func:`read_ledger`, so both follow the same rules.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import stat
import sys
import threading
import time
from collections.abc import Callable, Container
from functools import cache
from typing import Any, NoReturn

from ._json import dumps_text
from ._settings import ENV_LOCAL_DIR, ENV_LOCAL_FIXTURES, LocalSettings
from .errors import ConfigurationError, UsageError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: the per-process lock only
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "CHARGES_FILE",
    "DATA_PUSHES_FILE",
    "FILES_DIR",
    "FILE_PUSHES_FILE",
    "RESPONSE_FILE",
    "JobFiles",
    "LedgerEntry",
    "charge",
    "check_text",
    "get_job_fixture",
    "job_dir",
    "job_files",
    "ledger_size",
    "load_fixtures",
    "push_data",
    "push_file",
    "read_ledger",
    "require_job",
    "safe_name",
    "utc_now",
]

RESPONSE_FILE = "response_json.json"
DATA_PUSHES_FILE = "data_pushes.jsonl"
FILE_PUSHES_FILE = "file_pushes.jsonl"
CHARGES_FILE = "charges.jsonl"
FILES_DIR = "files"

_UNSAFE_RUN = re.compile(r"[^A-Za-z0-9._-]+")
# Longer names are cut and given a hash suffix: well under the usual 255-byte NAME_MAX,
# with room left for a "-N" counter.
_NAME_CAP = 200
_EXT_KEEP = 16  # an extension up to this long survives the cut
_WINDOWS = os.name == "nt"
_WINDOWS_DEVICES = frozenset(
    ["CON", "PRN", "AUX", "NUL"]
    + [f"{port}{digit}" for port in ("COM", "LPT") for digit in "123456789"]
)

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)  # Windows: no newline translation
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
# A named pipe planted where a file is expected is refused instead of waited on.
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_FILE_FLAGS = _O_CLOEXEC | _O_BINARY | _O_NOFOLLOW | _O_NONBLOCK
_APPEND_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | _FILE_FLAGS
_LEDGER_FLAGS = os.O_RDWR | os.O_APPEND | os.O_CREAT | _FILE_FLAGS
_READ_FLAGS = os.O_RDONLY | _FILE_FLAGS
_CLAIM_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _FILE_FLAGS
_DIR_FLAGS = os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC
# Where folders can be opened and names resolved from them without following links;
# elsewhere (Windows) names are checked for links before use.
_AT = (
    bool(_O_DIRECTORY and _O_NOFOLLOW)
    and {os.open, os.mkdir, os.stat, os.unlink, os.rename} <= os.supports_dir_fd
)
# renameat2() arguments (linux/fcntl.h, linux/fs.h).
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_COPY_CHUNK = 1 << 20
_SENDFILE_CHUNK = 1 << 26
# sendfile() refuses some pairs of files (a target that is not a socket on macOS, some
# file systems): fall back to read/write when it fails this way before copying anything.
_SENDFILE_UNSUPPORTED = frozenset(
    code
    for code in (
        getattr(errno, name, None)
        for name in ("EINVAL", "ENOSYS", "ENOTSOCK", "EOPNOTSUPP", "ENOTSUP", "EXDEV")
    )
    if code is not None
)
# flock() errors of a file system that cannot lock: the per-process lock is all there is.
_NO_FLOCK = frozenset(
    code
    for code in (getattr(errno, name, None) for name in ("ENOLCK", "EOPNOTSUPP", "ENOSYS"))
    if code is not None
)


# -- names and text --------------------------------------------------------------------


def safe_name(value: str, default: str) -> str:
    """A folder or file name made from ``value`` that stays inside its parent folder.

    Surrounding white space is stripped and each run of characters outside
    ``[A-Za-z0-9._-]`` becomes ``_``; a blank result is ``default`` (the 1.0.5 rule, so
    ``job-123`` and ``report.pdf`` are kept as they are). Then, unlike 1.0.5: a name made
    only of dots (``.``, ``..``, ...) gets a ``_`` in front, and a name longer than 200
    characters is cut, keeping a short extension, with ``-`` and 12 hex digits of its
    SHA-256 before the extension, so distinct long names stay distinct. On Windows, a
    device name (``NUL``, ``con.txt``, ``COM1``...) also gets a ``_`` in front.
    """
    name = _UNSAFE_RUN.sub("_", value.strip())
    if not name:
        return default
    if not name.strip(".") or (_WINDOWS and _is_windows_device(name)):
        name = f"_{name}"
    if len(name) > _NAME_CAP:
        import hashlib

        digest = hashlib.sha256(name.encode("ascii")).hexdigest()[:12]
        stem, ext = _split_ext(name)
        if len(ext) > _EXT_KEEP:
            stem, ext = name, ""
        name = f"{stem[: _NAME_CAP - len(ext) - len(digest) - 1]}-{digest}{ext}"
    return name


def _is_windows_device(name: str) -> bool:
    """True for names Windows opens as a device wherever they are: ``NUL``, ``con.txt``..."""
    stem = name.split(".", 1)[0].upper()
    return stem in _WINDOWS_DEVICES


def _split_ext(name: str) -> tuple[str, str]:
    """``("report", ".pdf")`` for ``report.pdf``; a leading or trailing dot is no extension."""
    dot = name.rfind(".")
    if 0 < dot < len(name) - 1:
        return name[:dot], name[dot:]
    return name, ""


def check_text(value: str, what: str, error: type[UsageError] = UsageError) -> None:
    """Raise ``error`` (a :class:`~seekapi.errors.UsageError`) naming ``what`` when ``value``
    holds a lone surrogate (``"\\ud800"``), which the UTF-8 artifacts cannot hold."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise error(
                f"{what} is not valid text (it holds a lone surrogate), so local mode"
                " cannot write it"
            ) from None


def require_job(job_uuid: str, execution_token: str, operation: str) -> None:
    """Raise :class:`~seekapi.errors.UsageError` unless both ids are non-blank valid text."""
    if not job_uuid.strip() or not execution_token.strip():
        raise UsageError(f"{operation} requires job_uuid and execution_token in local mode")
    check_text(job_uuid, f"{operation}: the job_uuid")
    check_text(execution_token, f"{operation}: the execution_token")


# -- folders opened without following links ----------------------------------------------


class _Dir:
    """An open folder. Names inside it are resolved from its descriptor, so a link planted
    on the way cannot redirect them; without descriptor calls (Windows), from its path."""

    __slots__ = ("fd", "path")

    def __init__(self, fd: int | None, path: str) -> None:
        self.fd = fd
        self.path = path

    def name(self, name: str) -> str:
        """What to pass with ``dir_fd=self.fd`` to reach ``name`` inside the folder."""
        return name if self.fd is not None else os.path.join(self.path, name)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)


def _link_error(path: str) -> ConfigurationError:
    return ConfigurationError(
        f"{path} is a symbolic link: local mode writes only real files and folders inside"
        f" {ENV_LOCAL_DIR}, never through a link; remove it"
    )


def _refusal(folder: _Dir, name: str, expected: str, exc: OSError | None) -> Exception:
    """The error for ``name`` in ``folder`` not being what was expected (a link, a pipe...).

    ``exc`` (what opening it raised) is returned when the entry looks right after all.
    """
    path = os.path.join(folder.path, name)
    try:
        mode = os.stat(folder.name(name), dir_fd=folder.fd, follow_symlinks=False).st_mode
    except OSError:
        mode = None
    if mode is not None and stat.S_ISLNK(mode):
        return _link_error(path)
    wanted = stat.S_ISDIR if expected == "a folder" else stat.S_ISREG
    if mode is not None and not wanted(mode):
        return ConfigurationError(
            f"{path} is not {expected}: local mode writes only real files and folders"
            f" inside {ENV_LOCAL_DIR}; remove it"
        )
    return exc if exc is not None else ConfigurationError(f"cannot use {path}")


def _raise_refusal(folder: _Dir, name: str, expected: str, exc: OSError) -> NoReturn:
    """Raise the refusal of ``name``, or ``exc`` itself when the entry looks right."""
    refusal = _refusal(folder, name, expected, exc)
    if refusal is exc:
        raise exc
    raise refusal from exc


def _open_base(directory: str) -> _Dir:
    """The local directory, made if missing. It and the folders above it are the user's
    choice, so links there are followed."""
    if not _AT:
        os.makedirs(directory, exist_ok=True)
        return _Dir(None, directory)
    try:
        return _Dir(os.open(directory, _DIR_FLAGS), directory)
    except FileNotFoundError:
        os.makedirs(directory, exist_ok=True)
        return _Dir(os.open(directory, _DIR_FLAGS), directory)


def _open_folder(parent: _Dir, name: str) -> tuple[_Dir, bool]:
    """The folder ``name`` inside ``parent``, made if missing; refuses a link or a file.

    Returns the folder and whether this call made it.
    """
    path = os.path.join(parent.path, name)
    if parent.fd is None:
        if os.path.islink(path):
            raise _link_error(path)
        made = not os.path.isdir(path)
        os.makedirs(path, exist_ok=True)
        return _Dir(None, path), made
    made = tried = False
    while True:
        try:
            return _Dir(os.open(name, _DIR_FLAGS | _O_NOFOLLOW, dir_fd=parent.fd), path), made
        except FileNotFoundError:
            if tried:
                raise
        except OSError as exc:  # a link (ELOOP), a file (ENOTDIR), ...
            _raise_refusal(parent, name, "a folder", exc)
        tried = True
        try:
            os.mkdir(name, 0o777, dir_fd=parent.fd)
            made = True
        except FileExistsError:
            pass  # made meanwhile by another writer: open it


def _open_file(folder: _Dir, name: str, flags: int) -> int:
    """A descriptor for the regular file ``name`` in ``folder``; refuses a link, a pipe..."""
    if folder.fd is None and os.path.islink(os.path.join(folder.path, name)):
        raise _link_error(os.path.join(folder.path, name))
    try:
        fd = os.open(folder.name(name), flags, 0o666, dir_fd=folder.fd)
    except FileNotFoundError:
        raise
    except OSError as exc:
        _raise_refusal(folder, name, "a regular file", exc)
    try:
        regular = stat.S_ISREG(os.fstat(fd).st_mode)
    except BaseException:
        os.close(fd)
        raise
    if not regular:
        os.close(fd)
        raise _refusal(folder, name, "a regular file", None)
    return fd


def _refuse_special(folder: _Dir, name: str) -> None:
    """Refuse ``name`` in ``folder`` when it exists and is not a regular file (a link...)."""
    if folder.fd is None:
        path = os.path.join(folder.path, name)
        if os.path.islink(path):
            raise _link_error(path)
        return
    try:
        mode = os.stat(name, dir_fd=folder.fd, follow_symlinks=False).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISREG(mode):
        raise _refusal(folder, name, "a regular file", None)


def _unlink_quietly(folder: _Dir, name: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(folder.name(name), dir_fd=folder.fd)


# -- job folders ---------------------------------------------------------------------------


class _LedgerIndex:
    """What has been read of a ledger: its keys and total up to ``offset`` (its complete
    lines, ``lines`` of them), valid while the file is ``identity`` (device, inode)."""

    __slots__ = ("identity", "keys", "lines", "offset", "total")

    def __init__(self, identity: tuple[int, int] | None = None) -> None:
        self.identity = identity
        self.keys: set[str] = set()
        self.total = 0
        self.offset = 0
        self.lines = 0


class JobFiles:
    """One job folder: its paths, its lock, its ledger index, and the writes made to it.

    Get one with :func:`job_files`. Every write opens the folder afresh (made again if it
    was removed) and refuses a symbolic link, a pipe or another odd entry where a file
    or folder of its own is expected, with a :class:`~seekapi.errors.ConfigurationError`.
    """

    __slots__ = (
        "charges",
        "data_pushes",
        "directory",
        "file_pushes",
        "files",
        "ledger",
        "lock",
        "name",
        "path",
        "response",
    )

    def __init__(self, directory: str, name: str) -> None:
        self.directory = directory
        self.name = name
        self.path = os.path.join(directory, name)
        self.files = os.path.join(self.path, FILES_DIR)
        self.response = os.path.join(self.path, RESPONSE_FILE)
        self.data_pushes = os.path.join(self.path, DATA_PUSHES_FILE)
        self.file_pushes = os.path.join(self.path, FILE_PUSHES_FILE)
        self.charges = os.path.join(self.path, CHARGES_FILE)
        # Held while appending a line or replacing response_json.json (not while copying
        # a file): lines never interleave, the ledger index stays consistent, and the last
        # line of data_pushes.jsonl always matches response_json.json.
        self.lock = threading.Lock()
        self.ledger = _LedgerIndex()

    def _open(self) -> _Dir:
        if _AT:
            # The usual case in one call: O_NOFOLLOW applies to the job folder only, and
            # the local directory above it may be a link.
            try:
                return _Dir(os.open(self.path, _DIR_FLAGS | _O_NOFOLLOW), self.path)
            except FileNotFoundError:
                pass  # made below, with the local directory if need be
            except OSError as exc:
                parent = _Dir(None, self.directory)  # names from the path, for the refusal
                _raise_refusal(parent, self.name, "a folder", exc)
        base = _open_base(self.directory)
        try:
            folder, made = _open_folder(base, self.name)
        finally:
            base.close()
        if made:  # a new job folder gets its files/ at once
            try:
                _open_folder(folder, FILES_DIR)[0].close()
            except BaseException:
                folder.close()
                raise
        return folder

    def make_dirs(self) -> None:
        """Make the job folder and its ``files/`` if they are missing."""
        folder = self._open()
        try:
            _open_folder(folder, FILES_DIR)[0].close()
        finally:
            folder.close()

    def write_push(self, line: bytes, document: bytes) -> None:
        """Add ``line`` to ``data_pushes.jsonl`` and make ``document`` ``response_json.json``."""
        with self.lock:
            folder = self._open()
            try:
                # A link there is refused before anything is written.
                _refuse_special(folder, RESPONSE_FILE)
                _append(folder, DATA_PUSHES_FILE, line)
                _replace(folder, RESPONSE_FILE, document)
            finally:
                folder.close()

    def open_files(self) -> _Dir:
        """The job's ``files/`` folder, opened (and made if missing); the caller closes it."""
        folder = self._open()
        try:
            return _open_folder(folder, FILES_DIR)[0]
        finally:
            folder.close()

    def claim(self, name: str) -> tuple[str, int]:
        """Create the first free name of ``name`` (already safe) in ``files/``: ``name``,
        ``stem-2.ext``, ``stem-3.ext``, ... Returns it and a descriptor open for writing."""
        files = self.open_files()
        try:
            return _claim(files, name)
        finally:
            files.close()

    def append_file_record(self, line: bytes) -> None:
        """Add ``line`` to ``file_pushes.jsonl``."""
        with self.lock:
            folder = self._open()
            try:
                _append(folder, FILE_PUSHES_FILE, line)
            finally:
                folder.close()

    def record_charge(
        self, idempotency_key: str, count: int, line: bytes, timeout: float | None = None
    ) -> tuple[bool, int]:
        """Add ``line`` to the ledger unless ``idempotency_key`` is in it already.

        Returns whether it was added and the ledger's total afterwards. The ledger is
        locked (``flock``) and read again under the lock, so processes charging the same
        key at once record it once. A last line without its newline was left by a writer
        that died mid-write (no writer holds the lock): it is cut off first. With a
        ``timeout``, waiting longer than that for another process's lock raises
        :class:`~seekapi.errors.DeadlineExceeded`.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.lock:
            folder = self._open()
            try:
                fd = _open_ledger(folder)
                try:
                    locked = _lock_exclusively(fd, deadline, self.charges)
                    try:
                        index = self._sync_ledger(fd)
                        size = os.fstat(fd).st_size
                        if size > index.offset:
                            if locked:
                                os.ftruncate(fd, index.offset)
                            else:  # someone may be writing it: only end it
                                line = b"\n" + line
                        if idempotency_key in index.keys:
                            return False, index.total
                        _write_all(fd, line)
                        index.keys.add(idempotency_key)
                        index.total += count
                        end = os.lseek(fd, 0, os.SEEK_CUR)
                        if end - len(line) == index.offset:
                            # Nothing else was appended since the index was read: skip
                            # our own line (without the lock, the next read gets it).
                            index.offset = end
                            index.lines += 1
                        return True, index.total
                    finally:
                        if locked:
                            _unlock(fd)
                finally:
                    os.close(fd)
            finally:
                folder.close()

    def _sync_ledger(self, fd: int) -> _LedgerIndex:
        """Bring the ledger index up to date with the open ledger ``fd``.

        Lines appended by another process are read and indexed; a file that was removed,
        replaced or cut short is indexed again from the start, so deleting the folder
        between runs starts a fresh ledger. The index changes only when the read succeeds.
        """
        st = os.fstat(fd)
        index = self.ledger
        identity = (st.st_dev, st.st_ino)
        if identity != index.identity or st.st_size < index.offset:
            index = _LedgerIndex(identity)
        if st.st_size > index.offset:
            chunk = os.pread(fd, st.st_size - index.offset, index.offset)
            entries, used, lines = _parse_ledger(
                chunk, self.charges, offset=index.offset, line=index.lines + 1, known=index.keys
            )
            index.keys.update(entry.idempotency_key for entry in entries)
            index.total += sum(entry.count for entry in entries)
            index.offset += used
            index.lines += lines
        self.ledger = index
        return index

    def read_charges(self) -> list[LedgerEntry]:
        """The charges in the job's ledger, by :func:`read_ledger`'s rule."""
        with self.lock:  # no line is half written by this process while the file is read
            folder = self._open()
            try:
                try:
                    fd = _open_file(folder, CHARGES_FILE, _READ_FLAGS)
                except FileNotFoundError:
                    return []
                try:
                    content = _read_all(fd)
                finally:
                    os.close(fd)
            finally:
                folder.close()
        return _parse_ledger(content, self.charges)[0]


def _open_ledger(folder: _Dir) -> int:
    """The ledger, open for reading and appending, and still the file of that name."""
    while True:
        fd = _open_file(folder, CHARGES_FILE, _LEDGER_FLAGS)
        if folder.fd is None:
            return fd
        try:
            named = os.stat(CHARGES_FILE, dir_fd=folder.fd, follow_symlinks=False)
        except FileNotFoundError:
            named = None
        st = os.fstat(fd)
        if named is not None and (named.st_dev, named.st_ino) == (st.st_dev, st.st_ino):
            return fd
        os.close(fd)  # removed or replaced just after it was opened: open the new one


def _lock_exclusively(fd: int, deadline: float | None, where: str) -> bool:
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


def _unlock(fd: int) -> None:
    # Explicitly: a child forked meanwhile shares the descriptor, and closing ours alone
    # would leave the lock held by its copy.
    fcntl.flock(fd, fcntl.LOCK_UN)


# Job folders made by this process, by (absolute directory, job id) and by folder path.
_JOBS: dict[tuple[str, str], JobFiles] = {}
_JOBS_BY_PATH: dict[str, JobFiles] = {}
_JOBS_LOCK = threading.Lock()


def job_files(directory: str, job_uuid: str) -> JobFiles:
    """The :class:`JobFiles` of ``<directory>/<safe_name(job_uuid, "unknown-job")>``.

    The folder, with ``files/`` inside, is made the first time this process asks for it.
    Raises :class:`~seekapi.errors.ConfigurationError` when it is a symbolic link.
    """
    # A relative directory follows the working directory, as it would without the cache.
    if not os.path.isabs(directory):
        directory = os.path.abspath(directory)
    key = (directory, job_uuid)
    job = _JOBS.get(key)
    if job is not None:
        return job
    base = os.path.normpath(directory)
    name = safe_name(job_uuid, "unknown-job")
    path = os.path.join(base, name)
    with _JOBS_LOCK:
        job = _JOBS_BY_PATH.get(path)
        if job is None:
            job = JobFiles(base, name)
            job.make_dirs()
            _JOBS_BY_PATH[path] = job
        _JOBS[key] = job
    return job


def job_dir(directory: str, job_uuid: str) -> str:
    """The job's folder, ``<directory>/<safe_name(job_uuid, "unknown-job")>``, made with
    ``files/`` inside. The path is absolute and always directly inside ``directory``."""
    return job_files(directory, job_uuid).path


def _after_fork_in_child() -> None:
    """Give a forked child locks of its own: one held by another thread of the parent at
    the fork would never be released in the child, whose only thread is the forking one."""
    global _JOBS_LOCK  # noqa: PLW0603 - replaced, not shared, in the child
    _JOBS_LOCK = threading.Lock()
    for job in list(_JOBS_BY_PATH.values()):
        job.lock = threading.Lock()
        # A thread of the parent may have been updating it: read the ledger afresh.
        job.ledger = _LedgerIndex()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


# -- writing ---------------------------------------------------------------------------


# The formatted date and time of the last second seen: most calls reuse it.
_LAST_SECOND: tuple[int, str] = (-1, "")


def utc_now() -> str:
    """``2026-11-27T17:00:00.123456Z``: UTC, always six fraction digits."""
    global _LAST_SECOND  # noqa: PLW0603 - a one-entry cache; a race only recomputes it
    seconds, nanos = divmod(time.time_ns(), 1_000_000_000)
    last_seconds, text = _LAST_SECOND
    if seconds != last_seconds:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        _LAST_SECOND = (seconds, text)
    return f"{text}.{nanos // 1000:06d}Z"


def _line(record: dict[str, object]) -> bytes:
    return (dumps_text(record) + "\n").encode("utf-8")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, _COPY_CHUNK):
        chunks.append(chunk)
    return b"".join(chunks)


def _append(folder: _Dir, name: str, line: bytes) -> None:
    """Append ``line`` to ``name`` in ``folder`` with one write."""
    fd = _open_file(folder, name, _APPEND_FLAGS)
    try:
        _write_all(fd, line)
    finally:
        os.close(fd)


def _replace(folder: _Dir, name: str, content: bytes) -> None:
    """Write ``content`` to a new temporary file beside ``name``, then put it in place
    atomically: a reader opening ``name`` gets the old file or the new one, whole."""
    fd, temp = _new_temporary(folder, name)
    try:
        try:
            _write_all(fd, content)
        finally:
            os.close(fd)
        if _exchange(folder, temp, name):
            os.unlink(folder.name(temp), dir_fd=folder.fd)  # it now holds the old file
        else:
            os.replace(
                folder.name(temp), folder.name(name), src_dir_fd=folder.fd, dst_dir_fd=folder.fd
            )
    except BaseException:
        _unlink_quietly(folder, temp)
        raise


def _new_temporary(folder: _Dir, name: str) -> tuple[int, str]:
    """Create a hidden file with a random name beside ``name``; its descriptor and name.

    Random, and created exclusively: no one can guess the name beforehand, and a name
    that exists already, a link included, is never opened.
    """
    while True:
        temp = f".{name}.{os.urandom(8).hex()}.tmp"
        try:
            return os.open(folder.name(temp), _CLAIM_FLAGS, 0o666, dir_fd=folder.fd), temp
        except FileExistsError:
            continue


def _exchange(folder: _Dir, first: str, second: str) -> bool:
    """Swap two existing names in ``folder`` in one step (Linux ``renameat2(RENAME_EXCHANGE)``).

    Why not only ``os.replace``: on ext4, renaming over an existing file makes the kernel
    allocate the new file's blocks and start writing them out at once, and frees the old
    file's blocks, which made each push_data several times slower. After a swap the old
    file is unlinked while its data usually was never allocated, which costs little.
    False when the swap is not possible (another system, a file system without it, or
    ``second`` does not exist yet); the caller then uses ``os.replace``.
    """
    renameat2 = _load_renameat2()
    if renameat2 is None:
        return False
    at = _AT_FDCWD if folder.fd is None else folder.fd
    first_name, second_name = os.fsencode(folder.name(first)), os.fsencode(folder.name(second))
    return renameat2(at, first_name, at, second_name, _RENAME_EXCHANGE) == 0


@cache
def _load_renameat2() -> Callable[[int, bytes, int, bytes, int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        function = ctypes.CDLL(None).renameat2
    except (OSError, AttributeError):  # no C library to load, or one too old to have it
        return None
    function.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    function.restype = ctypes.c_int
    return function


# -- the three calls -------------------------------------------------------------------


def push_data(
    local: LocalSettings, job_uuid: str, execution_token: str, data: object, type: str
) -> dict[str, object]:
    """Make ``data`` the job's result: replace ``response_json.json``, add a line to
    ``data_pushes.jsonl``. Returns ``{"ok": True}``.

    ``data`` is encoded before anything is written, so a value JSON cannot hold
    (:class:`~seekapi.errors.JSONValueError`) leaves the previous files as they were.
    """
    require_job(job_uuid, execution_token, "push_data")
    document = dumps_text(data, indent=2).encode("utf-8")
    line = _line(
        {
            "pushed_at": utc_now(),
            "job_uuid": job_uuid,
            "execution_token": execution_token,
            "type": type,
            "data": data,
        }
    )
    job_files(local.directory, job_uuid).write_push(line, document)
    return {"ok": True}


def push_file(  # noqa: PLR0917 - called positionally, like the public API
    local: LocalSettings,
    job_uuid: str,
    execution_token: str,
    name: str,
    local_path: str,
    content_type: str,
) -> dict[str, object]:
    """Copy the file at ``local_path`` into the job's ``files/`` and add a line to
    ``file_pushes.jsonl``. Returns ``{"ok": True}``.

    The copy is stored as ``safe_name(basename(name), "file")``; when that name is taken,
    ``-2``, ``-3``, ... go before the extension. A name is claimed by creating the file
    exclusively, so pushes running at once never write over each other. The copy streams
    (constant memory). A ``local_path`` that cannot be read raises ``OSError`` (such as
    ``FileNotFoundError`` or ``IsADirectoryError``) and one that is not a regular file
    (a named pipe, a device) :class:`~seekapi.errors.UsageError`, as on the network
    path; either leaves nothing behind.
    """
    require_job(job_uuid, execution_token, "push_file")
    check_text(name, "the file name")
    check_text(content_type, "the content_type")
    # stored_path is recorded as UTF-8 text.
    check_text(local.directory, ENV_LOCAL_DIR, ConfigurationError)
    # The network path's check: opened without waiting for a pipe's writer, and refused
    # unless it is a regular file. Opened first: if it cannot be read, nothing is made.
    from ._multipart import open_regular

    with open_regular(local_path) as source:
        job = job_files(local.directory, job_uuid)
        files = job.open_files()
        try:
            stored_name, fd = _claim(files, safe_name(os.path.basename(name), "file"))
            stored_path = os.path.join(job.files, stored_name)
            try:
                try:
                    size = _copy(source.fileno(), fd)
                finally:
                    os.close(fd)
                line = _line(
                    {
                        "pushed_at": utc_now(),
                        "job_uuid": job_uuid,
                        "execution_token": execution_token,
                        "name": name,
                        "stored_name": stored_name,
                        "stored_path": stored_path,
                        "content_type": content_type,
                        "size_bytes": size,
                    }
                )
                job.append_file_record(line)
            except BaseException:
                _unlink_quietly(files, stored_name)
                raise
        finally:
            files.close()
    return {"ok": True}


def _claim(files: _Dir, name: str) -> tuple[str, int]:
    """Create the first free name of ``name``, ``stem-2.ext``, ``stem-3.ext``, ... in ``files``.

    Returns the name and a descriptor open for writing. ``O_EXCL`` makes the check and
    the creation one step, so two pushes can never get the same name, and never opens a
    link; a link found on the way is refused.
    """
    stem, ext = _split_ext(name)
    number = 1
    while True:
        candidate = name if number == 1 else f"{stem}-{number}{ext}"
        if files.fd is None and os.path.islink(os.path.join(files.path, candidate)):
            raise _link_error(os.path.join(files.path, candidate))
        try:
            return candidate, os.open(files.name(candidate), _CLAIM_FLAGS, 0o666, dir_fd=files.fd)
        except FileExistsError as exc:
            _raise_unless_taken(files, candidate, exc)
            number += 1


def _raise_unless_taken(files: _Dir, name: str, exc: FileExistsError) -> None:
    """Refuse ``name`` when it is a link or another odd entry, not a copy stored earlier."""
    refusal = _refusal(files, name, "a regular file", exc)
    if refusal is not exc:
        raise refusal from None


def _copy(source: int, target: int) -> int:
    """Copy from the ``source`` descriptor's position to its end; returns the byte count."""
    copied = 0
    if hasattr(os, "sendfile"):
        try:
            while sent := os.sendfile(target, source, None, _SENDFILE_CHUNK):
                copied += sent
            return copied
        except OSError as exc:
            if copied or exc.errno not in _SENDFILE_UNSUPPORTED:
                raise
    while chunk := os.read(source, _COPY_CHUNK):
        _write_all(target, chunk)
        copied += len(chunk)
    return copied


def charge(  # noqa: PLR0917 - called positionally, like the public API
    local: LocalSettings,
    job_uuid: str,
    execution_token: str,
    idempotency_key: str,
    count: int,
    justification: dict[str, object] | None,
    *,
    timeout: float | None = None,
) -> dict[str, object]:
    """Record the charge in the job's ledger and answer as the fixtures say.

    The caller has already checked the arguments (non-blank key, ``count >= 1``). A key
    already in ``charges.jsonl`` is not recorded again. ``timeout`` bounds the wait for
    another process's lock on the ledger (:class:`~seekapi.errors.DeadlineExceeded`);
    without it the call waits as long as the lock is held. The answer is
    ``fixtures["charge"]`` with the defaults for the fields it lacks (a fresh copy); or,
    with ``fixtures["charge_limit"]``, the ledger's total and whether it reached the
    limit; or else 1.0.5's ``{"ok": True, "metered_event_count": 0, "limit_reached":
    False}``.
    """
    require_job(job_uuid, execution_token, "charge")
    check_text(idempotency_key, "the idempotency_key")
    path = local.fixtures_path
    fixtures = _fixtures(path) if path else _NO_FIXTURES
    line = _line(
        {
            "charged_at": utc_now(),
            "job_uuid": job_uuid,
            "idempotency_key": idempotency_key,
            "count": count,
            "justification": justification,
        }
    )
    _recorded, total = job_files(local.directory, job_uuid).record_charge(
        idempotency_key, count, line, timeout
    )
    if fixtures.charge is not None:
        return _copy_json(fixtures.charge)
    if fixtures.charge_limit is None:
        return {"ok": True, "metered_event_count": 0, "limit_reached": False}
    return {
        "ok": True,
        "metered_event_count": total,
        "limit_reached": total >= fixtures.charge_limit,
    }


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
        fd = os.open(where, os.O_RDONLY | _O_CLOEXEC | _O_BINARY | _O_NONBLOCK)
    except FileNotFoundError:
        return []
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ConfigurationError(f"the charge ledger {where!r} is not a regular file")
        content = _read_all(fd)
    finally:
        os.close(fd)
    return _parse_ledger(content, where)[0]


def ledger_size(path: str | os.PathLike[str]) -> int:
    """The size of the ledger's complete lines, where the next charge recorded will start."""
    try:
        with open(path, "rb") as ledger:
            content = ledger.read()
    except OSError:
        return 0
    return content.rfind(b"\n") + 1


def _parse_ledger(
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


# -- fixtures --------------------------------------------------------------------------


class _Fixtures:
    """A checked fixtures file: its content, the charge answer with its defaults filled
    in (or ``None``), and the charge limit (or ``None``)."""

    __slots__ = ("charge", "charge_limit", "content", "get_job")

    def __init__(
        self,
        content: dict[str, Any],
        get_job: dict[str, Any] | None,
        charge: dict[str, Any] | None,
        charge_limit: int | None,
    ) -> None:
        self.content = content
        self.get_job = get_job
        self.charge = charge
        self.charge_limit = charge_limit


_NO_FIXTURES = _Fixtures({}, None, None, None)

# path -> ((mtime_ns, size, inode), checked fixtures): edits are seen, repeats cost a stat.
_FIXTURES_CACHE: dict[str, tuple[tuple[int, int, int], _Fixtures]] = {}


def load_fixtures(path: str) -> dict[str, object]:
    """The fixtures file at ``path`` (a JSON object), as a fresh copy; ``{}`` for a blank path.

    Raises :class:`~seekapi.errors.ConfigurationError` naming the file when it is missing,
    unreadable, not a regular file, not UTF-8 JSON, nested too deeply, not a JSON object,
    or holds an entry local mode would refuse (``docs/local-mode.md``).
    """
    return _copy_json(_fixtures(path).content) if path else {}


def get_job_fixture(local: LocalSettings) -> dict[str, object]:
    """A fresh copy of ``fixtures["get_job"]``, or ``{}`` without one."""
    path = local.fixtures_path
    found = _fixtures(path).get_job if path else None
    return {} if found is None else _copy_json(found)


def _fixtures(path: str) -> _Fixtures:
    """The checked fixtures, shared: callers copy what they hand out."""
    where = f"the fixtures file {path!r} ({ENV_LOCAL_FIXTURES})"
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ConfigurationError(f"{where} does not exist") from None
    except OSError as exc:
        raise ConfigurationError(f"cannot read {where}: {exc.strerror or exc}") from exc
    cached = _FIXTURES_CACHE.get(path)
    if cached is not None and cached[0] == (st.st_mtime_ns, st.st_size, st.st_ino):
        return cached[1]
    stamp, raw = _read_regular(path, where, st)
    try:
        parsed = json.loads(raw)
    except UnicodeDecodeError as exc:
        raise ConfigurationError(f"{where} is not UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        raise ConfigurationError(
            f"{where} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from exc
    except RecursionError:
        raise ConfigurationError(f"{where} is nested too deeply to read") from None
    if not isinstance(parsed, dict):
        raise ConfigurationError(f"{where} must hold a JSON object, not {_kind(parsed)}")
    fixtures = _check_fixtures(parsed, path)
    _FIXTURES_CACHE[path] = (stamp, fixtures)
    return fixtures


def _read_regular(path: str, where: str, st: os.stat_result) -> tuple[tuple[int, int, int], bytes]:
    """The stamp and bytes of the regular file at ``path``.

    A named pipe would block the open until a writer came, and a device would be read
    for ever: both are refused, before opening and again on the descriptor (opened
    without waiting) in case the name changed meanwhile.
    """
    if not stat.S_ISREG(st.st_mode):
        raise ConfigurationError(f"cannot read {where}: {_not_regular(st.st_mode)}")
    try:
        fd = os.open(path, os.O_RDONLY | _O_CLOEXEC | _O_BINARY | _O_NONBLOCK)
    except OSError as exc:
        raise ConfigurationError(f"cannot read {where}: {exc.strerror or exc}") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ConfigurationError(f"cannot read {where}: {_not_regular(st.st_mode)}")
        return (st.st_mtime_ns, st.st_size, st.st_ino), _read_all(fd)
    except OSError as exc:
        raise ConfigurationError(f"cannot read {where}: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)


def _not_regular(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "it is a folder, not a regular file"
    if stat.S_ISFIFO(mode):
        return "it is a named pipe, not a regular file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "it is a device, not a regular file"
    return "it is not a regular file"


# The fields of a charge answer, their defaults (1.0.5's answer), and what each must be.
_CHARGE_DEFAULTS: dict[str, Any] = {"ok": True, "metered_event_count": 0, "limit_reached": False}


def _check_fixtures(content: dict[str, Any], path: str) -> _Fixtures:
    """Check every entry local mode reads; the error names the file and the entry."""
    get_job = _object_fixture(content, "get_job", path)
    charge = _object_fixture(content, "charge", path)
    limit = _charge_limit(content, path)
    if charge is not None and limit is not None:
        raise ConfigurationError(
            f"the fixtures file {path!r} has both 'charge' and 'charge_limit': keep one"
            " ('charge' is a fixed answer, 'charge_limit' answers from the charges made)"
        )
    if charge is not None:
        for field in ("ok", "limit_reached"):
            if field in charge and not isinstance(charge[field], bool):
                raise ConfigurationError(
                    f"'charge.{field}' in the fixtures file {path!r} must be true or false,"
                    f" not {_kind(charge[field])}"
                )
        count = charge.get("metered_event_count", 0)
        if type(count) is not int or count < 0:
            raise ConfigurationError(
                f"'charge.metered_event_count' in the fixtures file {path!r} must be a whole"
                f" number >= 0, not {_kind(count)}"
            )
        charge = {**_CHARGE_DEFAULTS, **charge}
    return _Fixtures(content, get_job, charge, limit)


def _object_fixture(fixtures: dict[str, Any], key: str, path: str) -> dict[str, Any] | None:
    value = fixtures.get(key)
    if value is None:
        return None  # absent, or null: 1.0.5 answered its default for both
    if not isinstance(value, dict):
        raise ConfigurationError(
            f"{key!r} in the fixtures file {path!r} must be a JSON object, not {_kind(value)}"
        )
    return value


def _charge_limit(fixtures: dict[str, Any], path: str) -> int | None:
    if "charge_limit" not in fixtures:
        return None
    value = fixtures["charge_limit"]
    if type(value) is not int or value < 1:
        raise ConfigurationError(
            f"'charge_limit' in the fixtures file {path!r} must be a positive integer,"
            f" not {_kind(value)}"
        )
    return value


def _kind(value: object) -> str:
    """How JSON names the type of a parsed value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _copy_json(value: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of a parsed JSON object; much faster than ``copy.deepcopy``.

    Without recursion: a value the parser accepted may be deeper than the stack left to
    a caller that is itself deep in its own calls.
    """
    root: dict[str, Any] = {}
    stack: list[tuple[Any, Any]] = [(value, root)]
    while stack:
        source, target = stack.pop()
        items = source.items() if isinstance(source, dict) else enumerate(source)
        is_list = isinstance(target, list)
        for key, item in items:
            if isinstance(item, dict):
                child: Any = {}
                stack.append((item, child))
            elif isinstance(item, list):
                child = []
                stack.append((item, child))
            else:
                child = item  # str, int, float, bool, None: immutable
            if is_list:
                target.append(child)
            else:
                target[key] = child
    return root
