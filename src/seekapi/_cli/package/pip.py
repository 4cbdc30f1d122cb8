"""Installing the worker's requirements for Lambda's platform, with pip, into a folder.

pip runs as ``python -m pip`` in a process of its own, with this process's environment
(so ``PIP_INDEX_URL``, ``PIP_CACHE_DIR`` and pip's configuration files apply), and is
asked for binary wheels only: Lambda cannot build a package, and a wheel built on this
machine would be built for this machine.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

from .failure import PackageError
from .target import LambdaTarget

_NO_MATCH = re.compile(r"No matching distribution found for (.+?)\s*$", re.MULTILINE)
_FROM_VERSIONS = re.compile(r"\(from versions: ([^)]*)\)")


def pip_command(requirements_file: str, site: str, target: LambdaTarget) -> list[str]:
    """The pip command that installs ``requirements_file`` into ``site`` for ``target``."""
    return [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--target",
        site,
        "--requirement",
        requirements_file,
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--python-version",
        target.python,
        # Explicit, so that a free-threaded or debug Python running pip still asks for
        # the wheels of Lambda's plain CPython (abi3 and pure wheels stay accepted).
        "--abi",
        target.abi,
        *(f"--platform={tag}" for tag in target.platform_tags()),
        "--no-compile",
        "--no-input",
        "--disable-pip-version-check",
        "--progress-bar",
        "off",
    ]


def install(requirements_file: str, site: str, target: LambdaTarget) -> None:
    """Install the requirements in ``requirements_file`` into the new folder ``site``.

    Raises :class:`PackageError` when pip cannot: a requirement with no wheel for
    ``target`` is named with the versions that have one; any other failure shows the
    end of pip's output.
    """
    command = pip_command(requirements_file, site, target)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PIP_NO_INPUT": "1"}
    try:
        proc = subprocess.run(  # noqa: S603 - this Python's own pip, with our arguments
            command, capture_output=True, text=True, check=False, env=env
        )
    except OSError as exc:
        raise PackageError(f"cannot run pip ({sys.executable} -m pip): {exc}") from None
    if proc.returncode == 0:
        return
    output = f"{proc.stdout}\n{proc.stderr}"
    if "No module named pip" in output:
        raise PackageError(
            f"{sys.executable} has no pip: seekapi package installs the requirements with"
            " it (python -m ensurepip installs it)"
        )
    missing = _NO_MATCH.search(output)
    if missing is not None:
        versions = _FROM_VERSIONS.search(output)
        having = versions.group(1).strip() if versions else ""
        raise PackageError(
            f"no wheel of {missing.group(1)} for Lambda's {target.describe()}:"
            f" {'versions with one: ' + having if having else 'no version has one'}."
            " seekapi package installs binary wheels only (Lambda cannot build a package):"
            " choose a version that publishes a manylinux wheel for this Python and"
            " architecture, or another --python or --arch"
        )
    tail = "\n".join(line for line in output.strip().splitlines()[-15:] if line.strip())
    raise PackageError(
        f"pip could not install the requirements for {target.describe()}"
        f" (exit status {proc.returncode}):\n{tail}"
    )
