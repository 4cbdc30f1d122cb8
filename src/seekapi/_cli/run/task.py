"""What ``seekapi run --lambda`` runs: a task root and Lambda's handler setting for it.

The target is a worker folder, a packaged ``.zip`` (unpacked into a folder of its own),
a handler file or a module; ``:NAME`` after it names the function in the default module
(``handler`` for a folder or a zip, the file's own module for a file), and
``:module.function`` (for a folder or a zip) Lambda's whole handler setting.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass

from .._common import CommandError, display_path

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
        try:
            with zipfile.ZipFile(task.path) as archive:
                archive.extractall(root)  # names with .. or a leading / are made safe
        except (OSError, zipfile.BadZipFile) as exc:
            raise CommandError(f"cannot unpack {_shown(task.path)}: {exc}") from None
    elif task.kind in ("folder", "module"):
        root = task.path
    else:
        root = os.path.dirname(task.path)
    if task.kind != "module":
        _check_module(task, root)
    return root


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
