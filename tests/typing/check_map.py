"""Type-checked (mypy --strict), not run: job.map and the awaitable calls as a worker uses them."""

from __future__ import annotations

from typing import Any

from typing_extensions import assert_type

import seekapi
from seekapi import ItemFailure, MapOutcome


def price(item: dict[str, str]) -> float:
    return float(len(item["name"]))


async def fetch(url: str) -> bytes:
    return url.encode()


def work(data: dict[str, Any]) -> dict[str, Any]:
    job = seekapi.current_job()
    items: list[dict[str, str]] = data["items"]
    outcome = job.map(
        price,
        items,
        concurrency=4,
        key=lambda item: item["name"],
        justification=lambda item, result: {"name": item["name"], "price": result},
        on_error="keep",
    )
    assert_type(outcome, MapOutcome[float])
    assert_type(outcome.results, list[float])
    failures: list[ItemFailure] = outcome.failed
    total: float = sum(outcome.results)
    return {"total": total, "failed": [f.to_json() for f in failures], **outcome.to_json()}


async def work_async(data: dict[str, Any]) -> dict[str, Any]:
    job = seekapi.current_job()
    outcome = await job.map_async(fetch, ["a", "b"], name="pages", progress_every=10)
    assert_type(outcome, MapOutcome[bytes])
    reply: dict[str, Any] = await job.charge_async(f"{job.job_uuid}:extra", 2, timeout=3)
    await job.push_data_async({"partial": reply["ok"]})
    await job.push_file_async("a.txt", "/tmp/a.txt", "text/plain")
    return {"pages": len(outcome.results)}
