"""get_input against a real server: every failure is a ValueError that says what went wrong."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

import seekapi
from seekapi.errors import (
    InputDeadlineExceeded,
    InputDecodeError,
    InputError,
    InputHTTPError,
    InputTooLargeError,
    InputTransportError,
    InvalidEventError,
    MissingInputError,
)
from seekapi.testing import Backend, Fault

SLACK = 0.5


def test_fetches_and_parses_the_input(backend: Backend) -> None:
    """The presigned URL's JSON body is returned parsed; no SDK credential is sent."""
    job = backend.create_job({"name": "Ada", "items": [1, 2, 3], "é": "ü"})
    assert seekapi.get_input(job.event) == {"name": "Ada", "items": [1, 2, 3], "é": "ü"}
    (request,) = backend.requests
    assert request.method == "GET"
    assert "x-internal-secret" not in request.headers


@pytest.mark.parametrize("event", [{}, {"input_presigned_url": ""}, {"input_presigned_url": "  "}])
def test_missing_url_is_missing_input_error(event: dict[str, Any]) -> None:
    """No URL: MissingInputError, a ValueError as in 1.0.5."""
    with pytest.raises(MissingInputError) as info:
        seekapi.get_input(event)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("event", [None, "url", ["a"], 42])
def test_event_that_is_not_a_dict_is_a_clear_error(event: Any) -> None:
    """A non-dict event is an InvalidEventError (ValueError), never an AttributeError."""
    with pytest.raises(InvalidEventError, match="JSON object"):
        seekapi.get_input(event)


@pytest.mark.parametrize(
    "url", ["ftp://host/x", "data:application/json,{}", "gopher://x", "file:///etc/passwd"]
)
def test_other_schemes_are_refused(url: str) -> None:
    """Only http and https are fetched (file:// only in local mode)."""
    with pytest.raises(InputError, match=r"scheme|local mode"):
        seekapi.get_input({"input_presigned_url": url})


def test_file_urls_work_in_local_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In local mode a file:// URL is read from disk."""
    path = tmp_path / "in.json"
    path.write_text('{"x": 1}', encoding="utf-8")
    monkeypatch.setenv("SEEKAPI_LOCAL_MODE", "1")
    assert seekapi.get_input({"input_presigned_url": path.as_uri()}) == {"x": 1}


def test_http_error_status(backend: Backend) -> None:
    """A 403 from the input URL is an InputHTTPError with the status, no query string."""
    job = backend.create_job({})
    backend.fail_next(1, status=403, body=b"<Error>AccessDenied</Error>", path="/input/")
    with pytest.raises(InputHTTPError) as info:
        seekapi.get_input(job.event)
    assert info.value.status == 403
    assert isinstance(info.value, ValueError)
    assert "AccessDenied" in str(info.value)
    assert "X-Amz" not in str(info.value)


def test_transient_statuses_are_retried(backend: Backend) -> None:
    """A 503 from S3 is retried."""
    job = backend.create_job({"a": 1})
    backend.fail_next(2, status=503, path="/input/")
    assert seekapi.get_input(job.event) == {"a": 1}


@pytest.mark.parametrize(
    ("raw", "message"),
    [(b"\xff\xfe\x00garbage", "UTF-8"), (b'{"a": ', "Invalid JSON"), (b"", "Invalid JSON")],
)
def test_undecodable_bodies(backend: Backend, raw: bytes, message: str) -> None:
    """Invalid UTF-8 or JSON is an InputDecodeError saying which."""
    job = backend.create_job(raw_input=raw)
    with pytest.raises(InputDecodeError, match=message):
        seekapi.get_input(job.event)


def test_byte_order_mark_is_accepted(backend: Backend) -> None:
    """A UTF-8 BOM some editors write does not break parsing."""
    job = backend.create_job(raw_input=b'\xef\xbb\xbf{"a": 1}')
    assert seekapi.get_input(job.event) == {"a": 1}


def test_truncated_body_is_a_transport_error(backend: Backend) -> None:
    """A body cut short every time ends in an InputTransportError that says so."""
    job = backend.create_job({"a": "x" * 1000})
    # More than any budget retries: a GET is retried until its timeout.
    backend.inject(Fault("truncate", count=100_000, path="/input/"))
    with pytest.raises(InputTransportError, match="whole response body") as info:
        seekapi.get_input(job.event, timeout=3)
    assert isinstance(info.value, ValueError)


def test_dropped_connection_is_retried(backend: Backend) -> None:
    """A GET whose connection dropped is simply sent again."""
    job = backend.create_job({"a": 1})
    backend.inject(Fault("drop", path="/input/"))
    assert seekapi.get_input(job.event) == {"a": 1}


@pytest.mark.parametrize("chunked", [True, False])
def test_oversized_body_fails_fast(backend: Backend, chunked: bool) -> None:
    """A 2 GiB input fails at the cap without being read into memory."""
    job = backend.create_job(input_size=2 * 1024**3, input_chunked=chunked)
    started = time.monotonic()
    with pytest.raises(InputTooLargeError, match="1048576-byte cap"):
        seekapi.get_input(job.event, timeout=20, max_bytes=1024 * 1024)
    assert time.monotonic() - started < 5


def test_size_cap_from_the_environment(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    """SEEKAPI_MAX_INPUT_BYTES sets the default cap."""
    job = backend.create_job({"a": "x" * 5000})
    monkeypatch.setenv("SEEKAPI_MAX_INPUT_BYTES", "1000")
    with pytest.raises(InputTooLargeError):
        seekapi.get_input(job.event)


def test_generated_large_input_parses(backend: Backend) -> None:
    """A 20 MB generated document arrives whole and parses."""
    job = backend.create_job(input_size=20_000_000)
    value = seekapi.get_input(job.event)
    assert len(json.dumps(value)) > 1_000_000


def test_drip_cannot_hold_the_fetch_past_its_timeout(backend: Backend) -> None:
    """S3 dripping the body a byte at a time: the fetch ends at its timeout."""
    job = backend.create_job({"a": "x" * 200})
    backend.inject(Fault("drip", count=10, interval=0.2, path="/input/"))
    started = time.monotonic()
    with pytest.raises(InputDeadlineExceeded):
        seekapi.get_input(job.event, timeout=1)
    assert time.monotonic() - started < 1 + SLACK


def test_redirect_to_another_origin_is_followed_without_credentials(
    backend: Backend, configured: Backend
) -> None:
    """The input GET follows a redirect to another server, carrying no SDK credentials."""
    with Backend(secret="other") as origin:
        target = origin.create_job({"moved": True})
        job = backend.create_job({})
        backend.inject(Fault("redirect", location=target.input_url, path="/input/"))
        assert seekapi.get_input(job.event) == {"moved": True}
        (moved,) = origin.requests
        assert "x-internal-secret" not in moved.headers


def test_too_many_redirects(backend: Backend) -> None:
    """A redirect loop ends with an error naming the limit."""
    job = backend.create_job({})
    backend.inject(Fault("redirect", count=20, location=job.input_url, path="/input/"))
    with pytest.raises(InputHTTPError, match="redirects"):
        seekapi.get_input(job.event)
