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
# Set by Lambda (its advanced logging controls): Text or JSON.
ENV_LOG_FORMAT = "AWS_LAMBDA_LOG_FORMAT"
ENV_LOG_LEVEL = "AWS_LAMBDA_LOG_LEVEL"

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


def json_logs(environ: Mapping[str, str] | None = None) -> bool:
    """True when ``AWS_LAMBDA_LOG_FORMAT`` is ``JSON`` (any case): Lambda's JSON log format,
    in which an exception belongs in a record's own fields, not in its message."""
    env = os.environ if environ is None else environ
    return _get(env, ENV_LOG_FORMAT).upper() == "JSON"


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


# -- the backend's base URL ------------------------------------------------------------------

_usable_bases: dict[str, None] = {}
"""Base URLs already found usable: a worker calls with the same one over and over."""

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._")


def check_api_base(api_base: str) -> None:
    """Raise :class:`~seekapi.errors.ConfigurationError` unless ``api_base`` is a usable base
    URL for the backend.

    Usable: ``http://`` or ``https://`` (any case), a host (a DNS name, an internationalised
    name that IDNA can encode, an IPv4 address, or an IPv6 address in brackets), an
    optional port from 1 to 65535 and an optional ASCII path, which becomes a prefix of
    every call's path. Refused: any other scheme, user info (``user:password@``), a ``?``
    or ``#`` anywhere (the call would go to another path), spaces, control characters or
    backslashes, an empty host, a non-numeric port. The message says what is wrong
    without showing the value, which may hold credentials.
    """
    if api_base in _usable_bases:
        return
    problem = _api_base_problem(api_base)
    if problem:
        raise ConfigurationError(
            f"{ENV_API_BASE} (the context's api_base) is not a usable backend URL: {problem}"
        )
    if len(_usable_bases) >= 32:
        _usable_bases.clear()
    _usable_bases[api_base] = None


def _api_base_problem(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "it must start with http:// or https://"
    if scheme.lower() not in ("http", "https"):
        if scheme.isascii() and scheme.isalnum() and len(scheme) <= 10:
            return f"the scheme must be http or https, not {scheme.lower()!r}"
        return "the scheme must be http or https"
    if "?" in url or "#" in url:
        return "it holds a '?' or '#'; give the base URL alone, without a query or fragment"
    if any(c <= " " or c == "\x7f" for c in url):
        return "it holds a space or a control character"
    if "\\" in url:
        return "it holds a backslash"
    authority, _, path = rest.partition("/")
    if "@" in authority:
        return (
            "it holds user info (user:password@); the backend is authenticated with"
            f" {ENV_SECRET} instead"
        )
    problem = _authority_problem(authority)
    if problem:
        return problem
    if not path.isascii():
        return "its path holds characters that are not ASCII; percent-encode them"
    return ""


def _authority_problem(authority: str) -> str:
    port = ""
    if authority.startswith("["):
        close = authority.find("]")
        if close < 0:
            return "an IPv6 host's '[' is not closed"
        host, after = authority[1:close], authority[close + 1 :]
        if after and not after.startswith(":"):
            return "there is text after the IPv6 host's ']'"
        port = after[1:]
        import ipaddress

        try:
            # A zone id ("%25eth0") is refused too: no backend is reached by one.
            ipaddress.IPv6Address(host if "%" not in host else "-")
        except ValueError:
            return "the host in brackets is not an IPv6 address"
    else:
        host, _, port = authority.partition(":")
        if not host:
            return "it has no host"
        if ":" in port:
            return "its host holds a ':' (an IPv6 address must be written in brackets)"
        problem = _name_problem(host)
        if problem:
            return problem
    if authority.endswith(":") or (port and not _is_port(port)):
        return "the port must be a number from 1 to 65535"
    return ""


def _name_problem(host: str) -> str:
    if "[" in host or "]" in host:
        return "its host holds a '[' or ']' outside an IPv6 address"
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return "its host is not a valid internationalised domain name"
    if not _NAME_CHARS.issuperset(host):
        return "its host holds characters a host name cannot have"
    labels = host[:-1].split(".") if host.endswith(".") else host.split(".")
    if len(host) > 253 or any(not 0 < len(label) <= 63 for label in labels):
        return "its host has an empty or over-long part between dots"
    return ""


def _is_port(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 5 and 0 < int(text) <= 65535
