"""The loopback backend (seekapi.testing.Backend), driven with raw http.client and sockets."""

from __future__ import annotations

import hashlib
import http.client
import json
import socket
import ssl
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from seekapi.testing import Backend, Fault, Job

BOUNDARY = "seekapi-test-boundary-7MA4YWxkTrZu0gW"


# -- helpers --------------------------------------------------------------------------------


def _port(backend: Backend) -> int:
    return int(backend.url.rsplit(":", 1)[1])


def _connect(backend: Backend, *, timeout: float = 10.0) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", _port(backend), timeout=timeout)


@pytest.fixture
def client(backend: Backend) -> Iterator[http.client.HTTPConnection]:
    conn = _connect(backend)
    yield conn
    conn.close()


def _call(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, http.client.HTTPResponse, bytes]:
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    return response.status, response, response.read()


def _post(
    conn: http.client.HTTPConnection,
    path: str,
    obj: object,
    *,
    secret: str | None = "test-secret",
    content_type: str = "application/json",
) -> tuple[int, Any]:
    headers = {"Content-Type": content_type}
    if secret is not None:
        headers["X-Internal-Secret"] = secret
    raw = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    status, _, data = _call(conn, "POST", path, raw, headers)
    return status, json.loads(data) if data else None


def _jobs_path(job: Job, suffix: str) -> str:
    return f"/v1/internal/jobs/{job.job_uuid}/{suffix}"


def _push_body(job: Job, data: object = None, kind: str = "json") -> dict[str, object]:
    return {"execution_token": job.execution_token, "data": data, "type": kind}


def _charge_body(job: Job, key: str, count: int = 1, **extra: object) -> dict[str, object]:
    return {"execution_token": job.execution_token, "idempotency_key": key, "count": count, **extra}


def _text_part(name: str, value: str) -> bytes:
    return f'Content-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()


def _file_head(filename: str, content_type: str | None = "application/octet-stream") -> bytes:
    head = f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
    if content_type is not None:
        head += f"Content-Type: {content_type}\r\n"
    return (head + "\r\n").encode()


def _form(*parts: bytes) -> bytes:
    delimiter = f"--{BOUNDARY}\r\n".encode()
    return b"".join(delimiter + part for part in parts) + f"--{BOUNDARY}--\r\n".encode()


def _upload_headers(length: int, secret: str = "test-secret") -> dict[str, str]:
    return {
        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
        "Content-Length": str(length),
        "X-Internal-Secret": secret,
    }


def _file_form(job: Job, name: str, content: bytes, content_type: str = "text/plain") -> bytes:
    return _form(
        _text_part("execution_token", job.execution_token),
        _text_part("name", name),
        _file_head(name, content_type) + content + b"\r\n",
    )


def _wait_for(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.005)


def _raw_exchange(backend: Backend, request: bytes) -> tuple[bytes, int]:
    """Send ``request`` on a new socket; return everything read until EOF and the recv count."""
    with socket.create_connection(("127.0.0.1", _port(backend)), timeout=10) as sock:
        sock.sendall(request)
        received = bytearray()
        reads = 0
        while data := sock.recv(65536):
            received += data
            reads += 1
        return bytes(received), reads


# -- endpoints: happy paths ------------------------------------------------------------------


def test_push_stores_the_latest_data_and_every_push(
    backend: Backend, client: http.client.HTTPConnection
) -> None:
    """POST /push answers {"ok": true}; the last push is the result and all are kept in order."""
    job = backend.create_job()
    assert _post(client, _jobs_path(job, "push"), _push_body(job, {"n": 1})) == (200, {"ok": True})
    assert _post(client, _jobs_path(job, "push"), _push_body(job, [2], "table")) == (
        200,
        {"ok": True},
    )
    assert job.result == [2]
    assert job.pushes == [{"data": {"n": 1}, "type": "json"}, {"data": [2], "type": "table"}]


def test_push_file_streams_the_file_to_disk(
    backend: Backend, client: http.client.HTTPConnection, tmp_path: Path
) -> None:
    """POST /push/file stores the file part under the backend directory and records it."""
    job = backend.create_job()
    content = b"hello, file\r\n--not-a-boundary\r\n"
    form = _file_form(job, "report.txt", content)
    status, _, data = _call(
        client, "POST", _jobs_path(job, "push/file"), form, _upload_headers(len(form))
    )
    assert (status, json.loads(data)) == (200, {"ok": True})
    [received] = job.files
    assert received.name == "report.txt"
    assert received.filename == "report.txt"
    assert received.content_type == "text/plain"
    assert received.size == len(content)
    assert received.sha256 == hashlib.sha256(content).hexdigest()
    assert Path(received.path).read_bytes() == content
    assert Path(received.path).is_relative_to(tmp_path / "backend-files")


def test_push_file_keeps_bytes_that_look_like_a_delimiter(
    backend: Backend, client: http.client.HTTPConnection
) -> None:
    """Content holding partial delimiters, sent in tiny pieces, arrives byte for byte."""
    job = backend.create_job()
    tricky = f"\r\n--{BOUNDARY[:-1]}".encode()
    content = (tricky + b"x\r\n-" + tricky[:5]) * 500 + b"\r\n--" + b"\r"
    form = _file_form(job, "tricky.bin", content, "application/octet-stream")
    pieces = (form[i : i + 7] for i in range(0, len(form), 7))
    client.request(
        "POST", _jobs_path(job, "push/file"), body=pieces, headers=_upload_headers(len(form))
    )
    response = client.getresponse()
    assert (response.status, response.read()) == (200, b'{"ok":true}')
    [received] = job.files
    assert Path(received.path).read_bytes() == content


def test_push_file_of_64_mib_is_streamed_in_constant_memory(
    backend: Backend, client: http.client.HTTPConnection
) -> None:
    """A 64 MiB upload lands with the right size and sha256 while memory stays small."""
    job = backend.create_job()
    size = 64 * 1024 * 1024
    block = hashlib.sha256(b"seed").digest() * (1024 * 1024 // 32)  # 1 MiB
    head = (
        _form(
            _text_part("execution_token", job.execution_token),
            _text_part("name", "big.bin"),
        ).removesuffix(f"--{BOUNDARY}--\r\n".encode())
        + f"--{BOUNDARY}\r\n".encode()
    )
    head += _file_head("big.bin")
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    expected = hashlib.sha256()

    def body() -> Iterator[bytes]:
        yield head
        for i in range(size // len(block)):
            chunk = i.to_bytes(4, "big") + block[4:]
            expected.update(chunk)
            yield chunk
        yield tail

    tracemalloc.start()
    try:
        client.request(
            "POST",
            _jobs_path(job, "push/file"),
            body=body(),
            headers=_upload_headers(len(head) + size + len(tail)),
        )
        response = client.getresponse()
        reply = response.read()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (response.status, reply) == (200, b'{"ok":true}')
    [received] = job.files
    assert received.size == size
    assert received.sha256 == expected.hexdigest()
    assert peak < 16 * 1024 * 1024
    assert len(backend.requests[-1].body) == 64 * 1024  # only the start of an upload is kept


def test_charge_bills_and_deduplicates_by_idempotency_key(
    backend: Backend, client: http.client.HTTPConnection
) -> None:
    """A repeated idempotency key answers the first reply again and bills nothing more."""
    job = backend.create_job()
    path = _jobs_path(job, "charge")
    first = _post(client, path, _charge_body(job, "k1", 2, justification={"pages": 2}))
    assert first == (200, {"ok": True, "metered_event_count": 2, "limit_reached": False})
    assert _post(client, path, _charge_body(job, "k2", 3))[1]["metered_event_count"] == 5
    assert _post(client, path, _charge_body(job, "k1", 2)) == first
    assert job.metered_event_count == 5
    assert job.charges == [
        {"idempotency_key": "k1", "count": 2, "justification": {"pages": 2}},
        {"idempotency_key": "k2", "count": 3},
    ]


def test_charge_reports_the_job_limit_once_reached(
    backend: Backend, client: http.client.HTTPConnection
) -> None:
    """limit_reached turns true when the metered count reaches the job's charge_limit."""
    job = backend.create_job(charge_limit=3)
    path = _jobs_path(job, "charge")
    assert _post(client, path, _charge_body(job, "a", 2))[1]["limit_reached"] is False
    assert _post(client, path, _charge_body(job, "b", 1))[1] == {
        "ok": True,
        "metered_event_count": 3,
        "limit_reached": True,
    }
    assert job.limit_reached is True


def test_backend_wide_charge_limit_applies_to_every_job(tmp_path: Path) -> None:
    """Backend(charge_limit=N) is the default limit of each job; a job's own limit wins."""
    with Backend(charge_limit=1, directory=tmp_path) as backend:
        default_job = backend.create_job()
        own_limit_job = backend.create_job(charge_limit=10)
        conn = _connect(backend)
        try:
            _, reply = _post(
                conn, _jobs_path(default_job, "charge"), _charge_body(default_job, "x")
            )
            assert reply["limit_reached"] is True
            _, reply = _post(
                conn, _jobs_path(own_limit_job, "charge"), _charge_body(own_limit_job, "x")
            )
            assert reply["limit_reached"] is False
        finally:
            conn.close()


def test_worker_request_id_is_registered(
    backend: Backend, client: http.client.HTTPConnection
) -> None:
    """POST /worker-request-id records the id on the job without needing the token."""
    job = backend.create_job()
    status, reply = _post(client, _jobs_path(job, "worker-request-id"), {"request_id": "req-9"})
    assert (status, reply) == (200, {"ok": True})
    assert job.request_ids == ["req-9"]


def test_input_is_served_without_the_secret_for_any_query(
    backend: Backend, client: http.client.HTTPConnection
) -> None:
    """GET of the presigned-style input URL answers the job input as UTF-8 JSON."""
    job = backend.create_job({"text": "héllo", "n": [1, 2]})
    assert "X-Amz-Signature=" in job.input_url
    assert job.input_url.startswith(f"{backend.url}/input/{job.job_uuid}?")
    status, response, data = _call(client, "GET", job.input_url[len(backend.url) :])
    assert status == 200
    assert response.getheader("Content-Type") == "application/json"
    assert json.loads(data.decode("utf-8")) == {"text": "héllo", "n": [1, 2]}
    status, _, data = _call(client, "GET", f"/input/{job.job_uuid}?anything=else")
    assert (status, json.loads(data)) == (200, {"text": "héllo", "n": [1, 2]})


def test_raw_input_is_served_byte_for_byte(
    backend: Backend, client: http.client.HTTPConnection
) -> None:
    """raw_input bytes (here invalid UTF-8) come back exactly, with the given content type."""
    job = backend.create_job(raw_input=b'{"a": "\xff', input_content_type="text/plain")
    status, response, data = _call(client, "GET", f"/input/{job.job_uuid}")
    assert (status, data) == (200, b'{"a": "\xff')
    assert response.getheader("Content-Type") == "text/plain"


def test_default_input_is_an_empty_object_and_event_names_the_job(
    backend: Backend, client: http.client.HTTPConnection
) -> None:
    """A job created without input serves {}; its event holds the three platform keys."""
    job = backend.create_job(job_uuid="job-1", execution_token="tok-1")
    assert job.event == {
        "job_uuid": "job-1",
        "execution_token": "tok-1",
        "input_presigned_url": job.input_url,
    }
    assert backend.job("job-1").execution_token == "tok-1"
    assert _call(client, "GET", "/input/job-1")[2] == b"{}"


def test_debug_view_shows_the_job_without_its_token(
    backend: Backend, client: http.client.HTTPConnection
) -> None:
    """GET /v1/debug/jobs/{id} needs the secret and shows the job state but never the token."""
    job = backend.create_job()
    _post(client, _jobs_path(job, "push"), _push_body(job, {"r": 1}))
    path = f"/v1/debug/jobs/{job.job_uuid}"
    assert _call(client, "GET", path)[0] == 401
    status, _, data = _call(client, "GET", path, headers={"X-Internal-Secret": "test-secret"})
    assert status == 200
    view = json.loads(data)
    assert view["result"] == {"r": 1}
    assert view["metered_event_count"] == 0
    assert job.execution_token.encode() not in data


def test_input_of_10_mib_is_generated_streamed_and_exact(
    backend: Backend, client: http.client.HTTPConnection
) -> None:
    """input_size serves a chunked, valid JSON object of exactly that many bytes."""
    size = 10 * 1024 * 1024
    job = backend.create_job(input_size=size)
    status, response, data = _call(client, "GET", f"/input/{job.job_uuid}")
    assert status == 200
    assert response.getheader("Transfer-Encoding") == "chunked"
    assert response.getheader("Content-Length") is None
    assert len(data) == size
    assert isinstance(json.loads(data), dict)


def test_generated_input_can_carry_a_content_length(
    backend: Backend, client: http.client.HTTPConnection
) -> None:
    """input_chunked=False sends the generated input with a Content-Length instead."""
    job = backend.create_job(input_size=100_000, input_chunked=False)
    status, response, data = _call(client, "GET", f"/input/{job.job_uuid}")
    assert response.getheader("Content-Length") == "100000"
    assert response.getheader("Transfer-Encoding") is None
    assert (status, len(data)) == (200, 100_000)


@pytest.mark.parametrize("size", [2, 3, 13, 14, 15, 65536 + 14])
def test_generated_input_has_the_exact_size_at_the_edges(
    backend: Backend, client: http.client.HTTPConnection, size: int
) -> None:
    """Every input_size from 2 bytes up gives a JSON object of exactly that size."""
    job = backend.create_job(input_size=size)
    data = _call(client, "GET", f"/input/{job.job_uuid}")[2]
    assert len(data) == size
    assert isinstance(json.loads(data), dict)


def test_generated_input_is_never_held_in_memory(
    backend: Backend, client: http.client.HTTPConnection
) -> None:
    """Serving a 64 MiB generated input keeps the process's allocations small."""
    size = 64 * 1024 * 1024
    job = backend.create_job(input_size=size)
    tracemalloc.start()
    try:
        client.request("GET", f"/input/{job.job_uuid}")
        response = client.getresponse()
        total = 0
        while chunk := response.read(65536):
            total += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == size
    assert peak < 8 * 1024 * 1024


def test_chunked_request_bodies_are_accepted(
    backend: Backend, client: http.client.HTTPConnection
) -> None:
    """A JSON body sent with Transfer-Encoding: chunked is read and processed."""
    job = backend.create_job()
    raw = json.dumps(_push_body(job, {"chunked": True})).encode()
    pieces = [raw[:10], raw[10:20], raw[20:]]
    client.request(
        "POST",
        _jobs_path(job, "push"),
        body=iter(pieces),
        headers={"X-Internal-Secret": "test-secret", "Content-Type": "application/json"},
        encode_chunked=True,
    )
    response = client.getresponse()
    assert (response.status, response.read()) == (200, b'{"ok":true}')
    assert job.result == {"chunked": True}
    assert backend.requests[-1].headers["transfer-encoding"] == "chunked"


def test_expect_100_continue_is_honoured(backend: Backend) -> None:
    """With Expect: 100-continue the backend sends 100 Continue before reading the body."""
    job = backend.create_job()
    body = json.dumps(_push_body(job, 1)).encode()
    head = (
        f"POST {_jobs_path(job, 'push')} HTTP/1.1\r\nHost: x\r\nX-Internal-Secret: test-secret\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Expect: 100-continue\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", _port(backend)), timeout=10) as sock:
        sock.sendall(head)
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(body)
        reply = b""
        while data := sock.recv(65536):
            reply += data
    assert reply.startswith(b"HTTP/1.1 200 OK\r\n")
    assert job.result == 1


# -- error statuses --------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["push", "charge", "worker-request-id", "push/file"])
@pytest.mark.parametrize("secret", [None, "wrong-secret", ""])
def test_missing_or_wrong_secret_is_401(
    backend: Backend, client: http.client.HTTPConnection, suffix: str, secret: str | None
) -> None:
    """Every internal endpoint answers 401 without the right X-Internal-Secret."""
    job = backend.create_job()
    status, reply = _post(client, _jobs_path(job, suffix), _push_body(job, 1), secret=secret)
    assert status == 401
    assert reply["ok"] is False
    assert reply["error"]["code"] == "unauthorized"
    assert "test-secret" not in json.dumps(reply)
    assert job.pushes == []


def test_wrong_execution_token_is_403_and_stores_nothing(
    backend: Backend, client: http.client.HTTPConnection
) -> None:
    """A well-formed push, charge or upload with another token is refused with 403."""
    job = backend.create_job(execution_token="right-token")
    other = backend.create_job(execution_token="other-token")
    status, reply = _post(client, _jobs_path(job, "push"), _push_body(other, 1))
    assert (status, reply["error"]["code"]) == (403, "forbidden")
    assert "token" in reply["error"]["message"]
    assert "other-token" not in json.dumps(reply)
    assert _post(client, _jobs_path(job, "charge"), _charge_body(other, "k"))[0] == 403
    form = _file_form(other, "a.txt", b"abc")
    status, _, _ = _call(
        client, "POST", _jobs_path(job, "push/file"), form, _upload_headers(len(form))
    )
    assert status == 403
    assert (job.pushes, job.charges, job.files, job.metered_event_count) == ([], [], [], 0)


def test_unknown_job_and_unknown_path_are_404(
    backend: Backend, client: http.client.HTTPConnection
) -> None:
    """Paths outside the contract and job ids never created answer 404 with a JSON error."""
    job = backend.create_job()
    status, reply = _post(client, "/v1/internal/jobs/nope/push", _push_body(job, 1))
    assert (status, reply["error"]["code"]) == (404, "job_not_found")
    assert _post(client, _jobs_path(job, "pull"), {})[0] == 404
    assert _post(client, "/", {})[0] == 404
    assert _call(client, "GET", "/input/nope?X-Amz-Signature=1")[0] == 404


def test_wrong_method_is_405(backend: Backend, client: http.client.HTTPConnection) -> None:
    """GET on a POST endpoint (and POST on the input) answers 405 with an Allow header."""
    job = backend.create_job()
    status, response, data = _call(
        client, "GET", _jobs_path(job, "push"), headers={"X-Internal-Secret": "test-secret"}
    )
    assert (status, response.getheader("Allow")) == (405, "POST")
    assert json.loads(data)["error"]["code"] == "method_not_allowed"
    assert _post(client, f"/input/{job.job_uuid}", {})[0] == 405


@pytest.mark.parametrize(
    ("suffix", "body"),
    [
        ("push", b"not json"),
        ("push", b"[1, 2]"),
        ("push", b'{"data": NaN, "type": "json", "execution_token": "t"}'),
        ("push", b"\xff\xfe"),
        ("push", {"type": "json"}),
        ("push", {"data": 1}),
        ("push", {"data": 1, "type": 5}),
        ("push", b'{"data": 1, "type": "json"}'),
        ("push", {"execution_token": 5, "data": 1, "type": "json"}),
        ("charge", b'{"idempotency_key": "k", "count": 1}'),
        ("charge", {"count": 1}),
        ("charge", {"idempotency_key": " ", "count": 1}),
        ("charge", {"idempotency_key": "k"}),
        ("charge", {"idempotency_key": "k", "count": 0}),
        ("charge", {"idempotency_key": "k", "count": "1"}),
        ("charge", {"idempotency_key": "k", "count": True}),
        ("charge", {"idempotency_key": "k", "count": 1.5}),
        ("charge", {"idempotency_key": "k", "count": 1, "justification": [1]}),
        ("charge", {"idempotency_key": "k", "count": 1, "justification": None}),
        ("worker-request-id", {}),
        ("worker-request-id", {"request_id": 7}),
    ],
)
def test_malformed_bodies_are_400(
    backend: Backend,
    client: http.client.HTTPConnection,
    suffix: str,
    body: bytes | dict[str, object],
) -> None:
    """Bodies that are not JSON objects or lack a well-typed field answer 400, storing nothing."""
    job = backend.create_job()
    if isinstance(body, dict) and suffix != "worker-request-id":
        body = {"execution_token": job.execution_token, **body}
    status, reply = _post(client, _jobs_path(job, suffix), body)
    assert (status, reply["ok"], reply["error"]["code"]) == (400, False, "bad_request")
    assert (job.pushes, job.charges, job.request_ids) == ([], [], [])


def test_json_endpoints_require_a_json_content_type(
    backend: Backend, client: http.client.HTTPConnection
) -> None:
    """A JSON endpoint called with another Content-Type answers 415; a charset is fine."""
    job = backend.create_job()
    path = _jobs_path(job, "push")
    assert _post(client, path, _push_body(job, 1), content_type="text/plain")[0] == 415
    ok = _post(client, path, _push_body(job, 2), content_type="application/json; charset=utf-8")
    assert ok == (200, {"ok": True})


def test_json_bodies_over_the_cap_are_413(tmp_path: Path) -> None:
    """A JSON body larger than max_json_bytes answers 413, declared or chunked."""
    with Backend(max_json_bytes=1000, directory=tmp_path) as backend:
        job = backend.create_job()
        conn = _connect(backend)
        try:
            status, reply = _post(conn, _jobs_path(job, "push"), _push_body(job, "x" * 2000))
            assert (status, reply["error"]["code"]) == (413, "payload_too_large")
            raw = json.dumps(_push_body(job, "y" * 2000)).encode()
            conn.request(
                "POST",
                _jobs_path(job, "push"),
                body=iter([raw[:500], raw[500:]]),
                headers={"X-Internal-Secret": "test-secret", "Content-Type": "application/json"},
                encode_chunked=True,
            )
            response = conn.getresponse()
            assert (response.status, response.getheader("Connection")) == (413, "close")
            response.read()
            assert job.pushes == []
        finally:
            conn.close()


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        (lambda j: [_text_part("name", "a"), _text_part("execution_token", j.execution_token)],
         "part 1"),
        (lambda j: [_text_part("execution_token", j.execution_token), _text_part("name", "a")],
         "part 3"),
        (lambda j: [_text_part("execution_token", j.execution_token), _text_part("name", "a"),
                    _file_head("a", None) + b"x\r\n"],
         "Content-Type"),
        (lambda j: [_text_part("execution_token", j.execution_token), _text_part("name", "a"),
                    _text_part("file", "not a file")],
         "filename"),
        (lambda j: [_text_part("execution_token", j.execution_token), _text_part("name", "a"),
                    _file_head("a") + b"x\r\n", _text_part("extra", "1")],
         "exactly three parts"),
    ],
)  # fmt: skip
def test_multipart_of_the_wrong_shape_is_400(
    backend: Backend,
    client: http.client.HTTPConnection,
    tmp_path: Path,
    parts: Any,
    message: str,
) -> None:
    """An upload whose parts are not exactly execution_token, name, file answers 400 saying why."""
    job = backend.create_job()
    form = _form(*parts(job))
    status, _, data = _call(
        client, "POST", _jobs_path(job, "push/file"), form, _upload_headers(len(form))
    )
    reply = json.loads(data)
    assert (status, reply["error"]["code"]) == (400, "bad_request")
    assert message in reply["error"]["message"]
    assert job.files == []
    assert [p for p in (tmp_path / "backend-files").rglob("*") if p.is_file()] == []
    # The connection stays usable after a refused upload.
    assert _post(client, _jobs_path(job, "push"), _push_body(job, 1)) == (200, {"ok": True})


def test_multipart_without_a_boundary_or_closing_delimiter_is_400(
    backend: Backend, client: http.client.HTTPConnection, tmp_path: Path
) -> None:
    """A non-multipart Content-Type or a body cut before its closing boundary answers 400."""
    job = backend.create_job()
    headers = {"Content-Type": "application/json", "X-Internal-Secret": "test-secret"}
    assert _call(client, "POST", _jobs_path(job, "push/file"), b"{}", headers)[0] == 400
    form = _file_form(job, "cut.bin", b"partial")
    cut = form[: form.rindex(b"\r\n--")]
    status, _, data = _call(
        client, "POST", _jobs_path(job, "push/file"), cut, _upload_headers(len(cut))
    )
    assert status == 400
    assert "closing boundary" in json.loads(data)["error"]["message"]
    assert list((tmp_path / "backend-files").rglob("*.bin")) == []


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"GET /input/x HTTP/2.0\r\n\r\n",
        b"GET /input/x HTTP/1.1\r\nBad Header\r\n\r\n",
        b"POST /input/x HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST /input/x HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        b"POST /input/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
)
def test_malformed_http_is_refused_and_the_connection_closed(
    backend: Backend, request_bytes: bytes
) -> None:
    """Unparseable or ambiguous HTTP gets a 4xx/5xx JSON error and then the connection closes."""
    data, _ = _raw_exchange(backend, request_bytes)
    status = int(data.split(b" ", 2)[1])
    assert 400 <= status < 600
    assert b"Connection: close\r\n" in data
    assert b'"ok":false' in data


# -- connections -----------------------------------------------------------------------------


def test_keep_alive_serves_requests_on_one_connection(
    backend: Backend, client: http.client.HTTPConnection
) -> None:
    """Two requests on one HTTP/1.1 connection share a connection_id; one TCP accept."""
    job = backend.create_job()
    _, response, _ = _call(client, "GET", f"/input/{job.job_uuid}")
    assert response.getheader("Connection") == "keep-alive"
    _post(client, _jobs_path(job, "push"), _push_body(job, 1))
    first, second = backend.requests
    assert first.connection_id == second.connection_id
    assert backend.connections_accepted == 1


def test_connection_close_is_honoured(backend: Backend, client: http.client.HTTPConnection) -> None:
    """A request with Connection: close is answered with it and the server closes the socket."""
    job = backend.create_job()
    status, response, _ = _call(
        client, "GET", f"/input/{job.job_uuid}", headers={"Connection": "close"}
    )
    assert (status, response.getheader("Connection")) == (200, "close")
    _call(client, "GET", f"/input/{job.job_uuid}")
    first, second = backend.requests
    assert first.connection_id != second.connection_id
    assert backend.connections_accepted == 2


def test_recorded_requests_keep_what_was_received(
    backend: Backend, client: http.client.HTTPConnection
) -> None:
    """Each request is recorded in order with its query, case-insensitive headers and body."""
    job = backend.create_job()
    _call(client, "GET", f"/input/{job.job_uuid}?X-Amz-Signature=abc", headers={"X-Trace": "1"})
    _post(client, _jobs_path(job, "push"), _push_body(job, {"a": 1}))
    get, post = backend.requests
    assert (get.method, get.path, get.query, get.status) == (
        "GET",
        f"/input/{job.job_uuid}",
        "X-Amz-Signature=abc",
        200,
    )
    assert get.headers["x-trace"] == get.headers["X-TRACE"] == "1"
    assert "x-trace" in list(get.headers)
    assert post.json() == _push_body(job, {"a": 1})
    assert post.headers["x-internal-secret"] == "test-secret"
    assert get.received_at <= post.received_at
    assert "test-secret" not in repr(post)
    assert job.execution_token not in repr(post)


def test_close_idle_connections_breaks_the_next_request_on_them(
    backend: Backend, client: http.client.HTTPConnection
) -> None:
    """After close_idle_connections() a kept-alive connection is closed by the server."""
    job = backend.create_job()
    assert _call(client, "GET", f"/input/{job.job_uuid}")[0] == 200
    assert backend.close_idle_connections() == 1
    with pytest.raises(ConnectionError):
        _call(client, "GET", f"/input/{job.job_uuid}")
    assert len(backend.requests) == 1
    # A fresh connection works.
    assert _call(client, "GET", f"/input/{job.job_uuid}")[0] == 200
    assert backend.connections_accepted == 2
    assert backend.close_idle_connections() == 1
    assert backend.close_idle_connections() == 0


def test_close_idle_connections_leaves_busy_connections_alone(backend: Backend) -> None:
    """A connection in the middle of a request is not idle and is not closed."""
    job = backend.create_job()
    backend.inject(Fault("hang", seconds=0.5))
    conn = _connect(backend)
    outcome: list[object] = []

    def call() -> None:
        try:
            outcome.append(_call(conn, "GET", f"/input/{job.job_uuid}"))
        except Exception as exc:
            outcome.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    try:
        _wait_for(lambda: len(backend.requests) == 1)
        assert backend.close_idle_connections() == 0
    finally:
        thread.join(5)
        conn.close()
    assert isinstance(outcome[0], http.client.RemoteDisconnected)


def test_stop_closes_connections_and_ends_every_thread(tmp_path: Path) -> None:
    """stop() closes kept-alive connections, joins all backend threads and frees the port."""
    backend = Backend(directory=tmp_path).start()
    job = backend.create_job()
    conn = _connect(backend)
    try:
        assert _call(conn, "GET", f"/input/{job.job_uuid}")[0] == 200
        assert any(t.name.startswith("seekapi-backend") for t in threading.enumerate())
        backend.stop()
        backend.stop()  # idempotent
        assert not any(t.name.startswith("seekapi-backend") for t in threading.enumerate())
        with pytest.raises(ConnectionError):
            _call(conn, "GET", f"/input/{job.job_uuid}")
    finally:
        conn.close()
    assert backend.internal_errors == []


def test_a_backend_starts_once_and_binds_an_ephemeral_port(tmp_path: Path) -> None:
    """port=0 picks a free port; url and env name it; starting twice is an error."""
    with Backend(directory=tmp_path, secret="s3") as one, Backend(directory=tmp_path) as two:
        assert one.url != two.url
        assert one.url.startswith("http://127.0.0.1:")
        assert not one.url.endswith("/")
        assert one.env == {"WORKER_API_BASE_URL": one.url, "WORKER_INTERNAL_SECRET": "s3"}
        with pytest.raises(RuntimeError):
            one.start()


def test_temporary_upload_directory_is_removed_on_stop() -> None:
    """Without a directory, uploads go to a temporary directory that stop() removes."""
    with Backend() as backend:
        job = backend.create_job()
        conn = _connect(backend)
        try:
            form = _file_form(job, "t.txt", b"temp")
            _call(conn, "POST", _jobs_path(job, "push/file"), form, _upload_headers(len(form)))
        finally:
            conn.close()
        stored = Path(job.files[0].path)
        assert stored.read_bytes() == b"temp"
    assert not stored.exists()


# -- faults ----------------------------------------------------------------------------------


def test_status_fault_answers_without_processing(
    backend: Backend, client: http.client.HTTPConnection
) -> None:
    """fail_next(2, 503) answers two matching requests with 503 and its headers, then recovers."""
    job = backend.create_job()
    backend.fail_next(2, 503, headers={"Retry-After": "1"}, body=b"busy", path="/v1/internal/")
    path = _jobs_path(job, "push")
    body = json.dumps(_push_body(job, 1)).encode()
    headers = {"X-Internal-Secret": "test-secret", "Content-Type": "application/json"}
    for _ in range(2):
        status, response, data = _call(client, "POST", path, body, headers)
        assert (status, response.getheader("Retry-After"), data) == (503, "1", b"busy")
    assert job.pushes == []
    assert _post(client, path, _push_body(job, 2)) == (200, {"ok": True})
    assert [(r.status, r.fault) for r in backend.requests] == [
        (503, "status"),
        (503, "status"),
        (200, None),
    ]
    assert backend.pending_faults == []


def test_faults_match_on_method_and_path_prefix_in_order(
    backend: Backend, client: http.client.HTTPConnection
) -> None:
    """A fault applies only to matching requests; the first matching fault is used first."""
    job = backend.create_job()
    backend.fail_next(1, 500, path=_jobs_path(job, "charge"))
    backend.fail_next(1, 502, method="POST")
    backend.fail_next(1, 504)
    assert _call(client, "GET", f"/input/{job.job_uuid}")[0] == 504
    assert _post(client, _jobs_path(job, "push"), _push_body(job, 1))[0] == 502
    assert _post(client, _jobs_path(job, "charge"), _charge_body(job, "k"))[0] == 500
    assert _post(client, _jobs_path(job, "charge"), _charge_body(job, "k"))[0] == 200
    backend.inject(Fault("status", count=3, path="/input/"))
    _call(client, "GET", f"/input/{job.job_uuid}")
    assert [f.count for f in backend.pending_faults] == [2]
    backend.clear_faults()
    assert backend.pending_faults == []


def test_a_fault_path_names_one_endpoint_not_the_paths_below_it(
    backend: Backend, client: http.client.HTTPConnection
) -> None:
    """A fault for /push leaves /push/file alone, and one cut inside a segment matches nothing."""
    job = backend.create_job()
    backend.fail_next(1, 503, path=_jobs_path(job, "push"))
    backend.fail_next(1, 502, path=_jobs_path(job, "pu"))
    backend.fail_next(1, 504, path=f"/v1/internal/jobs/{job.job_uuid}")
    form = _file_form(job, "a.txt", b"a")
    upload = _call(client, "POST", _jobs_path(job, "push/file"), form, _upload_headers(len(form)))
    assert upload[0] == 200
    assert _post(client, _jobs_path(job, "push"), _push_body(job, 1))[0] == 503
    assert _post(client, _jobs_path(job, "push"), _push_body(job, 2))[0] == 200
    assert [f.status for f in backend.pending_faults] == [502, 504]


def test_a_fault_path_ending_in_a_slash_matches_every_path_below_it(
    backend: Backend, client: http.client.HTTPConnection
) -> None:
    """A fault for /v1/internal/jobs/ applies to every job endpoint, files included."""
    job = backend.create_job()
    backend.fail_next(3, 503, path="/v1/internal/jobs/")
    form = _file_form(job, "a.txt", b"a")
    upload = _call(client, "POST", _jobs_path(job, "push/file"), form, _upload_headers(len(form)))
    assert upload[0] == 503
    assert _post(client, _jobs_path(job, "push"), _push_body(job, 1))[0] == 503
    assert _post(client, _jobs_path(job, "charge"), _charge_body(job, "k"))[0] == 503
    assert _call(client, "GET", f"/input/{job.job_uuid}")[0] == 200
    assert backend.pending_faults == []


def test_fault_paths_match_exactly_and_case_sensitively() -> None:
    """Fault.matches: equal paths match, a trailing slash makes a prefix, nothing else does."""
    push = Fault("drop", path="/v1/internal/jobs/j/push")
    assert push.matches("POST", "/v1/internal/jobs/j/push")
    assert not push.matches("POST", "/v1/internal/jobs/j/push/file")
    assert not push.matches("POST", "/v1/internal/jobs/j/pushed")
    assert not push.matches("POST", "/V1/internal/jobs/j/push")
    below = Fault("drop", path="/v1/internal/jobs/j/")
    assert below.matches("POST", "/v1/internal/jobs/j/push/file")
    assert not below.matches("POST", "/v1/internal/jobs/j")
    assert Fault("drop", path="/").matches("GET", "/v1/debug/jobs")
    assert not Fault("drop").matches("GET", "/v1/debug/jobs")


def test_drop_closes_without_a_response(
    backend: Backend, client: http.client.HTTPConnection
) -> None:
    """A drop fault closes the connection (FIN) without answering: RemoteDisconnected."""
    job = backend.create_job()
    backend.inject(Fault("drop"))
    with pytest.raises(http.client.RemoteDisconnected):
        _call(client, "GET", f"/input/{job.job_uuid}")
    assert (backend.requests[0].status, backend.requests[0].fault) == (None, "drop")


def test_reset_aborts_the_connection(backend: Backend, client: http.client.HTTPConnection) -> None:
    """A reset fault aborts the connection with RST: ConnectionResetError."""
    job = backend.create_job()
    backend.inject(Fault("reset"))
    with pytest.raises(ConnectionResetError) as info:
        _call(client, "GET", f"/input/{job.job_uuid}")
    assert not isinstance(info.value, http.client.RemoteDisconnected)  # RST, not a clean FIN


def test_after_body_true_processes_the_request_before_the_fault(
    backend: Backend, client: http.client.HTTPConnection
) -> None:
    """With after_body=True the push and charge are stored although their replies are lost."""
    job = backend.create_job()
    backend.inject(Fault("drop", path=_jobs_path(job, "push")))
    backend.inject(Fault("reset", path=_jobs_path(job, "charge")))
    with pytest.raises(http.client.RemoteDisconnected):
        _post(client, _jobs_path(job, "push"), _push_body(job, {"lost": "reply"}))
    client.close()
    with pytest.raises(ConnectionResetError):
        _post(client, _jobs_path(job, "charge"), _charge_body(job, "k", 4))
    client.close()
    assert job.result == {"lost": "reply"}
    assert job.metered_event_count == 4
    # The retried charge is deduplicated.
    assert _post(client, _jobs_path(job, "charge"), _charge_body(job, "k", 4))[1] == {
        "ok": True,
        "metered_event_count": 4,
        "limit_reached": False,
    }
    assert backend.requests[0].json()["data"] == {"lost": "reply"}


def test_after_body_false_fires_before_the_body_and_stores_nothing(
    backend: Backend, client: http.client.HTTPConnection
) -> None:
    """With after_body=False the fault fires after the headers; the body is never processed."""
    job = backend.create_job()
    backend.inject(Fault("drop", after_body=False))
    with pytest.raises(http.client.RemoteDisconnected):
        _post(client, _jobs_path(job, "push"), _push_body(job, {"never": "stored"}))
    client.close()
    backend.inject(Fault("status", status=429, after_body=False))
    status, response, _ = _call(
        client,
        "POST",
        _jobs_path(job, "charge"),
        json.dumps(_charge_body(job, "k")).encode(),
        {"X-Internal-Secret": "test-secret", "Content-Type": "application/json"},
    )
    # The unread body makes the connection unusable, so the server closes it.
    assert (status, response.getheader("Connection")) == (429, "close")
    assert job.pushes == []
    assert job.charges == []
    assert [(r.body, r.fault) for r in backend.requests] == [(b"", "drop"), (b"", "status")]


def test_delay_before_the_body_still_processes_the_request(
    backend: Backend, client: http.client.HTTPConnection
) -> None:
    """A delay with after_body=False waits before reading the body, then stores and answers."""
    job = backend.create_job()
    backend.inject(Fault("delay", seconds=0.1, after_body=False))
    assert _post(client, _jobs_path(job, "push"), _push_body(job, 7)) == (200, {"ok": True})
    assert job.result == 7


@pytest.mark.parametrize("kind", ["drip", "truncate"])
def test_drip_or_truncate_before_the_body_reports_an_unprocessed_request(
    backend: Backend, client: http.client.HTTPConnection, kind: Any
) -> None:
    """drip/truncate with after_body=False deliver a 503 'not_processed' and store nothing."""
    job = backend.create_job()
    backend.inject(Fault(kind, interval=0.0, after_body=False))
    client.request(
        "POST",
        _jobs_path(job, "push"),
        json.dumps(_push_body(job, 1)).encode(),
        {"X-Internal-Secret": "test-secret", "Content-Type": "application/json"},
    )
    response = client.getresponse()
    assert response.status == 503
    if kind == "drip":
        assert json.loads(response.read())["error"]["code"] == "not_processed"
    else:
        with pytest.raises(http.client.IncompleteRead):
            response.read()
    assert job.pushes == []


def test_hang_holds_the_connection_until_stop(backend: Backend) -> None:
    """A hang fault with seconds=0 answers nothing until stop(), which ends it at once."""
    job = backend.create_job()
    backend.inject(Fault("hang"))
    conn = _connect(backend, timeout=30)
    outcome: list[object] = []

    def call() -> None:
        try:
            outcome.append(_call(conn, "GET", f"/input/{job.job_uuid}"))
        except Exception as exc:
            outcome.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    try:
        _wait_for(lambda: len(backend.requests) == 1)
        time.sleep(0.2)
        assert thread.is_alive()
        started = time.monotonic()
        backend.stop()
        thread.join(5)
        assert time.monotonic() - started < 2
        assert not thread.is_alive()
    finally:
        thread.join(5)
        conn.close()
    assert isinstance(outcome[0], ConnectionError)


def test_hang_for_some_seconds_then_closes(
    backend: Backend, client: http.client.HTTPConnection
) -> None:
    """A hang fault with seconds=s stays silent for s seconds, then closes the connection."""
    job = backend.create_job()
    backend.inject(Fault("hang", seconds=0.3))
    started = time.monotonic()
    with pytest.raises(http.client.RemoteDisconnected):
        _call(client, "GET", f"/input/{job.job_uuid}")
    assert 0.3 <= time.monotonic() - started < 3


def test_delay_waits_then_answers_normally(
    backend: Backend, client: http.client.HTTPConnection
) -> None:
    """A delay fault answers the normal response after the given seconds."""
    job = backend.create_job()
    backend.inject(Fault("delay", seconds=0.3, path=_jobs_path(job, "push")))
    started = time.monotonic()
    assert _post(client, _jobs_path(job, "push"), _push_body(job, 5)) == (200, {"ok": True})
    assert 0.3 <= time.monotonic() - started < 3
    assert job.result == 5
    assert (backend.requests[0].status, backend.requests[0].fault) == (200, "delay")


def test_drip_sends_the_response_one_byte_per_interval(backend: Backend) -> None:
    """A drip fault sends the whole normal response one byte every interval."""
    job = backend.create_job(raw_input=b'{"k": "dripped"}')
    interval = 0.002
    backend.inject(Fault("drip", interval=interval))
    request = f"GET /input/{job.job_uuid} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    started = time.monotonic()
    data, reads = _raw_exchange(backend, request.encode())
    elapsed = time.monotonic() - started
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert data.endswith(b'\r\n\r\n{"k": "dripped"}')
    assert elapsed >= interval * (len(data) - 1)
    assert elapsed < 10
    assert reads > 10  # it came in many small pieces, not at once


def test_truncate_sends_less_than_the_content_length(
    backend: Backend, client: http.client.HTTPConnection
) -> None:
    """A truncate fault declares the full length, sends part of the body and closes."""
    job = backend.create_job({"text": "x" * 100})
    backend.inject(Fault("truncate"))
    client.request("GET", f"/input/{job.job_uuid}")
    response = client.getresponse()
    assert response.status == 200
    with pytest.raises(http.client.IncompleteRead):
        response.read()


def test_truncate_of_a_generated_input_also_cuts_it_short(
    backend: Backend, client: http.client.HTTPConnection
) -> None:
    """Truncating a streamed input declares its full Content-Length and sends half."""
    job = backend.create_job(input_size=1_000_000)
    backend.inject(Fault("truncate"))
    client.request("GET", f"/input/{job.job_uuid}")
    response = client.getresponse()
    assert response.getheader("Content-Length") == "1000000"
    with pytest.raises(http.client.IncompleteRead) as info:
        response.read()
    assert len(info.value.partial) == 500_000


@pytest.mark.parametrize(("status", "expected"), [(503, 302), (307, 307), (301, 301)])
def test_redirect_answers_3xx_with_a_location(
    backend: Backend, client: http.client.HTTPConnection, status: int, expected: int
) -> None:
    """A redirect fault answers 302 (or the 3xx given) with the Location, unprocessed."""
    job = backend.create_job()
    backend.inject(Fault("redirect", status=status, location="https://elsewhere.invalid/x"))
    status_seen, response, _ = _call(
        client,
        "POST",
        _jobs_path(job, "push"),
        json.dumps(_push_body(job, 1)).encode(),
        {"X-Internal-Secret": "test-secret", "Content-Type": "application/json"},
    )
    assert (status_seen, response.getheader("Location")) == (
        expected,
        "https://elsewhere.invalid/x",
    )
    assert job.pushes == []


def test_fault_arguments_are_validated() -> None:
    """Unknown kinds, a count below 1 and a redirect without location are ValueErrors."""
    with pytest.raises(ValueError, match="kind"):
        Fault("explode")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="count"):
        Fault("drop", count=0)
    with pytest.raises(ValueError, match="location"):
        Fault("redirect")


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"seconds": float("inf")}, "seconds"),
        ({"seconds": float("nan")}, "seconds"),
        ({"seconds": 1e400}, "seconds"),
        ({"seconds": 3600.5}, "seconds"),
        ({"seconds": -0.1}, "seconds"),
        ({"seconds": True}, "seconds"),
        ({"interval": float("inf")}, "interval"),
        ({"interval": 1e6}, "interval"),
        ({"count": 10**9}, "count"),
        ({"count": 2.0}, "count"),
        ({"count": True}, "count"),
        ({"status": 503.0}, "status"),
        ({"path": "v1/internal/jobs/"}, "path"),
    ],
)
def test_fault_numbers_must_be_finite_and_in_range(arguments: dict[str, Any], named: str) -> None:
    """Non-finite, huge, negative or mistyped numbers, and a path without /, are ValueErrors."""
    with pytest.raises(ValueError, match=named):
        Fault("delay", **arguments)


def test_fault_numbers_at_the_bounds_are_accepted() -> None:
    """An hour of delay, an hour per dripped byte and a million repeats are still allowed."""
    assert Fault("delay", seconds=3600).seconds == 3600
    assert Fault("drip", interval=3600.0, count=1_000_000).count == 1_000_000
    assert Fault("hang", seconds=0).seconds == 0


# -- TLS -------------------------------------------------------------------------------------


def _tls_connect(backend: Backend, ca: trustme.CA) -> http.client.HTTPSConnection:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return http.client.HTTPSConnection("127.0.0.1", _port(backend), context=context, timeout=10)


def test_tls_backend_serves_https_with_keep_alive(tls_backend: Backend, ca: trustme.CA) -> None:
    """Over TLS the endpoints work and requests share one kept-alive connection."""
    assert tls_backend.url.startswith("https://127.0.0.1:")
    job = tls_backend.create_job({"secure": True})
    conn = _tls_connect(tls_backend, ca)
    try:
        assert json.loads(_call(conn, "GET", f"/input/{job.job_uuid}")[2]) == {"secure": True}
        assert _post(conn, _jobs_path(job, "push"), _push_body(job, 1)) == (200, {"ok": True})
    finally:
        conn.close()
    assert tls_backend.connections_accepted == 1
    assert job.result == 1


def test_tls_faults_and_idle_close_work(tls_backend: Backend, ca: trustme.CA) -> None:
    """Over TLS a drop is RemoteDisconnected and an idle connection can be closed."""
    job = tls_backend.create_job()
    conn = _tls_connect(tls_backend, ca)
    try:
        tls_backend.inject(Fault("drop"))
        with pytest.raises(http.client.RemoteDisconnected):
            _call(conn, "GET", f"/input/{job.job_uuid}")
        conn.close()
        assert _call(conn, "GET", f"/input/{job.job_uuid}")[0] == 200
        assert tls_backend.close_idle_connections() == 1
        with pytest.raises((ConnectionError, ssl.SSLError)):
            _call(conn, "GET", f"/input/{job.job_uuid}")
    finally:
        conn.close()


def test_trust_ca_makes_the_default_ssl_context_trust_the_backend(
    tls_backend: Backend, trust_ca: Path
) -> None:
    """With trust_ca, ssl.create_default_context() (what the SDK uses) verifies the backend."""
    job = tls_backend.create_job()
    conn = http.client.HTTPSConnection(
        "localhost", _port(tls_backend), context=ssl.create_default_context(), timeout=10
    )
    try:
        assert _call(conn, "GET", f"/input/{job.job_uuid}")[0] == 200
    finally:
        conn.close()
    assert trust_ca.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")


def test_an_untrusting_client_fails_the_handshake_and_the_backend_carries_on(
    tls_backend: Backend, ca: trustme.CA
) -> None:
    """A client that does not trust the certificate fails; the backend keeps serving."""
    job = tls_backend.create_job()
    conn = http.client.HTTPSConnection(
        "127.0.0.1", _port(tls_backend), context=ssl.create_default_context(), timeout=10
    )
    try:
        with pytest.raises(ssl.SSLCertVerificationError):
            _call(conn, "GET", f"/input/{job.job_uuid}")
    finally:
        conn.close()
    trusted = _tls_connect(tls_backend, ca)
    try:
        assert _call(trusted, "GET", f"/input/{job.job_uuid}")[0] == 200
    finally:
        trusted.close()


def test_isolated_env_removes_the_sdk_variables() -> None:
    """The autouse fixture leaves none of the SDK's variables in the environment."""
    import os

    leaked = [
        name
        for name in os.environ
        if name.startswith(("WORKER_", "SEEKAPI_", "SSL_CERT_")) or name.lower().endswith("_proxy")
    ]
    assert leaked == []
