"""What the API's customer reads when a job fails: short, without secrets, internal
hosts or server bodies (the log has the details). Used by ``run()``."""

from __future__ import annotations

from .errors import (
    ConfigurationError,
    DeadlineExceeded,
    HTTPStatusError,
    InputError,
    InputTooLargeError,
    InvalidResponseError,
    SeekAPIError,
    TransportError,
)

_CALLS = {"input": "fetching the job's input", "push": "delivering the result"}


def customer_message(exc: BaseException, stage: str) -> str:
    """A short message for ``exc``: a summary for network failures, whose own messages
    name internal hosts and may quote a server's body; the type and text otherwise."""
    name = type(exc).__name__
    call = _CALLS.get(stage, "a backend call")
    summary: str | None = None
    if isinstance(exc, DeadlineExceeded):
        summary = f"{call} timed out"
    elif isinstance(exc, TransportError):
        summary = f"{call} failed: no answer (connection, TLS or proxy failure)"
    elif isinstance(exc, HTTPStatusError):
        summary = f"{call} failed: HTTP {exc.status}"
    elif isinstance(exc, InvalidResponseError):
        summary = f"{call} failed: the answer was not valid"
    elif isinstance(exc, InputTooLargeError):
        summary = "the job's input is larger than the worker accepts"
    elif isinstance(exc, ConfigurationError):
        summary = "the worker is not configured correctly (details in its log)"
    elif isinstance(exc, InputError) and "://" in safe_str(exc):
        summary = f"{call} failed"
    if stage == "user":
        text = summary if summary is not None else safe_str(exc)
        return f"{name}: {text}" if text else name
    if summary is not None:
        return summary
    text = safe_str(exc)
    if isinstance(exc, SeekAPIError):
        return text or name
    return f"{name}: {text}" if text else name


def mask_backend(text: str, api_base: str) -> str:
    """``text`` with the backend's address shown as ``<backend>``: its base URL, its
    host with and without the port, in any case and percent-encoded."""
    base = api_base.strip().rstrip("/")
    authority = base.partition("://")[2].partition("/")[0].rpartition("@")[2]
    host = authority.rpartition(":")[0] if authority.count(":") == 1 else authority
    forms = {base, authority, host.strip("[]")}
    if not base:
        return text
    import re
    from urllib.parse import quote

    forms.add(quote(base, safe=""))
    # Longest first, so that the base URL is replaced whole before its host is.
    for form in sorted((f for f in forms if len(f) >= 4), key=len, reverse=True):
        text = re.sub(re.escape(form), "<backend>", text, flags=re.IGNORECASE)
    return text


def safe_str(value: object) -> str:
    """``str(value)``, even when its ``__str__`` is broken."""
    try:
        return str(value)
    except Exception:  # noqa: BLE001 - a failure report must not fail itself
        return f"<{type(value).__name__} that cannot be shown>"
