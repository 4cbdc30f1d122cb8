"""``seekapi invoke`` end to end: a real ``seekapi serve`` process, ``seekapi invoke`` processes.

The emulator is started once for the module (``seekapi serve --port 0 --json``); each
test runs ``python -m seekapi invoke`` against it and reads what the job received back
from the emulator's admin API over HTTP.
"""

from __future__ import annotations

import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
HELLO = REPO / "examples" / "hello"
PAY_PER_EVENT = REPO / "examples" / "pay_per_event"
SECRET = "invoke-test-secret"

# Pushes a file and charges one key per item; prints how it was configured.
FILE_WORKER = """
import os
import seekapi

def work(data):
    job = seekapi.current_job()
    path = os.path.join(os.environ["TMPDIR"], "out.txt")
    with open(path, "w") as file:
        file.write("done\\n")
    job.push_file("out.txt", path, "text/plain")
    for i in range(data["n"]):
        job.charge(f"{job.job_uuid}:k-{i:03d}")
    return {"local_mode": os.environ.get("SEEKAPI_LOCAL_MODE")}

def handler(event, context):
    return seekapi.run(event, context, work)

def raises(event, context):
    raise ValueError("kaboom")

def sleeps(event, context):
    import time
    time.sleep(30)
"""


class Serve:
    """A running ``seekapi serve``: its URL, and its admin API."""

    def __init__(self, url: str, directory: Path) -> None:
        self.url = url
        self.directory = directory

    def get(self, path: str) -> Any:
        request = urllib.request.Request(f"{self.url}{path}", headers={"X-Internal-Secret": SECRET})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)

    def job(self, job_uuid: str) -> dict[str, Any]:
        value: dict[str, Any] = self.get(f"/v1/debug/jobs/{job_uuid}")
        return value

    def job_count(self) -> int:
        return len(self.get("/v1/debug/jobs")["jobs"])


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    """``seekapi serve --port 0 --secret SECRET --json``, stopped with SIGTERM at the end."""
    directory = tmp_path_factory.mktemp("serve")
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("WORKER_", "SEEKAPI_"))
    }
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "seekapi", "serve", "--port", "0"),
            *("--secret", SECRET, "--dir", str(directory / "jobs"), "--json"),
        ],
        cwd=directory,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        announced = json.loads(proc.stdout.readline())
        yield Serve(announced["listen_url"], directory / "jobs")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def invoke(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m seekapi invoke ARGS`` in ``cwd``, waited for."""
    return subprocess.run(
        [sys.executable, "-m", "seekapi", "invoke", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def at(serve: Serve) -> tuple[str, ...]:
    return ("--url", serve.url, "--secret", SECRET)


def one_json_object(stdout: str) -> dict[str, Any]:
    lines = stdout.splitlines()
    assert len(lines) == 1, stdout
    value: dict[str, Any] = json.loads(lines[0])
    return value


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_hello_runs_against_the_serve_and_its_result_is_shown(serve: Serve, tmp_path: Path) -> None:
    """The hello example: the job is created on serve, run, and its result read from there."""
    proc = invoke(
        str(HELLO / "handler.py"),
        *("--input-file", str(HELLO / "input.json"), "--job-uuid", "hello-1"),
        *at(serve),
        cwd=tmp_path,
    )

    assert proc.returncode == 0, proc.stderr
    assert f"(seekapi serve at {serve.url}, job hello-1)" in proc.stdout
    assert 'Returned:  {"ok": true, "request_id": "' in proc.stdout
    assert 'Result:    {"message": "hello Ada"}' in proc.stdout
    assert "\nREPORT RequestId: " in proc.stdout
    # The emulator received the push: the handler used the network path to serve.
    view = serve.job("hello-1")
    assert view["result"] == {"message": "hello Ada"}
    assert len(view["request_ids"]) == 1
    assert view["request_ids"][0] in proc.stdout
    assert f"Artifacts: {serve.directory / 'hello-1'}{os.sep}" in proc.stdout


def test_the_url_and_secret_come_from_the_variables_serve_prints(
    serve: Serve, tmp_path: Path
) -> None:
    """Without --url and --secret, the exported WORKER_API_BASE_URL and secret are used."""
    env = {
        **os.environ,
        "WORKER_API_BASE_URL": serve.url,
        "WORKER_INTERNAL_SECRET": SECRET,
    }
    proc = invoke(
        str(HELLO / "handler.py"), "--input", '{"name": "Kay"}', "--json", cwd=tmp_path, env=env
    )

    assert proc.returncode == 0, proc.stderr
    out = one_json_object(proc.stdout)
    assert out["result"] == {"message": "hello Kay"}
    assert serve.job(out["job_uuid"])["result"] == {"message": "hello Kay"}


def test_a_charging_worker_shows_its_charges_and_the_limit(serve: Serve, tmp_path: Path) -> None:
    """The pay-per-event example with --charge-limit 3 stops at the limit; --json has it all."""
    proc = invoke(
        str(PAY_PER_EVENT / "pay_per_event_worker.py"),
        *("--input-file", str(PAY_PER_EVENT / "input.json"), "--charge-limit", "3", "--json"),
        *at(serve),
        cwd=tmp_path,
    )

    assert proc.returncode == 0, proc.stderr
    out = one_json_object(proc.stdout)
    job = out["job_uuid"]
    assert out["ok"] is True
    assert out["exit_code"] == 0
    assert out["mode"] == "serve"
    assert out["url"] == serve.url
    assert out["returned"]["ok"] is True
    assert out["result"]["complete"] is False
    assert [c["idempotency_key"] for c in out["charges"]] == [
        f"{job}:item-1",
        f"{job}:item-2",
        f"{job}:item-3",
    ]
    assert out["charges"][0]["justification"] == {"item_id": "item-1"}
    assert out["metered_event_count"] == 3
    assert out["limit_reached"] is True
    assert out["report"]["memory_size_mb"] == 512
    assert out["artifacts"] == str(serve.directory / job)
    assert serve.job(job)["charges"] == out["charges"]


def test_files_and_a_long_charge_list_in_the_readable_summary(serve: Serve, tmp_path: Path) -> None:
    """A pushed file is listed; 30 charges are cut to their ends unless --all-charges."""
    (tmp_path / "worker.py").write_text(FILE_WORKER, "utf-8")
    short = invoke(
        "worker.py", "--input", '{"n": 30}', "--job-uuid", "many", *at(serve), cwd=tmp_path
    )
    whole = invoke(
        "worker.py",
        *("--input", '{"n": 30}', "--job-uuid", "many-2", "--all-charges"),
        *at(serve),
        cwd=tmp_path,
    )

    assert short.returncode == 0, short.stderr
    assert '"local_mode": null' in short.stdout  # the network path, not local mode
    assert "Files:     1\n  out.txt  5 bytes  text/plain  " in short.stdout
    assert "Charges:   30 keys, 30 units" in short.stdout
    assert "  ... 20 more (--all-charges lists them) ..." in short.stdout
    assert "many:k-004" in short.stdout
    assert "many:k-005" not in short.stdout
    assert "many:k-029" in short.stdout
    assert whole.returncode == 0, whole.stderr
    assert all(f"  many-2:k-{i:03d}  x1" in whole.stdout for i in range(30))


def test_a_failing_handler_exits_1_with_its_traceback(serve: Serve, tmp_path: Path) -> None:
    """A handler that raises: exit 1, the traceback on stderr, nothing pushed."""
    (tmp_path / "worker.py").write_text(FILE_WORKER, "utf-8")
    proc = invoke("worker.py:raises", "--input", "{}", *at(serve), cwd=tmp_path)

    assert proc.returncode == 1
    assert "Returned:  nothing: raised ValueError: kaboom" in proc.stdout
    assert "seekapi invoke: the handler raised" in proc.stderr
    assert "Result:    nothing pushed" in proc.stdout


def test_the_timeout_stops_the_handler_as_lambda_would(serve: Serve, tmp_path: Path) -> None:
    """--timeout 1 on a handler that sleeps: killed, reported as Lambda reports it, exit 1."""
    (tmp_path / "worker.py").write_text(FILE_WORKER, "utf-8")
    proc = invoke("worker.py:sleeps", "--input", "{}", "--timeout", "1", *at(serve), cwd=tmp_path)

    assert proc.returncode == 1
    assert "Returned:  nothing: Task timed out after 1.00 seconds" in proc.stdout
    assert "\tStatus: timeout" in proc.stdout


def test_a_handler_that_fails_to_import_is_an_init_failure(serve: Serve, tmp_path: Path) -> None:
    """A module raising at import: exit 1, the init error in --json, mode serve."""
    (tmp_path / "broken.py").write_text("raise RuntimeError('at import')\n", "utf-8")
    proc = invoke("broken.py", "--input", "{}", "--json", *at(serve), cwd=tmp_path)

    assert proc.returncode == 1
    out = one_json_object(proc.stdout)
    assert (out["mode"], out["url"]) == ("serve", serve.url)
    assert out["error"]["type"] == "init"
    assert out["error"]["exception"] == "RuntimeError"
    assert "seekapi invoke: importing the handler failed" in proc.stderr


def test_no_serve_at_the_url_is_a_clear_error(tmp_path: Path) -> None:
    """Nothing listening: exit 2 and a message saying to start seekapi serve; --json too."""
    url = f"http://127.0.0.1:{free_port()}"
    args = (str(HELLO / "handler.py"), "--input", "{}", "--url", url, "--secret", "s")
    proc = invoke(*args, cwd=tmp_path)
    as_json = invoke(*args, "--json", cwd=tmp_path)

    assert proc.returncode == 2
    assert f"no seekapi serve is answering at {url}: start one with 'seekapi serve'" in proc.stderr
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert as_json.returncode == 2
    out = one_json_object(as_json.stdout)
    assert out["ok"] is False
    assert out["exit_code"] == 2
    assert out["error"]["type"] == "usage"
    assert "no seekapi serve is answering" in out["error"]["message"]


def test_a_server_that_is_not_the_emulator_is_never_sent_the_secret(tmp_path: Path) -> None:
    """An HTTP server without the emulator's Server header: refused before the secret goes."""
    seen: list[dict[str, str]] = []

    class Answer(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(dict(self.headers))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        proc = invoke(
            *(str(HELLO / "handler.py"), "--input", "{}", "--url", url),
            *("--secret", "do-not-send"),
            cwd=tmp_path,
        )
    finally:
        server.shutdown()
        server.server_close()

    assert proc.returncode == 2
    assert f"the server at {url} is not a seekapi serve emulator" in proc.stderr
    assert len(seen) == 1
    assert "do-not-send" not in json.dumps(seen)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--secret", "wrong"), "refused the secret"),
        (("--job-uuid", "taken"), "has a job 'taken' already"),
    ],
)
def test_a_wrong_secret_or_a_taken_id_is_a_usage_error(
    serve: Serve, tmp_path: Path, extra: tuple[str, ...], message: str
) -> None:
    """The emulator's refusals are explained, exit 2; the handler does not run."""
    first = invoke(
        str(HELLO / "handler.py"), "--input", "{}", "--job-uuid", "taken", *at(serve), cwd=tmp_path
    )
    assert first.returncode in (0, 2)  # the second parameter finds it taken
    proc = invoke(
        str(HELLO / "handler.py"),
        *("--input", "{}", "--url", serve.url, "--secret", SECRET),
        *extra,
        cwd=tmp_path,
    )

    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Returned:" not in proc.stdout


def test_without_a_secret_or_a_handler_file_nothing_reaches_the_emulator(
    serve: Serve, tmp_path: Path
) -> None:
    """No secret given, or a handler file that is not there: exit 2, no job created."""
    jobs = serve.job_count()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKER_")}
    no_secret = invoke(
        str(HELLO / "handler.py"), "--input", "{}", "--url", serve.url, cwd=tmp_path, env=env
    )
    no_file = invoke("missing.py", "--input", "{}", *at(serve), cwd=tmp_path)

    assert no_secret.returncode == 2
    assert "no secret for the emulator" in no_secret.stderr
    assert no_file.returncode == 2
    assert "no such file: missing.py" in no_file.stderr
    assert serve.job_count() == jobs


def test_under_the_json_log_format_a_raise_is_a_json_record(serve: Serve, tmp_path: Path) -> None:
    """AWS_LAMBDA_LOG_FORMAT=JSON: the exception is in the record's fields, not a traceback."""
    (tmp_path / "worker.py").write_text(FILE_WORKER, "utf-8")
    env = {**os.environ, "AWS_LAMBDA_LOG_FORMAT": "JSON"}
    proc = invoke("worker.py:raises", "--input", "{}", *at(serve), cwd=tmp_path, env=env)

    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "seekapi invoke:" not in proc.stderr
    records = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    (record,) = [r for r in records if "errorType" in r]
    assert record["level"] == "ERROR"
    assert record["message"] == "the handler raised"
    assert (record["errorType"], record["errorMessage"]) == ("ValueError", "kaboom")
    assert any("worker.py" in frame for frame in record["stackTrace"])
    assert record["job_uuid"]
    assert record["requestId"] == record["request_id"]


@pytest.mark.parametrize("shape", ["credentials", "query", "fragment"])
def test_a_url_with_credentials_or_a_query_is_refused_before_any_job(
    serve: Serve, tmp_path: Path, shape: str
) -> None:
    """user:password@ or ?query in --url: exit 2 at once, no job, the password never shown."""
    (tmp_path / "worker.py").write_text(FILE_WORKER, "utf-8")
    scheme, _, rest = serve.url.partition("://")
    url = {
        "credentials": f"{scheme}://ada:hunter2pw@{rest}",
        "query": f"{serve.url}/?token=hunter2pw",
        "fragment": f"{serve.url}/#hunter2pw",
    }[shape]
    before = serve.job_count()
    for extra in ([], ["--json"]):
        proc = invoke(
            "worker.py", "--input", "{}", "--url", url, "--secret", SECRET, *extra, cwd=tmp_path
        )
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert "--url must" in proc.stderr
        assert "Handler:" not in proc.stdout
        if shape == "credentials":
            assert "hunter2pw" not in proc.stdout + proc.stderr
    assert serve.job_count() == before


def test_a_wrong_memory_size_is_refused_before_any_job(serve: Serve, tmp_path: Path) -> None:
    """AWS_LAMBDA_FUNCTION_MEMORY_SIZE=64: exit 2, as --memory would say, and no job."""
    (tmp_path / "worker.py").write_text(FILE_WORKER, "utf-8")
    before = serve.job_count()
    env = {**os.environ, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "64"}
    proc = invoke("worker.py", "--input", "{}", *at(serve), cwd=tmp_path, env=env)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "between 128 and 10240" in proc.stderr
    assert serve.job_count() == before
