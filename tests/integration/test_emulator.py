"""The backend emulator: local-mode storage, the admin API, statuses through the SDK, binding."""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import seekapi
from seekapi.errors import HTTPStatusError
from seekapi.testing import Backend, reset_sdk_state

SECRET = "test-secret"
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def _request(
    backend: Backend,
    method: str,
    path: str,
    body: object = None,
    *,
    secret: str | None = SECRET,
    raw: bytes | None = None,
    content_type: str | None = "application/json",
) -> tuple[int, Any, http.client.HTTPResponse]:
    host, port = backend.address
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        headers = {}
        if secret is not None:
            headers["X-Internal-Secret"] = secret
        if content_type is not None:
            headers["Content-Type"] = content_type
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        payload = response.read()
        if response.getheader("Content-Type") != "application/json":
            return response.status, payload, response
        return response.status, json.loads(payload), response
    finally:
        conn.close()


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").split("\n") if line]


def _use(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SEEKAPI_LOCAL_MODE", "SEEKAPI_LOCAL_DIR", "WORKER_API_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reset_sdk_state()


def _exercise(event: dict[str, str], upload: Path) -> None:
    """The same calls, whether they go to local mode or to the emulator."""
    ctx = seekapi.create_context(event)
    seekapi.push_data(ctx, {"text": "héllo \u2028 wörld", "n": [1, 2.5, None]})
    seekapi.push_data(ctx, {"final": True}, type="json")
    seekapi.push_file(ctx, "report.csv", str(upload), "text/csv")
    seekapi.push_file(ctx, "dir/report.csv", str(upload), "text/csv")
    seekapi.push_file(ctx, "..", str(upload))
    seekapi.charge(ctx, "job-1:a", 2, justification={"item": "a"})
    seekapi.charge(ctx, "job-1:a", 2, justification={"item": "a"})
    seekapi.charge(ctx, "job-1:b")


# -- storage in the local-mode layout -----------------------------------------------------


def test_the_emulator_stores_exactly_what_local_mode_writes(
    backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same pushes and charges leave identical files in local mode and in the emulator."""
    upload = tmp_path / "upload.csv"
    upload.write_bytes(b"a,b\n1,2\n")
    event = {"job_uuid": "job-1", "execution_token": "tok-1", "input_presigned_url": ""}
    local_root = tmp_path / "local"
    _use({"SEEKAPI_LOCAL_MODE": "1", "SEEKAPI_LOCAL_DIR": str(local_root)}, monkeypatch)
    _exercise(event, upload)
    job = backend.create_job(job_uuid="job-1", execution_token="tok-1")
    _use(backend.env, monkeypatch)
    _exercise(event, upload)

    local_dir, emulated_dir = local_root / "job-1", job.directory
    assert emulated_dir == backend.directory / "job-1"
    assert sorted(p.name for p in emulated_dir.iterdir()) == sorted(
        p.name for p in local_dir.iterdir()
    )
    assert (emulated_dir / "response_json.json").read_bytes() == (
        local_dir / "response_json.json"
    ).read_bytes()
    for name, stamp, count in (
        ("data_pushes.jsonl", "pushed_at", 2),
        ("file_pushes.jsonl", "pushed_at", 3),
        ("charges.jsonl", "charged_at", 2),  # one line per distinct key
    ):
        compared = []
        for folder in (emulated_dir, local_dir):
            lines = _lines(folder / name)
            assert all(TIME.match(line[stamp]) for line in lines)
            for line in lines:
                line[stamp] = "<time>"
                if "stored_path" in line:
                    line["stored_path"] = os.path.relpath(line["stored_path"], folder)
            compared.append([list(line.items()) for line in lines])  # values and key order
        assert compared[0] == compared[1], name
        assert len(compared[0]) == count, name
    files = sorted(p.name for p in (emulated_dir / "files").iterdir())
    assert files == sorted(p.name for p in (local_dir / "files").iterdir())
    assert files == ["_..", "report-2.csv", "report.csv"]
    assert all((emulated_dir / "files" / n).read_bytes() == upload.read_bytes() for n in files)


def test_received_files_point_at_their_stored_copies(configured: Backend, tmp_path: Path) -> None:
    """Job.files lists each upload with the path of its copy in the job's files/ folder."""
    source = tmp_path / "notes.txt"
    source.write_text("first", "utf-8")
    job = configured.create_job()
    ctx = seekapi.create_context(job.event)
    seekapi.push_file(ctx, "notes.txt", str(source))
    source.write_text("second", "utf-8")
    seekapi.push_file(ctx, "notes.txt", str(source))
    first, second = job.files
    assert Path(first.path) == job.directory / "files" / "notes.txt"
    assert Path(second.path) == job.directory / "files" / "notes-2.txt"
    assert (Path(first.path).read_text("utf-8"), Path(second.path).read_text("utf-8")) == (
        "first",
        "second",
    )
    lines = _lines(job.directory / "file_pushes.jsonl")
    assert [(line["stored_name"], line["size_bytes"]) for line in lines] == [
        ("notes.txt", 5),
        ("notes-2.txt", 6),
    ]


def test_a_rejected_upload_leaves_no_file_behind(configured: Backend, tmp_path: Path) -> None:
    """An upload with the wrong execution token is refused with 403 and stores nothing."""
    source = tmp_path / "a.bin"
    source.write_bytes(b"x" * 100)
    job = configured.create_job()
    ctx = seekapi.create_context({**job.event, "execution_token": "wrong"})
    with pytest.raises(HTTPStatusError) as info:
        seekapi.push_file(ctx, "a.bin", str(source))
    assert info.value.status == 403
    assert job.files == []
    assert list((job.directory / "files").iterdir()) == []
    assert not (job.directory / "file_pushes.jsonl").exists()


def test_a_push_holding_a_lone_surrogate_is_stored_with_escapes(backend: Backend) -> None:
    """A pushed string that UTF-8 cannot hold is stored as an ASCII escape, not refused."""
    job = backend.create_job()
    body = f'{{"execution_token": "{job.execution_token}", "data": "\\ud800", "type": "json"}}'
    status, reply, _ = _request(
        backend, "POST", f"/v1/internal/jobs/{job.job_uuid}/push", raw=body.encode()
    )
    assert (status, reply) == (200, {"ok": True})
    assert (job.directory / "response_json.json").read_text("ascii") == '"\\ud800"'
    assert job.result == "\ud800"
    assert backend.internal_errors == []


# -- statuses, dedup and the limit, through the SDK -----------------------------------------


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"secret": "wrong"}, 401),
        ({"execution_token": "wrong"}, 403),
        ({"job_uuid": "no-such-job"}, 404),
    ],
)
def test_the_sdk_sees_the_emulators_refusals(
    backend: Backend, monkeypatch: pytest.MonkeyPatch, change: dict[str, str], status: int
) -> None:
    """A wrong secret is 401, a wrong token 403 and an unknown job 404, as HTTPStatusError."""
    job = backend.create_job()
    _use(backend.env, monkeypatch)
    ctx = seekapi.create_context(job.event)
    ctx.update(change)
    with pytest.raises(HTTPStatusError) as info:
        seekapi.charge(ctx, "k")
    assert info.value.status == status
    assert job.charges == []


def test_charges_are_deduplicated_and_counted_up_to_the_limit(configured: Backend) -> None:
    """A repeated key bills nothing; limit_reached turns true when the count reaches the limit."""
    job = configured.create_job(charge_limit=3)
    ctx = seekapi.create_context(job.event)
    assert seekapi.charge(ctx, "a", 2) == {
        "ok": True,
        "metered_event_count": 2,
        "limit_reached": False,
    }
    assert seekapi.charge(ctx, "a", 2)["metered_event_count"] == 2
    assert seekapi.charge(ctx, "b") == {"ok": True, "metered_event_count": 3, "limit_reached": True}
    assert (job.metered_event_count, job.limit_reached) == (3, True)
    assert [line["idempotency_key"] for line in _lines(job.directory / "charges.jsonl")] == [
        "a",
        "b",
    ]


def test_a_charge_limit_of_zero_reports_the_limit_on_the_first_charge(configured: Backend) -> None:
    """charge_limit=0 models a client with no budget left: the first charge says so."""
    job = configured.create_job(charge_limit=0)
    assert seekapi.charge(seekapi.create_context(job.event), "a")["limit_reached"] is True


@pytest.mark.parametrize("limit", [-1, 1.5, True, "3"])
def test_create_job_refuses_a_bad_charge_limit(backend: Backend, limit: Any) -> None:
    """A charge limit that is not a whole number >= 0 is a ValueError."""
    with pytest.raises(ValueError, match="charge_limit"):
        backend.create_job(charge_limit=limit)


def test_create_job_refuses_a_blank_or_taken_job_uuid(backend: Backend) -> None:
    """A blank job id, or one already used, is a ValueError."""
    backend.create_job(job_uuid="taken")
    with pytest.raises(ValueError, match="blank"):
        backend.create_job(job_uuid=" ")
    with pytest.raises(ValueError, match="already exists"):
        backend.create_job(job_uuid="taken")


def _charge_over_http(backend: Backend, job_uuid: str, token: str, key: str, count: int) -> Any:
    body = {"execution_token": token, "idempotency_key": key, "count": count}
    status, reply, _ = _request(backend, "POST", f"/v1/internal/jobs/{job_uuid}/charge", body)
    assert status == 200, reply
    return reply


def test_a_new_emulator_on_the_same_folder_continues_the_charge_ledger(tmp_path: Path) -> None:
    """A job made again in the same directory keeps its ledger: no duplicate lines, same count."""
    keys = ["a", "b", "c", "d", "e"]
    for _ in range(2):  # as `seekapi serve --dir` restarted, or `seekapi run --emulate` twice
        with Backend(directory=tmp_path) as backend:
            job = backend.create_job(job_uuid="job-1", execution_token="tok", charge_limit=4)
            replies = [_charge_over_http(backend, "job-1", "tok", key, 1) for key in keys]
            assert [r["metered_event_count"] for r in replies] == [1, 2, 3, 4, 5]
            assert [r["limit_reached"] for r in replies] == [False] * 3 + [True] * 2
            assert (job.metered_event_count, job.limit_reached) == (5, True)
            assert [c["idempotency_key"] for c in job.charges] == keys
    ledger = _lines(tmp_path / "job-1" / "charges.jsonl")
    assert [line["idempotency_key"] for line in ledger] == keys


def test_a_continued_ledger_counts_new_keys_on_top_of_the_old_ones(tmp_path: Path) -> None:
    """Charges from an earlier run count towards the limit, with their justification kept."""
    with Backend(directory=tmp_path) as first:
        first.create_job(job_uuid="job-1", execution_token="tok")
        token_body = {"execution_token": "tok", "idempotency_key": "a", "count": 2}
        path = "/v1/internal/jobs/job-1/charge"
        assert _request(first, "POST", path, {**token_body, "justification": {"n": 1}})[0] == 200
    with Backend(directory=tmp_path) as second:
        job = second.create_job(job_uuid="job-1", execution_token="tok", charge_limit=3)
        assert (job.metered_event_count, job.limit_reached) == (2, False)
        assert job.charges == [{"idempotency_key": "a", "count": 2, "justification": {"n": 1}}]
        assert _charge_over_http(second, "job-1", "tok", "b", 1) == {
            "ok": True,
            "metered_event_count": 3,
            "limit_reached": True,
        }
        view = _request(second, "GET", "/v1/debug/jobs/job-1")[1]
        assert [c["idempotency_key"] for c in view["charges"]] == ["a", "b"]
        assert view["metered_event_count"] == 3


def test_the_emulator_reads_a_ledger_as_local_mode_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Repeated keys, damaged lines and an unfinished last line count the same in both."""
    folder = tmp_path / "job-1"
    folder.mkdir()
    lines = [
        {"idempotency_key": "a", "count": 2, "justification": None},
        {"idempotency_key": "a", "count": 7, "justification": None},  # a repeat counts once
        {"idempotency_key": "b", "count": 1.5},  # not a whole count: ignored
        {"idempotency_key": 3, "count": 1},  # not a text key: ignored
        ["not", "an", "object"],
        {"idempotency_key": "c", "count": 3, "justification": {"why": "x"}},
    ]
    text = "".join(json.dumps(line) + "\n" for line in lines)
    text += "{not json\n" + '{"idempotency_key": "d", "count": 100}'  # no newline: unfinished
    (folder / "charges.jsonl").write_text(text, "utf-8")

    with Backend(directory=tmp_path) as backend:
        job = backend.create_job(job_uuid="job-1", execution_token="tok")
        emulated = (job.metered_event_count, [c["idempotency_key"] for c in job.charges])
    assert emulated == (5, ["a", "c"])

    fixtures = tmp_path / "fixtures.json"
    fixtures.write_text('{"charge_limit": 1000}', "utf-8")
    _use(
        {
            "SEEKAPI_LOCAL_MODE": "1",
            "SEEKAPI_LOCAL_DIR": str(tmp_path),
            "SEEKAPI_LOCAL_FIXTURES": str(fixtures),
        },
        monkeypatch,
    )
    ctx = seekapi.create_context({"job_uuid": "job-1", "execution_token": "tok"})
    assert seekapi.charge(ctx, "a")["metered_event_count"] == 5


def test_a_repeated_key_from_an_earlier_run_gets_the_answer_it_got_then(tmp_path: Path) -> None:
    """A key billed in an earlier run bills nothing and answers the count it was billed at."""
    with Backend(directory=tmp_path) as first:
        first.create_job(job_uuid="job-1", execution_token="tok")
        for key in ("a", "b"):
            _charge_over_http(first, "job-1", "tok", key, 2)
    with Backend(directory=tmp_path) as second:
        job = second.create_job(job_uuid="job-1", execution_token="tok", charge_limit=2)
        assert _charge_over_http(second, "job-1", "tok", "a", 2) == {
            "ok": True,
            "metered_event_count": 2,
            "limit_reached": True,
        }
        assert job.metered_event_count == 4
    assert len(_lines(tmp_path / "job-1" / "charges.jsonl")) == 2


# -- the admin API -------------------------------------------------------------------------


def test_admin_creates_a_job_and_answers_its_event(backend: Backend) -> None:
    """POST /v1/debug/jobs answers 201 with the event, and the job serves the given input."""
    status, event, response = _request(
        backend,
        "POST",
        "/v1/debug/jobs",
        {"input": {"name": "Ada"}, "job_uuid": "job-9", "charge_limit": 2},
    )
    assert status == 201
    assert set(event) == {"job_uuid", "execution_token", "input_presigned_url"}
    assert event["job_uuid"] == "job-9"
    assert response.getheader("Location") == "/v1/debug/jobs/job-9"
    job = backend.job("job-9")
    assert (job.execution_token, job.input_url, job.charge_limit) == (
        event["execution_token"],
        event["input_presigned_url"],
        2,
    )
    assert seekapi.get_input(event) == {"name": "Ada"}


def test_admin_job_creation_accepts_an_empty_body_and_any_content_type(backend: Backend) -> None:
    """No body makes a job with a new id and the input {}; the Content-Type is not checked."""
    status, event, _ = _request(backend, "POST", "/v1/debug/jobs", content_type=None)
    assert status == 201
    assert seekapi.get_input(event) == {}
    status, other, _ = _request(
        backend, "POST", "/v1/debug/jobs", {"input": [1]}, content_type="text/plain"
    )
    assert status == 201
    assert other["job_uuid"] != event["job_uuid"]
    assert seekapi.get_input(other) == [1]


@pytest.mark.parametrize(
    "body",
    [
        {"input": {}, "colour": "red"},
        {"job_uuid": 7},
        {"job_uuid": "  "},
        {"execution_token": ""},
        {"charge_limit": -1},
        {"charge_limit": "2"},
        {"charge_limit": True},
        [1, 2],
    ],
)
def test_admin_job_creation_refuses_a_malformed_body_with_400(
    backend: Backend, body: object
) -> None:
    """Unknown fields and wrongly typed ones answer 400 and create no job."""
    status, reply, _ = _request(backend, "POST", "/v1/debug/jobs", body)
    assert (status, reply["error"]["code"]) == (400, "bad_request")
    assert _request(backend, "GET", "/v1/debug/jobs")[1] == {"jobs": []}


def test_admin_refuses_a_job_that_exists_with_409(backend: Backend) -> None:
    """Creating a job whose id is taken answers 409 and leaves the first job as it was."""
    first = backend.create_job({"v": 1}, job_uuid="dup")
    status, reply, _ = _request(backend, "POST", "/v1/debug/jobs", {"job_uuid": "dup"})
    assert (status, reply["error"]["code"]) == (409, "conflict")
    assert backend.job("dup").execution_token == first.execution_token


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/debug/jobs"),
        ("GET", "/v1/debug/jobs"),
        ("GET", "/v1/debug/faults"),
        ("POST", "/v1/debug/faults"),
        ("DELETE", "/v1/debug/faults"),
    ],
)
def test_admin_calls_need_the_secret(backend: Backend, method: str, path: str) -> None:
    """Without the right X-Internal-Secret every admin call answers 401 and changes nothing."""
    body = {"kind": "status"} if path.endswith("faults") else {}
    assert _request(backend, method, path, body, secret=None)[0] == 401
    assert _request(backend, method, path, body, secret="nope")[0] == 401
    assert backend.pending_faults == []
    assert _request(backend, "GET", "/v1/debug/jobs")[1] == {"jobs": []}


def test_admin_lists_jobs_and_views_one(configured: Backend) -> None:
    """GET /v1/debug/jobs lists every job; GET /v1/debug/jobs/{id} shows one, without its token."""
    job = configured.create_job(job_uuid="listed")
    seekapi.push_data(seekapi.create_context(job.event), {"r": 1})
    status, listing, _ = _request(configured, "GET", "/v1/debug/jobs")
    assert status == 200
    assert listing == {
        "jobs": [
            {
                "job_uuid": "listed",
                "pushes": 1,
                "files": 0,
                "metered_event_count": 0,
                "limit_reached": False,
                "directory": str(job.directory),
            }
        ]
    }
    status, view, _ = _request(configured, "GET", "/v1/debug/jobs/listed")
    assert (status, view["result"], view["directory"]) == (200, {"r": 1}, str(job.directory))
    assert job.execution_token not in json.dumps(view)
    assert _request(configured, "GET", "/v1/debug/jobs/unknown")[0] == 404


def test_admin_arms_lists_and_clears_faults(backend: Backend) -> None:
    """POST /v1/debug/faults arms a fault that the next matching request meets; DELETE clears."""
    job = backend.create_job()
    status, reply, _ = _request(
        backend,
        "POST",
        "/v1/debug/faults",
        {"kind": "status", "status": 503, "count": 2, "body": "busy", "headers": {"A": "b"}},
    )
    assert (status, reply["ok"], [f["count"] for f in reply["faults"]]) == (201, True, [2])
    # Admin calls do not use up a fault armed for every path.
    listed = _request(backend, "GET", "/v1/debug/faults")[1]["faults"]
    assert listed == [
        {
            "kind": "status",
            "count": 2,
            "path": None,
            "method": None,
            "status": 503,
            "headers": {"A": "b"},
            "body": "busy",
            "seconds": 0.0,
            "interval": 0.1,
            "location": "",
            "after_body": True,
        }
    ]
    status, body, response = _request(backend, "GET", f"/input/{job.job_uuid}", raw=b"")
    assert (status, body, response.getheader("A")) == (503, b"busy", "b")
    assert [f.count for f in backend.pending_faults] == [1]
    status, reply, _ = _request(backend, "DELETE", "/v1/debug/faults")
    assert (status, reply) == (200, {"ok": True, "cleared": 1})
    assert backend.pending_faults == []


def test_admin_fault_for_a_path_delays_the_matching_request(configured: Backend) -> None:
    """A delay fault armed through the admin API holds the matching call for its seconds."""
    job = configured.create_job()
    path = f"/v1/internal/jobs/{job.job_uuid}/push"
    fault = {"kind": "delay", "seconds": 0.3, "path": path, "method": "POST"}
    assert _request(configured, "POST", "/v1/debug/faults", fault)[0] == 201
    seekapi.push_data(seekapi.create_context(job.event), 1)
    (request,) = [r for r in configured.requests if r.path == path]
    assert (request.status, request.fault) == (200, "delay")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"kind": "explode"},
        {"kind": "status", "status": 42},
        {"kind": "status", "count": 0},
        {"kind": "status", "count": True},
        {"kind": "status", "seconds": "1"},
        {"kind": "status", "headers": {"A": 1}},
        {"kind": "status", "body": 5},
        {"kind": "redirect"},
        {"kind": "status", "speed": 3},
        {"kind": "delay", "seconds": 3601},
        {"kind": "delay", "seconds": -1},
        {"kind": "drip", "interval": 1e300},
        {"kind": "status", "count": 10**20},
        {"kind": "status", "path": "push"},
    ],
)
def test_admin_refuses_a_malformed_fault_with_400(backend: Backend, body: object) -> None:
    """An unknown kind or field, a wrong type or a refused value answers 400, arming nothing."""
    status, reply, _ = _request(backend, "POST", "/v1/debug/faults", body)
    assert (status, reply["error"]["code"]) == (400, "bad_request")
    assert backend.pending_faults == []


def test_admin_says_which_fault_number_is_out_of_range(backend: Backend) -> None:
    """An infinite delay is refused with 400 naming seconds; the next request is served."""
    job = backend.create_job()
    fault = b'{"kind": "delay", "seconds": 1e400}'  # valid JSON, read as infinity
    status, reply, _ = _request(backend, "POST", "/v1/debug/faults", raw=fault)
    assert status == 400
    assert "seconds" in reply["error"]["message"]
    assert "3600" in reply["error"]["message"]
    assert _request(backend, "GET", f"/input/{job.job_uuid}")[0] == 200
    assert backend.internal_errors == []


def test_a_worker_in_another_process_is_driven_through_the_admin_api(backend: Backend) -> None:
    """A job made over HTTP is run by a worker process; its result and charges show in the view."""
    status, event, _ = _request(
        backend, "POST", "/v1/debug/jobs", {"input": {"items": ["a", "b", "c"]}, "charge_limit": 2}
    )
    assert status == 201
    script = textwrap.dedent(
        """
        import json, sys
        import seekapi
        from seekapi.testing import FakeLambdaContext

        def work(data):
            job = seekapi.current_job()
            done = []
            for item in data["items"]:
                done.append(item)
                job.charge(f"{job.job_uuid}:{item}")
                if job.limit_reached:
                    job.stop({"done": done})
            return {"done": done}

        print(json.dumps(seekapi.run(json.loads(sys.argv[1]), FakeLambdaContext(20), work)))
        """
    )
    env = {**backend.env, "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    out = subprocess.run(
        [sys.executable, "-c", script, json.dumps(event)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    returned = json.loads(out.stdout)
    assert (returned["ok"], returned["stopped"]) == (True, "limit_reached")
    view = _request(backend, "GET", f"/v1/debug/jobs/{event['job_uuid']}")[1]
    assert view["result"] == {"done": ["a", "b"]}
    assert (view["metered_event_count"], view["limit_reached"]) == (2, True)
    assert len(view["request_ids"]) == 1


# -- what it says about itself, and where it listens ----------------------------------------


def test_responses_name_the_emulator(backend: Backend) -> None:
    """Every response carries Server: seekapi-emulator."""
    response = _request(backend, "GET", "/nowhere")[2]
    assert response.status == 404
    assert response.getheader("Server") == "seekapi-emulator"


def test_it_binds_to_loopback_by_default(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The default host is 127.0.0.1, and binding there logs no warning."""
    with caplog.at_level(logging.WARNING, "seekapi.testing"), Backend(directory=tmp_path) as b:
        assert b.address[0] == "127.0.0.1"
        assert b.url == f"http://127.0.0.1:{b.address[1]}"
    assert caplog.records == []


def test_a_wildcard_bind_warns_and_advertises_loopback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Listening on 0.0.0.0 logs that it is a development tool; its URL is still connectable."""
    wildcard = Backend(host="0.0.0.0", directory=tmp_path)
    with caplog.at_level(logging.WARNING, "seekapi.testing"), wildcard as b:
        assert b.url == f"http://127.0.0.1:{b.address[1]}"
        job = b.create_job({"x": 1})
        assert seekapi.get_input(job.event) == {"x": 1}
    (record,) = caplog.records
    assert "development tool" in record.getMessage()


def test_public_url_is_what_workers_are_given(tmp_path: Path) -> None:
    """With public_url, env and input URLs use it, while the server listens where it was told."""
    public = "http://host.docker.internal:8787/"
    with Backend(directory=tmp_path, public_url=public) as b:
        assert b.env["WORKER_API_BASE_URL"] == "http://host.docker.internal:8787"
        job = b.create_job()
        assert job.event["input_presigned_url"].startswith(
            f"http://host.docker.internal:8787/input/{job.job_uuid}?"
        )
        assert b.address[0] == "127.0.0.1"
