"""A pay-per-event worker: one billing unit per item, and a clean stop at the spending limit.

For each item it does the work, then charges one unit with an idempotency key derived
from the job and the item, so a retried charge, or the same job run again, never bills
an item twice. When a charge answers ``limit_reached`` (the client's spending limit is
hit), the worker stops: the items done so far, all of them paid for, are the result.
"""

from __future__ import annotations

from typing import Any

import seekapi
from seekapi import WorkerError


def count_words(text: str) -> dict[str, Any]:
    """The billable work for one item."""
    words = text.split()
    return {"words": len(words), "longest": max(words, key=len) if words else ""}


def process(data: dict[str, Any]) -> dict[str, Any]:
    """Process the items in order, billing each one, until done or the limit is reached."""
    items = data.get("items")
    if not isinstance(items, list) or not all(
        isinstance(item, dict)
        and isinstance(item.get("id"), str)
        and isinstance(item.get("text"), str)
        for item in items
    ):
        raise WorkerError("INVALID_INPUT", "'items' must be a list of {'id': str, 'text': str}")
    job = seekapi.current_job()
    processed: list[dict[str, Any]] = []
    for item in items:
        item_id = item["id"]
        processed.append({"id": item_id, **count_words(item["text"])})
        job.charge(f"{job.job_uuid}:{item_id}", justification={"item_id": item_id})
        if job.limit_reached:
            # The result is pushed and run() returns a success with "stopped".
            job.stop({"processed": processed, "complete": False})
    return {"processed": processed, "complete": True}


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """The Lambda entry point."""
    return seekapi.run(event, context, process)
