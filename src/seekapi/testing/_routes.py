"""The emulator's paths: which endpoint a request path names, and the methods it answers."""

from __future__ import annotations

from urllib.parse import unquote

from .. import _wire

ADMIN_PREFIX = "/v1/debug/"
"""Every path of the admin API starts with this."""

WORKER_ENDPOINTS = tuple(suffix.lstrip("/") for suffix in _wire.ENDPOINTS)
"""The job endpoints, as the path names them after the job id: ``push``, ``charge``, ..."""
_JOBS_SEGMENTS = _wire.JOBS_PATH.strip("/").split("/")

# The methods each endpoint answers, as a 405 names them in its Allow header.
ENDPOINT_METHODS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(WORKER_ENDPOINTS, ("POST",)),
    "input": ("GET",),
    "debug": ("GET",),
    "debug/jobs": ("GET", "POST"),
    "debug/faults": ("GET", "POST", "DELETE"),
}


def route(path: str) -> tuple[str, str] | None:
    """``(endpoint, job_uuid)`` for a known path (``job_uuid`` empty if none), else ``None``."""
    seg = path.split("/")
    if len(seg) >= 6 and seg[1:4] == _JOBS_SEGMENTS and seg[4]:
        tail = "/".join(seg[5:])
        if tail in WORKER_ENDPOINTS:
            return tail, unquote(seg[4])
    if len(seg) == 3 and seg[1] == "input" and seg[2]:
        return "input", unquote(seg[2])
    if len(seg) == 5 and seg[1:4] == ["v1", "debug", "jobs"] and seg[4]:
        return "debug", unquote(seg[4])
    if len(seg) == 4 and seg[1:3] == ["v1", "debug"] and seg[3] in ("jobs", "faults"):
        return f"debug/{seg[3]}", ""
    return None
