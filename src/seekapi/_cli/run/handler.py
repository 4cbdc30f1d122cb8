"""Find and import a worker's handler the way AWS Lambda does.

A handler is named ``path/to/file.py[:function]`` or ``package.module[:function]``; the
function defaults to ``handler``. Lambda's own spelling, ``module.function``, is also
understood when ``module.function`` is not itself a module.

A file is imported under its own name (``handler.py`` as ``handler``) with its folder
first on ``sys.path``, as Lambda puts the task root there, so its sibling modules import.
A module is imported with the working directory first on ``sys.path``.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from .._common import CommandError

DEFAULT_FUNCTION = "handler"


class HandlerImportError(Exception):
    """Importing the handler's module raised: the worker's own code failed at init.

    ``__cause__`` is the exception the module raised, any :class:`BaseException`: a
    module that calls ``sys.exit()`` while being imported fails Lambda's init phase too.
    """


@dataclass(frozen=True)
class HandlerSpec:
    """Where a handler is: a file or a module, and the function's name in it."""

    target: str
    function: str
    is_file: bool
    explicit_function: bool

    @property
    def display(self) -> str:
        """The handler as ``target:function``."""
        return f"{self.target}:{self.function}"

    def to_json(self) -> dict[str, object]:
        """The fields as a JSON object: ``HandlerSpec(**spec.to_json())`` is ``spec``."""
        return {
            "target": self.target,
            "function": self.function,
            "is_file": self.is_file,
            "explicit_function": self.explicit_function,
        }


def parse_handler(text: str) -> HandlerSpec:
    """Split ``PATH_OR_MODULE[:FUNCTION]``; raise :class:`CommandError` when it is malformed."""
    text = text.strip()
    if not text:
        raise CommandError("no handler given: name a file (handler.py) or a module")
    target, function, explicit = text, DEFAULT_FUNCTION, False
    head, colon, tail = text.rpartition(":")
    # "C:\\worker\\handler.py" has a colon that is not a function separator.
    if colon and head and not _looks_like_path(tail):
        if not tail.isidentifier():
            raise CommandError(f"{tail!r} after ':' in {text!r} is not a function name")
        target, function, explicit = head, tail, True
    elif colon and not head:
        raise CommandError(f"{text!r} names no file or module before ':'")
    if _looks_like_path(target) or os.path.exists(target):
        return HandlerSpec(target, function, is_file=True, explicit_function=explicit)
    if not all(part.isidentifier() for part in target.split(".")):
        raise CommandError(
            f"{target!r} is neither a Python file (path/to/handler.py) nor a module name"
            " (package.module)"
        )
    return HandlerSpec(target, function, is_file=False, explicit_function=explicit)


def lambda_setting(spec: HandlerSpec) -> tuple[str, str]:
    """Lambda's handler setting (``_HANDLER``) and task root for ``spec``, without importing.

    A file ``src/worker.py:main`` is ``worker.main`` with ``src`` as the task root; a
    module is found from the working directory. ``package.module.function`` without a
    ``:`` is Lambda's own spelling unless ``package/module/function`` is a module on disk.
    """
    if spec.is_file:
        path = os.path.abspath(spec.target)
        stem = os.path.splitext(os.path.basename(path))[0]
        return f"{stem}.{spec.function}", os.path.dirname(path)
    root = os.getcwd()
    if spec.explicit_function or "." not in spec.target or _module_on_disk(spec.target):
        return f"{spec.target}.{spec.function}", root
    return spec.target, root


def _module_on_disk(name: str) -> bool:
    parts = name.split(".")
    for folder in [os.getcwd(), *sys.path]:
        base = os.path.join(folder or os.curdir, *parts)
        if os.path.isfile(base + ".py") or os.path.isfile(os.path.join(base, "__init__.py")):
            return True
    return False


def _looks_like_path(text: str) -> bool:
    separators = [os.sep] + ([os.altsep] if os.altsep else [])
    return text.endswith(".py") or any(sep in text for sep in separators)


def load_handler(spec: HandlerSpec) -> tuple[Callable[..., Any], HandlerSpec]:
    """Import the handler's module; return the function and where it was found.

    The second value names the module and function that were used: for Lambda's
    spelling ``package.module.function`` it is ``package.module`` and ``function``.
    Raises :class:`CommandError` for a missing file, module or function, or one that is
    not callable, and :class:`HandlerImportError` when the module's own code raises.
    ``sys.path`` keeps the folder it was given (as in Lambda, where it stays for the
    life of the process).
    """
    if spec.is_file:
        module = _import_file(spec.target)
        resolved = spec
    else:
        module, resolved = _import_module(spec)
    return _get_function(module, resolved.function, resolved), resolved


def _import_file(target: str) -> ModuleType:
    path = os.path.abspath(target)
    if os.path.isdir(path):
        hint = os.path.join(target, "handler.py")
        extra = (
            f"; did you mean {hint}?" if os.path.isfile(os.path.join(path, "handler.py")) else ""
        )
        raise CommandError(f"{target} is a folder: give the handler's file{extra}")
    if not os.path.isfile(path):
        raise CommandError(f"no such file: {target}")
    folder = os.path.dirname(path)
    _put_first_on_path(folder)
    stem = os.path.splitext(os.path.basename(path))[0]
    # Import under the file's own name, as Lambda does, so that a module importing it by
    # that name (tests, siblings) shares it; never replace a module already loaded.
    name = stem if stem.isidentifier() and stem not in sys.modules else "_seekapi_handler_module"
    loader_spec = importlib.util.spec_from_file_location(name, path)
    if loader_spec is None or loader_spec.loader is None:
        raise CommandError(f"{target} cannot be imported as a Python module")
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[name] = module
    try:
        loader_spec.loader.exec_module(module)
    except BaseException as exc:
        sys.modules.pop(name, None)
        raise HandlerImportError(f"importing {target} failed") from exc
    return module


def _import_module(spec: HandlerSpec) -> tuple[ModuleType, HandlerSpec]:
    _put_first_on_path(os.getcwd())
    try:
        return _import(spec.target), spec
    except ModuleNotFoundError as exc:
        if not _is_missing(exc, spec.target):
            raise HandlerImportError(f"importing {spec.target} failed") from exc
        missing = exc
    # Lambda's handler setting is "module.function": try that reading too.
    module_name, _, function = spec.target.rpartition(".")
    if module_name and not spec.explicit_function:
        try:
            module = _import(module_name)
        except ModuleNotFoundError as exc:
            if not _is_missing(exc, module_name):
                raise HandlerImportError(f"importing {module_name} failed") from exc
        else:
            return module, HandlerSpec(module_name, function, is_file=False, explicit_function=True)
    raise CommandError(
        f"no module named {missing.name or spec.target!r} (looked in {os.getcwd()} and on"
        " sys.path); give a file path (path/to/handler.py) or run from the project's folder"
    )


def _import(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError:
        raise
    except BaseException as exc:
        raise HandlerImportError(f"importing {name} failed") from exc


def _is_missing(exc: ModuleNotFoundError, name: str) -> bool:
    """Whether ``exc`` says ``name`` itself (or a package on its way) does not exist."""
    missing = exc.name or ""
    return bool(missing) and (name == missing or name.startswith(missing + "."))


def _put_first_on_path(folder: str) -> None:
    if folder in sys.path:
        sys.path.remove(folder)
    sys.path.insert(0, folder)


def _get_function(module: ModuleType, name: str, spec: HandlerSpec) -> Callable[..., Any]:
    where = spec.target
    if not hasattr(module, name):
        functions = sorted(
            attr
            for attr, value in vars(module).items()
            if callable(value)
            and not attr.startswith("_")
            and getattr(value, "__module__", None) == module.__name__
        )
        hint = f" (it defines: {', '.join(functions)})" if functions else ""
        raise CommandError(f"{where} has no function {name!r}{hint}")
    value = getattr(module, name)
    if not callable(value):
        raise CommandError(f"{name!r} in {where} is a {type(value).__name__}, not a function")
    _check_signature(value, name, where)
    return value  # type: ignore[no-any-return]


def _check_signature(fn: Callable[..., Any], name: str, where: str) -> None:
    """Refuse a function that cannot be called as ``fn(event, context)``."""
    import inspect

    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return  # some builtins have no signature: let the call decide
    try:
        signature.bind({}, None)
    except TypeError:
        raise CommandError(
            f"{name}{signature} in {where} cannot be called as a Lambda handler,"
            " which gets two arguments: (event, context)"
        ) from None
