"""``seekapi run``: run a handler once, as AWS Lambda would, and show what the job produced.

The input is served by an in-process :class:`seekapi.testing.Backend` on 127.0.0.1, so
``get_input`` fetches it over HTTP. In local mode (the default) pushes, files and charges
go to the local-mode artifacts folder; with ``--emulate`` they go over the network path to
that same backend, which records them.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import secrets
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING, Any

from ._cli_common import (
    EXIT_FAILED,
    EXIT_OK,
    CommandError,
    display_path,
    dumps,
    emit_json,
    parse_json,
    read_json_file,
    setup_logging,
)
from ._cli_handler import HandlerImportError, HandlerSpec, load_handler, parse_handler
from ._settings import (
    ENV_API_BASE,
    ENV_LOCAL_DIR,
    ENV_LOCAL_FIXTURES,
    ENV_LOCAL_MODE,
    ENV_SECRET,
    LOCAL_DEFAULT_DIRNAME,
)

if TYPE_CHECKING:
    from .testing import Job

_RESULT_CHARS = 4000
_ONE_LINE = 100


@dataclass
class Invocation:
    """What happened when the handler was called."""

    returned: Any = None
    raised: BaseException | None = None
    timed_out: bool = False
    duration_ms: float = 0.0


@dataclass
class FileInfo:
    """A file the job pushed."""

    name: str
    size: int | None
    content_type: str
    path: str

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "size": self.size,
            "content_type": self.content_type,
            "path": self.path,
        }


@dataclass
class Outcome:
    """What the job left behind: its result, files and charges."""

    result: Any = None
    pushes: int = 0
    files: list[FileInfo] = field(default_factory=list)
    charges: list[dict[str, Any]] = field(default_factory=list)
    metered_event_count: int = 0
    limit_reached: bool = False
    artifacts: str | None = None


@dataclass(frozen=True)
class _Plan:
    spec: HandlerSpec
    input: Any
    timeout: float
    job_uuid: str
    out: str
    fixtures: str | None
    fixtures_content: dict[str, object] | None  # checked, with charge_limit in local mode
    emulate: bool
    charge_limit: int | None


def run_command(args: argparse.Namespace) -> int:
    """``seekapi run``: see :func:`seekapi.cli.build_parser` for the options."""
    plan = _plan(args)
    setup_logging(getattr(logging, args.log_level))
    from .testing import Backend, reset_sdk_state

    backend = Backend(
        secret=f"cli-{secrets.token_urlsafe(18)}",
        directory=plan.out if plan.emulate else None,
        charge_limit=plan.charge_limit if plan.emulate else None,
    )
    backend.start()
    fixtures_file: str | None = None
    try:
        job = backend.create_job(plan.input, job_uuid=plan.job_uuid)
        if plan.fixtures_content is not None and plan.charge_limit is not None:
            # The limit is a fixture in local mode: the file given, plus the limit.
            fixtures_file = _write_fixtures(plan.fixtures_content)
        env = _environment(plan, backend.env, fixtures_file or plan.fixtures, backend.url)
        local_job_dir = None if plan.emulate else _local_job_dir(plan)
        before = _sizes(local_job_dir)
        reset_sdk_state()
        from .testing import FakeLambdaContext

        init_error: HandlerImportError | None = None
        with _patched_environ(env), _stdout_to_stderr(args.json):
            # Lambda sets the environment before its init phase imports the handler.
            init_started = time.perf_counter()
            try:
                fn = load_handler(plan.spec)
            except HandlerImportError as exc:
                init_error = exc
            else:
                init_ms = (time.perf_counter() - init_started) * 1000
                context = FakeLambdaContext(timeout_s=plan.timeout)
                invocation = _invoke(fn, dict(job.event), context, plan.timeout)
            reset_sdk_state()
        if init_error is not None:
            return _report_init_failure(args, plan, init_error)
        if local_job_dir is not None:
            outcome = _local_outcome(local_job_dir, before, plan)
        else:
            outcome = _emulated_outcome(job)
    finally:
        backend.stop()
        if fixtures_file is not None:
            with contextlib.suppress(OSError):
                os.unlink(fixtures_file)
    report = _report(context, invocation, init_ms)
    code = _exit_code(invocation)
    if args.json:
        emit_json(
            _json_summary(
                plan,
                request_id=context.aws_request_id,
                invocation=invocation,
                outcome=outcome,
                report=report,
                code=code,
            )
        )
    else:
        _print_summary(plan, invocation, outcome, report)
    return code


# -- arguments ---------------------------------------------------------------------------


def _plan(args: argparse.Namespace) -> _Plan:
    spec = parse_handler(args.handler)
    if args.input is not None:
        value = parse_json(args.input, "--input")
    else:
        value = read_json_file(args.input_file, "--input-file")
    job_uuid = args.job_uuid if args.job_uuid is not None else f"local-{secrets.token_hex(4)}"
    if not job_uuid.strip():
        raise CommandError("--job-uuid must not be blank")
    out = os.path.abspath(args.out or LOCAL_DEFAULT_DIRNAME)
    if os.path.exists(out) and not os.path.isdir(out):
        raise CommandError(f"--out {args.out} exists and is not a folder")
    fixtures = os.path.abspath(args.fixtures) if args.fixtures else None
    if args.emulate and fixtures is not None:
        raise CommandError(
            "--fixtures applies to local mode only; with --emulate the emulator answers"
        )
    local_limit = None if args.emulate else args.charge_limit
    fixtures_content = None
    if fixtures is not None or local_limit is not None:
        fixtures_content = _fixtures(fixtures, local_limit)
    return _Plan(
        spec=spec,
        input=value,
        timeout=args.timeout,
        job_uuid=job_uuid,
        out=out,
        fixtures=fixtures,
        fixtures_content=fixtures_content,
        emulate=args.emulate,
        charge_limit=args.charge_limit,
    )


def _fixtures(path: str | None, charge_limit: int | None) -> dict[str, object]:
    """The fixtures to run with: the file's (checked now), plus ``charge_limit`` if given."""
    from ._local import load_fixtures
    from .errors import ConfigurationError

    content: dict[str, object] = {}
    if path is not None:
        try:
            content = load_fixtures(path)
        except ConfigurationError as exc:
            raise CommandError(str(exc)) from None
        _check_fixtures(content, path)
    if charge_limit is not None:
        if "charge" in content:
            raise CommandError(
                "--charge-limit cannot be used with a fixtures file that has a fixed"
                " 'charge' answer"
            )
        content["charge_limit"] = charge_limit
    return content


def _check_fixtures(content: Mapping[str, object], path: str) -> None:
    """Refuse now what local mode would refuse at the first call (docs/local-mode.md)."""
    where = f"the fixtures file {path}"
    for key in ("get_job", "charge"):
        if key in content and not isinstance(content[key], dict):
            raise CommandError(f"{key!r} in {where} must be a JSON object")
    if "charge_limit" in content:
        limit = content["charge_limit"]
        if type(limit) is not int or limit < 1:
            raise CommandError(f"'charge_limit' in {where} must be a positive integer")
        if "charge" in content:
            raise CommandError(f"{where} has both 'charge' and 'charge_limit'; keep one")


def _write_fixtures(content: dict[str, object]) -> str:
    import tempfile

    fd, path = tempfile.mkstemp(prefix="seekapi-fixtures-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(dumps(content))
    return path


# -- environment -------------------------------------------------------------------------


def _environment(
    plan: _Plan, backend_env: Mapping[str, str], fixtures: str | None, backend_url: str
) -> dict[str, str | None]:
    """The variables to set (a value) or remove (``None``) for the call."""
    env: dict[str, str | None]
    if plan.emulate:
        env = {
            ENV_LOCAL_MODE: None,
            ENV_LOCAL_DIR: None,
            ENV_LOCAL_FIXTURES: None,
            **backend_env,
        }
    else:
        # Without the backend variables, a worker that skipped local mode would push
        # somewhere real; local mode must not depend on them being unset by the user.
        env = {
            ENV_LOCAL_MODE: "1",
            ENV_LOCAL_DIR: plan.out,
            ENV_LOCAL_FIXTURES: fixtures,
            ENV_API_BASE: None,
            ENV_SECRET: None,
        }
    env.update(_no_proxy_for(backend_url))
    return env


def _no_proxy_for(url: str) -> dict[str, str | None]:
    """Keep a configured HTTP proxy away from the loopback backend."""
    from urllib.parse import urlsplit

    host = urlsplit(url).hostname or "127.0.0.1"
    # The lower-case variable wins when it is set (see seekapi._proxy).
    name = "no_proxy" if "no_proxy" in os.environ else "NO_PROXY"
    current = os.environ.get(name, "")
    if host in [item.strip() for item in current.split(",")]:
        return {}
    return {name: f"{current},{host}" if current.strip() else host}


@contextlib.contextmanager
def _patched_environ(changes: Mapping[str, str | None]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in changes}
    try:
        for name, value in changes.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


@contextlib.contextmanager
def _stdout_to_stderr(enabled: bool) -> Iterator[None]:
    """With ``--json``, keep what the worker prints off standard output."""
    if not enabled:
        yield
        return
    sys.stdout.flush()
    saved_fd: int | None = None
    try:
        if sys.stdout.fileno() == 1:
            saved_fd = os.dup(1)
            os.dup2(sys.stderr.fileno(), 1)
    except (OSError, ValueError, AttributeError):
        saved_fd = None  # not a real descriptor (captured output): Python-level only
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stderr.flush()
        if saved_fd is not None:
            os.dup2(saved_fd, 1)
            os.close(saved_fd)


# -- the call ----------------------------------------------------------------------------


class _TaskTimedOut(BaseException):
    """Raised into the handler when the Lambda timeout passes, as Lambda ends the call."""


def _invoke(
    fn: Callable[..., Any], event: dict[str, Any], context: object, timeout: float
) -> Invocation:
    """Call ``fn(event, context)``, ending it like Lambda when ``timeout`` passes.

    Lambda stops the whole sandbox at the timeout; here a SIGINT sent to the main thread
    raises :class:`_TaskTimedOut` in the handler. Outside the main thread there is no
    such stop: the handler runs to its end.
    """
    invocation = Invocation()
    guard = _TimeoutGuard(timeout)
    started = time.perf_counter()
    try:
        with guard:
            try:
                invocation.returned = fn(event, context)
            finally:
                guard.done()
    except _TaskTimedOut:
        invocation.timed_out = True
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - reported as the handler's failure
        # The traceback starts at the handler, as Lambda shows it.
        tb = exc.__traceback__
        invocation.raised = exc.with_traceback(tb.tb_next if tb is not None else None)
    invocation.duration_ms = (time.perf_counter() - started) * 1000
    if guard.fired and invocation.raised is not None:
        # The SIGINT arrived while the handler was already unwinding from something else.
        invocation.timed_out = True
    return invocation


class _TimeoutGuard:
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.fired = False
        self._finished = False
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._previous: Any = None
        self._main_id = threading.main_thread().ident
        self._active = threading.current_thread() is threading.main_thread()

    def __enter__(self) -> _TimeoutGuard:
        if self._active:
            self._previous = signal.signal(signal.SIGINT, self._on_sigint)
            self._timer = threading.Timer(self.timeout, self._fire)
            self._timer.daemon = True
            self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done()
        if self._timer is not None:
            self._timer.cancel()
        if self._active:
            signal.signal(signal.SIGINT, self._previous)

    def done(self) -> None:
        with self._lock:
            self._finished = True

    def _fire(self) -> None:
        with self._lock:
            if self._finished:
                return
            self.fired = True
        if hasattr(signal, "pthread_kill") and self._main_id is not None:
            signal.pthread_kill(self._main_id, signal.SIGINT)
        else:  # pragma: no cover - Windows
            import _thread

            _thread.interrupt_main()

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        if self.fired:
            with self._lock:
                if self._finished:
                    return  # late: the handler has already returned
            raise _TaskTimedOut
        raise KeyboardInterrupt


def _exit_code(invocation: Invocation) -> int:
    if invocation.raised is not None or invocation.timed_out:
        return EXIT_FAILED
    returned = invocation.returned
    ok = isinstance(returned, Mapping) and returned.get("ok") is True
    return EXIT_OK if ok else EXIT_FAILED


def _report_init_failure(args: argparse.Namespace, plan: _Plan, exc: HandlerImportError) -> int:
    cause = exc.__cause__ or exc
    text = "".join(traceback.format_exception(type(cause), cause, cause.__traceback__))
    sys.stderr.write(f"seekapi run: importing the handler failed\n{text}")
    sys.stderr.flush()
    if args.json:
        emit_json(
            {
                "ok": False,
                "exit_code": EXIT_FAILED,
                "mode": "emulate" if plan.emulate else "local",
                "handler": plan.spec.display,
                "job_uuid": plan.job_uuid,
                "error": {
                    "type": "init",
                    "exception": type(cause).__name__,
                    "message": str(cause),
                    "traceback": text,
                },
            }
        )
    return EXIT_FAILED


# -- what the job left -------------------------------------------------------------------


def _local_job_dir(plan: _Plan) -> str:
    from ._local import safe_name

    return os.path.join(plan.out, safe_name(plan.job_uuid, "unknown-job"))


_ARTIFACTS = ("data_pushes.jsonl", "file_pushes.jsonl", "charges.jsonl")


def _sizes(job_dir: str | None) -> dict[str, int]:
    """The size of each ``.jsonl`` artifact now, to tell this run's lines from earlier ones."""
    sizes: dict[str, int] = {}
    if job_dir is None:
        return sizes
    for name in _ARTIFACTS:
        try:
            sizes[name] = os.path.getsize(os.path.join(job_dir, name))
        except OSError:
            sizes[name] = 0
    return sizes


def _jsonl(path: str, offset: int = 0) -> list[dict[str, Any]]:
    import json

    try:
        with open(path, "rb") as file:
            file.seek(offset)
            raw = file.read()
    except OSError:
        return []
    records = []
    for line in raw.split(b"\n"):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def _local_outcome(job_dir: str, before: Mapping[str, int], plan: _Plan) -> Outcome:
    import json

    outcome = Outcome(artifacts=job_dir if os.path.isdir(job_dir) else None)
    pushes = _jsonl(os.path.join(job_dir, "data_pushes.jsonl"), before.get("data_pushes.jsonl", 0))
    outcome.pushes = len(pushes)
    if pushes:
        try:
            with open(os.path.join(job_dir, "response_json.json"), encoding="utf-8") as file:
                outcome.result = json.load(file)
        except (OSError, ValueError):
            outcome.result = pushes[-1].get("data")
    for record in _jsonl(
        os.path.join(job_dir, "file_pushes.jsonl"), before.get("file_pushes.jsonl", 0)
    ):
        size = record.get("size_bytes")
        outcome.files.append(
            FileInfo(
                name=str(record.get("name", "")),
                size=size if isinstance(size, int) else None,
                content_type=str(record.get("content_type", "")),
                path=str(record.get("stored_path", "")),
            )
        )
    ledger = os.path.join(job_dir, "charges.jsonl")
    outcome.charges = [
        _charge_view(record) for record in _jsonl(ledger, before.get("charges.jsonl", 0))
    ]
    outcome.metered_event_count = sum(
        record["count"] for record in _jsonl(ledger) if isinstance(record.get("count"), int)
    )
    outcome.limit_reached = _local_limit_reached(plan, outcome.metered_event_count)
    return outcome


def _local_limit_reached(plan: _Plan, metered: int) -> bool:
    fixtures: Mapping[str, object] = plan.fixtures_content or {}
    limit = fixtures.get("charge_limit")
    if isinstance(limit, int):
        return metered >= limit
    fixed = fixtures.get("charge")
    return isinstance(fixed, Mapping) and fixed.get("limit_reached") is True


def _charge_view(record: Mapping[str, Any]) -> dict[str, Any]:
    view = {"idempotency_key": record.get("idempotency_key"), "count": record.get("count")}
    if record.get("justification") is not None:
        view["justification"] = record["justification"]
    return view


def _emulated_outcome(job: Job) -> Outcome:
    return Outcome(
        artifacts=str(job.directory),
        result=job.result,
        pushes=len(job.pushes),
        files=[
            FileInfo(name=f.name, size=f.size, content_type=f.content_type, path=f.path)
            for f in job.files
        ],
        charges=[_charge_view(c) for c in job.charges],
        metered_event_count=job.metered_event_count,
        limit_reached=job.limit_reached,
    )


# -- the report --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Report:
    request_id: str
    duration_ms: float
    billed_ms: int
    memory_size_mb: int
    max_memory_used_mb: int | None
    init_ms: float
    timed_out: bool

    def line(self) -> str:
        used = "?" if self.max_memory_used_mb is None else str(self.max_memory_used_mb)
        text = (
            f"REPORT RequestId: {self.request_id}\tDuration: {self.duration_ms:.2f} ms"
            f"\tBilled Duration: {self.billed_ms} ms\tMemory Size: {self.memory_size_mb} MB"
            f"\tMax Memory Used: {used} MB\tInit Duration: {self.init_ms:.2f} ms"
        )
        return text + ("\tStatus: timeout" if self.timed_out else "")

    def to_json(self) -> dict[str, object]:
        return {
            "request_id": self.request_id,
            "duration_ms": round(self.duration_ms, 2),
            "billed_duration_ms": self.billed_ms,
            "memory_size_mb": self.memory_size_mb,
            "max_memory_used_mb": self.max_memory_used_mb,
            "init_duration_ms": round(self.init_ms, 2),
            "timed_out": self.timed_out,
        }


def _report(context: Any, invocation: Invocation, init_ms: float) -> _Report:
    return _Report(
        request_id=context.aws_request_id,
        duration_ms=invocation.duration_ms,
        billed_ms=max(1, math.ceil(invocation.duration_ms)),
        memory_size_mb=context.memory_limit_in_mb,
        max_memory_used_mb=max_memory_used_mb(),
        init_ms=init_ms,
        timed_out=invocation.timed_out,
    )


def max_memory_used_mb() -> int | None:
    """The process's peak resident memory in MB (rounded up), or ``None`` if unknown."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as file:
            for line in file:
                if line.startswith("VmHWM:"):
                    return math.ceil(int(line.split()[1]) / 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak_bytes = peak if sys.platform == "darwin" else peak * 1024
    return math.ceil(peak_bytes / (1024 * 1024))


def _error_json(invocation: Invocation, timeout: float) -> dict[str, object] | None:
    if invocation.timed_out:
        return {"type": "timeout", "message": _timed_out_message(timeout)}
    exc = invocation.raised
    if exc is None:
        return None
    return {
        "type": "raised",
        "exception": type(exc).__name__,
        "message": str(exc),
        "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
    }


def _timed_out_message(timeout: float) -> str:
    return f"Task timed out after {timeout:.2f} seconds"


def _json_summary(
    plan: _Plan,
    *,
    request_id: str,
    invocation: Invocation,
    outcome: Outcome,
    report: _Report,
    code: int,
) -> dict[str, object]:
    return {
        "ok": code == EXIT_OK,
        "exit_code": code,
        "mode": "emulate" if plan.emulate else "local",
        "handler": plan.spec.display,
        "job_uuid": plan.job_uuid,
        "request_id": request_id,
        "returned": invocation.returned,
        "error": _error_json(invocation, plan.timeout),
        "result": outcome.result,
        "pushes": outcome.pushes,
        "files": [f.to_json() for f in outcome.files],
        "charges": outcome.charges,
        "metered_event_count": outcome.metered_event_count,
        "limit_reached": outcome.limit_reached,
        "artifacts": outcome.artifacts,
        "report": report.to_json(),
    }


def _print_summary(plan: _Plan, invocation: Invocation, outcome: Outcome, report: _Report) -> None:
    if invocation.raised is not None:
        exc = invocation.raised
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        sys.stderr.write(f"seekapi run: the handler raised\n{text}")
        sys.stderr.flush()
    out: list[str] = []
    mode = "emulator" if plan.emulate else "local mode"
    out.append(f"Handler:   {plan.spec.display} ({mode}, job {plan.job_uuid})")
    if invocation.timed_out:
        out.append(f"Returned:  nothing: {_timed_out_message(plan.timeout)}")
    elif invocation.raised is not None:
        exc = invocation.raised
        out.append(f"Returned:  nothing: raised {type(exc).__name__}: {exc}")
    else:
        out.append(f"Returned:  {dumps(invocation.returned)}")
    if outcome.pushes:
        shown = _shown_result(outcome.result, outcome.artifacts)
        pushes = f" ({outcome.pushes} pushes, the last one wins)" if outcome.pushes > 1 else ""
        label = "Result:" if shown.startswith("\n") else "Result:    "
        out.append(f"{label}{shown}{pushes}")
    else:
        out.append("Result:    nothing pushed")
    if outcome.files:
        out.append(f"Files:     {len(outcome.files)}")
        out.extend(
            f"  {f.name}  {_size(f.size)}  {f.content_type}  {display_path(f.path)}"
            for f in outcome.files
        )
    else:
        out.append("Files:     none")
    if outcome.charges or outcome.metered_event_count:
        out.append(f"Charges:   {len(outcome.charges)}")
        out.extend(f"  {c['idempotency_key']}  x{c['count']}" for c in outcome.charges)
        out.append(
            f"  metered total {outcome.metered_event_count};"
            f" limit reached: {'yes' if outcome.limit_reached else 'no'}"
        )
    else:
        out.append("Charges:   none")
    if outcome.artifacts is not None:
        out.append(f"Artifacts: {display_path(outcome.artifacts)}{os.sep}")
    out.append(report.line())
    sys.stdout.write("\n".join(out) + "\n")
    sys.stdout.flush()


def _shown_result(result: Any, artifacts: str | None) -> str:
    text = dumps(result)
    if len(text) > _ONE_LINE:
        text = "\n" + "\n".join("  " + line for line in dumps(result, indent=2).split("\n"))
    if len(text) > _RESULT_CHARS:
        where = (
            f"the whole of it is in {display_path(os.path.join(artifacts, 'response_json.json'))}"
            if artifacts is not None
            else "use --json for the whole of it"
        )
        text = f"{text[:_RESULT_CHARS]}\n  ... ({len(dumps(result))} characters; {where})"
    return text


def _size(size: int | None) -> str:
    if size is None:
        return "? bytes"
    return f"{size:,} bytes" if size != 1 else "1 byte"
