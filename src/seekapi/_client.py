"""The client: time budget, retries and redirects around the transport.

A call gets a :class:`~seekapi._deadline.Budget` (see :mod:`seekapi._deadline`): an
overall deadline, a limit on each stall and a limit on connection set-up.

Retries: see :mod:`seekapi._retry` for which calls may be repeated, for how long, and
why. Between attempts the client waits with jittered exponential backoff, or what
``Retry-After`` asks; it fails at once, without sleeping, when a ``Retry-After`` wait
would not fit before the deadline. A connection taken from the pool that turns out dead
before any answer is replaced at once, without counting as a failed attempt.

Replies: a 2xx reply to a backend call that is not a JSON object (not JSON, nested too
deeply to parse, a list...) does not fail the call, because the backend took the
request: ``push_data``, ``push_file`` and ``register_request_id`` return
``{"ok": True}``, ``charge`` returns ``{"ok": True, "metered_event_count": 0,
"limit_reached": False}`` (the charge was billed; raising would make the worker think it
was not), and a warning is logged once per process for each call kind.

Redirects: a ``POST`` is never redirected (a 3xx is an error, so the internal secret
never travels to another origin); the input ``GET`` carries no SDK credentials and
follows at most :data:`MAX_REDIRECTS` redirects to http or https URLs.

Errors: only :mod:`seekapi.errors` classes leave the client; every transport or parsing
failure is mapped to one by :func:`seekapi._errors_map.public_error`. Messages never hold
a secret: see :mod:`seekapi._redact` for how server text is shown.

Lambda SnapStart: when ``snapshot_restore_py`` can be imported (under SnapStart, or
already imported by the runtime or the worker), the default client registers an
after-restore hook with it when it is created. The hook drops pooled
connections (their peers are gone after a restore) and reseeds the retry jitter (every
copy restored from one snapshot would otherwise draw the same waits).
"""

from __future__ import annotations

import _thread
import json
import math
import os
import time

from . import _wire
from ._deadline import Budget
from ._errors_map import answer_error, budget_spent, hidden, public_error, status_error
from ._redact import display_url, query_secrets
from ._retry import Answer, Failure, GiveUp, Replay, RetryPolicy, decide, parse_retry_after
from .errors import HTTPStatusError, InvalidResponseError, SeekAPIError

# typing and dataclasses cost milliseconds to import, on a Lambda's first call.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import random
    import ssl
    from collections.abc import Callable, Mapping, Sequence
    from typing import NoReturn

    from ._retry import Decision
    from ._transport import AttemptFailed, Request, Response, StreamBody, Transport

MAX_REDIRECTS = 5
MAX_REPLY_BYTES = 8 * 1024 * 1024
"""Cap on a backend reply: the platform answers small JSON objects."""


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
        self.jitter: random.Random | None = None
        """The generator of backoff waits when ``rand`` was not given (see :meth:`reseed`)."""
        if rand is None:
            import random

            self.jitter = random.Random()  # noqa: S311 - for waits, not for secrets
            rand = self.jitter.random
        self._rand = rand
        self._wall = wall_clock
        self._transport: Transport = Transport(ssl_context=ssl_context, clock=clock)

    def close(self) -> None:
        """Close pooled connections."""
        self._transport.close()

    def after_restore(self) -> None:
        """Forget what a snapshot froze: pooled connections, whose peers are gone, and the
        jitter's state, which every copy restored from the snapshot would share."""
        self._transport.close()
        if self.jitter is not None:
            self.jitter.seed()  # from the system's randomness, different in each copy

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
        accepted_reply: Mapping[str, object] | None = None,
    ) -> dict[str, object]:
        """POST a JSON body to the backend; return its JSON object reply.

        A 2xx reply that is not a JSON object gives a copy of ``accepted_reply`` (by
        default the one for the backend endpoint ``url`` names, see the module) and a
        warning; for a URL that is no backend endpoint it raises
        :class:`~seekapi.errors.InvalidResponseError`.
        """
        from ._transport import Request

        headers = (("Content-Type", "application/json"), (_wire.SECRET_HEADER, secret))
        request = Request("POST", url, headers, body)
        response = self._send(request, budget, replay, MAX_REPLY_BYTES, (secret, *hide))
        return _json_reply(response, request, (secret, *hide), accepted_reply)

    def post_stream(
        self,
        url: str,
        body: StreamBody,
        *,
        secret: str,
        budget: Budget,
        replay: Replay,
        hide: Sequence[str] = (),
        accepted_reply: Mapping[str, object] | None = None,
    ) -> dict[str, object]:
        """POST a streamed body (a file upload); return the JSON object reply (as
        :meth:`post_json` does)."""
        from ._transport import Request

        request = Request("POST", url, ((_wire.SECRET_HEADER, secret),), body)
        response = self._send(request, budget, replay, MAX_REPLY_BYTES, (secret, *hide))
        return _json_reply(response, request, (secret, *hide), accepted_reply)

    def get(self, url: str, *, budget: Budget, max_body: int) -> Response:
        """GET ``url`` (no SDK credentials), following redirects; return a 2xx response.

        Raises :class:`~seekapi.errors.InvalidResponseError` (with ``limit`` and
        ``declared``) when the body exceeds ``max_body``.
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
                raise status_error(response, request, 1, hidden)
            try:
                url = urljoin(url, location.strip())
            except ValueError as exc:  # an unusable Location ("http://[::1", say)
                raise public_error(exc, request, hidden) from None
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
        """Send ``request`` until an answer to return arrives (2xx, or 3xx with
        ``redirects``); raise when :func:`~seekapi._retry.decide` gives up."""
        from ._transport import AttemptFailed

        attempt = 0
        replaced_stale = False
        sent = False  # whether any attempt may have delivered the whole request
        while True:
            attempt += 1
            if budget.deadline.expired():
                raise budget_spent(request, attempt - 1, sent)
            result = self._attempt(request, budget, max_body, secrets)
            outcome: Answer | Failure
            if isinstance(result, AttemptFailed):
                sent = sent or result.request_sent
                outcome = _failure(result)
            else:
                sent = True
                if 200 <= result.status < 300 or (redirects and 300 <= result.status < 400):
                    return result
                asked = parse_retry_after(result.header("Retry-After"), self._wall())
                outcome = Answer(result.status, asked)
            decision = decide(
                attempt,
                outcome,
                replay,
                self.retry,
                left=budget.deadline.remaining(),
                draw=self._rand(),
                wait_cap=budget.reply or math.inf,
                replaced_stale=replaced_stale,
            )
            if decision.give_up is not None:
                _give_up(result, decision, request, attempt, secrets, sent=sent)
            if decision.fresh:
                replaced_stale = True
                attempt -= 1  # a connection that died while idle is no failed attempt
            elif decision.wait > 0:
                self._sleep(decision.wait)

    def _attempt(
        self, request: Request, budget: Budget, max_body: int, secrets: Sequence[str]
    ) -> Response | AttemptFailed:
        """One attempt: the response, or what went wrong when no response came."""
        from ._transport import AttemptFailed, BodyTooLarge

        try:
            return self._transport.send(
                request,
                deadline=budget.deadline,
                stall=budget.stall,
                connect=budget.connect,
                max_body=max_body,
                reply_within=budget.reply,
            )
        except AttemptFailed as failure:
            return failure
        except (BodyTooLarge, ValueError) as exc:
            # A body over the cap, or a URL or header that cannot be sent at all (a line
            # break in the secret...): no attempt can do better.
            if isinstance(exc, SeekAPIError):  # already public: a bad proxy variable, say
                raise
            raise public_error(exc, request, secrets) from None


def _give_up(
    result: Response | AttemptFailed,
    decision: Decision,
    request: Request,
    attempts: int,
    secrets: Sequence[str],
    *,
    sent: bool,
) -> NoReturn:
    """Raise the public error for the attempt after which ``decision`` gave up."""
    from ._transport import AttemptFailed

    if isinstance(result, AttemptFailed):
        out_of_time = decision.give_up is GiveUp.NO_TIME_LEFT
        error = public_error(
            result, request, secrets, attempts=attempts, sent=sent, out_of_time=out_of_time
        )
        raise error from result
    raise answer_error(result, decision, request, attempts, secrets)


def _failure(failure: AttemptFailed) -> Failure:
    """What the retry decision needs to know of an attempt that got no response."""
    return Failure(
        request_sent=failure.request_sent,
        timed_out=failure.deadline,
        permanent=failure.permanent,
        stale=failure.reused and not failure.response_started and not failure.timed_out,
    )


# What a backend endpoint's call returns when its 2xx reply cannot be read: the backend
# took the request, so the call must not fail. For a charge, the defaults local mode gives.
_ACCEPTED_REPLIES: dict[str, dict[str, object]] = {
    "/push": {"ok": True},
    "/push/file": {"ok": True},
    "/worker-request-id": {"ok": True},
    "/charge": {"ok": True, "metered_event_count": 0, "limit_reached": False},
}
_JOBS_PATH = "/v1/internal/jobs/"

_warned: set[str] = set()
_warned_lock = _thread.allocate_lock()


def _endpoint(url: str) -> str | None:
    path = url.partition("?")[0].partition("#")[0]
    if _JOBS_PATH not in path:
        return None
    tail = path.rpartition(_JOBS_PATH)[2].partition("/")[2]
    suffix = "/" + tail
    return suffix if suffix in _ACCEPTED_REPLIES else None


def _parse_object(body: bytes | bytearray) -> dict[str, object] | None:
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):  # deep nesting is a RecursionError, not ValueError
        return None
    return value if isinstance(value, dict) else None


def _json_reply(
    response: Response,
    request: Request,
    secrets: Sequence[str],
    accepted: Mapping[str, object] | None = None,
) -> dict[str, object]:
    body = response.body
    if not body.strip():
        return {"ok": True}
    value = _parse_object(body)
    if value is not None:
        return value
    # Built outside any except clause: a JSONDecodeError keeps the whole body (.doc), and
    # must not travel as the context of what is raised or logged.
    from ._redact import excerpt

    where = display_url(request.url)
    shown = excerpt(body, hidden(request.url, secrets))
    problem = (
        f"{request.method} {where} answered HTTP {response.status} with a body that is not"
        f" a JSON object ({len(body)} bytes: {shown})"
    )
    endpoint = _endpoint(request.url)
    if accepted is None and endpoint is not None:
        accepted = _ACCEPTED_REPLIES[endpoint]
    if accepted is None:
        raise InvalidResponseError(problem)
    reply = dict(accepted)
    _warn_once(
        endpoint or where,
        f"{problem}; the backend took the request, so the call returns {reply!r}",
    )
    return reply


def _warn_once(key: str, message: str) -> None:
    with _warned_lock:
        if key in _warned:
            seen = True
        else:
            _warned.add(key)
            seen = False
    import logging

    logger = logging.getLogger("seekapi")
    if seen:
        logger.debug(message)
    else:
        logger.warning(message)


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
                _register_restore_hook()
    return client


_restore_hook_module: object | None = None
"""The ``snapshot_restore_py`` module the after-restore hook was registered with."""


def _register_restore_hook() -> None:
    """Under Lambda SnapStart, have restored copies drop connections and reseed the jitter.

    ``snapshot_restore_py`` is used when it is already imported, or imported when
    ``AWS_LAMBDA_INITIALIZATION_TYPE`` is ``snap-start`` (it imports typing: milliseconds
    that a cold start elsewhere need not pay). Only here, when the default client is
    made: ``import seekapi`` never looks for it. Registered once per process.
    """
    global _restore_hook_module  # noqa: PLW0603
    import sys

    module = sys.modules.get("snapshot_restore_py")
    if module is None:
        if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") != "snap-start":
            return
        try:
            module = __import__("snapshot_restore_py")
        except ImportError:
            return
    if module is _restore_hook_module:
        return
    register = getattr(module, "register_after_restore", None)
    if not callable(register):
        return
    try:
        register(_after_restore)
    except Exception:  # noqa: BLE001 - SnapStart support must never break a call
        return
    _restore_hook_module = module


def _after_restore() -> None:
    client = _default
    if client is not None:
        client.after_restore()


def reset_default_client() -> None:
    """Close the default client's connections and forget it; the next call builds a new one.

    Tests use this between cases so that settings such as ``SSL_CERT_FILE`` are read anew.
    """
    global _default
    with _default_lock:
        client, _default = _default, None
    with _warned_lock:
        _warned.clear()
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
