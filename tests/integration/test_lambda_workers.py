"""Real workers under the real AWS Lambda runtime client (awslambdaric), against the backend.

The runtime process reads its invocations from a loopback imitation of the Lambda
Runtime API; each response's arrival time is compared with the invocation's deadline.
"""

from __future__ import annotations

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
