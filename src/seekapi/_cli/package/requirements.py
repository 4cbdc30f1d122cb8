"""The worker's ``requirements.txt``: what pip is asked for, and the rule for ``seekapi``.

The rule: a line naming seekapi (``seekapi``, ``seekapi>=2.0``, ``SeekAPI[extra]``...)
is met by the seekapi that runs ``seekapi package``, which is bundled into every zip; it
is never handed to pip, so a package index that has only older releases of seekapi does
not matter. A version the line excludes (``seekapi==1.0.5`` when 2.0.0 is bundled) is an
error. ``-r`` files are read in place of their line; every other line goes to pip as
it is written, its relative paths made absolute (pip reads a copy, in another folder).
"""

from __future__ import annotations

import os
import re
from typing import NamedTuple

from ..._version import __version__
from .failure import PackageError

_NAME = re.compile(r"([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(\[[^\]]*\])?\s*(.*)")
_SPECIFIER = re.compile(r"(~=|===|==|!=|<=|>=|<|>)\s*(\S+)")
_RELEASE = re.compile(r"\d+(?:\.\d+)*")
_PATH_OR_URL = re.compile(r"[./~\\]|[A-Za-z][A-Za-z0-9+.-]*://")
"""A line that is a path or a URL, not a name (``./wheels/x.whl``, ``https://...``)."""
_FILE_OPTION = re.compile(
    r"(--requirement|--constraint|--editable|--find-links)(?:\s*=\s*|\s+)(\S.*)"
    r"|(-r|-c|-e|-f)\s*(\S.*)"
)
"""An option whose value is a path (or a URL): ``-r base.txt``, ``--constraint=c.txt``."""


class RequirementLines(NamedTuple):
    """A requirements file, read: the lines for pip and the seekapi lines it held."""

    pip_lines: list[str]
    """Lines to hand to pip, in order (options and requirements)."""
    named: int
    """How many of them name something to install: 0 means pip need not run."""
    seekapi_lines: list[str]
    """The lines the bundled seekapi meets, as written."""


def canonical_name(name: str) -> str:
    """A distribution name as package indexes compare them: ``Seek_API`` → ``seek-api``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_requirements(path: str) -> RequirementLines:
    """Read ``path`` (a requirements file); an absent file is no requirement at all.

    ``-r`` files are read in its place (their paths relative to the file that names
    them), so that their requirements count and the seekapi rule applies to them too;
    ``-c`` and ``-f`` paths, and requirements given as relative paths (``./wheels/x.whl``),
    are made absolute against the folder of the file they are in, since pip reads the
    copy from another folder. Raises :class:`PackageError` when a file cannot be read
    (a missing ``-r`` file included), for an editable (``-e``) requirement, or when a
    seekapi line excludes the bundled version.
    """
    if not os.path.exists(path):
        return RequirementLines([], 0, [])
    lines = RequirementLines([], 0, [])
    return _read(path, lines, [])


def _read(path: str, into: RequirementLines, including: list[str]) -> RequirementLines:
    real = os.path.realpath(path)
    if real in including:
        return into  # included again, further down: its lines are there already
    try:
        with open(path, encoding="utf-8-sig") as file:
            text = file.read()
    except (OSError, UnicodeDecodeError) as exc:
        named_by = f" (named by -r in {including[-1]})" if including else ""
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise PackageError(f"cannot read {path}{named_by}: {reason}") from None
    folder = os.path.dirname(os.path.abspath(path))
    named = into.named
    for line in _logical_lines(text):
        option = _FILE_OPTION.match(line)
        if option is not None:
            flag = option.group(1) or option.group(3)
            value = (option.group(2) or option.group(4)).strip()
            if flag in ("-e", "--editable"):
                raise PackageError(
                    f"{path} asks for {line!r}, an editable requirement, which cannot be built"
                    " for Lambda: give the path without -e (or the package's name)"
                )
            if flag in ("-r", "--requirement") and "://" not in value:
                nested = RequirementLines(into.pip_lines, named, into.seekapi_lines)
                into = _read(_resolve(value, folder), nested, [*including, real])
                named = into.named
                continue
            if "://" not in value:
                value = _resolve(value, folder)
            into.pip_lines.append(f"{flag} {value}")
            continue
        if line.startswith("-"):
            into.pip_lines.append(line)
            continue
        match = None if _PATH_OR_URL.match(line) else _NAME.fullmatch(line)
        if match and canonical_name(match.group(1)) == "seekapi":
            _check_bundled_meets(line, match.group(3), os.path.basename(path))
            into.seekapi_lines.append(line)
            continue
        if line.startswith((".", "~")):
            first, _, rest = line.partition(" ")
            into.pip_lines.append(f"{_resolve(first, folder)} {rest}".strip())
        else:
            into.pip_lines.append(line)
        named += 1
    return RequirementLines(into.pip_lines, named, into.seekapi_lines)


def _resolve(value: str, folder: str) -> str:
    """A path from a requirements file, made absolute against the file's ``folder``."""
    return os.path.join(folder, os.path.expanduser(value))


def _logical_lines(text: str) -> list[str]:
    """The file's lines as pip reads them: joined at a trailing ``\\``, comments removed."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        if raw.endswith("\\"):
            pending += raw[:-1]
            continue
        line = re.sub(r"(^|\s)#.*$", "", pending + raw).strip()
        pending = ""
        if line:
            lines.append(line)
    if pending.strip():
        lines.append(pending.strip())
    return lines


def _check_bundled_meets(line: str, rest: str, filename: str = "requirements.txt") -> None:
    """Raise :class:`PackageError` when the specifiers in ``rest`` exclude the bundled version.

    ``rest`` is what follows the name and extras: specifiers, then perhaps ``; marker``
    (the bundled copy is there whatever a marker says) or ``@ url`` (the bundled copy
    is used in its place). A specifier too intricate to read here is taken as met.
    """
    specifiers = rest.split(";", 1)[0].strip()
    if specifiers.startswith("@"):
        return
    for part in specifiers.strip("()").split(","):
        match = _SPECIFIER.fullmatch(part.strip())
        if match is None:
            continue
        operator, version = match.groups()
        if _meets(__version__, operator, version) is False:
            raise PackageError(
                f"{filename} asks for {line!r}, but the seekapi this command bundles is"
                f" {__version__}: run a seekapi that matches, or change the line (a seekapi line"
                " is always met by the bundled copy, never downloaded)"
            )


def _meets(have: str, operator: str, want: str) -> bool | None:
    """Whether version ``have`` meets ``operator want``; None when either is not plain.

    Plain versions are release numbers (``2``, ``2.0.1``), and ``==``/``!=`` also take a
    trailing ``.*``.
    """
    if operator == "===":
        return have == want
    prefix = want.endswith(".*") and operator in ("==", "!=")
    wanted = want[:-2] if prefix else want
    if not (_RELEASE.fullmatch(have) and _RELEASE.fullmatch(wanted)):
        return None
    mine = [int(part) for part in have.split(".")]
    theirs = [int(part) for part in wanted.split(".")]
    if prefix:
        equal = (mine + [0] * len(theirs))[: len(theirs)] == theirs
        return equal if operator == "==" else not equal
    width = max(len(mine), len(theirs))
    left = mine + [0] * (width - len(mine))
    right = theirs + [0] * (width - len(theirs))
    if operator == "~=":
        if len(theirs) < 2:
            return None
        head = theirs[:-1]
        return left >= right and (mine + [0] * len(head))[: len(head)] == head
    results = {
        "==": left == right,
        "!=": left != right,
        "<=": left <= right,
        ">=": left >= right,
        "<": left < right,
        ">": left > right,
    }
    return results[operator]
