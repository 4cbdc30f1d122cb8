"""A worker that produces files: a CSV report and a text summary of an order.

It writes both files to a temporary folder, pushes them to the job with
``job.push_file`` and returns a small JSON result that names them. Amounts are whole
cents, so no rounding ever creeps in.
"""

from __future__ import annotations

import csv
import os
import tempfile
from dataclasses import dataclass
from typing import Any

import seekapi
from seekapi import WorkerError

REPORT_NAME = "report.csv"
SUMMARY_NAME = "summary.txt"


@dataclass(frozen=True)
class Line:
    """One line of the order."""

    name: str
    quantity: int
    unit_price_cents: int

    @property
    def amount_cents(self) -> int:
        return self.quantity * self.unit_price_cents


def parse_lines(data: dict[str, Any]) -> list[Line]:
    """The order lines of the input, or a ``WorkerError`` the API client will see."""
    items = data.get("items")
    if not isinstance(items, list) or not items:
        raise WorkerError("INVALID_INPUT", "'items' must be a non-empty list")
    lines = []
    for position, item in enumerate(items):
        if not (
            isinstance(item, dict)
            and isinstance(item.get("name"), str)
            and _whole(item.get("quantity"))
            and _whole(item.get("unit_price_cents"))
        ):
            raise WorkerError(
                "INVALID_INPUT",
                f"items[{position}] needs a 'name' and whole, non-negative"
                " 'quantity' and 'unit_price_cents'",
            )
        lines.append(Line(item["name"], item["quantity"], item["unit_price_cents"]))
    return lines


def money(cents: int) -> str:
    """``1234`` → ``"12.34"``."""
    return f"{cents // 100}.{cents % 100:02d}"


def write_report(path: str, lines: list[Line]) -> None:
    """The CSV report: a header row, one row per line, and a total row."""
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["item", "quantity", "unit_price", "amount"])
        for line in lines:
            writer.writerow(
                [line.name, line.quantity, money(line.unit_price_cents), money(line.amount_cents)]
            )
        writer.writerow(["TOTAL", sum(line.quantity for line in lines), "", money(total(lines))])


def write_summary(path: str, title: str, lines: list[Line]) -> None:
    """A few lines of plain text for a human."""
    biggest = max(lines, key=lambda line: line.amount_cents)
    with open(path, "w", encoding="utf-8") as out:
        out.write(f"{title}\n")
        out.write(f"{len(lines)} lines, {sum(line.quantity for line in lines)} units\n")
        out.write(f"total: {money(total(lines))}\n")
        out.write(f"largest line: {biggest.name} ({money(biggest.amount_cents)})\n")


def total(lines: list[Line]) -> int:
    return sum(line.amount_cents for line in lines)


def build_report(data: dict[str, Any]) -> dict[str, Any]:
    """Write the report and the summary, push both, and return what was produced."""
    lines = parse_lines(data)
    title = str(data.get("title") or "Order")
    job = seekapi.current_job()
    # Lambda lets a function write under /tmp only; tempfile uses it there.
    with tempfile.TemporaryDirectory(prefix="report-") as folder:
        report = os.path.join(folder, REPORT_NAME)
        summary = os.path.join(folder, SUMMARY_NAME)
        write_report(report, lines)
        write_summary(summary, title, lines)
        job.push_file(REPORT_NAME, report, "text/csv")
        job.push_file(SUMMARY_NAME, summary, "text/plain; charset=utf-8")
    return {
        "title": title,
        "lines": len(lines),
        "total": money(total(lines)),
        "files": [REPORT_NAME, SUMMARY_NAME],
    }


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """The Lambda entry point."""
    return seekapi.run(event, context, build_report)


def _whole(value: object) -> bool:
    return type(value) is int and value >= 0
