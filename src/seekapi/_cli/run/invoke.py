"""The process ``seekapi run`` runs a handler in, as Lambda runs it in a sandbox of its own.

``seekapi run`` starts ``python -c "from seekapi._cli.run.invoke import main; main()"`` with
the function's environment. The process connects back to ``seekapi run`` on a loopback
socket (port and token in :data:`CHANNEL_ENV`, removed from the environment before the
handler is imported) and exchanges one JSON object per line:

- it sends ``{"kind": "hello", "token"}`` and receives the plan: the handler, the event,
  the timeout, the request id, the function's settings and the log level;
- it imports the handler and sends ``{"kind": "init", "init_ms", "handler"}``, or
  ``{"kind": "init_error", ...}`` when the module's code raised, or
  ``{"kind": "usage", "message"}`` when there is no such file, module or function;
- it calls the handler and sends ``{"kind": "done", "duration_ms", "returned_json",
  "error", "max_memory_mb"}``, then ends at once, whatever threads the handler left.

``seekapi run`` enforces the timeouts: the process is killed, with everything it
started, when the call outlives the timeout, as Lambda ends a sandbox.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import socket
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from typing import Any

CHANNEL_ENV = "SEEKAPI_RUN_CHANNEL"
"""The variable holding ``PORT TOKEN`` for the process to connect back with."""


class Channel:
    """One JSON object per line, each way, over a connected socket."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = bytearray()

    def send(self, message: Mapping[str, object]) -> None:
        """Send ``message``; it must be plain JSON (no NaN)."""
        line = json.dumps(message, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        self._sock.sendall(line.encode("utf-8") + b"\n")

    def receive(self, deadline: float | None = None) -> dict[str, Any] | None:
        """The next object, ``None`` at the end of the stream.

        ``deadline`` is a :func:`time.monotonic` time; past it :class:`TimeoutError` is
        raised. A line that is not a JSON object raises :class:`ValueError`.
        """
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[: end + 1]
                value = json.loads(line)
                if not isinstance(value, dict):
                    raise ValueError("a message that is not a JSON object")
                return value
            if deadline is None:
                self._sock.settimeout(None)
            else:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                self._sock.settimeout(left)
            try:
                chunk = self._sock.recv(65536)
            except OSError as exc:
                if isinstance(exc, TimeoutError):  # socket.timeout, since Python 3.10
                    raise
                return None
            if not chunk:
                return None
            self._buffer += chunk

    def close(self) -> None:
        self._sock.close()


def peak_memory_mb(pid: int | None = None) -> int | None:
    """The peak resident memory of process ``pid`` (default: this one) in MB, rounded up.

    ``VmHWM`` from ``/proc/PID/status``; for this process without ``/proc``,
    ``getrusage``. ``None`` when it cannot be known.
    """
    try:
        with open(f"/proc/{pid or 'self'}/status", encoding="ascii", errors="replace") as file:
            for line in file:
                if line.startswith("VmHWM:"):
                    return math.ceil(int(line.split()[1]) / 1024)
    except (OSError, ValueError, IndexError):
        pass
    if pid is not None:
        return None
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak_bytes = peak if sys.platform == "darwin" else peak * 1024
    return math.ceil(peak_bytes / (1024 * 1024))


def exit_message(code: object, when: str) -> str:
    """What it means that ``sys.exit(code)`` was called ``when`` (importing, calling)."""
    return (
        f"sys.exit({code!r}) was called while {when}: in Lambda it ends the runtime"
        " process and the invocation fails (Runtime.ExitError)"
    )


def main() -> None:
    """Run the handler ``seekapi run`` asks for, report over the channel, and end."""
    port, _, token = os.environ.pop(CHANNEL_ENV, "").partition(" ")
    # The handler sees the path Lambda would give it, not the folder this was started in.
    if sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]
    try:
        sock = socket.create_connection(("127.0.0.1", int(port)), timeout=10)
    except (OSError, ValueError):
        sys.stderr.write("seekapi run: the handler's process could not reach seekapi run\n")
        os._exit(3)
    channel = Channel(sock)
    try:
        channel.send({"kind": "hello", "token": token})
        plan = channel.receive(time.monotonic() + 10)
        if plan is not None:
            _serve(channel, plan)
    except Exception:  # noqa: BLE001 - shown, then the process ends; seekapi run reports it
        traceback.print_exc()
    finally:
        _flush()
        # Threads the handler started, atexit hooks and the like must not hold the run.
        os._exit(0)


def _serve(channel: Channel, plan: Mapping[str, Any]) -> None:
    import logging

    from .._common import setup_logging

    # As the Lambda runtime does: what the handler prints is not held in a buffer.
    with contextlib.suppress(AttributeError, ValueError, OSError):
        sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    # The format AWS_LAMBDA_LOG_FORMAT asks for, with the invocation's request id.
    setup_logging(getattr(logging, str(plan["log_level"])), request_id=str(plan["request_id"]))
    fn = _init(channel, plan)
    if fn is not None:
        channel.send(_call(fn, plan))


def _init(channel: Channel, plan: Mapping[str, Any]) -> Callable[..., Any] | None:
    """Import the handler and report how it went; the function, or ``None`` if it failed."""
    from .._common import CommandError
    from .handler import HandlerImportError, HandlerSpec, load_handler

    spec = HandlerSpec(**plan["handler"])
    started = time.perf_counter()
    try:
        fn, resolved = load_handler(spec)
    except CommandError as exc:
        channel.send({"kind": "usage", "message": exc.message})
        return None
    except HandlerImportError as exc:
        cause = exc.__cause__ or exc
        channel.send(
            {
                "kind": "init_error",
                "init_ms": (time.perf_counter() - started) * 1000,
                **_describe(_from_the_module(cause), "importing the handler"),
            }
        )
        return None
    channel.send(
        {
            "kind": "init",
            "init_ms": (time.perf_counter() - started) * 1000,
            "handler": resolved.display,
        }
    )
    return fn


def _call(fn: Callable[..., Any], plan: Mapping[str, Any]) -> dict[str, object]:
    """Call the handler with the plan's event and context; the ``done`` message."""
    context = _context(plan)
    event = plan["event"]
    returned_json: str | None = None
    error: dict[str, object] | None = None
    started = time.perf_counter()
    try:
        returned = fn(event, context)
    except BaseException as exc:  # noqa: BLE001 - the handler's failure, reported
        duration_ms = (time.perf_counter() - started) * 1000
        # The traceback starts at the handler, as Lambda shows it.
        tb = exc.__traceback__
        exc = exc.with_traceback(tb.tb_next if tb is not None else None)
        error = {"type": "raised", **_describe(exc, "the handler ran")}
    else:
        duration_ms = (time.perf_counter() - started) * 1000
        try:
            returned_json = _marshal(returned)
        except (TypeError, ValueError, RecursionError) as exc:
            error = {
                "type": "marshal",
                "exception": "Runtime.MarshalError",
                "message": f"the handler's return value is not valid JSON: {exc}",
            }
    _flush()
    return {
        "kind": "done",
        "duration_ms": duration_ms,
        "returned_json": returned_json,
        "error": error,
        "max_memory_mb": peak_memory_mb(),
    }


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            stream.flush()


def _from_the_module(exc: BaseException) -> BaseException:
    """``exc`` with its traceback starting at the handler's module, not at the import."""
    tb = exc.__traceback__
    here = os.path.dirname(os.path.abspath(__file__))
    while tb is not None and tb.tb_next is not None:
        filename = tb.tb_frame.f_code.co_filename
        if not (filename.startswith("<frozen") or os.path.dirname(filename) == here):
            break
        tb = tb.tb_next
    return exc.with_traceback(tb)


def _describe(exc: BaseException, when: str) -> dict[str, object]:
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    message = exit_message(exc.code, when) if isinstance(exc, SystemExit) else str(exc)
    return {
        "exception": type(exc).__name__,
        "message": message,
        "traceback": text,
        # The frames, as Lambda's JSON log format lists them in a record's stackTrace.
        "stack_trace": traceback.format_tb(exc.__traceback__),
    }


def _marshal(value: object) -> str:
    """``value`` as JSON the way the Lambda runtime sends it back, or raise.

    ``Decimal`` is sent as a number, as the runtime does; NaN, infinities and values
    JSON has no form for are refused.
    """
    decimal = sys.modules.get("decimal")

    def number(item: object) -> object:
        if decimal is not None and isinstance(item, decimal.Decimal):
            return float(item)
        raise TypeError(f"Object of type {type(item).__name__} is not JSON serializable")

    return json.dumps(value, ensure_ascii=False, allow_nan=False, default=number)


def _context(plan: Mapping[str, Any]) -> object:
    """The Lambda context, built from the function's settings ``seekapi run`` chose."""
    from ...testing import FakeLambdaContext

    function: Mapping[str, Any] = plan["function"]
    context = FakeLambdaContext(
        timeout_s=float(plan["timeout"]),
        aws_request_id=str(plan["request_id"]),
        function_name=str(function["name"]),
        memory_limit_in_mb=int(function["memory_mb"]),
    )
    context.function_version = str(function["version"])
    context.invoked_function_arn = str(function["arn"])
    context.log_group_name = str(function["log_group"])
    context.log_stream_name = str(function["log_stream"])
    return context
