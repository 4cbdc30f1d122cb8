"""What every ``seekapi`` command is: a :class:`Command`, and the argument types they share."""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Callable

from ._common import LOG_LEVELS


class Command:
    """One ``seekapi`` command: the arguments it takes and what it does with them.

    A subclass sets :attr:`description` and :attr:`epilog` (its ``--help`` text),
    declares its arguments in :meth:`add_arguments` and runs in :meth:`run`, which
    returns the exit status or raises :class:`seekapi._cli._common.CommandError` for a
    usage error. The one-line summary shown by ``seekapi --help`` is in the table of
    commands (:data:`seekapi._cli.commands.COMMANDS`), so that listing the commands
    imports none of them.
    """

    description: str = ""
    epilog: str = ""
    """Shown as they are written (the description is wrapped with :func:`wrap`)."""

    def __init__(self, name: str, summary: str) -> None:
        self.name = name
        self.summary = summary

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Declare the command's arguments on its own ``parser``."""

    def run(self, args: argparse.Namespace) -> int:
        """Do what the command does with the parsed ``args``; return the exit status."""
        raise NotImplementedError


def wrap(text: str) -> str:
    """``text`` as one paragraph of lines at most 79 characters long."""
    return textwrap.fill(text, 79)


def positive_float(text: str) -> float:
    """An argparse type: a positive, finite number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds: {text!r}")
    return value


def whole_number(low: int, high: int | None, what: str) -> Callable[[str], int]:
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


positive_int = whole_number(1, None, "a whole number")
non_negative_int = whole_number(0, None, "a whole number")
port_number = whole_number(0, 65535, "a port number")


def add_json(parser: argparse.ArgumentParser, what: str) -> None:
    """The ``--json`` option: ``what`` the command writes, as one JSON object."""
    parser.add_argument(
        "--json",
        action="store_true",
        help=f"write {what} as one JSON object on standard output (logs stay on stderr)",
    )


def add_log_level(parser: argparse.ArgumentParser) -> None:
    """The ``--log-level`` option."""
    parser.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        default="INFO",
        metavar="LEVEL",
        type=str.upper,
        help="lowest level of the log records shown on standard error: DEBUG, INFO (the"
        " default), WARNING or ERROR",
    )
