"""No exception message, repr, chained cause or log line holds a secret."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import seekapi
from seekapi.testing import Backend, Fault

SIGNATURE_MARK = "X-Amz-Signature"


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _texts(exc: BaseException) -> str:
    parts = []
    for item in _chain(exc):
        parts += [str(item), repr(item), repr(item.args), repr(getattr(item, "__dict__", {}))]
    return "\n".join(parts)


def _assert_clean(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text
    assert SIGNATURE_MARK not in text


Scenario = Callable[[Backend, Any, dict[str, Any], Path], None]


def _status(backend: Backend, job: Any, ctx: dict[str, Any], tmp: Path) -> None:
    # A hostile backend echoing the secret and token back in its error body.
    echoed = f"secret={ctx['secret']} token={ctx['execution_token']}".encode()
    backend.fail_next(1, status=400, body=echoed)
    seekapi.push_data(ctx, {"a": 1})


def _drop(backend: Backend, job: Any, ctx: dict[str, Any], tmp: Path) -> None:
    backend.inject(Fault("reset", count=10))
    seekapi.charge(ctx, "k", timeout=2)


def _hang(backend: Backend, job: Any, ctx: dict[str, Any], tmp: Path) -> None:
    backend.inject(Fault("hang", count=10))
    seekapi.push_data(ctx, {"a": 1}, timeout=1)


def _upload(backend: Backend, job: Any, ctx: dict[str, Any], tmp: Path) -> None:
    path = tmp / "f.txt"
    path.write_text("x")
    backend.inject(Fault("drop"))
    seekapi.push_file(ctx, "f.txt", str(path))


def _input_status(backend: Backend, job: Any, ctx: dict[str, Any], tmp: Path) -> None:
    backend.fail_next(1, status=404, path="/input/")
    seekapi.get_input(job.event)


def _input_truncated(backend: Backend, job: Any, ctx: dict[str, Any], tmp: Path) -> None:
    backend.inject(Fault("truncate", count=10, path="/input/"))
    seekapi.get_input(job.event, timeout=2)


def _input_bad_json(backend: Backend, job: Any, ctx: dict[str, Any], tmp: Path) -> None:
    bad = backend.create_job(raw_input=b"{nope")
    seekapi.get_input(bad.event)


@pytest.mark.parametrize(
    "scenario",
    [_status, _drop, _hang, _upload, _input_status, _input_truncated, _input_bad_json],
)
def test_failures_never_show_secrets(
    configured: Backend,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    scenario: Scenario,
) -> None:
    """Whatever fails, its exception chain and the SDK's log lines hold no secret."""
    job = configured.create_job({"a": 1})
    ctx = seekapi.create_context(job.event)
    secret = configured.env["WORKER_INTERNAL_SECRET"]
    with caplog.at_level(logging.DEBUG), pytest.raises(seekapi.SeekAPIError) as info:
        scenario(configured, job, ctx, tmp_path)
    _assert_clean(_texts(info.value), secret, job.execution_token)
    _assert_clean(caplog.text, secret, job.execution_token)


def test_run_failures_never_show_secrets(
    configured: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    """run()'s failure dict and its logged traceback hold no secret."""
    job = configured.create_job({"a": 1})
    secret = configured.env["WORKER_INTERNAL_SECRET"]
    echoed = f"{secret} {job.execution_token}".encode()
    configured.fail_next(1, status=400, body=echoed, path=f"/v1/internal/jobs/{job.job_uuid}/push")
    with caplog.at_level(logging.DEBUG):
        out = seekapi.run(job.event, None, lambda data: {"echo": data})
    assert out["ok"] is False
    _assert_clean(repr(out), secret, job.execution_token)
    _assert_clean(caplog.text, secret, job.execution_token)
