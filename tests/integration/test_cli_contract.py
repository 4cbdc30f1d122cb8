"""Typed workers on the command line: `seekapi schema`, and `seekapi run` listing problems."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import jsonschema
import pytest

WORKER = textwrap.dedent(
    """
    from __future__ import annotations

    import dataclasses
    import enum
    from typing import Annotated

    import seekapi


    class Unit(enum.Enum):
        METRIC = "metric"
        IMPERIAL = "imperial"


    @dataclasses.dataclass
    class Query:
        city: Annotated[str, seekapi.Field(min_length=1, description="a city name",
                                           examples=["Lyon"])]
        days: Annotated[int, seekapi.Field(ge=1, le=14)] = 3
        unit: Unit = Unit.METRIC


    @dataclasses.dataclass
    class Forecast:
        city: str
        highs: list[float]


    @seekapi.worker
    def handler(query: Query) -> Forecast:
        return Forecast(query.city, [20.0] * query.days)


    def work(text: str):
        return None


    def lambda_style(event, context):
        return seekapi.run(event, context, work)
    """
)


def _schema(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "seekapi", "schema", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "handler.py").write_text(WORKER, "utf-8")
    return tmp_path


def test_prints_both_schemas_of_a_worker_handler(folder: Path) -> None:
    proc = _schema(folder, "handler.py")
    assert proc.returncode == 0, proc.stderr
    schemas: dict[str, Any] = json.loads(proc.stdout)
    query = schemas["input"]
    assert query["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert query["properties"]["city"] == {
        "type": "string",
        "minLength": 1,
        "description": "a city name",
        "examples": ["Lyon"],
    }
    assert query["properties"]["days"]["default"] == 3
    assert query["properties"]["unit"]["enum"] == ["metric", "imperial"]
    assert query["required"] == ["city"]
    jsonschema.Draft202012Validator.check_schema(query)
    assert jsonschema.Draft202012Validator(query).is_valid({"city": "Lyon", "days": 2})
    assert not jsonschema.Draft202012Validator(query).is_valid({"city": "Lyon", "days": 20})
    assert schemas["output"]["properties"]["highs"]["items"] == {"type": "number"}


def test_a_plain_annotated_function_by_name_and_one_side(folder: Path) -> None:
    proc = _schema(folder, "handler.py:work")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["output"] is None
    proc = _schema(folder, "handler.py:work", "--side", "input")
    assert json.loads(proc.stdout) == {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "string",
    }


def test_a_function_without_types_is_a_clear_error(folder: Path) -> None:
    proc = _schema(folder, "handler.py:lambda_style")
    assert proc.returncode == 1
    assert "is a Lambda handler (event, context), not a typed worker function" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_an_unsupported_annotation_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text(
        "import seekapi\n\n@seekapi.worker\ndef handler(data: set[int]) -> None:\n    pass\n"
    )
    proc = _schema(tmp_path, "bad.py")
    assert proc.returncode == 1
    assert "set[int] at handler input: not a supported type" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_file_and_name(folder: Path) -> None:
    assert "no such file" in _schema(folder, "nope.py").stderr
    proc = _schema(folder, "handler.py:absent")
    assert proc.returncode == 2
    assert "has no 'absent'" in proc.stderr


def test_seekapi_run_lists_the_problems_and_runs_no_worker_code(folder: Path) -> None:
    (folder / "input.json").write_text('{"city": "", "days": 99, "when": "now"}')
    proc = subprocess.run(
        [sys.executable, "-m", "seekapi", "run", "handler.py", "--input-file", "input.json"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Problems:"))
    assert lines[start] == "Problems:  3 in the input: no worker code ran"
    assert lines[start + 1 : start + 4] == [
        "  /city: expected at least 1 character, got 0",
        "  /days: expected a number at most 14, got 99",
        "  /when: unknown key for Query (allowed: city, days, unit)",
    ]
    assert "Result:    nothing pushed" in lines
