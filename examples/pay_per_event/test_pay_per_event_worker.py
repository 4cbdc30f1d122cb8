"""Tests of the pay-per-event worker: billing per item, idempotent keys, the spending limit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pay_per_event_worker import handler

from seekapi.testing import Backend, Fault, LambdaContextFactory, LocalMode

HERE = Path(__file__).parent
ITEM_IDS = ["item-1", "item-2", "item-3", "item-4", "item-5"]


def _items() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((HERE / "input.json").read_text("utf-8"))
    return data


def test_every_item_is_processed_and_billed_once(
    seekapi_emulator: Backend, lambda_context: LambdaContextFactory
) -> None:
    """Without a limit, all five items are processed and five units billed, one key each."""
    job = seekapi_emulator.create_job(_items())
    assert handler(job.event, lambda_context()) == {"ok": True, "request_id": job.request_ids[0]}
    assert job.result["complete"] is True
    assert [p["id"] for p in job.result["processed"]] == ITEM_IDS
    assert job.metered_event_count == 5
    assert [c["idempotency_key"] for c in job.charges] == [
        f"{job.job_uuid}:{item_id}" for item_id in ITEM_IDS
    ]
    assert job.charges[0]["justification"] == {"item_id": "item-1"}


def test_the_worker_stops_cleanly_at_the_spending_limit(
    seekapi_emulator: Backend, lambda_context: LambdaContextFactory
) -> None:
    """With a limit of 3 units, three items are done and billed, and the job ends as a success."""
    job = seekapi_emulator.create_job(_items(), charge_limit=3)
    outcome = handler(job.event, lambda_context())
    assert outcome["ok"] is True
    assert (outcome["stopped"], outcome["limit_reached"]) == ("limit_reached", True)
    assert job.result["complete"] is False
    assert [p["id"] for p in job.result["processed"]] == ITEM_IDS[:3]
    assert (job.metered_event_count, job.limit_reached) == (3, True)


def test_running_the_same_job_again_bills_nothing_twice(
    seekapi_emulator: Backend, lambda_context: LambdaContextFactory
) -> None:
    """The platform may run a job again: keys derived from job and item are billed once."""
    job = seekapi_emulator.create_job(_items())
    for _ in range(2):
        assert handler(job.event, lambda_context())["ok"] is True
    assert job.metered_event_count == 5
    assert len(job.charges) == 5


def test_a_charge_whose_answer_was_lost_is_billed_once(
    seekapi_emulator: Backend, lambda_context: LambdaContextFactory
) -> None:
    """The emulator records a charge and then drops the connection; the retry is not billed."""
    job = seekapi_emulator.create_job(_items())
    charge_path = f"/v1/internal/jobs/{job.job_uuid}/charge"
    seekapi_emulator.inject(Fault("drop", path=charge_path))
    assert handler(job.event, lambda_context())["ok"] is True
    assert len([r for r in seekapi_emulator.requests if r.path == charge_path]) == 6
    assert job.metered_event_count == 5


def test_local_mode_stops_at_the_fixtures_charge_limit(
    seekapi_local: LocalMode, lambda_context: LambdaContextFactory
) -> None:
    """In local mode, the fixture {"charge_limit": 2} stops the worker after two items."""
    seekapi_local.set_fixtures({"charge_limit": 2})
    job = seekapi_local.create_job(_items())
    outcome = handler(job.event, lambda_context())
    assert (outcome["ok"], outcome["stopped"]) == (True, "limit_reached")
    assert [p["id"] for p in job.result["processed"]] == ITEM_IDS[:2]
    assert [c["idempotency_key"] for c in job.charges] == [
        f"{job.job_uuid}:item-1",
        f"{job.job_uuid}:item-2",
    ]
