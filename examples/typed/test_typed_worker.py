"""Tests of the typed worker: the function alone, the contract, and the whole job."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typed_worker import Parcel, Quote, Speed, handler

import seekapi
from seekapi.testing import Backend, LambdaContextFactory

HERE = Path(__file__).parent


def test_the_handler_prices_parcels_and_charges_one_unit_each(seekapi_emulator: Backend) -> None:
    """``handler.fn`` is the plain function; the handler runs the whole job."""
    assert handler.fn.__name__ == "handler"
    job = seekapi_emulator.create_job(json.loads((HERE / "input.json").read_text("utf-8")))
    assert handler(job.event, None)["ok"] is True
    assert job.result == {
        "total": "13.15",
        "currency": "EUR",
        "parcels": 2,
        "ships_on": "2026-12-01",
    }
    assert len(job.charges) == 2
    assert Quote("69001", [Parcel(1.0)], Speed.EXPRESS).speed is Speed.EXPRESS


def test_a_bad_quote_is_refused_before_any_work(
    seekapi_emulator: Backend, lambda_context: LambdaContextFactory
) -> None:
    job = seekapi_emulator.create_job(
        {"postcode": "6900", "parcels": [{"weight_kg": 31}], "speed": "rocket"}
    )
    outcome = handler(job.event, lambda_context(timeout_s=10))
    assert outcome["error"]["code"] == "INVALID_INPUT"
    assert [d["path"] for d in outcome["error"]["details"]] == [
        "/postcode",
        "/parcels/0/weight_kg",
        "/speed",
    ]
    assert job.charges == []
    assert job.result is None


def test_the_bundled_input_matches_the_contract(seekapi_emulator: Backend) -> None:
    """The emulator checks an input against the worker before making the job."""
    document = json.loads((HERE / "input.json").read_text("utf-8"))
    seekapi_emulator.create_job(document, check=handler)
    with pytest.raises(seekapi.InvalidValue, match="/parcels"):
        seekapi_emulator.create_job({**document, "parcels": []}, check=handler)


def test_the_schema_is_published() -> None:
    schemas = handler.schema()
    quote = schemas["input"]
    assert quote["properties"]["postcode"]["pattern"] == "^[0-9]{5}$"
    assert quote["properties"]["speed"]["default"] == "standard"
    assert quote["required"] == ["postcode", "parcels"]
    assert schemas["output"]["properties"]["ships_on"]["format"] == "date"
