"""Edge cases of time, secrets, closed jobs and odd inputs, each against a real server."""

from __future__ import annotations

import asyncio
import json
import pickle
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import seekapi
from seekapi import errors
from seekapi._interrupt import Alarm
from seekapi.testing import Backend, FakeLambdaContext, Fault

SLACK = 0.5


@pytest.fixture
def full_backlog() -> Iterator[str]:
    """An address whose listen queue is full: a connect to it hangs (SYNs are dropped)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(server.getsockname())
        fillers.append(filler)
    time.sleep(0.1)
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    for filler in fillers:
        filler.close()
    server.close()


def test_a_connect_that_hangs_is_bounded(
    full_backlog: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that never completes the TCP handshake cannot hold a call past its timeout."""
    monkeypatch.setenv("WORKER_API_BASE_URL", full_backlog)
    monkeypatch.setenv("WORKER_INTERNAL_SECRET", "secret-value")
    ctx = seekapi.create_context({"job_uuid": "j", "execution_token": "token-123"})
    started = time.monotonic()
    with pytest.raises(errors.TransportError):
        seekapi.push_data(ctx, {"a": 1}, timeout=2)
    assert time.monotonic() - started < 2 + SLACK


def test_push_file_answer_is_bounded_by_its_timeout(configured: Backend, tmp_path: Path) -> None:
    """A dripped answer to an upload ends at push_file's timeout, not at the drip's pace."""
    job = configured.create_job({})
    ctx = seekapi.create_context(job.event)
    path = tmp_path / "a.txt"
    path.write_text("hello")
    configured.inject(
        Fault("drip", interval=0.3, path=f"/v1/internal/jobs/{job.job_uuid}/push/file")
    )
    started = time.monotonic()
    with pytest.raises(errors.TransportError):
        seekapi.push_file(ctx, "a.txt", str(path), timeout=1)
    assert time.monotonic() - started < 1 + SLACK


def test_push_file_does_not_wait_longer_than_its_timeout_between_attempts(
    configured: Backend, tmp_path: Path
) -> None:
    """A Retry-After longer than push_file's timeout fails at once."""
    job = configured.create_job({})
    ctx = seekapi.create_context(job.event)
    path = tmp_path / "a.txt"
    path.write_text("hello")
    configured.fail_next(3, status=503, headers={"Retry-After": "4"})
    started = time.monotonic()
    with pytest.raises(errors.HTTPStatusError, match="retry after 4"):
        seekapi.push_file(ctx, "a.txt", str(path), timeout=1)
    assert time.monotonic() - started < 1


def test_s3_error_bodies_do_not_leak_the_signature(backend: Backend) -> None:
    """An S3 error echoing the signing details and query values is shown masked."""
    job = backend.create_job({})
    query = job.input_url.partition("?")[2]
    signature = dict(p.split("=", 1) for p in query.split("&"))["X-Amz-Signature"]
    body = (
        "<Error><Code>SignatureDoesNotMatch</Code><Message>The signature does not match"
        f"</Message><AWSAccessKeyId>AKIAEXAMPLEKEY</AWSAccessKeyId><StringToSign>AWS4\n{query}"
        f"</StringToSign><SignatureProvided>{signature}</SignatureProvided>"
        f"<Echo>{signature}</Echo></Error>"
    ).encode()
    backend.fail_next(1, status=403, body=body, path="/input/")
    with pytest.raises(errors.InputHTTPError) as info:
        seekapi.get_input(job.event)
    shown = str(info.value) + repr(info.value.args) + info.value.body_excerpt
    assert "SignatureDoesNotMatch" in shown
    assert signature not in shown
    assert "AKIAEXAMPLEKEY" not in shown


def test_input_redirect_without_location_is_an_error(backend: Backend) -> None:
    """A 3xx that cannot be followed is not taken as the input."""
    job = backend.create_job({"a": 1})
    backend.fail_next(1, status=302, body=b'{"not": "the input"}', path="/input/")
    with pytest.raises(errors.InputHTTPError) as info:
        seekapi.get_input(job.event)
    assert info.value.status == 302


def test_a_huge_integer_in_the_input_is_an_input_error(backend: Backend) -> None:
    """A number longer than Python converts is an InputDecodeError, not a bare ValueError."""
    job = backend.create_job(raw_input=b'{"n": ' + b"7" * 5000 + b"}")
    with pytest.raises(errors.InputDecodeError):
        seekapi.get_input(job.event)


def test_an_oversized_backend_reply_is_an_invalid_response(configured: Backend) -> None:
    """A 2xx reply larger than any platform answer is an InvalidResponseError."""
    job = configured.create_job({})
    ctx = seekapi.create_context(job.event)
    configured.fail_next(1, status=200, body=b" " * (9 * 1024 * 1024))
    with pytest.raises(errors.InvalidResponseError, match="larger than"):
        seekapi.push_data(ctx, {"a": 1})


@pytest.mark.parametrize("timeout", [None, float("inf"), 1e12])
def test_unbounded_timeouts_are_accepted(configured: Backend, timeout: Any) -> None:
    """timeout=None (1.0.5 allowed it), inf or a huge number mean no overall limit."""
    job = configured.create_job({"a": 1})
    ctx = seekapi.create_context(job.event)
    assert seekapi.get_input(job.event, timeout=timeout) == {"a": 1}
    assert seekapi.push_data(ctx, {"a": 1}, timeout=timeout) == {"ok": True}


def test_whole_float_counts_are_charged_as_integers(configured: Backend) -> None:
    """count=2.0 (1.0.5 sent it as given) is charged as 2 units; 2.5 is refused."""
    job = configured.create_job({})
    ctx = seekapi.create_context(job.event)
    assert seekapi.charge(ctx, "k", 2.0)["metered_event_count"] == 2  # type: ignore[arg-type]
    with pytest.raises(errors.UsageError):
        seekapi.charge(ctx, "k2", 2.5)  # type: ignore[arg-type]


def test_json_errors_point_inside_the_result(configured: Backend) -> None:
    """A bad value's location is given in the user's result, not in the request body."""
    ctx = seekapi.create_context(configured.create_job({}).event)
    with pytest.raises(errors.JSONValueError) as info:
        seekapi.push_data(ctx, {"items": [1, float("inf")]})
    assert info.value.where == "$.items[1]"


def test_local_push_file_needs_the_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In local mode push_file without job_uuid is a UsageError, as push_data and charge."""
    monkeypatch.setenv("SEEKAPI_LOCAL_MODE", "1")
    monkeypatch.setenv("SEEKAPI_LOCAL_DIR", str(tmp_path))
    ctx = seekapi.create_context({"execution_token": "token-123"})
    with pytest.raises(errors.UsageError, match="job_uuid"):
        seekapi.push_file(ctx, "a.txt", __file__)


def test_every_error_pickles() -> None:
    """Errors cross process boundaries (executors) with their fields intact."""
    samples: list[BaseException] = [
        errors.WorkerError("CODE", "message"),
        errors.InputHTTPError("m", status=403, where="https://h/p", body_excerpt="x"),
        errors.InputDeadlineExceeded("m", where="https://h/p", attempts=2),
        errors.InputTransportError("m", where="https://h/p"),
        errors.HTTPStatusError("m", status=500),
        errors.JSONValueError("m", "$.a"),
    ]
    for sample in samples:
        copy = pickle.loads(pickle.dumps(sample))
        assert type(copy) is type(sample)
        assert str(copy) == str(sample)
        assert vars(copy) == vars(sample)


def test_leftover_threads_cannot_use_the_low_level_calls_after_a_timeout(
    configured: Backend,
) -> None:
    """A plain thread (no context) pushing or charging for a timed-out job is refused."""
    job = configured.create_job({})
    refused: list[BaseException] = []
    go = threading.Event()

    def leftover(ctx: dict[str, Any]) -> None:
        go.wait(10)
        calls: list[Callable[[], object]] = [
            lambda: seekapi.push_data(ctx, {"late": 1}),
            lambda: seekapi.charge(ctx, "k"),
        ]
        for call in calls:
            try:
                call()
            except errors.JobClosedError as exc:
                refused.append(exc)

    def work(data: Any) -> Any:
        threading.Thread(target=leftover, args=(seekapi.current_job().context,)).start()
        time.sleep(30)

    assert seekapi.run(job.event, FakeLambdaContext(timeout_s=2), work)["ok"] is False
    go.set()
    deadline = time.monotonic() + 5
    while len(refused) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(refused) == 2
    assert job.result is None
    assert job.charges == []
    # The platform may run the job again: a new run() may push.
    assert seekapi.run(job.event, None, lambda data: {"again": True})["ok"] is True
    assert job.result == {"again": True}


def test_async_worker_timeout_does_not_wait_for_executor_threads(configured: Backend) -> None:
    """An async worker stuck in asyncio.to_thread is reported at its deadline, not after."""
    job = configured.create_job({})

    async def work(data: Any) -> Any:
        await asyncio.to_thread(time.sleep, 8)

    context = FakeLambdaContext(timeout_s=3)
    out = seekapi.run(job.event, context, work)
    assert out["error"]["code"] == "WORKER_TIMEOUT"
    assert context.get_remaining_time_in_millis() > 0


def test_code_waiting_in_its_own_cleanup_is_interrupted_again(configured: Backend) -> None:
    """A worker whose 'with ThreadPoolExecutor()' joins slow threads still ends in time."""
    from concurrent.futures import ThreadPoolExecutor

    job = configured.create_job({})

    def work(data: Any) -> Any:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(time.sleep, [6, 6]))

    context = FakeLambdaContext(timeout_s=3)
    out = seekapi.run(job.event, context, work)
    assert out["error"]["code"] == "WORKER_TIMEOUT"
    assert context.get_remaining_time_in_millis() > 0


def test_own_timeouts_in_async_code_are_not_worker_timeouts(configured: Backend) -> None:
    """A TimeoutError of the worker's own is a user failure, not WORKER_TIMEOUT."""
    job = configured.create_job({})

    async def work(data: Any) -> Any:
        await asyncio.wait_for(asyncio.sleep(5), 0.1)

    async def main() -> dict[str, Any]:
        return await seekapi.run_async(job.event, FakeLambdaContext(timeout_s=20), work)

    out = asyncio.run(main())
    assert out["error"]["code"] == "WORKER_ERROR"
    assert out["error"]["stage"] == "user"


def test_stop_is_not_swallowed_by_except_exception(backend: Backend, monkeypatch: Any) -> None:
    """job.stop() inside 'try/except Exception' still ends the job."""
    for name, value in backend.env.items():
        monkeypatch.setenv(name, value)
    job = backend.create_job({"items": list(range(5))}, charge_limit=1)

    def work(data: dict[str, Any]) -> Any:
        current = seekapi.current_job()
        for item in data["items"]:
            try:
                if current.charge(f"{current.job_uuid}:{item}")["limit_reached"]:
                    current.stop({"upto": item})
            except Exception:  # what the test is about
                pass
        return {"all": True}

    out = seekapi.run(job.event, None, work)
    assert out["stopped"] == "limit_reached"
    assert len(job.charges) == 1
    assert job.result == {"upto": 0}


def test_stop_with_none_pushes_nothing(configured: Backend) -> None:
    """job.stop(None) keeps an intermediate result, like returning None."""
    job = configured.create_job({})

    def work(data: Any) -> Any:
        current = seekapi.current_job()
        current.push_data({"partial": True})
        current.stop(None)

    assert seekapi.run(job.event, None, work)["ok"] is True
    assert job.result == {"partial": True}


class _Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no")


@pytest.mark.parametrize(
    "raised",
    [
        errors.WorkerError("C", None),
        errors.WorkerError("C", "x" * 5000),
        _Unprintable(),
    ],
)
def test_run_reports_odd_failures_without_raising(
    configured: Backend, raised: BaseException
) -> None:
    """Odd messages never make run() raise; every message stays short."""
    job = configured.create_job({})

    def work(data: Any) -> Any:
        raise raised

    out = seekapi.run(job.event, None, work)
    assert out["ok"] is False
    assert len(out["error"]["message"]) <= 500


def test_alarm_exits_at_the_deadline_always_restore_the_handler() -> None:
    """Finishing right at the deadline never leaves the alarm's handler installed."""
    previous = signal.getsignal(signal.SIGALRM)
    for _ in range(300):
        try:
            with Alarm(0.0005):
                end = time.perf_counter() + 0.0005
                while time.perf_counter() < end:
                    pass
        except errors.WorkerTimeout:
            pass
        assert signal.getsignal(signal.SIGALRM) is previous


def test_a_forked_child_does_not_share_kept_alive_connections(configured: Backend) -> None:
    """After fork, parent and child each use a connection of their own."""
    job = configured.create_job({})
    script = textwrap.dedent(
        """
        import json, os, sys
        import seekapi
        ctx = seekapi.create_context(json.loads(sys.argv[1]))
        seekapi.charge(ctx, "parent-1")
        pid = os.fork()
        if pid == 0:
            reply = seekapi.charge(ctx, "child-1")
            os._exit(0 if reply["ok"] else 1)
        reply = seekapi.charge(ctx, "parent-2")
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"child": status, "parent": reply["ok"]}))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script, json.dumps(job.event)],
        env={**configured.env, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(out.stdout) == {"child": 0, "parent": True}
    assert job.metered_event_count == 3
    child = [r for r in configured.requests if b"child-1" in r.body]
    parent = [r for r in configured.requests if b"parent-" in r.body]
    assert {r.connection_id for r in child}.isdisjoint({r.connection_id for r in parent})
