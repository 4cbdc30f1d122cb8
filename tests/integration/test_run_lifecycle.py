"""run(): deadlines, interruption, the job in user code, async, failures and logging.

Deadline tests allow 0.5 s of slack on budgets of a few seconds.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import seekapi
from seekapi.errors import JobClosedError, UsageError, WorkerError, WorkerTimeout
from seekapi.testing import Backend, FakeLambdaContext, Fault

SLACK = 0.5


def test_slow_user_code_is_interrupted_and_reported_before_the_deadline(
    configured: Backend,
) -> None:
    """Code sleeping past its time is interrupted; run() returns WORKER_TIMEOUT in time."""
    job = configured.create_job({})
    context = FakeLambdaContext(timeout_s=3, aws_request_id="r")
    started = time.monotonic()
    out = seekapi.run(job.event, context, lambda data: time.sleep(30))
    elapsed = time.monotonic() - started
    assert out["ok"] is False
    assert out["error"]["code"] == "WORKER_TIMEOUT"
    assert out["error"]["stage"] == "timeout"
    assert out["request_id"] == "r"
    assert elapsed < 3
    assert context.get_remaining_time_in_millis() > 0
    assert job.result is None


def test_except_exception_does_not_swallow_the_timeout(configured: Backend) -> None:
    """The interrupt is a BaseException: a broad 'except Exception' in user code lets it through."""
    job = configured.create_job({})
    swallowed: list[BaseException] = []

    def stubborn(data: Any) -> Any:
        while True:
            try:
                time.sleep(10)
            except Exception as exc:
                swallowed.append(exc)

    out = seekapi.run(job.event, FakeLambdaContext(timeout_s=2), stubborn)
    assert out["error"]["code"] == "WORKER_TIMEOUT"
    assert swallowed == []


def test_busy_python_loop_is_interrupted(configured: Backend) -> None:
    """A CPU-bound pure-Python loop is interrupted too."""
    job = configured.create_job({})

    def spin(data: Any) -> Any:
        n = 0
        while True:
            n += 1

    started = time.monotonic()
    out = seekapi.run(job.event, FakeLambdaContext(timeout_s=2), spin)
    assert out["error"]["code"] == "WORKER_TIMEOUT"
    assert time.monotonic() - started < 2


def test_interruption_works_outside_the_main_thread(configured: Backend) -> None:
    """run() called from a worker thread is interrupted by its watchdog."""
    job = configured.create_job({})
    results: list[dict[str, Any]] = []

    def spin(data: Any) -> Any:
        while True:
            sum(range(1000))

    def call() -> None:
        results.append(seekapi.run(job.event, FakeLambdaContext(timeout_s=2), spin))

    thread = threading.Thread(target=call)
    started = time.monotonic()
    thread.start()
    thread.join(timeout=10)
    assert results[0]["error"]["code"] == "WORKER_TIMEOUT"
    assert time.monotonic() - started < 2 + SLACK


def test_nothing_armed_fires_after_run_returns(configured: Backend) -> None:
    """A quick job leaves no alarm behind; the previous SIGALRM handler and timer are restored."""
    job = configured.create_job({})
    previous = signal.getsignal(signal.SIGALRM)
    # pytest-timeout may have its own timer running: it must come back as it was.
    before = signal.getitimer(signal.ITIMER_REAL)[0]
    started = time.monotonic()
    out = seekapi.run(job.event, FakeLambdaContext(timeout_s=1.2), lambda data: {"quick": True})
    assert out["ok"] is True
    assert signal.getsignal(signal.SIGALRM) is previous
    after = signal.getitimer(signal.ITIMER_REAL)[0]
    expected = max(0.0, before - (time.monotonic() - started)) if before else 0.0
    assert after == pytest.approx(expected, abs=0.1)
    time.sleep(1.5)  # past the job's deadline: nothing may fire now


def test_leftover_code_cannot_push_or_charge_after_the_job_ended(configured: Backend) -> None:
    """A thread still running after a timeout gets JobClosedError and sends nothing."""
    job = configured.create_job({})
    outcome: list[BaseException] = []
    release = threading.Event()

    def leftover(handle: seekapi.Job) -> None:
        release.wait(10)
        attempts: list[Callable[[], object]] = [
            lambda: handle.push_data({"late": True}),
            lambda: handle.charge("late-key"),
            lambda: seekapi.push_data(handle.context, {"late": "low-level"}),
        ]
        for attempt in attempts:
            try:
                attempt()
            except JobClosedError as exc:
                outcome.append(exc)

    def work(data: Any) -> Any:
        copied = contextvars.copy_context()
        thread = threading.Thread(target=copied.run, args=(leftover, seekapi.current_job()))
        thread.start()
        time.sleep(30)

    out = seekapi.run(job.event, FakeLambdaContext(timeout_s=2), work)
    assert out["error"]["code"] == "WORKER_TIMEOUT"
    release.set()
    deadline = time.monotonic() + 5
    while len(outcome) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(outcome) == 3
    assert job.result is None
    assert job.charges == []


def test_hanging_backend_cannot_push_run_past_the_deadline(configured: Backend) -> None:
    """The backend hangs on the result push: run() fails at stage push before the deadline."""
    job = configured.create_job({})
    configured.inject(Fault("hang", count=20, path=f"/v1/internal/jobs/{job.job_uuid}/push"))
    context = FakeLambdaContext(timeout_s=3)
    started = time.monotonic()
    out = seekapi.run(job.event, context, lambda data: {"r": 1})
    assert out["error"]["stage"] == "push"
    assert time.monotonic() - started < 3
    assert context.get_remaining_time_in_millis() > 0


def test_hanging_input_with_little_time_left(configured: Backend) -> None:
    """With 1.5 s left and the input URL hanging, no minimum timeout pushes run() past it."""
    job = configured.create_job({})
    configured.inject(Fault("hang", count=20, path="/input/"))
    context = FakeLambdaContext(timeout_s=1.5)
    out = seekapi.run(job.event, context, lambda data: data)
    assert out["error"]["stage"] == "input"
    assert context.get_remaining_time_in_millis() > 0


def test_no_time_left_at_all(configured: Backend) -> None:
    """A context with 0 ms left gives a prompt failure, never a hang."""
    job = configured.create_job({})
    started = time.monotonic()
    out = seekapi.run(job.event, FakeLambdaContext(timeout_s=0), lambda data: data)
    assert out["ok"] is False
    assert time.monotonic() - started < SLACK


def test_hanging_registration_delays_the_job_by_its_small_timeout_at_most(
    configured: Backend,
) -> None:
    """register_request_id is best effort: a hung backend costs at most its 3 s timeout."""
    job = configured.create_job({"x": 1})
    configured.inject(
        Fault("hang", count=5, path=f"/v1/internal/jobs/{job.job_uuid}/worker-request-id")
    )
    started = time.monotonic()
    out = seekapi.run(job.event, FakeLambdaContext(timeout_s=30), lambda data: data)
    assert out["ok"] is True
    assert time.monotonic() - started < 3 + SLACK
    assert job.result == {"x": 1}


def test_user_code_charges_and_pushes_files_through_the_job(
    configured: Backend, tmp_path: Path
) -> None:
    """Inside run(), current_job() charges per item and pushes files with the job's deadline."""
    job = configured.create_job({"items": ["a", "b", "c"]})
    report = tmp_path / "report.txt"
    report.write_text("done")

    def work(data: dict[str, Any]) -> dict[str, Any]:
        current = seekapi.current_job()
        assert current.remaining() < 30
        for item in data["items"]:
            current.charge(f"{current.job_uuid}:{item}")
        current.push_file("report.txt", str(report))
        return {"count": len(data["items"])}

    out = seekapi.run(job.event, FakeLambdaContext(timeout_s=30), work)
    assert out == {"ok": True, "request_id": out["request_id"]}
    assert job.metered_event_count == 3
    assert [f.name for f in job.files] == ["report.txt"]
    assert job.result == {"count": 3}


def test_current_job_outside_run_is_a_clear_error() -> None:
    """current_job() outside run() says where it can be used."""
    with pytest.raises(UsageError, match=r"inside the function given to seekapi\.run"):
        seekapi.current_job()


def test_limit_reached_stops_the_job_as_a_success(backend: Backend, monkeypatch: Any) -> None:
    """At the spending limit, job.stop() pushes the result so far and returns a success."""
    for name, value in backend.env.items():
        monkeypatch.setenv(name, value)
    job = backend.create_job({"items": list(range(10))}, charge_limit=3)
    processed: list[int] = []

    def work(data: dict[str, Any]) -> dict[str, Any]:
        current = seekapi.current_job()
        for item in data["items"]:
            if current.charge(f"{current.job_uuid}:{item}")["limit_reached"]:
                processed.append(item)
                current.stop({"processed": processed})
            processed.append(item)
        return {"processed": processed}

    out = seekapi.run(job.event, None, work)
    assert out == {"ok": True, "stopped": "limit_reached", "limit_reached": True}
    assert job.result == {"processed": [0, 1, 2]}
    assert job.metered_event_count == 3


def test_worker_error_chooses_the_code_and_message(configured: Backend) -> None:
    """Raising WorkerError returns its code and message at stage user."""
    job = configured.create_job({})

    def work(data: Any) -> Any:
        raise WorkerError("INVALID_URL", "the url field is not an http(s) URL")

    out = seekapi.run(job.event, None, work)
    assert out["error"] == {
        "code": "INVALID_URL",
        "message": "the url field is not an http(s) URL",
        "stage": "user",
    }


def test_messages_are_short(configured: Backend) -> None:
    """A huge exception message is cut to a short one in the returned dict."""
    job = configured.create_job({})

    def work(data: Any) -> Any:
        raise ValueError("x" * 10_000)

    out = seekapi.run(job.event, None, work)
    assert len(out["error"]["message"]) <= 500


def test_async_user_function(configured: Backend) -> None:
    """An async def function runs on a fresh event loop and can use the job."""
    job = configured.create_job({"n": 4})

    async def work(data: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(0.01)
        seekapi.current_job().charge("async-key")
        return {"square": data["n"] ** 2}

    assert seekapi.run(job.event, FakeLambdaContext(timeout_s=10), work)["ok"] is True
    assert job.result == {"square": 16}
    assert job.metered_event_count == 1


def test_async_user_function_is_interrupted(configured: Backend) -> None:
    """An async function awaiting past its deadline gets WORKER_TIMEOUT."""
    job = configured.create_job({})

    async def work(data: Any) -> Any:
        await asyncio.sleep(30)

    started = time.monotonic()
    out = seekapi.run(job.event, FakeLambdaContext(timeout_s=2), work)
    assert out["error"]["code"] == "WORKER_TIMEOUT"
    assert time.monotonic() - started < 2


def test_run_inside_a_running_loop_points_to_run_async(configured: Backend) -> None:
    """run() with an async function inside a running loop raises a clear error."""
    job = configured.create_job({})

    async def work(data: Any) -> Any:
        return data

    async def main() -> None:
        with pytest.raises(UsageError, match="run_async"):
            seekapi.run(job.event, None, work)

    asyncio.run(main())


def test_run_async(configured: Backend) -> None:
    """await run_async() runs async functions and cancels them at their deadline."""
    job = configured.create_job({"v": 1})

    async def ok(data: Any) -> Any:
        return {"got": data["v"]}

    async def slow(data: Any) -> Any:
        await asyncio.sleep(30)

    async def main() -> tuple[dict[str, Any], dict[str, Any]]:
        first = await seekapi.run_async(job.event, FakeLambdaContext(timeout_s=10), ok)
        second = await seekapi.run_async(job.event, FakeLambdaContext(timeout_s=2), slow)
        return first, second

    first, second = asyncio.run(main())
    assert first["ok"] is True
    assert job.result == {"got": 1}
    assert second["error"]["code"] == "WORKER_TIMEOUT"


def test_stage_logs_carry_job_and_request_ids(
    configured: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    """One INFO line per stage, each with job_uuid and request_id as extra fields."""
    job = configured.create_job({"a": 1})
    with caplog.at_level(logging.INFO, logger="seekapi"):
        seekapi.run(job.event, FakeLambdaContext(aws_request_id="req-9"), lambda d: d)
    records = [r for r in caplog.records if r.name == "seekapi"]
    messages = [r.getMessage() for r in records]
    assert any(m.startswith("input fetched (") and "bytes" in m for m in messages)
    assert any(m.startswith("worker code finished in") for m in messages)
    assert any(m.startswith("result pushed (") and "bytes" in m for m in messages)
    assert any(m.startswith("job succeeded") for m in messages)
    for record in records:
        assert record.job_uuid == job.job_uuid  # type: ignore[attr-defined]
        assert record.request_id == "req-9"  # type: ignore[attr-defined]


def test_failures_are_logged_with_their_traceback(
    configured: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    """A user-code failure is logged at ERROR with its traceback."""
    job = configured.create_job({})

    def work(data: Any) -> Any:
        raise KeyError("missing-field")

    with caplog.at_level(logging.INFO, logger="seekapi"):
        seekapi.run(job.event, None, work)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "Traceback" in errors[0].getMessage()
    assert "missing-field" in errors[0].getMessage()


def test_sdk_adds_no_handler() -> None:
    """The seekapi logger has no handler of its own: the Lambda runtime formats logs."""
    assert logging.getLogger("seekapi").handlers == []


def test_worker_timeout_is_a_base_exception() -> None:
    """WorkerTimeout is not an Exception."""
    assert not issubclass(WorkerTimeout, Exception)


def test_json_log_format_puts_the_exception_in_the_records_fields(
    configured: Backend, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under AWS_LAMBDA_LOG_FORMAT=JSON a failure's record carries exc_info (the runtime's
    JSON formatter turns it into errorType, errorMessage and stackTrace), its message has
    no traceback, and the exception's message is scrubbed of the job's secrets."""
    monkeypatch.setenv("AWS_LAMBDA_LOG_FORMAT", "JSON")
    job = configured.create_job({"a": 1})

    def fails(data: Any) -> Any:
        raise KeyError(f"no such key, token {job.execution_token}")

    with caplog.at_level(logging.ERROR, logger="seekapi"):
        out = seekapi.run(job.event, FakeLambdaContext(), fails)
    assert out["error"]["stage"] == "user"
    [record] = [r for r in caplog.records if r.exc_info]
    assert record.getMessage() == "the worker code raised"
    assert record.exc_info is not None
    kind, value, tb = record.exc_info
    assert kind is KeyError
    assert "no such key" in str(value)
    assert job.execution_token not in str(value)
    assert tb is not None
    assert "Traceback" not in record.getMessage()


def test_text_log_format_keeps_the_traceback_in_the_message(
    configured: Backend, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the JSON format the scrubbed traceback stays in the message, as before."""
    monkeypatch.setenv("AWS_LAMBDA_LOG_FORMAT", "Text")
    job = configured.create_job({"a": 1})

    def fails(data: Any) -> Any:
        raise KeyError("no such key")

    with caplog.at_level(logging.ERROR, logger="seekapi"):
        seekapi.run(job.event, FakeLambdaContext(), fails)
    [record] = [r for r in caplog.records if "the worker code raised" in r.getMessage()]
    assert record.exc_info is None
    assert "Traceback" in record.getMessage()
    assert "KeyError" in record.getMessage()
