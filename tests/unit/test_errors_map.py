"""Transport and parsing failures become public errors, with no secret in them."""

from __future__ import annotations

import pickle

import pytest

from seekapi import errors
from seekapi._errors_map import public_error, status_error
from seekapi._http11 import TooLarge
from seekapi._transport import AttemptFailed, Request, Response

SECRET = "s3cr3t-internal-value"
URL = "https://backend.example/v1/internal/jobs/j/charge?token=query-credential"


def _request(method: str = "POST") -> Request:
    return Request(method, URL, (("X-Internal-Secret", SECRET),), b"{}")


def test_an_attempt_without_answer_is_a_transport_error() -> None:
    """A dropped connection is a TransportError naming the call, never its query."""
    failure = AttemptFailed(f"connection reset ({SECRET})", request_sent=True)
    error = public_error(failure, _request(), (SECRET,), attempts=3, sent=True)
    assert type(error) is errors.TransportError
    assert str(error).startswith("POST https://backend.example/v1/internal/jobs/j/charge:")
    assert "(after 3 attempts)" in str(error)
    assert SECRET not in str(error)
    assert "query-credential" not in str(error)
    assert (error.attempts, error.request_sent) == (3, True)


def test_an_attempt_that_ran_out_of_budget_is_a_deadline_exceeded() -> None:
    """When the call's deadline passed during the attempt, the error says so by class."""
    failure = AttemptFailed("the time budget ran out", request_sent=False, deadline=True)
    error = public_error(failure, _request(), (SECRET,))
    assert type(error) is errors.DeadlineExceeded
    assert error.request_sent is False


def test_no_time_left_to_retry_is_a_deadline_exceeded() -> None:
    """A failure after which no attempt fits says there was no time left to retry."""
    failure = AttemptFailed("connection refused", request_sent=False)
    error = public_error(failure, _request(), (), attempts=2, sent=True, out_of_time=True)
    assert isinstance(error, errors.DeadlineExceeded)
    assert "no time left to retry within the time budget after 2 attempt(s)" in str(error)
    assert error.request_sent is True


def test_a_body_over_the_cap_is_an_invalid_response_with_its_sizes() -> None:
    """A reply too large to read is an InvalidResponseError carrying the cap."""
    error = public_error(TooLarge(1024, 4096), _request(), ())
    assert isinstance(error, errors.InvalidResponseError)
    assert (error.limit, error.declared) == (1024, 4096)
    assert "larger than 1024 bytes; the platform answers small JSON objects" in str(error)
    fetched = public_error(TooLarge(10, None), _request("GET"), ())
    assert isinstance(fetched, errors.InvalidResponseError)
    assert fetched.declared is None
    assert "platform" not in str(fetched)


def test_a_request_that_cannot_be_sent_is_a_configuration_error() -> None:
    """A URL or header the transport refuses is a ConfigurationError (a ValueError)."""
    error = public_error(ValueError(f"header holds a line break: {SECRET}"), _request(), (SECRET,))
    assert isinstance(error, errors.ConfigurationError)
    assert isinstance(error, ValueError)
    assert SECRET not in str(error)


def test_an_error_that_is_already_public_is_kept() -> None:
    """A bad proxy variable is reported as the ConfigurationError it already is."""
    original = errors.ConfigurationError("HTTPS_PROXY is not a URL")
    assert public_error(original, _request(), ()) is original


def test_an_error_answer_is_an_http_status_error_without_secrets() -> None:
    """An answer outside 2xx names its status and shows a safe excerpt of the body."""
    body = f'{{"error": "bad token {SECRET}"}}'.encode()
    response = Response(403, "Forbidden", {}, body)
    error = status_error(response, _request(), 1, (SECRET,), note="a note")
    assert error.status == 403
    assert "answered HTTP 403 Forbidden; a note" in str(error)
    assert SECRET not in str(error)
    assert SECRET not in error.body_excerpt


@pytest.mark.parametrize(
    "error",
    [
        errors.TransportError("t", method="GET", where="w", attempts=2, request_sent=False),
        errors.DeadlineExceeded("d", attempts=3),
        errors.HTTPStatusError("h", status=503, where="w", body_excerpt="b"),
        errors.InputTransportError("it", where="w"),
        errors.InputDeadlineExceeded("id"),
        errors.InputHTTPError("ih", status=404, body_excerpt="x"),
        errors.InvalidResponseError("big", limit=5, declared=9),
    ],
)
def test_call_errors_keep_message_and_attributes_through_pickle(error: Exception) -> None:
    """str() is the message, and every attribute survives crossing a process boundary."""
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error) == error.args[0]
    assert copy.__dict__ == error.__dict__
