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

This module lays the job folders out and holds the three writers; the file-system
primitives are in :mod:`seekapi._localfs`, the ledger's rule and lock in
:mod:`seekapi._ledger`, and the fixtures in :mod:`seekapi._fixtures`.

The emulator (:mod:`seekapi.testing`) writes its job folders with :class:`JobFiles` and
reads ledgers with :func:`~seekapi._ledger.read_ledger`, so both follow the same rules.
"""

from __future__ import annotations

import os
import re
import threading
import time

from ._fixtures import NO_FIXTURES, checked_fixtures, copy_json, get_job_fixture
from ._json import dumps_text
from ._ledger import (
    LedgerEntry,
    LedgerIndex,
    append_charge,
    lock_exclusively,
    open_ledger,
    parse_ledger,
    sync_index,
    unlock,
)
from ._localfs import (
    DIR_FD_CALLS,
    DIR_FLAGS,
    O_NOFOLLOW,
    READ_FLAGS,
    Folder,
    append_line,
    claim_free_name,
    copy_contents,
    open_base,
    open_file,
    open_folder,
    raise_refusal,
    read_all,
    refuse_special,
    replace_file,
    split_ext,
    unlink_quietly,
)
from ._settings import ENV_LOCAL_DIR, LocalSettings
from .errors import ConfigurationError, UsageError

__all__ = [
    "CHARGES_FILE",
    "DATA_PUSHES_FILE",
    "FILES_DIR",
    "FILE_PUSHES_FILE",
    "RESPONSE_FILE",
    "JobFiles",
    "charge",
    "check_text",
    "get_job_fixture",
    "job_dir",
    "job_files",
    "push_data",
    "push_file",
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
        stem, ext = split_ext(name)
        if len(ext) > _EXT_KEEP:
            stem, ext = name, ""
        name = f"{stem[: _NAME_CAP - len(ext) - len(digest) - 1]}-{digest}{ext}"
    return name


def _is_windows_device(name: str) -> bool:
    """True for names Windows opens as a device wherever they are: ``NUL``, ``con.txt``..."""
    stem = name.split(".", 1)[0].upper()
    return stem in _WINDOWS_DEVICES


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


# -- job folders ---------------------------------------------------------------------------


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
        self.ledger = LedgerIndex()

    def _open(self) -> Folder:
        if DIR_FD_CALLS:
            # The usual case in one call: O_NOFOLLOW applies to the job folder only, and
            # the local directory above it may be a link.
            try:
                return Folder(os.open(self.path, DIR_FLAGS | O_NOFOLLOW), self.path)
            except FileNotFoundError:
                pass  # made below, with the local directory if need be
            except OSError as exc:
                parent = Folder(None, self.directory)  # names from the path, for the refusal
                raise_refusal(parent, self.name, "a folder", exc)
        base = open_base(self.directory)
        try:
            folder, made = open_folder(base, self.name)
        finally:
            base.close()
        if made:  # a new job folder gets its files/ at once
            try:
                open_folder(folder, FILES_DIR)[0].close()
            except BaseException:
                folder.close()
                raise
        return folder

    def make_dirs(self) -> None:
        """Make the job folder and its ``files/`` if they are missing."""
        folder = self._open()
        try:
            open_folder(folder, FILES_DIR)[0].close()
        finally:
            folder.close()

    def write_push(self, line: bytes, document: bytes) -> None:
        """Add ``line`` to ``data_pushes.jsonl`` and make ``document`` ``response_json.json``."""
        with self.lock:
            folder = self._open()
            try:
                # A link there is refused before anything is written.
                refuse_special(folder, RESPONSE_FILE)
                append_line(folder, DATA_PUSHES_FILE, line)
                replace_file(folder, RESPONSE_FILE, document)
            finally:
                folder.close()

    def open_files(self) -> Folder:
        """The job's ``files/`` folder, opened (and made if missing); the caller closes it."""
        folder = self._open()
        try:
            return open_folder(folder, FILES_DIR)[0]
        finally:
            folder.close()

    def claim(self, name: str) -> tuple[str, int]:
        """Create the first free name of ``name`` (already safe) in ``files/``: ``name``,
        ``stem-2.ext``, ``stem-3.ext``, ... Returns it and a descriptor open for writing."""
        files = self.open_files()
        try:
            return claim_free_name(files, name)
        finally:
            files.close()

    def append_file_record(self, line: bytes) -> None:
        """Add ``line`` to ``file_pushes.jsonl``."""
        with self.lock:
            folder = self._open()
            try:
                append_line(folder, FILE_PUSHES_FILE, line)
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
                fd = open_ledger(folder, CHARGES_FILE)
                try:
                    locked = lock_exclusively(fd, deadline, self.charges)
                    try:
                        self.ledger = sync_index(self.ledger, fd, self.charges)
                        return append_charge(
                            fd, self.ledger, line, key=idempotency_key, count=count, locked=locked
                        )
                    finally:
                        if locked:
                            unlock(fd)
                finally:
                    os.close(fd)
            finally:
                folder.close()

    def read_charges(self) -> list[LedgerEntry]:
        """The charges in the job's ledger, by :func:`~seekapi._ledger.read_ledger`'s rule."""
        with self.lock:  # no line is half written by this process while the file is read
            folder = self._open()
            try:
                try:
                    fd = open_file(folder, CHARGES_FILE, READ_FLAGS)
                except FileNotFoundError:
                    return []
                try:
                    content = read_all(fd)
                finally:
                    os.close(fd)
            finally:
                folder.close()
        return parse_ledger(content, self.charges)[0]


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
        job.ledger = LedgerIndex()


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


def data_push_record(
    job_uuid: str, execution_token: str, type: str, data: object
) -> dict[str, object]:
    """One line of ``data_pushes.jsonl`` (docs/wire.md §5)."""
    return {
        "pushed_at": utc_now(),
        "job_uuid": job_uuid,
        "execution_token": execution_token,
        "type": type,
        "data": data,
    }


def file_push_record(  # noqa: PLR0917 - the fields of one line, in their order
    job_uuid: str,
    execution_token: str,
    name: str,
    stored_name: str,
    stored_path: str,
    content_type: str,
    size: int,
) -> dict[str, object]:
    """One line of ``file_pushes.jsonl`` (docs/wire.md §5)."""
    return {
        "pushed_at": utc_now(),
        "job_uuid": job_uuid,
        "execution_token": execution_token,
        "name": name,
        "stored_name": stored_name,
        "stored_path": stored_path,
        "content_type": content_type,
        "size_bytes": size,
    }


def _line(record: dict[str, object]) -> bytes:
    return (dumps_text(record) + "\n").encode("utf-8")


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
    line = _line(data_push_record(job_uuid, execution_token, type, data))
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
            stored_name, fd = claim_free_name(files, safe_name(os.path.basename(name), "file"))
            stored_path = os.path.join(job.files, stored_name)
            try:
                try:
                    size = copy_contents(source.fileno(), fd)
                finally:
                    os.close(fd)
                line = _line(
                    file_push_record(
                        job_uuid,
                        execution_token,
                        name,
                        stored_name,
                        stored_path,
                        content_type,
                        size,
                    )
                )
                job.append_file_record(line)
            except BaseException:
                unlink_quietly(files, stored_name)
                raise
        finally:
            files.close()
    return {"ok": True}


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
    fixtures = checked_fixtures(path) if path else NO_FIXTURES
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
        return copy_json(fixtures.charge)
    if fixtures.charge_limit is None:
        return {"ok": True, "metered_event_count": 0, "limit_reached": False}
    return {
        "ok": True,
        "metered_event_count": total,
        "limit_reached": total >= fixtures.charge_limit,
    }
