"""The job being run by ``run()``, as user code sees it through :func:`current_job`."""

from __future__ import annotations

import _thread
from contextvars import ContextVar

from .errors import JobClosedError, UsageError

# typing costs milliseconds to import; mypy honours a module-level TYPE_CHECKING.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn

    from ._retry import Deadline

_current: ContextVar[Job | None] = ContextVar("seekapi_current_job", default=None)
# Set by run() while it delivers the result: only that push may pass a sealed job.
_delivering: ContextVar[Job | None] = ContextVar("seekapi_delivering_job", default=None)

_UNSET: Any = object()


class StopJob(BaseException):
    """Raised by :meth:`Job.stop` to end the job early as a success.

    ``run()`` catches it, pushes ``result`` when one was given, and returns success. It
    derives from ``BaseException`` so that ``except Exception`` around per-item work
    does not swallow it and go on billing.
    """

    def __init__(self, result: Any = _UNSET, reason: str = "stopped") -> None:
        super().__init__(reason)
        self.result = result
        self.reason = reason


class Job:
    """The job ``run()`` is running: charge, push and check the time from user code.

    Every call is bounded by the job's deadline as well as its own ``timeout``, and
    refuses to run once the job has ended (:class:`~seekapi.errors.JobClosedError`), so
    code left running after a timeout cannot push or charge for a finished job.

    Get it with :func:`seekapi.current_job` inside the function given to ``run()``. A
    context variable carries it: threads started with ``threading.Thread`` do not see it
    (pass the ``Job`` to them, or start them through ``contextvars.copy_context().run``);
    ``asyncio`` tasks and ``asyncio.to_thread`` do.
    """

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

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{self.remaining():.1f}s left"
        return f"<seekapi.Job {self.job_uuid!r} {state}>"

    # -- what user code can do -------------------------------------------------------------

    def charge(
        self,
        idempotency_key: str,
        count: int = 1,
        *,
        justification: dict[str, Any] | None = None,
        timeout: float = 8,
    ) -> dict[str, Any]:
        """Record ``count`` billing units; see :func:`seekapi.charge`.

        Derive ``idempotency_key`` from the job and the item, for example
        ``f"{job.job_uuid}:{item_id}"``: a key is billed once, so a retried call, or the
        same job run again, bills nothing twice. When the reply says ``limit_reached``,
        :attr:`limit_reached` becomes true; call :meth:`stop` to end the job as a success.
        """
        from . import _api

        with self._bounded():
            reply = _api.charge(
                self._context,
                idempotency_key,
                count,
                timeout,
                justification,
            )
        with self._lock:
            self.charges += 1
            if reply.get("limit_reached") is True:
                self.limit_reached = True
            metered = reply.get("metered_event_count")
            # Never lowered: a reply with defaults (an unreadable answer) says 0.
            if isinstance(metered, int) and metered >= (self.metered_event_count or 0):
                self.metered_event_count = metered
        return reply

    def push_data(self, data: Any, type: str = "json", *, timeout: float = 8) -> dict[str, Any]:
        """Set the job's result now (the last push wins); see :func:`seekapi.push_data`."""
        from . import _api

        with self._push_lock, self._bounded():
            return _api.push_data(self._context, data, type, timeout)

    def push_file(
        self,
        name: str,
        local_path: str,
        content_type: str | None = None,
        *,
        timeout: float = 15,
    ) -> dict[str, Any] | None:
        """Add a file to the job; see :func:`seekapi.push_file`."""
        from . import _api

        with self._bounded():
            return _api.push_file(
                self._context,
                name,
                local_path,
                content_type,
                timeout,
            )

    def stop(self, result: Any = _UNSET, *, reason: str = "stopped") -> NoReturn:
        """End the job now, as a success: ``run()`` pushes ``result`` if given and returns.

        Use it when :attr:`limit_reached` says the client's spending limit is hit::

            for item in items:
                done.append(work(item))
                if job.charge(f"{job.job_uuid}:{item.id}")["limit_reached"]:
                    job.stop({"done": done})  # billed items are all in the result
        """
        if reason == "stopped" and self.limit_reached:
            reason = "limit_reached"
        raise StopJob(result, reason)

    # -- run()'s side --------------------------------------------------------------------

    def _bounded(self) -> _Bounded:
        self._check_open()
        return _Bounded(self._deadline)

    def _check_open(self) -> None:
        if self._closed or (self._sealed and _delivering.get() is not self):
            raise JobClosedError(
                f"job {self.job_uuid!r} has ended; nothing more can be pushed or charged for it"
            )

    def _seal(self) -> None:
        """The worker code has finished: from now on only run()'s delivery may push."""
        self._sealed = True

    def _extend(self, deadline: Deadline) -> None:
        """Move the deadline (``run()`` gives delivery the safety margin)."""
        self._deadline = deadline


class _Bounded:
    """Applies a job's deadline to the calls made inside it, whatever the thread."""

    __slots__ = ("_deadline", "_token")

    def __init__(self, deadline: Deadline) -> None:
        self._deadline = deadline

    def __enter__(self) -> None:
        from ._client import job_deadline

        self._token = job_deadline.set(self._deadline.earliest(job_deadline.get()))

    def __exit__(self, *exc: object) -> None:
        from ._client import job_deadline

        job_deadline.reset(self._token)


def current_job() -> Job:
    """The job ``run()`` is running in this context.

    Raises :class:`~seekapi.errors.UsageError` outside ``run()``, and in threads that
    did not inherit the context (see :class:`Job`).
    """
    job = _current.get()
    if job is None:
        raise UsageError(
            "current_job() is only available inside the function given to seekapi.run()"
            " (in another thread, pass the Job along or use contextvars.copy_context())"
        )
    return job


# Jobs that have ended, by (job_uuid, execution_token): code they left running, in any
# thread, must not push or charge for them, whether the job succeeded, failed or timed
# out. Bounded: a warm process runs many jobs, and only recent ones can have code still
# running. Concurrent run() calls share it, so every access holds the lock.
_ended: dict[tuple[str, str], None] = {}
_ended_lock = _thread.allocate_lock()
_ENDED_KEPT = 256


def _key(job_uuid: str, execution_token: str) -> tuple[str, str]:
    return (job_uuid, execution_token)


def close(job: Job) -> None:
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


def check_open(job_uuid: str, execution_token: str = "") -> Job | None:
    """Refuse a call for a job that has ended; return the current job, if any."""
    job = _current.get()
    if job is not None and job.job_uuid == job_uuid:
        job._check_open()
        return job
    with _ended_lock:
        ended = _key(job_uuid, execution_token) in _ended
    if ended:
        raise JobClosedError(
            f"job {job_uuid!r} has ended; nothing more can be pushed or charged for it"
        )
    return None
