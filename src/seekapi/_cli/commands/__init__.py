"""The table of ``seekapi`` commands: name → (module, class, summary).

A command's module is imported only when that command is used (:func:`create_command`):
``seekapi --help`` lists the commands from this table alone.
"""

from __future__ import annotations

import importlib
from typing import NamedTuple

from ..base import Command


class CommandInfo(NamedTuple):
    """Where a command's class is, and its one-line summary for ``seekapi --help``."""

    module_path: str
    class_name: str
    summary: str


COMMANDS: dict[str, CommandInfo] = {
    "run": CommandInfo(
        "seekapi._cli.commands.run",
        "RunCommand",
        "run a worker's handler once, as AWS Lambda would",
    ),
    "serve": CommandInfo(
        "seekapi._cli.commands.serve",
        "ServeCommand",
        "run the backend emulator for a worker in another process or container",
    ),
    "invoke": CommandInfo(
        "seekapi._cli.commands.invoke",
        "InvokeCommand",
        "send one job to a worker's handler through a running seekapi serve",
    ),
    "init": CommandInfo(
        "seekapi._cli.commands.init",
        "InitCommand",
        "create a worker project that passes its own test",
    ),
    "schema": CommandInfo(
        "seekapi._cli.commands.schema",
        "SchemaCommand",
        "print a typed worker's input and output JSON Schemas",
    ),
    "package": CommandInfo(
        "seekapi._cli.commands.package",
        "PackageCommand",
        "build a Lambda deployment zip of a worker, its requirements and seekapi",
    ),
}
"""The commands, in the order ``seekapi --help`` lists them."""


def create_command(name: str) -> Command:
    """The command called ``name`` (a key of :data:`COMMANDS`), its module imported now."""
    module_path, class_name, summary = COMMANDS[name]
    module = importlib.import_module(module_path)
    command_class: type[Command] = getattr(module, class_name)
    return command_class(name=name, summary=summary)
