"""The public API keeps every 1.0.5 name, parameter, order and default (docs/wire.md §0)."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

import seekapi

# name -> [(parameter, default or EMPTY)] exactly as 1.0.5 declares them.
EMPTY = inspect.Parameter.empty
SIGNATURES_105: dict[str, list[tuple[str, Any]]] = {
    "get_input": [("event", EMPTY), ("timeout", 10)],
    "create_context": [("event", EMPTY)],
    "register_request_id": [("job_uuid", EMPTY), ("request_id", EMPTY), ("timeout", 3)],
    "get_job_fixture": [],
    "charge": [
        ("context", EMPTY),
        ("idempotency_key", EMPTY),
        ("count", 1),
        ("timeout", 8),
        ("justification", None),
    ],
    "push_data": [("context", EMPTY), ("data", EMPTY), ("type", "json"), ("timeout", 8)],
    "push_file": [
        ("context", EMPTY),
        ("name", EMPTY),
        ("local_path", EMPTY),
        ("content_type", None),
        ("timeout", 15),
    ],
    "success": [("request_id", None)],
    "failure": [("code", EMPTY), ("message", EMPTY), ("request_id", None)],
    "run": [("event", EMPTY), ("context", EMPTY), ("user_fn", EMPTY)],
}


def test_every_105_name_is_exported() -> None:
    """Everything in 1.0.5's __all__ is in ours."""
    assert set(SIGNATURES_105) | {"MissingInputError"} <= set(seekapi.__all__)


PUBLIC_NAMES = {
    "ContractError", "Field", "InvalidValue", "Worker", "schema", "worker",
    "ItemFailure", "MapOutcome",
    "DeadlineExceeded", "HTTPStatusError", "InputError", "JSONValueError", "Job",
    "JobClosedError", "MissingInputError", "SeekAPIError", "TransportError", "UsageError",
    "WorkerError", "WorkerTimeout", "__version__", "charge", "create_context", "current_job",
    "failure", "get_input", "get_job_fixture", "push_data", "push_file", "register_request_id",
    "run", "run_async", "success",
}  # fmt: skip


def test_public_names_are_exactly_the_documented_ones() -> None:
    """Adding or removing a public name is a deliberate change to this list."""
    assert set(seekapi.__all__) == PUBLIC_NAMES


def test_all_is_sorted_and_every_name_exists() -> None:
    """__all__ is sorted and names real attributes."""
    assert list(seekapi.__all__) == sorted(seekapi.__all__)
    for name in seekapi.__all__:
        assert hasattr(seekapi, name), name


@pytest.mark.parametrize("name", sorted(SIGNATURES_105))
def test_positional_parameters_and_defaults_are_unchanged(name: str) -> None:
    """Same parameter names, order and defaults; anything new is keyword-only."""
    signature = inspect.signature(getattr(seekapi, name))
    positional = [
        (p.name, p.default)
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    assert positional == SIGNATURES_105[name]
    others = [
        p
        for p in signature.parameters.values()
        if p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    assert all(p.kind is p.KEYWORD_ONLY and p.default is not EMPTY for p in others)


def test_missing_input_error_is_a_value_error() -> None:
    """MissingInputError stays a ValueError."""
    assert issubclass(seekapi.MissingInputError, ValueError)
    assert issubclass(seekapi.MissingInputError, seekapi.SeekAPIError)


def test_success_and_failure_shapes() -> None:
    """The handler return values match 1.0.5 exactly."""
    assert seekapi.success() == {"ok": True}
    assert seekapi.success("r") == {"ok": True, "request_id": "r"}
    assert seekapi.failure("C", "m") == {"ok": False, "error": {"code": "C", "message": "m"}}
    assert seekapi.failure("C", "m", "r") == {
        "ok": False,
        "error": {"code": "C", "message": "m"},
        "request_id": "r",
    }


def test_version_is_a_string() -> None:
    """__version__ is exported."""
    assert isinstance(seekapi.__version__, str)
