"""The error a ``seekapi package`` build stops with: one message, no traceback."""

from __future__ import annotations

from .._common import EXIT_FAILED


class PackageError(Exception):
    """The build cannot give a zip Lambda would run; ``message`` says why and what to do.

    ``exit_code`` is 1 (the build failed) unless the command was called wrongly (2).
    """

    def __init__(self, message: str, *, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
