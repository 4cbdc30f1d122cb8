"""What the client promises about configuration, odd replies, retries and restored snapshots,
checked against real loopback servers."""

from __future__ import annotations

import json
import logging
import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import seekapi
from seekapi._client import Client, default_client
from seekapi._deadline import Budget
from seekapi._retry import Replay
from seekapi.errors import ConfigurationError, HTTPStatusError, UsageError
from seekapi.testing import Backend, Fault, reset_sdk_state
from tests.support.echo_server import EchoServer, Received, response

SLACK = 0.5


def _posts(backend: Backend, suffix: str) -> list[Any]:
    return [r for r in backend.requests if r.method == "POST" and r.path.endswith(suffix)]


# -- WORKER_API_BASE_URL -----------------------------------------------------------------

_BAD_BASES = {
    "another scheme": "ftp://{host}",
    "no scheme": "{host}",
    "a fragment": "http://{host}#frag",
    "a fragment after the path": "http://{host}/api#",
    "a query": "http://{host}?x=1",
    "an empty query": "http://{host}/api?",
    "user info": "http://user:pw@{host}",
    "a user name": "http://user@{host}",
    "a space in the host": "http://bad host.example",
    "an open bracket": "http://[{host}",
    "a bracket in a name": "http://exa[mple.com",
    "an invalid IPv6 address": "http://[::g1]:80",
    "an IDNA-invalid host": "http://ex\ufffdample.com",
    "a non-ASCII space": "http://a\u3000b.example",
    "an empty label": "http://exa..mple.com",
    "an empty host": "http://",
    "an empty host with a port": "http://:8080",
    "an empty host with a path": "http:///v1",
    "a non-numeric port": "http://127.0.0.1:abc",
    "a port with letters": "http://127.0.0.1:80x",
    "a port out of range": "http://127.0.0.1:70000",
    "a backslash": "http://{host}\\@evil.example",
    "a control character": "http://{host}/a\tb",
}


def _host(backend: Backend) -> str:
    return backend.url.partition("://")[2]


@pytest.mark.parametrize("name", sorted(_BAD_BASES))
def test_a_bad_base_url_is_a_configuration_error_and_sends_nothing(
    backend: Backend,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    name: str,
) -> None:
    """push_data, push_file and charge refuse it; register_request_id logs and returns."""
    base = _BAD_BASES[name].format(host=_host(backend))
    monkeypatch.setenv("WORKER_API_BASE_URL", base)
    monkeypatch.setenv("WORKER_INTERNAL_SECRET", backend.secret)
    job = backend.create_job({})
    ctx = seekapi.create_context(job.event)
    path = tmp_path / "f.txt"
    path.write_text("x")
    with pytest.raises(ConfigurationError, match="WORKER_API_BASE_URL") as info:
        seekapi.push_data(ctx, {"a": 1})
    assert "pw" not in str(info.value)
    with pytest.raises(ConfigurationError):
        seekapi.push_file(ctx, "f.txt", str(path))
    with pytest.raises(ConfigurationError):
        seekapi.charge(ctx, "k")
    with caplog.at_level(logging.WARNING, logger="seekapi"):
        seekapi.register_request_id(job.job_uuid, "req-1")
    assert "could not register" in caplog.text
    assert backend.requests == []


@pytest.mark.parametrize(
    "base",
    ["http://{host}", "http://{host}/", "HTTP://{host}", "http://localhost:{port}/"],
)
def test_usable_base_urls_are_accepted(
    backend: Backend, monkeypatch: pytest.MonkeyPatch, base: str
) -> None:
    """Upper-case schemes, a trailing '/' and host names are fine."""
    monkeypatch.setenv(
        "WORKER_API_BASE_URL", base.format(host=_host(backend), port=backend.address[1])
    )
    monkeypatch.setenv("WORKER_INTERNAL_SECRET", backend.secret)
    job = backend.create_job({})
    assert seekapi.push_data(seekapi.create_context(job.event), {"a": 1}) == {"ok": True}
    assert job.result == {"a": 1}


def test_a_base_url_with_a_path_prefix_keeps_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """A base URL with a path is used as a prefix, as before."""
    with EchoServer(lambda r: response(200, b'{"ok": true}')) as server:
        monkeypatch.setenv("WORKER_API_BASE_URL", server.url + "/prefix/")
        monkeypatch.setenv("WORKER_INTERNAL_SECRET", "the-secret")
        ctx = seekapi.create_context({"job_uuid": "j1", "execution_token": "t1"})
        assert seekapi.push_data(ctx, {"a": 1}) == {"ok": True}
    assert server.received[0].target == "/prefix/v1/internal/jobs/j1/push"


# -- absurd timeouts -----------------------------------------------------------------------


@pytest.mark.parametrize("timeout", [10**400, 1e308, 10**9])
def test_absurd_timeouts_mean_no_limit(
    job_ctx: tuple[Any, dict[str, Any]], tmp_path: Path, timeout: float
) -> None:
    """A timeout too large for a float, or absurdly long, means no limit: no OverflowError."""
    job, ctx = job_ctx
    path = tmp_path / "f.txt"
    path.write_text("x")
    assert seekapi.get_input(job.event, timeout=timeout) == {"name": "Ada"}
    assert seekapi.push_data(ctx, {"a": 1}, timeout=timeout) == {"ok": True}
    assert seekapi.push_file(ctx, "f.txt", str(path), timeout=timeout) == {"ok": True}
    assert seekapi.charge(ctx, "k", timeout=timeout)["metered_event_count"] == 1
    seekapi.register_request_id(job.job_uuid, "req-1", timeout=timeout)
    assert job.request_ids == ["req-1"]


@pytest.mark.parametrize("timeout", [-(10**400), -1e308, float("-inf"), float("nan"), 0])
def test_negative_and_nan_timeouts_are_usage_errors(
    job_ctx: tuple[Any, dict[str, Any]], timeout: float
) -> None:
    """Nothing below zero, zero or NaN is a time budget."""
    _job, ctx = job_ctx
    with pytest.raises(UsageError, match="timeout"):
        seekapi.push_data(ctx, {"a": 1}, timeout=timeout)


# -- 2xx replies that cannot be read ----------------------------------------------------------

_UNREADABLE = {
    "html": b"<html><body>OK</body></html>",
    "truncated JSON": b'{"ok": tr',
    "nested 3000 deep": b"[" * 3000 + b"]" * 3000,
    "an object nested 3000 deep": b'{"a":' * 3000 + b"1" + b"}" * 3000,
    "a list": b"[1, 2]",
    "null": b"null",
    "a string": b'"ok"',
    "not UTF-8": b"\xff\xfe\xfa",
    "a number too long": b'{"n": ' + b"7" * 5000 + b"}",
}


@pytest.fixture
def accepting(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[bytes], EchoServer]]:
    """Start a server that takes every POST and answers 200 with the given body (and a
    GET, of the input, with ``{}``)."""
    servers: list[EchoServer] = []

    def start(body: bytes) -> EchoServer:
        def answer(request: Received) -> bytes:
            return response(200, b"{}" if request.method == "GET" else body, reason="OK")

        server = EchoServer(answer).__enter__()
        servers.append(server)
        monkeypatch.setenv("WORKER_API_BASE_URL", server.url)
        monkeypatch.setenv("WORKER_INTERNAL_SECRET", "the-secret")
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)


@pytest.mark.parametrize("name", sorted(_UNREADABLE))
def test_an_unreadable_2xx_reply_does_not_fail_an_accepted_call(
    accepting: Callable[[bytes], EchoServer],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    name: str,
) -> None:
    """push_data and push_file return {"ok": True}, charge safe defaults; one warning each."""
    server = accepting(_UNREADABLE[name])
    ctx = seekapi.create_context({"job_uuid": "j1", "execution_token": "t1"})
    path = tmp_path / "f.txt"
    path.write_text("x")
    with caplog.at_level(logging.WARNING, logger="seekapi"):
        for _ in range(2):
            assert seekapi.push_data(ctx, {"a": 1}) == {"ok": True}
            assert seekapi.push_file(ctx, "f.txt", str(path)) == {"ok": True}
            reply = seekapi.charge(ctx, "k")
            assert reply == {"ok": True, "metered_event_count": 0, "limit_reached": False}
            seekapi.register_request_id("j1", "req-1")
    assert len(server.received) == 8  # each call sent once: accepted, not retried
    warnings = [r.getMessage() for r in caplog.records if "not a JSON object" in r.getMessage()]
    assert len(warnings) == 4  # once per call kind
    calls = ("push", "push/file", "charge", "worker-request-id")
    for call, text in zip(calls, warnings, strict=True):
        assert f"/v1/internal/jobs/j1/{call} answered HTTP 200" in text


def test_a_charge_with_an_unreadable_reply_is_not_charged_again_under_run(
    accepting: Callable[[bytes], EchoServer],
) -> None:
    """Under run(), the job goes on and succeeds: the backend took the charge."""
    server = accepting(b"<html>accepted</html>")
    event = {"job_uuid": "j1", "execution_token": "t1"}

    def work(_data: Any) -> dict[str, Any]:
        job = seekapi.current_job()
        assert job is not None
        job.charge("item-1")
        return {"done": True}

    out = seekapi.run(dict(event, input_presigned_url=server.url + "/input"), None, work)
    assert out["ok"] is True, out
    charges = [r for r in server.received if r.target.endswith("/charge")]
    assert [r.target for r in server.received if r.method == "POST"][-1].endswith("/push")
    assert len(charges) == 1


# -- retries ------------------------------------------------------------------------------------


def test_replayable_calls_are_retried_past_four_attempts(configured: Backend) -> None:
    """Five failures in a row do not fail a push or a charge that has time left."""
    job = configured.create_job({})
    ctx = seekapi.create_context(job.event)
    configured.fail_next(5, status=503)
    assert seekapi.push_data(ctx, {"v": 1}, timeout=8) == {"ok": True}
    assert len(_posts(configured, "/push")) == 6
    configured.inject(Fault("drop", count=5, path=f"/v1/internal/jobs/{job.job_uuid}/charge"))
    assert seekapi.charge(ctx, "item-1", count=2, timeout=8)["metered_event_count"] == 2
    assert job.metered_event_count == 2


def test_backoff_is_capped_and_goes_on_while_the_budget_lasts(configured: Backend) -> None:
    """Waits double from 0.1 s up to 2 s and stay there; the call succeeds at attempt 13."""
    job = configured.create_job({})
    slept: list[float] = []
    client = Client(sleep=slept.append, rand=lambda: 1.0)
    configured.fail_next(12, status=502)
    url = f"{configured.url}/v1/internal/jobs/{job.job_uuid}/charge"
    body = json.dumps({"execution_token": job.execution_token, "idempotency_key": "k", "count": 1})
    try:
        reply = client.post_json(
            url,
            body.encode(),
            secret=configured.secret,
            budget=Budget.total(30),
            replay=Replay.ALWAYS,
        )
    finally:
        client.close()
    assert reply["metered_event_count"] == 1
    assert slept == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6] + [2.0] * 7)


def test_retrying_stops_at_the_budget(configured: Backend) -> None:
    """A backend that never recovers: more than four attempts, no later than the budget,
    and the last answer's status in the error."""
    job = configured.create_job({})
    client = Client(rand=lambda: 0.1)
    configured.fail_next(100_000, status=503)
    url = f"{configured.url}/v1/internal/jobs/{job.job_uuid}/push"
    body = json.dumps({"execution_token": job.execution_token, "data": 1, "type": "json"})
    started = time.monotonic()
    try:
        with pytest.raises(HTTPStatusError) as info:
            client.post_json(
                url,
                body.encode(),
                secret=configured.secret,
                budget=Budget.total(1.5),
                replay=Replay.ALWAYS,
            )
    finally:
        client.close()
    assert time.monotonic() - started < 1.5 + SLACK
    assert info.value.attempts > 4
    assert info.value.status == 503
    assert "no time left to retry" in str(info.value)


def test_calls_without_a_time_limit_keep_the_attempt_cap(configured: Backend) -> None:
    """timeout=None gives no budget to retry within: four attempts, as for uploads."""
    job = configured.create_job({})
    ctx = seekapi.create_context(job.event)
    configured.fail_next(10, status=503)
    with pytest.raises(HTTPStatusError) as info:
        seekapi.push_data(ctx, {"v": 1}, timeout=None)  # type: ignore[arg-type]
    assert info.value.attempts == 4


def test_push_file_keeps_its_attempt_cap(configured: Backend, tmp_path: Path) -> None:
    """An upload the backend keeps refusing gets four attempts."""
    job = configured.create_job({})
    ctx = seekapi.create_context(job.event)
    path = tmp_path / "a.txt"
    path.write_text("x")
    configured.fail_next(10, status=503, path=f"/v1/internal/jobs/{job.job_uuid}/push/file")
    with pytest.raises(HTTPStatusError) as info:
        seekapi.push_file(ctx, "a.txt", str(path), timeout=8)
    assert info.value.attempts == 4
    assert job.files == []


# -- soak: charges under a 20 % fault rate ------------------------------------------------------

SOAK_CALLS = 10_000
SOAK_FAULT_RATE = 0.2


def _soak_faults(rng: random.Random) -> Fault:
    """One request's fate: a fault one time in five, else a normal answer."""
    if rng.random() >= SOAK_FAULT_RATE:
        return Fault("delay", seconds=0)  # answered normally
    kind = rng.randrange(6)
    if kind == 0:
        return Fault("drop")  # billed, then the answer is lost
    if kind == 1:
        return Fault("reset")  # billed, then reset
    if kind == 2:
        return Fault("truncate")  # billed, half an answer
    if kind == 3:
        return Fault("reset", after_body=False)  # reset before the body is read
    if kind == 4:
        return Fault("status", status=503)  # not processed
    return Fault("status", status=rng.choice([500, 502, 504, 429]))


def test_soak_no_billed_charge_raises_at_a_20_percent_fault_rate(tmp_path: Path) -> None:
    """10,000 charges, one request in five failing: none raises, none is billed twice."""
    rng = random.Random(20240601)
    with Backend(directory=tmp_path / "soak") as backend:
        job = backend.create_job({})
        for _ in range(int(SOAK_CALLS * 1.5)):
            backend.inject(_soak_faults(rng))
        client = Client(sleep=lambda _s: None, rand=random.Random(7).random)
        url = f"{backend.url}/v1/internal/jobs/{job.job_uuid}/charge"
        token = json.dumps(job.execution_token)
        raised: list[tuple[str, BaseException]] = []
        try:
            for i in range(SOAK_CALLS):
                key = f"item-{i}"
                body = f'{{"execution_token":{token},"idempotency_key":"{key}","count":1}}'
                try:
                    reply = client.post_json(
                        url,
                        body.encode(),
                        secret=backend.secret,
                        budget=Budget.total(8),
                        replay=Replay.ALWAYS,
                    )
                except Exception as exc:  # counted and reported below
                    raised.append((key, exc))
                else:
                    assert reply["ok"] is True
        finally:
            client.close()
        billed = {c["idempotency_key"] for c in job.charges}
        faults = [r for r in backend.requests if r.fault not in (None, "delay")]
        requests = len(backend.requests)
        assert backend.internal_errors == []
    raised_but_billed = [key for key, _ in raised if key in billed]
    assert raised_but_billed == [], raised[:3]
    assert raised == []
    assert len(job.charges) == SOAK_CALLS  # each key billed exactly once
    assert job.metered_event_count == SOAK_CALLS
    # The fault rate really was about one request in five.
    assert 0.17 < len(faults) / requests < 0.23


# -- Lambda SnapStart ------------------------------------------------------------------------

_STAND_IN = '''
"""A stand-in for AWS's snapshot_restore_py: it records the hooks it is given."""
after_restore = []


def register_after_restore(func, *args, **kwargs):
    after_restore.append((func, args, kwargs))
    return func
'''


@pytest.fixture
def stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An importable ``snapshot_restore_py`` on sys.path, not imported yet; its folder."""
    folder = tmp_path / "snapstart"
    folder.mkdir()
    (folder / "snapshot_restore_py.py").write_text(_STAND_IN)
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.delitem(sys.modules, "snapshot_restore_py", raising=False)
    monkeypatch.delenv("AWS_LAMBDA_INITIALIZATION_TYPE", raising=False)
    reset_sdk_state()
    return folder


@pytest.fixture
def snapstart(stand_in: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[], Any]:
    """A SnapStart environment: the variable Lambda sets, and the stand-in to import.

    Returns a function giving the stand-in module once the SDK has imported it."""
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "snap-start")
    return lambda: sys.modules["snapshot_restore_py"]


def _restore(module: Any) -> None:
    for func, args, kwargs in module.after_restore:
        func(*args, **kwargs)


def test_snapstart_restore_drops_pooled_connections(
    snapstart: Callable[[], Any], job_ctx: tuple[Any, dict[str, Any]], configured: Backend
) -> None:
    """After a restore, the next call opens a new connection instead of a dead one."""
    _job, ctx = job_ctx
    seekapi.push_data(ctx, {"a": 1})
    seekapi.push_data(ctx, {"a": 2})
    assert configured.connections_accepted == 1
    module = snapstart()
    assert len(module.after_restore) == 1  # registered when the client was made
    _restore(module)
    seekapi.push_data(ctx, {"a": 3})
    assert configured.connections_accepted == 2
    reset_sdk_state()
    seekapi.push_data(ctx, {"a": 4})
    assert len(module.after_restore) == 1  # once per process


def test_snapstart_restore_reseeds_the_retry_jitter(
    snapstart: Callable[[], Any], job_ctx: tuple[Any, dict[str, Any]]
) -> None:
    """Two copies restored from one snapshot draw different waits."""
    _job, ctx = job_ctx
    seekapi.push_data(ctx, {"a": 1})
    client = default_client()
    jitter = client.jitter
    assert jitter is not None
    twin = random.Random()
    twin.setstate(jitter.getstate())  # another copy of the same snapshot
    _restore(snapstart())
    assert [jitter.random() for _ in range(4)] != [twin.random() for _ in range(4)]


def test_an_already_imported_snapshot_restore_py_is_used(
    stand_in: Path, job_ctx: tuple[Any, dict[str, Any]]
) -> None:
    """When the runtime (or the worker) has imported it, no variable is needed."""
    import snapshot_restore_py  # type: ignore[import-untyped,unused-ignore]

    _job, ctx = job_ctx
    seekapi.push_data(ctx, {"a": 1})
    assert len(snapshot_restore_py.after_restore) == 1


def test_outside_snapstart_snapshot_restore_py_is_not_imported(
    stand_in: Path, job_ctx: tuple[Any, dict[str, Any]]
) -> None:
    """A cold start elsewhere does not pay for importing it."""
    _job, ctx = job_ctx
    seekapi.push_data(ctx, {"a": 1})
    assert "snapshot_restore_py" not in sys.modules


def test_import_seekapi_does_not_import_snapshot_restore_py(stand_in: Path) -> None:
    """Even under SnapStart, the hook waits until the client is first needed."""
    code = "import sys, seekapi; print('snapshot_restore_py' in sys.modules)"
    env = {"PYTHONPATH": str(stand_in), "AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


def test_no_snapshot_restore_py_means_no_hook(
    job_ctx: tuple[Any, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under SnapStart without the package, the client works as usual."""
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "snap-start")
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)  # the import fails
    reset_sdk_state()
    _job, ctx = job_ctx
    assert seekapi.push_data(ctx, {"a": 1}) == {"ok": True}
