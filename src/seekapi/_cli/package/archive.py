"""Writing the zip: reproducible, streamed, and checked for this machine's paths.

The same entries give the same bytes: they are written in the order given (sorted by
name), each with one fixed timestamp, mode 0644 (0755 when the file is executable),
Unix as the system that made it, and DEFLATE at zlib's default level; folders get no
entries of their own. Each file is copied in chunks, so memory stays small whatever its
size, and each chunk is searched for the paths no file may hold.

The zip is written beside its destination under a temporary name and moved into place
only when complete and within the limits, so a failed build leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from typing import IO, NamedTuple

from .._common import EXIT_USAGE
from .contents import ArchiveEntry
from .failure import PackageError
from .target import MIB

Timestamp = tuple[int, int, int, int, int, int]
"""A zip entry's time: year, month, day, hour, minute, second."""

CHUNK = 1024 * 1024
EARLIEST: Timestamp = (1980, 1, 1, 0, 0, 0)
"""The earliest time a zip can hold, and the timestamp when ``SOURCE_DATE_EPOCH`` is unset."""
_LATEST: Timestamp = (2107, 12, 31, 23, 59, 58)
_ZIP64_FROM = 0x7FFFFFFF


class ArchiveStats(NamedTuple):
    """What was written."""

    files: int
    unzipped_bytes: int
    zipped_bytes: int
    holding_paths: dict[str, list[str]]
    """For each path searched for, the zip's files that hold it."""


def fixed_timestamp(environ: Mapping[str, str]) -> Timestamp:
    """Every entry's timestamp: ``SOURCE_DATE_EPOCH`` (UTC) when set, else 1980-01-01.

    Clamped to what a zip can hold (1980 to 2107). Raises :class:`PackageError` when the
    variable is set to something other than a whole number of seconds.
    """
    text = environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not text:
        return EARLIEST
    try:
        seconds = int(text)
    except ValueError:
        raise PackageError(
            f"SOURCE_DATE_EPOCH={text!r} is not a whole number of seconds", exit_code=EXIT_USAGE
        ) from None
    moment = time.gmtime(max(0, min(seconds, 4354819198)))
    fields: Timestamp = (
        moment.tm_year,
        moment.tm_mon,
        moment.tm_mday,
        moment.tm_hour,
        moment.tm_min,
        moment.tm_sec,
    )
    return max(EARLIEST, min(_LATEST, fields))


def write_zip(
    destination: str,
    entries: Sequence[ArchiveEntry],
    *,
    timestamp: Timestamp,
    max_zipped: int,
    max_unzipped: int,
    refused: Iterable[str] = (),
    noted: Iterable[str] = (),
) -> ArchiveStats:
    """Write ``entries`` as the zip ``destination``; return what was written.

    Each file's content is searched for the paths in ``refused`` and ``noted`` (see
    :attr:`ArchiveStats.holding_paths`). Raises :class:`PackageError`, writing nothing,
    when a file holds a ``refused`` path, when the zip is larger than ``max_zipped``
    bytes, or when its files add up to more than ``max_unzipped`` (with the figures).
    """
    refused = [path for path in refused if path]
    needles = [os.fsencode(path) for path in dict.fromkeys([*refused, *noted]) if path]
    holding: dict[str, list[str]] = {os.fsdecode(needle): [] for needle in needles}
    folder = os.path.dirname(os.path.abspath(destination))
    try:
        handle, temporary = tempfile.mkstemp(
            prefix=f".{os.path.basename(destination)}.", suffix=".tmp", dir=folder
        )
    except OSError as exc:
        raise PackageError(
            f"cannot write {destination}: {exc.strerror or exc}", exit_code=EXIT_USAGE
        ) from None
    unzipped = 0
    try:
        with os.fdopen(handle, "wb") as raw, zipfile.ZipFile(raw, "w", allowZip64=True) as archive:
            for entry in entries:
                info = zipfile.ZipInfo(entry.name, timestamp)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.create_system = 3  # Unix, so that the mode bits below are read
                info.external_attr = (0o100755 if entry.executable else 0o100644) << 16
                found: set[bytes] = set()
                if entry.source is None:
                    data = entry.data or b""
                    archive.writestr(info, data)
                    unzipped += len(data)
                    found = {needle for needle in needles if needle in data}
                else:
                    size, found = _stream(archive, info, entry.source, needles)
                    unzipped += size
                for needle in found:
                    holding[os.fsdecode(needle)].append(entry.name)
                if unzipped > max_unzipped:
                    break  # over already: the figures below say so
        zipped = os.path.getsize(temporary)
        _check_refused(destination, holding, refused)
        _check_limits(destination, zipped, unzipped, max_zipped, max_unzipped)
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, destination)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        if isinstance(exc, OSError):
            raise PackageError(f"cannot write {destination}: {exc.strerror or exc}") from None
        raise
    return ArchiveStats(len(entries), unzipped, zipped, holding)


def _stream(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, source: str, needles: list[bytes]
) -> tuple[int, set[bytes]]:
    """Copy ``source`` into ``archive`` chunk by chunk; return its size and the needles seen."""
    keep = max((len(needle) for needle in needles), default=1) - 1
    found: set[bytes] = set()
    size = 0
    try:
        src = open(source, "rb")  # noqa: SIM115 - closed below; its errors are reading errors
    except OSError as exc:
        raise PackageError(f"cannot read {source}: {exc.strerror or exc}") from None
    with src:
        big = os.fstat(src.fileno()).st_size >= _ZIP64_FROM
        with archive.open(info, "w", force_zip64=big) as dst:
            size = _copy(_Reading(src, source), dst, needles, found, keep=keep)
    return size, found


class _Reading:
    """A source file whose read errors say which file could not be read (an error
    writing the zip is the caller's: it names the zip)."""

    def __init__(self, file: IO[bytes], path: str) -> None:
        self._file = file
        self._path = path

    def read(self, size: int) -> bytes:
        try:
            return self._file.read(size)
        except OSError as exc:
            raise PackageError(f"cannot read {self._path}: {exc.strerror or exc}") from None


def _copy(
    src: _Reading, dst: IO[bytes], needles: list[bytes], found: set[bytes], *, keep: int
) -> int:
    size = 0
    tail = b""
    while chunk := src.read(CHUNK):
        dst.write(chunk)
        size += len(chunk)
        if needles:
            # The tail of the previous chunk finds a path cut across two chunks.
            window = tail + chunk
            found.update(needle for needle in needles if needle in window)
            tail = window[-keep:] if keep else b""
    return size


def _check_refused(destination: str, holding: dict[str, list[str]], refused: list[str]) -> None:
    for path in refused:
        if holding.get(path):
            shown = ", ".join(holding[path][:5])
            raise PackageError(
                f"{os.path.basename(destination)} was not written: {shown} would hold the"
                f" build's temporary path {path}, which means nothing in Lambda"
            )


def _check_limits(
    destination: str, zipped: int, unzipped: int, max_zipped: int, max_unzipped: int
) -> None:
    problems = []
    if unzipped > max_unzipped:
        problems.append(
            f"its files add up to more than {_mb(max_unzipped)} unzipped"
            f" (at least {_mb(unzipped)}; Lambda's limit, layers included, is"
            " 250 MB; --max-unzipped-mb sets this check)"
        )
    elif zipped > max_zipped:
        problems.append(
            f"it is {_mb(zipped)} zipped, over the {_mb(max_zipped)} allowed"
            f" ({unzipped / MIB:.1f} MB unzipped). Lambda takes 50 MB for a direct upload;"
            " a zip uploaded through S3 may be larger, within the 250 MB unzipped:"
            " --max-zipped-mb sets this check"
        )
    if problems:
        raise PackageError(f"{os.path.basename(destination)} was not written: {problems[0]}")


def _mb(size: int) -> str:
    return f"{size / MIB:.2f} MB ({size:,} bytes)"


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
