"""Tests of the hello worker, using the fixtures of seekapi's pytest plugin.

``seekapi_emulator`` is the backend emulator the SDK talks to during the test,
``lambda_context`` builds fake Lambda contexts and ``seekapi_local`` runs a job in
local mode; installing seekapi is all it takes to have them.
"""

from __future__ import annotations

import json
from pathlib import Path

from handler import greet, handler

from seekapi.testing import Backend, LambdaContextFactory, LocalMode

HERE = Path(__file__).parent


def test_greet_uses_the_name_or_the_world() -> None:
    """The worker's own logic needs no fixture: it is a plain function."""
    assert greet({"name": "Ada"}) == {"message": "hello Ada"}
    assert greet({}) == {"message": "hello world"}


def test_handler_pushes_the_greeting_for_the_bundled_input(
    seekapi_emulator: Backend, lambda_context: LambdaContextFactory
) -> None:
    """Run through the network path, the handler succeeds and the job's result is the greeting."""
    job = seekapi_emulator.create_job(json.loads((HERE / "input.json").read_text("utf-8")))
    context = lambda_context(timeout_s=10)
    outcome = handler(job.event, context)
    assert outcome == {"ok": True, "request_id": context.aws_request_id}
    assert job.result == {"message": "hello Ada"}
    assert job.request_ids == [context.aws_request_id]


def test_handler_survives_a_503_from_the_platform(
    seekapi_emulator: Backend, lambda_context: LambdaContextFactory
) -> None:
    """A push answered once with 503 is sent again, and the result arrives once."""
    job = seekapi_emulator.create_job({"name": "Grace"})
    push_path = f"/v1/internal/jobs/{job.job_uuid}/push"
    seekapi_emulator.fail_next(1, 503, path=push_path)
    assert handler(job.event, lambda_context())["ok"] is True
    assert job.pushes == [{"data": {"message": "hello Grace"}, "type": "json"}]
    statuses = [r.status for r in seekapi_emulator.requests if r.path == push_path]
    assert statuses == [503, 200]


def test_handler_reports_a_result_the_platform_refused(
    seekapi_emulator: Backend, lambda_context: LambdaContextFactory
) -> None:
    """A push refused with 400 makes the handler return a failure at the push stage."""
    job = seekapi_emulator.create_job({"name": "Ada"})
    seekapi_emulator.fail_next(1, 400, path=f"/v1/internal/jobs/{job.job_uuid}/push")
    outcome = handler(job.event, lambda_context())
    assert outcome["ok"] is False
    assert (outcome["error"]["code"], outcome["error"]["stage"]) == ("WORKER_ERROR", "push")
    assert job.result is None


def test_handler_in_local_mode_writes_the_result_file(
    seekapi_local: LocalMode, lambda_context: LambdaContextFactory
) -> None:
    """In local mode the result lands in the job's response_json.json."""
    job = seekapi_local.create_job({"name": "Ada"}, job_uuid="hello-local")
    assert handler(job.event, lambda_context())["ok"] is True
    assert json.loads((job.directory / "response_json.json").read_text("utf-8")) == {
        "message": "hello Ada"
    }
    assert job.result == {"message": "hello Ada"}
