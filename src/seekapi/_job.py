"""The job being run by ``run()``, as user code sees it through :func:`current_job`."""

from __future__ import annotations

from . import _api
from ._jobstate import JobState, current
from .errors import UsageError

# typing costs milliseconds to import; mypy honours a module-level TYPE_CHECKING.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn

    from ._deadline import Deadline

UNSET: Any = object()
"""No result given to :meth:`Job.stop`."""


class StopJob(BaseException):
    """Raised by :meth:`Job.stop` to end the job early as a success.

    ``run()`` catches it, pushes ``result`` when one was given, and returns success. It
    derives from ``BaseException`` so that ``except Exception`` around per-item work
    does not swallow it and go on billing.
    """

    def __init__(self, result: Any = UNSET, reason: str = "stopped") -> None:
        super().__init__(reason)
        self.result = result
        self.reason = reason


class Job(JobState):
    """The job ``run()`` is running: charge, push and check the time from user code.

    Every call is bounded by the job's deadline as well as its own ``timeout``, and
    refuses to run once the job has ended (:class:`~seekapi.errors.JobClosedError`), so
    code left running after ``run()`` returned cannot push or charge for a finished job.

    Get it with :func:`seekapi.current_job` inside the function given to ``run()``. A
    context variable carries it: threads started with ``threading.Thread`` do not see it
    (pass the ``Job`` to them, or start them through ``contextvars.copy_context().run``);
    ``asyncio`` tasks and ``asyncio.to_thread`` do.

    Its figures: ``request_id`` (the Lambda request id, or ``None``), ``limit_reached``
    (true once a charge answered it: stop doing billable work), ``metered_event_count``
    (units recorded so far for the job, as the last charge answered) and ``charges`` (how
    many ``charge`` calls this job made).
    """

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{self.remaining():.1f}s left"
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
        with self._bounded():
            reply = _api.charge(
                self._context,
                idempotency_key,
                count,
                timeout,
                justification,
            )
        self.record_charge(reply)
        return reply

    def push_data(self, data: Any, type: str = "json", *, timeout: float = 8) -> dict[str, Any]:
        """Set the job's result now (the last push wins); see :func:`seekapi.push_data`."""
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
        with self._bounded():
            return _api.push_file(
                self._context,
                name,
                local_path,
                content_type,
                timeout,
            )

    def stop(self, result: Any = UNSET, *, reason: str = "stopped") -> NoReturn:
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

    def _bounded(self) -> _Bounded:
        self.check_open()
        return _Bounded(self._deadline)


class _Bounded:
    """Applies a job's deadline to the calls made inside it, whatever the thread."""

    __slots__ = ("_deadline", "_token")

    def __init__(self, deadline: Deadline) -> None:
        self._deadline = deadline

    def __enter__(self) -> None:
        from ._deadline import job_deadline

        self._token = job_deadline.set(self._deadline.earliest(job_deadline.get()))

    def __exit__(self, *exc: object) -> None:
        from ._deadline import job_deadline

        job_deadline.reset(self._token)


def current_job() -> Job:
    """The job ``run()`` is running in this context.

    Raises :class:`~seekapi.errors.UsageError` outside ``run()``, and in threads that
    did not inherit the context (see :class:`Job`).
    """
    job = current.get()
    if not isinstance(job, Job):
        raise UsageError(
            "current_job() is only available inside the function given to seekapi.run()"
            " (in another thread, pass the Job along or use contextvars.copy_context())"
        )
    return job
