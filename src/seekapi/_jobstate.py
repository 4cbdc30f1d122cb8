"""The state of a job that ``run()`` is running, below the public calls that use it.

The public calls (``seekapi.push_data``, ``charge``, ...) consult it to refuse a call for
a job that has ended and to order a job's pushes; :class:`seekapi.Job` is the facade user
code sees over it, and ``run()`` drives it.
"""

from __future__ import annotations

import _thread
from contextvars import ContextVar

from .errors import JobClosedError

# typing costs milliseconds to import; mypy honours a module-level TYPE_CHECKING.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ._deadline import Deadline

current: ContextVar[JobState | None] = ContextVar("seekapi_current_job", default=None)
"""The job ``run()`` is running in this context."""
delivering: ContextVar[JobState | None] = ContextVar("seekapi_delivering_job", default=None)
"""Set by ``run()`` while it delivers the result: only that push may pass a sealed job."""
masked: ContextVar[tuple[str, ...]] = ContextVar("seekapi_masked", default=())
"""Values of the job ``run()`` is running that no message may show (its execution token
and the input URL's query values), known from the event on, before the job is built."""


class JobState:
    """What ``run()`` and the public calls know of a job: open, sealed or closed, its
    deadline, its pushes, and the figures its charges answered."""

    def __init__(
        self,
        context: dict[str, Any],
        *,
        request_id: str | None,
        deadline: Deadline,
    ) -> None:
        self._context = context
        self.request_id = request_id
        """The Lambda request id (``context.aws_request_id``), or ``None``."""
        self._deadline = deadline
        self._lock = _thread.allocate_lock()
        # Pushes of one job go one at a time, so that the result run() pushes last is
        # sent after every push the worker code started.
        self._push_lock = _thread.RLock()
        # Sockets of push attempts that were sent but never answered (see run()).
        self._in_doubt: list[Any] = []
        self._closed = False
        self._sealed = False
        self.secrets: tuple[str, ...] = ()
        """Values masked in every message about this job (the input URL's query values)."""
        self.limit_reached = False
        """True once a charge answered ``limit_reached``: stop doing billable work."""
        self.metered_event_count: int | None = None
        """Units recorded so far for the job, as the last charge answered."""
        self.charges = 0
        """How many ``charge`` calls this job made."""
        self.input_bytes: int | None = None
        self.result_bytes: int | None = None

    # -- what the job is ----------------------------------------------------------------

    @property
    def job_uuid(self) -> str:
        """The job's id."""
        return str(self._context.get("job_uuid") or "")

    @property
    def context(self) -> dict[str, Any]:
        """The ``create_context`` dict, for the lower-level calls."""
        return self._context

    @property
    def closed(self) -> bool:
        """True once ``run()`` has finished with this job."""
        return self._closed

    def remaining(self) -> float:
        """Seconds left before the job's code must be done (``inf`` without a deadline)."""
        return self._deadline.remaining()

    def record_charge(self, reply: dict[str, Any]) -> None:
        """Take in what a charge for this job answered."""
        with self._lock:
            self.charges += 1
            if reply.get("limit_reached") is True:
                self.limit_reached = True
            metered = reply.get("metered_event_count")
            # Never lowered: a reply with defaults (an unreadable answer) says 0.
            if isinstance(metered, int) and metered >= (self.metered_event_count or 0):
                self.metered_event_count = metered

    # -- run()'s side --------------------------------------------------------------------

    def check_open(self) -> None:
        if self._closed or (self._sealed and delivering.get() is not self):
            raise JobClosedError(
                f"job {self.job_uuid!r} has ended; nothing more can be pushed or charged for it"
            )

    def seal(self) -> None:
        """The worker code has finished: from now on only run()'s delivery may push."""
        self._sealed = True

    def extend(self, deadline: Deadline) -> None:
        """Move the deadline (``run()`` gives delivery the safety margin)."""
        self._deadline = deadline


# Jobs that have ended, by (job_uuid, execution_token): code they left running, in any
# thread, must not push or charge for them, whether the job succeeded, failed or timed
# out. Bounded: a warm process runs many jobs, and only recent ones can have code still
# running. Concurrent run() calls share it, so every access holds the lock.
_ended: dict[tuple[str, str], None] = {}
_ended_lock = _thread.allocate_lock()
_ENDED_KEPT = 256


def _key(job_uuid: str, execution_token: str) -> tuple[str, str]:
    return (job_uuid, execution_token)


def close(job: JobState) -> None:
    """End ``job``: every later push or charge for it, from any code, raises."""
    job._closed = True
    key = _key(job.job_uuid, str(job.context.get("execution_token") or ""))
    with _ended_lock:
        _ended.pop(key, None)
        _ended[key] = None
        while len(_ended) > _ENDED_KEPT:
            del _ended[next(iter(_ended))]


def forget_ended() -> None:
    """Forget every ended job (tests start from a clean process state)."""
    with _ended_lock:
        _ended.clear()


def reopen(job_uuid: str, execution_token: str) -> None:
    """A new run() of the same job (the platform may run a job again) may push again."""
    with _ended_lock:
        _ended.pop(_key(job_uuid, execution_token), None)


def check_open(job_uuid: str, execution_token: str = "") -> JobState | None:
    """Refuse a call for a job that has ended; return the current job, if any."""
    job = current.get()
    if job is not None and job.job_uuid == job_uuid:
        job.check_open()
        return job
    with _ended_lock:
        ended = _key(job_uuid, execution_token) in _ended
    if ended:
        raise JobClosedError(
            f"job {job_uuid!r} has ended; nothing more can be pushed or charged for it"
        )
    return None
