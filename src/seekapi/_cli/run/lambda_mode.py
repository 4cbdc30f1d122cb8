"""``seekapi run --lambda``: the worker under the real AWS Lambda runtime client.

The command serves :class:`seekapi.testing.RuntimeAPI` on 127.0.0.1 and starts
``python -m awslambdaric module.function`` against it (:mod:`.runtime`), with the
function's environment: the code path of production, from the runtime's first
``/next`` to the response it posts. The jobs are served by the in-process backend
emulator (``--emulate``) or run in local mode, as ``seekapi run`` runs them.

Each invocation of ``--invocations N`` goes to the same warm process, as Lambda reuses
an execution environment; one that timed out, ran out of memory or exited is replaced
by a fresh one (a cold start, with its own ``Init Duration``) for the next.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ...testing import RuntimeAPI, RuntimeInvocation, awslambdaric_missing
from ...testing._runtime_book import RESPONSE_TOO_LARGE
from ...testing._runtime_process import RUNTIME_MODE_VARIABLES, link_runtime_packages
from .._common import CommandError
from ..logformat import level_name
from .lambda_report import (
    LambdaCall,
    LambdaReport,
    LogStream,
    call_summary,
    show_calls,
    warn_slow_init,
)
from .plan import Plan, create_job, fixtures_file, job_uuids
from .report import artifact_sizes, read_outcome, report_init_failure
from .runtime import RuntimeSandbox, runtime_command, task_environment_path
from .sandbox import (
    INIT_LIMIT_S,
    INIT_TIMED_OUT,
    Function,
    Ran,
    child_environ,
    environment,
    function_settings,
    init_timed_out_message,
    sigterm_as_interrupt,
)
from .task import mismatch_hint, task_root

if TYPE_CHECKING:
    from ...testing import Backend, Job

_TICK_S = 0.01  # how often the memory, the process and the clock are looked at
_BACK_AT_NEXT_S = 5.0  # how long a warm process may take to poll /next again
_OUT_OF_MEMORY = "Runtime.OutOfMemory"
_EXIT_ERROR = "Runtime.ExitError"


def run_lambda(
    plan: Plan, log_level: str | None, *, json_mode: bool, all_charges: bool = False
) -> int:
    """Run the plan's jobs under awslambdaric; print what happened; the exit status."""
    missing = awslambdaric_missing()
    if missing is not None:
        raise CommandError(f"--lambda: {missing}")
    from ...testing import Backend

    backend = Backend(
        secret=f"cli-{secrets.token_urlsafe(18)}",
        directory=plan.out if plan.emulate else None,
        charge_limit=plan.charge_limit if plan.emulate else None,
    )
    # The unpacked zip, the fixtures written for the run and the function's /tmp:
    # removed at the end, whatever happened.
    scratch = tempfile.mkdtemp(prefix="seekapi-run-")
    calls: list[LambdaCall] = []
    try:
        backend.start()
        plans = [replace(plan, job_uuid=job_uuid) for job_uuid in job_uuids(plan)]
        jobs = [create_job(backend, each) for each in plans]
        setup = _setup(plan, backend, scratch, log_level)
        function = setup.function
        with RuntimeAPI(
            function_name=function.name, region=function.region, memory_mb=function.memory_mb
        ) as api:
            setup.env["AWS_LAMBDA_RUNTIME_API"] = api.address
            driver = _Driver(api, setup, plan, json_mode, all_charges)
            if not json_mode:
                driver.log.write(f"Handler:   {setup.display}")
            try:
                with sigterm_as_interrupt():
                    for each, job in zip(plans, jobs, strict=True):
                        call = driver.invoke(each, job)
                        if isinstance(call, Ran):
                            hint = _init_hint(plan, setup, call)
                            return report_init_failure(each, call, json_mode=json_mode, hint=hint)
                        calls.append(call)
            finally:
                driver.close()
    finally:
        _stop(backend)
        shutil.rmtree(scratch, ignore_errors=True)
    return show_calls(plan, setup.display, calls, json_mode=json_mode)


@dataclass
class _Setup:
    """How the function's processes are started."""

    function: Function
    env: dict[str, str]
    command: list[str]
    root: str
    display: str


def _setup(plan: Plan, backend: Backend, scratch: str, log_level: str | None) -> _Setup:
    assert plan.task is not None
    root = task_root(plan.task, scratch)
    fixtures = fixtures_file(plan, scratch)
    function, lambda_env = function_settings(plan.spec, os.environ, plan.memory_mb)
    temp = os.path.join(scratch, "tmp")
    os.mkdir(temp)
    # A zip runs as in Lambda with nothing but what it holds, the standard library and
    # the runtime on its path; a folder with this Python's packages too.
    isolated = plan.task.kind == "zip"
    runtime_dir = str(link_runtime_packages(os.path.join(scratch, "runtime"))) if isolated else None
    changes: dict[str, str | None] = {
        **environment(plan, backend.env, fixtures, backend.url),
        **lambda_env,
        **dict.fromkeys(RUNTIME_MODE_VARIABLES),
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
        "_HANDLER": plan.task.handler,
        "LAMBDA_TASK_ROOT": root,
        "LAMBDA_RUNTIME_DIR": runtime_dir,
        "PYTHONPATH": task_environment_path(root, runtime_dir),
        "TZ": ":UTC",
        "TMPDIR": temp,
        "TEMP": temp,
        "TMP": temp,
    }
    level = lambda_log_level(log_level, os.environ)
    if level is not None:
        changes["AWS_LAMBDA_LOG_LEVEL"] = level
    elif level_name(os.environ.get("AWS_LAMBDA_LOG_LEVEL")) is None:
        changes["AWS_LAMBDA_LOG_LEVEL"] = None  # not a level: as if unset, as without --lambda
    display = f"{plan.task.display} ({plan.task.kind}, awslambdaric, {_mode(plan)})"
    return _Setup(
        function=function,
        env=child_environ(changes),
        command=[*runtime_command(isolated=isolated), plan.task.handler],
        root=root,
        display=display,
    )


def _init_hint(plan: Plan, setup: _Setup, ran: Ran) -> str | None:
    """A hint for an init failure: code built for another Python or machine."""
    timed_out = (ran.init_error or {}).get("exception") == INIT_TIMED_OUT
    if plan.task is None or plan.task.kind not in ("zip", "folder") or timed_out:
        return None
    return mismatch_hint(setup.root)


def lambda_log_level(given: str | None, environ: Mapping[str, str]) -> str | None:
    """``AWS_LAMBDA_LOG_LEVEL`` for the runtime: ``--log-level`` when given, else the one
    set already, else ``INFO`` under the JSON format (Lambda's default for it), else
    none (the runtime's root logger then stays at ``WARNING``, as in Lambda). A value
    that is not a log level is ignored, as if unset (as ``seekapi run`` without
    ``--lambda`` ignores it)."""
    if given is not None:
        return given
    if level_name(environ.get("AWS_LAMBDA_LOG_LEVEL")) is not None:
        return None  # inherited as it is
    if environ.get("AWS_LAMBDA_LOG_FORMAT", "").upper() == "JSON":
        return "INFO"
    return None


def _mode(plan: Plan) -> str:
    return "emulator" if plan.emulate else "local mode"


class _Driver:
    """Hands the jobs to a warm runtime process, one after another, replacing it when it
    died, and watches each invocation's time and memory."""

    def __init__(
        self, api: RuntimeAPI, setup: _Setup, plan: Plan, json_mode: bool, all_charges: bool
    ) -> None:
        self.api = api
        self.all_charges = all_charges
        self.setup = setup
        self.plan = plan
        self.json_mode = json_mode
        self.log = LogStream(json_mode)
        self.sandbox: RuntimeSandbox | None = None
        self.peak_mb: int | None = None
        self.answered_at: float | None = None  # when the last invocation's outcome came

    @property
    def limit_mb(self) -> int:
        return self.setup.function.memory_mb

    def close(self) -> None:
        if self.sandbox is not None:
            self.sandbox.kill()

    def invoke(self, plan: Plan, job: Job) -> LambdaCall | Ran:
        """One invocation of ``job``; a :class:`Ran` holding the error if init failed."""
        init_ms: float | None = None
        if self.sandbox is not None and not self._back_at_next(self.sandbox):
            self.sandbox.kill()
            self.sandbox = None
        if self.sandbox is None or self.sandbox.poll() is not None:
            if self.sandbox is not None:
                self.sandbox.kill()
            self.sandbox = RuntimeSandbox(
                self.setup.command, self.setup.env, self.setup.root, json_mode=self.json_mode
            )
            self.peak_mb = None
            started = self._init(self.sandbox)
            if isinstance(started, Ran):
                return started
            init_ms = started
            warn_slow_init(init_ms)
        request_id = str(uuid.uuid4())
        before = artifact_sizes(plan.local_job_dir())
        self.log.start(request_id, self.setup.function.version)
        invocation = self.api.invoke(job.event, timeout_s=plan.timeout, request_id=request_id)
        pending = _Pending(invocation, plan.job_uuid, time.monotonic(), init_ms)
        call = self._wait(self.sandbox, pending)
        self.answered_at = invocation.responded_at_monotonic
        self.log.end(call, plan.timeout)
        call.outcome = read_outcome(plan, job, before)
        if not self.json_mode:
            self.log.write(call_summary(call, all_charges=self.all_charges))
        return call

    def _back_at_next(self, sandbox: RuntimeSandbox) -> bool:
        """Whether the warm process asked for its next invocation after the last one.

        A runtime that could not post its outcome (a response over the size limit)
        exits instead; the next invocation then gets a fresh process, as in Lambda.
        """
        since = self.answered_at
        if since is None:
            return sandbox.poll() is None
        deadline = time.monotonic() + _BACK_AT_NEXT_S
        while self.api.first_poll_after(since) is None:
            if sandbox.poll() is not None or time.monotonic() >= deadline:
                return False
            time.sleep(_TICK_S / 2)
        return True

    def _watch(self, sandbox: RuntimeSandbox) -> bool:
        """Note the process's peak memory; True (and the process killed) when over."""
        peak = sandbox.peak_memory_mb()
        if peak is not None:
            self.peak_mb = peak
        if peak is not None and peak > self.limit_mb:
            sandbox.kill()
            return True
        return False

    def _init(self, sandbox: RuntimeSandbox) -> float | Ran:
        """Milliseconds from the process's start to its first ``/next``, or the failure."""
        errors_before = len(self.api.init_errors)
        deadline = sandbox.started + INIT_LIMIT_S
        while True:
            polled = self.api.first_poll_after(sandbox.started)
            if polled is not None:
                return (polled - sandbox.started) * 1000
            now = time.monotonic()
            elapsed_ms = (now - sandbox.started) * 1000
            if self._watch(sandbox):
                return self._init_failed(
                    _OUT_OF_MEMORY, "Runtime exited with error: signal: killed", elapsed_ms
                )
            if sandbox.poll() is not None:
                errors = self.api.init_errors[errors_before:]
                if errors and isinstance(errors[-1].body, dict):
                    body: dict[str, Any] = errors[-1].body
                    stack = [str(line) for line in body.get("stackTrace") or []]
                    return self._init_failed(
                        str(body.get("errorType")),
                        str(body.get("errorMessage")),
                        elapsed_ms,
                        "".join(stack),
                        stack,
                    )
                words = sandbox.exit_words()
                return self._init_failed(
                    _EXIT_ERROR, f"Runtime exited with error: {words}", elapsed_ms
                )
            if now >= deadline:
                sandbox.kill()
                return self._init_failed(
                    INIT_TIMED_OUT,
                    init_timed_out_message(),
                    elapsed_ms,
                )
            time.sleep(_TICK_S / 2)

    def _init_failed(
        self,
        exception: str,
        message: str,
        ms: float,
        trace: str = "",
        stack: list[str] | None = None,
    ) -> Ran:
        error = {
            "exception": exception,
            "message": message,
            "traceback": trace,
            "stack_trace": stack or [],
        }
        return Ran(handler=self.setup.display, init_ms=ms, init_error=error)

    def _wait(self, sandbox: RuntimeSandbox, pending: _Pending) -> LambdaCall:
        """Wait for the runtime's answer within the timeout and the memory size."""
        invocation = pending.invocation
        timeout = self.plan.timeout
        while not invocation.wait_done(_TICK_S):
            if self._watch(sandbox):
                return self._exited(pending, _OUT_OF_MEMORY, "signal: killed")
            if sandbox.poll() is not None:
                if invocation.wait_done(0.1):  # answered just before it ended
                    break
                return self._exited(pending, _EXIT_ERROR, sandbox.exit_words())
            began = invocation.delivered_at_monotonic or pending.queued
            if time.monotonic() - began >= timeout:
                self._watch(sandbox)
                sandbox.kill()
                return self._call(
                    pending,
                    self._report(pending, status="timeout", duration_s=timeout),
                    error={"type": "timeout", "message": timed_out(timeout)},
                )
        # A response that came in a breath before the watch saw the memory go over: the
        # control group of a Lambda would have killed the process before it was sent.
        if sandbox.poll() is None and self._watch(sandbox):
            return self._exited(pending, _OUT_OF_MEMORY, "signal: killed")
        return self._answered(pending)

    def _report(
        self,
        pending: _Pending,
        *,
        status: str | None = None,
        error_type: str | None = None,
        duration_s: float | None = None,
    ) -> LambdaReport:
        """The REPORT figures; ``duration_s`` for a timeout, whose Duration Lambda gives
        as the timeout itself."""
        invocation = pending.invocation
        duration = duration_s if duration_s is not None else invocation.duration_s
        if duration is None:
            duration = time.monotonic() - (invocation.delivered_at_monotonic or pending.queued)
        return LambdaReport(
            request_id=invocation.request_id,
            duration_ms=duration * 1000,
            memory_size_mb=self.limit_mb,
            max_memory_used_mb=self.peak_mb,
            init_ms=pending.init_ms,
            status=status,
            error_type=error_type,
        )

    def _call(
        self,
        pending: _Pending,
        report: LambdaReport,
        *,
        returned: Any = None,
        error: dict[str, Any] | None = None,
    ) -> LambdaCall:
        return LambdaCall(
            job_uuid=pending.job_uuid,
            request_id=pending.invocation.request_id,
            report=report,
            returned=returned,
            error=error,
        )

    def _exited(self, pending: _Pending, error_type: str, words: str) -> LambdaCall:
        if self.sandbox is not None:
            self.sandbox.kill()
        return self._call(
            pending,
            self._report(pending, status="error", error_type=error_type),
            error={
                "type": "exited",
                "exception": error_type,
                "message": f"Runtime exited with error: {words}",
            },
        )

    def _answered(self, pending: _Pending) -> LambdaCall:
        invocation = pending.invocation
        report = self._report(pending)
        if invocation.outcome != "response":
            return self._call(pending, report, error=lambda_error(invocation.error))
        returned = invocation.response
        if returned is None and invocation.body not in (None, b"null"):
            # Not JSON (a handler returning bytes): shown as the runtime sent it.
            returned = (invocation.body or b"").decode("utf-8", errors="replace")
        return self._call(pending, report, returned=returned)


@dataclass(frozen=True)
class _Pending:
    """An invocation handed to the runtime, and what its report needs."""

    invocation: RuntimeInvocation
    job_uuid: str
    queued: float
    init_ms: float | None


def lambda_error(body: object) -> dict[str, Any]:
    """The JSON form of an error the runtime posted (or Lambda made of the response)."""
    error = body if isinstance(body, dict) else {}
    exception = str(error.get("errorType") or "")
    kind = {
        "Runtime.MarshalError": "marshal",
        RESPONSE_TOO_LARGE: "response_too_large",
    }.get(exception, "raised")
    out: dict[str, Any] = {
        "type": kind,
        "exception": exception,
        "message": str(error.get("errorMessage") or ""),
    }
    if kind == "raised":
        out["traceback"] = "".join(str(line) for line in error.get("stackTrace") or [])
    return out


def timed_out(timeout: float) -> str:
    """Lambda's words for an invocation that outlived the function's timeout."""
    return f"Task timed out after {timeout:.2f} seconds"


def _stop(backend: Backend) -> None:
    import sys

    try:
        backend.stop()
    except RuntimeError as exc:  # serving threads that would not end
        sys.stderr.write(f"seekapi run: {exc}\n")
