"""Tests of the files worker: what it uploads, how it fails, and that an upload survives a 503."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from files_worker import handler

from seekapi.testing import Backend, LambdaContextFactory, LocalMode

HERE = Path(__file__).parent


def _order() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((HERE / "input.json").read_text("utf-8"))
    return data


def test_pushes_a_csv_report_and_a_summary(
    seekapi_emulator: Backend, lambda_context: LambdaContextFactory
) -> None:
    """The job receives report.csv and summary.txt, and its result names them."""
    job = seekapi_emulator.create_job(_order())
    assert handler(job.event, lambda_context())["ok"] is True
    assert job.result == {
        "title": "Order 1042",
        "lines": 3,
        "total": "23.88",
        "files": ["report.csv", "summary.txt"],
    }
    report, summary = job.files
    assert (report.name, report.content_type) == ("report.csv", "text/csv")
    assert (summary.name, summary.content_type) == ("summary.txt", "text/plain; charset=utf-8")
    with open(report.path, newline="", encoding="utf-8") as stored:
        rows = list(csv.reader(stored))
    assert rows == [
        ["item", "quantity", "unit_price", "amount"],
        ["apples", "6", "0.45", "2.70"],
        ["bread", "1", "3.20", "3.20"],
        ["coffee, ground", "2", "8.99", "17.98"],
        ["TOTAL", "9", "", "23.88"],
    ]
    text = Path(summary.path).read_text("utf-8")
    assert "total: 23.88" in text
    assert "largest line: coffee, ground (17.98)" in text


def test_an_invalid_order_fails_with_its_own_code_and_pushes_nothing(
    seekapi_emulator: Backend, lambda_context: LambdaContextFactory
) -> None:
    """An order without items is a failure the client sees as INVALID_INPUT."""
    job = seekapi_emulator.create_job({"title": "empty", "items": []})
    outcome = handler(job.event, lambda_context())
    assert outcome["ok"] is False
    assert outcome["error"]["code"] == "INVALID_INPUT"
    assert (job.files, job.result) == ([], None)


def test_an_upload_answered_with_503_is_sent_again_once(
    seekapi_emulator: Backend, lambda_context: LambdaContextFactory
) -> None:
    """The first upload is refused with 503; the SDK sends it again and each file arrives once."""
    job = seekapi_emulator.create_job(_order())
    upload = f"/v1/internal/jobs/{job.job_uuid}/push/file"
    seekapi_emulator.fail_next(1, 503, path=upload)
    assert handler(job.event, lambda_context())["ok"] is True
    assert [f.name for f in job.files] == ["report.csv", "summary.txt"]
    assert [r.status for r in seekapi_emulator.requests if r.path == upload] == [503, 200, 200]


def test_local_mode_copies_the_files_into_the_job_folder(
    seekapi_local: LocalMode, lambda_context: LambdaContextFactory
) -> None:
    """In local mode both files are copied under the job's files/ folder."""
    job = seekapi_local.create_job(_order())
    assert handler(job.event, lambda_context())["ok"] is True
    assert sorted(p.name for p in (job.directory / "files").iterdir()) == [
        "report.csv",
        "summary.txt",
    ]
    assert [(f.name, f.content_type) for f in job.files] == [
        ("report.csv", "text/csv"),
        ("summary.txt", "text/plain; charset=utf-8"),
    ]
    assert job.result["total"] == "23.88"
