"""A worker packaged with a compiled requirement: an invoice with exact amounts.

Prices arrive as decimal strings (``"4.99"``). The worker adds them up with
:class:`decimal.Decimal`, so that ``3 x 4.99`` is ``14.97`` and not ``14.969999...``, and
writes ``invoice.json`` with simplejson, which writes a ``Decimal`` as a JSON number
without rounding it through a float (the standard ``json`` module cannot). simplejson
has a C extension, so the Lambda zip needs its wheel for Lambda's platform:
``seekapi package`` installs it (see docs/deploy.md).
"""

from __future__ import annotations

import os
import tempfile
from decimal import Decimal, InvalidOperation
from typing import Any

import simplejson  # type: ignore[import-untyped,unused-ignore]  # no stubs needed to run

import seekapi


def _line(raw: Any) -> dict[str, Any]:
    try:
        quantity = int(raw["quantity"])
        price = Decimal(str(raw["unit_price"]))
        item = str(raw["item"])
    except (KeyError, TypeError, ValueError, InvalidOperation):
        raise seekapi.WorkerError(
            "INVALID_INPUT", "each line needs an item, a whole quantity and a unit_price"
        ) from None
    if quantity < 1 or not price.is_finite() or price < 0:
        raise seekapi.WorkerError("INVALID_INPUT", "quantities and prices must be positive")
    return {"item": item, "quantity": quantity, "unit_price": price, "amount": price * quantity}


def invoice(data: Any) -> dict[str, Any]:
    """The job: the order's lines priced and totalled; ``invoice.json`` pushed as a file."""
    if not isinstance(data, dict) or not isinstance(data.get("lines"), list) or not data["lines"]:
        raise seekapi.WorkerError("INVALID_INPUT", 'the input needs a non-empty "lines" list')
    lines = [_line(raw) for raw in data["lines"]]
    total = sum((line["amount"] for line in lines), Decimal(0))
    document = {"order": str(data.get("order", "")), "lines": lines, "total": total}
    job = seekapi.current_job()
    # /tmp is the only place Lambda lets a function write; the name is the job's own.
    path = os.path.join(tempfile.gettempdir(), f"invoice-{job.job_uuid}.json")
    try:
        with open(path, "w", encoding="utf-8") as file:
            simplejson.dump(document, file, use_decimal=True)
        job.push_file("invoice.json", path, "application/json")
    finally:
        os.remove(path)
    return {"order": document["order"], "lines": len(lines), "total": str(total)}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The AWS Lambda entry point."""
    return seekapi.run(event, context, invoice)
