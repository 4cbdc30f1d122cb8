"""``job.map``: run a function over many items at once, billing each item that succeeds.

The rules (docs/pay-per-event.md tells them to worker authors):

- **Keys.** Item ``i`` of a map named ``name`` is charged under
  ``f"{job_uuid}:{name}:{i}"``, or ``f"{job_uuid}:{name}:{key(item)}"`` when ``key`` is
  given. The platform bills a key once, so a retried charge, or the same job run
  again with the same input, bills nothing twice.
- **Delivered if and only if billed.** An item whose function returned is charged;
  once the charge is answered (``limit_reached`` or not: the backend recorded it), its
  result is in :attr:`MapOutcome.results`. An item that raised is not charged.
- **The limit.** Once a charge answers ``limit_reached`` (or the job already had), no
  item starts and no charge is sent by the map any more. Items still running finish,
  but are neither charged nor delivered (:attr:`MapOutcome.dropped`). Only charges
  already on their way past the limit are billed past it: at most ``concurrency - 1``
  items (:attr:`MapOutcome.overshoot`).
- **The deadline.** No item starts when the time the job has left would not fit the
  longest of the last items (its function and its charge) plus ``reserve`` seconds.

Plain functions run in threads (:func:`map_in_threads`), each thread in a copy of the
caller's context so that ``current_job()`` works in it; ``async def`` functions run as
tasks of the caller's event loop (:func:`map_in_tasks`). What a map gives back,
:class:`MapOutcome`, lives in :mod:`seekapi._map_outcome`.
"""

from __future__ import annotations

import _thread
import time
from contextvars import copy_context

from ._map_outcome import ItemFailure, MapOutcome
from .errors import JobClosedError, UsageError

# typing costs milliseconds to import; mypy honours a module-level TYPE_CHECKING.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence
    from typing import Any, Literal, Protocol

    class MapHost(Protocol):
        """What a map needs of the job it runs in (:class:`seekapi.Job` has it all)."""

        @property
        def job_uuid(self) -> str: ...
        @property
        def context(self) -> dict[str, Any]: ...
        @property
        def limit_reached(self) -> bool: ...
        @property
        def secrets(self) -> tuple[str, ...]: ...
        def remaining(self) -> float: ...
        def charge(
            self,
            idempotency_key: str,
            count: int = 1,
            *,
            justification: dict[str, Any] | None = None,
            timeout: float = 8,
        ) -> dict[str, Any]: ...
        def push_data(
            self, data: Any, type: str = "json", *, timeout: float = 8
        ) -> dict[str, Any]: ...
        async def charge_async(
            self,
            idempotency_key: str,
            count: int = 1,
            *,
            justification: dict[str, Any] | None = None,
            timeout: float = 8,
        ) -> dict[str, Any]: ...
        async def push_data_async(
            self, data: Any, type: str = "json", *, timeout: float = 8
        ) -> dict[str, Any]: ...

    OnError = Literal["keep", "raise"]


RECENT = 32
"""The deadline estimate is the longest of this many last finished items."""
_MESSAGE_CHARS = 300  # an item failure's message is cut there
_CO_COROUTINE = 0x0080  # the code flag of an async def function
_WAIT_SLICE = 0.25  # the waiting thread wakes this often (interruption, progress)

STOPPED_LIMIT = "limit"
STOPPED_DEADLINE = "deadline"
STOPPED_STOP = "stop"
STOPPED_ERROR = "error"
STOPPED_CHARGE = "charge"
STOPPED_INTERRUPTED = "interrupted"


def is_coroutine_function(fn: object) -> bool:
    """Whether ``fn`` is an ``async def`` function (also through ``functools.partial`` and
    bound methods), without importing ``inspect`` or ``asyncio``."""
    for _ in range(10):
        inner = getattr(fn, "func", None) or getattr(fn, "__func__", None)
        if inner is None or not callable(inner):
            break
        fn = inner
    code = getattr(fn, "__code__", None)
    return bool(code is not None and getattr(code, "co_flags", 0) & _CO_COROUTINE)


# -- arguments ---------------------------------------------------------------------------


class MapPlan:
    """A map's checked arguments and the idempotency key of every item."""

    __slots__ = (
        "charge",
        "charge_timeout",
        "concurrency",
        "items",
        "justification",
        "keys",
        "on_error",
        "progress_every",
        "progress_seconds",
        "reserve",
        "stop_type",
    )

    def __init__(
        self,
        host: MapHost,
        items: Sequence[Any],
        *,
        stop_type: type[BaseException],
        concurrency: int,
        charge: int,
        name: str,
        key: Callable[[Any], str] | None,
        justification: Callable[[Any, Any], dict[str, Any] | None] | None,
        on_error: str,
        progress_every: int | None,
        progress_seconds: float | None,
        reserve: float,
        charge_timeout: float,
    ) -> None:
        self.items = items
        self.stop_type = stop_type  # what job.stop() raises: the map ends as "stop"
        self.justification = justification
        self.concurrency = _whole(concurrency, "concurrency", 1, 256)
        self.charge = _whole(charge, "charge", 0, None)
        if on_error not in ("keep", "raise"):
            raise UsageError(f"on_error must be 'keep' or 'raise', not {on_error!r}")
        self.on_error = on_error
        self.progress_every = (
            None if progress_every is None else _whole(progress_every, "progress_every", 1, None)
        )
        self.progress_seconds = _seconds(progress_seconds, "progress_seconds", allow_none=True)
        self.reserve = _seconds(reserve, "reserve", zero=True) or 0.0
        self.charge_timeout = _seconds(charge_timeout, "charge_timeout") or 8.0
        self.keys = _keys(host.job_uuid, name, items, key) if self.charge else None


def _whole(value: object, what: str, low: int, high: int | None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise UsageError(f"{what} must be a whole number >= {low}, not {value!r}")
    if high is not None and value > high:
        raise UsageError(f"{what} must be at most {high}, not {value!r}")
    return value


def _seconds(
    value: object, what: str, *, zero: bool = False, allow_none: bool = False
) -> float | None:
    import math

    if value is None and allow_none:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not (value >= 0 if zero else value > 0)
        or math.isinf(value)
    ):
        raise UsageError(f"{what} must be a finite number of seconds, not {value!r}")
    return float(value)


def _keys(
    job_uuid: str, name: str, items: Sequence[Any], key: Callable[[Any], str] | None
) -> list[str]:
    """Every item's idempotency key, checked before anything runs: a key that is not a
    non-blank string, or two items with one key (the second would be delivered without
    being billed), is a UsageError."""
    if key is None:
        return [f"{job_uuid}:{name}:{index}" for index in range(len(items))]
    keys: list[str] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        own = key(item)
        if not isinstance(own, str) or not own.strip():
            raise UsageError(
                f"key(item) must give a non-blank string; for item {index} it gave"
                f" {type(own).__name__}"
            )
        full = f"{job_uuid}:{name}:{own.strip()}"
        if full in seen:
            raise UsageError(
                f"key(item) gives item {index} the key of an earlier item: each item needs"
                " its own key, or it would be delivered without being billed"
            )
        seen.add(full)
        keys.append(full)
    return keys


# -- the tally: what every item did, and whether the next one may start -------------------


class _MapTally:
    """The map's state, shared by its threads or tasks; every change holds the lock."""

    def __init__(self, host: MapHost, plan: MapPlan) -> None:
        self.host = host
        self.plan = plan
        self.total = len(plan.items)
        self.lock = _thread.allocate_lock()
        self.clock = time.monotonic
        self.next_index = 0
        self.in_flight = 0
        self.stopped: str | None = None
        self.billing = True  # False once the map must send no more charges
        self.results: dict[int, Any] = {}
        self.failed: list[ItemFailure] = []
        self.dropped: list[int] = []
        self.units = 0
        self.limit_replies = 0
        self.limit_before = host.limit_reached
        self.recent: list[float] = []
        self.raised: BaseException | None = None
        self.changes = 0  # items finished: progress snapshots compare it
        self.secrets = _secrets(host)
        self.on_change: Callable[[], None] | None = None

    # -- starting -----------------------------------------------------------------------

    def take(self) -> int | None:
        """The index of the next item to start, or ``None``: none is left, or none may
        start any more (``stopped`` says why)."""
        with self.lock:
            if self.stopped is not None or self.next_index >= self.total:
                return None
            reason = self._reason_to_stop()
            if reason is not None:
                self._stop(reason)
                return None
            index = self.next_index
            self.next_index += 1
            self.in_flight += 1
            return index

    def _reason_to_stop(self) -> str | None:
        if self.host.limit_reached:
            return STOPPED_LIMIT
        left = self.host.remaining()
        if left != float("inf"):
            typical = max(self.recent) if self.recent else 0.0
            if left < typical + self.plan.reserve:
                return STOPPED_DEADLINE
        return None

    def _stop(self, reason: str, *, billing: bool = True) -> None:
        if self.stopped is None:
            self.stopped = reason
        if not billing:
            self.billing = False

    def stop(self, reason: str, *, billing: bool = True) -> None:
        """No item starts from now on; with ``billing=False`` no charge is sent either."""
        with self.lock:
            self._stop(reason, billing=billing)

    # -- finishing ----------------------------------------------------------------------

    def may_bill(self) -> bool:
        """Whether a finished item may be charged now (else it is dropped)."""
        return self.billing and not self.host.limit_reached

    def delivered(
        self, index: int, value: Any, started: float, reply: dict[str, Any] | None
    ) -> None:
        limit = reply is not None and reply.get("limit_reached") is True
        with self.lock:
            self.results[index] = value
            if reply is not None:
                self.units += self.plan.charge
            if limit:
                self.limit_replies += 1
                self._stop(STOPPED_LIMIT, billing=False)
            self._finished(started)

    def dropped_item(self, index: int, started: float) -> None:
        with self.lock:
            self.dropped.append(index)
            self._finished(started)

    def failure(self, index: int, exc: BaseException, started: float, stage: str) -> None:
        failure = ItemFailure(index, type(exc).__name__, self._message(exc), stage)
        self.record_failure(failure, exc, started)

    def record_failure(
        self, failure: ItemFailure, exc: BaseException | None, started: float
    ) -> None:
        _log_failure(self.host, failure, exc)
        with self.lock:
            self.failed.append(failure)
            if self.plan.on_error == "raise":
                self._stop(STOPPED_ERROR, billing=False)
                if self.raised is None and exc is not None:
                    self.raised = exc
            elif failure.stage == "charge":
                # The backend is failing (the call retried for its whole budget).
                self._stop(STOPPED_CHARGE)
            self._finished(started)

    def ended(self, index: int, exc: BaseException) -> None:
        """The item raised a ``BaseException`` (``job.stop()``, an interruption): the map
        stops billing and starting items, and the caller raises it once all have ended."""
        reason = STOPPED_STOP if isinstance(exc, self.plan.stop_type) else STOPPED_INTERRUPTED
        with self.lock:
            self._stop(reason, billing=False)
            if self.raised is None:
                self.raised = exc
            self.in_flight -= 1
            self.changes += 1

    def _finished(self, started: float) -> None:
        self.in_flight -= 1
        self.changes += 1
        # Failures count too: a slow failure takes the time a success would.
        self.recent.append(self.clock() - started)
        if len(self.recent) > RECENT:
            del self.recent[0]

    def _message(self, exc: BaseException) -> str:
        from ._messages import mask_backend, safe_str
        from ._redact import scrub

        text = scrub(safe_str(exc), self.secrets)
        text = mask_backend(text, str(self.host.context.get("api_base") or ""))
        if len(text) > _MESSAGE_CHARS:
            text = text[: _MESSAGE_CHARS - 3] + "..."
        return text

    # -- the outcome --------------------------------------------------------------------

    def outcome(self) -> MapOutcome[Any]:
        with self.lock:
            indices = sorted(self.results)
            overshoot = self.limit_replies - (0 if self.limit_before else 1)
            return MapOutcome(
                results=[self.results[i] for i in indices],
                indices=indices,
                failed=sorted(self.failed, key=lambda failure: failure.index),
                dropped=sorted(self.dropped),
                not_started=self.total - self.next_index,
                stopped=self.stopped,
                units=self.units,
                overshoot=max(0, overshoot),
                limit_reached=self.limit_replies > 0,
                total=self.total,
                in_flight=self.in_flight,
            )


def _secrets(host: MapHost) -> tuple[str, ...]:
    from ._jobstate import masked

    context = host.context
    own = tuple(str(context.get(k) or "") for k in ("secret", "execution_token") if context.get(k))
    return (*own, *host.secrets, *masked.get())


def _log_extra(host: MapHost) -> dict[str, Any]:
    """The job's ids, as ``run()`` passes them on its records (``extra``)."""
    request_id = getattr(host, "request_id", None)
    return {
        "job_uuid": host.job_uuid or None,
        "request_id": request_id if isinstance(request_id, str) else None,
    }


class _ScrubbedError(Exception):
    """An item's exception message, masked, for a log record's exception fields."""


def _log_failure(host: MapHost, failure: ItemFailure, exc: BaseException | None) -> None:
    import logging

    from ._settings import json_logs

    log = logging.getLogger("seekapi")
    extra = _log_extra(host)
    what = f"map item {failure.index} failed ({failure.stage})"
    if exc is not None and json_logs():
        # Lambda's JSON format puts the exception in the record's own fields (errorType,
        # errorMessage, stackTrace); its message is the masked one the outcome holds.
        exc_info = (type(exc), _ScrubbedError(failure.message), exc.__traceback__)
        log.warning("%s", what, exc_info=exc_info, extra=extra)
        return
    log.warning("%s with %s: %s", what, failure.error, failure.message, extra=extra)


class _Progress:
    """When to push a snapshot of the outcome so far: every N items or T seconds."""

    def __init__(self, tally: _MapTally) -> None:
        self.tally = tally
        self.every = tally.plan.progress_every
        self.seconds = tally.plan.progress_seconds
        self.pushed_changes = 0
        self.pushed_at = tally.clock()

    @property
    def enabled(self) -> bool:
        return self.every is not None or self.seconds is not None

    def wait(self) -> float:
        """How long the waiting side may sleep before it looks again (also when no
        snapshots are asked for: the wait must stay interruptible)."""
        due = (
            _WAIT_SLICE
            if self.seconds is None
            else self.pushed_at + self.seconds - self.tally.clock()
        )
        # Past due with nothing new: the next finished item wakes the waiter anyway.
        return _WAIT_SLICE if due <= 0 else min(_WAIT_SLICE, due)

    def due(self) -> bool:
        changes = self.tally.changes
        if changes == self.pushed_changes:
            return False
        if self.every is not None and changes - self.pushed_changes >= self.every:
            return True
        return self.seconds is not None and self.tally.clock() - self.pushed_at >= self.seconds

    def snapshot(self) -> dict[str, Any]:
        """The outcome so far, taken now: a later snapshot always holds more."""
        self.pushed_changes = self.tally.changes
        self.pushed_at = self.tally.clock()
        return self.tally.outcome().to_json()


def _log_progress_failure(host: MapHost, exc: Exception) -> None:
    import logging

    from ._messages import safe_str

    # Best effort: a lost snapshot is replaced by the next one, or by the result.
    log = logging.getLogger("seekapi")
    extra = _log_extra(host)
    log.warning("a progress snapshot of a map was not pushed: %s", type(exc).__name__, extra=extra)
    log.debug("snapshot failure: %s", _mask(host, safe_str(exc))[:200], extra=extra)


def _mask(host: MapHost, text: str) -> str:
    from ._redact import scrub

    return scrub(text, _secrets(host))


# -- threads ------------------------------------------------------------------------------


def map_in_threads(
    host: MapHost, fn: Callable[[Any], Any], plan: MapPlan
) -> tuple[MapOutcome[Any], BaseException | None]:
    """Run ``fn`` over the plan's items in up to ``concurrency`` threads.

    Returns the outcome, and the exception the caller must raise (an item's
    ``job.stop()``, or its error under ``on_error="raise"``), once every thread has
    ended. An exception raised into the calling thread while it waits (the job's
    deadline) stops the map, billing included, and propagates at once: threads still
    running an item finish it without charging.
    """
    tally = _MapTally(host, plan)
    progress = _Progress(tally)
    crew = _Crew()
    if progress.enabled:
        tally.on_change = crew.notify  # the waiting thread pushes snapshots as items finish
    try:
        crew.start(min(plan.concurrency, tally.total), lambda: _thread_items(tally, fn))
        while crew.wait(progress.wait()):
            if progress.due():
                try:
                    host.push_data(progress.snapshot())
                except Exception as exc:  # noqa: BLE001 - snapshots are best effort
                    _log_progress_failure(host, exc)
    except BaseException:
        # Interrupted (the job's deadline): nothing more starts or is charged.
        tally.stop(STOPPED_INTERRUPTED, billing=False)
        raise
    return tally.outcome(), tally.raised


class _Crew:
    """A map's threads, and the condition the calling thread waits on."""

    def __init__(self) -> None:
        import threading

        self._thread = threading.Thread
        self._wake = threading.Condition(threading.Lock())
        self._running = 0

    def start(self, count: int, target: Callable[[], None]) -> None:
        for number in range(count):
            # One copy of the caller's context per thread (a context is entered by one
            # thread at a time): current_job() and the job's deadline work in fn.
            context = copy_context()
            thread = self._thread(
                target=context.run,
                args=(self._serve, target),
                name=f"seekapi-map-{number}",
                daemon=True,  # an item that never returns must not hold the process
            )
            with self._wake:
                self._running += 1
            try:
                thread.start()
            except BaseException:
                with self._wake:
                    self._running -= 1
                raise

    def _serve(self, target: Callable[[], None]) -> None:
        try:
            target()
        finally:
            with self._wake:
                self._running -= 1
                self._wake.notify_all()

    def notify(self) -> None:
        with self._wake:
            self._wake.notify_all()

    def wait(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for a change; True while threads are still running."""
        with self._wake:
            if self._running:
                self._wake.wait(seconds)
            return self._running > 0


def _thread_items(tally: _MapTally, fn: Callable[[Any], Any]) -> None:
    plan = tally.plan
    while True:
        index = tally.take()
        if index is None:
            return
        started = tally.clock()
        try:
            value = fn(plan.items[index])
        except Exception as exc:  # noqa: BLE001 - kept in the outcome
            tally.failure(index, exc, started, "item")
            _changed(tally)
            continue
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            tally.ended(index, exc)
            _changed(tally)
            return
        _bill(tally, index, value, started)
        _changed(tally)


def _bill(tally: _MapTally, index: int, value: Any, started: float) -> None:
    plan = tally.plan
    if plan.keys is None:
        tally.delivered(index, value, started, None)
        return
    if not tally.may_bill():
        tally.dropped_item(index, started)
        return
    proof = _proof(tally, index, value, started)
    if proof is _NO_PROOF:
        return
    try:
        reply = tally.host.charge(
            plan.keys[index],
            plan.charge,
            justification=proof,
            timeout=plan.charge_timeout,
        )
    except JobClosedError:
        tally.stop(STOPPED_INTERRUPTED, billing=False)
        tally.dropped_item(index, started)
        return
    except Exception as exc:  # noqa: BLE001 - kept in the outcome
        tally.failure(index, exc, started, "charge")
        return
    _settle_charge(tally, index, value, started, reply)


_NO_PROOF: Any = object()  # justification() raised: the item failed, nothing is charged


def _proof(tally: _MapTally, index: int, value: Any, started: float) -> Any:
    """The charge's justification for this item (``None`` for none)."""
    make = tally.plan.justification
    if make is None:
        return None
    try:
        return make(tally.plan.items[index], value)
    except Exception as exc:  # noqa: BLE001 - the item fails, unbilled
        tally.failure(index, exc, started, "item")
        return _NO_PROOF


def _settle_charge(
    tally: _MapTally, index: int, value: Any, started: float, reply: dict[str, Any]
) -> None:
    if reply.get("ok") is False:
        # A 2xx answer saying it was not recorded: not billed, so not delivered.
        refused = ItemFailure(index, "ChargeRefused", "the charge was answered ok: false", "charge")
        tally.record_failure(refused, None, started)
        return
    tally.delivered(index, value, started, reply)


def _changed(tally: _MapTally) -> None:
    if tally.on_change is not None:
        tally.on_change()


# -- tasks --------------------------------------------------------------------------------


async def map_in_tasks(
    host: MapHost, fn: Callable[[Any], Awaitable[Any]], plan: MapPlan
) -> tuple[MapOutcome[Any], BaseException | None]:
    """:func:`map_in_threads` for ``async def`` functions: up to ``concurrency`` tasks
    of the running loop; charges and snapshots go through the job's ``*_async`` calls,
    so the loop is never blocked. Cancelling the awaiting task (the job's deadline)
    cancels the tasks and stops billing; a charge already sent may still be billed."""
    import asyncio

    tally = _MapTally(host, plan)
    progress = _Progress(tally)
    changed = asyncio.Event()
    if progress.enabled:
        tally.on_change = changed.set  # tasks run on this loop's thread
    count = min(plan.concurrency, tally.total)
    tasks = [asyncio.ensure_future(_task_items(tally, fn)) for _ in range(count)]
    try:
        if tasks and not progress.enabled:
            await asyncio.wait(tasks)
        pending: set[asyncio.Future[Any]] = {task for task in tasks if not task.done()}
        while pending:
            woken = asyncio.ensure_future(changed.wait())
            try:
                await asyncio.wait(
                    {*pending, woken}, timeout=progress.wait(), return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                woken.cancel()
            changed.clear()
            pending = {task for task in pending if not task.done()}
            if pending and progress.due():
                try:
                    await host.push_data_async(progress.snapshot())
                except Exception as exc:  # noqa: BLE001 - snapshots are best effort
                    _log_progress_failure(host, exc)
    except BaseException:
        tally.stop(STOPPED_INTERRUPTED, billing=False)
        for task in tasks:
            task.cancel()
        raise
    return tally.outcome(), tally.raised


async def _task_items(tally: _MapTally, fn: Callable[[Any], Awaitable[Any]]) -> None:
    while True:
        index = tally.take()
        if index is None:
            return
        started = tally.clock()
        try:
            value = await fn(tally.plan.items[index])
        except Exception as exc:  # noqa: BLE001 - kept in the outcome
            tally.failure(index, exc, started, "item")
            _changed(tally)
            continue
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
            tally.ended(index, exc)
            _changed(tally)
            return
        await _bill_async(tally, index, value, started)
        _changed(tally)


async def _bill_async(tally: _MapTally, index: int, value: Any, started: float) -> None:
    plan = tally.plan
    if plan.keys is None:
        tally.delivered(index, value, started, None)
        return
    if not tally.may_bill():
        tally.dropped_item(index, started)
        return
    proof = _proof(tally, index, value, started)
    if proof is _NO_PROOF:
        return
    try:
        reply = await tally.host.charge_async(
            plan.keys[index],
            plan.charge,
            justification=proof,
            timeout=plan.charge_timeout,
        )
    except JobClosedError:
        tally.stop(STOPPED_INTERRUPTED, billing=False)
        tally.dropped_item(index, started)
        return
    except Exception as exc:  # noqa: BLE001 - kept in the outcome
        tally.failure(index, exc, started, "charge")
        return
    _settle_charge(tally, index, value, started, reply)
