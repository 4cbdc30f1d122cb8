"""From what the transport reports to the public errors of :mod:`seekapi.errors`.

:func:`public_error` is the one mapping of a transport or parsing failure: an attempt
that got no answer (:class:`~seekapi._transport.AttemptFailed`), a body over the cap
(:data:`~seekapi._transport.BodyTooLarge`), a URL or header that cannot be sent (a
``ValueError``). :func:`status_error` builds the error for an answer outside 2xx. So
only documented :class:`~seekapi.errors.SeekAPIError` subclasses leave the client.

Every message is built here, and none holds a secret: see :mod:`seekapi._redact`.
"""

from __future__ import annotations

from ._redact import display_url, scrub
from .errors import DeadlineExceeded, HTTPStatusError, SeekAPIError, TransportError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._retry import Decision
    from ._transport import AttemptFailed, BodyTooLarge, Request, Response


def hidden(url: str, secrets: Sequence[str]) -> tuple[str, ...]:
    """Everything to keep out of a message about a request to ``url``: ``secrets`` and
    the credentials of the proxy it goes through."""
    from ._proxy import credentials_for

    return (*secrets, *credentials_for(url))


def public_error(
    exc: AttemptFailed | BodyTooLarge | ValueError,
    request: Request,
    secrets: Sequence[str],
    *,
    attempts: int = 1,
    sent: bool | None = None,
    out_of_time: bool = False,
) -> SeekAPIError:
    """The public error for a failure of ``request`` that is not an answer.

    An attempt that got no answer is a :class:`~seekapi.errors.TransportError`
    (:class:`~seekapi.errors.DeadlineExceeded` when the budget ran out during it, or
    when ``out_of_time`` says no further attempt fits); ``attempts`` is how many were
    made and ``sent`` whether any may have delivered the whole request. A body over the
    cap is an :class:`~seekapi.errors.InvalidResponseError` carrying ``limit`` and
    ``declared``. A URL or header that cannot be sent is a
    :class:`~seekapi.errors.ConfigurationError`; an error that already is a
    :class:`~seekapi.errors.SeekAPIError` (a bad proxy variable) is returned as it is.
    """
    from ._transport import AttemptFailed, BodyTooLarge

    where = display_url(request.url)
    masks = hidden(request.url, secrets)
    if isinstance(exc, SeekAPIError):
        return exc
    if isinstance(exc, AttemptFailed):
        request_sent = exc.request_sent if sent is None else sent
        return _no_answer(
            exc,
            request,
            where,
            masks,
            attempts=attempts,
            sent=request_sent,
            out_of_time=out_of_time,
        )
    if isinstance(exc, BodyTooLarge):
        from .errors import InvalidResponseError

        message = f"{request.method} {where} answered with a body larger than {exc.limit} bytes"
        if request.method == "POST":  # only backend calls are POSTs
            message += "; the platform answers small JSON objects"
        return InvalidResponseError(message, limit=exc.limit, declared=exc.declared)
    from .errors import ConfigurationError

    return ConfigurationError(f"{request.method} {where}: {scrub(str(exc), masks)}")


def _no_answer(
    failure: AttemptFailed,
    request: Request,
    where: str,
    masks: Sequence[str],
    *,
    attempts: int,
    sent: bool,
    out_of_time: bool,
) -> TransportError:
    reason = scrub(str(failure), masks)
    if out_of_time:
        message = (
            f"{request.method} {where}: {reason}; no time left to retry within the time"
            f" budget after {attempts} attempt(s)"
        )
    else:
        message = f"{request.method} {where}: {reason}"
        if attempts > 1:
            message += f" (after {attempts} attempts)"
    cls = DeadlineExceeded if failure.deadline or out_of_time else TransportError
    return cls(message, method=request.method, where=where, attempts=attempts, request_sent=sent)


def budget_spent(request: Request, attempts: int, sent: bool) -> DeadlineExceeded:
    """The error for a call whose budget ran out before its next attempt could start."""
    where = display_url(request.url)
    return DeadlineExceeded(
        f"{request.method} {where}: the time budget ran out"
        + (f" after {attempts} attempt(s)" if attempts else ""),
        method=request.method,
        where=where,
        attempts=attempts,
        request_sent=sent,
    )


def answer_error(
    response: Response,
    decision: Decision,
    request: Request,
    attempts: int,
    secrets: Sequence[str],
) -> HTTPStatusError:
    """The error for an answer outside 2xx after which the retry ``decision`` gave up."""
    from ._retry import GiveUp

    note = ""
    if decision.give_up is GiveUp.RETRY_AFTER_TOO_LONG:
        note = (
            f"the server asked to retry after {decision.wait:g} s, more"
            f" than the {decision.may_wait:.1f} s this call may still wait"
        )
    elif decision.give_up is GiveUp.NO_TIME_LEFT:
        # The answer says more than "out of time" would: its status and body.
        note = "no time left to retry within the time budget"
    return status_error(response, request, attempts, secrets, note=note)


def status_error(
    response: Response,
    request: Request,
    attempts: int,
    secrets: Sequence[str],
    *,
    note: str = "",
) -> HTTPStatusError:
    """The error for ``response``, an answer outside 2xx: its status, reason and a safe
    excerpt of its body (see :mod:`seekapi._redact`), and ``note`` when given."""
    from ._redact import clean_text, excerpt

    where = display_url(request.url)
    masks = hidden(request.url, secrets)
    shown = excerpt(response.body, masks)
    reason = clean_text(response.reason, masks)
    message = f"{request.method} {where} answered HTTP {response.status} {reason}".rstrip()
    if 300 <= response.status < 400:
        message += " (redirects are not followed for this call)"
    if note:
        message += f"; {note}"
    if attempts > 1:
        message += f" (after {attempts} attempts)"
    if shown:
        message += f": {shown}"
    return HTTPStatusError(
        message,
        status=response.status,
        method=request.method,
        where=where,
        body_excerpt=shown,
        attempts=attempts,
    )
