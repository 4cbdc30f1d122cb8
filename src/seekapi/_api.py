"""The public calls of the 1.0.5 API: same names, parameters, defaults and return shapes.

Each call validates its arguments, picks local mode or the backend, and hands the
request to the default client. See ``docs/`` and the README for what each departs from
1.0.5 in (docs/wire.md §6).
"""

from __future__ import annotations

import _thread
from collections.abc import Mapping

from .errors import (
    InputDeadlineExceeded,
    InputDecodeError,
    InputError,
    InputHTTPError,
    InputTooLargeError,
    InputTransportError,
    InvalidEventError,
    MissingInputError,
    UsageError,
)

# typing costs milliseconds to import; mypy honours a module-level TYPE_CHECKING.
TYPE_CHECKING = False

if TYPE_CHECKING:
    import logging
    from typing import Any

    from ._client import Client
    from ._jobstate import JobState

# Only what `import seekapi` needs is imported at the top; the rest loads on first use,
# keeping a Lambda's cold start cheap.


def _logger() -> logging.Logger:
    # Imported on first use: a bare process pays nothing for logging until it logs
    # (in Lambda the runtime has loaded it already).
    import logging

    return logging.getLogger("seekapi")


class JobContext(dict[str, "Any"]):
    """The dict ``create_context`` returns: a plain ``dict`` whose repr hides secrets.

    Keys: ``job_uuid``, ``execution_token``, ``api_base``, ``secret``. It can be passed,
    copied and serialised like any dict; only ``repr``/``str`` mask the secret and token,
    so that logging a context does not leak them.
    """

    def __repr__(self) -> str:
        shown = {
            key: ("<hidden>" if key in ("secret", "execution_token") and value else value)
            for key, value in self.items()
        }
        return repr(shown)

    __str__ = __repr__


# -- helpers ------------------------------------------------------------------------


def _string_field(mapping: object, key: str, what: str, error: type[UsageError]) -> str:
    """``mapping[key]`` stripped, ``""`` when missing; a clear error for a wrong type."""
    if not isinstance(mapping, Mapping):
        raise error(f"{what} must be a dict, not {type(mapping).__name__}")
    value = mapping.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise error(f"{what}[{key!r}] must be a string, not {type(value).__name__}")
    _check_text(value, f"{what}[{key!r}]", error)
    return value.strip()


def _check_text(value: str, what: str, error: type[UsageError] = UsageError) -> None:
    """Refuse a string that is not valid Unicode text: it cannot be sent or stored."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise error(
                f"{what} is not valid text: it holds a lone surrogate at index {exc.start}"
            ) from None


def _event_field(event: object, key: str) -> str:
    return _string_field(event, key, "the event (a JSON object)", InvalidEventError)


class _JobTarget:
    """What a backend call needs from the ``create_context`` dict."""

    __slots__ = ("api_base", "job_uuid", "secret", "token")

    def __init__(self, context: object) -> None:
        what = "context (the dict from create_context(event))"
        self.api_base = _string_field(context, "api_base", what, UsageError)
        self.secret = _string_field(context, "secret", what, UsageError)
        self.job_uuid = _string_field(context, "job_uuid", what, UsageError)
        self.token = _string_field(context, "execution_token", what, UsageError)

    @property
    def configured(self) -> bool:
        return bool(self.api_base and self.secret and self.job_uuid and self.token)


def _job_url(api_base: str, job_uuid: str, suffix: str) -> str:
    from urllib.parse import quote

    from . import _settings, _wire

    _settings.check_api_base(api_base)
    # A job id is one path segment: nothing in it may change the path it addresses.
    if job_uuid in (".", "..") or any(ord(c) < 0x20 or c == "\x7f" for c in job_uuid):
        raise UsageError("job_uuid is not a usable job id")
    return f"{api_base.rstrip('/')}{_wire.JOBS_PATH}{quote(job_uuid, safe='')}{suffix}"


_warned: set[str] = set()
_warned_lock = _thread.allocate_lock()  # threading's Lock, without importing threading


def reset_warnings() -> None:
    with _warned_lock:
        _warned.clear()


def _warn_once(key: str, message: str) -> None:
    with _warned_lock:
        if key in _warned:
            return
        _warned.add(key)
    _logger().warning(message)


def _json_object(encoded: dict[str, bytes]) -> bytes:
    """A JSON object from members whose values are already encoded."""
    members = b",".join(
        b'"%s":%s' % (name.encode("ascii"), value) for name, value in encoded.items()
    )
    return b"{" + members + b"}"


def _check_open(target: _JobTarget) -> JobState | None:
    """Refuse a push or charge for a job run() has finished (leftover code); return the
    job run() is running for this call, if any."""
    from ._jobstate import check_open

    return check_open(target.job_uuid, target.token)


def _hidden(job: JobState | None, target: _JobTarget) -> tuple[str, ...]:
    from ._jobstate import masked

    extra = job.secrets if job is not None else ()
    return (target.token, *extra, *masked.get())


def _client() -> Client:
    from ._client import default_client

    return default_client()


# -- input ---------------------------------------------------------------------------


def get_input(event: dict[str, Any], timeout: float = 10, *, max_bytes: int | None = None) -> Any:
    """Fetch the job's input from ``event["input_presigned_url"]`` and parse it as JSON.

    ``timeout`` (seconds) bounds the whole fetch, retries and redirects included.
    ``max_bytes`` caps the body (default ``SEEKAPI_MAX_INPUT_BYTES``, else 256 MiB): a
    larger body fails at once, without being read into memory. Only ``http`` and
    ``https`` URLs are fetched; ``file://`` URLs are read in local mode only.

    Raises :class:`~seekapi.errors.MissingInputError` when the URL is missing and
    another :class:`~seekapi.errors.InputError` (a ``ValueError``) for every other
    failure: HTTP status, timeout, dropped connection, truncated or oversized body,
    invalid UTF-8 or JSON. Messages never show the URL's query string.
    """
    from . import _settings

    url = _event_field(event, "input_presigned_url")
    if not url:
        raise MissingInputError("Missing input_presigned_url in event")
    limit = _settings.max_input_bytes() if max_bytes is None else max_bytes
    if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
        raise UsageError("max_bytes must be a positive number of bytes")
    scheme = url.partition(":")[0].lower()
    body: bytes | bytearray
    if scheme == "file":
        if not _settings.local_mode_enabled():
            raise InputError(
                "file:// input URLs are read only in local mode (SEEKAPI_LOCAL_MODE=1)"
            )
        body = _read_local_input(url, limit)
    elif scheme in ("http", "https"):
        body = _fetch_input(url, timeout, limit)
    else:
        raise InputError(
            f"unsupported input URL scheme {scheme!r}: only http and https are fetched"
        )
    _note(input_bytes=len(body))
    # Hand the only reference over, so the raw bytes are freed before JSON parsing.
    holder = [body]
    del body
    return _decode_input(holder)


def _fetch_input(url: str, timeout: float, limit: int) -> bytes | bytearray:
    from ._deadline import Budget
    from ._redact import display_url
    from .errors import (
        DeadlineExceeded,
        HTTPStatusError,
        InvalidResponseError,
        TransportError,
        UsageError,
    )

    shown = display_url(url)
    try:
        response = _client().get(url, budget=Budget.total(timeout), max_body=limit)
    except InvalidResponseError as exc:  # the body is over the cap
        size = f" ({exc.declared} bytes declared)" if exc.declared is not None else ""
        raise InputTooLargeError(
            f"input at {shown} is larger than the {limit}-byte cap{size}"
        ) from None
    except DeadlineExceeded as exc:
        raise InputDeadlineExceeded(
            f"fetching the input timed out: {exc}",
            method="GET",
            where=exc.where,
            attempts=exc.attempts,
        ) from exc
    except TransportError as exc:
        raise InputTransportError(
            f"fetching the input failed: {exc}",
            method="GET",
            where=exc.where,
            attempts=exc.attempts,
            request_sent=exc.request_sent,
        ) from exc
    except HTTPStatusError as exc:
        raise InputHTTPError(
            f"Input URL returned HTTP {exc.status}: {exc}",
            status=exc.status,
            method="GET",
            where=exc.where,
            body_excerpt=exc.body_excerpt,
            attempts=exc.attempts,
        ) from exc
    except UsageError as exc:  # a bad timeout, or a URL or proxy setting that cannot work
        raise InputError(f"cannot fetch the input URL {shown}: {exc}") from None
    body: bytes | bytearray = response.body
    return body


def _note(**figures: int) -> None:
    """Tell the job run() is running (if any) a size it logs."""
    from ._jobstate import current

    job = current.get()
    if job is not None:
        for name, value in figures.items():
            setattr(job, name, value)


def _read_local_input(url: str, limit: int) -> bytes:
    from urllib.parse import unquote, urlsplit

    path = unquote(urlsplit(url).path)
    try:
        with open(path, "rb") as handle:
            # In pieces: read(limit + 1) would reserve the whole cap (256 MiB) up front.
            pieces: list[bytes] = []
            size = 0
            while size <= limit:
                piece = handle.read(min(1 << 20, limit + 1 - size))
                if not piece:
                    break
                pieces.append(piece)
                size += len(piece)
            body = b"".join(pieces)
    except OSError as exc:
        raise InputError(f"cannot read local input file {path}: {exc.strerror}") from exc
    if len(body) > limit:
        raise InputTooLargeError(f"local input file {path} is larger than the {limit}-byte cap")
    return body


def _decode_input(holder: list[bytes | bytearray]) -> Any:
    import codecs
    import json

    body = holder.pop()
    # A byte-order mark some editors write is not an error. It is skipped through a
    # view: the "utf-8-sig" codec would copy a whole bytearray body to slice it.
    start = 3 if body[:3] == codecs.BOM_UTF8 else 0
    try:
        with memoryview(body) as view:
            text = codecs.utf_8_decode(view[start:], "strict", True)[0]
    except UnicodeDecodeError as exc:
        raise InputDecodeError(
            f"Invalid input: not UTF-8 (byte {exc.start + start} of {len(body)})"
        ) from None
    del body
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputDecodeError(
            f"Invalid JSON in input: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise InputDecodeError("Invalid JSON in input: nested too deeply") from None
    except ValueError as exc:  # a number too long to convert, and the like
        raise InputDecodeError(f"Invalid JSON in input: {exc}") from None


# -- context -------------------------------------------------------------------------


def create_context(event: dict[str, Any]) -> dict[str, Any]:
    """Build the context for ``push_data``, ``push_file`` and ``charge`` from the event.

    Returns a dict with ``job_uuid`` and ``execution_token`` (from the event) and
    ``api_base`` and ``secret`` (from ``WORKER_API_BASE_URL`` and
    ``WORKER_INTERNAL_SECRET``). In local mode blank ``api_base``/``secret`` get
    placeholders so that calls write local artifacts instead of doing nothing. Its
    ``repr`` hides the secret and the token.
    """
    from . import _settings

    job_uuid = _event_field(event, "job_uuid")
    execution_token = _event_field(event, "execution_token")
    backend = _settings.BackendSettings.from_env()
    api_base, secret = backend.api_base, backend.secret
    if _settings.local_mode_enabled():
        api_base = api_base or _settings.LOCAL_PLACEHOLDER_API_BASE
        secret = secret or _settings.LOCAL_PLACEHOLDER_SECRET
    return JobContext(
        job_uuid=job_uuid, execution_token=execution_token, api_base=api_base, secret=secret
    )


# -- backend calls -------------------------------------------------------------------


def register_request_id(job_uuid: str, request_id: str, timeout: float = 3) -> None:
    """Link the Lambda request id to the job so the platform can stream live logs.

    Best effort: does nothing in local mode or without ``WORKER_API_BASE_URL`` and
    ``WORKER_INTERNAL_SECRET``, never raises, and gives up after ``timeout`` seconds.
    """
    from . import _settings, _wire
    from ._deadline import Budget
    from ._retry import Replay

    if _settings.local_mode_enabled():
        return
    backend = _settings.BackendSettings.from_env()
    if not backend.api_base or not backend.secret:
        return
    if not isinstance(job_uuid, str) or not isinstance(request_id, str) or not job_uuid.strip():
        _logger().warning("register_request_id needs job_uuid and request_id strings")
        return
    try:
        from ._jobstate import masked
        from ._json import dumps

        url = _job_url(backend.api_base, job_uuid.strip(), _wire.REQUEST_ID)
        _client().post_json(
            url,
            dumps({_wire.REQUEST_ID_FIELD: request_id}),
            secret=backend.secret,
            budget=Budget.total(timeout),
            replay=Replay.ALWAYS,
            hide=masked.get(),  # under run(): the job's token and input URL query
        )
    except Exception as exc:  # noqa: BLE001 - best effort by contract: never raise
        _logger().warning(
            "could not register the request id (live logs): %s",
            exc,
            extra={"job_uuid": job_uuid.strip(), "request_id": request_id},
        )


def push_data(
    context: dict[str, Any], data: Any, type: str = "json", timeout: float = 8
) -> dict[str, Any]:
    """Set the job's result to ``data`` (the last push wins). Returns the backend's reply.

    ``data`` is encoded first (see ``docs/json.md``): a value JSON cannot hold raises
    :class:`~seekapi.errors.JSONValueError` and nothing is sent or written. ``timeout``
    bounds the whole call; failed attempts are retried within it. Without a configured
    backend (and outside local mode) nothing is sent, ``{"ok": True}`` is returned and a
    warning is logged once, as 1.0.5 did silently.
    """
    target = _JobTarget(context)
    if not isinstance(type, str):
        raise UsageError(f"type must be a string, not {type.__class__.__name__}")
    job = _check_open(target)
    if job is None:
        return _push_data(target, data, type, timeout, _hidden(None, target))
    from ._transport import in_doubt

    with job._push_lock:
        # Checked again once it is this push's turn: the job may have ended meanwhile.
        job.check_open()
        # An attempt given up on after its body was sent may still be applied later:
        # its socket is kept, so that run() can wait for it before the final push.
        token = in_doubt.set(job._in_doubt)
        try:
            return _push_data(target, data, type, timeout, _hidden(job, target))
        finally:
            in_doubt.reset(token)


def _push_data(
    target: _JobTarget, data: Any, type: str, timeout: float, hide: tuple[str, ...]
) -> dict[str, Any]:
    from . import _settings, _wire
    from ._deadline import Budget
    from ._json import dumps
    from ._retry import Replay

    if _settings.local_mode_enabled():
        from . import _local

        return _local.push_data(
            _settings.LocalSettings.from_env(), target.job_uuid, target.token, data, type
        )
    # The result is encoded on its own, so an error names a place inside it ($.items[3]),
    # then set into the body as it is: no second encoding.
    body = _json_object(
        {
            _wire.EXECUTION_TOKEN: dumps(target.token),
            _wire.DATA: dumps(data),
            _wire.TYPE: dumps(type),
        }
    )
    _note(result_bytes=len(body))
    if not target.configured:
        _warn_once(
            "push_data",
            "push_data sent nothing: the context lacks api_base, secret, job_uuid or"
            " execution_token (set WORKER_API_BASE_URL and WORKER_INTERNAL_SECRET, or"
            " SEEKAPI_LOCAL_MODE=1 for local runs)",
        )
        return {"ok": True}

    return _client().post_json(
        _job_url(target.api_base, target.job_uuid, _wire.PUSH),
        body,
        secret=target.secret,
        budget=Budget.total(timeout),
        replay=Replay.ALWAYS,
        hide=hide,
    )


def push_file(
    context: dict[str, Any],
    name: str,
    local_path: str,
    content_type: str | None = None,
    timeout: float = 15,
) -> dict[str, Any] | None:
    """Add the file at ``local_path`` to the job's files under ``name``.

    The file is streamed from disk (constant memory, any size). ``content_type`` is
    guessed from ``local_path`` when not given. ``timeout`` bounds connection set-up,
    each stall of the upload and the wait for the answer, so a large upload that keeps
    moving is not cut off. The upload is retried only when the backend cannot have
    stored it. Without a configured backend nothing is sent, ``None`` is returned and a
    warning is logged once (1.0.5 behaviour).
    """
    from . import _settings, _wire
    from ._deadline import Budget
    from ._retry import Replay

    target = _JobTarget(context)
    _check_file_arguments(name, local_path, content_type)
    job = _check_open(target)
    local = _settings.local_mode_enabled()
    if local:
        from . import _local

        # docs/wire.md §5: in local mode push_file, like push_data and charge, needs both.
        _local.require_job(target.job_uuid, target.token, "push_file")
    if not target.configured:
        _warn_once(
            "push_file",
            "push_file sent nothing: the context lacks api_base, secret, job_uuid or"
            " execution_token (set WORKER_API_BASE_URL and WORKER_INTERNAL_SECRET, or"
            " SEEKAPI_LOCAL_MODE=1 for local runs)",
        )
        return None
    import os

    from ._multipart import FileUpload, guess_content_type

    path = os.fsdecode(local_path)
    kind = content_type or guess_content_type(path)
    if local:
        settings = _settings.LocalSettings.from_env()
        return _local.push_file(settings, target.job_uuid, target.token, name, path, kind)

    url = _job_url(target.api_base, target.job_uuid, _wire.PUSH_FILE)
    with FileUpload(
        execution_token=target.token, name=name, local_path=path, content_type=kind
    ) as body:
        return _client().post_stream(
            url,
            body,
            secret=target.secret,
            budget=Budget.per_stall(timeout),
            replay=Replay.UNSENT_ONLY,
            hide=_hidden(job, target),
        )


def _check_file_arguments(name: object, local_path: object, content_type: object) -> None:
    if not isinstance(name, str):
        raise UsageError(f"name must be a string, not {type(name).__name__}")
    _check_text(name, "name")
    if not isinstance(local_path, (str, bytes)) and not hasattr(local_path, "__fspath__"):
        raise UsageError(f"local_path must be a path, not {type(local_path).__name__}")
    if content_type is not None and not isinstance(content_type, str):
        raise UsageError(f"content_type must be a string, not {type(content_type).__name__}")
    if content_type is not None:
        _check_text(content_type, "content_type")


def charge(
    context: dict[str, Any],
    idempotency_key: str,
    count: int = 1,
    timeout: float = 8,
    justification: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Record ``count`` billing units for a pay-per-event worker. Returns the backend's reply.

    The reply has ``ok``, ``metered_event_count`` (units recorded so far for the job) and
    ``limit_reached`` (stop doing billable work when true). The platform bills each
    ``idempotency_key`` once, and the same key is sent on every retry, so a charge whose
    answer was lost is retried without being billed twice. Derive the key from the job
    and the item (``f"{job_uuid}:{item_id}"``) so that a job run again does not bill
    again. ``justification`` (a JSON object) is stored as billing proof. ``timeout``
    bounds the whole call.

    Raises ``ValueError`` (:class:`~seekapi.errors.UsageError`) for a blank key, a
    ``count`` below 1, a ``justification`` that is not a dict, or a context without
    backend settings (outside local mode).
    """
    from . import _settings, _wire
    from ._deadline import Budget
    from ._json import dumps
    from ._retry import Replay

    key = _charge_key(idempotency_key)
    count = _charge_count(count)
    if justification is not None and not isinstance(justification, dict):
        raise UsageError("justification must be a JSON object")
    target = _JobTarget(context)
    job = _check_open(target)
    if _settings.local_mode_enabled():
        return _charge_locally(target, key, count, justification, timeout)
    if not target.configured:
        raise UsageError("charge requires api_base, secret, job_uuid, execution_token in context")
    fields = {
        _wire.EXECUTION_TOKEN: dumps(target.token),
        _wire.IDEMPOTENCY_KEY: dumps(key),
        _wire.COUNT: dumps(count),
    }
    if justification is not None:
        fields[_wire.JUSTIFICATION] = dumps(justification)

    return _client().post_json(
        _job_url(target.api_base, target.job_uuid, _wire.CHARGE),
        _json_object(fields),
        secret=target.secret,
        budget=Budget.total(timeout),
        replay=Replay.ALWAYS,
        hide=_hidden(job, target),
    )


def _charge_locally(
    target: _JobTarget,
    key: str,
    count: int,
    justification: dict[str, Any] | None,
    timeout: object,
) -> dict[str, Any]:
    from . import _local, _settings
    from ._json import dumps

    if justification is not None:
        dumps(justification)  # the same error as outside local mode, before any write
    return _local.charge(
        _settings.LocalSettings.from_env(),
        target.job_uuid,
        target.token,
        key,
        count,
        justification,
        timeout=_lock_wait(timeout),
    )


def _charge_key(idempotency_key: object) -> str:
    if not isinstance(idempotency_key, str):
        raise UsageError(
            f"idempotency_key must be a non-empty string, not {type(idempotency_key).__name__}"
        )
    if not idempotency_key.strip():
        raise UsageError("idempotency_key is required: a non-empty string")
    _check_text(idempotency_key, "idempotency_key")
    return idempotency_key.strip()


def _charge_count(count: object) -> int:
    if isinstance(count, float) and float(count).is_integer():
        count = int(count)  # 1.0.5 sent 2.0 as it came; the platform counts whole units
    if isinstance(count, bool) or not isinstance(count, int):
        raise UsageError(f"count must be a whole number of units, not {count!r}")
    if count < 1:
        raise UsageError("count must be >= 1")
    return count


def _lock_wait(timeout: object) -> float | None:
    """In local mode the timeout bounds the wait for another process's ledger lock; a
    value that is not a usable number of seconds means no bound (it meant nothing in 1.0.5)."""
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and 0 < timeout < 1e9:
        return float(timeout)
    return None


def get_job_fixture() -> dict[str, Any]:
    """In local mode, ``fixtures["get_job"]`` from ``SEEKAPI_LOCAL_FIXTURES``, else ``{}``.

    Returns a fresh copy on each call. A missing or malformed fixtures file raises
    :class:`~seekapi.errors.ConfigurationError` (a ``ValueError``).
    """
    from . import _local, _settings

    return _local.get_job_fixture(_settings.LocalSettings.from_env())


# -- return values -------------------------------------------------------------------


def success(request_id: str | None = None) -> dict[str, Any]:
    """The handler's success value: ``{"ok": True}`` plus ``request_id`` when known."""
    out: dict[str, Any] = {"ok": True}
    if request_id:
        out["request_id"] = request_id
    return out


def failure(code: str, message: str, request_id: str | None = None) -> dict[str, Any]:
    """The handler's failure value: ``{"ok": False, "error": {"code", "message"}}``."""
    out: dict[str, Any] = {"ok": False, "error": {"code": code, "message": message}}
    if request_id:
        out["request_id"] = request_id
    return out
