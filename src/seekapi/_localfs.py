"""Local mode's file-system primitives: folders opened without following links, files
created exclusively under unpredictable names, atomic replacement, streamed copies.

Nothing inside the local directory is written through a symbolic link: names are
resolved from open folder descriptors, without following links (where the system has no
descriptor calls, names are checked for links before use). A file replaced is written to
a temporary file that then takes its name in one step, so a reader sees the old file or
the new one, never a part. Nothing is fsynced: these are a developer's scratch files,
and speed matters more. :mod:`seekapi._local` lays the job folders out with these.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
from collections.abc import Callable
from functools import cache
from typing import NoReturn

from ._settings import ENV_LOCAL_DIR
from .errors import ConfigurationError

__all__ = [
    "DIR_FD_CALLS",
    "DIR_FLAGS",
    "FILE_FLAGS",
    "O_NOFOLLOW",
    "READ_FLAGS",
    "READ_PATH_FLAGS",
    "Folder",
    "append_line",
    "claim_free_name",
    "copy_contents",
    "link_error",
    "open_base",
    "open_file",
    "open_folder",
    "raise_refusal",
    "read_all",
    "refusal_error",
    "refuse_special",
    "replace_file",
    "split_ext",
    "unlink_quietly",
    "write_all",
]

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)  # Windows: no newline translation
O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
# A named pipe planted where a file is expected is refused instead of waited on.
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
FILE_FLAGS = _O_CLOEXEC | _O_BINARY | O_NOFOLLOW | _O_NONBLOCK
_APPEND_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | FILE_FLAGS
READ_FLAGS = os.O_RDONLY | FILE_FLAGS
_CLAIM_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | FILE_FLAGS
DIR_FLAGS = os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC
# A file at a path the user chose (a fixtures file, a ledger named by path): links are
# followed there, and a pipe is still not waited on.
READ_PATH_FLAGS = os.O_RDONLY | _O_CLOEXEC | _O_BINARY | _O_NONBLOCK
# Where folders can be opened and names resolved from them without following links;
# elsewhere (Windows) names are checked for links before use.
DIR_FD_CALLS = (
    bool(_O_DIRECTORY and O_NOFOLLOW)
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


def split_ext(name: str) -> tuple[str, str]:
    """``("report", ".pdf")`` for ``report.pdf``; a leading or trailing dot is no extension."""
    dot = name.rfind(".")
    if 0 < dot < len(name) - 1:
        return name[:dot], name[dot:]
    return name, ""


# -- folders opened without following links ----------------------------------------------


class Folder:
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


def link_error(path: str) -> ConfigurationError:
    return ConfigurationError(
        f"{path} is a symbolic link: local mode writes only real files and folders inside"
        f" {ENV_LOCAL_DIR}, never through a link; remove it"
    )


def refusal_error(folder: Folder, name: str, expected: str, exc: OSError | None) -> Exception:
    """The error for ``name`` in ``folder`` not being what was expected (a link, a pipe...).

    ``exc`` (what opening it raised) is returned when the entry looks right after all.
    """
    path = os.path.join(folder.path, name)
    try:
        mode = os.stat(folder.name(name), dir_fd=folder.fd, follow_symlinks=False).st_mode
    except OSError:
        mode = None
    if mode is not None and stat.S_ISLNK(mode):
        return link_error(path)
    wanted = stat.S_ISDIR if expected == "a folder" else stat.S_ISREG
    if mode is not None and not wanted(mode):
        return ConfigurationError(
            f"{path} is not {expected}: local mode writes only real files and folders"
            f" inside {ENV_LOCAL_DIR}; remove it"
        )
    return exc if exc is not None else ConfigurationError(f"cannot use {path}")


def raise_refusal(folder: Folder, name: str, expected: str, exc: OSError) -> NoReturn:
    """Raise the refusal of ``name``, or ``exc`` itself when the entry looks right."""
    refusal = refusal_error(folder, name, expected, exc)
    if refusal is exc:
        raise exc
    raise refusal from exc


def open_base(directory: str) -> Folder:
    """The local directory, made if missing. It and the folders above it are the user's
    choice, so links there are followed."""
    if not DIR_FD_CALLS:
        os.makedirs(directory, exist_ok=True)
        return Folder(None, directory)
    try:
        return Folder(os.open(directory, DIR_FLAGS), directory)
    except FileNotFoundError:
        os.makedirs(directory, exist_ok=True)
        return Folder(os.open(directory, DIR_FLAGS), directory)


def open_folder(parent: Folder, name: str) -> tuple[Folder, bool]:
    """The folder ``name`` inside ``parent``, made if missing; refuses a link or a file.

    Returns the folder and whether this call made it.
    """
    path = os.path.join(parent.path, name)
    if parent.fd is None:
        if os.path.islink(path):
            raise link_error(path)
        made = not os.path.isdir(path)
        os.makedirs(path, exist_ok=True)
        return Folder(None, path), made
    made = tried = False
    while True:
        try:
            return Folder(os.open(name, DIR_FLAGS | O_NOFOLLOW, dir_fd=parent.fd), path), made
        except FileNotFoundError:
            if tried:
                raise
        except OSError as exc:  # a link (ELOOP), a file (ENOTDIR), ...
            raise_refusal(parent, name, "a folder", exc)
        tried = True
        try:
            os.mkdir(name, 0o777, dir_fd=parent.fd)
            made = True
        except FileExistsError:
            pass  # made meanwhile by another writer: open it


def open_file(folder: Folder, name: str, flags: int) -> int:
    """A descriptor for the regular file ``name`` in ``folder``; refuses a link, a pipe..."""
    if folder.fd is None and os.path.islink(os.path.join(folder.path, name)):
        raise link_error(os.path.join(folder.path, name))
    try:
        fd = os.open(folder.name(name), flags, 0o666, dir_fd=folder.fd)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise_refusal(folder, name, "a regular file", exc)
    try:
        regular = stat.S_ISREG(os.fstat(fd).st_mode)
    except BaseException:
        os.close(fd)
        raise
    if not regular:
        os.close(fd)
        raise refusal_error(folder, name, "a regular file", None)
    return fd


def refuse_special(folder: Folder, name: str) -> None:
    """Refuse ``name`` in ``folder`` when it exists and is not a regular file (a link...)."""
    if folder.fd is None:
        path = os.path.join(folder.path, name)
        if os.path.islink(path):
            raise link_error(path)
        return
    try:
        mode = os.stat(name, dir_fd=folder.fd, follow_symlinks=False).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISREG(mode):
        raise refusal_error(folder, name, "a regular file", None)


def unlink_quietly(folder: Folder, name: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(folder.name(name), dir_fd=folder.fd)


# -- writing ---------------------------------------------------------------------------


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, _COPY_CHUNK):
        chunks.append(chunk)
    return b"".join(chunks)


def append_line(folder: Folder, name: str, line: bytes) -> None:
    """Append ``line`` to ``name`` in ``folder`` with one write."""
    fd = open_file(folder, name, _APPEND_FLAGS)
    try:
        write_all(fd, line)
    finally:
        os.close(fd)


def replace_file(folder: Folder, name: str, content: bytes) -> None:
    """Write ``content`` to a new temporary file beside ``name``, then put it in place
    atomically: a reader opening ``name`` gets the old file or the new one, whole."""
    fd, temp = _new_temporary(folder, name)
    try:
        try:
            write_all(fd, content)
        finally:
            os.close(fd)
        if _exchange(folder, temp, name):
            os.unlink(folder.name(temp), dir_fd=folder.fd)  # it now holds the old file
        else:
            os.replace(
                folder.name(temp), folder.name(name), src_dir_fd=folder.fd, dst_dir_fd=folder.fd
            )
    except BaseException:
        unlink_quietly(folder, temp)
        raise


def _new_temporary(folder: Folder, name: str) -> tuple[int, str]:
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


def _exchange(folder: Folder, first: str, second: str) -> bool:
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


# -- claiming a name and copying into it --------------------------------------------


def claim_free_name(files: Folder, name: str) -> tuple[str, int]:
    """Create the first free name of ``name``, ``stem-2.ext``, ``stem-3.ext``, ... in ``files``.

    Returns the name and a descriptor open for writing. ``O_EXCL`` makes the check and
    the creation one step, so two pushes can never get the same name, and never opens a
    link; a link found on the way is refused.
    """
    stem, ext = split_ext(name)
    number = 1
    while True:
        candidate = name if number == 1 else f"{stem}-{number}{ext}"
        if files.fd is None and os.path.islink(os.path.join(files.path, candidate)):
            raise link_error(os.path.join(files.path, candidate))
        try:
            return candidate, os.open(files.name(candidate), _CLAIM_FLAGS, 0o666, dir_fd=files.fd)
        except FileExistsError as exc:
            _raise_unless_taken(files, candidate, exc)
            number += 1


def _raise_unless_taken(files: Folder, name: str, exc: FileExistsError) -> None:
    """Refuse ``name`` when it is a link or another odd entry, not a copy stored earlier."""
    refusal = refusal_error(files, name, "a regular file", exc)
    if refusal is not exc:
        raise refusal from None


def copy_contents(source: int, target: int) -> int:
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
        write_all(target, chunk)
        copied += len(chunk)
    return copied
