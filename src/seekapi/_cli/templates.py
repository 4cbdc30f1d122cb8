"""The files ``seekapi init`` writes. ``__NAME__`` is replaced by the project's name."""

from __future__ import annotations

HANDLER = '''\
"""__NAME__: a SeekAPI worker that counts the words of a text.

Lambda calls ``handler(event, context)``; ``seekapi.run`` fetches the job's input, calls
``count_words(input)``, pushes what it returns as the job's result and returns the status
the platform reads. Everything the worker does for the job goes through
``seekapi.current_job()``.
"""

from __future__ import annotations

from typing import Any

import seekapi


def count_words(data: Any) -> dict[str, Any]:
    """The worker's own logic: the input in, the job's result out."""
    text = data.get("text") if isinstance(data, dict) else None
    if not isinstance(text, str):
        # The API client sees this code and message.
        raise seekapi.WorkerError("INVALID_INPUT", 'the input needs a "text" string')
    job = seekapi.current_job()
    # One billing unit per job. The key is derived from the job, so a retried call or
    # the same job run again is billed once.
    job.charge(f"{job.job_uuid}:words", justification={"characters": len(text)})
    words = text.split()
    longest = max(words, key=len, default="")
    return {"words": len(words), "characters": len(text), "longest": longest}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The AWS Lambda entry point."""
    return seekapi.run(event, context, count_words)
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

import json
from collections.abc import Callable
from pathlib import Path

from seekapi.testing import Backend, FakeLambdaContext

from handler import handler

SAMPLE = json.loads((Path(__file__).parent / "input.json").read_text(encoding="utf-8"))


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


def test_an_input_without_text_is_a_failure_with_its_own_code(
    seekapi_emulator: Backend, lambda_context: Callable[..., FakeLambdaContext]
) -> None:
    """An input with no "text" string fails with INVALID_INPUT and pushes nothing."""
    job = seekapi_emulator.create_job({"words": ["not", "a", "text"]})

    returned = handler(job.event, lambda_context(timeout_s=30.0))

    assert returned["ok"] is False
    assert returned["error"]["code"] == "INVALID_INPUT"
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
| `test_handler.py` | its tests, run against seekapi's backend emulator |
| `requirements.txt` | the SDK version the worker needs: `seekapi>=__VERSION__` |

## Set up

The worker needs seekapi __VERSION__ or later, and its tests need pytest. Where
`seekapi init` ran, seekapi is installed already; anywhere else, install it from where
you got it (its source folder or a wheel):

```sh
pip install /path/to/seekapi    # not needed where `seekapi init` ran
pip install pytest
```

When the package index has seekapi __VERSION__ (`pip index versions seekapi` lists the
published ones), `pip install -r requirements.txt` installs it from there instead.

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
enough.

## Deploy it

Package `handler.py` with seekapi __VERSION__ or later (the version `requirements.txt`
names; for example `pip install --target package/ /path/to/seekapi`, then add
`handler.py` to `package/`) and set the Lambda function's handler to `handler.handler`.
"""

REQUIREMENTS = """\
# The seekapi version this worker needs (see README.md for where to install it from).
seekapi>=__VERSION__
"""

GITIGNORE = """\
.seekapi-local/
__pycache__/
.pytest_cache/
"""

FILES: dict[str, str] = {
    "handler.py": HANDLER,
    "input.json": INPUT,
    "test_handler.py": TEST_HANDLER,
    "README.md": README,
    "requirements.txt": REQUIREMENTS,
    ".gitignore": GITIGNORE,
}
"""Each file's name and its template, in the order they are written."""
