"""Environment → frozen settings. Every environment variable the SDK reads is named here.

Settings are read when a call needs them, not at import: 1.0.5 read the environment
on every call, and worker test suites rely on setting variables between calls.
Reading a handful of variables costs microseconds.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from .errors import ConfigurationError

# Set by the platform.
ENV_API_BASE = "WORKER_API_BASE_URL"
ENV_SECRET = "WORKER_INTERNAL_SECRET"  # noqa: S105 - a variable name
# Local development (1.0.5 names).
ENV_LOCAL_MODE = "SEEKAPI_LOCAL_MODE"
ENV_LOCAL_DIR = "SEEKAPI_LOCAL_DIR"
ENV_LOCAL_FIXTURES = "SEEKAPI_LOCAL_FIXTURES"
# seekapi additions.
ENV_MAX_INPUT_BYTES = "SEEKAPI_MAX_INPUT_BYTES"

LOCAL_DEFAULT_DIRNAME = ".seekapi-local"
# Placeholders that create_context() fills in local mode so that calls do not no-op.
LOCAL_PLACEHOLDER_API_BASE = "http://seekapi-local.invalid"
LOCAL_PLACEHOLDER_SECRET = "local"  # noqa: S105 - a placeholder, as in 1.0.5

DEFAULT_MAX_INPUT_BYTES = 256 * 1024 * 1024
"""Default cap on the input body: larger than any sane job input, far below a Lambda's memory."""

_TRUE_VALUES = frozenset({"1", "true", "yes", "on"})


def _get(environ: Mapping[str, str], name: str) -> str:
    return (environ.get(name) or "").strip()


def local_mode_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """True when ``SEEKAPI_LOCAL_MODE`` is ``1``, ``true``, ``yes`` or ``on`` (any case)."""
    env = os.environ if environ is None else environ
    return _get(env, ENV_LOCAL_MODE).lower() in _TRUE_VALUES


class LocalSettings:
    """Where local mode writes, and the fixtures file it answers from."""

    # Plain classes, not dataclasses: importing dataclasses (and inspect) would add
    # milliseconds to a Lambda's cold start.
    __slots__ = ("directory", "fixtures_path")

    def __init__(self, directory: str, fixtures_path: str) -> None:
        self.directory = directory
        self.fixtures_path = fixtures_path

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LocalSettings) and (self.directory, self.fixtures_path) == (
            other.directory,
            other.fixtures_path,
        )

    def __hash__(self) -> int:
        return hash((self.directory, self.fixtures_path))

    def __repr__(self) -> str:
        return f"LocalSettings(directory={self.directory!r}, fixtures_path={self.fixtures_path!r})"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LocalSettings:
        env = os.environ if environ is None else environ
        directory = _get(env, ENV_LOCAL_DIR) or os.path.join(os.getcwd(), LOCAL_DEFAULT_DIRNAME)
        return cls(directory=directory, fixtures_path=_get(env, ENV_LOCAL_FIXTURES))


class BackendSettings:
    """The platform's backend: base URL (no trailing ``/``) and internal secret."""

    __slots__ = ("api_base", "secret")

    def __init__(self, api_base: str, secret: str) -> None:
        self.api_base = api_base
        self.secret = secret

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> BackendSettings:
        env = os.environ if environ is None else environ
        return cls(api_base=_get(env, ENV_API_BASE).rstrip("/"), secret=_get(env, ENV_SECRET))

    def __repr__(self) -> str:
        return f"BackendSettings(api_base={self.api_base!r}, secret=<hidden>)"


def max_input_bytes(environ: Mapping[str, str] | None = None) -> int:
    """The input size cap: ``SEEKAPI_MAX_INPUT_BYTES`` or :data:`DEFAULT_MAX_INPUT_BYTES`."""
    env = os.environ if environ is None else environ
    raw = _get(env, ENV_MAX_INPUT_BYTES)
    if not raw:
        return DEFAULT_MAX_INPUT_BYTES
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise ConfigurationError(f"{ENV_MAX_INPUT_BYTES} must be a positive integer of bytes")
    return value
