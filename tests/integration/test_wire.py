"""Each call speaks exactly the wire contract to a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

import pytest

import seekapi
from seekapi.errors import HTTPStatusError, JSONValueError, UsageError
from seekapi.testing import Backend


def _posts(backend: Backend, suffix: str) -> list[Any]:
    return [r for r in backend.requests if r.method == "POST" and r.path.endswith(suffix)]


def test_push_data_posts_token_data_and_type_with_the_secret(job_ctx: Any) -> None:
    """push_data POSTs {execution_token, data, type} to /push with X-Internal-Secret."""
    job, ctx = job_ctx
    reply = seekapi.push_data(ctx, {"greeting": "héllo", "n": [1, 2.5, None]})
    assert reply == {"ok": True}
    assert job.result == {"greeting": "héllo", "n": [1, 2.5, None]}


def test_push_data_request_shape(configured: Backend) -> None:
    """The request body has exactly the contract's keys and the JSON content type."""
    job = configured.create_job({})
    ctx = seekapi.create_context(job.event)
    seekapi.push_data(ctx, {"a": 1}, type="json")
    (request,) = _posts(configured, "/push")
    assert request.path == f"/v1/internal/jobs/{job.job_uuid}/push"
    assert request.headers["x-internal-secret"] == configured.env["WORKER_INTERNAL_SECRET"]
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.body) == {
        "execution_token": job.execution_token,
        "data": {"a": 1},
        "type": "json",
    }


def test_last_push_wins(job_ctx: Any) -> None:
    """Two pushes leave the second as the job's result."""
    job, ctx = job_ctx
    seekapi.push_data(ctx, {"v": 1})
    seekapi.push_data(ctx, {"v": 2})
    assert job.result == {"v": 2}
    assert [p["data"] for p in job.pushes] == [{"v": 1}, {"v": 2}]


def test_charge_body_with_and_without_justification(configured: Backend) -> None:
    """charge sends key and count, and justification only when given."""
    job = configured.create_job({})
    ctx = seekapi.create_context(job.event)
    first = seekapi.charge(ctx, "  item-1 ", count=2)
    second = seekapi.charge(ctx, "item-2", justification={"url": "https://x"})
    assert first["ok"] is True
    assert first["metered_event_count"] == 2
    assert second["metered_event_count"] == 3
    bodies = [json.loads(r.body) for r in _posts(configured, "/charge")]
    assert bodies == [
        {"execution_token": job.execution_token, "idempotency_key": "item-1", "count": 2},
        {
            "execution_token": job.execution_token,
            "idempotency_key": "item-2",
            "count": 1,
            "justification": {"url": "https://x"},
        },
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"idempotency_key": "  "}, "idempotency_key"),
        ({"idempotency_key": "k", "count": 0}, "count"),
        ({"idempotency_key": "k", "justification": ["not", "a", "dict"]}, "justification"),
    ],
)
def test_charge_rejects_bad_arguments_with_value_error(
    job_ctx: Any, kwargs: dict[str, Any], message: str
) -> None:
    """A blank key, a count below 1 or a non-dict justification is a ValueError, as in 1.0.5."""
    _job, ctx = job_ctx
    with pytest.raises(ValueError, match=message):
        seekapi.charge(ctx, **kwargs)


def test_charge_without_backend_settings_is_a_value_error() -> None:
    """charge outside local mode needs api_base and secret."""
    ctx = seekapi.create_context({"job_uuid": "j", "execution_token": "t"})
    with pytest.raises(UsageError, match="api_base"):
        seekapi.charge(ctx, "k")


def test_register_request_id_posts_the_request_id(configured: Backend) -> None:
    """register_request_id POSTs {request_id} to /worker-request-id."""
    job = configured.create_job({})
    seekapi.register_request_id(job.job_uuid, "req-1")
    (request,) = _posts(configured, "/worker-request-id")
    assert json.loads(request.body) == {"request_id": "req-1"}
    assert job.request_ids == ["req-1"]


def test_register_request_id_never_raises(configured: Backend) -> None:
    """A failing registration is swallowed (best effort), even for an unknown job."""
    configured.fail_next(10, status=500)
    seekapi.register_request_id("no-such-job", "req", timeout=1)  # must not raise


def test_register_request_id_is_a_no_op_without_settings(backend: Backend) -> None:
    """Without WORKER_API_BASE_URL/WORKER_INTERNAL_SECRET nothing is sent."""
    seekapi.register_request_id("job", "req")
    assert backend.requests == []


def test_push_file_sends_exactly_three_parts(configured: Backend, tmp_path: Path) -> None:
    """push_file streams execution_token, name and file parts; the backend stores the bytes."""
    job = configured.create_job({})
    ctx = seekapi.create_context(job.event)
    payload = os.urandom(300_000)
    path = tmp_path / "report.csv"
    path.write_bytes(payload)
    reply = seekapi.push_file(ctx, "report.csv", str(path))
    assert reply == {"ok": True}
    (stored,) = job.files
    assert stored.name == "report.csv"
    assert stored.content_type == "text/csv"
    assert stored.size == len(payload)
    assert stored.sha256 == hashlib.sha256(payload).hexdigest()


@pytest.mark.parametrize(
    "name", ['quo"te.txt', "back\\slash.txt", "line\r\nbreak.txt", "ünï©ødé ✓.txt", "a;b=c.txt"]
)
def test_push_file_names_of_any_content_arrive_exactly(
    configured: Backend, tmp_path: Path, name: str
) -> None:
    """Quotes, backslashes, CR/LF and non-ASCII never break the multipart body."""
    job = configured.create_job({})
    ctx = seekapi.create_context(job.event)
    path = tmp_path / "f.bin"
    path.write_bytes(b"data")
    seekapi.push_file(ctx, name, str(path), content_type="application/x-test")
    (stored,) = job.files
    assert stored.name == name
    assert stored.content_type == "application/x-test"


def test_push_file_missing_file_raises_os_error(job_ctx: Any, tmp_path: Path) -> None:
    """A missing local file is a FileNotFoundError, as in 1.0.5, and nothing is sent."""
    _job, ctx = job_ctx
    with pytest.raises(FileNotFoundError):
        seekapi.push_file(ctx, "x", str(tmp_path / "missing"))


def test_non_json_values_fail_before_anything_is_sent(configured: Backend) -> None:
    """NaN in a result is a JSONValueError; the previous result stays untouched."""
    job = configured.create_job({})
    ctx = seekapi.create_context(job.event)
    seekapi.push_data(ctx, {"ok": 1})
    with pytest.raises(JSONValueError, match="NaN"):
        seekapi.push_data(ctx, {"score": float("nan")})
    assert job.result == {"ok": 1}
    assert len(_posts(configured, "/push")) == 1


def test_unconfigured_push_data_is_a_no_op_that_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Without settings push_data returns {'ok': True} (1.0.5) and logs a warning once."""
    ctx = seekapi.create_context({"job_uuid": "j", "execution_token": "t"})
    with caplog.at_level(logging.WARNING, logger="seekapi"):
        assert seekapi.push_data(ctx, {"a": 1}) == {"ok": True}
        assert seekapi.push_data(ctx, {"a": 2}) == {"ok": True}
        assert seekapi.push_file(ctx, "n", __file__) is None
    warnings = [r.getMessage() for r in caplog.records if "sent nothing" in r.getMessage()]
    assert len(warnings) == 2  # once per call kind
    assert warnings[0].startswith("push_data sent nothing")
    assert warnings[1].startswith("push_file sent nothing")


def test_error_status_is_an_http_status_error_with_path_and_excerpt(configured: Backend) -> None:
    """A 4xx reply raises HTTPStatusError naming the status and path, not retried."""
    job = configured.create_job({})
    ctx = dict(seekapi.create_context(job.event), execution_token="wrong-token")
    with pytest.raises(HTTPStatusError) as info:
        seekapi.push_data(ctx, {"a": 1})
    err = info.value
    assert err.status == 403
    assert err.where.endswith(f"/v1/internal/jobs/{job.job_uuid}/push")
    assert "403" in str(err)
    assert isinstance(err, OSError)
    assert len(_posts(configured, "/push")) == 1


def test_hostile_job_ids_cannot_change_the_path(configured: Backend) -> None:
    """A job id with '/', '?' or '..' is one encoded path segment or refused."""
    ctx = seekapi.create_context(configured.create_job({}).event)
    for job_uuid in ["../../etc", "a/b", "x?y=1", "sp ace"]:
        hostile = dict(ctx, job_uuid=job_uuid)
        with pytest.raises(HTTPStatusError) as info:
            seekapi.push_data(hostile, {"a": 1})
        assert info.value.status == 404
    for job_uuid in ["..", "."]:
        with pytest.raises(UsageError):
            seekapi.push_data(dict(ctx, job_uuid=job_uuid), {"a": 1})
    for request in configured.requests:
        assert request.path.startswith("/v1/internal/jobs/")
        assert request.path.count("/") == 5


def test_many_threads_push_and_charge_at_once(configured: Backend) -> None:
    """16 threads share the client: every charge is counted, every push lands."""
    job = configured.create_job({})
    ctx = seekapi.create_context(job.event)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(25):
                seekapi.charge(ctx, f"t{n}-i{i}")
                seekapi.push_data(ctx, {"thread": n, "i": i})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert job.metered_event_count == 16 * 25
    assert len(job.pushes) == 16 * 25
    assert configured.connections_accepted <= 16 + 8


def test_sequential_calls_reuse_one_connection(configured: Backend) -> None:
    """300 sequential charges and pushes travel over a single keep-alive connection."""
    job = configured.create_job({})
    ctx = seekapi.create_context(job.event)
    for i in range(150):
        seekapi.charge(ctx, f"k{i}")
        seekapi.push_data(ctx, {"i": i})
    assert configured.connections_accepted == 1
    assert len({r.connection_id for r in configured.requests}) == 1


def test_create_context_repr_hides_secret_and_token(configured: Backend) -> None:
    """The context is a dict, but its repr never shows the secret or the token."""
    job = configured.create_job({})
    ctx = seekapi.create_context(job.event)
    assert isinstance(ctx, dict)
    assert ctx["secret"] == configured.env["WORKER_INTERNAL_SECRET"]
    shown = repr(ctx) + str(ctx) + f"{ctx}"
    assert configured.env["WORKER_INTERNAL_SECRET"] not in shown
    assert job.execution_token not in shown
    assert job.job_uuid in shown
    assert json.loads(json.dumps(ctx))["execution_token"] == job.execution_token
