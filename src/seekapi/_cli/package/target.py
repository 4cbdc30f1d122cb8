"""The Lambda platform a zip is built for, and the limits Lambda puts on it.

Lambda's Python runtimes are CPython on Amazon Linux: 3.10 and 3.11 on Amazon Linux 2
(glibc 2.26), 3.12 and 3.13 on Amazon Linux 2023 (glibc 2.34). A compiled wheel runs
there when its ``manylinux`` tag asks for that glibc or an older one, for the function's
architecture.
"""

from __future__ import annotations

import sys
from typing import NamedTuple

PYTHON_VERSIONS = ("3.10", "3.11", "3.12", "3.13")
"""The Python versions Lambda has managed runtimes for."""

FALLBACK_PYTHON = "3.12"
"""The default when the running Python is not one of :data:`PYTHON_VERSIONS`."""

ARCHITECTURES = ("x86_64", "arm64")
"""Lambda's names for its two architectures."""

_MACHINE = {"x86_64": "x86_64", "arm64": "aarch64"}
"""Lambda's architecture → the machine name in wheel tags and ``uname -m``."""

ELF_MACHINE = {"x86_64": 62, "arm64": 183}
"""Lambda's architecture → ``e_machine`` in an ELF header (EM_X86_64, EM_AARCH64)."""

_DOCKER_PLATFORM = {"x86_64": "linux/amd64", "arm64": "linux/arm64"}

_GLIBC_MINOR = {"3.10": 26, "3.11": 26, "3.12": 34, "3.13": 34}
"""The glibc of each runtime's Amazon Linux, as 2.N: Amazon Linux 2, then 2023."""

MIB = 1024 * 1024
"""Lambda's megabyte: its limits are powers of two (50 MB is 52,428,800 bytes)."""

ZIPPED_LIMIT_MB = 50.0
"""The largest zip Lambda accepts uploaded directly (through its API or console)."""

UNZIPPED_LIMIT_MB = 250.0
"""The largest a function's unpacked code may be, its layers included."""


def default_python() -> str:
    """The running Python's ``X.Y`` when Lambda has a runtime for it, else 3.12.

    The running Python is the one the worker's tests ran on, so by default the zip holds
    wheels for the version that was tested.
    """
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    return running if running in PYTHON_VERSIONS else FALLBACK_PYTHON


class LambdaTarget(NamedTuple):
    """A Lambda runtime: its Python ``X.Y`` and its architecture (Lambda's name)."""

    python: str
    arch: str

    @property
    def machine(self) -> str:
        """The architecture as wheel tags and ELF tools name it: ``x86_64`` or ``aarch64``."""
        return _MACHINE[self.arch]

    @property
    def glibc(self) -> str:
        """The runtime's glibc version, ``2.N``."""
        return f"2.{_GLIBC_MINOR[self.python]}"

    @property
    def abi(self) -> str:
        """The CPython ABI tag of compiled wheels for this version: ``cp312``."""
        return "cp" + self.python.replace(".", "")

    @property
    def docker_platform(self) -> str:
        """The image platform: ``linux/amd64`` or ``linux/arm64``."""
        return _DOCKER_PLATFORM[self.arch]

    def describe(self) -> str:
        """``CPython 3.12 on arm64 (manylinux, glibc 2.34)``, for messages."""
        return f"CPython {self.python} on {self.arch} (manylinux, glibc {self.glibc})"

    def platform_tags(self) -> list[str]:
        """Every wheel platform tag this runtime accepts, newest glibc first.

        pip widens neither ``manylinux_2_N`` tags to older glibc versions nor every alias,
        so each one is named: ``manylinux_2_N`` down to 2.17 (the oldest on aarch64) or
        2.5, and the older names for the same floors (``manylinux2014`` is 2.17,
        ``manylinux2010`` 2.12, ``manylinux1`` 2.5).
        """
        machine = self.machine
        oldest = 5 if machine == "x86_64" else 17
        tags = [
            f"manylinux_2_{minor}_{machine}"
            for minor in range(_GLIBC_MINOR[self.python], oldest - 1, -1)
        ]
        tags.append(f"manylinux2014_{machine}")
        if machine == "x86_64":
            tags += ["manylinux2010_x86_64", "manylinux1_x86_64"]
        return tags
