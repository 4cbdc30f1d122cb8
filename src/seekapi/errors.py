"""Exceptions raised by seekapi.

Every exception the SDK raises on purpose derives from :class:`SeekAPIError`::

    SeekAPIError
    ├── UsageError (ValueError)            the call itself is wrong: bad argument, missing
    │   │                                   context field, event that is not a mapping
    │   ├── InvalidEventError              the Lambda event is not a JSON object
    │   ├── ConfigurationError             a bad setting: fixtures file, environment value
    │   └── ContractError                  a type annotation that cannot be a contract
    ├── InvalidValue (ValueError)          a value that breaks a worker's contract:
    │                                       ``details`` lists each problem's JSON Pointer
    ├── JSONValueError (ValueError)        a value JSON cannot hold faithfully (NaN,
    │                                       circular reference, unknown object)
    ├── TransportError (OSError)           the request did not complete: connection
    │   │                                   refused or dropped, TLS failure, proxy failure
    │   └── DeadlineExceeded (TimeoutError) the call's time budget ran out
    ├── HTTPStatusError (OSError)          the server answered with a non-2xx status
    ├── InvalidResponseError (ValueError)  a 2xx reply too large to be a platform answer
    │                                       (8 MiB); an unreadable 2xx reply to a backend
    │                                       call returns defaults instead
    ├── InputError (ValueError)            get_input() failed; every failure of it is one
    │   ├── MissingInputError              the event has no input_presigned_url
    │   ├── InputTransportError            ... and a TransportError
    │   │   └── InputDeadlineExceeded      ... and a DeadlineExceeded
    │   ├── InputHTTPError                 ... and an HTTPStatusError
    │   ├── InputTooLargeError             the body is larger than the configured cap
    │   └── InputDecodeError               the body is not UTF-8 JSON
    ├── JobClosedError (RuntimeError)      a push or charge after the job has ended
    └── WorkerError                        raised by worker code to choose the failure
                                            code and message run() returns

    WorkerTimeout (BaseException)          raised into worker code when its time is up
    StopJob (BaseException)                raised by Job.stop() to end the job early as a
                                            success; run() catches it, so let it through

``StopJob`` lives with ``Job`` and is not public: it passes through worker code to
``run()``, which turns it into a success (code that catches ``BaseException`` must
re-raise it). No other exception leaves the SDK's calls on purpose: a failure to connect,
of TLS, of a proxy, or to send or read an answer is one of the classes above.

Compatibility with 1.0.5: what it raised as ``ValueError`` still is one. Network and
status errors derive from ``OSError`` because 1.0.5 let urllib's ``URLError`` and
``HTTPError`` (both ``OSError``) escape from ``push_data``, ``push_file`` and
``charge``, so ``except OSError`` written for it keeps working.

No message, ``repr``, attribute or chained cause of these exceptions holds the internal
secret, an execution token, the values of a URL's query string (a presigned URL's
credentials) or proxy credentials (the user, password and ``Basic`` token of
``HTTP_PROXY``/``HTTPS_PROXY``). A message holds the method; the URL as scheme, host,
port and path only; the status and the server's reason phrase (left out when it may
hold a secret); the number of attempts; and, for an error answer, ``body_excerpt``:
``""`` for an empty body; else the start of the body (UTF-8, whitespace runs as one
space, at most 300 characters) with every secret as sent, JSON-escaped or
percent-encoded replaced by ``<hidden>``, shown only when what is left holds no run of 8
or more characters of a secret in any form looked for (as sent, base64 at any
alignment, hexadecimal, and these after decoding HTML character references, backslash
escapes and percent-encoding, or with whitespace removed); else ``(N-byte body
withheld: it may echo a credential)``.

Under ``run()``, the failure's ``message`` (read by the API's customer) holds none of
that either: no backend URL, host or body (see ``docs/run.md``).
"""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "ContractError",
    "DeadlineExceeded",
    "HTTPStatusError",
    "InputDeadlineExceeded",
    "InputDecodeError",
    "InputError",
    "InputHTTPError",
    "InputTooLargeError",
    "InputTransportError",
    "InvalidEventError",
    "InvalidResponseError",
    "InvalidValue",
    "JSONValueError",
    "JobClosedError",
    "MissingInputError",
    "SeekAPIError",
    "TransportError",
    "UsageError",
    "WorkerError",
    "WorkerTimeout",
]


class SeekAPIError(Exception):
    """Root of every exception seekapi raises on purpose."""


class UsageError(SeekAPIError, ValueError):
    """The call is wrong: an argument, a context field or the event is not usable."""


class InvalidEventError(UsageError):
    """The Lambda event is not a JSON object (a ``dict``)."""


class ConfigurationError(UsageError):
    """A setting is unusable: a fixtures file, an environment variable's value."""


class ContractError(UsageError):
    """A type annotation that cannot be a worker contract: unsupported, or unresolvable.

    Raised by ``@seekapi.worker``, :func:`seekapi.schema` and ``seekapi schema``; the
    message names the annotation and where it sits (``set[int] at input[item]``).
    """


class InvalidValue(SeekAPIError, ValueError):
    """A value that breaks a worker's contract (its input or output type).

    ``details`` lists every problem found, up to 20, each as ``{"path": <JSON Pointer
    (RFC 6901) to the offending value>, "message": <what was expected and what came>}``;
    ``truncated`` is true when the search stopped at that cap. Under ``run()`` an input
    that breaks the contract is the failure ``INVALID_INPUT``, an output ``INVALID_OUTPUT``,
    with these ``details`` in the failure's ``error``.
    """

    def __init__(self, details: list[dict[str, str]], *, truncated: bool = False) -> None:
        self.details = details
        self.truncated = truncated
        count = len(details)
        shown_part = "; ".join(
            f"{item['path'] or '<root>'}: {item['message']}" for item in details[:3]
        )
        more = ""
        if count > 3:
            more = f"; and {count - 3} more" + (" (stopped counting)" if truncated else "")
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"{count}{'+' if truncated else ''} {noun}: {shown_part}{more}")


class JSONValueError(SeekAPIError, ValueError):
    """A value cannot be encoded as JSON faithfully.

    ``where`` is a JSONPath-like location of the offending value (``$.items[3].score``)
    when it could be found.
    """

    def __init__(self, message: str, where: str | None = None) -> None:
        super().__init__(message)
        self.where = where


class _CallError(SeekAPIError):
    """What the errors about one call share: ``method``, ``where`` and ``attempts``, a
    ``str()`` that is always the message, and pickling that keeps every attribute."""

    def __init__(self, message: str, *, method: str, where: str, attempts: int) -> None:
        super().__init__(message)
        self.method = method
        self.where = where
        self.attempts = attempts

    def __str__(self) -> str:
        # OSError's own __str__ formats errno tuples; ours is always the message.
        return str(self.args[0]) if self.args else ""

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (type(self), str(self), dict(self.__dict__)))


class TransportError(_CallError, OSError):
    """The request did not complete: connect, TLS, proxy, send or receive failed.

    ``method`` and ``where`` (scheme, host and path of the URL, never its query) say
    which call failed; ``attempts`` is how many attempts were made; ``request_sent`` is
    false when no attempt can have delivered the whole request.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str = "",
        where: str = "",
        attempts: int = 1,
        request_sent: bool = True,
    ) -> None:
        super().__init__(message, method=method, where=where, attempts=attempts)
        self.request_sent = request_sent


class DeadlineExceeded(TransportError, TimeoutError):
    """The call's time budget (its ``timeout``, or the job's deadline) ran out."""


class HTTPStatusError(_CallError, OSError):
    """The server answered with a status outside 2xx.

    ``status`` is the HTTP status code, ``method`` and ``where`` say which call (scheme,
    host and path, never the query string), ``body_excerpt`` is the start of the
    response body (at most a few hundred characters), ``attempts`` how many were made.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        method: str = "",
        where: str = "",
        body_excerpt: str = "",
        attempts: int = 1,
    ) -> None:
        super().__init__(message, method=method, where=where, attempts=attempts)
        self.status = status
        self.body_excerpt = body_excerpt


class InvalidResponseError(SeekAPIError, ValueError):
    """A 2xx reply too large to be a platform answer (8 MiB); an unreadable 2xx reply to a
    backend call returns defaults instead (1.0.5 raised ValueError for both).

    For a body over the cap, ``limit`` is the cap in bytes and ``declared`` the length
    the answer announced (``None`` when it announced none); both are ``None`` otherwise.
    """

    def __init__(
        self, message: str, *, limit: int | None = None, declared: int | None = None
    ) -> None:
        super().__init__(message)
        self.limit = limit
        self.declared = declared


class InputError(SeekAPIError, ValueError):
    """``get_input`` could not produce the job's input; the message says why."""


class MissingInputError(InputError):
    """The event has no ``input_presigned_url``."""


class InputTransportError(InputError, TransportError):
    """The input could not be fetched: connection, TLS or proxy failure."""


class InputDeadlineExceeded(InputTransportError, DeadlineExceeded):
    """Fetching the input took longer than its time budget."""


class InputHTTPError(InputError, HTTPStatusError):
    """The input URL answered with a status outside 2xx."""


class InputTooLargeError(InputError):
    """The input body is larger than the configured cap (``max_bytes``)."""


class InputDecodeError(InputError):
    """The input body is not valid UTF-8 or not valid JSON."""


class JobClosedError(SeekAPIError, RuntimeError):
    """A push or charge was attempted for a job that has already ended."""


class WorkerError(SeekAPIError):
    """Raise it from worker code to choose what ``run()`` reports.

    ``run()`` returns ``failure(code, message)`` with stage ``user``: the API client sees
    ``code`` and ``message``, so keep them short and free of secrets::

        raise WorkerError("INVALID_URL", "the 'url' field is not an http(s) URL")
        raise WorkerError("OUT_OF_STOCK")  # the message defaults to the code

    ``code`` is what API clients branch on: 1 to 64 characters of ``A``-``Z``, ``0``-``9``
    and ``_``, starting with a letter; ``WORKER_TIMEOUT`` is the SDK's own and cannot be
    chosen. Another code raises :class:`UsageError` at once. ``run()`` logs a
    ``WorkerError`` as a warning without a traceback: it is a failure the worker chose.
    """

    def __init__(self, code: str, message: str | None = None) -> None:
        _check_code(code)
        if message is None:
            message = code
        super().__init__(message)
        self.code = code
        self.message = message

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.code, self.message))


CODE_MAX_CHARS = 64
_RESERVED_CODES = frozenset({"WORKER_TIMEOUT"})
_CODE_FIRST = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_CODE_REST = _CODE_FIRST | frozenset("0123456789_")


def _check_code(code: object) -> None:
    if not isinstance(code, str):
        raise UsageError(f"a WorkerError code must be a string, not {type(code).__name__}")
    if not code or len(code) > CODE_MAX_CHARS:
        raise UsageError(
            f"a WorkerError code must have 1 to {CODE_MAX_CHARS} characters, not {len(code)}"
        )
    if code[0] not in _CODE_FIRST or not _CODE_REST.issuperset(code):
        raise UsageError(
            f"a WorkerError code is upper case letters, digits and '_', starting with a"
            f" letter (like OUT_OF_STOCK), not {code[:CODE_MAX_CHARS]!r}"
        )
    if code in _RESERVED_CODES:
        raise UsageError(f"{code} is the SDK's own failure code; choose another")


class WorkerTimeout(BaseException):
    """Raised inside worker code when the job's time is up.

    It derives from ``BaseException`` so that ``except Exception`` in worker code does
    not swallow it; ``finally`` blocks still run. ``run()`` turns it into a
    ``WORKER_TIMEOUT`` failure.
    """


def _rebuild(cls: type[BaseException], message: str, state: dict[str, object]) -> BaseException:
    # OSError subclasses with keyword-only arguments do not pickle by default;
    # exceptions cross process boundaries in executors, so keep them picklable.
    # OSError's constructor builds the instance of any OSError subclass (the classes
    # that are also ValueErrors would otherwise pick ValueError's, which refuses).
    new = OSError.__new__ if issubclass(cls, OSError) else BaseException.__new__
    exc = new(cls, message)
    BaseException.__init__(exc, message)
    exc.__dict__.update(state)
    return exc
