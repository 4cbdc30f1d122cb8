"""``seekapi init``: create a worker project that passes its own test at once."""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys

from ..._version import __version__
from .._common import EXIT_OK, CommandError, display_path, emit_json
from ..base import Command, add_json, wrap
from ..templates import identifier, project_files

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


def _check_test_module_is_free(parent: str, name: str) -> None:
    """Raise :class:`CommandError` when a sibling folder of ``parent`` already holds the
    test module ``name`` would get (``alpha-2`` and ``alpha_2`` both give
    ``test_alpha_2.py``): pytest cannot collect two test modules of one name from
    folders without packages, so the second project's tests would not run beside the
    first's."""
    filename = f"test_{identifier(name)}.py"
    try:
        siblings = sorted(os.listdir(parent))
    except OSError:
        return  # no parent yet (it is created), or unreadable: nothing to clash with
    for sibling in siblings:
        if sibling != name and os.path.isfile(os.path.join(parent, sibling, filename)):
            raise CommandError(
                f"{name!r} would have its tests in {filename}, and"
                f" {display_path(os.path.join(parent, sibling, filename))} has that name:"
                " pytest cannot collect both from one folder. Choose a name that differs"
                " in more than '-', '_' or case; nothing was written"
            )


def _remove(target: str, written: list[str], created: bool) -> None:
    """Take back what a failed ``init`` wrote: its files, and the folder if it made it."""
    for filename in written:
        with contextlib.suppress(OSError):
            os.remove(os.path.join(target, filename))
    if created:
        with contextlib.suppress(OSError):
            os.rmdir(target)


class InitCommand(Command):
    """``seekapi init NAME``: a worker project whose tests pass at once."""

    description = wrap(
        "Create the folder NAME with a worker (handler.py), a sample input (input.json),"
        " its tests (test_NAME.py, using seekapi's pytest fixtures), a README and"
        " requirements.txt. An existing folder that is not empty is left alone."
    )
    epilog = "example:\n  seekapi init word-counter && cd word-counter && python -m pytest"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "name",
            metavar="NAME",
            help="the project's folder name: a letter, then letters, digits, '-' or '_'",
        )
        parser.add_argument(
            "--dir",
            metavar="PARENT",
            default=".",
            help="the folder to create it in (default: the working directory)",
        )
        add_json(parser, "what was created")

    def run(self, args: argparse.Namespace) -> int:
        """Create the project ``args`` describe, and say what was created."""
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
        _check_test_module_is_free(parent, name)
        created = not os.path.lexists(target)
        written: list[str] = []
        try:
            os.makedirs(target, exist_ok=True)
            for filename, text in project_files(name, __version__).items():
                path = os.path.join(target, filename)
                # "x": never replace a file that appeared since the check above.
                with open(path, "x", encoding="utf-8", newline="\n") as file:
                    written.append(filename)
                    file.write(text)
        except OSError as exc:
            _remove(target, written, created)
            raise CommandError(
                f"cannot create {display_path(target)}: {exc.strerror or exc}"
            ) from None
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
