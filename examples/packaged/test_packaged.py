"""Tests of the packaged worker, with the fixtures of seekapi's pytest plugin.

They need the worker's requirement, simplejson, installed where they run (pip install
-r requirements.txt); the same tests run against the unpacked Lambda zip in seekapi's
own tests of ``seekapi package``.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from seekapi.testing import Backend, LambdaContextFactory

pytest.importorskip(
    "simplejson", reason="the worker's requirement: pip install -r requirements.txt"
)

HERE = Path(__file__).parent


def _load_worker() -> ModuleType:
    """``handler.py`` beside this file, under a module name of its own.

    Other workers in the same repository have a ``handler.py`` too: loaded by its path,
    this one is never mistaken for theirs when pytest runs them together.
    """
    spec = importlib.util.spec_from_file_location("packaged_handler", HERE / "handler.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


worker = _load_worker()


def _sample() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((HERE / "input.json").read_text("utf-8"))
    return data


def test_the_invoice_total_is_exact(
    seekapi_emulator: Backend, lambda_context: LambdaContextFactory
) -> None:
    """3 x 4.99 + 10 x 0.10 + 12.75 is 28.72 exactly, and the result says so."""
    job = seekapi_emulator.create_job(_sample())
    assert worker.handler(job.event, lambda_context())["ok"] is True
    assert job.result == {"order": "1042", "lines": 3, "total": "28.72"}


def test_the_invoice_file_holds_decimal_numbers(
    seekapi_emulator: Backend, lambda_context: LambdaContextFactory
) -> None:
    """invoice.json holds the amounts as JSON numbers, written from Decimal without a float."""
    job = seekapi_emulator.create_job(_sample())
    assert worker.handler(job.event, lambda_context())["ok"] is True
    (pushed,) = job.files
    assert (pushed.name, pushed.content_type) == ("invoice.json", "application/json")
    text = Path(pushed.path).read_text("utf-8")
    assert '"amount": 14.97' in text
    assert '"total": 28.72' in text
    assert json.loads(text)["lines"][1]["amount"] == 1.0


def test_a_line_without_a_price_fails_with_its_own_code(
    seekapi_emulator: Backend, lambda_context: LambdaContextFactory
) -> None:
    """A malformed line is INVALID_INPUT, and nothing is pushed."""
    job = seekapi_emulator.create_job({"lines": [{"item": "pen", "quantity": 1}]})
    outcome = worker.handler(job.event, lambda_context())
    assert outcome["ok"] is False
    assert outcome["error"]["code"] == "INVALID_INPUT"
    assert (job.files, job.result) == ([], None)
