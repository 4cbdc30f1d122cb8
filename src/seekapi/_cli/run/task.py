"""What ``seekapi run --lambda`` runs: a task root and Lambda's handler setting for it.

The target is a worker folder, a packaged ``.zip`` (unpacked into a folder of its own),
a handler file or a module; ``:NAME`` after it names the function in the default module
(``handler`` for a folder or a zip, the file's own module for a file), and
``:module.function`` (for a folder or a zip) Lambda's whole handler setting.
"""

from __future__ import annotations

import os
import re
import sys
import zipfile
import zlib
from dataclasses import dataclass

from .._common import EXIT_FAILED, CommandError, display_path

DEFAULT_MODULE = "handler"
DEFAULT_FUNCTION = "handler"


@dataclass(frozen=True)
class Task:
    """Where the function's code is and which function Lambda calls."""

    kind: str
    """``"folder"``, ``"zip"``, ``"file"`` or ``"module"``."""
    path: str
    """The folder, the zip or the file (absolute); the working directory for a module."""
    handler: str
    """Lambda's handler setting, ``module.function`` (``_HANDLER``)."""

    @property
    def display(self) -> str:
        """The target and the handler setting, for the summary."""
        return f"{self.handler} in {_shown(self.path)}"

    @property
    def module(self) -> str:
        """The handler's module, as a dotted name."""
        return self.handler.rpartition(".")[0].replace("/", ".")


def parse_task(text: str) -> Task:
    """The task ``PATH_OR_MODULE[:FUNCTION]`` names; :class:`CommandError` when it is wrong."""
    text = text.strip()
    target, colon, name = text.rpartition(":")
    if not colon:
        target, name = text, ""
    if not target:
        raise CommandError(f"{text!r} names no folder, zip, file or module")
    if name and not all(part.isidentifier() for part in name.replace("/", ".").split(".")):
        raise CommandError(f"{name!r} after ':' in {text!r} is not a function or module.function")
    path = os.path.abspath(target)
    if target.endswith(".zip") or (
        not target.endswith(".py") and os.path.isfile(path) and zipfile.is_zipfile(path)
    ):
        return _zip(target, path, name)
    if os.path.isdir(path):
        return Task("folder", path, _setting(name, DEFAULT_MODULE))
    if target.endswith(".py") or os.sep in target:
        if not os.path.isfile(path):
            raise CommandError(f"no such file or folder: {target}")
        stem = os.path.splitext(os.path.basename(path))[0]
        if "." in name:
            raise CommandError(f"give a function name after ':' in {text!r}, not {name!r}")
        return Task("file", path, f"{stem}.{name or DEFAULT_FUNCTION}")
    if not all(part.isidentifier() for part in target.split(".")):
        raise CommandError(f"{target!r} is neither a folder, a zip, a Python file nor a module")
    if not name and "." in target:
        return Task("module", os.getcwd(), target)  # Lambda's own spelling, module.function
    return Task("module", os.getcwd(), f"{target}.{name or DEFAULT_FUNCTION}")


def _setting(name: str, module: str) -> str:
    if "." in name:
        return name
    return f"{module}.{name or DEFAULT_FUNCTION}"


def _zip(target: str, path: str, name: str) -> Task:
    if not os.path.isfile(path):
        raise CommandError(f"no such file: {target}")
    if not zipfile.is_zipfile(path):
        raise CommandError(f"{target} is not a zip file")
    return Task("zip", path, _setting(name, DEFAULT_MODULE))


def task_root(task: Task, scratch: str) -> str:
    """The folder the function runs in: a zip is unpacked into ``scratch/task``.

    Raises :class:`CommandError` when the handler's module is not in it, or the zip
    cannot be read.
    """
    if task.kind == "zip":
        root = os.path.join(scratch, "task")
        unpack(task.path, root)
    elif task.kind in ("folder", "module"):
        root = task.path
    else:
        root = os.path.dirname(task.path)
    if task.kind != "module":
        _check_module(task, root)
    return root


UNZIPPED_LIMIT = 262_144_000
"""Bytes a function's code may take unpacked: Lambda's limit (250 MB)."""


def unpack(path: str, root: str) -> None:
    """Unpack the zip at ``path`` into ``root`` as Lambda does, or raise
    :class:`CommandError` saying why it cannot be.

    A zip whose files add up to more than :data:`UNZIPPED_LIMIT` is refused before
    anything is written. Names with ``..`` or a leading ``/`` are made safe (by
    :meth:`zipfile.ZipFile.extract`), and each file keeps the mode the zip records for
    it, so that a packaged ``tool.sh`` with mode 755 can be run.
    """
    shown = _shown(path)
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            _check_size(shown, members)
            for member in members:
                written = archive.extract(member, root)
                mode = (member.external_attr >> 16) & 0o777
                if mode and not member.is_dir():
                    os.chmod(written, mode | 0o400)  # readable by its owner, whatever it says
    except CommandError:
        raise
    except (OSError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise CommandError(f"cannot unpack {shown}: {exc}") from None
    except NotImplementedError as exc:  # a compression method zipfile does not know
        raise CommandError(f"cannot unpack {shown}: {exc}") from None
    except RuntimeError as exc:  # an encrypted member, which Lambda cannot unpack either
        raise CommandError(
            f"cannot unpack {shown}: {exc} (Lambda cannot run a password-protected zip)"
        ) from None


def _check_size(shown: str, members: list[zipfile.ZipInfo]) -> None:
    size = sum(member.file_size for member in members)
    if size > UNZIPPED_LIMIT:
        raise CommandError(
            f"{shown} unpacks to {size:,} bytes, over Lambda's limit of"
            f" {UNZIPPED_LIMIT:,} bytes (250 MB) for a function's code",
            exit_code=EXIT_FAILED,
        )


_MOST_FILES = 20_000  # looked at for extension modules, at most

_SO_TAG = re.compile(r"\.cpython-(\d)(\d+)[a-z]*-([A-Za-z0-9_]+)-")


def foreign_builds(root: str, limit: int = 3) -> list[str]:
    """What in the task root was built for another Python or machine than this one: the
    packages whose ``*.dist-info/WHEEL`` tags do not fit, and extension modules named
    for another interpreter or architecture (``x.cpython-312-aarch64-linux-gnu.so``).
    At most ``limit`` of them, each as ``name (tag)``."""
    found: list[str] = []
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return found
    for name in names:
        if not name.endswith(".dist-info"):
            continue
        try:
            with open(os.path.join(root, name, "WHEEL"), encoding="utf-8") as file:
                tags = [line.split(":", 1)[1].strip() for line in file if line.startswith("Tag:")]
        except (OSError, UnicodeDecodeError):
            continue
        if tags and not any(_tag_fits(tag) for tag in tags):
            found.append(f"{name} ({tags[0]})")
    seen = 0
    for folder, folders, files in os.walk(root):
        folders[:] = [each for each in folders if not each.startswith(".")]
        seen += len(files)
        if seen > _MOST_FILES:
            break
        for file_name in files:
            match = _SO_TAG.search(file_name)
            if match and not _so_fits(*match.groups()):
                found.append(f"{os.path.relpath(os.path.join(folder, file_name), root)}")
                break  # one per folder is enough to tell
        if len(found) >= limit:
            break
    return found[:limit]


def _machine() -> str:
    import platform

    machine = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)


def _tag_fits(tag: str) -> bool:
    """Whether a wheel tag (``cp312-cp312-manylinux_2_17_x86_64``) fits this Python."""
    parts = tag.split("-")
    if len(parts) != 3:
        return True  # not a tag this knows how to read: no hint
    python, abi, plat = parts
    here = sys.version_info
    if python.startswith("cp") and python[2:].isdigit():
        wanted = int(python[3:]) if python[2] == "3" else -1
        if abi == "abi3" and wanted <= here.minor:
            pass
        elif python != f"cp{here.major}{here.minor}":
            return False
    if plat == "any":
        return True
    return sys.platform.startswith("linux") and "linux" in plat and plat.endswith(_machine())


def _so_fits(major: str, minor: str, machine: str) -> bool:
    here = sys.version_info
    return (int(major), int(minor)) == (here.major, here.minor) and machine == _machine()


def mismatch_hint(root: str) -> str | None:
    """A line saying what in ``root`` was built for another Python or machine, or ``None``."""
    found = foreign_builds(root)
    if not found:
        return None
    here = f"CPython {sys.version_info.major}.{sys.version_info.minor} on {_machine()}"
    return (
        f"hint: the code holds packages built for another Python or machine than this"
        f" {here}: {', '.join(found)}; build it for the function's runtime (pip install"
        " --platform, --python-version and --only-binary=:all:)"
    )


def _check_module(task: Task, root: str) -> None:
    base = os.path.join(root, *task.module.split("."))
    if os.path.isfile(base + ".py") or os.path.isfile(os.path.join(base, "__init__.py")):
        return
    found = sorted(name for name in os.listdir(root) if name.endswith(".py"))
    listed = f" (it holds: {', '.join(found)})" if found else ""
    raise CommandError(
        f"{_shown(task.path)} has no module {task.module!r} for the handler"
        f" {task.handler!r}{listed}; name the function as PATH:module.function"
    )


def _shown(path: str) -> str:
    return display_path(path)
