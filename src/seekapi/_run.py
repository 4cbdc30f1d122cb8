"""run(): fetch the input, call the user function, push its result, return a small dict."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping

# typing costs milliseconds to import; mypy honours a module-level TYPE_CHECKING.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Any

logger = logging.getLogger("seekapi")

SAFETY_MARGIN = 2.0
"""Seconds before the Lambda deadline by which user code must be done (1.0.5: 2 s)."""
RESERVE = 0.25
"""Seconds before the Lambda deadline by which ``run()`` must have returned."""

WORKER_ERROR = "WORKER_ERROR"
WORKER_TIMEOUT = "WORKER_TIMEOUT"


def _request_id(context: object) -> str | None:
    value = getattr(context, "aws_request_id", None) if context is not None else None
    return value if isinstance(value, str) and value else None


def _lambda_end(context: object, clock: Callable[[], float]) -> float | None:
    """The Lambda deadline on ``clock``, or ``None`` when the context gives none."""
    getter = getattr(context, "get_remaining_time_in_millis", None)
    if context is None or not callable(getter):
        return None
    try:
        remaining_ms = int(getter())
    except Exception:  # noqa: BLE001 - a broken context means no deadline, as in 1.0.5
        return None
    return clock() + max(0, remaining_ms) / 1000.0


def _failure(code: str, message: str, request_id: str | None, stage: str) -> dict[str, Any]:
    import seekapi

    out = seekapi.failure(code, message, request_id=request_id)
    error = out.get("error")
    if isinstance(error, dict):
        error["stage"] = stage
    return out


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 500 else text[:497] + "..."


def run(event: dict[str, Any], context: object, user_fn: Callable[[Any], Any]) -> dict[str, Any]:
    """Run one job: fetch its input, call ``user_fn(input)``, push what it returns.

    Returns ``success(request_id)`` or ``failure(code, message, request_id)`` with an
    additional ``error.stage`` (``input``, ``user``, ``push``). A returned ``None`` means
    nothing more to push. Every network call is bounded by the time the Lambda has left,
    less a safety margin. The functions it calls are looked up on the ``seekapi``
    package, so tests that patch ``seekapi.get_input`` or ``seekapi.push_data`` see their
    patches used.
    """
    import seekapi

    from . import _api, _settings
    from ._client import job_deadline
    from ._retry import Deadline

    clock = time.monotonic
    request_id = _request_id(context)
    if not isinstance(event, Mapping):
        return _failure(
            WORKER_ERROR,
            f"the event must be a JSON object, not {type(event).__name__}",
            request_id,
            "input",
        )
    end = _lambda_end(context, clock)
    deadline = Deadline(end - SAFETY_MARGIN if end is not None else float("inf"), clock)
    token = job_deadline.set(deadline)
    try:
        job_uuid = event.get("job_uuid")
        if request_id and isinstance(job_uuid, str) and job_uuid.strip():
            seekapi.register_request_id(job_uuid.strip(), request_id)
        try:
            ctx = seekapi.create_context(event)
            input_data = seekapi.get_input(event)
        except Exception as exc:
            logger.exception("seekapi: fetching the input failed")
            return _failure(WORKER_ERROR, _short(exc), request_id, "input")
        try:
            result = user_fn(input_data)
        except Exception as exc:
            logger.exception("seekapi: the worker function raised")
            return _failure(WORKER_ERROR, _short(exc), request_id, "user")
        if result is None:
            return seekapi.success(request_id=request_id)
        # The result must go somewhere: unconfigured push_data would drop it silently.
        # A test suite that patched seekapi.push_data takes over delivery itself.
        if seekapi.push_data is _api.push_data and not _settings.local_mode_enabled():
            missing = [
                k for k in ("api_base", "secret", "job_uuid", "execution_token") if not ctx.get(k)
            ]
            if missing:
                return _failure(
                    WORKER_ERROR,
                    "the result was not delivered: missing "
                    + ", ".join(missing)
                    + " (set WORKER_API_BASE_URL and WORKER_INTERNAL_SECRET, or"
                    " SEEKAPI_LOCAL_MODE=1 for local runs)",
                    request_id,
                    "push",
                )
        # Delivering the result may use the safety margin, up to a small reserve.
        job_deadline.set(Deadline(end - RESERVE if end is not None else float("inf"), clock))
        try:
            seekapi.push_data(ctx, result)
        except Exception as exc:
            logger.exception("seekapi: pushing the result failed")
            return _failure(WORKER_ERROR, _short(exc), request_id, "push")
        return seekapi.success(request_id=request_id)
    finally:
        job_deadline.reset(token)
