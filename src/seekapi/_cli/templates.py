"""The files ``seekapi init`` writes (:func:`project_files`).

In the templates ``__NAME__`` is the project's name, ``__MODULE__`` the same name as a
Python identifier (``word-counter`` → ``word_counter``) and ``__VERSION__`` seekapi's
version.
"""

from __future__ import annotations

HANDLER = '''\
"""__NAME__: a SeekAPI worker that counts the words of a text.

The types are the worker's API contract. ``@seekapi.worker`` makes ``handler`` the
Lambda entry point: it checks each job's input against ``Text`` before any code runs (a
bad input fails with INVALID_INPUT and each problem's place, charging nothing), calls
the function, checks the result against ``Count`` and pushes it. ``seekapi schema
handler.py`` prints both types as JSON Schema. Everything the worker does for the job
goes through ``seekapi.current_job()``.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated

import seekapi


@dataclasses.dataclass
class Text:
    """What a customer sends."""

    text: Annotated[str, seekapi.Field(description="the text whose words are counted")]


@dataclasses.dataclass
class Count:
    """What the worker answers."""

    words: int
    characters: int
    longest: str


@seekapi.worker
def handler(data: Text) -> Count:
    """The worker's own logic: a checked input in, the job's result out."""
    job = seekapi.current_job()
    # One billing unit per job. The key is derived from the job, so a retried call or
    # the same job run again is billed once.
    job.charge(f"{job.job_uuid}:words", justification={"characters": len(data.text)})
    words = data.text.split()
    longest = max(words, key=len, default="")
    return Count(words=len(words), characters=len(data.text), longest=longest)
'''

INPUT = """\
{"text": "The quick brown fox jumps over the lazy dog"}
"""

TEST_HANDLER = '''\
"""Tests of the __NAME__ worker, against seekapi's backend emulator.

The fixtures come with seekapi (its pytest plugin): ``seekapi_emulator`` is a running
emulator whose address is in the environment for the test, and ``lambda_context`` makes
a Lambda context whose remaining time counts down.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from seekapi.testing import Backend, FakeLambdaContext

HERE = Path(__file__).parent


def _load_worker() -> ModuleType:
    """This project's handler.py, imported from its path under a name of its own.

    Each worker project has a handler.py: imported as plain ``handler``, the first one
    pytest met would stand in for every other in a repository that holds several.
    """
    spec = importlib.util.spec_from_file_location("__MODULE___handler", HERE / "handler.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


handler = _load_worker().handler

SAMPLE = json.loads((HERE / "input.json").read_text(encoding="utf-8"))


def test_the_sample_input_gives_its_word_count(
    seekapi_emulator: Backend, lambda_context: Callable[..., FakeLambdaContext]
) -> None:
    """The sample input's words are counted and pushed as the job's result."""
    job = seekapi_emulator.create_job(SAMPLE)

    returned = handler(job.event, lambda_context(timeout_s=30.0))

    assert returned["ok"] is True
    assert job.result == {"words": 9, "characters": 43, "longest": "quick"}


def test_each_job_is_charged_one_unit(
    seekapi_emulator: Backend, lambda_context: Callable[..., FakeLambdaContext]
) -> None:
    """A job is billed one unit, under a key derived from the job."""
    job = seekapi_emulator.create_job({"text": "one two"})

    handler(job.event, lambda_context(timeout_s=30.0))

    assert job.metered_event_count == 1
    assert [charge["idempotency_key"] for charge in job.charges] == [f"{job.job_uuid}:words"]


def test_an_input_without_text_is_refused_before_any_work(
    seekapi_emulator: Backend, lambda_context: Callable[..., FakeLambdaContext]
) -> None:
    """An input with no "text" string breaks the contract: INVALID_INPUT, with the
    place of each problem, and nothing charged or pushed."""
    job = seekapi_emulator.create_job({"words": ["not", "a", "text"]})

    returned = handler(job.event, lambda_context(timeout_s=30.0))

    assert returned["ok"] is False
    assert returned["error"]["code"] == "INVALID_INPUT"
    assert [d["path"] for d in returned["error"]["details"]] == ["/text", "/words"]
    assert job.result is None
    assert job.metered_event_count == 0


def test_a_backend_hiccup_is_retried(
    seekapi_emulator: Backend, lambda_context: Callable[..., FakeLambdaContext]
) -> None:
    """A 503 answer to the result push is retried, and the result arrives."""
    job = seekapi_emulator.create_job(SAMPLE)
    seekapi_emulator.fail_next(1, 503, path=f"/v1/internal/jobs/{job.job_uuid}/push")

    returned = handler(job.event, lambda_context(timeout_s=30.0))

    assert seekapi_emulator.pending_faults == []  # the 503 was answered
    assert returned["ok"] is True
    assert job.result == {"words": 9, "characters": 43, "longest": "quick"}
'''

README = """\
# __NAME__

A SeekAPI worker: an AWS Lambda function that counts the words
of the text it is given.

| file | what it is |
| --- | --- |
| `handler.py` | the worker: `handler(event, context)` is the Lambda entry point |
| `input.json` | a sample job input |
| `test___MODULE__.py` | its tests, run against seekapi's backend emulator |
| `requirements.txt` | what the worker needs: `seekapi>=__VERSION__`, and your own packages |

## Set up

The worker needs seekapi __VERSION__ or later, and its tests need pytest. Where
`seekapi init` ran, both may be installed already. Anywhere else, make a virtual
environment and install seekapi from where you got it, its source folder or its wheel
file (`seekapi-__VERSION__-py3-none-any.whl`), with pytest and the requirements, and run
the tests, in one line:

```sh
python -m venv .venv && .venv/bin/pip install /path/to/seekapi pytest -r requirements.txt \\
  && .venv/bin/python -m pytest
```

(Then `. .venv/bin/activate`, or on Windows `.venv\\Scripts\\activate`, for the commands
below.)

seekapi comes from the path you give. A package index may not have seekapi
__VERSION__ yet (`pip index versions seekapi` lists what it has), and then
`pip install "seekapi>=__VERSION__"` and `pip install -r requirements.txt` alone fail
with "No matching distribution": install from the path first, or in the same
command, as above; the `seekapi` line in `requirements.txt` is then met.

## Run it

```sh
seekapi run handler.py --input-file input.json
```

`seekapi run` calls the handler as Lambda would and prints what it returned, the job's
result, its files and charges, and a `REPORT` line. What the job produced is written
under `.seekapi-local/<job id>/`. Add `--emulate` to go through the network path
against a backend emulator instead, and `--json` for output a program can read.

## Test it

```sh
python -m pytest
```

The `seekapi_emulator` and `lambda_context` fixtures come with seekapi: installing it is
enough. The tests load `handler.py` by its path, under a name of their own, so several
worker projects in one repository can be tested together (`python -m pytest` from the
folder above them).

## Deploy it

```sh
seekapi package -o dist/worker.zip
```

`seekapi package` builds the Lambda deployment zip: `handler.py` and the project's
other files (tests and caches left out), the packages `requirements.txt` names, as
wheels for Lambda's Linux (`--python 3.12`, `--arch arm64` to choose the runtime), and
the seekapi it runs from, bundled, so the zip never needs the package index to have
seekapi __VERSION__. Upload the zip and set the function's handler to `handler.handler`;
`--container` also writes a Dockerfile for a container image.
"""

REQUIREMENTS = """\
# The seekapi this worker needs. Install seekapi from its source folder or wheel
# (see README.md): once it is installed, pip takes this line as met, and
# `seekapi package` bundles the installed seekapi instead of downloading one.
seekapi>=__VERSION__
"""

GITIGNORE = """\
.seekapi-local/
__pycache__/
.pytest_cache/
.venv/
dist/
"""


def identifier(name: str) -> str:
    """A project name as a Python identifier: ``Word-Counter`` → ``word_counter``."""
    return name.replace("-", "_").lower()


def project_files(name: str, version: str) -> dict[str, str]:
    """Each file of the project ``name`` and its text, in the order they are written.

    The tests are ``test_<name>.py``: pytest needs test modules without a package to have
    names of their own, and so two projects in one repository do not collide (names that
    differ only in ``-``, ``_`` or case give one module name: ``seekapi init`` refuses the
    second of them beside the first).
    """
    module = identifier(name)
    files = {
        "handler.py": HANDLER,
        "input.json": INPUT,
        f"test_{module}.py": TEST_HANDLER,
        "README.md": README,
        "requirements.txt": REQUIREMENTS,
        ".gitignore": GITIGNORE,
    }
    return {
        filename: text.replace("__NAME__", name)
        .replace("__MODULE__", module)
        .replace("__VERSION__", version)
        for filename, text in files.items()
    }
