"""Local mode's fixtures: the file of canned answers (``SEEKAPI_LOCAL_FIXTURES``).

The file is loaded and checked once per change (a repeat costs a ``stat``); every entry
local mode reads is checked, and an error names the file and the entry
(``docs/local-mode.md``). What is handed out is a fresh copy, so a caller may change it.
"""

from __future__ import annotations

import json
import os
import stat
from typing import Any

from ._localfs import READ_PATH_FLAGS, read_all
from ._settings import ENV_LOCAL_FIXTURES, LocalSettings
from .errors import ConfigurationError

__all__ = [
    "NO_FIXTURES",
    "Fixtures",
    "checked_fixtures",
    "copy_json",
    "get_job_fixture",
    "load_fixtures",
]


class Fixtures:
    """A checked fixtures file: its content, the charge answer with its defaults filled
    in (or ``None``), and the charge limit (or ``None``)."""

    __slots__ = ("charge", "charge_limit", "content", "get_job")

    def __init__(
        self,
        content: dict[str, Any],
        get_job: dict[str, Any] | None,
        charge: dict[str, Any] | None,
        charge_limit: int | None,
    ) -> None:
        self.content = content
        self.get_job = get_job
        self.charge = charge
        self.charge_limit = charge_limit


NO_FIXTURES = Fixtures({}, None, None, None)

# path -> ((mtime_ns, size, inode), checked fixtures): edits are seen, repeats cost a stat.
_FIXTURES_CACHE: dict[str, tuple[tuple[int, int, int], Fixtures]] = {}


def load_fixtures(path: str) -> dict[str, object]:
    """The fixtures file at ``path`` (a JSON object), as a fresh copy; ``{}`` for a blank path.

    Raises :class:`~seekapi.errors.ConfigurationError` naming the file when it is missing,
    unreadable, not a regular file, not UTF-8 JSON, nested too deeply, not a JSON object,
    or holds an entry local mode would refuse (``docs/local-mode.md``).
    """
    return copy_json(checked_fixtures(path).content) if path else {}


def get_job_fixture(local: LocalSettings) -> dict[str, object]:
    """A fresh copy of ``fixtures["get_job"]``, or ``{}`` without one."""
    path = local.fixtures_path
    found = checked_fixtures(path).get_job if path else None
    return {} if found is None else copy_json(found)


def checked_fixtures(path: str) -> Fixtures:
    """The checked fixtures, shared: callers copy what they hand out."""
    where = f"the fixtures file {path!r} ({ENV_LOCAL_FIXTURES})"
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ConfigurationError(f"{where} does not exist") from None
    except OSError as exc:
        raise ConfigurationError(f"cannot read {where}: {exc.strerror or exc}") from exc
    cached = _FIXTURES_CACHE.get(path)
    if cached is not None and cached[0] == (st.st_mtime_ns, st.st_size, st.st_ino):
        return cached[1]
    stamp, raw = _read_regular(path, where, st)
    try:
        parsed = json.loads(raw)
    except UnicodeDecodeError as exc:
        raise ConfigurationError(f"{where} is not UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        raise ConfigurationError(
            f"{where} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from exc
    except RecursionError:
        raise ConfigurationError(f"{where} is nested too deeply to read") from None
    if not isinstance(parsed, dict):
        raise ConfigurationError(f"{where} must hold a JSON object, not {_kind(parsed)}")
    fixtures = _check_fixtures(parsed, path)
    _FIXTURES_CACHE[path] = (stamp, fixtures)
    return fixtures


def _read_regular(path: str, where: str, st: os.stat_result) -> tuple[tuple[int, int, int], bytes]:
    """The stamp and bytes of the regular file at ``path``.

    A named pipe would block the open until a writer came, and a device would be read
    for ever: both are refused, before opening and again on the descriptor (opened
    without waiting) in case the name changed meanwhile.
    """
    if not stat.S_ISREG(st.st_mode):
        raise ConfigurationError(f"cannot read {where}: {_not_regular(st.st_mode)}")
    try:
        fd = os.open(path, READ_PATH_FLAGS)
    except OSError as exc:
        raise ConfigurationError(f"cannot read {where}: {exc.strerror or exc}") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ConfigurationError(f"cannot read {where}: {_not_regular(st.st_mode)}")
        return (st.st_mtime_ns, st.st_size, st.st_ino), read_all(fd)
    except OSError as exc:
        raise ConfigurationError(f"cannot read {where}: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)


def _not_regular(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "it is a folder, not a regular file"
    if stat.S_ISFIFO(mode):
        return "it is a named pipe, not a regular file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "it is a device, not a regular file"
    return "it is not a regular file"


# The fields of a charge answer, their defaults (1.0.5's answer), and what each must be.
_CHARGE_DEFAULTS: dict[str, Any] = {"ok": True, "metered_event_count": 0, "limit_reached": False}


def _check_fixtures(content: dict[str, Any], path: str) -> Fixtures:
    """Check every entry local mode reads; the error names the file and the entry."""
    get_job = _object_fixture(content, "get_job", path)
    charge = _object_fixture(content, "charge", path)
    limit = _charge_limit(content, path)
    if charge is not None and limit is not None:
        raise ConfigurationError(
            f"the fixtures file {path!r} has both 'charge' and 'charge_limit': keep one"
            " ('charge' is a fixed answer, 'charge_limit' answers from the charges made)"
        )
    if charge is not None:
        for field in ("ok", "limit_reached"):
            if field in charge and not isinstance(charge[field], bool):
                raise ConfigurationError(
                    f"'charge.{field}' in the fixtures file {path!r} must be true or false,"
                    f" not {_kind(charge[field])}"
                )
        count = charge.get("metered_event_count", 0)
        if type(count) is not int or count < 0:
            raise ConfigurationError(
                f"'charge.metered_event_count' in the fixtures file {path!r} must be a whole"
                f" number >= 0, not {_kind(count)}"
            )
        charge = {**_CHARGE_DEFAULTS, **charge}
    return Fixtures(content, get_job, charge, limit)


def _object_fixture(fixtures: dict[str, Any], key: str, path: str) -> dict[str, Any] | None:
    value = fixtures.get(key)
    if value is None:
        return None  # absent, or null: 1.0.5 answered its default for both
    if not isinstance(value, dict):
        raise ConfigurationError(
            f"{key!r} in the fixtures file {path!r} must be a JSON object, not {_kind(value)}"
        )
    return value


def _charge_limit(fixtures: dict[str, Any], path: str) -> int | None:
    if "charge_limit" not in fixtures:
        return None
    value = fixtures["charge_limit"]
    if type(value) is not int or value < 1:
        raise ConfigurationError(
            f"'charge_limit' in the fixtures file {path!r} must be a positive integer,"
            f" not {_kind(value)}"
        )
    return value


def _kind(value: object) -> str:
    """How JSON names the type of a parsed value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def copy_json(value: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of a parsed JSON object; much faster than ``copy.deepcopy``.

    Without recursion: a value the parser accepted may be deeper than the stack left to
    a caller that is itself deep in its own calls.
    """
    root: dict[str, Any] = {}
    stack: list[tuple[Any, Any]] = [(value, root)]
    while stack:
        source, target = stack.pop()
        items = source.items() if isinstance(source, dict) else enumerate(source)
        is_list = isinstance(target, list)
        for key, item in items:
            if isinstance(item, dict):
                child: Any = {}
                stack.append((item, child))
            elif isinstance(item, list):
                child = []
                stack.append((item, child))
            else:
                child = item  # str, int, float, bool, None: immutable
            if is_list:
                target.append(child)
            else:
                target[key] = child
    return root
