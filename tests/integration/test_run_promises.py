"""run() keeps its promises under real worker code: deadlines, ended jobs, secrets, messages.

Deadline tests allow 0.5 s of slack on budgets of a few seconds.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import seekapi
from seekapi.errors import JobClosedError, UsageError, WorkerError, WorkerTimeout
from seekapi.testing import Backend, FakeLambdaContext, Fault

SLACK = 0.5


@pytest.fixture
def restore_sigalrm() -> Iterator[None]:
    """Put SIGALRM and ITIMER_REAL back as they were (pytest-timeout uses them)."""
    handler = signal.getsignal(signal.SIGALRM)
    timer = signal.getitimer(signal.ITIMER_REAL)
    yield
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, handler)
    if timer[0]:
        signal.setitimer(signal.ITIMER_REAL, *timer)


def _timed_run(event: dict[str, Any], timeout_s: float, fn: Any) -> tuple[dict[str, Any], float]:
    context = FakeLambdaContext(timeout_s=timeout_s, aws_request_id="r")
    started = time.monotonic()
    out = seekapi.run(event, context, fn)
    return out, time.monotonic() - started


# -- the deadline whatever the worker does with SIGALRM --------------------------------


@pytest.mark.usefixtures("restore_sigalrm")
def test_a_time_limit_recipe_of_the_worker_does_not_switch_the_deadline_off(
    configured: Backend,
) -> None:
    """signal.alarm(n) ... finally signal.alarm(0), with its own handler, around slow work."""
    job = configured.create_job({})

    def on_alarm(signum: int, frame: object) -> None:
        raise RuntimeError("the worker's own time limit")

    def work(data: Any) -> Any:
        signal.signal(signal.SIGALRM, on_alarm)
        signal.alarm(10)
        try:
            time.sleep(8)
        finally:
            signal.alarm(0)

    out, elapsed = _timed_run(job.event, 3, work)
    assert out["error"]["code"] == "WORKER_TIMEOUT"
    assert elapsed < 3


@pytest.mark.usefixtures("restore_sigalrm")
@pytest.mark.parametrize("how", ["handler", "disarm", "setitimer", "ignore"])
def test_user_code_that_replaces_or_disarms_sigalrm_is_still_interrupted(
    configured: Backend, how: str
) -> None:
    """A handler of its own, a disarmed or re-armed ITIMER_REAL, an ignored SIGALRM: no effect."""
    job = configured.create_job({})

    def work(data: Any) -> Any:
        if how == "handler":
            signal.signal(signal.SIGALRM, lambda signum, frame: None)
        elif how == "disarm":
            signal.setitimer(signal.ITIMER_REAL, 0)
        elif how == "setitimer":
            signal.signal(signal.SIGALRM, lambda signum, frame: None)
            signal.setitimer(signal.ITIMER_REAL, 30)
        else:
            signal.signal(signal.SIGALRM, signal.SIG_IGN)
        n = 0
        while True:  # busy, then blocked: both must be interrupted
            n += 1
            if n % 100_000 == 0:
                time.sleep(0.5)

    out, elapsed = _timed_run(job.event, 2, work)
    assert out["error"]["code"] == "WORKER_TIMEOUT"
    assert elapsed < 2


@pytest.mark.usefixtures("restore_sigalrm")
def test_the_workers_own_alarm_still_reaches_its_own_handler(configured: Backend) -> None:
    """A worker's alarm that fires before the job's deadline runs the worker's handler."""
    job = configured.create_job({})
    fired: list[int] = []

    def work(data: Any) -> Any:
        signal.signal(signal.SIGALRM, lambda signum, frame: fired.append(signum))
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        time.sleep(0.6)
        return {"fired": len(fired)}

    out, _ = _timed_run(job.event, 5, work)
    assert out["ok"] is True
    assert job.result == {"fired": 1}


@pytest.mark.usefixtures("restore_sigalrm")
def test_a_handler_installed_before_run_gets_the_workers_own_alarm(configured: Backend) -> None:
    """A SIGALRM handler set up at import time, and an alarm the worker arms, stay the worker's."""
    job = configured.create_job({})
    fired: list[int] = []
    signal.signal(signal.SIGALRM, lambda signum, frame: fired.append(signum))

    def work(data: Any) -> Any:
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        time.sleep(0.6)
        return {"fired": len(fired)}

    out, _ = _timed_run(job.event, 5, work)
    assert out["ok"] is True, out
    assert job.result == {"fired": 1}


def test_a_remaining_time_too_large_for_the_os_leaves_nothing_behind(
    configured: Backend,
) -> None:
    """1e15 ms left: the job runs without an alarm, and nothing fires later."""
    job = configured.create_job({})

    class Endless:
        aws_request_id = "r"

        def get_remaining_time_in_millis(self) -> float:
            return 1e15

    out = seekapi.run(job.event, Endless(), lambda data: {"done": True})
    assert out["ok"] is True
    assert job.result == {"done": True}
    assert not [t for t in threading.enumerate() if t.name == "seekapi-watchdog"]
    time.sleep(0.3)  # a stray WorkerTimeout would surface here


def test_no_stray_timeout_reaches_code_after_a_timed_out_job(configured: Backend) -> None:
    """After WORKER_TIMEOUT, code that runs next in the thread sees no late WorkerTimeout."""
    job = configured.create_job({})

    def stubborn(data: Any) -> Any:
        try:
            time.sleep(10)
        finally:
            time.sleep(0.3)  # still unwinding when the repeat interrupt comes

    out, _ = _timed_run(job.event, 1.2, stubborn)
    assert out["error"]["code"] == "WORKER_TIMEOUT"
    end = time.monotonic() + 1.0
    while time.monotonic() < end:  # pure Python: an async exception would land here
        sum(range(100))


def test_a_nested_run_cannot_extend_the_outer_jobs_deadline(configured: Backend) -> None:
    """An inner run() given a long Lambda context still ends before the outer job must."""
    outer = configured.create_job({})
    inner = configured.create_job({})
    inner_out: list[dict[str, Any]] = []

    def work(data: Any) -> Any:
        inner_out.append(
            seekapi.run(inner.event, FakeLambdaContext(timeout_s=60), lambda d: time.sleep(30))
        )
        time.sleep(30)

    out, elapsed = _timed_run(outer.event, 3, work)
    assert inner_out[0]["error"]["code"] == "WORKER_TIMEOUT"
    assert out["error"]["code"] == "WORKER_TIMEOUT"
    assert elapsed < 3


def test_a_hanging_register_takes_only_a_small_share_of_a_short_job(
    configured: Backend,
) -> None:
    """A 1 s job whose backend hangs on register_request_id still runs and succeeds."""
    job = configured.create_job({"n": 1})
    configured.inject(Fault("hang", path=f"/v1/internal/jobs/{job.job_uuid}/worker-request-id"))
    out, elapsed = _timed_run(job.event, 1, lambda data: {"n": data["n"]})
    assert out["ok"] is True, out
    assert job.result == {"n": 1}
    assert elapsed < 1


def test_many_threads_timing_out_at_once_never_make_run_raise(configured: Backend) -> None:
    """Concurrent run() calls that all time out together each return WORKER_TIMEOUT.

    More jobs than the process remembers as ended, so that table is trimmed by several
    threads at once.
    """
    jobs = [configured.create_job({}) for _ in range(72)]
    results: list[Any] = [None] * len(jobs)
    gate = threading.Barrier(len(jobs))

    def nap(data: Any) -> Any:
        # Every job's code is running: their deadlines come together.
        with contextlib.suppress(threading.BrokenBarrierError):
            gate.wait(timeout=3)
        while True:
            time.sleep(0.02)

    def call(i: int) -> None:
        try:
            results[i] = seekapi.run(jobs[i].event, FakeLambdaContext(timeout_s=5), nap)
        except BaseException as exc:  # the promise under test: nothing escapes
            results[i] = exc

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(jobs))]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: races show up
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        sys.setswitchinterval(interval)
    assert [r["error"]["code"] for r in results] == ["WORKER_TIMEOUT"] * len(jobs)


# -- jobs that ended -------------------------------------------------------------------------


@pytest.mark.parametrize("ending", ["success", "failure"])
def test_a_thread_left_running_cannot_push_or_charge_after_run_returns(
    configured: Backend, tmp_path: Any, ending: str
) -> None:
    """After success or failure, late pushes and charges from any thread are refused."""
    job = configured.create_job({})
    release = threading.Event()
    refused: list[str] = []
    upload = tmp_path / "late.txt"
    upload.write_text("late")

    def leftover(handle: seekapi.Job, ctx: dict[str, Any]) -> None:
        release.wait(10)
        attempts: list[tuple[str, Callable[[], object]]] = [
            ("job.push_data", lambda: handle.push_data({"late": True})),
            ("job.charge", lambda: handle.charge("late-key")),
            ("job.push_file", lambda: handle.push_file("late.txt", str(upload))),
            ("push_data", lambda: seekapi.push_data(ctx, {"late": "low-level"})),
            ("charge", lambda: seekapi.charge(ctx, "late-low-level")),
            ("push_file", lambda: seekapi.push_file(ctx, "late.txt", str(upload))),
        ]
        for name, attempt in attempts:
            try:
                attempt()
            except JobClosedError:
                refused.append(name)

    def work(data: Any) -> Any:
        handle = seekapi.current_job()
        # A plain thread: it does not inherit the job's context.
        threading.Thread(target=leftover, args=(handle, dict(handle.context))).start()
        if ending == "failure":
            raise WorkerError("DONE_BADLY")
        return {"final": True}

    out = seekapi.run(job.event, None, work)
    assert out["ok"] is (ending == "success")
    sent_before = len(configured.requests)
    release.set()
    deadline = time.monotonic() + 10
    while len(refused) < 6 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(refused) == 6, refused
    assert len(configured.requests) == sent_before
    assert job.result == ({"final": True} if ending == "success" else None)
    assert job.charges == []


def test_a_push_in_flight_when_the_worker_returns_lands_before_the_final_result(
    configured: Backend,
) -> None:
    """The final push waits for a push the worker code still has in flight."""
    job = configured.create_job({})
    push_path = f"/v1/internal/jobs/{job.job_uuid}/push"
    started = threading.Event()

    def slow_push(handle: seekapi.Job) -> None:
        started.set()
        handle.push_data({"intermediate": True})

    def work(data: Any) -> Any:
        configured.inject(Fault("delay", seconds=0.6, path=push_path))
        copied = contextvars.copy_context()
        threading.Thread(target=copied.run, args=(slow_push, seekapi.current_job())).start()
        started.wait(5)
        time.sleep(0.1)  # the intermediate push is on the wire, held by the backend
        return {"final": True}

    out = seekapi.run(job.event, FakeLambdaContext(timeout_s=10), work)
    assert out["ok"] is True
    assert job.result == {"final": True}
    assert [p["data"] for p in job.pushes] == [{"intermediate": True}, {"final": True}]


# -- secrets and what the customer reads ----------------------------------------------------


def _signature(event: dict[str, Any]) -> str:
    url: str = event["input_presigned_url"]
    return url.rpartition("X-Amz-Signature=")[2]


def test_the_input_urls_query_is_masked_in_the_failure_and_every_log_line(
    configured: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    """A user exception quoting the presigned URL, and its chained cause, show no signature."""
    job = configured.create_job({})
    signature = _signature(job.event)
    url = job.event["input_presigned_url"]

    def work(data: Any) -> Any:
        try:
            raise OSError(f"could not reopen {url}")
        except OSError as exc:
            raise RuntimeError(f"gave up on {url}") from exc

    with caplog.at_level(logging.DEBUG, logger="seekapi"):
        out = seekapi.run(job.event, FakeLambdaContext(timeout_s=10), work)
    assert out["error"]["code"] == "WORKER_ERROR"
    assert signature not in str(out)
    assert "RuntimeError: gave up on" in out["error"]["message"]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "could not reopen" in logged
    assert signature not in logged


def test_a_push_error_that_echoes_the_input_query_is_masked(
    configured: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    """A backend error body that echoes the presigned URL's signature shows it nowhere."""
    job = configured.create_job({})
    signature = _signature(job.event)
    configured.fail_next(
        1,
        status=400,
        body=f'{{"error": "bad", "seen": "{signature}"}}'.encode(),
        path=f"/v1/internal/jobs/{job.job_uuid}/push",
    )

    def work(data: Any) -> Any:
        seekapi.current_job().push_data({"x": 1})

    with caplog.at_level(logging.DEBUG, logger="seekapi"):
        out = seekapi.run(job.event, FakeLambdaContext(timeout_s=10), work)
    assert out["ok"] is False
    assert signature not in str(out)
    assert signature not in "\n".join(r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("stage", ["input", "push", "user"])
def test_the_customer_message_names_no_backend_host_and_quotes_no_body(
    configured: Backend, caplog: pytest.LogCaptureFixture, stage: str
) -> None:
    """Input, push and user-code failures read as summaries; the details go to the log."""
    job = configured.create_job({})
    body = b'{"error": "internal", "detail": "db-node-7 refused"}'
    host = configured.url.partition("://")[2]
    if stage == "input":
        configured.fail_next(1, status=403, body=body, path="/input/")
    elif stage == "push":
        configured.fail_next(
            10_000, status=500, body=body, path=f"/v1/internal/jobs/{job.job_uuid}/push"
        )

    def work(data: Any) -> Any:
        if stage == "user":
            configured.fail_next(
                10_000, status=500, body=body, path=f"/v1/internal/jobs/{job.job_uuid}/charge"
            )
            seekapi.current_job().charge("k", timeout=1)
        return {"ok": 1}

    with caplog.at_level(logging.DEBUG, logger="seekapi"):
        out = seekapi.run(job.event, FakeLambdaContext(timeout_s=10), work)
    message = out["error"]["message"]
    assert out["error"]["stage"] == stage
    assert host not in message
    assert "127.0.0.1" not in message
    assert "db-node-7" not in message
    assert "HTTP" in message
    assert "db-node-7" in caplog.text  # the details are logged


def test_a_user_exception_that_quotes_the_backend_url_does_not_show_it(
    configured: Backend,
) -> None:
    job = configured.create_job({})

    def work(data: Any) -> Any:
        raise RuntimeError(f"cannot reach {seekapi.current_job().context['api_base']}/v1/x")

    out = seekapi.run(job.event, None, work)
    assert configured.url not in out["error"]["message"]
    assert "127.0.0.1" not in out["error"]["message"]
    assert out["error"]["message"].startswith("RuntimeError: cannot reach <backend>")


# -- what 1.0.5's test suites assert -----------------------------------------------------------


def test_run_passes_the_timeouts_that_1_0_5_passed(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a 3 s context: register, get_input and push_data each get timeout=1."""
    monkeypatch.setenv("SEEKAPI_LOCAL_MODE", "1")
    monkeypatch.setenv("WORKER_API_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("WORKER_INTERNAL_SECRET", "s" * 16)
    monkeypatch.setenv("SEEKAPI_LOCAL_MODE", "0")
    seen: dict[str, Any] = {}

    def register(job_uuid: str, request_id: str, timeout: float = 3) -> None:
        seen["register"] = timeout

    def get_input(event: dict[str, Any], timeout: float = 10) -> Any:
        seen["input"] = timeout
        return {"x": 1}

    def push_data(ctx: dict[str, Any], data: Any, type: str = "json", timeout: float = 8) -> Any:
        seen["push"] = timeout
        return {"ok": True}

    monkeypatch.setattr(seekapi, "register_request_id", register)
    monkeypatch.setattr(seekapi, "get_input", get_input)
    monkeypatch.setattr(seekapi, "push_data", push_data)
    event = {"job_uuid": "j", "execution_token": "t" * 16, "input_presigned_url": "http://x/i"}
    out = seekapi.run(event, FakeLambdaContext(timeout_s=3, aws_request_id="r"), lambda d: d)
    assert out["ok"] is True
    assert seen == {"register": 1, "input": 1, "push": 1}
    seen.clear()
    seekapi.run(event, FakeLambdaContext(timeout_s=60, aws_request_id="r"), lambda d: d)
    assert seen["register"] == 3
    assert seen["input"] == 10
    assert seen["push"] == 8


# -- messages ----------------------------------------------------------------------------------


def test_a_user_exception_message_carries_its_type(configured: Backend) -> None:
    job = configured.create_job({})
    out = seekapi.run(job.event, None, lambda data: data["missing_key"])
    assert out["error"]["message"] == "KeyError: 'missing_key'"
    out = seekapi.run(job.event, None, lambda data: 1 / 0)
    assert out["error"]["message"] == "ZeroDivisionError: division by zero"


def test_charge_with_a_key_that_is_not_a_string_names_the_type(
    job_ctx: tuple[Any, dict[str, Any]],
) -> None:
    _, ctx = job_ctx
    with pytest.raises(UsageError, match=r"non-empty string.*int"):
        seekapi.charge(ctx, 5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "code",
    ["", "lower", "1STARTS_WITH_DIGIT", "HAS SPACE", "HAS-DASH", "X" * 65, "WORKER_TIMEOUT", 7],
)
def test_worker_error_codes_are_checked(code: Any) -> None:
    with pytest.raises(UsageError):
        WorkerError(code, "message")


def test_a_worker_error_code_alone_is_enough(configured: Backend) -> None:
    job = configured.create_job({})

    def work(data: Any) -> Any:
        raise WorkerError("OUT_OF_STOCK")

    out = seekapi.run(job.event, None, work)
    assert out["error"] == {"code": "OUT_OF_STOCK", "message": "OUT_OF_STOCK", "stage": "user"}
    assert WorkerError("X" * 64).code == "X" * 64


def test_a_worker_error_is_a_warning_without_traceback_and_a_crash_an_error_with_one(
    configured: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    job = configured.create_job({})

    def chosen(data: Any) -> Any:
        raise WorkerError("BAD_INPUT", "the 'text' field is missing")

    with caplog.at_level(logging.INFO, logger="seekapi"):
        seekapi.run(job.event, None, chosen)
    failures = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.levelno for r in failures] == [logging.WARNING]
    assert "Traceback" not in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="seekapi"):
        seekapi.run(job.event, None, lambda data: data["missing"])
    crashes = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(crashes) == 1
    assert "Traceback" in crashes[0].getMessage()


# -- odd arguments ---------------------------------------------------------------------------


@pytest.mark.parametrize("margin", [math.nan, math.inf, -1.0])
def test_an_unusable_safety_margin_is_a_usage_error(configured: Backend, margin: float) -> None:
    job = configured.create_job({})
    with pytest.raises(UsageError, match="safety_margin"):
        seekapi.run(job.event, None, lambda data: data, safety_margin=margin)


@pytest.mark.parametrize("field", ["job_uuid", "name"])
def test_a_lone_surrogate_in_a_job_id_or_a_name_is_a_usage_error(
    configured: Backend, tmp_path: Any, field: str
) -> None:
    job = configured.create_job({})
    ctx = seekapi.create_context(job.event)
    upload = tmp_path / "f.txt"
    upload.write_text("x")
    if field == "job_uuid":
        ctx["job_uuid"] = "job-\ud800"
        with pytest.raises(UsageError, match="surrogate"):
            seekapi.push_data(ctx, {"a": 1})
        with pytest.raises(UsageError, match="surrogate"):
            seekapi.charge(ctx, "k")
    else:
        with pytest.raises(UsageError, match="surrogate"):
            seekapi.push_file(ctx, "f-\udc80.txt", str(upload))
    assert configured.requests == []


def test_worker_timeout_is_still_a_base_exception() -> None:
    assert not issubclass(WorkerTimeout, Exception)


@pytest.mark.parametrize(
    ("timeout_s", "held"),
    [
        (10, 1.5),  # answered while run() waits before the final push
        (3, 2.0),  # answered only after the final push: the result is pushed again
    ],
)
def test_a_push_given_up_on_and_applied_later_never_replaces_the_final_result(
    configured: Backend, timeout_s: float, held: float
) -> None:
    """The backend holds an intermediate push past its timeout and applies it later."""
    job = configured.create_job({})
    push_path = f"/v1/internal/jobs/{job.job_uuid}/push"
    configured.inject(Fault("delay", seconds=held, path=push_path, after_body=False))
    gave_up: list[BaseException] = []

    def work(data: Any) -> Any:
        try:
            seekapi.current_job().push_data({"progress": 50}, timeout=0.5)
        except seekapi.DeadlineExceeded as exc:
            gave_up.append(exc)
        return {"final": True}

    out, elapsed = _timed_run(job.event, timeout_s, work)
    assert gave_up, "the intermediate push should have timed out"
    assert out["ok"] is True, out
    time.sleep(max(0.0, held + 0.3 - elapsed))  # anything held is applied by now
    assert job.result == {"final": True}
    assert elapsed < timeout_s


def test_a_registration_error_that_echoes_the_token_and_signature_logs_neither(
    configured: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    """The request id is registered before the job is built; its errors are masked too."""
    job = configured.create_job({})
    signature = _signature(job.event)
    token = job.event["execution_token"]
    configured.fail_next(
        10_000,
        status=500,
        body=f'{{"error": "token {token} sig {signature}"}}'.encode(),
        path=f"/v1/internal/jobs/{job.job_uuid}/worker-request-id",
    )
    with caplog.at_level(logging.DEBUG, logger="seekapi"):
        out = seekapi.run(job.event, FakeLambdaContext(timeout_s=10, aws_request_id="r"), dict)
    assert out["ok"] is True
    assert "register" in caplog.text
    assert token not in caplog.text
    assert signature not in caplog.text


def test_the_backend_host_is_hidden_in_any_form_a_user_exception_quotes_it(
    configured: Backend,
) -> None:
    """Host alone, host and port, other case, percent-encoded: all read as <backend>."""
    job = configured.create_job({})
    authority = configured.url.partition("://")[2]
    host, _, port = authority.partition(":")
    texts = [
        f"HTTPConnectionPool(host='{host}', port={port}): Max retries exceeded",
        f"{configured.url.upper()}/v1 refused",
        seekapi_quote(configured.url) + "%2Fv1",
    ]
    for text in texts:

        def work(data: Any, text: str = text) -> Any:
            raise ConnectionError(text)

        message = seekapi.run(job.event, None, work)["error"]["message"]
        assert host not in message
        assert authority.upper() not in message
        assert "<backend>" in message


def seekapi_quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")
