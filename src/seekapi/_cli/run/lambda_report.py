"""What ``seekapi run --lambda`` shows: Lambda's platform lines (``START``, ``END``,
``REPORT``, a timeout or a runtime that exited) in the log stream, and per invocation
what it returned and what its job left; or one JSON object with ``--json``."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, Any

from .._common import EXIT_FAILED, EXIT_OK, display_path, emit_json, json_text
from .plan import Plan
from .report import HandlerOutcome, charge_lines

_RESULT_CHARS = 4000  # of a result shown on one line

INIT_WARNING_S = 8.0
"""An init phase longer than this is close to Lambda's 10 s limit: it is warned about."""


@dataclass(frozen=True)
class LambdaReport:
    """The figures of Lambda's ``REPORT`` line for one invocation.

    ``init_ms`` is set on the first invocation of an execution environment only, as
    Lambda shows it. ``billed_ms`` counts it too: Lambda bills the init phase of
    functions on its managed runtimes since August 2025.
    """

    request_id: str
    duration_ms: float
    memory_size_mb: int
    max_memory_used_mb: int | None
    init_ms: float | None = None
    status: str | None = None
    """``"timeout"`` or ``"error"`` (the runtime exited), as Lambda's line ends."""
    error_type: str | None = None

    @property
    def billed_ms(self) -> int:
        return max(1, math.ceil(self.duration_ms + (self.init_ms or 0.0)))

    def line(self) -> str:
        used = "?" if self.max_memory_used_mb is None else str(self.max_memory_used_mb)
        text = (
            f"REPORT RequestId: {self.request_id}\tDuration: {self.duration_ms:.2f} ms"
            f"\tBilled Duration: {self.billed_ms} ms\tMemory Size: {self.memory_size_mb} MB"
            f"\tMax Memory Used: {used} MB"
        )
        if self.init_ms is not None:
            text += f"\tInit Duration: {self.init_ms:.2f} ms"
        if self.status is not None:
            text += f"\tStatus: {self.status}"
        if self.error_type is not None:
            text += f"\tError Type: {self.error_type}"
        return text

    def to_json(self) -> dict[str, object]:
        return {
            "request_id": self.request_id,
            "duration_ms": round(self.duration_ms, 2),
            "billed_duration_ms": self.billed_ms,
            "memory_size_mb": self.memory_size_mb,
            "max_memory_used_mb": self.max_memory_used_mb,
            "init_duration_ms": None if self.init_ms is None else round(self.init_ms, 2),
            "timed_out": self.status == "timeout",
            "status": self.status,
            "error_type": self.error_type,
        }


@dataclass
class LambdaCall:
    """One invocation: what the runtime answered, and what the job left."""

    job_uuid: str
    request_id: str
    report: LambdaReport
    returned: Any = None
    error: dict[str, Any] | None = None
    """``None``, or ``{"type": "raised" | "marshal" | "response_too_large" | "timeout" |
    "exited", "exception", "message"[, "traceback"]}``."""
    outcome: HandlerOutcome = field(default_factory=HandlerOutcome)

    @property
    def ok(self) -> bool:
        returned = self.returned
        return self.error is None and isinstance(returned, Mapping) and returned.get("ok") is True

    def to_json(self) -> dict[str, object]:
        outcome = self.outcome
        return {
            "job_uuid": self.job_uuid,
            "request_id": self.request_id,
            "returned": self.returned,
            "error": self.error,
            "result": outcome.result,
            "pushes": outcome.pushes,
            "files": [f.to_json() for f in outcome.files],
            "charges": outcome.charges,
            "metered_event_count": outcome.metered_event_count,
            "limit_reached": outcome.limit_reached,
            "artifacts": outcome.artifacts,
            "report": self.report.to_json(),
        }


class LogStream:
    """Where the function's output goes, and Lambda's platform lines with it: standard
    output, or standard error with ``--json``."""

    def __init__(self, json_mode: bool) -> None:
        self.target: IO[str] = sys.stderr if json_mode else sys.stdout

    def write(self, line: str) -> None:
        self.target.write(line + "\n")
        self.target.flush()

    def start(self, request_id: str, version: str) -> None:
        self.write(f"START RequestId: {request_id} Version: {version}")

    def end(self, call: LambdaCall, timeout: float) -> None:
        """The lines Lambda writes when an invocation ends."""
        error = call.error or {}
        if error.get("type") == "timeout":
            self.write(f"{_now()} {call.request_id} {error['message']}")
        self.write(f"END RequestId: {call.request_id}")
        self.write(call.report.line())
        if error.get("type") == "exited":
            self.write(f"RequestId: {call.request_id} Error: {error['message']}")
            self.write(str(error.get("exception")))


def _now() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


def warn_slow_init(init_ms: float) -> None:
    """Say so on standard error when the init phase came close to Lambda's limit."""
    if init_ms >= INIT_WARNING_S * 1000:
        sys.stderr.write(
            f"seekapi run: warning: the init phase took {init_ms / 1000:.1f} s; Lambda"
            " stops one that takes 10 s (import less at module level, or lazily)\n"
        )
        sys.stderr.flush()


def exit_code(calls: list[LambdaCall]) -> int:
    """0 when every invocation returned ``{"ok": true, ...}``, else 1."""
    return EXIT_OK if calls and all(call.ok for call in calls) else EXIT_FAILED


def show_calls(plan: Plan, handler: str, calls: list[LambdaCall], *, json_mode: bool) -> int:
    """The summary of the run (one JSON object with ``json_mode``); the exit status."""
    code = exit_code(calls)
    if json_mode:
        emit_json(
            {
                "ok": code == EXIT_OK,
                "exit_code": code,
                "mode": plan.mode,
                "lambda": True,
                "handler": handler,
                "invocations": [call.to_json() for call in calls],
            }
        )
    return code


def call_summary(call: LambdaCall, *, all_charges: bool = False) -> str:
    """What one invocation returned and what its job left, a few lines of text."""
    out = [f"Returned:  {_returned(call)}"]
    outcome = call.outcome
    if outcome.pushes:
        text = json_text(outcome.result)
        if len(text) > _RESULT_CHARS:
            text = f"{text[:_RESULT_CHARS]}... ({len(text)} characters; --json has all of it)"
        pushes = f" ({outcome.pushes} pushes, the last one wins)" if outcome.pushes > 1 else ""
        out.append(f"Result:    {text}{pushes}")
    else:
        out.append("Result:    nothing pushed")
    if outcome.files:
        out.append(f"Files:     {len(outcome.files)}")
        out.extend(f"  {f.name}  {f.size} bytes  {display_path(f.path)}" for f in outcome.files)
    else:
        out.append("Files:     none")
    out.extend(charge_lines(outcome, all_charges=all_charges))
    if outcome.artifacts is not None:
        out.append(f"Artifacts: {display_path(outcome.artifacts)}/")
    return "\n".join(out)


def _returned(call: LambdaCall) -> str:
    error = call.error
    if error is None:
        return json_text(call.returned)
    if error.get("type") == "timeout":
        return f"nothing: {error.get('message')}"
    return f"error {error.get('exception')}: {error.get('message')}"
