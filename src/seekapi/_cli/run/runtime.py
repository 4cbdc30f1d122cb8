"""The execution environment of ``seekapi run --lambda``: ``python -m awslambdaric`` in a
process group of its own, with the function's environment, watched for its memory.

Memory is enforced as Lambda's control group enforces it: by what the process really
holds, not by the address space it reserves. The process's peak resident set
(``VmHWM`` in ``/proc/PID/status``) is read every few milliseconds and after every
response; once it is over the function's memory size the whole group is killed
(``SIGKILL``), and the invocation fails as in Lambda with ``Runtime.OutOfMemory``
("Runtime exited with error: signal: killed"). ``RLIMIT_AS`` was not used: it limits
reserved address space (threads' stacks, malloc arenas), which a healthy Python process
exceeds long before its resident memory does, and it turns the excess into a
``MemoryError`` the worker could catch, which Lambda never raises.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping

from .._common import CommandError
from .invoke import peak_memory_mb
from .sandbox import Streams, end_process

# How Lambda (Go's os.ProcessState) words the end of a runtime process.
_SIGNAL_WORDS = {
    signal.SIGKILL: "killed",
    signal.SIGSEGV: "segmentation fault",
    signal.SIGABRT: "aborted",
    signal.SIGTERM: "terminated",
    signal.SIGBUS: "bus error",
}


class RuntimeSandbox:
    """One ``python -m awslambdaric`` process: started at once, ended with :meth:`kill`.

    ``started`` is the :func:`time.monotonic` time just before it was started, from
    which its init phase is measured. Its stdout and stderr go to ``streams``.
    """

    def __init__(
        self, command: list[str], env: Mapping[str, str], cwd: str, *, json_mode: bool
    ) -> None:
        self.streams = Streams(json_mode)
        self.started = time.monotonic()
        try:
            self.process = subprocess.Popen(  # noqa: S603 - this Python, running awslambdaric
                command,
                env=dict(env),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=self.streams.stdout,
                stderr=self.streams.stderr,
                # Its own process group, so that a kill ends whatever it started too.
                start_new_session=True,
            )
        except OSError as exc:
            raise CommandError(f"cannot start Python ({sys.executable}): {exc}") from None
        self.streams.relay(self.process)
        self.killed = False

    def poll(self) -> int | None:
        """The exit status once the process has ended, else ``None``."""
        return self.process.poll()

    def peak_memory_mb(self) -> int | None:
        """The process's peak resident memory so far, in MB; ``None`` once it has ended."""
        return peak_memory_mb(self.process.pid)

    def kill(self) -> None:
        """Kill the process and everything it started, as Lambda ends a sandbox."""
        self.killed = True
        end_process(self.process)
        self.streams.finish()

    def exit_words(self) -> str:
        """How the process ended, as Lambda words it: ``exit status 1``, ``signal: killed``."""
        code = self.process.poll()
        if code is None:
            return "the runtime stopped answering"
        if code < 0:
            with contextlib.suppress(ValueError):
                number = signal.Signals(-code)
                return f"signal: {_SIGNAL_WORDS.get(number, number.name)}"
        return f"exit status {code}"


def runtime_command(*, isolated: bool) -> list[str]:
    """The command that runs the runtime client; ``isolated`` leaves site-packages out
    (``python -S``), so that only ``PYTHONPATH`` (the task root and the runtime's own
    folder) is on the path, as in Lambda."""
    return [sys.executable, *(["-S"] if isolated else []), "-m", "awslambdaric"]


def task_environment_path(task_root: str, runtime_dir: str | None) -> str:
    """``PYTHONPATH`` for the function: the task root, then the runtime's folder for an
    isolated run, or the inherited path and this seekapi's folder otherwise."""
    parts = [task_root]
    if runtime_dir is not None:
        parts.append(runtime_dir)
    else:
        inherited = os.environ.get("PYTHONPATH")
        if inherited:
            parts.append(inherited)
        # The seekapi running this command, should this Python not have it installed.
        package_parent = os.path.abspath(__file__)
        for _ in range(4):
            package_parent = os.path.dirname(package_parent)
        parts.append(package_parent)
    return os.pathsep.join(parts)
