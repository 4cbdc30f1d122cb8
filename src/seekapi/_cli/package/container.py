"""The Dockerfile of a Lambda container image holding exactly what the zip holds.

It is written beside the zip and builds from it: a first stage, on the machine that
builds the image (no emulation for arm64 on an x86 machine), unpacks the zip with the
base image's own Python, keeping each file's mode; the image then copies the unpacked files into
``${LAMBDA_TASK_ROOT}`` of AWS's Lambda base image for the runtime and architecture.
"""

from __future__ import annotations

import json
import os

from .failure import PackageError
from .target import LambdaTarget

MARKER = "# Written by seekapi package --container"
"""The Dockerfile's first line: a Dockerfile without it is never replaced."""

BASE_IMAGE = "public.ecr.aws/lambda/python"

_ZIP_IN_STAGE = "/tmp/worker.zip"  # noqa: S108 - a path in the image's first stage, not here

UNPACK = (
    "import os, zipfile; z = zipfile.ZipFile('/tmp/worker.zip');"
    " [os.chmod(z.extract(i, '/tmp/worker'), i.external_attr >> 16 & 0o777)"
    " for i in z.infolist()]"
)
"""Python code that unpacks the zip keeping each file's mode (``python -m zipfile -e``
drops them: an executable would lose its bit in the image)."""


def dockerfile_text(zip_name: str, target: LambdaTarget, handler: str) -> str:
    """The Dockerfile for the zip called ``zip_name`` in the same folder."""
    image = f"{BASE_IMAGE}:{target.python}"
    return (
        f"{MARKER}: a Lambda container image of {zip_name}\n"
        f"# (CPython {target.python}, {target.arch}). Build it from this folder:\n"
        f"#   docker build --platform {target.docker_platform} -t my-worker .\n"
        "\n"
        "# Unpack the zip on the building machine's own platform: no emulation needed.\n"
        f"FROM --platform=$BUILDPLATFORM {image} AS unpacked\n"
        f"COPY {json.dumps([zip_name, _ZIP_IN_STAGE])}\n"
        "# Extract each file with the mode the zip gives it (0755 for executables).\n"
        f'RUN python -c "{UNPACK}"\n'
        "\n"
        f"FROM --platform={target.docker_platform} {image}\n"
        "COPY --from=unpacked /tmp/worker/ ${LAMBDA_TASK_ROOT}/\n"
        f'CMD ["{handler}"]\n'
    )


def check_replaceable(path: str) -> None:
    """Raise :class:`PackageError` when ``path`` is a Dockerfile this command did not write."""
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            first = file.readline()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise PackageError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not first.startswith(MARKER):
        raise PackageError(
            f"{path} exists and was not written by seekapi package: it is left as it is."
            " Write the zip into another folder (-o dist/worker.zip) for --container"
        )


def is_generated(path: str) -> bool:
    """Whether ``path`` is a Dockerfile this command wrote (so never one to pack)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            return file.readline().startswith(MARKER)
    except OSError:
        return False


def write_dockerfile(path: str, text: str) -> None:
    """Write ``text`` to ``path``, replacing it whole (through a temporary file)."""
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        with open(temporary, "w", encoding="utf-8", newline="\n") as file:
            file.write(text)
        os.replace(temporary, path)
    except OSError as exc:
        raise PackageError(f"cannot write {path}: {exc.strerror or exc}") from None
