"""The log formats ``seekapi run`` shows, chosen as Lambda chooses: ``AWS_LAMBDA_LOG_FORMAT``.

- unset: the local format (:class:`LocalFormatter`), compact and
  with the job and request ids at the end of the line;
- ``Text``: Lambda's plain-text format, ``[LEVEL]\\t<UTC time>\\t<request id>\\t<message>``;
- ``JSON``: Lambda's JSON format, one object per line with ``timestamp``, ``level``,
  ``message``, ``logger``, ``requestId``, the record's extra fields (``job_uuid``,
  ``request_id``), and ``errorType``, ``errorMessage``, ``stackTrace`` and
  ``location`` when the record carries an exception.

``AWS_LAMBDA_LOG_LEVEL`` is read as Lambda's runtime reads it: ``TRACE`` is ``DEBUG``,
``WARN`` is ``WARNING``, ``FATAL`` is ``CRITICAL``.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from collections.abc import Mapping

from .._settings import ENV_LOG_FORMAT

_LEVEL_NAMES = {
    "TRACE": "DEBUG",
    "DEBUG": "DEBUG",
    "INFO": "INFO",
    "WARN": "WARNING",
    "WARNING": "WARNING",
    "ERROR": "ERROR",
    "FATAL": "CRITICAL",
    "CRITICAL": "CRITICAL",
}

# What every LogRecord has, and what formatting adds: anything else is an extra field.
_RECORD_FIELDS = frozenset(
    {
        *logging.LogRecord("", 0, "", 0, "", None, None).__dict__,
        "message",
        "asctime",
        "aws_request_id",
        "taskName",
    }
)


def log_format(environ: Mapping[str, str]) -> str:
    """``"json"``, ``"text"`` or ``"local"``, from ``AWS_LAMBDA_LOG_FORMAT`` (any case)."""
    value = environ.get(ENV_LOG_FORMAT, "").strip().upper()
    return {"JSON": "json", "TEXT": "text"}.get(value, "local")


def level_name(value: str | None) -> str | None:
    """The :mod:`logging` level name for a Lambda log level, or ``None`` if it is not one."""
    if not value:
        return None
    return _LEVEL_NAMES.get(value.strip().upper())


class RequestIdFilter(logging.Filter):
    """Give each record the invocation's request id (``aws_request_id``), as the runtime does.

    A record that carries its own ``request_id`` (seekapi's do) keeps that one.
    """

    def __init__(self, request_id: str | None) -> None:
        super().__init__()
        self.request_id = request_id

    def filter(self, record: logging.LogRecord) -> bool:
        own = getattr(record, "request_id", None)
        record.aws_request_id = own if isinstance(own, str) and own else self.request_id or ""
        return True


class _UtcFormatter(logging.Formatter):
    def converter(self, timestamp: float | None) -> time.struct_time:
        return time.gmtime(timestamp)


class LambdaTextFormatter(_UtcFormatter):
    """Lambda's plain-text line: ``[LEVEL]\\t<time>Z\\t<request id>\\t<message>``.

    A traceback follows on the lines after it, as Python formats it.
    """

    def __init__(self) -> None:
        super().__init__(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
            "%Y-%m-%dT%H:%M:%S",
        )

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "aws_request_id"):
            record.aws_request_id = ""
        return super().format(record)


class LambdaJsonFormatter(_UtcFormatter):
    """Lambda's JSON format: one object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        message: object = (
            record.msg if isinstance(record.msg, dict) and not record.args else record.getMessage()
        )
        request_id = getattr(record, "aws_request_id", None) or getattr(record, "request_id", None)
        fields: dict[str, object] = {
            "timestamp": self.formatTime(record, "%Y-%m-%dT%H:%M:%S")
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "message": message,
            "logger": record.name,
            "requestId": request_id or None,
        }
        exc_info = record.exc_info
        if exc_info and exc_info[0] is not None:
            fields["errorType"] = exc_info[0].__name__
            fields["errorMessage"] = str(exc_info[1])
            fields["stackTrace"] = traceback.format_tb(exc_info[2])
            fields["location"] = f"{record.pathname}:{record.funcName}:{record.lineno}"
        for key, value in record.__dict__.items():
            if key not in _RECORD_FIELDS and key not in fields:
                fields[key] = value
        shown = {key: value for key, value in fields.items() if value is not None}
        return json.dumps(shown, ensure_ascii=False, default=str)


def error_record(
    message: str,
    error: Mapping[str, object],
    *,
    request_id: str | None = None,
    job_uuid: str | None = None,
) -> str:
    """One record of Lambda's JSON format for a failure ``seekapi run`` reports itself (a
    handler that raised, an import that failed): ``message``, then the exception in
    ``errorType``, ``errorMessage`` and ``stackTrace``, as the runtime writes an uncaught
    exception. ``error`` is the failure's JSON form (``exception``, ``message``,
    ``stack_trace``)."""
    now = time.time()
    stack = error.get("stack_trace")
    fields: dict[str, object] = {
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
        + f".{int(now % 1 * 1000):03d}Z",
        "level": "ERROR",
        "message": message,
        "errorType": str(error.get("exception") or ""),
        "errorMessage": str(error.get("message") or ""),
        "stackTrace": [str(line) for line in stack] if isinstance(stack, list) else [],
        "requestId": request_id,
        "job_uuid": job_uuid,
        "request_id": request_id,
    }
    shown = {key: value for key, value in fields.items() if value is not None}
    return json.dumps(shown, ensure_ascii=False, default=str)


def formatter_for(kind: str) -> logging.Formatter:
    """The formatter for :func:`log_format`'s ``kind``."""
    if kind == "json":
        return LambdaJsonFormatter()
    if kind == "text":
        return LambdaTextFormatter()
    return LocalFormatter()


class LocalFormatter(logging.Formatter):
    """One compact line per record: time, level, message, then the job and request ids.

    ``run()`` passes ``job_uuid`` and ``request_id`` as extra fields on its log records;
    they are shown at the end of the first line as ``[job=... request=...]``.
    """

    def __init__(self) -> None:
        super().__init__("%(asctime)s.%(msecs)03d %(levelname)-7s %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        tags = [
            f"{label}={value}"
            for label, value in (
                ("job", getattr(record, "job_uuid", None)),
                ("request", getattr(record, "request_id", None)),
            )
            if isinstance(value, str) and value
        ]
        if not tags:
            return text
        first, newline, rest = text.partition("\n")
        return f"{first} [{' '.join(tags)}]{newline}{rest}"
