"""What the ``seekapi`` commands share: exit codes, usage errors, JSON in and out, logging."""

from __future__ import annotations

import json
import logging
import math
import os
import sys
from collections.abc import Mapping
from typing import Any

from .._settings import ENV_LOG_LEVEL
from .logformat import (
    RequestIdFilter,
    formatter_for,
    level_name,
    log_format,
)

EXIT_OK = 0
"""The command did what was asked (for ``run``: the handler returned ``{"ok": true}``)."""
EXIT_FAILED = 1
"""The worker failed: it returned a failure, raised, timed out or could not be imported."""
EXIT_USAGE = 2
"""The command was called wrongly: bad arguments, unreadable files, invalid JSON."""


class CommandError(Exception):
    """A problem with how a command was called, reported in one message; exit status 2."""

    def __init__(self, message: str, *, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(text: str, source: str) -> Any:
    """Parse ``text`` as one JSON document, or raise :class:`CommandError` saying where it breaks.

    ``source`` names where the text came from in the message (``--input``, a file name).
    ``NaN`` and ``Infinity`` are refused: JSON has no such values.
    """
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise CommandError(
            f"{source} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
            f"\n{_pointer(exc.doc, exc.lineno, exc.colno)}"
        ) from None
    except ValueError as exc:  # NaN, Infinity
        raise CommandError(f"{source} is not valid JSON: {exc}") from None
    except RecursionError:
        raise CommandError(f"{source} is nested too deeply to be parsed") from None


def _pointer(doc: str, lineno: int, colno: int, width: int = 72) -> str:
    """The broken line (cut to ``width`` around the column) with a caret under the column."""
    lines = doc.split("\n")
    line = lines[lineno - 1] if 0 < lineno <= len(lines) else ""
    line = line.replace("\t", " ").rstrip("\r")
    col = colno - 1
    start = max(0, min(col - width // 2, len(line) - width))
    shown = line[start : start + width]
    prefix = "..." if start > 0 else ""
    suffix = "..." if start + width < len(line) else ""
    return f"  {prefix}{shown}{suffix}\n  {' ' * (len(prefix) + col - start)}^"


def read_json_file(path: str, what: str) -> Any:
    """Read and parse the JSON file ``path`` (``-`` reads standard input).

    Raises :class:`CommandError` naming ``what`` (the option) when the file cannot be
    read, is not UTF-8 or is not valid JSON. A UTF-8 byte order mark is allowed.
    """
    source = f"{what} {path}" if path != "-" else f"{what} (standard input)"
    try:
        if path == "-":
            raw = sys.stdin.buffer.read()
        else:
            with open(path, "rb") as file:
                raw = file.read()
    except OSError as exc:
        raise CommandError(f"cannot read {source}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CommandError(f"{source} is not UTF-8 text (byte {exc.start})") from None
    return parse_json(text, source)


def json_text(value: object, *, indent: int | None = None) -> str:
    """Standard JSON text for output.

    Values JSON cannot hold are shown by their ``repr``, NaN and the infinities as the
    strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``: the output is always JSON a
    strict parser reads.
    """
    try:
        return json.dumps(value, ensure_ascii=False, indent=indent, default=repr, allow_nan=False)
    except ValueError:  # a float JSON has no number for
        return json.dumps(_finite(value), ensure_ascii=False, indent=indent, default=repr)


def _finite(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


_emitted = [False]  # whether this command wrote its JSON object already


def emit_json(value: object) -> None:
    """Write ``value`` as one line of JSON on standard output, and flush it."""
    _emitted[0] = True
    sys.stdout.write(json_text(value) + "\n")
    sys.stdout.flush()


def json_emitted(reset: bool = False) -> bool:
    """Whether :func:`emit_json` was called (since the last ``reset``)."""
    emitted = _emitted[0]
    if reset:
        _emitted[0] = False
    return emitted


def error(prog: str, message: str) -> None:
    """Report ``message`` on standard error the way argparse reports usage errors."""
    sys.stderr.write(f"{prog}: error: {message}\n")
    sys.stderr.flush()


def display_path(path: str) -> str:
    """``path`` relative to the working directory when it is inside it, else absolute."""
    absolute = os.path.abspath(path)
    try:
        relative = os.path.relpath(absolute)
    except ValueError:  # another drive on Windows
        return absolute
    return absolute if relative.startswith("..") else relative


def setup_logging(
    level: int, *, request_id: str | None = None, environ: Mapping[str, str] | None = None
) -> None:
    """Send log records at ``level`` and above to standard error.

    The format is the one ``AWS_LAMBDA_LOG_FORMAT`` in ``environ`` (default: this
    process's environment) chooses, see :mod:`seekapi._cli.logformat`: the local format
    when it is unset. ``request_id`` is shown on records that carry none of their own.
    Does nothing to a logging set-up that already has handlers on the root logger
    (``logging.basicConfig`` semantics), apart from setting the level.
    """
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(formatter_for(log_format(os.environ if environ is None else environ)))
        handler.addFilter(RequestIdFilter(request_id))
        root.addHandler(handler)
    root.setLevel(level)


def resolve_log_level(given: str | None, environ: Mapping[str, str] | None = None) -> str:
    """The level to log at: ``--log-level`` when given, else ``AWS_LAMBDA_LOG_LEVEL`` (as
    Lambda reads it), else ``INFO``."""
    if given:
        return given
    env = os.environ if environ is None else environ
    return level_name(env.get(ENV_LOG_LEVEL)) or "INFO"


def warn_unknown_log_level(command: str, environ: Mapping[str, str] | None = None) -> None:
    """Say on standard error that ``AWS_LAMBDA_LOG_LEVEL`` is set to something that is not
    a log level: it is ignored, as if unset (with or without ``--lambda``)."""
    env = os.environ if environ is None else environ
    value = env.get(ENV_LOG_LEVEL)
    if value and level_name(value) is None:
        sys.stderr.write(
            f"{command}: warning: {ENV_LOG_LEVEL}={value!r} is not a log level (TRACE, DEBUG,"
            " INFO, WARN, ERROR, FATAL): it is ignored, as if it were unset\n"
        )
        sys.stderr.flush()


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
