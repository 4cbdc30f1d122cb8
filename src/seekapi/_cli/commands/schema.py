"""``seekapi schema``: print a typed worker's input and output JSON Schemas."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
import traceback
from types import ModuleType

from ..._worker import Worker, schema
from ...errors import ContractError
from .._common import EXIT_FAILED, EXIT_OK, CommandError, json_text
from ..base import Command, wrap
from ..run.handler import HandlerSpec, parse_handler


class SchemaCommand(Command):
    """``seekapi schema HANDLER_FILE[:NAME]``: the JSON Schemas of a worker's contract."""

    description = wrap(
        "Print the JSON Schemas (draft 2020-12) of a typed worker's input and output, as"
        ' {"input": ..., "output": ...}; "output" is null when the function has no return'
        " annotation. NAME (default: handler) is a @seekapi.worker handler or a plain"
        " function whose first parameter and return value are annotated. The module is"
        " imported as Lambda would import it, so its own import-time code runs."
    )
    epilog = (
        "examples:\n"
        "  seekapi schema handler.py\n"
        "  seekapi schema handler.py:work --side input > input.schema.json"
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "handler",
            metavar="HANDLER_FILE[:NAME]",
            help="the worker's file (or module) and, after a colon, the name in it",
        )
        parser.add_argument(
            "--side",
            choices=("input", "output"),
            help="print only this side's schema",
        )

    def run(self, args: argparse.Namespace) -> int:
        spec = parse_handler(args.handler)
        target = _find(spec)
        if not isinstance(target, Worker) and _takes_event_and_context(target):
            raise CommandError(
                f"{spec.display} is a Lambda handler (event, context), not a typed worker"
                " function: decorate the worker function with @seekapi.worker, or name it:"
                " FILE:NAME (see docs/contract.md)",
                exit_code=EXIT_FAILED,
            )
        try:
            schemas = schema(target)  # type: ignore[arg-type]
        except ContractError as exc:
            raise CommandError(f"{spec.display}: {exc}", exit_code=EXIT_FAILED) from None
        if schemas["input"] is None and schemas["output"] is None:
            raise CommandError(
                f"{spec.display} has no input or output type: annotate the worker function's"
                " first parameter and its return value (see docs/contract.md), or name the"
                " function: FILE:NAME",
                exit_code=EXIT_FAILED,
            )
        chosen = schemas if args.side is None else schemas[args.side]
        sys.stdout.write(json_text(chosen, indent=2) + "\n")
        return EXIT_OK


def _takes_event_and_context(fn: object) -> bool:
    import inspect

    try:
        parameters = list(inspect.signature(fn).parameters.values())  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 and positional[1].name in ("context", "ctx", "lambda_context")


def _find(spec: HandlerSpec) -> object:
    module = _import(spec)
    try:
        target = getattr(module, spec.function)
    except AttributeError:
        raise CommandError(f"{spec.target} has no {spec.function!r}") from None
    if not callable(target):
        raise CommandError(f"{spec.display} is not a function")
    return target


def _import(spec: HandlerSpec) -> ModuleType:
    if spec.is_file and not os.path.isfile(spec.target):
        raise CommandError(f"no such file: {spec.target}")
    try:
        return _load(spec)
    except ContractError as exc:  # @seekapi.worker refused an annotation at import time
        raise CommandError(f"{spec.display}: {exc}", exit_code=EXIT_FAILED) from None
    except ModuleNotFoundError as exc:
        if exc.name == spec.target:
            raise CommandError(f"no such module: {spec.target}") from None
        raise CommandError(_import_failed(spec, exc), exit_code=EXIT_FAILED) from None
    except BaseException as exc:  # noqa: BLE001 - the worker's own import-time code
        raise CommandError(_import_failed(spec, exc), exit_code=EXIT_FAILED) from None


def _load(spec: HandlerSpec) -> ModuleType:
    """Import the module as Lambda would: its folder (or the working directory) first."""
    if not spec.is_file:
        sys.path.insert(0, os.getcwd())
        return importlib.import_module(spec.target)
    path = os.path.abspath(spec.target)
    sys.path.insert(0, os.path.dirname(path))
    name = os.path.splitext(os.path.basename(path))[0]
    found = importlib.util.spec_from_file_location(name, path)
    if found is None or found.loader is None:
        raise ImportError(f"{spec.target} cannot be imported as a Python module")
    module = importlib.util.module_from_spec(found)
    sys.modules[name] = module
    found.loader.exec_module(module)
    return module


def _import_failed(spec: HandlerSpec, exc: BaseException) -> str:
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip()
    return f"importing {spec.target} failed:\n{text}"
