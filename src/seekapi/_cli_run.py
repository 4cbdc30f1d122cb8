"""``seekapi run``: run a handler once, as AWS Lambda would, and show what the job produced.

The input is served by an in-process :class:`seekapi.testing.Backend` on 127.0.0.1, so
``get_input`` fetches it over HTTP. In local mode (the default) pushes, files and charges
go to the local-mode artifacts folder; with ``--emulate`` they go over the network path to
that same backend, which records them.

The handler runs in a process of its own (:mod:`seekapi._cli_invoke`), with the
function's environment, as Lambda runs it in a sandbox: when the call outlives the
timeout, that process is killed with everything it started, so nothing the handler does
can keep ``seekapi run`` going.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

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
from ._cli_handler import HandlerSpec, lambda_setting, parse_handler
from ._cli_invoke import CHANNEL_ENV, Channel, peak_memory_mb
from ._settings import (
    ENV_API_BASE,
    ENV_LOCAL_DIR,
    ENV_LOCAL_FIXTURES,
    ENV_LOCAL_MODE,
    ENV_SECRET,
    LOCAL_DEFAULT_DIRNAME,
)

if TYPE_CHECKING:
    from .testing import Backend, Job

_RESULT_CHARS = 4000
_ONE_LINE = 100
INIT_LIMIT_S = 10.0
"""Seconds the handler's import may take: Lambda's limit on a function's init phase."""


@dataclass
class Invocation:
    """What happened when the handler was called.

    ``error`` is ``None`` or the failure's JSON form: ``{"type": "raised", "exception",
    "message", "traceback"}``, ``{"type": "marshal", ...}`` (the return value is not
    JSON) or ``{"type": "exited", ...}`` (the process ended before the handler returned).
    """

    returned: Any = None
    error: dict[str, Any] | None = None
    timed_out: bool = False
    duration_ms: float = 0.0
    max_memory_mb: int | None = None


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


@dataclass(frozen=True)
class _Function:
    """The Lambda function's settings, as its environment variables and context give them."""

    name: str
    version: str
    memory_mb: int
    log_group: str
    log_stream: str
    region: str

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:123456789012:function:{self.name}"

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "version": self.version,
            "memory_mb": self.memory_mb,
            "log_group": self.log_group,
            "log_stream": self.log_stream,
            "arn": self.arn,
        }


@dataclass
class _Ran:
    """What the handler's process reported."""

    handler: str
    init_ms: float = 0.0
    init_error: dict[str, Any] | None = None
    invocation: Invocation = field(default_factory=Invocation)


def run_command(args: argparse.Namespace) -> int:
    """``seekapi run``: see :func:`seekapi.cli.build_parser` for the options."""
    import shutil
    import tempfile
    import uuid

    plan = _plan(args)
    setup_logging(getattr(logging, args.log_level))
    from .testing import Backend

    backend = Backend(
        secret=f"cli-{secrets.token_urlsafe(18)}",
        directory=plan.out if plan.emulate else None,
        charge_limit=plan.charge_limit if plan.emulate else None,
    )
    # The fixtures written for the run and the handler's TMPDIR: removed at the end,
    # whatever happened to the handler.
    scratch = tempfile.mkdtemp(prefix="seekapi-run-")
    try:
        backend.start()
        job = _create_job(backend, plan)
        fixtures_file: str | None = None
        if plan.fixtures_content is not None and plan.charge_limit is not None:
            # The limit is a fixture in local mode: the file given, plus the limit.
            fixtures_file = _write_fixtures(plan.fixtures_content, scratch)
        function, lambda_env = _function(plan.spec, os.environ)
        temp = os.path.join(scratch, "tmp")
        os.mkdir(temp)
        env = _child_environ(
            {
                **_environment(plan, backend.env, fixtures_file or plan.fixtures, backend.url),
                **lambda_env,
                "TMPDIR": temp,
                "TEMP": temp,
                "TMP": temp,
            }
        )
        local_job_dir = None if plan.emulate else _local_job_dir(plan)
        before = _sizes(local_job_dir)
        request_id = str(uuid.uuid4())
        ran = _run_handler(
            plan,
            env,
            {
                "handler": _spec_json(plan.spec),
                "event": dict(job.event),
                "timeout": plan.timeout,
                "request_id": request_id,
                "function": function.to_json(),
                "log_level": args.log_level,
            },
            json_mode=args.json,
        )
        if ran.init_error is not None:
            return _report_init_failure(args, plan, ran)
        if local_job_dir is not None:
            outcome = _local_outcome(local_job_dir, before, plan)
        else:
            outcome = _emulated_outcome(job)
    finally:
        try:
            backend.stop()
        except RuntimeError as exc:  # serving threads that would not end
            sys.stderr.write(f"seekapi run: {exc}\n")
        shutil.rmtree(scratch, ignore_errors=True)
    invocation = ran.invocation
    report = _Report(
        request_id=request_id,
        duration_ms=invocation.duration_ms,
        billed_ms=max(1, math.ceil(invocation.duration_ms)),
        memory_size_mb=function.memory_mb,
        max_memory_used_mb=invocation.max_memory_mb,
        init_ms=ran.init_ms,
        timed_out=invocation.timed_out,
    )
    code = _exit_code(invocation)
    if args.json:
        emit_json(
            _json_summary(
                plan,
                handler=ran.handler,
                request_id=request_id,
                invocation=invocation,
                outcome=outcome,
                report=report,
                code=code,
            )
        )
    else:
        _print_summary(plan, ran.handler, invocation, outcome, report)
    return code


def _spec_json(spec: HandlerSpec) -> dict[str, object]:
    return {
        "target": spec.target,
        "function": spec.function,
        "is_file": spec.is_file,
        "explicit_function": spec.explicit_function,
    }


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


def _write_fixtures(content: dict[str, object], folder: str) -> str:
    path = os.path.join(folder, "fixtures.json")
    with open(path, "x", encoding="utf-8") as file:
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


def _child_environ(changes: Mapping[str, str | None]) -> dict[str, str]:
    """This process's environment with ``changes`` made: set a value, remove on ``None``."""
    env = dict(os.environ)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


_DEFAULT_FUNCTION_NAME = "seekapi-worker"
_DEFAULT_MEMORY_MB = 512
_DEFAULT_REGION = "us-east-1"


def _function(spec: HandlerSpec, environ: Mapping[str, str]) -> tuple[_Function, dict[str, str]]:
    """The function's settings, and the variables Lambda would set that ``environ`` lacks.

    A variable already set is kept, and the context says the same: a shell with
    ``AWS_LAMBDA_FUNCTION_NAME=resize`` gets a context whose ``function_name`` is
    ``resize``.
    """
    name = environ.get("AWS_LAMBDA_FUNCTION_NAME") or _DEFAULT_FUNCTION_NAME
    version = environ.get("AWS_LAMBDA_FUNCTION_VERSION") or "$LATEST"
    memory_text = environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "").strip()
    memory = int(memory_text) if memory_text.isdigit() and int(memory_text) > 0 else 0
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or _DEFAULT_REGION
    stream = f"{time.strftime('%Y/%m/%d', time.gmtime())}/[{version}]{secrets.token_hex(16)}"
    function = _Function(
        name=name,
        version=version,
        memory_mb=memory or _DEFAULT_MEMORY_MB,
        log_group=environ.get("AWS_LAMBDA_LOG_GROUP_NAME") or f"/aws/lambda/{name}",
        log_stream=environ.get("AWS_LAMBDA_LOG_STREAM_NAME") or stream,
        region=region,
    )
    handler, task_root = lambda_setting(spec)
    wanted = {
        "AWS_LAMBDA_FUNCTION_NAME": function.name,
        "AWS_LAMBDA_FUNCTION_VERSION": function.version,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME": function.log_group,
        "AWS_LAMBDA_LOG_STREAM_NAME": function.log_stream,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "_HANDLER": handler,
        "LAMBDA_TASK_ROOT": task_root,
    }
    return function, {key: value for key, value in wanted.items() if not environ.get(key)}


# -- the call ----------------------------------------------------------------------------


def _run_handler(
    plan: _Plan, env: dict[str, str], request: Mapping[str, object], *, json_mode: bool
) -> _Ran:
    """Run the handler in a process of its own and gather what it reports.

    The import may take :data:`INIT_LIMIT_S`, the call ``plan.timeout``; past either,
    the process and everything it started are killed. Raises :class:`CommandError` when
    the handler's file, module or function does not exist.
    """
    listener = socket.create_server(("127.0.0.1", 0))
    token = secrets.token_urlsafe(18)
    env[CHANNEL_ENV] = f"{listener.getsockname()[1]} {token}"
    streams = _Streams(json_mode)
    ran = _Ran(handler=plan.spec.display)
    channel: Channel | None = None
    try:
        proc = subprocess.Popen(  # noqa: S603 - this Python, running seekapi's own code
            _child_command(),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=streams.stdout,
            stderr=streams.stderr,
            # Its own process group, so that a timeout ends whatever it started too.
            start_new_session=os.name == "posix",
        )
    except OSError as exc:
        listener.close()
        raise CommandError(f"cannot start Python ({sys.executable}): {exc}") from None
    try:
        streams.relay(proc)
        with _sigterm_as_interrupt():
            init_deadline = time.monotonic() + INIT_LIMIT_S
            try:
                channel = _accept(listener, proc, token, init_deadline)
                if channel is not None:
                    channel.send(request)
                    message = channel.receive(init_deadline)
                else:
                    message = None
            except ValueError:  # not the protocol: treated as a process that ended
                message = None
            except TimeoutError:
                ran.init_ms = INIT_LIMIT_S * 1000
                ran.init_error = {
                    "exception": "Sandbox.Timedout",
                    "message": f"importing the handler did not finish within"
                    f" {INIT_LIMIT_S:.0f} seconds, Lambda's limit on the init phase",
                    "traceback": "",
                }
                return ran
            if message is None or message.get("kind") not in ("init", "init_error", "usage"):
                ran.init_error = {
                    "exception": "Runtime.ExitError",
                    "message": f"{_ended(proc)} while importing the handler",
                    "traceback": "",
                }
                return ran
            if message["kind"] == "usage":
                raise CommandError(str(message.get("message")))
            ran.init_ms = float(message.get("init_ms", 0.0))
            if message["kind"] == "init_error":
                ran.init_error = {
                    key: message.get(key) for key in ("exception", "message", "traceback")
                }
                return ran
            ran.handler = str(message.get("handler") or ran.handler)
            assert channel is not None
            ran.invocation = _wait_for_call(channel, proc, plan.timeout)
            return ran
    finally:
        listener.close()
        if channel is not None:
            channel.close()
        _end(proc)
        streams.finish()


def _wait_for_call(channel: Channel, proc: subprocess.Popen[bytes], timeout: float) -> Invocation:
    started = time.monotonic()
    try:
        message = channel.receive(started + timeout)
    except TimeoutError:
        # Read before the kill: a killed process has no memory left to measure.
        memory = peak_memory_mb(proc.pid)
        _end(proc)
        return Invocation(
            timed_out=True,
            duration_ms=(time.monotonic() - started) * 1000,
            max_memory_mb=memory,
        )
    except ValueError:
        message = None
    if message is None or message.get("kind") != "done":
        duration_ms = (time.monotonic() - started) * 1000
        return Invocation(
            error={
                "type": "exited",
                "exception": "Runtime.ExitError",
                "message": f"{_ended(proc)} before the handler returned",
            },
            duration_ms=duration_ms,
        )
    returned_json = message.get("returned_json")
    memory = message.get("max_memory_mb")
    return Invocation(
        returned=None if returned_json is None else json.loads(str(returned_json)),
        error=message.get("error"),
        duration_ms=float(message.get("duration_ms", 0.0)),
        max_memory_mb=memory if isinstance(memory, int) else None,
    )


def _child_command() -> list[str]:
    # The seekapi that runs this command, should the handler's Python not find it.
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = (
        f"import sys; sys.path.append({package_parent!r});"
        " from seekapi._cli_invoke import main; main()"
    )
    return [sys.executable, "-c", code]


def _accept(
    listener: socket.socket, proc: subprocess.Popen[bytes], token: str, deadline: float
) -> Channel | None:
    """The channel the handler's process opens; ``None`` if the process ended first."""
    listener.settimeout(0.05)
    while True:
        if time.monotonic() >= deadline:
            raise TimeoutError
        try:
            sock, _ = listener.accept()
        except TimeoutError:  # socket.timeout, since Python 3.10
            if proc.poll() is not None:
                return None
            continue
        channel = Channel(sock)
        try:
            hello = channel.receive(min(deadline, time.monotonic() + 5))
        except (TimeoutError, ValueError):
            hello = None
        if hello is not None and secrets.compare_digest(str(hello.get("token")), token):
            return channel
        channel.close()  # not the process started for this run


def _ended(proc: subprocess.Popen[bytes]) -> str:
    """How the handler's process ended, for a message."""
    try:
        code = proc.wait(1)
    except subprocess.TimeoutExpired:
        return "the handler's process stopped answering"
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"the handler's process was killed by {signal.Signals(-code).name}"
    return f"the handler's process exited with status {code}"


def _end(proc: subprocess.Popen[bytes]) -> None:
    """Kill the handler's process and everything it started, and reap it."""
    if os.name == "posix":
        # The group outlives its leader while anything it started runs; its id is not
        # reused meanwhile.
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
    else:  # pragma: no cover - Windows
        with contextlib.suppress(OSError):
            proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM ends the run as Ctrl-C does, so the handler's process is ended too."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class _Streams:
    """Where the handler's process writes: this process's stdout (stderr with ``--json``)
    and stderr, shared as file descriptors, or copied through pipes when they have none
    (captured output)."""

    def __init__(self, json_mode: bool) -> None:
        self._targets: tuple[IO[str], IO[str]] = (
            sys.stderr if json_mode else sys.stdout,
            sys.stderr,
        )
        self.stdout = _descriptor(self._targets[0])
        self.stderr = _descriptor(self._targets[1])
        self._threads: list[threading.Thread] = []

    def relay(self, proc: subprocess.Popen[bytes]) -> None:
        for pipe, target in zip((proc.stdout, proc.stderr), self._targets, strict=True):
            if pipe is not None:
                thread = threading.Thread(target=_copy, args=(pipe, target), daemon=True)
                thread.start()
                self._threads.append(thread)

    def finish(self) -> None:
        for thread in self._threads:
            thread.join(2)


def _descriptor(stream: IO[str]) -> int:
    try:
        stream.flush()
        return stream.fileno()
    except (OSError, ValueError, AttributeError):
        return subprocess.PIPE


def _copy(pipe: IO[bytes], target: IO[str]) -> None:
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    with pipe, contextlib.suppress(OSError, ValueError):
        for chunk in iter(lambda: pipe.read1(65536), b""):  # type: ignore[attr-defined]
            target.write(decoder.decode(chunk))
        target.write(decoder.decode(b"", final=True))
        target.flush()


def _exit_code(invocation: Invocation) -> int:
    if invocation.error is not None or invocation.timed_out:
        return EXIT_FAILED
    returned = invocation.returned
    ok = isinstance(returned, Mapping) and returned.get("ok") is True
    return EXIT_OK if ok else EXIT_FAILED


def _report_init_failure(args: argparse.Namespace, plan: _Plan, ran: _Ran) -> int:
    error = ran.init_error or {}
    text = str(error.get("traceback") or "")
    message = str(error.get("message"))
    if message not in text:  # sys.exit() at import, a timeout, a process that ended
        text += f"{message}\n"
    sys.stderr.write(f"seekapi run: importing the handler failed\n{text}")
    sys.stderr.flush()
    if args.json:
        emit_json(
            {
                "ok": False,
                "exit_code": EXIT_FAILED,
                "mode": "emulate" if plan.emulate else "local",
                "handler": ran.handler,
                "job_uuid": plan.job_uuid,
                "error": {
                    "type": "init",
                    "exception": error.get("exception"),
                    "message": error.get("message"),
                    "traceback": error.get("traceback") or "",
                    "init_duration_ms": round(ran.init_ms, 2),
                },
            }
        )
    return EXIT_FAILED


# -- what the job left -------------------------------------------------------------------


def _create_job(backend: Backend, plan: _Plan) -> Job:
    """The run's job. With ``--emulate`` the emulator reads the job's ledger under
    ``--out``: one it cannot read is reported as a bad argument, before the handler runs."""
    from .errors import ConfigurationError

    try:
        return backend.create_job(plan.input, job_uuid=plan.job_uuid)
    except ConfigurationError as exc:
        raise CommandError(str(exc)) from None


def _local_job_dir(plan: _Plan) -> str:
    from ._local import safe_name

    return os.path.join(plan.out, safe_name(plan.job_uuid, "unknown-job"))


_ARTIFACTS = ("data_pushes.jsonl", "file_pushes.jsonl", "charges.jsonl")


def _sizes(job_dir: str | None) -> dict[str, int]:
    """The size of each ``.jsonl`` artifact now, to tell this run's lines from earlier ones.

    For the ledger, the size of its complete lines: that is where this run's first
    charge goes, an unfinished line left by a writer that died being cut off.
    """
    from ._local import CHARGES_FILE, ledger_size

    sizes: dict[str, int] = {}
    if job_dir is None:
        return sizes
    for name in _ARTIFACTS:
        path = os.path.join(job_dir, name)
        if name == CHARGES_FILE:
            sizes[name] = ledger_size(path)
            continue
        try:
            sizes[name] = os.path.getsize(path)
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
    # The ledger's one rule (seekapi._local.read_ledger), which charge() and the emulator
    # apply too: the total shown is the total they count.
    from ._local import CHARGES_FILE, read_ledger
    from .errors import ConfigurationError

    try:
        entries = read_ledger(os.path.join(job_dir, CHARGES_FILE))
    except ConfigurationError as exc:
        sys.stderr.write(f"seekapi run: cannot count the charges: {exc}\n")
        entries = []
    since = before.get(CHARGES_FILE, 0)
    outcome.charges = [
        _charge_view(
            {
                "idempotency_key": entry.idempotency_key,
                "count": entry.count,
                "justification": entry.justification,
            }
        )
        for entry in entries
        if entry.offset >= since  # billed by this run
    ]
    outcome.metered_event_count = sum(entry.count for entry in entries)
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


def _error_json(invocation: Invocation, timeout: float) -> dict[str, object] | None:
    if invocation.timed_out:
        return {"type": "timeout", "message": _timed_out_message(timeout)}
    return invocation.error


def _timed_out_message(timeout: float) -> str:
    return f"Task timed out after {timeout:.2f} seconds"


def _json_summary(
    plan: _Plan,
    *,
    handler: str,
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
        "handler": handler,
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


def _print_summary(
    plan: _Plan, handler: str, invocation: Invocation, outcome: Outcome, report: _Report
) -> None:
    error = invocation.error
    if error is not None and error.get("traceback"):
        sys.stderr.write(f"seekapi run: the handler raised\n{error['traceback']}")
        sys.stderr.flush()
    out: list[str] = []
    mode = "emulator" if plan.emulate else "local mode"
    out.append(f"Handler:   {handler} ({mode}, job {plan.job_uuid})")
    if invocation.timed_out:
        out.append(f"Returned:  nothing: {_timed_out_message(plan.timeout)}")
    elif error is not None and error.get("type") == "raised":
        out.append(f"Returned:  nothing: raised {error.get('exception')}: {error.get('message')}")
    elif error is not None:
        out.append(f"Returned:  nothing Lambda can send back: {error.get('message')}")
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
