"""run() as 1.0.5 documents it, with the contract's §6 departures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import seekapi
from seekapi.testing import Backend, FakeLambdaContext


def test_success_pushes_the_result_and_returns_the_request_id(configured: Backend) -> None:
    """The returned value becomes the job's result; the dict carries the request id."""
    job = configured.create_job({"name": "Ada"})
    context = FakeLambdaContext(timeout_s=30, aws_request_id="req-42")
    out = seekapi.run(job.event, context, lambda data: {"hello": data["name"]})
    assert out == {"ok": True, "request_id": "req-42"}
    assert job.result == {"hello": "Ada"}
    assert job.request_ids == ["req-42"]


def test_none_means_nothing_more_to_push(configured: Backend) -> None:
    """A function that pushed its own result and returns None is not overwritten by null."""
    job = configured.create_job({})

    def work(data: Any) -> None:
        seekapi.push_data(seekapi.create_context(job.event), {"pushed": "by hand"})

    assert seekapi.run(job.event, None, work) == {"ok": True}
    assert job.result == {"pushed": "by hand"}
    assert len(job.pushes) == 1


def test_user_error_is_worker_error_with_stage_user(configured: Backend) -> None:
    """An exception in user code is a WORKER_ERROR failure at stage 'user'."""
    job = configured.create_job({})

    def boom(data: Any) -> Any:
        raise RuntimeError("the model refused")

    out = seekapi.run(job.event, FakeLambdaContext(aws_request_id="r"), boom)
    assert out == {
        "ok": False,
        "error": {
            "code": "WORKER_ERROR",
            "message": "RuntimeError: the model refused",
            "stage": "user",
        },
        "request_id": "r",
    }


def test_input_error_has_stage_input(configured: Backend) -> None:
    """A missing input URL fails at stage 'input' without calling user code."""
    called: list[Any] = []
    out = seekapi.run({"job_uuid": "j", "execution_token": "t"}, None, called.append)
    assert out["ok"] is False
    assert out["error"]["stage"] == "input"
    assert "input_presigned_url" in out["error"]["message"]
    assert called == []


@pytest.mark.parametrize("event", [None, [], "job", 3])
def test_event_that_is_not_a_dict_is_a_failure_not_a_crash(event: Any) -> None:
    """A malformed event gives a failure dict."""
    out = seekapi.run(event, None, lambda data: data)
    assert out["ok"] is False
    assert out["error"]["code"] == "WORKER_ERROR"


def test_unserialisable_result_is_a_push_failure(configured: Backend) -> None:
    """A result holding NaN fails at stage 'push'; nothing invalid is sent."""
    job = configured.create_job({})
    out = seekapi.run(job.event, None, lambda data: {"score": float("nan")})
    assert out["ok"] is False
    assert out["error"]["stage"] == "push"
    assert "NaN" in out["error"]["message"]
    assert job.result is None


def test_unconfigured_backend_is_a_failure_not_a_silent_loss(backend: Backend) -> None:
    """Outside local mode with no backend settings, run() reports that the result went nowhere."""
    job = backend.create_job({"a": 1})
    out = seekapi.run(job.event, None, lambda data: {"r": 1})
    assert out["ok"] is False
    assert out["error"]["stage"] == "push"
    assert "WORKER_API_BASE_URL" in out["error"]["message"]


def test_local_mode_run_writes_artifacts(
    backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In local mode the result lands in SEEKAPI_LOCAL_DIR/<job_uuid>/response_json.json."""
    monkeypatch.setenv("SEEKAPI_LOCAL_MODE", "1")
    monkeypatch.setenv("SEEKAPI_LOCAL_DIR", str(tmp_path))
    job = backend.create_job({"n": 2})
    assert seekapi.run(job.event, None, lambda data: {"double": data["n"] * 2})["ok"] is True
    text = (tmp_path / job.job_uuid / "response_json.json").read_text(encoding="utf-8")
    assert text == '{\n  "double": 4\n}'


def test_patches_on_the_package_are_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """Test suites patch seekapi.get_input/push_data/register_request_id; run() uses them."""
    pushed: list[Any] = []
    registered: list[tuple[str, str]] = []
    monkeypatch.setattr(seekapi, "get_input", lambda event, timeout=10: {"x": 5})
    monkeypatch.setattr(seekapi, "push_data", lambda ctx, data, **kw: pushed.append(data))
    monkeypatch.setattr(
        seekapi, "register_request_id", lambda j, r, timeout=3: registered.append((j, r))
    )
    event = {"job_uuid": "j1", "execution_token": "t", "input_presigned_url": "https://x/y"}
    out = seekapi.run(event, FakeLambdaContext(aws_request_id="r1"), lambda d: {"y": d["x"]})
    assert out == {"ok": True, "request_id": "r1"}
    assert pushed == [{"y": 5}]
    assert registered == [("j1", "r1")]
