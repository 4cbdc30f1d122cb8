"""The pay-per-event worker with ``job.map``: items run four at a time, each billed once.

``job.map`` calls the function for each item in threads, charges one unit for each item
that succeeds under the key ``f"{job_uuid}:words:{item_id}"``, and stops starting items
once a charge answers ``limit_reached``. Every item in the result was billed, and every
item billed is in the result.
"""

from __future__ import annotations

from typing import Any

import seekapi
from seekapi import WorkerError


def count_words(item: dict[str, Any]) -> dict[str, Any]:
    """The billable work for one item."""
    words = item["text"].split()
    return {"id": item["id"], "words": len(words), "longest": max(words, key=len) if words else ""}


def process(data: dict[str, Any]) -> dict[str, Any]:
    """Process the items four at a time, billing each, until done or the limit is reached."""
    items = data.get("items")
    if not isinstance(items, list) or not all(
        isinstance(item, dict)
        and isinstance(item.get("id"), str)
        and isinstance(item.get("text"), str)
        for item in items
    ):
        raise WorkerError("INVALID_INPUT", "'items' must be a list of {'id': str, 'text': str}")
    outcome = seekapi.current_job().map(
        count_words,
        items,
        concurrency=4,
        name="words",
        key=lambda item: item["id"],  # bill by item id, whatever the order of the input
        justification=lambda item, result: {"item_id": item["id"]},
    )
    return {
        "processed": outcome.results,
        "complete": outcome.complete,
        "stopped": outcome.stopped,  # "limit" when the spending limit ended it
        "units": outcome.units,
        "failed": [failure.to_json() for failure in outcome.failed],
    }


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """The Lambda entry point."""
    return seekapi.run(event, context, process)
