"""The emulator's answers: the response value, JSON and error bodies, and body checks.

An endpoint either returns an :class:`EmulatorResponse` or raises :class:`Rejection`
holding the error answer, so that the checks of a request body read as a list.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ._http import BodyReader, Headers


@dataclass
class EmulatorResponse:
    """An answer to write: status, headers, the body in pieces and its length."""

    status: int
    headers: list[tuple[str, str]]
    chunks: Iterable[bytes]
    length: int
    chunked: bool = False
    close: bool = False  # answer without reading the rest of the body, then close


class Rejection(Exception):
    """A request refused: ``response`` is the error answer to send."""

    def __init__(self, response: EmulatorResponse) -> None:
        super().__init__(response.status)
        self.response = response


def json_response(
    status: int, obj: object, headers: Iterable[tuple[str, str]] = (), *, close: bool = False
) -> EmulatorResponse:
    """``obj`` as a compact UTF-8 JSON answer."""
    body = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return EmulatorResponse(
        status,
        [("Content-Type", "application/json"), *headers],
        [body],
        len(body),
        close=close,
    )


def error_response(
    status: int,
    code: str,
    message: str,
    headers: Iterable[tuple[str, str]] = (),
    *,
    close: bool = False,
) -> EmulatorResponse:
    """``{"ok": false, "error": {"code", "message"}}`` with ``status``."""
    obj = {"ok": False, "error": {"code": code, "message": message}}
    return json_response(status, obj, headers, close=close)


def forbidden() -> EmulatorResponse:
    """The answer to a well-formed body carrying the wrong execution token."""
    return error_response(403, "forbidden", "wrong execution_token")


def bad_request(message: str) -> Rejection:
    """A 400 ``bad_request`` refusal, to raise."""
    return Rejection(error_response(400, "bad_request", message))


def no_other_fields(body: Mapping[str, object], known: tuple[str, ...]) -> None:
    """Refuse (400) a body holding a field not in ``known``."""
    unknown = sorted(set(body) - set(known))
    if unknown:
        raise bad_request(
            f"unknown field(s) {', '.join(unknown)}; expected some of {', '.join(known)}"
        )


def optional_text(body: Mapping[str, object], key: str) -> str | None:
    """``body[key]`` when it is a non-blank string, ``None`` when absent or null."""
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise bad_request(f"{key} must be a non-blank string")
    return value


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


def read_json_object(
    headers: Headers, body: BodyReader, max_bytes: int, *, admin: bool = False
) -> dict[str, Any]:
    """The body as a JSON object; the admin API takes any Content-Type and no body."""
    media_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not admin:
        raise Rejection(
            error_response(415, "unsupported_media_type", "Content-Type must be application/json")
        )
    declared = body.declared_length
    too_large = error_response(
        413, "payload_too_large", f"the body is larger than {max_bytes} bytes", close=True
    )
    if declared is not None and declared > max_bytes:
        raise Rejection(too_large)
    raw = body.read_all(max_bytes)
    if raw is None:
        raise Rejection(too_large)
    if admin and not raw.strip():
        return {}
    try:
        obj = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise bad_request("the body is not valid UTF-8 JSON") from None
    if not isinstance(obj, dict):
        raise bad_request("the body must be a JSON object")
    return obj
