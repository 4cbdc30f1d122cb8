"""run(): the worker lifecycle around one user function, within the Lambda deadline.

Time line of one invocation, from the time Lambda says is left (``end``)::

    start ── register ── input ── user code ──┤ end - margin ── push result ──┤ end - reserve ─┤ end
                                               └ user deadline               └ delivery deadline

User code (and every call it makes) must be done by the *user deadline*; it is
interrupted there (see :mod:`seekapi._interrupt`). The margin is kept for delivering
the result and returning; every call is bounded so that ``run()`` returns by the
*delivery deadline*, a small reserve before Lambda would end the invocation.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextvars import Token

from . import _api, _job, _jobstate
from ._job import UNSET, StopJob
from .errors import (
    DeadlineExceeded,
    InvalidValue,
    UsageError,
    WorkerError,
    WorkerTimeout,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from typing import Any

    from ._deadline import Deadline
    from ._job import Job
    from ._jobstate import JobState
    from ._signature import Contracts


SAFETY_MARGIN = 2.0
"""Default seconds kept after user code for delivering the result (1.0.5 kept 2 s)."""
MARGIN_SHARE = 0.2
"""The margin is never more than this share of the time the invocation has."""
RESERVE = 0.2
"""Seconds before the Lambda deadline by which ``run()`` has returned."""
REGISTER_SHARE = 0.1
"""Registering the request id (best effort) may use at most this share of the time
before the user deadline, and never more than its own 3 s timeout."""
_MESSAGE_CHARS = 500
# 1.0.5's per-call timeouts, and the time it kept back from each of them.
_TIMEOUTS = {"register": 3.0, "input": 10.0, "push": 8.0}
_LEGACY_MARGIN = 2.0
# Below this much delivery time left, the result is not pushed again.
_REPUSH_SECONDS = 0.1

WORKER_ERROR = "WORKER_ERROR"
WORKER_TIMEOUT = "WORKER_TIMEOUT"
INVALID_INPUT = "INVALID_INPUT"
INVALID_OUTPUT = "INVALID_OUTPUT"
_CO_COROUTINE = 0x0080


def run(
    event: dict[str, Any],
    context: object,
    user_fn: Callable[[Any], Any],
    *,
    safety_margin: float | None = None,
) -> dict[str, Any]:
    """Run one job: fetch its input, call ``user_fn(input)``, push what it returns.

    Returns ``success(request_id)``, or ``failure(code, message, request_id)`` whose
    ``error`` also has a ``stage``: ``input``, ``user``, ``push`` (code
    ``WORKER_ERROR``) or ``timeout`` (code ``WORKER_TIMEOUT``). It never raises for a
    bad event or a failing job.

    - ``user_fn`` may be a plain or an ``async def`` function (run on a fresh event
      loop; inside a running loop use :func:`run_async`). Inside it,
      :func:`seekapi.current_job` gives the :class:`~seekapi.Job`, to charge, push files
      or push intermediate results.
    - What it returns is pushed as the job's result; ``None`` pushes nothing more.
    - Time: user code must finish ``safety_margin`` seconds before the Lambda deadline
      (default 2 s, at most a fifth of the invocation's time) and is interrupted with
      :class:`~seekapi.errors.WorkerTimeout` if it does not. The margin is kept for
      delivering the result; ``run()`` returns before the Lambda deadline even when the
      backend hangs. ``context`` may be ``None`` (no deadline).
    - Raising :class:`~seekapi.errors.WorkerError` chooses the failure's code and
      message; :meth:`Job.stop` ends the job early as a success.

    The functions it calls are looked up on the ``seekapi`` package, so tests that
    patch ``seekapi.get_input``, ``seekapi.push_data`` or
    ``seekapi.register_request_id`` see their patches used.
    """
    user_fn = _unwrap_worker(user_fn)
    if _is_coroutine_function(user_fn):
        _refuse_inside_running_loop()
    life = _Lifecycle(event, context, safety_margin, _contracts_for(user_fn))
    try:
        early = life.begin()
        if early is not None:
            return early
        return life.finish(life.call_sync(user_fn))
    finally:
        life.close()


async def run_async(
    event: dict[str, Any],
    context: object,
    user_fn: Callable[[Any], Awaitable[Any] | Any],
    *,
    safety_margin: float | None = None,
) -> dict[str, Any]:
    """``await run_async(...)``: :func:`run` for code already inside an event loop.

    ``user_fn`` may be ``async def`` (awaited, and cancelled at its deadline) or plain
    (called in the loop's thread). The SDK's own network calls block the loop while
    they run; they are bounded by the same deadlines as in :func:`run`.
    """
    user_fn = _unwrap_worker(user_fn)
    life = _Lifecycle(event, context, safety_margin, _contracts_for(user_fn))
    try:
        early = life.begin()
        if early is not None:
            return early
        return life.finish(await life.call_async(user_fn))
    finally:
        life.close()


class _UserResult:
    """What the user stage produced: a result to push, or a finished return value."""

    __slots__ = ("push", "reason", "result", "returned")

    def __init__(
        self,
        *,
        result: Any = None,
        push: bool = False,
        reason: str | None = None,
        returned: dict[str, Any] | None = None,
    ) -> None:
        self.result = result
        self.push = push
        self.reason = reason
        self.returned = returned


class _Refused(Exception):
    """The input broke the worker's contract (raised before the worker code runs)."""

    def __init__(self, invalid: InvalidValue) -> None:
        super().__init__(str(invalid))
        self.invalid = invalid


class _Lifecycle:
    def __init__(
        self,
        event: object,
        context: object,
        safety_margin: float | None,
        contracts: Contracts | None = None,
    ) -> None:
        import logging

        self.log = logging.getLogger("seekapi")
        self.event = event
        self.context = context
        self.clock = time.monotonic
        self.started = self.clock()
        self.request_id = _request_id(context)
        self.lambda_end = _lambda_end(context, self.clock)
        self.end = _within_outer_job(self.lambda_end)
        self.margin = _margin(self.end, self.started, safety_margin)
        self.job: Job | None = None
        self.input: Any = None
        self._tokens: list[Any] = []
        self.secrets: tuple[str, ...] = ()
        self.api_base = ""
        self.extra: dict[str, Any] = {"request_id": self.request_id, "job_uuid": None}
        self.contracts = contracts

    # -- stages -------------------------------------------------------------------------

    def begin(self) -> dict[str, Any] | None:
        """Register, build the job, fetch the input. A dict means: return it now."""
        import seekapi

        from ._deadline import job_deadline
        from ._redact import query_secrets

        if not isinstance(self.event, Mapping):
            return self._fail(
                WORKER_ERROR,
                f"the event must be a JSON object, not {type(self.event).__name__}",
                "input",
            )
        job_uuid = self.event.get("job_uuid")
        self.extra["job_uuid"] = job_uuid if isinstance(job_uuid, str) else None
        user_deadline = self._deadline(self.margin)
        self._tokens.append(job_deadline.set(user_deadline))
        url = self.event.get("input_presigned_url")
        # A presigned URL's query is its credentials: masked wherever the job's secrets
        # are, from the first call on (registration may echo them).
        url_secrets = query_secrets(url) if isinstance(url, str) else []
        token = self.event.get("execution_token")
        early = (*url_secrets, token) if isinstance(token, str) and token else tuple(url_secrets)
        self.secrets = early
        self._tokens.append(_jobstate.masked.set(early))
        if self.request_id and isinstance(job_uuid, str) and job_uuid.strip():
            self._register(job_uuid.strip(), self.request_id, user_deadline)
        try:
            ctx = seekapi.create_context(self.event)  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - run() reports every failure
            return self._fail_from(exc, "input")
        self.api_base = str(ctx.get("api_base") or "")
        self.secrets = (
            *(str(ctx.get(key) or "") for key in ("secret", "execution_token") if ctx.get(key)),
            *url_secrets,
        )
        self.job = _job.Job(ctx, request_id=self.request_id, deadline=user_deadline)
        self.job.secrets = tuple(url_secrets)
        self._tokens.append(_jobstate.current.set(self.job))
        _jobstate.reopen(self.job.job_uuid, str(ctx.get("execution_token") or ""))
        started = self.clock()
        try:
            self.input = seekapi.get_input(
                self.event,  # type: ignore[arg-type]
                timeout=self._legacy_timeout("input"),
            )
        except Exception as exc:  # noqa: BLE001 - run() reports every failure
            return self._fail_from(exc, "input")
        size = f"{self.job.input_bytes} bytes" if self.job.input_bytes is not None else "input"
        self.log.info(
            "input fetched (%s) in %.0f ms",
            size,
            (self.clock() - started) * 1000,
            extra=self.extra,
        )
        return None

    def call_sync(self, user_fn: Callable[[Any], Any]) -> _UserResult:
        from ._interrupt import Alarm

        started = self.clock()
        try:
            with Alarm(self._time_for_user()):
                value = user_fn(self._argument())
                if _is_awaitable(value):
                    value = _run_coroutine(value)
        except BaseException as exc:  # noqa: BLE001 - sorted out in _user_outcome
            return self._user_outcome(exc, started)
        self._log_user(started)
        return self._returned(value)

    async def call_async(self, user_fn: Callable[[Any], Any]) -> _UserResult:
        from ._interrupt import Alarm

        started = self.clock()
        left = self._time_for_user()
        try:
            if _is_coroutine_function(user_fn):
                value = await _await_within(user_fn(self._argument()), left)
            else:
                with Alarm(left):
                    value = user_fn(self._argument())
                if _is_awaitable(value):
                    value = await _await_within(value, self._time_for_user())
        except BaseException as exc:  # noqa: BLE001 - sorted out in _user_outcome
            return self._user_outcome(exc, started)
        if self.job is not None and self.job.remaining() <= 0:
            # The coroutine ignored its cancellation and finished late: too late.
            return self._user_outcome(WorkerTimeout("the worker code finished too late"), started)
        self._log_user(started)
        return self._returned(value)

    def finish(self, outcome: _UserResult) -> dict[str, Any]:
        """Deliver the result, within the delivery deadline, and build the return value."""
        import seekapi

        from . import _settings
        from ._deadline import job_deadline
        from ._messages import safe_str

        if outcome.returned is not None:
            return outcome.returned
        job = self.job
        assert job is not None
        # The worker code is done: pushes and charges from threads it left running are
        # refused from now on, so none can land after (or instead of) the final result.
        job.seal()
        if outcome.push:
            # The result must go somewhere: unconfigured push_data would drop it silently.
            # A test suite that patched seekapi.push_data takes over delivery itself.
            if seekapi.push_data is _api.push_data and not _settings.local_mode_enabled():
                missing = [
                    key
                    for key in ("api_base", "secret", "job_uuid", "execution_token")
                    if not job.context.get(key)
                ]
                if missing:
                    return self._fail(
                        WORKER_ERROR,
                        "the result was not delivered: missing "
                        + ", ".join(missing)
                        + " (set WORKER_API_BASE_URL and WORKER_INTERNAL_SECRET, or"
                        " SEEKAPI_LOCAL_MODE=1 for local runs)",
                        "push",
                    )
            delivery = self._deadline(RESERVE)
            job.extend(delivery)
            self._tokens.append(job_deadline.set(delivery))
            started = self.clock()
            try:
                self._push_result(job, outcome.result, delivery)
            except Exception as exc:  # noqa: BLE001 - run() reports every failure
                return self._fail_from(exc, "push")
            size = f" ({job.result_bytes} bytes)" if job.result_bytes is not None else ""
            self.log.info(
                "result pushed%s in %.0f ms",
                size,
                (self.clock() - started) * 1000,
                extra=self.extra,
            )
        out = seekapi.success(request_id=self.request_id)
        if outcome.reason is not None:
            out["stopped"] = self._shorten(safe_str(outcome.reason))
        if job.limit_reached:
            out["limit_reached"] = True
        self._log_end("succeeded")
        return out

    def close(self) -> None:
        """Close the job (later calls for it raise) and restore the caller's context."""
        if self.job is not None:
            _jobstate.close(self.job)
            for sock in self.job._in_doubt:
                sock.close()  # nothing waits for these any more
            self.job._in_doubt.clear()

        for token in reversed(self._tokens):
            if isinstance(token, Token):
                token.var.reset(token)
        self._tokens.clear()

    # -- the contract -----------------------------------------------------------------------

    def _argument(self) -> Any:
        """The input for the worker code: checked and converted when it has an input type."""
        side = self.contracts.input if self.contracts is not None else None
        if side is None:
            return self.input
        try:
            return side.validate(self.input)
        except InvalidValue as exc:
            raise _Refused(exc) from None

    def _returned(self, value: Any, reason: str | None = None) -> _UserResult:
        """What the worker code gave as the result: checked against its output type."""
        side = self.contracts.output if self.contracts is not None else None
        if side is not None:
            try:
                value = side.dump(value)
            except InvalidValue as exc:
                return _UserResult(returned=self._refuse(exc, "output"))
            except Exception as exc:  # noqa: BLE001 - a value the dump cannot read at all
                return _UserResult(returned=self._fail_from(exc, "output"))
        return _UserResult(result=value, push=value is not None, reason=reason)

    def _refuse(self, invalid: InvalidValue, stage: str) -> dict[str, Any]:
        from ._redact import may_hold_secret

        what = (
            "the input does not match the worker's input type"
            if stage == "input"
            else "the result does not match the worker's output type"
        )
        details = []
        for item in invalid.details:
            message = self._clean(item["message"])
            if may_hold_secret(message, self.secrets):
                # A value cut short for the message may show part of a secret.
                message = message.partition(", got ")[0] + ", got a value withheld"
            details.append({"path": self._clean(item["path"]), "message": message})
        summary = str(InvalidValue(details, truncated=invalid.truncated))
        self.log.warning("%s: %s", what, summary, extra=self.extra)
        code = INVALID_INPUT if stage == "input" else INVALID_OUTPUT
        out = self._fail(code, self._shorten(f"{what}: {summary}"), stage, log=False)
        error = out.get("error")
        if isinstance(error, dict):
            error["details"] = details
            if invalid.truncated:
                error["details_truncated"] = True
        return out

    # -- helpers --------------------------------------------------------------------------

    def _register(self, job_uuid: str, request_id: str, user_deadline: Deadline) -> None:
        """Best effort, by contract: it may use only a small share of the job's time."""
        import seekapi

        from ._deadline import Deadline, job_deadline
        from ._messages import safe_str

        share = min(_TIMEOUTS["register"], user_deadline.remaining() * REGISTER_SHARE)
        token = job_deadline.set(Deadline.after(share, self.clock).earliest(user_deadline))
        try:
            seekapi.register_request_id(
                job_uuid, request_id, timeout=self._legacy_timeout("register")
            )
        except Exception as exc:  # noqa: BLE001 - a patched one may raise; never fatal
            self.log.warning(
                "could not register the request id: %s",
                self._clean(safe_str(exc)),
                extra=self.extra,
            )
        finally:
            job_deadline.reset(token)

    def _push_result(self, job: Job, result: Any, delivery: Deadline) -> None:
        """Push the final result after every push the worker code started."""
        import seekapi

        # A push of the worker's still in flight finishes (or fails) first, within the
        # delivery deadline; the final push is then the last one this job sends.
        if not job._push_lock.acquire(timeout=max(0.0, min(delivery.remaining(), 1e6))):
            raise DeadlineExceeded(
                "an earlier push of the worker code did not finish within the time left"
            )
        token = _jobstate.delivering.set(job)
        try:
            if job._in_doubt:
                # An earlier push was given up on after it was sent: the backend may
                # still apply it. Wait (half the delivery time at most) until it has.
                self._settle(job, delivery, delivery.remaining() / 2)
            seekapi.push_data(job.context, result, timeout=self._legacy_timeout("push"))
            while job._in_doubt and delivery.remaining() > _REPUSH_SECONDS:
                # One is still open: if the backend answers it now, it may have been
                # applied after the result, so the result is pushed once more.
                if self._settle(job, delivery, delivery.remaining() / 2):
                    seekapi.push_data(job.context, result, timeout=self._legacy_timeout("push"))
            if job._in_doubt:
                self.log.warning(
                    "%d earlier push(es) of the job got no answer in time; the"
                    " backend may still apply them after the result",
                    len(job._in_doubt),
                    extra=self.extra,
                )
        finally:
            _jobstate.delivering.reset(token)
            job._push_lock.release()

    def _settle(self, job: JobState, delivery: Deadline, seconds: float) -> bool:
        """Wait up to ``seconds`` for the backend to finish with unanswered pushes;
        True when at least one of them finished."""
        from ._deadline import Deadline
        from ._transport import settle

        before = len(job._in_doubt)
        settle(job._in_doubt, Deadline.after(seconds, self.clock).earliest(delivery))
        return len(job._in_doubt) < before

    def _legacy_timeout(self, call: str) -> float:
        """The ``timeout=`` 1.0.5 passed: the default, shrunk to the Lambda time left
        minus 2 s, never below 1 s. The job's deadlines bound the call besides."""
        default = _TIMEOUTS[call]
        if self.lambda_end is None:
            return default
        left = self.lambda_end - self.clock()
        return max(1.0, min(default, left - _LEGACY_MARGIN))

    def _deadline(self, before_end: float) -> Deadline:

        from ._deadline import Deadline

        if self.end is None:
            return Deadline.never(self.clock)
        return Deadline(self.end - before_end, self.clock)

    def _time_for_user(self) -> float:
        return self.job.remaining() if self.job is not None else float("inf")

    def _user_outcome(self, exc: BaseException, started: float) -> _UserResult:

        from ._messages import safe_str

        if isinstance(exc, _Refused):
            return _UserResult(returned=self._refuse(exc.invalid, "input"))
        if isinstance(exc, StopJob):
            self._log_user(started)
            # As for a returned value, None means nothing more to push.
            if exc.result is UNSET or exc.result is None:
                return _UserResult(reason=exc.reason)
            return self._returned(exc.result, exc.reason)
        if isinstance(exc, WorkerTimeout):
            self._log_failure("the worker code was interrupted at its deadline", exc)
            allowed = self.end - self.margin - started if self.end is not None else None
            message = "the worker code did not finish within its time limit" + (
                f" of {max(0.0, allowed):.1f} s" if allowed is not None else ""
            )
            if self.job is not None:
                # Code left running (threads it started) must not push or charge now.

                _jobstate.close(self.job)
            return _UserResult(returned=self._fail(WORKER_TIMEOUT, message, "timeout", log=False))
        if isinstance(exc, WorkerError):
            # A failure the worker chose (bad customer input, say): not a defect, so a
            # warning without a traceback.
            code = self._shorten(safe_str(exc.code)) or WORKER_ERROR
            message = self._shorten(safe_str(exc.message))
            self.log.warning(
                "the worker code failed with %s: %s",
                code,
                self._clean(safe_str(exc.message)),
                extra=self.extra,
            )
            return _UserResult(returned=self._fail(code, message, "user", log=False))
        if not isinstance(exc, Exception):
            raise exc  # KeyboardInterrupt, SystemExit: not ours to turn into a failure
        self._log_failure("the worker code raised", exc)
        return _UserResult(
            returned=self._fail(WORKER_ERROR, self._message(exc, "user"), "user", log=False)
        )

    def _log_user(self, started: float) -> None:
        self.log.info(
            "worker code finished in %.0f ms",
            (self.clock() - started) * 1000,
            extra=self.extra,
        )

    def _log_end(self, how: str) -> None:
        job = self.job
        charges = ""
        if job is not None and job.charges:
            charges = f"; {job.charges} charge(s)"
            if job.metered_event_count:
                charges += f", {job.metered_event_count} unit(s) metered for the job"
        self.log.info(
            "job %s in %.0f ms%s",
            how,
            (self.clock() - self.started) * 1000,
            charges,
            extra=self.extra,
        )

    def _log_failure(self, what: str, exc: BaseException) -> None:
        import traceback

        from ._messages import safe_str
        from ._settings import json_logs

        if json_logs():
            # Lambda's JSON format puts a record's exception in fields of its own
            # (errorType, errorMessage, stackTrace); its message is scrubbed here.
            value = _Scrubbed(self._clean(safe_str(exc)))
            exc_info = (type(exc), value, exc.__traceback__)
            self.log.error(what, exc_info=exc_info, extra=self.extra)
            return
        # The traceback is formatted here so that secrets can be stripped from every
        # message in it, chained causes included.
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self.log.error("%s\n%s", what, self._clean(text).rstrip(), extra=self.extra)

    def _fail_from(self, exc: Exception, stage: str) -> dict[str, Any]:
        self._log_failure(f"the {stage} stage failed", exc)
        return self._fail(WORKER_ERROR, self._message(exc, stage), stage, log=False)

    def _fail(self, code: str, message: str, stage: str, *, log: bool = True) -> dict[str, Any]:
        import seekapi

        if log:
            self.log.error("%s", self._clean(message), extra=self.extra)
        out = seekapi.failure(code, self._clean(message), request_id=self.request_id)
        error = out.get("error")
        if isinstance(error, dict):
            error["stage"] = stage
        self._log_end(f"failed ({code}, stage {stage})")
        return out

    def _message(self, exc: BaseException, stage: str) -> str:
        """What the API's customer reads: no backend URL, host or body (the log has them)."""
        from ._messages import customer_message

        return self._shorten(customer_message(exc, stage))

    def _shorten(self, text: str) -> str:
        from ._messages import mask_backend

        text = mask_backend(self._clean(text), self.api_base)
        if len(text) > _MESSAGE_CHARS:
            text = text[: _MESSAGE_CHARS - 3] + "..."
        return text

    def _clean(self, text: str) -> str:

        from ._redact import scrub

        return scrub(text, self.secrets)


class _Scrubbed(Exception):
    """An exception's message with the job's secrets masked, for a log record's fields."""


async def _await_within(awaitable: Awaitable[Any], seconds: float) -> Any:
    import asyncio
    import math

    if seconds <= 0:
        close = getattr(awaitable, "close", None)
        if callable(close):
            close()  # never awaited: close it so Python does not warn
        raise WorkerTimeout("no time left to run the worker code")
    end = time.monotonic() + seconds
    try:
        return await asyncio.wait_for(awaitable, None if math.isinf(seconds) else seconds)
    except asyncio.TimeoutError:
        if time.monotonic() < end:
            raise  # the worker's own timeout, not its deadline
        raise WorkerTimeout(f"the worker code ran out of time ({seconds:.1f} s)") from None


def _request_id(context: object) -> str | None:
    value = getattr(context, "aws_request_id", None) if context is not None else None
    return value if isinstance(value, str) and value else None


def _lambda_end(context: object, clock: Callable[[], float]) -> float | None:
    """The Lambda deadline on ``clock``, or ``None`` when the context gives none."""
    import math

    getter = getattr(context, "get_remaining_time_in_millis", None)
    if context is None or not callable(getter):
        return None
    try:
        remaining_ms = float(getter())
    except Exception:  # noqa: BLE001 - a broken context means no deadline, as in 1.0.5
        return None
    if math.isnan(remaining_ms):
        return None
    return clock() + max(0.0, remaining_ms) / 1000.0


def _within_outer_job(end: float | None) -> float | None:
    """A run() inside another job's code ends no later than that code must."""
    import math

    from ._deadline import job_deadline

    outer = job_deadline.get()
    if outer is None or math.isinf(outer.at):
        return end
    return outer.at if end is None else min(end, outer.at)


def _margin(end: float | None, now: float, requested: float | None) -> float:
    import math

    if requested is not None:
        if isinstance(requested, bool) or not isinstance(requested, (int, float)):
            raise UsageError(
                f"safety_margin must be a number of seconds, not {type(requested).__name__}"
            )
        if not (0 <= requested < math.inf):
            raise UsageError(
                f"safety_margin must be a finite number of seconds >= 0, not {requested!r}"
            )
        return max(float(requested), RESERVE)
    if end is None:
        return SAFETY_MARGIN
    return max(RESERVE, min(SAFETY_MARGIN, (end - now) * MARGIN_SHARE))


def _unwrap_worker(fn: Any) -> Any:
    """``run(event, context, handler)`` with a ``@seekapi.worker`` handler runs its function."""
    return fn.fn if type(fn).__module__ == "seekapi._worker" else fn


def _contracts_for(fn: object) -> Contracts | None:
    """The contracts of an annotated worker function; ``None`` (at no cost) for others."""
    target = getattr(fn, "func", fn)  # functools.partial
    target = getattr(target, "__func__", target)  # bound methods
    if getattr(target, "__code__", None) is None:
        # A callable instance: the __call__ of its class or of one of its bases.
        calls = (k.__dict__["__call__"] for k in type(target).__mro__ if "__call__" in k.__dict__)
        target = next(calls, None)
    if not getattr(target, "__annotations__", None):
        return None
    from ._signature import contracts_of

    contracts = contracts_of(fn, strict=False)  # type: ignore[arg-type]
    return contracts if contracts.input is not None or contracts.output is not None else None


def _is_coroutine_function(fn: object) -> bool:
    # inspect.iscoroutinefunction without importing inspect (it costs milliseconds).
    seen = 0
    while seen < 10:
        seen += 1
        inner = getattr(fn, "func", None)  # functools.partial
        if inner is not None and callable(inner):
            fn = inner
            continue
        inner = getattr(fn, "__func__", None)  # bound methods
        if inner is not None:
            fn = inner
            continue
        break
    code = getattr(fn, "__code__", None)
    return bool(code is not None and getattr(code, "co_flags", 0) & _CO_COROUTINE)


def _is_awaitable(value: object) -> bool:
    return hasattr(value, "__await__") and not isinstance(value, type)


def _refuse_inside_running_loop() -> None:
    import sys

    asyncio = sys.modules.get("asyncio")
    if asyncio is None:
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return

    raise UsageError(
        "seekapi.run() cannot run an async worker function inside a running event loop;"
        " use `await seekapi.run_async(event, context, fn)` there"
    )


_CLEANUP_SECONDS = 0.2
"""How long cancelled tasks get to finish once the worker's time is up."""


def _run_coroutine(awaitable: Any) -> Any:
    """Run ``awaitable`` on a fresh event loop, like ``asyncio.run``, but never wait long
    for its clean-up: tasks get a short moment to handle their cancellation, and threads
    of the loop's executor are not joined (``asyncio.run`` would wait for them)."""
    import asyncio

    _refuse_inside_running_loop()

    async def wrapper() -> Any:
        return await awaitable

    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(wrapper())
    finally:
        try:
            tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.wait(tasks, timeout=_CLEANUP_SECONDS))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()  # shuts the default executor down without waiting
