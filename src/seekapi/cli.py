"""The ``seekapi`` command line: run a worker locally, emulate the backend, start a project.

::

    seekapi run handler.py --input-file input.json      # one job, as Lambda would run it
    seekapi run handler.py --input '{"text": "hi"}' --emulate
    seekapi serve --port 8787                           # the backend emulator, standalone
    seekapi init my-worker                              # a ready project with its test

Exit status: 0 on success, 1 when the worker failed (it returned a failure, raised, timed
out or could not be imported), 2 when the command was used wrongly. With ``--json`` a
command writes one JSON object on standard output; logs always go to standard error.

This module is imported by the command only, never by ``import seekapi``; each command's
code is imported when that command runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from ._cli_common import (
    EXIT_FAILED,
    EXIT_USAGE,
    LOG_LEVELS,
    CommandError,
    emit_json,
    error,
    json_emitted,
)
from ._version import __version__

__all__ = ["build_parser", "main"]

_Command = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``seekapi`` with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    json_mode = _wants_json(argv)
    json_emitted(reset=True)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as exc:
        exc.parser.print_usage(sys.stderr)
        return _usage_error(exc.parser.prog, exc.message, json_mode)
    except SystemExit as exc:  # --help or --version
        return _status(exc.code)
    command: _Command | None = getattr(args, "command_fn", None)
    if command is None:
        parser.print_help(sys.stderr)
        return _usage_error(parser.prog, "no command given", json_mode, quiet=True)
    try:
        return command(args)
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


class _UsageError(Exception):
    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser
        self.message = message


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors come back to :func:`main` instead of exiting.

    :func:`main` reports them as argparse does, plus the JSON object with ``--json``.
    """

    def error(self, message: str) -> NoReturn:
        raise _UsageError(self, message)


def _status(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    return EXIT_FAILED


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``seekapi`` command and its sub-commands."""
    parser = _Parser(
        prog="seekapi",
        description="Develop and test SeekAPI workers locally.",
        epilog="Run 'seekapi COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"seekapi {__version__}")
    commands = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    _add_run(commands)
    _add_serve(commands)
    _add_init(commands)
    return parser


def _wrap(text: str) -> str:
    import textwrap

    return textwrap.fill(text, 79)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds: {text!r}")
    return value


def _whole_number(low: int, high: int | None, what: str) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` to ``high`` (no upper bound: None)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {what}: {text!r}") from None
        if value < low or (high is not None and value > high):
            bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise argparse.ArgumentTypeError(f"must be {bounds}: {text!r}")
        return value

    return parse


_positive_int = _whole_number(1, None, "a whole number")
_non_negative_int = _whole_number(0, None, "a whole number")
_port = _whole_number(0, 65535, "a port number")


def _add_json(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--json",
        action="store_true",
        help=f"write {what} as one JSON object on standard output (logs stay on stderr)",
    )


def _add_log_level(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        default="INFO",
        metavar="LEVEL",
        type=str.upper,
        help="lowest level of the log records shown on standard error: DEBUG, INFO (the"
        " default), WARNING or ERROR",
    )


def _run_command(args: argparse.Namespace) -> int:
    from ._cli_run import run_command

    return run_command(args)


def _serve_command(args: argparse.Namespace) -> int:
    from ._cli_serve import serve_command

    return serve_command(args)


def _init_command(args: argparse.Namespace) -> int:
    from ._cli_init import init_command

    return init_command(args)


def _add_run(commands: argparse._SubParsersAction[_Parser]) -> None:
    run = commands.add_parser(
        "run",
        help="run a worker's handler once, as AWS Lambda would",
        description=_wrap(
            "Run a handler once, as AWS Lambda would: in a process of its own with the"
            " function's environment (killed when --timeout passes), with a Lambda context"
            " whose remaining time counts down from --timeout, and an event whose input is"
            " served from a loopback URL, so get_input() runs for real over HTTP. By"
            " default the job runs in local"
            " mode (results, files and charges written under --out); with --emulate it talks"
            " to an in-process backend emulator over the production network path. Then it"
            " prints what the handler returned, the job's result, its files and charges, and"
            " a REPORT line like Lambda's."
        ),
        epilog=(
            "examples:\n"
            "  seekapi run handler.py --input-file input.json\n"
            '  seekapi run src/worker.py:main --input \'{"text": "hi"}\' --timeout 10\n'
            "  seekapi run my_package.handler --input-file input.json --emulate --json\n"
            "\n"
            'exit status: 0 when the handler returned {"ok": true, ...}; 1 when it returned'
            " a failure,\nraised, timed out or could not be imported; 2 for usage errors."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument(
        "handler",
        metavar="PATH_OR_MODULE[:FUNCTION]",
        help=(
            "the handler: a file (path/to/handler.py) or a module (package.module),"
            " optionally followed by :function (default: handler). 'module.function',"
            " as in Lambda's handler setting, works too"
        ),
    )
    source = run.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", metavar="JSON", help="the job's input, as JSON text")
    source.add_argument(
        "--input-file", metavar="FILE", help="a file holding the job's input as JSON (- for stdin)"
    )
    run.add_argument(
        "--timeout",
        type=_positive_float,
        default=30.0,
        metavar="S",
        help="the Lambda timeout in seconds (default: 30): the handler's process is killed"
        " when it passes",
    )
    run.add_argument(
        "--job-uuid", metavar="ID", help="the job's id (default: local- and 8 random hex digits)"
    )
    run.add_argument(
        "--out",
        metavar="DIR",
        help="where job folders go (default: .seekapi-local in the working directory)",
    )
    run.add_argument(
        "--fixtures",
        metavar="FILE",
        help="a local-mode fixtures file (SEEKAPI_LOCAL_FIXTURES); local mode only",
    )
    run.add_argument(
        "--charge-limit",
        type=_positive_int,
        metavar="N",
        help="the client's spending limit: charge() answers limit_reached once N units are metered",
    )
    run.add_argument(
        "--emulate",
        action="store_true",
        help="use the network path (WORKER_API_BASE_URL) against an in-process backend emulator"
        " instead of local mode",
    )
    _add_log_level(run)
    _add_json(run, "the outcome")
    run.set_defaults(command_fn=_run_command)


def _add_serve(commands: argparse._SubParsersAction[_Parser]) -> None:
    serve = commands.add_parser(
        "serve",
        help="run the backend emulator for a worker in another process or container",
        description=_wrap(
            "Run the SeekAPI backend emulator until Ctrl-C or SIGTERM, for a worker running in"
            " another process or a container. It prints the environment variables to give the"
            " worker, and writes what each job receives in the local-mode layout under --dir."
            " It is a development tool: it binds to the loopback interface unless told"
            " otherwise."
        ),
        epilog=(
            "examples:\n"
            "  seekapi serve\n"
            "  seekapi serve --port 0 --job input.json --json\n"
            "  seekapi serve --host 0.0.0.0 --secret dev-secret --charge-limit 10"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)"
    )
    serve.add_argument(
        "--port",
        type=_port,
        default=8787,
        help="port to listen on; 0 picks a free one (default: 8787)",
    )
    serve.add_argument(
        "--public-url",
        metavar="URL",
        help=(
            "the base URL workers reach the emulator at, when it is not the listening"
            " address (for a container: http://host.docker.internal:PORT)"
        ),
    )
    serve.add_argument(
        "--dir",
        metavar="DIR",
        help="where job folders go (default: .seekapi-local in the working directory)",
    )
    serve.add_argument(
        "--secret",
        help="the WORKER_INTERNAL_SECRET workers must send (default: a random one)",
    )
    serve.add_argument(
        "--charge-limit",
        type=_non_negative_int,
        metavar="N",
        help="every job's spending limit: charges answer limit_reached once N units are"
        " metered (0: from the first charge)",
    )
    serve.add_argument(
        "--job",
        action="append",
        default=[],
        metavar="INPUT_FILE",
        help="create a job whose input is this JSON file and print its event (repeatable)",
    )
    serve.add_argument(
        "--verbose", action="store_true", help="log every request the emulator answers"
    )
    _add_json(serve, "the address, environment and job events")
    serve.set_defaults(command_fn=_serve_command)


def _add_init(commands: argparse._SubParsersAction[_Parser]) -> None:
    init = commands.add_parser(
        "init",
        help="create a worker project that passes its own test",
        description=_wrap(
            "Create the folder NAME with a worker (handler.py), a sample input (input.json),"
            " its tests (test_handler.py, using seekapi's pytest fixtures), a README and"
            " requirements.txt. An existing folder that is not empty is left alone."
        ),
        epilog="example:\n  seekapi init word-counter && cd word-counter && python -m pytest",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    init.add_argument(
        "name",
        metavar="NAME",
        help="the project's folder name: a letter, then letters, digits, '-' or '_'",
    )
    init.add_argument(
        "--dir",
        metavar="PARENT",
        default=".",
        help="the folder to create it in (default: the working directory)",
    )
    _add_json(init, "what was created")
    init.set_defaults(command_fn=_init_command)
