"""Real workers under the real AWS Lambda runtime client (awslambdaric), against the backend.

The runtime process reads its invocations from a loopback imitation of the Lambda
Runtime API; each response's arrival time is compared with the invocation's deadline.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from seekapi.testing import Backend, Fault, RuntimeAPI, RuntimeProcess, start_runtime_process

pytest.importorskip("awslambdaric", reason="awslambdaric (a dev dependency) runs the workers")

_WORKER = """
    import time

    import seekapi


    def handler(event, context):
        mode = event.get("mode")

        def work(data):
            if mode == "slow":
                time.sleep(60)
            if mode == "boom":
                raise ValueError("no good")
            job = seekapi.current_job()
            job.charge(f"{job.job_uuid}:item-1")
            return {"echo": data}

        return seekapi.run(event, context, work)
"""


@pytest.fixture
def worker(tmp_path: Path, backend: Backend) -> Iterator[tuple[RuntimeAPI, RuntimeProcess]]:
    """A warm Lambda process running the worker above, configured for the backend."""
    (tmp_path / "worker.py").write_text(textwrap.dedent(_WORKER), encoding="utf-8")
    with RuntimeAPI() as runtime:
        process = start_runtime_process(runtime, "worker.handler", cwd=tmp_path, env=backend.env)
        try:
            yield runtime, process
        finally:
            process.stop()
        assert runtime.problems == []


def _event(job_event: dict[str, str], **extra: str) -> dict[str, str]:
    return {**job_event, **extra}


def test_success_under_the_real_runtime(
    worker: tuple[RuntimeAPI, RuntimeProcess], backend: Backend
) -> None:
    """The runtime posts run()'s success; the result and the charge reached the backend."""
    runtime, _process = worker
    job = backend.create_job({"name": "Ada"})
    done = runtime.wait(runtime.invoke(job.event, timeout_s=10))
    assert done.response is not None
    assert done.response["ok"] is True
    assert done.response["request_id"] == done.request_id
    assert job.result == {"echo": {"name": "Ada"}}
    assert job.metered_event_count == 1
    assert job.request_ids == [done.request_id]


def test_slow_code_is_reported_before_the_deadline(
    worker: tuple[RuntimeAPI, RuntimeProcess], backend: Backend
) -> None:
    """Code that would run past the deadline gets WORKER_TIMEOUT, posted before the deadline."""
    runtime, _process = worker
    job = backend.create_job({})
    done = runtime.wait(runtime.invoke(_event(job.event, mode="slow"), timeout_s=3))
    assert done.response is not None
    assert done.response["error"]["code"] == "WORKER_TIMEOUT"
    assert done.margin_s > 0, f"posted {-done.margin_s:.3f} s after the deadline"


def test_hanging_backend_is_reported_before_the_deadline(
    worker: tuple[RuntimeAPI, RuntimeProcess], backend: Backend
) -> None:
    """The backend hangs on the result push: the failure is still posted before the deadline."""
    runtime, _process = worker
    job = backend.create_job({})
    backend.inject(Fault("hang", count=50, path=f"/v1/internal/jobs/{job.job_uuid}/push"))
    done = runtime.wait(runtime.invoke(job.event, timeout_s=3))
    assert done.response is not None
    assert done.response["error"]["stage"] == "push"
    assert done.margin_s > 0, f"posted {-done.margin_s:.3f} s after the deadline"


def test_warm_invocations_reuse_the_connection_and_are_not_disturbed(
    worker: tuple[RuntimeAPI, RuntimeProcess], backend: Backend
) -> None:
    """After a timed-out invocation, the next ones in the same process succeed on one connection."""
    runtime, process = worker
    slow = backend.create_job({})
    first = runtime.wait(runtime.invoke(_event(slow.event, mode="slow"), timeout_s=2))
    assert first.response is not None
    assert first.response["error"]["code"] == "WORKER_TIMEOUT"
    second_job, third_job = backend.create_job({"n": 2}), backend.create_job({"n": 3})
    second = runtime.wait(runtime.invoke(second_job.event, timeout_s=10))
    opened_after_second = backend.connections_accepted
    third = runtime.wait(runtime.invoke(third_job.event, timeout_s=10))
    assert second.response is not None
    assert third.response is not None
    assert second.response["ok"] is True
    assert third.response["ok"] is True
    assert backend.connections_accepted == opened_after_second
    assert third_job.result == {"echo": {"n": 3}}
    assert process.poll() is None  # the same warm process served all three


def _run_once(tmp_path: Path, backend: Backend, env: dict[str, str]) -> tuple[str, str, str]:
    """One failing job under a fresh runtime process with ``env``: its stdout, the
    request id and the job's uuid."""
    (tmp_path / "worker.py").write_text(textwrap.dedent(_WORKER), encoding="utf-8")
    job = backend.create_job({})
    with RuntimeAPI() as runtime:
        process = start_runtime_process(
            runtime, "worker.handler", cwd=tmp_path, env={**backend.env, **env}
        )
        done = runtime.wait(runtime.invoke(_event(job.event, mode="boom"), timeout_s=10))
    assert done.response is not None
    assert done.response["error"]["code"] == "WORKER_ERROR"
    return process.read_stdout(), done.request_id, job.job_uuid


def test_json_log_records_hold_the_exception_and_the_ids_in_fields(
    tmp_path: Path, backend: Backend
) -> None:
    """Under Lambda's JSON format, a failure's exception is in errorType, errorMessage and
    stackTrace, not in the message; the job and request ids are fields of every record."""
    # Lambda sets the INFO level with the JSON format unless told otherwise.
    env = {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "INFO"}
    stdout, request_id, job_uuid = _run_once(tmp_path, backend, env)
    records = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    ours = [record for record in records if record["logger"] == "seekapi"]
    assert len(ours) >= 3  # input fetched, the failure, the job's end
    for record in ours:
        assert not record["message"].startswith("seekapi")
        assert record["requestId"] == record["request_id"] == request_id
        assert record["job_uuid"] == job_uuid
    (failure,) = [record for record in ours if "errorType" in record]
    assert failure["level"] == "ERROR"
    assert failure["errorType"] == "ValueError"
    assert failure["errorMessage"] == "no good"
    assert any("worker.py" in frame for frame in failure["stackTrace"])
    assert "no good" not in failure["message"]
    assert "Traceback" not in failure["message"]
    assert backend.secret not in stdout


def test_text_log_lines_are_lambdas_without_the_logger_name(
    tmp_path: Path, backend: Backend
) -> None:
    """Under the Text format, records are Lambda's tab-separated lines with the request id."""
    stdout, request_id, _ = _run_once(
        tmp_path, backend, {"AWS_LAMBDA_LOG_FORMAT": "Text", "AWS_LAMBDA_LOG_LEVEL": "INFO"}
    )
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
    assert re.search(rf"^\[INFO\]\t{stamp}\t{request_id}\tinput fetched", stdout, re.M)
    assert re.search(rf"^\[ERROR\]\t{stamp}\t{request_id}\tthe worker code raised", stdout, re.M)
    assert "ValueError: no good" in stdout
    assert "\tseekapi:" not in stdout


def test_a_request_id_the_backend_refuses_is_logged_with_the_job_ids(
    tmp_path: Path, backend: Backend
) -> None:
    """The registration warning (live logs) is a record with job_uuid and request_id as
    fields, like every other seekapi record, and no prefix."""
    (tmp_path / "worker.py").write_text(textwrap.dedent(_WORKER), encoding="utf-8")
    job = backend.create_job({})
    path = f"/v1/internal/jobs/{job.job_uuid}/worker-request-id"
    backend.inject(Fault("status", status=400, count=5, path=path))
    env = {**backend.env, "AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "INFO"}
    with RuntimeAPI() as runtime:
        process = start_runtime_process(runtime, "worker.handler", cwd=tmp_path, env=env)
        done = runtime.wait(runtime.invoke(job.event, timeout_s=10))
    assert done.response is not None
    assert done.response["ok"] is True
    records = [json.loads(line) for line in process.read_stdout().splitlines() if line[:1] == "{"]
    (warning,) = [r for r in records if "register the request id" in str(r.get("message"))]
    assert not warning["message"].startswith("seekapi")
    assert warning["job_uuid"] == job.job_uuid
    assert warning["request_id"] == warning["requestId"] == done.request_id
