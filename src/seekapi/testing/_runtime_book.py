"""What the loopback Lambda Runtime API keeps: the queued invocations, their outcomes,
the init errors, the protocol problems and the runtime processes it waits for.

:class:`InvocationBook` is shared by :class:`~seekapi.testing.RuntimeAPI`, which queues
and reads, and the HTTP side (:mod:`._runtime_http`), which hands invocations out and
records what the runtime posts; one lock (a condition) guards it all.
"""

from __future__ import annotations

import collections
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

__all__ = [
    "MAX_RESPONSE_BYTES",
    "RESPONSE_TOO_LARGE",
    "SHUTDOWN_STATUS",
    "AttachedProcess",
    "InvocationBook",
    "RuntimeInitError",
    "RuntimeInvocation",
    "too_large_error",
]

SHUTDOWN_STATUS = 500
"""The status ``/next`` answers once the API is stopping; awslambdaric exits on it."""

MAX_RESPONSE_BYTES = 6_291_556
"""The largest response Lambda accepts from a function invoked synchronously, in bytes."""

RESPONSE_TOO_LARGE = "Function.ResponseSizeTooLarge"
"""The ``errorType`` of an invocation whose response was over the limit."""

ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
"""The header of an error post that names its type."""

POLL_S = 0.02
"""How often a waiting ``/next`` looks for a runtime that hung up, and a waiting
``wait()`` for a runtime process that died."""


class AttachedProcess(Protocol):
    """A runtime process :meth:`RuntimeAPI.stop` waits for (a ``subprocess.Popen`` with
    a ``stop(grace_s)`` method, as :class:`seekapi.testing.RuntimeProcess`)."""

    returncode: int | None

    def poll(self) -> int | None: ...

    def stop(self, grace_s: float = 2.0) -> int: ...


@dataclass(eq=False)
class RuntimeInvocation:
    """One queued invocation and, once the runtime answered, its outcome.

    ``deadline_epoch_ms`` and ``delivered_at_*`` are set when the runtime takes the
    invocation from ``/next`` (the deadline is that moment plus ``timeout_s``); the
    ``responded_*`` fields, ``outcome``, ``body``, ``headers`` (lower-case names) and
    either ``response`` or ``error`` when the runtime posts the outcome. ``response`` and
    ``error`` hold the parsed JSON body (``None`` if it was not JSON; ``body`` has the
    raw bytes). awslambdaric's error body is ``{"errorMessage", "errorType",
    "requestId", "stackTrace"}``. A response over the API's size limit is refused:
    ``outcome`` is then ``"error"``, ``error`` is Lambda's
    ``{"errorType": "Function.ResponseSizeTooLarge", "errorMessage": ...}``, ``body`` is
    ``None`` and ``response_bytes`` says how large it was.
    """

    request_id: str
    event: Any
    timeout_s: float
    trace_id: str
    deadline_epoch_ms: int | None = None
    delivered_at_epoch: float | None = None
    delivered_at_monotonic: float | None = None
    outcome: Literal["response", "error"] | None = None
    response: Any = None
    error: Any = None
    error_type: str | None = None
    """The ``Lambda-Runtime-Function-Error-Type`` header, if any (awslambdaric 4.2.2 sends
    it on ``/init/error`` only; the type of a handler's exception is in ``error``)."""
    body: bytes | None = None
    response_bytes: int = 0
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    responded_at_epoch: float | None = None
    responded_at_monotonic: float | None = None
    _done: threading.Event = field(default_factory=threading.Event, init=False, repr=False)

    @property
    def done(self) -> bool:
        """Whether the runtime has posted a response or an error for this invocation."""
        return self._done.is_set()

    @property
    def failed(self) -> bool:
        """Whether the outcome is an error (the handler raised, or the response was refused)."""
        return self.outcome == "error"

    @property
    def duration_s(self) -> float | None:
        """Seconds from delivery to the outcome's arrival; ``None`` until answered."""
        if self.delivered_at_monotonic is None or self.responded_at_monotonic is None:
            return None
        return self.responded_at_monotonic - self.delivered_at_monotonic

    @property
    def margin_s(self) -> float:
        """Seconds between the outcome's arrival and the deadline (negative if late).

        Raises RuntimeError while the invocation has not been answered.
        """
        if self.deadline_epoch_ms is None or self.responded_at_epoch is None:
            raise RuntimeError(f"invocation {self.request_id} has not been answered yet")
        return self.deadline_epoch_ms / 1000.0 - self.responded_at_epoch

    def wait_done(self, timeout: float | None) -> bool:
        """Block up to ``timeout`` seconds for the outcome; whether it arrived."""
        return self._done.wait(timeout)


@dataclass(frozen=True)
class RuntimeInitError:
    """An ``/init/error`` post: the handler could not be loaded."""

    body: Any
    error_type: str | None
    at_epoch: float


class InvocationBook:
    """The invocations queued, handed out and answered, and what else the API saw."""

    def __init__(self, max_response_bytes: int) -> None:
        self.max_response_bytes = max_response_bytes
        self._cond = threading.Condition()
        self._queue: collections.deque[RuntimeInvocation] = collections.deque()
        self._by_id: dict[str, RuntimeInvocation] = {}
        self._invocations: list[RuntimeInvocation] = []
        self._init_errors: list[RuntimeInitError] = []
        self._problems: list[str] = []
        self._polls: list[float] = []
        self._processes: list[AttachedProcess] = []
        self._stopping = False

    # ---- what RuntimeAPI asks ------------------------------------------------------------

    def queue(self, invocation: RuntimeInvocation) -> None:
        """Queue ``invocation``; ValueError for a request id used before."""
        with self._cond:
            if self._stopping:
                raise RuntimeError("the RuntimeAPI is stopped")
            if invocation.request_id in self._by_id:
                raise ValueError(f"request id {invocation.request_id!r} was already used")
            self._by_id[invocation.request_id] = invocation
            self._invocations.append(invocation)
            self._queue.append(invocation)
            self._cond.notify_all()

    def stop(self) -> list[AttachedProcess]:
        """Refuse further work and wake every waiting ``/next``; the processes to wait for."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            return list(self._processes)

    def attach(self, process: AttachedProcess) -> None:
        with self._cond:
            self._processes.append(process)

    @property
    def processes(self) -> list[AttachedProcess]:
        with self._cond:
            return list(self._processes)

    @property
    def stopping(self) -> bool:
        with self._cond:
            return self._stopping

    @property
    def invocations(self) -> list[RuntimeInvocation]:
        with self._cond:
            return list(self._invocations)

    @property
    def init_errors(self) -> list[RuntimeInitError]:
        with self._cond:
            return list(self._init_errors)

    @property
    def problems(self) -> list[str]:
        with self._cond:
            return list(self._problems)

    def first_poll_after(self, since: float) -> float | None:
        with self._cond:
            return next((at for at in self._polls if at >= since), None)

    # ---- what the HTTP side reports ------------------------------------------------------

    def problem(self, text: str) -> None:
        """Note a request that broke the protocol, or a failure of the server itself."""
        with self._cond:
            self._problems.append(text)

    def take_next(self, hung_up: Callable[[], bool]) -> RuntimeInvocation | None:
        """The next queued invocation, waiting for one; None once stopping.

        ``hung_up`` says whether the runtime closed its connection meanwhile: a runtime
        killed while polling must not swallow the next invocation.
        """
        with self._cond:
            self._polls.append(time.monotonic())
        while True:
            with self._cond:
                if self._stopping:
                    return None
                if self._queue:
                    invocation = self._queue.popleft()
                    invocation.delivered_at_monotonic = time.monotonic()
                    invocation.delivered_at_epoch = now = time.time()
                    invocation.deadline_epoch_ms = int((now + invocation.timeout_s) * 1000)
                    return invocation
                self._cond.wait(POLL_S)
            if hung_up():
                raise ConnectionAbortedError("the runtime closed its /next connection")

    def requeue(self, invocation: RuntimeInvocation) -> None:
        """Put back an invocation whose ``/next`` answer could not be sent."""
        with self._cond:
            invocation.deadline_epoch_ms = None
            invocation.delivered_at_epoch = invocation.delivered_at_monotonic = None
            self._queue.appendleft(invocation)
            self._cond.notify_all()

    def record_result(
        self,
        request_id: str,
        kind: Literal["response", "error"],
        body: bytes | None,
        size: int,
        headers: dict[str, str],
    ) -> str | None:
        """Store an outcome (``body`` is ``None`` for a response over the limit); the
        reason it is refused, or None."""
        epoch, monotonic = time.time(), time.monotonic()
        with self._cond:
            invocation = self._by_id.get(request_id)
            if invocation is None:
                return f"unknown request id {request_id!r}"
            if invocation.delivered_at_epoch is None:
                return f"request id {request_id!r} was not handed out by /next"
            if invocation.done:
                return f"request id {request_id!r} was already answered"
            invocation.response_bytes = size
            if body is None:
                kind = "error"
                invocation.error = too_large_error(self.max_response_bytes)
            elif kind == "response":
                invocation.response = _parse_json(body)
            else:
                invocation.error = _parse_json(body)
                invocation.error_type = headers.get(ERROR_TYPE_HEADER.lower())
            invocation.body = body
            invocation.content_type = headers.get("content-type")
            invocation.outcome = kind
            invocation.headers = headers
            invocation.responded_at_epoch = epoch
            invocation.responded_at_monotonic = monotonic
            invocation._done.set()
        return None

    def record_init_error(self, body: bytes, headers: dict[str, str]) -> None:
        error = RuntimeInitError(
            body=_parse_json(body),
            error_type=headers.get(ERROR_TYPE_HEADER.lower()),
            at_epoch=time.time(),
        )
        with self._cond:
            self._init_errors.append(error)


def too_large_error(limit: int = MAX_RESPONSE_BYTES) -> dict[str, str]:
    """Lambda's error for a response over ``limit`` bytes."""
    return {
        "errorType": RESPONSE_TOO_LARGE,
        "errorMessage": (
            f"Response payload size exceeded maximum allowed payload size ({limit} bytes)."
        ),
    }


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None
