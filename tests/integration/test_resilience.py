"""Retries, deadlines and keep-alive against real faults injected by the loopback backend.

Deadline tests allow 0.5 s of slack on budgets of at least 1 s.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import seekapi
from seekapi._client import Client
from seekapi._retry import Replay
from seekapi.errors import DeadlineExceeded, HTTPStatusError, TransportError
from seekapi.testing import Backend, Fault

SLACK = 0.5


def _posts(backend: Backend, suffix: str) -> list[Any]:
    return [r for r in backend.requests if r.method == "POST" and r.path.endswith(suffix)]


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504])
def test_transient_statuses_are_retried(configured: Backend, status: int) -> None:
    """Two failures with a transient status, then success: the push lands."""
    job = configured.create_job({})
    ctx = seekapi.create_context(job.event)
    configured.fail_next(2, status=status, path="/v1/internal/jobs/")
    assert seekapi.push_data(ctx, {"v": 1}) == {"ok": True}
    assert job.result == {"v": 1}
    assert len(_posts(configured, "/push")) == 3


def test_attempts_are_bounded_by_the_budget(configured: Backend) -> None:
    """A backend that keeps failing is retried until the budget runs out, then the last
    answer is an HTTPStatusError."""
    job = configured.create_job({})
    ctx = seekapi.create_context(job.event)
    configured.fail_next(100_000, status=503, body=b'{"error":"busy"}')
    started = time.monotonic()
    with pytest.raises(HTTPStatusError) as info:
        seekapi.push_data(ctx, {"v": 1}, timeout=2)
    assert time.monotonic() - started < 2 + SLACK
    assert info.value.status == 503
    assert "no time left to retry" in str(info.value)
    assert "busy" in info.value.body_excerpt
    assert len(_posts(configured, "/push")) == info.value.attempts


def test_client_errors_are_not_retried(configured: Backend) -> None:
    """A 400 is final: one request."""
    job = configured.create_job({})
    ctx = seekapi.create_context(job.event)
    configured.fail_next(1, status=400)
    with pytest.raises(HTTPStatusError):
        seekapi.charge(ctx, "k")
    assert len(_posts(configured, "/charge")) == 1


def test_retry_after_is_honoured(configured: Backend) -> None:
    """A 503 with Retry-After: 1 is retried after about a second."""
    job = configured.create_job({})
    ctx = seekapi.create_context(job.event)
    configured.fail_next(1, status=503, headers={"Retry-After": "1"})
    started = time.monotonic()
    seekapi.push_data(ctx, {"v": 1}, timeout=5)
    assert time.monotonic() - started >= 1.0
    assert job.result == {"v": 1}


def test_retry_after_beyond_the_budget_fails_at_once(configured: Backend) -> None:
    """A Retry-After longer than the time left fails now, not after sleeping past it."""
    job = configured.create_job({})
    ctx = seekapi.create_context(job.event)
    configured.fail_next(1, status=429, headers={"Retry-After": "30"})
    started = time.monotonic()
    with pytest.raises(HTTPStatusError, match="retry after 30"):
        seekapi.push_data(ctx, {"v": 1}, timeout=3)
    assert time.monotonic() - started < 1.0


def test_charge_whose_reply_was_lost_is_billed_once(configured: Backend) -> None:
    """The charge is applied and its reply dropped; the retry (same key) bills nothing."""
    job = configured.create_job({})
    ctx = seekapi.create_context(job.event)
    configured.inject(Fault("drop", path=f"/v1/internal/jobs/{job.job_uuid}/charge"))
    reply = seekapi.charge(ctx, "item-7", count=3)
    assert reply["metered_event_count"] == 3
    assert job.metered_event_count == 3
    keys = [json.loads(r.body)["idempotency_key"] for r in _posts(configured, "/charge")]
    assert keys == ["item-7", "item-7"]


@pytest.mark.parametrize("kind", ["reset", "truncate"])
def test_lost_replies_of_push_data_are_retried(configured: Backend, kind: str) -> None:
    """A reset or truncated reply to push_data is retried (last write wins)."""
    job = configured.create_job({})
    ctx = seekapi.create_context(job.event)
    configured.inject(Fault(kind, path="/v1/internal/jobs/"))  # type: ignore[arg-type]
    assert seekapi.push_data(ctx, {"v": kind}) == {"ok": True}
    assert job.result == {"v": kind}


def test_push_file_is_not_repeated_after_the_backend_may_have_stored_it(
    configured: Backend, tmp_path: Path
) -> None:
    """The upload was received whole and its reply lost: no second copy is sent."""
    job = configured.create_job({})
    ctx = seekapi.create_context(job.event)
    path = tmp_path / "a.txt"
    path.write_bytes(b"hello")
    configured.inject(Fault("drop", path=f"/v1/internal/jobs/{job.job_uuid}/push/file"))
    with pytest.raises(TransportError) as info:
        seekapi.push_file(ctx, "a.txt", str(path))
    assert info.value.request_sent
    assert len(job.files) == 1
    assert len(_posts(configured, "/push/file")) == 1


def test_push_file_is_retried_when_the_backend_did_not_take_it(
    configured: Backend, tmp_path: Path
) -> None:
    """A 503 says the upload was not processed: it is sent again, rewound, and stored once."""
    job = configured.create_job({})
    ctx = seekapi.create_context(job.event)
    path = tmp_path / "b.bin"
    path.write_bytes(b"x" * 200_000)
    configured.fail_next(1, status=503, path=f"/v1/internal/jobs/{job.job_uuid}/push/file")
    assert seekapi.push_file(ctx, "b.bin", str(path)) == {"ok": True}
    (stored,) = job.files
    assert stored.size == 200_000


def test_post_redirects_are_errors_and_not_followed(configured: Backend) -> None:
    """A 3xx to a POST is an error; the secret never follows a Location."""
    job = configured.create_job({})
    ctx = seekapi.create_context(job.event)
    with Backend(secret="other") as elsewhere:
        configured.inject(Fault("redirect", location=f"{elsewhere.url}/steal", status=307))
        with pytest.raises(HTTPStatusError, match="not followed") as info:
            seekapi.push_data(ctx, {"v": 1})
        assert info.value.status == 307
        assert elsewhere.requests == []


def test_hanging_server_cannot_hold_a_call_past_its_timeout(configured: Backend) -> None:
    """The backend hangs forever after reading the request: push_data gives up in time."""
    job = configured.create_job({})
    ctx = seekapi.create_context(job.event)
    configured.inject(Fault("hang", count=10, seconds=0))
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        seekapi.push_data(ctx, {"v": 1}, timeout=2)
    elapsed = time.monotonic() - started
    assert elapsed < 2 + SLACK
    # Half the budget per attempt: the hang left room for a second attempt.
    assert len(_posts(configured, "/push")) == 2


def test_dripping_server_cannot_hold_a_call_past_its_timeout(configured: Backend) -> None:
    """A reply dripped a byte every 0.1 s (seconds in total) is cut at the call's deadline."""
    job = configured.create_job({})
    ctx = seekapi.create_context(job.event)
    configured.inject(Fault("drip", count=10, interval=0.1))
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        seekapi.charge(ctx, "k", timeout=1)
    assert time.monotonic() - started < 1 + SLACK


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP server that accepts connections and never says a word (a hung TLS peer)."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            accepted.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    server.close()
    for conn in accepted:
        conn.close()


def test_hung_tls_handshake_is_bounded(silent_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that never answers the TLS handshake cannot hold the call past its timeout."""
    monkeypatch.setenv("WORKER_API_BASE_URL", f"https://{silent_server}")
    monkeypatch.setenv("WORKER_INTERNAL_SECRET", "s")
    ctx = seekapi.create_context({"job_uuid": "j", "execution_token": "t"})
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        seekapi.push_data(ctx, {"v": 1}, timeout=1.5)
    assert time.monotonic() - started < 1.5 + SLACK


def test_connection_refused_is_a_transport_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing listening: retried within the budget, then a TransportError naming the host."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    monkeypatch.setenv("WORKER_API_BASE_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("WORKER_INTERNAL_SECRET", "s")
    ctx = seekapi.create_context({"job_uuid": "j", "execution_token": "t"})
    with pytest.raises(TransportError, match=f"127.0.0.1:{port}") as info:
        seekapi.push_data(ctx, {"v": 1}, timeout=2)
    assert not info.value.request_sent
    assert isinstance(info.value, OSError)


def test_idle_connection_closed_by_the_server_is_replaced_silently(configured: Backend) -> None:
    """The server closes idle keep-alive connections (as while a Lambda is frozen): no error."""
    job = configured.create_job({})
    ctx = seekapi.create_context(job.event)
    seekapi.push_data(ctx, {"v": 1})
    assert configured.close_idle_connections() == 1
    time.sleep(0.05)
    seekapi.push_data(ctx, {"v": 2})
    seekapi.charge(ctx, "k")
    assert job.result == {"v": 2}
    assert configured.connections_accepted == 2
    assert len(_posts(configured, "/push")) == 2


class _SteppingClock:
    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset


def test_connections_idle_too_long_are_not_reused(configured: Backend) -> None:
    """A connection idle for more than the expiry is closed and a new one opened."""
    from seekapi._deadline import Budget

    job = configured.create_job({})
    clock = _SteppingClock()
    client = Client(clock=clock)
    url = f"{configured.url}/v1/internal/jobs/{job.job_uuid}/push"
    body = json.dumps({"execution_token": job.execution_token, "data": 1, "type": "json"})
    secret = configured.env["WORKER_INTERNAL_SECRET"]
    try:
        for step in (0.0, 10.0, 120.0):
            clock.offset += step
            client.post_json(
                url,
                body.encode(),
                secret=secret,
                budget=Budget.total(5, clock),
                replay=Replay.ALWAYS,
            )
    finally:
        client.close()
    assert configured.connections_accepted == 2


def test_backoff_uses_the_injected_sleep_and_randomness(configured: Backend) -> None:
    """Waits between attempts follow the policy: full jitter over a doubling ceiling."""
    from seekapi._deadline import Budget

    job = configured.create_job({})
    slept: list[float] = []
    client = Client(sleep=slept.append, rand=lambda: 0.5)
    configured.fail_next(3, status=502)
    url = f"{configured.url}/v1/internal/jobs/{job.job_uuid}/charge"
    body = json.dumps({"execution_token": job.execution_token, "idempotency_key": "k", "count": 1})
    try:
        reply = client.post_json(
            url,
            body.encode(),
            secret=configured.env["WORKER_INTERNAL_SECRET"],
            budget=Budget.total(8),
            replay=Replay.ALWAYS,
        )
    finally:
        client.close()
    assert reply["metered_event_count"] == 1
    assert slept == pytest.approx([0.05, 0.1, 0.2])
