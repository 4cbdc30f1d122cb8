"""Start ``python -m awslambdaric`` against a :class:`~seekapi.testing.RuntimeAPI`.

awslambdaric, the AWS Lambda runtime interface client, is an optional dependency
(``pip install "seekapi[lambda]"``, Linux only): seekapi never imports it. It runs in
a process of its own, as in Lambda, where it is the runtime's bootstrap.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from ._runtime_api import RuntimeAPI

__all__ = [
    "RUNTIME_MODE_VARIABLES",
    "RUNTIME_PACKAGES",
    "RuntimeProcess",
    "awslambdaric_missing",
    "link_runtime_packages",
    "start_runtime_process",
]

RUNTIME_MODE_VARIABLES = frozenset(
    {
        "AWS_LAMBDA_MAX_CONCURRENCY",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "_LAMBDA_TELEMETRY_LOG_FD",
        "_LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET",
        "AWS_EXECUTION_ENV",
    }
)
"""Variables that switch awslambdaric into other modes (several invocations at once,
SnapStart, framed telemetry logs) or change its output: never passed on."""

RUNTIME_PACKAGES = ("awslambdaric", "runtime_client", "simplejson", "snapshot_restore_py")
"""The top-level modules the runtime client needs: what Lambda's own runtime folder holds."""


def awslambdaric_missing(python: str = sys.executable) -> str | None:
    """Why ``python -m awslambdaric`` cannot run with this Python, or ``None`` if it can.

    Looked up without importing it. For another interpreter than this one, ``None``.
    """
    if os.path.realpath(python) != os.path.realpath(sys.executable):
        return None
    if importlib.util.find_spec("awslambdaric") is not None:
        return None
    hint = "" if sys.platform.startswith("linux") else " (it runs on Linux only)"
    return (
        "awslambdaric, the AWS Lambda runtime interface client, is not installed:"
        f' install seekapi[lambda] (pip install "seekapi[lambda]"){hint}'
    )


def link_runtime_packages(folder: str | Path) -> Path:
    """Make ``folder`` hold links to the runtime client's own modules and nothing else.

    With it on ``PYTHONPATH`` and ``python -S`` (no site-packages), a worker sees only
    its task root, the standard library and the runtime, as in Lambda, where the runtime
    has a folder of its own. Raises RuntimeError when awslambdaric is not installed.
    """
    missing = awslambdaric_missing()
    if missing is not None:
        raise RuntimeError(missing)
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    for name in RUNTIME_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            continue  # an optional piece of the runtime that this version does without
        origin = Path(spec.origin)
        source = origin.parent if spec.submodule_search_locations else origin
        link = target / source.name
        if not link.exists():
            link.symlink_to(source, target_is_directory=source.is_dir())
    return target


class RuntimeProcess(subprocess.Popen[bytes]):
    """A ``python -m awslambdaric`` process whose stdout and stderr go to files.

    The files are written by the child directly, so nothing blocks however much it
    prints; read them at any time, typically after :meth:`RuntimeAPI.stop`. When
    :func:`start_runtime_process` made a temporary folder for them (no ``log_dir``),
    :meth:`stop` keeps what they hold in memory and removes the folder.
    """

    stdout_path: Path
    stderr_path: Path
    _own_log_dir: Path | None = None
    _kept: tuple[bytes, bytes] | None = None

    def read_stdout(self) -> str:
        """What the process wrote to stdout so far: the handler's prints and log records.

        Read as bytes, so the ``\\r`` awslambdaric puts between the lines of one error
        record stays as it is.
        """
        raw = self._kept[0] if self._kept is not None else self.stdout_path.read_bytes()
        return raw.decode("utf-8", errors="replace")

    def read_stderr(self) -> str:
        """What the process wrote to stderr so far (tracebacks, warnings)."""
        raw = self._kept[1] if self._kept is not None else self.stderr_path.read_bytes()
        return raw.decode("utf-8", errors="replace")

    def stop(self, grace_s: float = 2.0) -> int:
        """Wait up to ``grace_s`` for the process to exit, then terminate, then kill it.

        Returns the exit status (negative: the signal that ended it). The temporary
        folder of the output files, if :func:`start_runtime_process` made one, is
        removed (their content stays readable).
        """
        try:
            with contextlib.suppress(subprocess.TimeoutExpired):
                return self.wait(timeout=grace_s)
            self.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                return self.wait(timeout=1.0)
            self.kill()
            return self.wait()
        finally:
            self._remove_log_dir()

    def _remove_log_dir(self) -> None:
        folder = self._own_log_dir
        if folder is None or self.returncode is None:
            return
        self._kept = (self.stdout_path.read_bytes(), self.stderr_path.read_bytes())
        self._own_log_dir = None
        shutil.rmtree(folder, ignore_errors=True)


def lambda_variables(runtime: RuntimeAPI, handler: str, task_root: Path) -> dict[str, str]:
    """What Lambda sets in a function's environment, for a process polling ``runtime``."""
    name = runtime.function_name
    stream = f"{time.strftime('%Y/%m/%d', time.gmtime())}/[$LATEST]{secrets.token_hex(16)}"
    return {
        "AWS_LAMBDA_RUNTIME_API": runtime.address,
        "_HANDLER": handler,
        "LAMBDA_TASK_ROOT": str(task_root),
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(runtime.memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": stream,
        "AWS_REGION": runtime.region,
        "AWS_DEFAULT_REGION": runtime.region,
        "TZ": ":UTC",
    }


def start_runtime_process(
    runtime: RuntimeAPI,
    handler: str,
    *,
    cwd: str | Path,
    env: Mapping[str, str] | None = None,
    python: str = sys.executable,
    log_dir: str | Path | None = None,
) -> RuntimeProcess:
    """Start ``python -m awslambdaric <handler>`` polling ``runtime``; return at once.

    ``cwd`` is the task root: the process runs there and it leads ``PYTHONPATH``, so
    ``handler`` (``"module.function"``) names a module in it. The environment is this
    process's, minus proxy variables and :data:`RUNTIME_MODE_VARIABLES`, plus what
    Lambda sets (``AWS_LAMBDA_RUNTIME_API``, ``_HANDLER``, ``LAMBDA_TASK_ROOT``,
    ``AWS_LAMBDA_FUNCTION_*``, ``AWS_LAMBDA_LOG_*``, ``AWS_REGION``, ``TZ``), then
    ``env`` on top (``AWS_LAMBDA_LOG_FORMAT`` and ``AWS_LAMBDA_LOG_LEVEL`` choose how
    the runtime logs). stdout and stderr go to fresh files in ``log_dir`` (default: a
    temporary folder outside ``cwd``, so that nothing is left in the worker's folder to
    be packaged; it is removed when the process is stopped), see :class:`RuntimeProcess`.
    ``runtime.stop()`` waits for the process.
    Raises RuntimeError when awslambdaric is not installed for this Python.
    """
    missing = awslambdaric_missing(python)
    if missing is not None:
        raise RuntimeError(missing)
    task_root = Path(cwd).resolve()
    logs = Path(log_dir) if log_dir is not None else Path(tempfile.mkdtemp(prefix="awslambdaric-"))
    child_env = {
        name: value
        for name, value in os.environ.items()
        if name not in RUNTIME_MODE_VARIABLES and not name.lower().endswith("_proxy")
    }
    python_path = [str(task_root)]
    if child_env.get("PYTHONPATH"):
        python_path.append(child_env["PYTHONPATH"])
    child_env.update(lambda_variables(runtime, handler, task_root))
    child_env["PYTHONPATH"] = os.pathsep.join(python_path)
    if env is not None:
        child_env.update(env)
    out_fd, out_name = tempfile.mkstemp(prefix="awslambdaric-", suffix=".stdout", dir=logs)
    err_fd, err_name = tempfile.mkstemp(prefix="awslambdaric-", suffix=".stderr", dir=logs)
    try:
        process = RuntimeProcess(
            [python, "-m", "awslambdaric", handler],
            cwd=task_root,
            env=child_env,
            stdin=subprocess.DEVNULL,
            stdout=out_fd,
            stderr=err_fd,
        )
    except BaseException:
        if log_dir is None:
            shutil.rmtree(logs, ignore_errors=True)
        raise
    finally:
        os.close(out_fd)
        os.close(err_fd)
    process.stdout_path = Path(out_name)
    process.stderr_path = Path(err_name)
    if log_dir is None:
        process._own_log_dir = logs
    runtime.attach(process)
    return process
