"""Where ``seekapi run`` runs a handler: the function's environment and a process of its own.

As Lambda runs a function in a sandbox, the handler runs in a Python process started for
the run (:mod:`seekapi._cli.run.invoke`) with the environment Lambda would give it, and
this process's own environment is left as it was. The import may take
:data:`INIT_LIMIT_S`, the call the plan's timeout; past either, the process and its
process group (what it started, unless a process left the group) are killed, so
nothing the handler does can keep ``seekapi run`` going.
"""

from __future__ import annotations

import contextlib
import json
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
from typing import IO, Any

from ..._settings import (
    ENV_API_BASE,
    ENV_LOCAL_DIR,
    ENV_LOCAL_FIXTURES,
    ENV_LOCAL_MODE,
    ENV_SECRET,
)
from .._common import CommandError
from .handler import HandlerSpec, lambda_setting
from .invoke import CHANNEL_ENV, Channel, peak_memory_mb
from .plan import Plan, fixtures_file

INIT_LIMIT_S = 10.0
"""Seconds the handler's import may take: Lambda's limit on a function's init phase."""

INIT_TIMED_OUT = "Sandbox.Timedout"
"""The error type of an init phase that outlived :data:`INIT_LIMIT_S`."""


def init_timed_out_message() -> str:
    """What is said of an init phase that outlived :data:`INIT_LIMIT_S`."""
    return f"Init phase timed out after {INIT_LIMIT_S:.0f} s, Lambda's limit on the init phase"


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


@dataclass(frozen=True)
class Function:
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
class Ran:
    """What the handler's process reported."""

    handler: str
    init_ms: float = 0.0
    init_error: dict[str, Any] | None = None
    invocation: Invocation = field(default_factory=Invocation)


def prepare(
    plan: Plan, backend_env: Mapping[str, str], backend_url: str, scratch: str
) -> tuple[Function, dict[str, str]]:
    """The function's settings and the environment of the handler's process.

    ``scratch`` is the run's own folder, removed after it: the fixtures written for the
    run and the handler's ``TMPDIR`` go there.
    """
    fixtures = fixtures_file(plan, scratch)
    function, lambda_env = function_settings(plan.spec, os.environ)
    temp = os.path.join(scratch, "tmp")
    os.mkdir(temp)
    env = child_environ(
        {
            **environment(plan, backend_env, fixtures, backend_url),
            **lambda_env,
            "TMPDIR": temp,
            "TEMP": temp,
            "TMP": temp,
        }
    )
    return function, env


def environment(
    plan: Plan, backend_env: Mapping[str, str], fixtures: str | None, backend_url: str
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


def child_environ(changes: Mapping[str, str | None]) -> dict[str, str]:
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


MEMORY_RANGE_MB = (128, 10240)
"""The memory sizes Lambda allows a function, in MB."""


def environ_memory_mb(environ: Mapping[str, str]) -> int | None:
    """``AWS_LAMBDA_FUNCTION_MEMORY_SIZE`` as a number of MB, ``None`` when it is unset.

    Raises :class:`CommandError` when it is set to something Lambda would not accept:
    not a whole number, or outside 128 to 10240, as ``--memory`` is checked.
    """
    text = environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "").strip()
    if not text:
        return None
    low, high = MEMORY_RANGE_MB
    if not text.isdigit() or not low <= int(text) <= high:
        raise CommandError(
            f"AWS_LAMBDA_FUNCTION_MEMORY_SIZE is {text!r}: it must be a whole number of MB"
            f" between {low} and {high}, Lambda's range (or unset, for {_DEFAULT_MEMORY_MB})"
        )
    return int(text)


def function_settings(
    spec: HandlerSpec, environ: Mapping[str, str], memory_mb: int | None = None
) -> tuple[Function, dict[str, str]]:
    """The function's settings, and the variables Lambda would set that ``environ`` lacks.

    A variable already set is kept, and the context says the same: a shell with
    ``AWS_LAMBDA_FUNCTION_NAME=resize`` gets a context whose ``function_name`` is
    ``resize``. ``memory_mb`` (``--memory``) wins over ``AWS_LAMBDA_FUNCTION_MEMORY_SIZE``,
    which is refused (:func:`environ_memory_mb`) when it is not a size Lambda allows.
    """
    name = environ.get("AWS_LAMBDA_FUNCTION_NAME") or _DEFAULT_FUNCTION_NAME
    version = environ.get("AWS_LAMBDA_FUNCTION_VERSION") or "$LATEST"
    memory = memory_mb if memory_mb is not None else environ_memory_mb(environ)
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or _DEFAULT_REGION
    stream = f"{time.strftime('%Y/%m/%d', time.gmtime())}/[{version}]{secrets.token_hex(16)}"
    function = Function(
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


def run_handler(
    plan: Plan, env: dict[str, str], request: Mapping[str, object], *, json_mode: bool
) -> Ran:
    """Run the handler in a process of its own and gather what it reports.

    The import may take :data:`INIT_LIMIT_S`, the call ``plan.timeout``; past either,
    the process and its process group are killed. Raises :class:`CommandError` when
    the handler's file, module or function does not exist.
    """
    listener = socket.create_server(("127.0.0.1", 0))
    token = secrets.token_urlsafe(18)
    env[CHANNEL_ENV] = f"{listener.getsockname()[1]} {token}"
    streams = Streams(json_mode)
    ran = Ran(handler=plan.spec.display)
    channel: Channel | None = None
    proc = _start(env, streams, listener)
    try:
        streams.relay(proc)
        with sigterm_as_interrupt():
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
                ran.init_error = _init_error(INIT_TIMED_OUT, init_timed_out_message())
                return ran
            if _read_init(message, proc, ran) and channel is not None:
                ran.invocation = _wait_for_call(channel, proc, plan.timeout)
            return ran
    finally:
        listener.close()
        if channel is not None:
            channel.close()
        end_process(proc)
        streams.finish()


def _start(
    env: dict[str, str], streams: Streams, listener: socket.socket
) -> subprocess.Popen[bytes]:
    """The handler's process, started in a process group of its own."""
    try:
        return subprocess.Popen(  # noqa: S603 - this Python, running seekapi's own code
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


def _init_error(exception: str, message: str) -> dict[str, Any]:
    return {"exception": exception, "message": message, "traceback": ""}


def _read_init(message: dict[str, Any] | None, proc: subprocess.Popen[bytes], ran: Ran) -> bool:
    """Note in ``ran`` how the import went, from the process's first answer.

    True when the handler was imported and may be called. Raises :class:`CommandError`
    when there is no such file, module or function.
    """
    if message is None or message.get("kind") not in ("init", "init_error", "usage"):
        ran.init_error = _init_error(
            "Runtime.ExitError", f"{_ended(proc)} while importing the handler"
        )
        return False
    if message["kind"] == "usage":
        raise CommandError(str(message.get("message")))
    ran.init_ms = float(message.get("init_ms", 0.0))
    if message["kind"] == "init_error":
        keys = ("exception", "message", "traceback", "stack_trace")
        ran.init_error = {key: message.get(key) for key in keys}
        return False
    ran.handler = str(message.get("handler") or ran.handler)
    return True


def _wait_for_call(channel: Channel, proc: subprocess.Popen[bytes], timeout: float) -> Invocation:
    started = time.monotonic()
    try:
        message = channel.receive(started + timeout)
    except TimeoutError:
        # Read before the kill: a killed process has no memory left to measure.
        memory = peak_memory_mb(proc.pid)
        end_process(proc)
        return Invocation(
            timed_out=True,
            duration_ms=timeout * 1000,  # as Lambda reports a timeout: the timeout itself
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
    # The seekapi that runs this command, should the handler's Python not find it:
    # the folder holding seekapi/_cli/run/, this module's folder.
    package_parent = os.path.abspath(__file__)
    for _ in range(4):
        package_parent = os.path.dirname(package_parent)
    code = (
        f"import sys; sys.path.append({package_parent!r});"
        " from seekapi._cli.run.invoke import main; main()"
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


def end_process(proc: subprocess.Popen[bytes]) -> None:
    """Kill the handler's process and its process group (what it started, unless that
    left the group), and reap it."""
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
def sigterm_as_interrupt() -> Iterator[None]:
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


class Streams:
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
