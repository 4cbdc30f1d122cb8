"""Faults: the :class:`Fault` value, the armed faults a request may take, fault answers.

What a fault does to a connection (drop, reset, hang, drip, truncate) is carried out
where the request is served (``_exchange``); this module owns the value, its checks,
the order in which armed faults are matched and used up, and the answers of ``status``
and ``redirect`` faults.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal, get_args

from ._replies import EmulatorResponse, bad_request, no_other_fields
from ._routes import ADMIN_PREFIX

FaultKind = Literal["status", "drop", "reset", "hang", "drip", "delay", "truncate", "redirect"]
FAULT_KINDS: frozenset[str] = frozenset(get_args(FaultKind))

# Bounds of a fault's numbers: an hour is more than any test waits, and a million
# repeats more than any test sends.
_MAX_FAULT_SECONDS = 3600
_MAX_FAULT_COUNT = 1_000_000
# Fault headers that would contradict the framing the emulator writes itself.
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "connection"})


def is_whole_number(value: object) -> bool:
    """Whether ``value`` is an ``int`` and not a ``bool``."""
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass
class Fault:
    """A misbehaviour to apply to the next ``count`` requests that match it.

    A request matches when its method equals ``method`` (any method when ``None``) and
    its path (without the query) matches ``path`` (any path when ``None``). A ``path``
    names one endpoint exactly: ``/v1/internal/jobs/{id}/push`` matches that path only,
    not ``.../push/file``. A ``path`` ending with ``/`` matches every path that starts
    with it: ``/v1/internal/jobs/`` matches all the job endpoints, ``/input/`` every
    input. Faults are tried in the order they were injected; the first match is used
    and its count goes down by one. Requests to the admin API (``/v1/debug/...``) are
    only subject to faults whose ``path`` matches them (such as ``/v1/debug/``), so
    inspecting a job or arming another fault never uses one up.

    ``count`` is a whole number from 1 to 1,000,000; ``seconds`` and ``interval`` are
    from 0 to 3600; ``path`` starts with ``/``. Anything else is a :class:`ValueError`.

    Kinds:

    ``"status"``
        Answer ``status`` with ``headers`` and ``body``; the request is not processed.
    ``"redirect"``
        Answer ``status`` (302 unless a 3xx is given) with ``Location: location``; the
        request is not processed.
    ``"drop"``
        Close the connection without a response (FIN).
    ``"reset"``
        Abort the connection without a response (RST).
    ``"hang"``
        Send nothing for ``seconds`` (``0``: until :meth:`Backend.stop`), then close.
    ``"delay"``
        Wait ``seconds``, then answer normally.
    ``"drip"``
        Send the whole response (status line, headers, body) one byte every
        ``interval`` seconds.
    ``"truncate"``
        Declare the full ``Content-Length`` but send only half of the body, then close.

    ``after_body`` says when the fault fires. When true (the default) the request body
    is read first and, for ``drop``, ``reset``, ``hang``, ``delay``, ``drip`` and
    ``truncate``, the request is processed (stored, charged) before the fault: this is
    how a lost response is simulated. When false the fault fires right after the
    request headers, the body is never read and nothing is stored; ``delay`` then goes
    on to read and process the request, and ``drip``/``truncate`` deliver a 503 error
    saying the request was not processed.
    """

    kind: FaultKind
    count: int = 1
    path: str | None = None
    method: str | None = None
    status: int = 503
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    seconds: float = 0.0
    interval: float = 0.1
    location: str = ""
    after_body: bool = True

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}")
        if not is_whole_number(self.count) or not 1 <= self.count <= _MAX_FAULT_COUNT:
            raise ValueError(f"count must be a whole number from 1 to {_MAX_FAULT_COUNT}")
        if not is_whole_number(self.status) or not 100 <= self.status <= 999:
            raise ValueError("status must be a three-digit HTTP status")
        for name, value in (("seconds", self.seconds), ("interval", self.interval)):
            # Also refuses NaN and infinities: every comparison with NaN is false.
            if not _is_number(value) or not 0 <= value <= _MAX_FAULT_SECONDS:
                raise ValueError(
                    f"{name} must be a number of seconds from 0 to {_MAX_FAULT_SECONDS}"
                )
        if self.path is not None and not self.path.startswith("/"):
            raise ValueError(f"path must start with '/', as a request path does: {self.path!r}")
        if self.kind == "redirect" and not self.location:
            raise ValueError("a redirect fault needs a location")

    def matches(self, method: str, path: str) -> bool:
        """Whether a request with this method and path is subject to the fault.

        ``path`` matches when it equals the fault's path, or when the fault's path ends
        with ``/`` and ``path`` starts with it.
        """
        if self.method is not None and self.method.upper() != method.upper():
            return False
        if self.path is None:
            return not path.startswith(ADMIN_PREFIX)
        if self.path.endswith("/"):
            return path.startswith(self.path)
        return path == self.path

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict of every field (``body`` as text, undecodable bytes replaced)."""
        return {
            "kind": self.kind,
            "count": self.count,
            "path": self.path,
            "method": self.method,
            "status": self.status,
            "headers": dict(self.headers),
            "body": self.body.decode("utf-8", "replace"),
            "seconds": self.seconds,
            "interval": self.interval,
            "location": self.location,
            "after_body": self.after_body,
        }


@dataclass
class ArmedFault:
    """A fault injected and not yet used up: ``remaining`` requests still take it."""

    fault: Fault
    remaining: int


class FaultSwitchboard:
    """The armed faults, in the order they were injected; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: list[ArmedFault] = []

    def inject(self, fault: Fault) -> None:
        """Arm ``fault`` after the faults already pending."""
        armed = replace(fault, headers=dict(fault.headers))
        with self._lock:
            self._armed.append(ArmedFault(armed, fault.count))

    def clear(self) -> int:
        """Disarm every pending fault; returns how many there were."""
        with self._lock:
            cleared = len(self._armed)
            self._armed.clear()
        return cleared

    @property
    def pending(self) -> list[Fault]:
        """Faults not yet used up; each ``count`` is what remains of it."""
        with self._lock:
            return [replace(a.fault, count=a.remaining) for a in self._armed]

    def take(self, method: str, path: str) -> Fault | None:
        """The first armed fault matching the request, its count used by one; or ``None``."""
        with self._lock:
            for i, armed in enumerate(self._armed):
                if armed.fault.matches(method, path):
                    armed.remaining -= 1
                    if armed.remaining <= 0:
                        del self._armed[i]
                    return armed.fault
        return None


def fault_response(fault: Fault) -> EmulatorResponse:
    """The answer of a ``status`` or ``redirect`` fault."""
    headers = [(k, v) for k, v in fault.headers.items() if k.lower() not in _FRAMING_HEADERS]
    status = fault.status
    if fault.kind == "redirect":
        status = status if 300 <= status < 400 else 302
        headers.insert(0, ("Location", fault.location))
    return EmulatorResponse(status, headers, [fault.body], len(fault.body))


_FAULT_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "count": (int,),
    "path": (str,),
    "method": (str,),
    "status": (int,),
    "seconds": (int, float),
    "interval": (int, float),
    "location": (str,),
    "after_body": (bool,),
}


def fault_from_json(body: Mapping[str, object]) -> Fault:
    """The :class:`Fault` an admin request describes; :class:`Rejection` (400) if it cannot."""
    no_other_fields(body, tuple(f.name for f in fields(Fault)))
    kind = body.get("kind")
    if not isinstance(kind, str):
        raise bad_request(f"kind must be one of {', '.join(sorted(FAULT_KINDS))}")
    args: dict[str, Any] = {}
    for key, types in _FAULT_FIELD_TYPES.items():
        if key not in body or (body[key] is None and key in ("path", "method")):
            continue
        value = body[key]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise bad_request(f"{key} has the wrong type")
        args[key] = value
    headers = body.get("headers", {})
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise bad_request("headers must be an object of strings")
    raw = body.get("body", "")
    if not isinstance(raw, str):
        raise bad_request("body must be a string (sent as UTF-8)")
    try:
        return Fault(
            kind,  # type: ignore[arg-type]  # checked by Fault itself
            headers=headers,
            body=raw.encode("utf-8", "surrogatepass"),
            **args,
        )
    except ValueError as exc:
        raise bad_request(str(exc)) from None
