"""``seekapi init``: create a worker project that passes its own test at once."""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys

from ._cli_common import EXIT_OK, CommandError, display_path, emit_json
from ._cli_templates import FILES
from ._version import __version__

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


def check_name(name: str) -> None:
    """Raise :class:`CommandError` unless ``name`` makes a sensible folder and package name.

    It starts with a letter, then has letters, digits, ``-`` or ``_``, at most 64 in all:
    a name that works as a folder on every system and as a distribution name.
    """
    if not _NAME.fullmatch(name):
        raise CommandError(
            f"{name!r} is not a usable project name: start with a letter, then use letters,"
            " digits, '-' or '_' (at most 64 characters)"
        )


def _remove(target: str, written: list[str], created: bool) -> None:
    """Take back what a failed ``init`` wrote: its files, and the folder if it made it."""
    for filename in written:
        with contextlib.suppress(OSError):
            os.remove(os.path.join(target, filename))
    if created:
        with contextlib.suppress(OSError):
            os.rmdir(target)


def init_command(args: argparse.Namespace) -> int:
    """``seekapi init``: see :func:`seekapi.cli.build_parser` for the options."""
    name: str = args.name
    check_name(name)
    parent = os.path.abspath(args.dir)
    if os.path.exists(parent) and not os.path.isdir(parent):
        raise CommandError(f"--dir {args.dir} is not a folder")
    target = os.path.join(parent, name)
    if os.path.lexists(target):
        if not os.path.isdir(target):
            raise CommandError(f"{display_path(target)} exists and is not a folder")
        if os.listdir(target):
            raise CommandError(
                f"{display_path(target)} already exists and is not empty; nothing was written"
            )
    created = not os.path.lexists(target)
    written: list[str] = []
    try:
        os.makedirs(target, exist_ok=True)
        for filename, template in FILES.items():
            path = os.path.join(target, filename)
            text = template.replace("__NAME__", name).replace("__VERSION__", __version__)
            # "x": never replace a file that appeared since the check above.
            with open(path, "x", encoding="utf-8", newline="\n") as file:
                written.append(filename)
                file.write(text)
    except OSError as exc:
        _remove(target, written, created)
        raise CommandError(f"cannot create {display_path(target)}: {exc.strerror or exc}") from None
    if args.json:
        emit_json({"ok": True, "exit_code": EXIT_OK, "path": target, "files": written})
        return EXIT_OK
    shown = display_path(target)
    sys.stdout.write(
        f"Created {shown}{os.sep} with {', '.join(written)}\n"
        "\n"
        "Next:\n"
        f"  cd {shown}\n"
        "  seekapi run handler.py --input-file input.json   # run it once, as Lambda would\n"
        "  python -m pytest                                 # run its tests\n"
    )
    return EXIT_OK
