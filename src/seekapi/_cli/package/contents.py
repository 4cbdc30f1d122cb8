"""What goes into the zip, each file under the name Lambda will import it by.

Three sources, all at the top of the zip (Lambda puts its root first on ``sys.path``):

- the worker's folder, less tests, caches, version control, virtual environments,
  local-mode output, ``dist/`` and ``build/`` at its top, and (with a warning) ``.zip``
  files, ``.env`` files, links to folders and links to nothing; a link leading out of
  the folder is refused, and a test-like module the handler imports is kept;
- seekapi, copied from where it is installed (the package this command runs from), so
  the zip never depends on which seekapi a package index offers;
- the requirements pip installed, as their wheels laid them out, less the test suites
  some packages ship inside (their ``tests/`` folders and ``conftest.py``), the scripts in
  ``bin/`` (their first line names this machine's Python), caches and
  ``direct_url.json`` (where pip found the wheel); each ``RECORD`` lists what is kept.
  Their other modules are kept whatever their names: a library may import a module of
  its own called ``test_util``.

A name from two sources is an error: one would silently hide the other.
"""

from __future__ import annotations

import ast
import csv
import io
import os
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from ..._version import __version__
from .failure import PackageError

SKIPPED_FOLDERS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "__pycache__",
        ".pytest_cache",
        ".mypy_cache",
        ".ruff_cache",
        ".seekapi-local",
        ".tox",
        ".nox",
    }
)
"""Folders left out wherever they are: version control, caches, local-mode output."""

TEST_FOLDERS = frozenset({"tests"})
"""Folders left out as test suites, in the worker's folder and in its requirements."""

CACHE_SUFFIXES = (".pyc", ".pyo")


class ArchiveEntry(NamedTuple):
    """One file of the zip: its name there, and a file to stream it from or its bytes."""

    name: str
    """The path inside the zip, with ``/``."""
    source: str | None
    """The file on disk to copy, or None for generated ``data``."""
    data: bytes | None
    executable: bool
    """Stored as 0755 instead of 0644."""
    origin: str
    """``worker``, ``seekapi`` or ``requirements``: where it comes from."""


def is_test_file(filename: str) -> bool:
    """``test_*.py``, ``*_test.py`` and ``conftest.py``: pytest's files, not the worker's."""
    return filename == "conftest.py" or (
        filename.endswith(".py") and (filename.startswith("test_") or filename.endswith("_test.py"))
    )


def _walk(
    root: str, *, skip_folder: Iterable[str] = (), top_skip: Iterable[str] = ()
) -> Iterator[tuple[str, str]]:
    """(path, name in the zip) of each file under ``root``, caches and skipped folders left out.

    A folder holding ``pyvenv.cfg`` is a virtual environment and is left out. Links to
    folders are not followed; a link to a file gives the file it points to.
    """
    skipped = SKIPPED_FOLDERS | frozenset(skip_folder)
    top_skipped = frozenset(top_skip)
    for folder, dirnames, filenames in os.walk(root):
        relative = os.path.relpath(folder, root)
        prefix = "" if relative == "." else relative.replace(os.sep, "/") + "/"
        dirnames[:] = [
            name
            for name in dirnames
            if name not in skipped
            and not (prefix == "" and name in top_skipped)
            and not os.path.isfile(os.path.join(folder, name, "pyvenv.cfg"))
        ]
        for filename in filenames:
            if filename.endswith(CACHE_SUFFIXES):
                continue
            yield os.path.join(folder, filename), prefix + filename


def _entry(path: str, name: str, origin: str) -> ArchiveEntry | None:
    try:
        mode = os.stat(path).st_mode
    except OSError:  # a broken link
        return None
    if not os.path.isfile(path):  # a socket, a pipe
        return None
    return ArchiveEntry(name, path, None, bool(mode & 0o111), origin)


TOP_OUTPUT_FOLDERS = frozenset({"dist", "build"})
"""Folders left out at the top of the worker's folder: where builds (this one's) write."""


def _is_env_file(filename: str) -> bool:
    """``.env`` and ``.env.*``: local settings and secrets, never deployed."""
    return filename == ".env" or filename.startswith(".env.")


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _check_name(name: str) -> None:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(name)
        raise PackageError(
            f"the worker's folder holds {shown!r}, a name that is not UTF-8: a zip names its"
            " files in UTF-8, and Lambda could not import it. Rename it, or move it out of"
            " the folder"
        ) from None


class WorkerFiles(NamedTuple):
    """The worker folder's files, and what the build should hear about what was left out."""

    entries: list[ArchiveEntry]
    warnings: list[str]


def worker_entries(
    root: str, outputs: Iterable[str], handler_module: str = "handler"
) -> WorkerFiles:
    """The worker folder's files, less tests and what is never shipped.

    ``outputs`` are the files this build writes (the zip, the Dockerfile): never packed
    into themselves when they lie inside the folder. Left out with a warning: ``.env``
    files, ``.zip`` files, links to folders and links to nothing. A link to a file
    inside the folder gives the file; a link whose target lies outside the folder is
    refused (:class:`PackageError`), as is a name that is not UTF-8. A test-like module
    (``test_utils.py``) that the module ``handler_module`` imports is kept.
    """
    real_root = os.path.realpath(root)
    skip = {os.path.realpath(path) for path in outputs}
    imported = handler_imports(root, handler_module)
    entries: list[ArchiveEntry] = []
    warnings: list[str] = []
    outside: list[str] = []
    for folder, dirnames, filenames in os.walk(root):
        relative = os.path.relpath(folder, root)
        prefix = "" if relative == "." else relative.replace(os.sep, "/") + "/"
        kept_dirs = []
        for name in sorted(dirnames):
            path = os.path.join(folder, name)
            if prefix == "" and name in TOP_OUTPUT_FOLDERS:
                if os.path.isfile(os.path.join(path, "__init__.py")):
                    warnings.append(
                        f"{name}/ left out, as build output at the folder's top, though it is"
                        " a package (it has __init__.py): give it another name if the worker"
                        " imports it"
                    )
                continue
            if (
                name in SKIPPED_FOLDERS
                or name in TEST_FOLDERS
                or os.path.isfile(os.path.join(path, "pyvenv.cfg"))
            ):
                continue
            _check_name(prefix + name)
            if os.path.islink(path):
                warnings.append(f"{prefix}{name} is a link to a folder: left out (not followed)")
            else:
                kept_dirs.append(name)
        dirnames[:] = kept_dirs
        for filename in sorted(filenames):
            path = os.path.join(folder, filename)
            name = prefix + filename
            if filename.endswith(CACHE_SUFFIXES) or os.path.realpath(path) in skip:
                continue
            if is_test_file(filename) and not (
                filename != "conftest.py" and name[: -len(".py")] in imported
            ):
                continue
            _check_name(name)
            if _is_env_file(filename):
                warnings.append(f"{name} left out: a .env file holds local settings and secrets")
                continue
            if filename.lower().endswith(".zip"):
                warnings.append(f"{name} left out: .zip files in the folder are never packed")
                continue
            if os.path.islink(path):
                target = os.path.realpath(path)
                if not os.path.exists(target):
                    warnings.append(f"{name} is a link to nothing: left out")
                    continue
                if not _inside(target, real_root):
                    outside.append(f"{name} -> {target}")
                    continue
            entry = _entry(path, name, "worker")
            if entry is not None:
                entries.append(entry)
    if outside:
        shown = ", ".join(outside[:5]) + (
            f" and {len(outside) - 5} more" if len(outside) > 5 else ""
        )
        raise PackageError(
            f"the worker's folder links to files outside it: {shown}. Only the folder's own"
            " files are packed: copy the file into the folder, or remove the link"
        )
    return WorkerFiles(entries, warnings)


def handler_imports(root: str, module: str) -> set[str]:
    """The modules (as zip paths without ``.py``: ``lib/test_utils``) that the handler
    module imports, and their parent packages; empty when it cannot be read."""
    path = module.replace(".", "/")
    for candidate in (f"{path}.py", f"{path}/__init__.py"):
        source = os.path.join(root, *candidate.split("/"))
        if os.path.isfile(source):
            break
    else:
        return set()
    package = path if candidate.endswith("/__init__.py") else path.rpartition("/")[0]
    try:
        with open(source, "rb") as file:
            tree = ast.parse(file.read())
    except (OSError, SyntaxError, ValueError):
        return set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                names.add(alias.name.replace(".", "/"))
        elif isinstance(node, ast.ImportFrom):
            base = (node.module or "").replace(".", "/")
            if node.level:
                parts = package.split("/") if package else []
                parts = parts[: len(parts) - (node.level - 1)] if node.level > 1 else parts
                base = "/".join([*parts, *([base] if base else [])])
            for alias in node.names:
                names.add(f"{base}/{alias.name}" if base else alias.name)
            if base:
                names.add(base)
    return names


def seekapi_folder() -> str:
    """Where the running seekapi package is installed: the copy that is bundled."""
    import seekapi

    return os.path.dirname(os.path.abspath(seekapi.__file__))


def seekapi_entries() -> list[ArchiveEntry]:
    """The installed seekapi package, and a ``METADATA`` naming its version.

    The metadata lets ``importlib.metadata.version("seekapi")`` answer in Lambda. It
    declares no entry points: the pytest plugin is for development, not for Lambda.
    """
    entries = [
        entry
        for path, name in _walk(seekapi_folder())
        if (entry := _entry(path, "seekapi/" + name, "seekapi")) is not None
    ]
    metadata = f"Metadata-Version: 2.1\nName: seekapi\nVersion: {__version__}\n"
    entries.append(
        ArchiveEntry(
            f"seekapi-{__version__}.dist-info/METADATA",
            None,
            metadata.encode(),
            False,
            "seekapi",
        )
    )
    return entries


def _is_seekapi(top: str) -> bool:
    """Whether a top-level name in the installed folder is a seekapi that pip brought."""
    lowered = top.lower()
    return lowered == "seekapi" or (
        lowered.startswith("seekapi-") and lowered.endswith(".dist-info")
    )


def requirement_entries(site: str) -> list[ArchiveEntry]:
    """The files pip installed into ``site``, with each ``RECORD`` listing only those kept.

    A seekapi that a requirement pulled in is dropped: the bundled copy takes its place.
    """
    kept: list[ArchiveEntry] = []
    records: list[tuple[str, str]] = []
    for path, name in _walk(site, skip_folder=TEST_FOLDERS, top_skip=("bin",)):
        top, _, rest = name.partition("/")
        if _is_seekapi(top) or (top.endswith(".dist-info") and rest == "direct_url.json"):
            continue
        if os.path.basename(name) == "conftest.py":
            continue
        if top.endswith(".dist-info") and rest == "RECORD":
            records.append((path, name))
            continue
        entry = _entry(path, name, "requirements")
        if entry is not None:
            kept.append(entry)
    names = {entry.name for entry in kept}
    for path, name in records:
        kept.append(
            ArchiveEntry(name, None, _kept_record(path, name, names), False, "requirements")
        )
    return kept


def _kept_record(path: str, name: str, names: set[str]) -> bytes:
    """The ``RECORD`` at ``path`` with only the rows of files in ``names`` and itself."""
    with open(path, encoding="utf-8", newline="") as file:
        rows = list(csv.reader(file))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in rows:
        if row and (row[0] in names or row[0] == name):
            writer.writerow(row)
    return out.getvalue().encode("utf-8")


def installed_distributions(site: str) -> list[tuple[str, str]]:
    """(name, version) of each distribution pip installed into ``site``, by name."""
    found: list[tuple[str, str]] = []
    if not os.path.isdir(site):
        return found
    for top in os.listdir(site):
        if not top.endswith(".dist-info") or _is_seekapi(top):
            continue
        fields: dict[str, str] = {}
        try:
            with open(os.path.join(site, top, "METADATA"), encoding="utf-8") as file:
                for line in file:
                    if not line.strip():
                        break  # the headers end at the first blank line
                    key, _, value = line.partition(":")
                    fields.setdefault(key.strip().lower(), value.strip())
        except OSError:
            continue
        found.append((fields.get("name", top), fields.get("version", "?")))
    return sorted(found, key=lambda item: item[0].lower())


def merge(*sources: list[ArchiveEntry]) -> list[ArchiveEntry]:
    """All the entries, sorted by name; raises :class:`PackageError` on a name given twice."""
    by_name: dict[str, ArchiveEntry] = {}
    clashes: list[str] = []
    for entries in sources:
        for entry in entries:
            other = by_name.get(entry.name)
            if other is not None:
                clashes.append(f"{entry.name} ({other.origin} and {entry.origin})")
                continue
            by_name[entry.name] = entry
    if clashes:
        shown = ", ".join(clashes[:5]) + (
            f" and {len(clashes) - 5} more" if len(clashes) > 5 else ""
        )
        raise PackageError(
            f"two sources give the same file: {shown}. The worker folder must not hold its own"
            " copy of seekapi or of a requirement (an earlier 'pip install --target .', say):"
            " remove it, and let seekapi package add them"
        )
    return [by_name[name] for name in sorted(by_name)]
