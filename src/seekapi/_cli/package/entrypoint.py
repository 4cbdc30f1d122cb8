"""Checking, before anything is written, that the zip holds the handler Lambda will call.

Lambda's handler setting is ``module.function`` (``handler.handler``: the function
``handler`` in ``handler.py`` at the top of the zip). The module is found among the
zip's files and read, not imported: importing would run the worker's code with this
machine's packages, not Lambda's.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Iterable

from .._common import EXIT_USAGE
from .contents import ArchiveEntry, is_test_file
from .failure import PackageError

_HANDLER = re.compile(r"[A-Za-z_]\w*(?:[./][A-Za-z_]\w*)*\.[A-Za-z_]\w*")


def split_handler(spec: str) -> tuple[str, str]:
    """``module.function`` → (``module``, ``function``); ``pkg/mod.fn`` as ``pkg.mod``.

    Raises :class:`PackageError` (a usage error) for anything else.
    """
    if not _HANDLER.fullmatch(spec):
        raise PackageError(
            f"--handler {spec!r} is not MODULE.FUNCTION (as Lambda's handler setting:"
            " handler.handler)",
            exit_code=EXIT_USAGE,
        )
    module, _, function = spec.replace("/", ".").rpartition(".")
    return module, function


def check_handler(spec: str, entries: Iterable[ArchiveEntry], worker_dir: str) -> str:
    """The zip's file that defines the handler ``spec``; raises :class:`PackageError` if none.

    The module may be a ``.py`` file, a package's ``__init__.py`` or a compiled module
    (whose functions are taken on trust). The function must be defined, assigned or
    imported at the module's top level (inside an ``if`` or ``try`` counts).
    """
    module, function = split_handler(spec)
    path = module.replace(".", "/")
    by_name = {entry.name: entry for entry in entries}
    for candidate in (f"{path}.py", f"{path}/__init__.py"):
        entry = by_name.get(candidate)
        if entry is not None:
            _check_defines(entry, function, spec)
            return candidate
    folder, _, stem = path.rpartition("/")
    for name in by_name:
        head, _, tail = name.rpartition("/")
        if head == folder and tail.startswith(stem + ".") and tail.endswith(".so"):
            return name
    raise PackageError(_missing_module_message(spec, path, worker_dir), exit_code=EXIT_USAGE)


def _missing_module_message(spec: str, path: str, worker_dir: str) -> str:
    where = os.path.join(worker_dir, *path.split("/")) + ".py"
    if os.path.isfile(where) and is_test_file(os.path.basename(where)):
        return (
            f"the handler {spec} is in {where}, which is left out as a test file"
            " (test_*.py, *_test.py, conftest.py): give the module another name"
        )
    return (
        f"the handler {spec} needs {path}.py at the top of the zip, and {worker_dir} has"
        f" none: Lambda would fail with Runtime.ImportModuleError. Pass the worker's folder,"
        " or --handler MODULE.FUNCTION"
    )


def _check_defines(entry: ArchiveEntry, function: str, spec: str) -> None:
    try:
        if entry.source is not None:
            with open(entry.source, "rb") as file:
                source = file.read()
        else:
            source = entry.data or b""
        tree = ast.parse(source, filename=entry.name)
    except OSError as exc:
        raise PackageError(f"cannot read {entry.name}: {exc}") from None
    except (SyntaxError, ValueError) as exc:
        line = getattr(exc, "lineno", None)
        where = f" (line {line})" if line else ""
        raise PackageError(
            f"{entry.name} is not valid Python{where}: {exc}; Lambda could not import it"
        ) from None
    names = _top_level_names(tree.body)
    if function not in names and "*" not in names:
        raise PackageError(
            f"{entry.name} defines no {function!r} at its top level: Lambda would fail with"
            f" Runtime.HandlerNotFound for the handler {spec}",
            exit_code=EXIT_USAGE,
        )


def _top_level_names(body: list[ast.stmt]) -> set[str]:
    """The names a module's statements bind at its top level (``*`` for ``import *``)."""
    names: set[str] = set()
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(sub.id for sub in ast.walk(target) if isinstance(sub, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            inner = list(node.body) + list(getattr(node, "orelse", []))
            inner += list(getattr(node, "finalbody", []))
            for handler in getattr(node, "handlers", []):
                inner += list(handler.body)
            names |= _top_level_names(inner)
    return names
