"""``seekapi``'s entry point: parse the command line, run the command, give its exit status.

Usage errors, Ctrl-C and defects of a command become exit statuses here, and, with
``--json``, still one JSON object on standard output. Only the command named on the
command line is imported (see :mod:`seekapi._cli.commands`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Collection, Sequence
from typing import NoReturn

from .._version import __version__
from ._common import EXIT_FAILED, EXIT_USAGE, CommandError, emit_json, error, json_emitted
from .base import Command
from .commands import COMMANDS, create_command

__all__ = ["build_parser", "main"]

_COMMAND = "seekapi_command"
"""The parsed arguments' attribute holding the :class:`Command` to run."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``seekapi`` with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    json_mode = _wants_json(argv)
    json_emitted(reset=True)
    named = _named_command(argv)
    parser = build_parser([] if named is None else [named])
    try:
        args = parser.parse_args(argv)
    except CommandLineError as exc:
        exc.parser.print_usage(sys.stderr)
        return _usage_error(exc.parser.prog, exc.message, json_mode)
    except SystemExit as exc:  # --help or --version
        return _status(exc.code)
    command: Command | None = getattr(args, _COMMAND, None)
    if command is None:
        parser.print_help(sys.stderr)
        return _usage_error(parser.prog, "no command given", json_mode, quiet=True)
    try:
        return command.run(args)
    except CommandError as exc:
        return _usage_error(f"{parser.prog} {args.command}", exc.message, json_mode, exc.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted\n")
        _json_failure(json_mode, 130, "interrupted", "interrupted")
        return 130
    except Exception as exc:
        if not json_mode:
            raise
        import traceback

        # A defect of the command itself: the traceback for the report, and still one object.
        traceback.print_exc()
        _json_failure(json_mode, EXIT_FAILED, "internal", f"{type(exc).__name__}: {exc}")
        return EXIT_FAILED


def _wants_json(argv: Sequence[str]) -> bool:
    """Whether ``--json`` (or an abbreviation argparse accepts, ``--js``...) is in ``argv``."""
    for arg in argv:
        if arg == "--":
            return False
        if arg.startswith("--js") and "--json".startswith(arg):
            return True
    return False


def _named_command(argv: Sequence[str]) -> str | None:
    """The command ``argv`` names: its first argument that is not an option.

    ``seekapi``'s own options (``--help``, ``--version``) take no value, so that is the
    argument argparse reads as the command.
    """
    for arg in argv:
        if arg == "--" or arg.startswith("-"):
            continue
        return arg if arg in COMMANDS else None
    return None


def _usage_error(
    prog: str, message: str, json_mode: bool, code: int = EXIT_USAGE, *, quiet: bool = False
) -> int:
    if not quiet:
        error(prog, message)
    _json_failure(json_mode, code, "usage", message)
    return code


def _json_failure(json_mode: bool, code: int, kind: str, message: str) -> None:
    if json_mode and not json_emitted():
        emit_json({"ok": False, "exit_code": code, "error": {"type": kind, "message": message}})


class CommandLineError(Exception):
    """The command line was wrong: what argparse would print before exiting with 2."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser
        self.message = message


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors come back to :func:`main` instead of exiting.

    :func:`main` reports them as argparse does, plus the JSON object with ``--json``.
    """

    def error(self, message: str) -> NoReturn:
        raise CommandLineError(self, message)


def _status(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    return EXIT_FAILED


def build_parser(load: Collection[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser of the ``seekapi`` command and its sub-commands.

    The commands named in ``load`` (default: all) are imported and given their
    arguments; the others are listed by name and summary only.
    """
    parser = Parser(
        prog="seekapi",
        description="Develop and test SeekAPI workers locally.",
        epilog="Run 'seekapi COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"seekapi {__version__}")
    subparsers = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    for name, info in COMMANDS.items():
        if load is not None and name not in load:
            subparsers.add_parser(name, help=info.summary)
            continue
        command = create_command(name)
        sub = subparsers.add_parser(
            name,
            help=info.summary,
            description=command.description,
            epilog=command.epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        command.add_arguments(sub)
        sub.set_defaults(**{_COMMAND: command})
    return parser
