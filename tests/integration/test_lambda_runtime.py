"""The Lambda Runtime API imitation drives the real awslambdaric the way AWS Lambda does."""

from __future__ import annotations

import http.client
import json
import signal
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from seekapi.testing import SHUTDOWN_STATUS, RuntimeAPI, start_runtime_process

pytest.importorskip(
    "awslambdaric", reason="awslambdaric (a dev dependency) runs the handlers under test"
)

_APP = """
    import logging
    import os


    def echo(event, context):
        print("handling", event["n"])
        logging.getLogger().warning("record for %s", event["n"])
        return {"ok": True, "n": event["n"], "pid": os.getpid()}


    def remaining(event, context):
        return {
            "remaining_ms": context.get_remaining_time_in_millis(),
            "request_id": context.aws_request_id,
            "arn": context.invoked_function_arn,
            "function_name": context.function_name,
            "memory": context.memory_limit_in_mb,
        }


    def boom(event, context):
        raise ValueError("no good: " + str(event["n"]))


    def sized(event, context):
        return "x" * event["n"]  # JSON-encoded: n + 2 bytes
"""


@pytest.fixture
def task_root(tmp_path: Path) -> Path:
    """A directory holding the handler module ``app``."""
    (tmp_path / "app.py").write_text(textwrap.dedent(_APP), encoding="utf-8")
    return tmp_path


@pytest.fixture
def runtime() -> Iterator[RuntimeAPI]:
    """A started imitation, stopped after the test, which must have seen no protocol problem."""
    with RuntimeAPI() as started:
        yield started
    assert started.problems == []


def test_warm_process_answers_invocations_in_order(runtime: RuntimeAPI, task_root: Path) -> None:
    """One process answers two queued invocations in order, polling /next again after each."""
    process = start_runtime_process(runtime, "app.echo", cwd=task_root)
    first = runtime.invoke({"n": 1})
    second = runtime.invoke({"n": 2})
    runtime.wait(second, timeout=10)
    assert first.done
    assert first.response["ok"] is True
    assert first.response["n"] == 1
    assert second.response["n"] == 2
    assert first.response["pid"] == second.response["pid"] == process.pid
    assert first.outcome == second.outcome == "response"
    assert first.responded_at_monotonic is not None
    assert second.delivered_at_monotonic is not None
    assert first.responded_at_monotonic <= second.delivered_at_monotonic
    runtime.stop()
    stdout = process.read_stdout()
    assert "handling 1\n" in stdout
    assert f"\t{second.request_id}\trecord for 2\n" in stdout


def test_handler_exception_is_posted_to_error(runtime: RuntimeAPI, task_root: Path) -> None:
    """A handler that raises yields an /error post carrying the errorType and message."""
    process = start_runtime_process(runtime, "app.boom", cwd=task_root)
    invocation = runtime.wait(runtime.invoke({"n": 7}), timeout=10)
    assert invocation.failed
    assert invocation.response is None
    assert invocation.error["errorType"] == "ValueError"
    assert invocation.error["errorMessage"] == "no good: 7"
    assert invocation.error["requestId"] == invocation.request_id
    # Logged before the post, as one record whose lines are joined by \r.
    assert "[ERROR] ValueError: no good: 7\rTraceback (most recent call last):\r" in (
        process.read_stdout()
    )


def test_deadline_header_reaches_the_context(runtime: RuntimeAPI, task_root: Path) -> None:
    """context.get_remaining_time_in_millis() counts down from the invocation's timeout."""
    start_runtime_process(runtime, "app.remaining", cwd=task_root)
    invocation = runtime.wait(runtime.invoke({}, timeout_s=3.0, request_id="req-1"), timeout=10)
    assert 2000 < invocation.response["remaining_ms"] <= 3000
    assert invocation.delivered_at_epoch is not None
    assert invocation.deadline_epoch_ms is not None
    assert invocation.deadline_epoch_ms / 1000 - invocation.delivered_at_epoch == pytest.approx(
        3.0, abs=0.01
    )
    assert 2.0 < invocation.margin_s < 3.0
    assert invocation.response["request_id"] == "req-1"
    assert invocation.response["arn"] == runtime.function_arn
    assert invocation.response["function_name"] == runtime.function_name
    assert invocation.response["memory"] == str(runtime.memory_mb)


def test_process_exits_on_its_own_after_stop(task_root: Path) -> None:
    """stop() answers /next with an error status and the process exits with status 1, unkilled."""
    threads_before = set(threading.enumerate())
    runtime = RuntimeAPI().start()
    process = start_runtime_process(runtime, "app.echo", cwd=task_root)
    runtime.wait(runtime.invoke({"n": 1}), timeout=10)
    started = time.monotonic()
    runtime.stop()
    assert time.monotonic() - started < 2.0
    assert process.returncode == 1
    assert process.read_stderr().rstrip().endswith("RuntimeError: Failed to get next")
    assert f"Http Response code: {SHUTDOWN_STATUS}" in process.read_stdout()
    assert set(threading.enumerate()) <= threads_before
    assert runtime.problems == []


def test_init_error_is_recorded_and_wait_fails_fast(runtime: RuntimeAPI, tmp_path: Path) -> None:
    """A handler module that fails to import is posted to /init/error; wait() raises at once."""
    (tmp_path / "broken.py").write_text("raise ImportError('missing piece')\n", encoding="utf-8")
    start_runtime_process(runtime, "broken.handler", cwd=tmp_path)
    invocation = runtime.invoke({"n": 1})
    with pytest.raises(RuntimeError, match="exited"):
        runtime.wait(invocation, timeout=10)
    (error,) = runtime.init_errors
    assert error.error_type == "Runtime.ImportModuleError"
    assert error.body["errorType"] == "Runtime.ImportModuleError"
    assert "missing piece" in error.body["errorMessage"]
    assert not invocation.done


def test_invocation_survives_a_runtime_killed_while_polling(
    runtime: RuntimeAPI, task_root: Path
) -> None:
    """An invocation queued after a polling process died goes to the next process, not lost."""
    dead = start_runtime_process(runtime, "app.echo", cwd=task_root)
    runtime.wait(runtime.invoke({"n": 1}), timeout=10)
    time.sleep(0.2)  # let it poll /next again
    dead.send_signal(signal.SIGKILL)
    dead.wait(timeout=5)
    time.sleep(0.2)  # the server notices the closed connection
    invocation = runtime.invoke({"n": 2})
    fresh = start_runtime_process(runtime, "app.echo", cwd=task_root)
    runtime.wait(invocation, timeout=10)
    assert invocation.response["pid"] == fresh.pid


def test_protocol_violations_are_refused_and_recorded(task_root: Path) -> None:
    """Posting for an unknown or undelivered request id is a 400, listed in problems."""
    with RuntimeAPI() as runtime:
        queued = runtime.invoke({"n": 1})
        connection = http.client.HTTPConnection(runtime.address, timeout=5)
        try:
            for request_id in ("nobody", queued.request_id):
                connection.request(
                    "POST", f"/2018-06-01/runtime/invocation/{request_id}/response", body=b"{}"
                )
                reply = connection.getresponse()
                assert reply.status == 400
                assert reply.getheader("Content-Type") == "application/json"
                assert request_id in json.loads(reply.read())["errorMessage"]
        finally:
            connection.close()
        assert len(runtime.problems) == 2
        assert not queued.done


def test_shutdown_answer_to_next_carries_content_type() -> None:
    """After stop begins, /next answers SHUTDOWN_STATUS with a JSON Content-Type at once."""
    runtime = RuntimeAPI().start()
    stopper = threading.Thread(target=runtime.stop)
    connection = http.client.HTTPConnection(runtime.address, timeout=5)
    try:
        connection.request("GET", "/2018-06-01/runtime/invocation/next")
        time.sleep(0.1)  # the poll is now waiting
        stopper.start()
        reply = connection.getresponse()
        reply.read()
        assert reply.status == SHUTDOWN_STATUS
        assert reply.getheader("Content-Type") == "application/json"
    finally:
        connection.close()
        if stopper.is_alive():
            stopper.join()
        runtime.stop()


def test_a_response_over_the_limit_is_refused_and_the_runtime_exits(task_root: Path) -> None:
    """A response of exactly the limit is taken; one byte more is refused with 413, recorded
    as Lambda's Function.ResponseSizeTooLarge, and awslambdaric exits on the refusal."""
    with RuntimeAPI(max_response_bytes=1000) as runtime:
        process = start_runtime_process(runtime, "app.sized", cwd=task_root)
        fits = runtime.wait(runtime.invoke({"n": 998}), timeout=10)
        over = runtime.wait(runtime.invoke({"n": 999}), timeout=10)
        assert process.wait(timeout=10) == 1
    assert fits.outcome == "response"
    assert fits.response == "x" * 998
    assert over.failed
    assert over.body is None
    assert over.response_bytes == 1001
    assert over.error == {
        "errorType": "Function.ResponseSizeTooLarge",
        "errorMessage": "Response payload size exceeded maximum allowed payload size (1000 bytes).",
    }
    assert "Http response code: 413" in process.read_stdout()
    assert runtime.problems == []


def test_the_first_poll_ends_the_init_phase(runtime: RuntimeAPI, task_root: Path) -> None:
    """first_poll_after() gives when the process first asked for work: after its start,
    before the invocation was delivered."""
    started = time.monotonic()
    assert runtime.first_poll_after(started) is None
    start_runtime_process(runtime, "app.echo", cwd=task_root)
    done = runtime.wait(runtime.invoke({"n": 1}), timeout=10)
    polled = runtime.first_poll_after(started)
    assert polled is not None
    assert done.delivered_at_monotonic is not None
    assert started < polled <= done.delivered_at_monotonic
    assert done.duration_s is not None
    assert done.duration_s >= 0


def test_without_log_dir_the_output_files_stay_out_of_the_task_root(task_root: Path) -> None:
    """The stdout and stderr files go to a temporary folder, not the worker's folder (which
    would then be packaged); it is gone once the process is stopped, what it held kept."""
    with RuntimeAPI() as runtime:
        process = start_runtime_process(runtime, "app.echo", cwd=task_root)
        runtime.wait(runtime.invoke({"n": 1}), timeout=10)
        folder = process.stdout_path.parent
        assert folder != task_root.resolve()
        assert task_root.resolve() not in folder.resolve().parents
        assert process.stderr_path.parent == folder
    assert sorted(p.name for p in task_root.iterdir() if not p.name.startswith("__")) == ["app.py"]
    assert not folder.exists()
    assert "handling 1\n" in process.read_stdout()
    assert isinstance(process.read_stderr(), str)
