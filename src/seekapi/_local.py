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
old file or the new one, never a part. Nothing is fsynced: these are a developer's
scratch files, and speed matters more.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import sys
import threading
import time
from collections.abc import Callable
from functools import cache, partial

from ._json import dumps_text
from ._settings import ENV_LOCAL_FIXTURES, LocalSettings
from .errors import ConfigurationError, UsageError

__all__ = [
    "charge",
    "get_job_fixture",
    "job_dir",
    "load_fixtures",
    "push_data",
    "push_file",
    "require_job",
    "safe_name",
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
_APPEND_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | _O_CLOEXEC | _O_BINARY
_REPLACE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _O_CLOEXEC | _O_BINARY
_CLAIM_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_CLOEXEC | _O_BINARY
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


# -- names and folders -----------------------------------------------------------------


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


class _Job:
    """One job folder: its paths, its lock, and its charge ledger index."""

    __slots__ = (
        "charges",
        "data_pushes",
        "file_pushes",
        "files",
        "ledger_file",
        "ledger_keys",
        "ledger_offset",
        "ledger_total",
        "lock",
        "path",
        "response",
    )

    def __init__(self, path: str) -> None:
        self.path = path
        self.files = os.path.join(path, FILES_DIR)
        self.response = os.path.join(path, RESPONSE_FILE)
        self.data_pushes = os.path.join(path, DATA_PUSHES_FILE)
        self.file_pushes = os.path.join(path, FILE_PUSHES_FILE)
        self.charges = os.path.join(path, CHARGES_FILE)
        # Held while appending a line or replacing response_json.json (not while copying
        # a file): lines never interleave, the ledger index stays consistent, and the last
        # line of data_pushes.jsonl always matches response_json.json.
        self.lock = threading.Lock()
        # The ledger index: keys and total read from charges.jsonl up to ledger_offset,
        # valid while the file is the one identified by ledger_file (device, inode).
        self.ledger_keys: set[str] = set()
        self.ledger_total = 0
        self.ledger_offset = 0
        self.ledger_file: tuple[int, int] | None = None

    def make_dirs(self) -> None:
        os.makedirs(self.files, exist_ok=True)

    def retry_missing(self, open_file: Callable[[], int]) -> int:
        """Run ``open_file``; if the folders were removed meanwhile, make them and run it again."""
        try:
            return open_file()
        except FileNotFoundError:
            self.make_dirs()
            return open_file()


# Job folders made by this process, by (absolute directory, job id) and by folder path.
_JOBS: dict[tuple[str, str], _Job] = {}
_JOBS_BY_PATH: dict[str, _Job] = {}
_JOBS_LOCK = threading.Lock()


def _job(directory: str, job_uuid: str) -> _Job:
    # A relative directory follows the working directory, as it would without the cache.
    if not os.path.isabs(directory):
        directory = os.path.abspath(directory)
    key = (directory, job_uuid)
    job = _JOBS.get(key)
    if job is not None:
        return job
    path = os.path.join(os.path.normpath(directory), safe_name(job_uuid, "unknown-job"))
    with _JOBS_LOCK:
        job = _JOBS_BY_PATH.get(path)
        if job is None:
            job = _Job(path)
            job.make_dirs()
            _JOBS_BY_PATH[path] = job
        _JOBS[key] = job
    return job


def job_dir(directory: str, job_uuid: str) -> str:
    """The job's folder, ``<directory>/<safe_name(job_uuid, "unknown-job")>``, made with
    ``files/`` inside. The path is absolute and always directly inside ``directory``."""
    return _job(directory, job_uuid).path


def require_job(job_uuid: str, execution_token: str, operation: str) -> None:
    """Raise :class:`~seekapi.errors.UsageError` unless both ids are non-blank."""
    if not job_uuid.strip() or not execution_token.strip():
        raise UsageError(f"{operation} requires job_uuid and execution_token in local mode")


# -- writing ---------------------------------------------------------------------------


# The formatted date and time of the last second seen: most calls reuse it.
_LAST_SECOND: tuple[int, str] = (-1, "")


def _utc_now() -> str:
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


def _append(job: _Job, path: str, line: bytes, *, tell: bool = False) -> int:
    """Append ``line`` with one write; returns the file's size just after it if ``tell``."""
    fd = job.retry_missing(partial(os.open, path, _APPEND_FLAGS, 0o666))
    try:
        _write_all(fd, line)
        return os.lseek(fd, 0, os.SEEK_CUR) if tell else 0
    finally:
        os.close(fd)


def _replace(job: _Job, path: str, content: bytes) -> None:
    """Write ``content`` to a temporary file beside ``path``, then put it in place atomically.

    A reader opening ``path`` gets the old file or the new one, whole.
    """
    # Hidden, and unique per process and thread: concurrent writers never share one.
    folder, name = os.path.split(path)
    temp = os.path.join(folder, f".{name}.{_PID[0]}-{threading.get_ident()}.tmp")
    fd = job.retry_missing(partial(os.open, temp, _REPLACE_FLAGS, 0o666))
    try:
        try:
            _write_all(fd, content)
        finally:
            os.close(fd)
        if _exchange(temp, path):
            os.unlink(temp)  # the temporary name now holds the old file
        else:
            os.replace(temp, path)
    except BaseException:
        _unlink_quietly(temp)
        raise


# os.getpid() is a system call each time: remember it, and renew it in a forked child.
_PID = [os.getpid()]


def _remember_pid() -> None:
    _PID[0] = os.getpid()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_remember_pid)


def _exchange(first: str, second: str) -> bool:
    """Swap two existing names in one step (Linux ``renameat2(RENAME_EXCHANGE)``).

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
    flags = _RENAME_EXCHANGE
    return renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), flags) == 0


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


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


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
            "pushed_at": _utc_now(),
            "job_uuid": job_uuid,
            "execution_token": execution_token,
            "type": type,
            "data": data,
        }
    )
    job = _job(local.directory, job_uuid)
    with job.lock:
        _append(job, job.data_pushes, line)
        _replace(job, job.response, document)
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
    ``FileNotFoundError``) and leaves nothing behind.
    """
    require_job(job_uuid, execution_token, "push_file")
    # Open the source first: if it cannot be read, no folder or file is made.
    with open(local_path, "rb", buffering=0) as source:
        job = _job(local.directory, job_uuid)
        stored_name, fd = _claim(job, safe_name(os.path.basename(name), "file"))
        stored_path = os.path.join(job.files, stored_name)
        try:
            try:
                size = _copy(source.fileno(), fd)
            finally:
                os.close(fd)
            line = _line(
                {
                    "pushed_at": _utc_now(),
                    "job_uuid": job_uuid,
                    "execution_token": execution_token,
                    "name": name,
                    "stored_name": stored_name,
                    "stored_path": stored_path,
                    "content_type": content_type,
                    "size_bytes": size,
                }
            )
        except BaseException:
            _unlink_quietly(stored_path)
            raise
    with job.lock:
        _append(job, job.file_pushes, line)
    return {"ok": True}


def _claim(job: _Job, name: str) -> tuple[str, int]:
    """Create the first free name of ``name``, ``stem-2.ext``, ``stem-3.ext``, ...

    Returns the name and a descriptor open for writing. ``O_EXCL`` makes the check and
    the creation one step, so two pushes can never get the same name.
    """
    stem, ext = _split_ext(name)
    number = 1
    while True:
        candidate = name if number == 1 else f"{stem}-{number}{ext}"
        path = os.path.join(job.files, candidate)
        try:
            return candidate, job.retry_missing(partial(os.open, path, _CLAIM_FLAGS, 0o666))
        except FileExistsError:
            number += 1


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
) -> dict[str, object]:
    """Record the charge in the job's ledger and answer as the fixtures say.

    The caller has already checked the arguments (non-blank key, ``count >= 1``). A key
    already in ``charges.jsonl`` is not recorded again. The answer is a fresh copy of
    ``fixtures["charge"]``; or, with ``fixtures["charge_limit"]``, the ledger's total and
    whether it reached the limit; or else 1.0.5's ``{"ok": True, "metered_event_count":
    0, "limit_reached": False}``.
    """
    require_job(job_uuid, execution_token, "charge")
    path = local.fixtures_path
    fixtures = _fixtures(path) if path else {}
    canned = _object_fixture(fixtures, "charge", path)
    limit = _charge_limit(fixtures, path)
    if canned is not None and limit is not None:
        raise ConfigurationError(
            f'the fixtures file {path!r} sets both "charge" and "charge_limit": keep one'
            ' ("charge" is a fixed answer, "charge_limit" answers from the charges made)'
        )
    line = _line(
        {
            "charged_at": _utc_now(),
            "job_uuid": job_uuid,
            "idempotency_key": idempotency_key,
            "count": count,
            "justification": justification,
        }
    )
    job = _job(local.directory, job_uuid)
    with job.lock:
        _sync_ledger(job)
        if idempotency_key not in job.ledger_keys:
            end = _append(job, job.charges, line, tell=True)
            job.ledger_keys.add(idempotency_key)
            job.ledger_total += count
            if end - len(line) == job.ledger_offset:
                # Nothing else was appended since the index was read: skip our own line.
                job.ledger_offset = end
        total = job.ledger_total
    if canned is not None:
        return _copy_json(canned)
    if limit is None:
        return {"ok": True, "metered_event_count": 0, "limit_reached": False}
    return {"ok": True, "metered_event_count": total, "limit_reached": total >= limit}


def _sync_ledger(job: _Job) -> None:
    """Bring the job's ledger index up to date with ``charges.jsonl``.

    One ``stat`` when nothing changed. Lines appended by another process are read and
    indexed; a file that was removed, replaced or cut short is indexed again from the
    start, so deleting the folder between runs starts a fresh ledger.
    """
    try:
        st = os.stat(job.charges)
    except FileNotFoundError:
        identity, size = None, 0
    else:
        identity, size = (st.st_dev, st.st_ino), st.st_size
    if identity != job.ledger_file or size < job.ledger_offset:
        job.ledger_keys = set()
        job.ledger_total = 0
        job.ledger_offset = 0
        job.ledger_file = identity
    if size <= job.ledger_offset:
        return
    with open(job.charges, "rb") as ledger:
        ledger.seek(job.ledger_offset)
        chunk = ledger.read(size - job.ledger_offset)
    complete = chunk[: chunk.rfind(b"\n") + 1]  # a line still being written waits
    for raw in complete.splitlines():
        try:
            entry = json.loads(raw)
        except ValueError:
            continue  # a damaged line counts for nothing
        if not isinstance(entry, dict):
            continue
        key, count = entry.get("idempotency_key"), entry.get("count")
        if isinstance(key, str) and type(count) is int and key not in job.ledger_keys:
            job.ledger_keys.add(key)
            job.ledger_total += count
    job.ledger_offset += len(complete)


# -- fixtures --------------------------------------------------------------------------

# path -> ((mtime_ns, size, inode), parsed object): edits are seen, repeats cost a stat.
_FIXTURES_CACHE: dict[str, tuple[tuple[int, int, int], dict[str, object]]] = {}


def load_fixtures(path: str) -> dict[str, object]:
    """The fixtures file at ``path`` (a JSON object), as a fresh copy; ``{}`` for a blank path.

    Raises :class:`~seekapi.errors.ConfigurationError` naming the file when it is missing,
    unreadable, not UTF-8 JSON, or not a JSON object.
    """
    return _copy_json(_fixtures(path)) if path else {}


def get_job_fixture(local: LocalSettings) -> dict[str, object]:
    """A fresh copy of ``fixtures["get_job"]``, or ``{}`` without one."""
    path = local.fixtures_path
    found = _object_fixture(_fixtures(path), "get_job", path) if path else None
    return {} if found is None else _copy_json(found)


def _fixtures(path: str) -> dict[str, object]:
    """The parsed fixtures, shared: callers copy what they hand out."""
    where = f"the fixtures file {path!r} ({ENV_LOCAL_FIXTURES})"
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ConfigurationError(f"{where} does not exist") from None
    except OSError as exc:
        raise ConfigurationError(f"cannot read {where}: {exc.strerror or exc}") from exc
    stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
    cached = _FIXTURES_CACHE.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    try:
        with open(path, "rb") as file:
            raw = file.read()
    except OSError as exc:
        raise ConfigurationError(f"cannot read {where}: {exc.strerror or exc}") from exc
    try:
        parsed = json.loads(raw)
    except UnicodeDecodeError as exc:
        raise ConfigurationError(f"{where} is not UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        raise ConfigurationError(
            f"{where} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from exc
    if not isinstance(parsed, dict):
        raise ConfigurationError(f"{where} must hold a JSON object, not {_kind(parsed)}")
    _FIXTURES_CACHE[path] = (stamp, parsed)
    return parsed


def _object_fixture(fixtures: dict[str, object], key: str, path: str) -> dict[str, object] | None:
    value = fixtures.get(key)
    if value is None:
        return None  # absent, or null: 1.0.5 answered its default for both
    if not isinstance(value, dict):
        raise ConfigurationError(
            f"{key!r} in the fixtures file {path!r} must be a JSON object, not {_kind(value)}"
        )
    return value


def _charge_limit(fixtures: dict[str, object], path: str) -> int | None:
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


def _copy_json(value: dict[str, object]) -> dict[str, object]:
    """A deep copy of a parsed JSON object; much faster than ``copy.deepcopy``."""
    return {key: _copy_value(item) for key, item in value.items()}


def _copy_value(value: object) -> object:
    if isinstance(value, dict):
        return {key: _copy_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy_value(item) for item in value]
    return value  # str, int, float, bool, None: immutable
