"""Tests of the job.map variant: billed exactly what it delivers, whatever the concurrency."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pay_per_event_map_worker import handler

from seekapi.testing import Backend, Fault, LambdaContextFactory, LocalMode

HERE = Path(__file__).parent
ITEM_IDS = ["item-1", "item-2", "item-3", "item-4", "item-5"]


def _items() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((HERE / "input.json").read_text("utf-8"))
    return data


def test_every_item_is_processed_and_billed_once(
    seekapi_emulator: Backend, lambda_context: LambdaContextFactory
) -> None:
    """Without a limit, the five items are in the result, in input order, one unit each."""
    job = seekapi_emulator.create_job(_items())
    assert handler(job.event, lambda_context())["ok"] is True
    assert job.result["complete"] is True
    assert [p["id"] for p in job.result["processed"]] == ITEM_IDS
    assert job.metered_event_count == job.result["units"] == 5
    assert sorted(c["idempotency_key"] for c in job.charges) == [
        f"{job.job_uuid}:words:{item_id}" for item_id in ITEM_IDS
    ]
    assert {c["justification"]["item_id"] for c in job.charges} == set(ITEM_IDS)


def test_the_spending_limit_bills_exactly_what_is_delivered(
    seekapi_emulator: Backend, lambda_context: LambdaContextFactory
) -> None:
    """Twenty items and a limit of 3 units: the map stops; each item in the result was
    billed, and at most concurrency - 1 = 3 of them past the limit."""
    items = [{"id": f"item-{n}", "text": "one two three"} for n in range(1, 21)]
    job = seekapi_emulator.create_job({"items": items}, charge_limit=3)
    outcome = handler(job.event, lambda_context())
    assert outcome["ok"] is True
    assert outcome["limit_reached"] is True
    assert job.result["complete"] is False
    assert job.result["stopped"] == "limit"
    processed = [p["id"] for p in job.result["processed"]]
    assert job.metered_event_count == len(processed) == job.result["units"]
    assert 3 <= job.metered_event_count <= 3 + 3
    assert sorted(c["idempotency_key"] for c in job.charges) == sorted(
        f"{job.job_uuid}:words:{item_id}" for item_id in processed
    )


def test_running_the_same_job_again_bills_nothing_twice(
    seekapi_emulator: Backend, lambda_context: LambdaContextFactory
) -> None:
    """The platform may run a job again: the item keys are billed once."""
    job = seekapi_emulator.create_job(_items())
    for _ in range(2):
        assert handler(job.event, lambda_context())["ok"] is True
    assert job.metered_event_count == 5
    assert len(job.charges) == 5


def test_lost_answers_are_billed_once(
    seekapi_emulator: Backend, lambda_context: LambdaContextFactory
) -> None:
    """Two charges are billed and their answers lost; the retries bill nothing more."""
    job = seekapi_emulator.create_job(_items())
    seekapi_emulator.inject(Fault("drop", count=2, path=f"/v1/internal/jobs/{job.job_uuid}/charge"))
    assert handler(job.event, lambda_context())["ok"] is True
    assert job.metered_event_count == 5
    assert len(job.result["processed"]) == 5


def test_local_mode_stops_at_the_fixtures_charge_limit(
    seekapi_local: LocalMode, lambda_context: LambdaContextFactory
) -> None:
    """In local mode the ledger's limit stops the map the same way."""
    seekapi_local.set_fixtures({"charge_limit": 2})
    job = seekapi_local.create_job(_items())
    outcome = handler(job.event, lambda_context())
    assert outcome["ok"] is True
    assert job.result["stopped"] == "limit"
    assert len(job.charges) == len(job.result["processed"]) >= 2
