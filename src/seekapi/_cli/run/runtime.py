"""The execution environment of ``seekapi run --lambda``: ``python -m awslambdaric`` in a
process group of its own, with the function's environment, watched for its memory.

Memory is enforced as Lambda's control group enforces it: by what the process and every
process it started really hold, not by the address space they reserve. Every few
milliseconds, and after every response, the resident sets (``VmRSS`` in
``/proc/PID/status``) of the runtime process and all its descendants (found through
``/proc/PID/task/TID/children``) are added up; the peak of that sum, or the runtime
process's own peak (``VmHWM``) when that is higher, is the invocation's Max Memory Used.
Once it is over the function's memory size the whole group is killed (``SIGKILL``), and
the invocation fails as in Lambda with ``Runtime.OutOfMemory`` ("Runtime exited with
error: signal: killed"). Pages that processes share are counted once for each of them,
so the sum can be a little over what the control group would count; and memory a
process holds for less than the time between two looks can go unseen.

``RLIMIT_AS`` was not used: it limits
reserved address space (threads' stacks, malloc arenas), which a healthy Python process
exceeds long before its resident memory does, and it turns the excess into a
``MemoryError`` the worker could catch, which Lambda never raises.
"""

from __future__ import annotations

import contextlib
import math
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
        self._peak_kb = 0

    def poll(self) -> int | None:
        """The exit status once the process has ended, else ``None``."""
        return self.process.poll()

    def peak_memory_mb(self) -> int | None:
        """The peak resident memory of the process and its descendants so far, in MB;
        ``None`` once the process has ended."""
        now = tree_resident_kb(self.process.pid)
        own = peak_memory_mb(self.process.pid)
        if now is None or own is None:
            return None
        self._peak_kb = max(self._peak_kb, now)
        return max(own, math.ceil(self._peak_kb / 1024))

    def kill(self) -> None:
        """Kill the process and its process group (what it started and left in it), as
        Lambda ends a sandbox."""
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


def tree_resident_kb(pid: int) -> int | None:
    """The resident memory of process ``pid`` and all its descendants, in KiB (the sum of
    their ``VmRSS``); ``None`` when ``pid`` has ended."""
    total = 0
    seen: set[int] = set()
    pending = [pid]
    while pending:
        each = pending.pop()
        if each in seen:
            continue
        seen.add(each)
        resident = _resident_kb(each)
        if resident is None:  # ended (a zombie has no VmRSS)
            if each == pid:
                return None
            continue
        total += resident
        pending.extend(_children(each))
    return total


def _resident_kb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as file:
            for line in file:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for thread in threads:
        try:
            with open(f"/proc/{pid}/task/{thread}/children", encoding="ascii") as file:
                found.extend(int(child) for child in file.read().split())
        except FileNotFoundError:
            return _children_by_parent(pid)  # a kernel without the children files
        except (OSError, ValueError):
            continue
    return found


def _children_by_parent(pid: int) -> list[int]:
    """The processes whose parent is ``pid``, from every ``/proc/PID/stat``."""
    found: list[int] = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="ascii", errors="replace") as file:
                fields = file.read().rpartition(")")[2].split()
            if int(fields[1]) == pid:
                found.append(int(name))
        except (OSError, ValueError, IndexError):
            continue
    return found


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
