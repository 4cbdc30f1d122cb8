"""``seekapi package``'s steps, in order: check, install, collect, write.

Everything that can be checked without pip (the folder, the handler, the seekapi line,
an existing Dockerfile) is checked first, so a mistake costs no download. pip installs
into a temporary folder that is removed afterwards; the zip is moved into place only
when it is complete and within the limits.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Mapping
from typing import NamedTuple

from .._common import EXIT_USAGE
from .archive import ArchiveStats, fixed_timestamp, write_zip
from .container import check_replaceable, dockerfile_text, is_generated, write_dockerfile
from .contents import (
    ArchiveEntry,
    installed_distributions,
    merge,
    requirement_entries,
    seekapi_entries,
    seekapi_folder,
    worker_entries,
)
from .entrypoint import check_handler, split_handler
from .failure import PackageError
from .pip import install
from .requirements import RequirementLines, read_requirements
from .target import MIB, LambdaTarget


class PackageRequest(NamedTuple):
    """What to build: from the command's arguments."""

    worker_dir: str
    output: str
    target: LambdaTarget
    handler: str
    container: bool
    max_zipped_mb: float
    max_unzipped_mb: float


class BuiltPackage(NamedTuple):
    """What was built, for the report."""

    output: str
    stats: ArchiveStats
    handler_file: str
    worker_files: int
    seekapi_files: int
    seekapi_source: str
    seekapi_lines: list[str]
    distributions: list[tuple[str, str]]
    dockerfile: str | None
    warnings: list[str]


def build(
    request: PackageRequest,
    *,
    environ: Mapping[str, str] = os.environ,
    say: Callable[[str], None] = lambda message: None,
) -> BuiltPackage:
    """Build the zip ``request`` asks for; ``say`` hears what is going on (for stderr).

    Raises :class:`PackageError` when it cannot, leaving no zip or Dockerfile behind.
    """
    worker_dir, output, dockerfile = _check_paths(request)
    timestamp = fixed_timestamp(environ)
    requirements = read_requirements(os.path.join(worker_dir, "requirements.txt"))
    outputs = [output]
    if request.container or is_generated(dockerfile):
        outputs.append(dockerfile)
    worker_files = worker_entries(worker_dir, outputs, split_handler(request.handler)[0])
    worker = worker_files.entries
    bundled = seekapi_entries()
    try:
        check_handler(request.handler, [*worker, *bundled], worker_dir)
    except PackageError:
        if not requirements.named:
            raise
        # The handler may come from a requirement: checked again once they are installed.
    created = _make_folder(os.path.dirname(output), request.output)
    try:
        with tempfile.TemporaryDirectory(prefix="seekapi-package-") as scratch:
            installed, distributions = _install(requirements, scratch, request.target, say)
            entries = merge(worker, bundled, installed)
            handler_file = check_handler(request.handler, entries, worker_dir)
            stats = write_zip(
                output,
                entries,
                timestamp=timestamp,
                max_zipped=int(request.max_zipped_mb * MIB),
                max_unzipped=int(request.max_unzipped_mb * MIB),
                refused=_spellings(scratch),
                noted=_spellings(worker_dir),
            )
        if request.container:
            text = dockerfile_text(os.path.basename(output), request.target, request.handler)
            write_dockerfile(dockerfile, text)
    except BaseException:
        _remove_folders(created)  # a failed build leaves nothing behind, folders included
        raise
    return BuiltPackage(
        output=output,
        stats=stats,
        handler_file=handler_file,
        worker_files=len(worker),
        seekapi_files=len(bundled),
        seekapi_source=seekapi_folder(),
        seekapi_lines=requirements.seekapi_lines,
        distributions=distributions,
        dockerfile=dockerfile if request.container else None,
        warnings=worker_files.warnings
        + [
            f"{', '.join(names[:5])} hold{'s' if len(names) == 1 else ''} the path {path},"
            " which means nothing in Lambda"
            for path, names in stats.holding_paths.items()
            if names
        ],
    )


def _make_folder(folder: str, shown: str) -> list[str]:
    """Create ``folder`` (the zip's) if need be; the folders created, deepest first.

    Raises :class:`PackageError` (a usage error) when it cannot be created.
    """
    missing: list[str] = []
    current = folder
    while not os.path.lexists(current):
        missing.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    if not os.path.isdir(current):
        raise PackageError(
            f"-o {shown}: {current} is not a folder, so the zip cannot go in it",
            exit_code=EXIT_USAGE,
        )
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise PackageError(
            f"-o {shown}: cannot create its folder {folder}: {exc.strerror or exc}",
            exit_code=EXIT_USAGE,
        ) from None
    return missing


def _remove_folders(folders: list[str]) -> None:
    for folder in folders:
        with contextlib.suppress(OSError):
            os.rmdir(folder)


def _check_paths(request: PackageRequest) -> tuple[str, str, str]:
    """The worker folder, the zip and the Dockerfile beside it, as absolute paths.

    Raises :class:`PackageError` when the folder is none, the zip's path is a folder, or
    ``--container`` would replace a Dockerfile this command did not write.
    """
    worker_dir = os.path.abspath(request.worker_dir)
    if not os.path.isdir(worker_dir):
        raise PackageError(f"{request.worker_dir} is not a folder", exit_code=EXIT_USAGE)
    split_handler(request.handler)
    output = os.path.abspath(request.output)
    if os.path.isdir(output):
        raise PackageError(
            f"-o {request.output} is a folder: name the zip file", exit_code=EXIT_USAGE
        )
    if os.path.exists(output) and not os.path.isfile(output):
        raise PackageError(
            f"-o {request.output} exists and is not a regular file (a device, a pipe...):"
            " it is left as it is; name a zip file",
            exit_code=EXIT_USAGE,
        )
    dockerfile = os.path.join(os.path.dirname(output), "Dockerfile")
    if request.container:
        check_replaceable(dockerfile)
    return worker_dir, output, dockerfile


def _install(
    requirements: RequirementLines,
    scratch: str,
    target: LambdaTarget,
    say: Callable[[str], None],
) -> tuple[list[ArchiveEntry], list[tuple[str, str]]]:
    """Install the requirements under ``scratch``: the entries and (name, version) of each."""
    if not requirements.named:
        return [], []
    listing = os.path.join(scratch, "requirements.txt")
    with open(listing, "w", encoding="utf-8") as file:
        file.write("\n".join(requirements.pip_lines) + "\n")
    count = requirements.named
    say(
        f"installing {count} requirement{'s' if count != 1 else ''} with pip, as wheels for"
        f" {target.describe()}"
    )
    site = os.path.join(scratch, "site")
    install(listing, site, target)
    return requirement_entries(site), installed_distributions(site)


def _spellings(path: str) -> list[str]:
    """``path`` as given and with its links resolved, when they differ."""
    return list(dict.fromkeys([os.path.abspath(path), os.path.realpath(path)]))
