"""The ``seekapi`` command line: run a worker locally, emulate the backend, start a project.

::

    seekapi run handler.py --input-file input.json      # one job, as Lambda would run it
    seekapi run handler.py --input '{"text": "hi"}' --emulate
    seekapi serve --port 8787                           # the backend emulator, standalone
    seekapi init my-worker                              # a ready project with its test

Exit status: 0 on success, 1 when the worker failed (it returned a failure, raised, timed
out or could not be imported), 2 when the command was used wrongly. With ``--json`` a
command writes one JSON object on standard output; logs always go to standard error.

This module is imported by the command only, never by ``import seekapi``. The commands
live in :mod:`seekapi._cli`; each command's code is imported when that command runs.
"""

from __future__ import annotations

from ._cli.main import build_parser, main

__all__ = ["build_parser", "main"]
