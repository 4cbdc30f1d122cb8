"""The client: time budget, retries and redirects around the transport.

A call gets a :class:`Budget`: an overall deadline (its ``timeout``, and under ``run()``
the job's deadline too), a limit on each stall (no byte moving), and a limit on
connection set-up. For the JSON calls the stall and set-up limits are half the call's
``timeout`` (at least 1 s), so an attempt that hangs leaves time for another.

Retries: see :mod:`seekapi._retry` for which calls may be repeated and why. Between
attempts the client waits with jittered exponential backoff, or what ``Retry-After``
asks; it fails at once, without sleeping, when that wait would not fit before the
deadline. A connection taken from the pool that turns out dead before any answer is
replaced at once, without counting as a failed attempt.

Redirects: a ``POST`` is never redirected (a 3xx is an error, so the internal secret
never travels to another origin); the input ``GET`` carries no SDK credentials and
follows at most :data:`MAX_REDIRECTS` redirects to http or https URLs.
"""

from __future__ import annotations

import _thread
import json
import math
import os
import time
from contextvars import ContextVar

from ._redact import display_url, mask_signing_details, query_secrets, scrub
from ._retry import Deadline, Replay, RetryPolicy, parse_retry_after
from .errors import DeadlineExceeded, HTTPStatusError, InvalidResponseError, TransportError

# typing and dataclasses cost milliseconds to import, on a Lambda's first call.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import ssl
    from collections.abc import Callable, Sequence

    from ._transport import Request, Response, StreamBody, Transport

MAX_REDIRECTS = 5
MAX_REPLY_BYTES = 8 * 1024 * 1024
"""Cap on a backend reply: the platform answers small JSON objects."""
_EXCERPT_CHARS = 300

job_deadline: ContextVar[Deadline | None] = ContextVar("seekapi_job_deadline", default=None)
"""The deadline of the job being run by ``run()``; every call in it is bounded by it too."""


class Budget:
    """How long a call may take: overall, per stall, to set up a connection, and (when
    ``reply`` is set) for the answer to an upload and for each wait between attempts."""

    __slots__ = ("connect", "deadline", "reply", "stall")

    def __init__(
        self, deadline: Deadline, stall: float, connect: float, reply: float | None = None
    ) -> None:
        self.deadline = deadline
        self.stall = stall
        self.connect = connect
        self.reply = reply

    @classmethod
    def total(cls, timeout: float | None, clock: Callable[[], float] = time.monotonic) -> Budget:
        """``timeout`` bounds the whole call; each attempt's waits at most half of it.

        ``None`` (as 1.0.5 allowed) or ``inf`` means no overall limit.
        """
        seconds = _seconds(timeout)
        attempt = max(1.0, seconds / 2)
        deadline = Deadline.after(seconds, clock).earliest(job_deadline.get())
        return cls(deadline, attempt, attempt)

    @classmethod
    def per_stall(
        cls, timeout: float | None, clock: Callable[[], float] = time.monotonic
    ) -> Budget:
        """``timeout`` bounds set-up, each stall, the wait for the answer and each wait
        between attempts, but not the whole call: a large upload that keeps moving is not
        cut off."""
        seconds = _seconds(timeout)
        deadline = Deadline.never(clock).earliest(job_deadline.get())
        return cls(deadline, seconds, seconds, reply=seconds)


def _seconds(timeout: float | None) -> float:
    if timeout is None:
        return math.inf
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        from .errors import UsageError

        raise UsageError(f"timeout must be a number of seconds, not {type(timeout).__name__}")
    if math.isnan(timeout) or timeout <= 0:
        from .errors import UsageError

        raise UsageError("timeout must be a positive number of seconds")
    return float(timeout)


class Client:
    """Sends the SDK's requests. Thread-safe; one per process is enough."""

    def __init__(
        self,
        *,
        retry: RetryPolicy | None = None,
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        from ._transport import Transport

        self.retry = retry or RetryPolicy()
        self.clock = clock
        self._sleep = sleep
        if rand is None:
            import random

            rand = random.random
        self._rand = rand
        self._wall = wall_clock
        self._transport: Transport = Transport(ssl_context=ssl_context, clock=clock)

    def close(self) -> None:
        """Close pooled connections."""
        self._transport.close()

    # -- the calls --------------------------------------------------------------------

    def post_json(
        self,
        url: str,
        body: bytes,
        *,
        secret: str,
        budget: Budget,
        replay: Replay,
        hide: Sequence[str] = (),
    ) -> dict[str, object]:
        """POST a JSON body to the backend; return its JSON object reply."""
        from ._transport import Request

        headers = (("Content-Type", "application/json"), ("X-Internal-Secret", secret))
        request = Request("POST", url, headers, body)
        response = self._send_for_reply(request, budget, replay, (secret, *hide))
        return _json_reply(response, request, (secret, *hide))

    def post_stream(
        self,
        url: str,
        body: StreamBody,
        *,
        secret: str,
        budget: Budget,
        replay: Replay,
        hide: Sequence[str] = (),
    ) -> dict[str, object]:
        """POST a streamed body (a file upload); return the JSON object reply."""
        from ._transport import Request

        request = Request("POST", url, (("X-Internal-Secret", secret),), body)
        response = self._send_for_reply(request, budget, replay, (secret, *hide))
        return _json_reply(response, request, (secret, *hide))

    def get(self, url: str, *, budget: Budget, max_body: int) -> Response:
        """GET ``url`` (no SDK credentials), following redirects; return a 2xx response.

        Raises :class:`BodyTooLarge` from the transport when the body exceeds ``max_body``.
        """
        from urllib.parse import urljoin

        from ._transport import Request

        for _ in range(MAX_REDIRECTS + 1):
            request = Request("GET", url, (("Accept", "application/json"),))
            # A presigned URL's query is its credentials: keep them out of every message.
            hidden = query_secrets(url)
            response = self._send(request, budget, Replay.ALWAYS, max_body, hidden, redirects=True)
            if response.status < 300:
                return response
            location = response.header("Location")
            if response.status not in (301, 302, 303, 307, 308) or not location:
                raise _status_error(response, request, 1, hidden)
            url = urljoin(url, location.strip())
            if not url.lower().startswith(("http://", "https://")):
                raise HTTPStatusError(
                    f"GET {display_url(request.url)}: redirected to a non-HTTP URL",
                    status=response.status,
                    method="GET",
                    where=display_url(request.url),
                )
        raise HTTPStatusError(
            f"GET {display_url(url)}: more than {MAX_REDIRECTS} redirects",
            status=response.status,
            method="GET",
            where=display_url(url),
        )

    def _send_for_reply(
        self, request: Request, budget: Budget, replay: Replay, secrets: Sequence[str]
    ) -> Response:
        from ._transport import BodyTooLarge

        try:
            return self._send(request, budget, replay, MAX_REPLY_BYTES, secrets)
        except BodyTooLarge:
            raise InvalidResponseError(
                f"{request.method} {display_url(request.url)} answered with a body larger than"
                f" {MAX_REPLY_BYTES} bytes; the platform answers small JSON objects"
            ) from None

    # -- the retry loop ---------------------------------------------------------------

    def _send(
        self,
        request: Request,
        budget: Budget,
        replay: Replay,
        max_body: int,
        secrets: Sequence[str],
        *,
        redirects: bool = False,
    ) -> Response:
        from ._transport import AttemptFailed

        policy = self.retry
        deadline = budget.deadline
        where = display_url(request.url)
        attempt = 0
        replaced_stale = False
        while True:
            attempt += 1
            if deadline.expired():
                raise DeadlineExceeded(
                    f"{request.method} {where}: the time budget ran out"
                    + (f" after {attempt - 1} attempt(s)" if attempt > 1 else ""),
                    method=request.method,
                    where=where,
                    attempts=attempt - 1,
                    request_sent=attempt > 1,
                )
            try:
                response = self._transport.send(
                    request,
                    deadline=deadline,
                    stall=budget.stall,
                    connect=budget.connect,
                    max_body=max_body,
                    reply_within=budget.reply,
                )
            except AttemptFailed as failure:
                stale = failure.reused and not failure.response_started and not failure.timed_out
                allowed = policy.may_retry_failure(request_sent=failure.request_sent, replay=replay)
                if stale and allowed and not replaced_stale:
                    # A kept-alive connection that died while idle: try a fresh one now.
                    replaced_stale = True
                    attempt -= 1
                    continue
                if (
                    failure.deadline
                    or failure.permanent
                    or not allowed
                    or attempt >= policy.max_attempts
                ):
                    raise _transport_error(
                        failure, request.method, where, attempt, secrets
                    ) from failure
                wait = policy.backoff(attempt, self._rand)
                reason = scrub(str(failure), secrets)
            else:
                status = response.status
                if 200 <= status < 300 or (redirects and 300 <= status < 400):
                    return response
                if not policy.may_retry_status(status, replay) or attempt >= policy.max_attempts:
                    raise _status_error(response, request, attempt, secrets)
                asked = parse_retry_after(response.header("Retry-After"), self._wall())
                if asked is not None:
                    may_wait = min(
                        policy.max_retry_after, deadline.remaining(), budget.reply or math.inf
                    )
                    if asked >= may_wait:
                        raise _status_error(
                            response,
                            request,
                            attempt,
                            secrets,
                            note=f"the server asked to retry after {asked:g} s, more than the"
                            f" {may_wait:.1f} s this call may still wait",
                        )
                    wait = asked
                else:
                    wait = policy.backoff(attempt, self._rand)
                reason = f"HTTP {status}"
            if wait >= deadline.remaining():
                raise DeadlineExceeded(
                    f"{request.method} {where}: {reason}; no time left to retry within the"
                    f" time budget after {attempt} attempt(s)",
                    method=request.method,
                    where=where,
                    attempts=attempt,
                )
            if wait > 0:
                self._sleep(wait)


def _transport_error(
    failure: Exception, method: str, where: str, attempts: int, secrets: Sequence[str]
) -> TransportError:
    from ._transport import AttemptFailed

    assert isinstance(failure, AttemptFailed)
    message = f"{method} {where}: {scrub(str(failure), secrets)}"
    if attempts > 1:
        message += f" (after {attempts} attempts)"
    cls = DeadlineExceeded if failure.deadline else TransportError
    return cls(
        message, method=method, where=where, attempts=attempts, request_sent=failure.request_sent
    )


def _excerpt(body: bytes | bytearray, secrets: Sequence[str]) -> str:
    # Scrub the whole (bounded) body before cutting, so no secret is cut in half first.
    text = bytes(body[: _EXCERPT_CHARS * 16]).decode("utf-8", "replace")
    text = scrub(mask_signing_details(text), secrets)
    return " ".join(text.split())[:_EXCERPT_CHARS]


def _status_error(
    response: Response,
    request: Request,
    attempts: int,
    secrets: Sequence[str],
    *,
    note: str = "",
) -> HTTPStatusError:
    where = display_url(request.url)
    excerpt = _excerpt(response.body, secrets)
    reason = scrub(response.reason, secrets)
    message = f"{request.method} {where} answered HTTP {response.status} {reason}".rstrip()
    if 300 <= response.status < 400:
        message += " (redirects are not followed for this call)"
    if note:
        message += f"; {note}"
    if attempts > 1:
        message += f" (after {attempts} attempts)"
    if excerpt:
        message += f": {excerpt}"
    return HTTPStatusError(
        message,
        status=response.status,
        method=request.method,
        where=where,
        body_excerpt=excerpt,
        attempts=attempts,
    )


def _json_reply(response: Response, request: Request, secrets: Sequence[str]) -> dict[str, object]:
    body = response.body
    if not body.strip():
        return {"ok": True}
    try:
        value = json.loads(body)
    except ValueError as exc:
        raise InvalidResponseError(
            f"{request.method} {display_url(request.url)} answered HTTP {response.status}"
            f" with a body that is not JSON: {_excerpt(body, secrets)}"
        ) from exc
    if not isinstance(value, dict):
        raise InvalidResponseError(
            f"{request.method} {display_url(request.url)} answered HTTP {response.status}"
            f" with JSON that is not an object: {_excerpt(body, secrets)}"
        )
    return value


# -- the default client: one per process, so a warm Lambda reuses its connections ----

_default: Client | None = None
_default_lock = _thread.allocate_lock()


def default_client() -> Client:
    """The process-wide client, created on first use."""
    global _default  # noqa: PLW0603 - the one piece of global state, kept here
    client = _default
    if client is None:
        with _default_lock:
            client = _default
            if client is None:
                client = _default = Client()
    return client


def reset_default_client() -> None:
    """Close the default client's connections and forget it; the next call builds a new one.

    Tests use this between cases so that settings such as ``SSL_CERT_FILE`` are read anew.
    """
    global _default
    with _default_lock:
        client, _default = _default, None
    if client is not None:
        client.close()


def _forget_default_after_fork() -> None:
    # A forked child must not share the parent's kept-alive sockets: both would read
    # each other's answers. The child starts a client of its own; the inherited
    # sockets are left for the parent (closing them here would not affect it, but
    # there is nothing to gain).
    global _default, _default_lock  # noqa: PLW0603
    _default = None
    _default_lock = _thread.allocate_lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_default_after_fork)
