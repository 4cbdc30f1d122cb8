"""The job being run by ``run()``, as user code sees it through :func:`current_job`."""

from __future__ import annotations

from . import _api
from ._jobstate import JobState, current
from .errors import UsageError

# typing costs milliseconds to import; mypy honours a module-level TYPE_CHECKING.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable
    from typing import Any, Literal, NoReturn, TypeVar

    from ._deadline import Deadline
    from ._map import MapPlan
    from ._map_outcome import MapOutcome

    T = TypeVar("T")
    R = TypeVar("R")

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

    For many items at once, :meth:`map` (threads) and :meth:`map_async` (tasks) call a
    function for each item and charge each one that succeeds; ``async`` workers await
    :meth:`charge_async`, :meth:`push_data_async` and :meth:`push_file_async`
    (docs/pay-per-event.md).

    Its figures: ``request_id`` (the Lambda request id, or ``None``), ``limit_reached``
    (true once a charge answered it: stop doing billable work), ``metered_event_count``
    (units recorded so far for the job, as the last charge answered) and ``charges`` (how
    many ``charge`` calls this job made).
    """

    _map_names: set[str] | None = None  # names of the maps run so far in this job

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

        It raises :class:`StopJob` (a ``BaseException``: let it through). ``run()``
        returns ``{"ok": True, "stopped": reason, ...}``; ``reason`` is a short text of
        yours for the log and the platform (such as ``"no_more_pages"``). Left at its
        default while :attr:`limit_reached` is true, it reads ``"limit_reached"``.
        Without ``result``, nothing more is pushed: the job's result is the last one
        pushed, if any. Use it when :attr:`limit_reached` says the client's spending
        limit is hit::

            for item in items:
                done.append(work(item))
                if job.charge(f"{job.job_uuid}:{item.id}")["limit_reached"]:
                    job.stop({"done": done})  # billed items are all in the result

        Called inside a function given to :meth:`map`, it ends the map (no new item
        starts, items still running are not charged) and then the job; without a
        ``result`` of its own, the map's outcome (:meth:`MapOutcome.to_json`) is the
        job's result.
        """
        if reason == "stopped" and self.limit_reached:
            reason = "limit_reached"
        raise StopJob(result, reason)

    # -- the same calls, awaited ------------------------------------------------------------

    async def charge_async(
        self,
        idempotency_key: str,
        count: int = 1,
        *,
        justification: dict[str, Any] | None = None,
        timeout: float = 8,
    ) -> dict[str, Any]:
        """:meth:`charge`, awaited: it runs in a thread, so the event loop goes on.

        The same code runs, with the same deadline and retries; many charges may be
        awaited at once (each gets a connection of its own). Cancelling the awaiting
        task does not recall a charge already sent: it may still be billed, and its
        idempotency key makes a retry safe.
        """
        from ._async_calls import in_thread

        return await in_thread(
            self.charge, idempotency_key, count, justification=justification, timeout=timeout
        )

    async def push_data_async(
        self, data: Any, type: str = "json", *, timeout: float = 8
    ) -> dict[str, Any]:
        """:meth:`push_data`, awaited without blocking the event loop (pushes of the job
        still go one at a time, in the order they take their turn)."""
        from ._async_calls import in_thread

        return await in_thread(self.push_data, data, type, timeout=timeout)

    async def push_file_async(
        self,
        name: str,
        local_path: str,
        content_type: str | None = None,
        *,
        timeout: float = 15,
    ) -> dict[str, Any] | None:
        """:meth:`push_file`, awaited without blocking the event loop."""
        from ._async_calls import in_thread

        return await in_thread(self.push_file, name, local_path, content_type, timeout=timeout)

    # -- many items ------------------------------------------------------------------------

    def map(
        self,
        fn: Callable[[T], R],
        items: Iterable[T],
        *,
        concurrency: int = 8,
        charge: int = 1,
        name: str = "map",
        key: Callable[[T], str] | None = None,
        justification: Callable[[T, R], dict[str, Any] | None] | None = None,
        on_error: Literal["keep", "raise"] = "keep",
        progress_every: int | None = None,
        progress_seconds: float | None = None,
        reserve: float = 0.25,
        charge_timeout: float = 8,
    ) -> MapOutcome[R]:
        """Call ``fn(item)`` for each item, up to ``concurrency`` at a time, in threads,
        and charge ``charge`` units for each item that succeeds. Returns a
        :class:`~seekapi.MapOutcome` (its :meth:`~seekapi.MapOutcome.to_json` can be the
        job's result).

        - **Keys**: item ``i`` is charged under ``f"{job_uuid}:{name}:{i}"``, or
          ``f"{job_uuid}:{name}:{key(item)}"`` with ``key``; a key is billed once, so a
          retried charge or a re-run of the job bills nothing twice. Give each map of a
          job its own ``name`` (reusing one without ``key`` is a ``UsageError``), and
          keep the input's order stable when keys are indices. ``justification(item,
          result)``, when given, is each charge's billing proof (a dict, or ``None``).
        - **Delivered if and only if billed**: an item is in ``results`` once its charge
          was answered (``limit_reached`` included: it was recorded). A failing item is
          not charged; ``charge=0`` bills nothing and delivers every success.
        - **The limit**: once a charge answers ``limit_reached`` (or the job already
          had), no item starts and the map sends no more charges; items still running
          are ``dropped`` (not billed, not delivered). At most ``concurrency - 1``
          items are billed past the limit (``overshoot``).
        - **The deadline**: no item starts when :meth:`remaining` is less than the
          longest of the last 32 items (function and charge) plus ``reserve``
          seconds. At the job's deadline ``run()`` interrupts the waiting thread;
          threads still running an item are not charged.
        - **Failures**: an item that raises an ``Exception`` is in ``failed`` (index,
          type, message with secrets masked); so is an item whose charge failed, and
          no item starts after that. ``on_error="raise"`` stops the map at the first
          failure and raises it once running items have finished (items billed before
          stay billed). ``job.stop()`` inside ``fn`` ends the map, then the job.
        - **Progress**: with ``progress_every=N`` and/or ``progress_seconds=T`` the
          outcome so far is pushed (``push_data``) every N finished items or T seconds,
          in order, never after the job's final result.

        ``fn`` runs in a copy of this context in each thread: :func:`current_job`
        works in it. For ``async def`` functions use :meth:`map_async`.
        """
        from . import _map

        if _map.is_coroutine_function(fn):
            raise UsageError(
                "job.map() runs plain functions in threads; for an async def function"
                " use `await job.map_async(fn, items)`"
            )
        plan = self._map_plan(
            list(items),
            concurrency=concurrency,
            charge=charge,
            name=name,
            key=key,
            justification=justification,
            on_error=on_error,
            progress_every=progress_every,
            progress_seconds=progress_seconds,
            reserve=reserve,
            charge_timeout=charge_timeout,
        )
        outcome, raised = _map.map_in_threads(self, fn, plan)
        self._raise_after_map(outcome, raised)
        return outcome

    async def map_async(
        self,
        fn: Callable[[T], Awaitable[R]],
        items: Iterable[T],
        *,
        concurrency: int = 8,
        charge: int = 1,
        name: str = "map",
        key: Callable[[T], str] | None = None,
        justification: Callable[[T, R], dict[str, Any] | None] | None = None,
        on_error: Literal["keep", "raise"] = "keep",
        progress_every: int | None = None,
        progress_seconds: float | None = None,
        reserve: float = 0.25,
        charge_timeout: float = 8,
    ) -> MapOutcome[R]:
        """:meth:`map` for an ``async def fn``: ``await job.map_async(fn, items)``.

        The items run as up to ``concurrency`` tasks of the running event loop (they
        see :func:`current_job`); charges and progress pushes are awaited with
        :meth:`charge_async` and :meth:`push_data_async`, so the loop is never blocked.
        The rules of :meth:`map` hold. When the awaiting task is cancelled (``run()``
        does so at the job's deadline), the item tasks are cancelled and nothing more
        is charged; a charge already sent may still be billed.
        """
        from . import _map

        if not _map.is_coroutine_function(fn):
            raise UsageError(
                "map_async() runs an async def function as tasks; for a plain function"
                " use job.map(fn, items), which runs it in threads"
            )
        plan = self._map_plan(
            list(items),
            concurrency=concurrency,
            charge=charge,
            name=name,
            key=key,
            justification=justification,
            on_error=on_error,
            progress_every=progress_every,
            progress_seconds=progress_seconds,
            reserve=reserve,
            charge_timeout=charge_timeout,
        )
        outcome, raised = await _map.map_in_tasks(self, fn, plan)
        self._raise_after_map(outcome, raised)
        return outcome

    def _map_plan(self, items: list[Any], *, name: str, key: Any, **options: Any) -> MapPlan:
        from ._map import MapPlan

        if not isinstance(name, str) or not name.strip():
            raise UsageError("name must be a non-blank string")
        plan = MapPlan(self, items, stop_type=StopJob, name=name.strip(), key=key, **options)
        with self._lock:
            names = self._map_names
            if names is None:
                names = self._map_names = set()
            if name.strip() in names and key is None and plan.charge:
                raise UsageError(
                    f"a map named {name.strip()!r} already ran in this job: its items' keys"
                    " would collide; give each map its own name="
                )
            names.add(name.strip())
        return plan

    def _raise_after_map(self, outcome: MapOutcome[Any], raised: BaseException | None) -> None:
        if raised is None:
            return
        if isinstance(raised, StopJob) and raised.result is UNSET:
            raised.result = outcome.to_json()  # stopped from inside: the outcome is the result
        raise raised

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
