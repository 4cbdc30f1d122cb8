"""``seekapi run --lambda``: workers under the real awslambdaric, as Lambda runs them.

Each test runs the command in a real subprocess; the command serves the Runtime API on
127.0.0.1 and starts ``python -m awslambdaric`` against it. The same log formats
without ``--lambda``, and the ``lambda_runtime`` pytest fixture, are tested here too.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

import seekapi

pytest.importorskip("awslambdaric", reason="awslambdaric (a dev dependency) runs the workers")

pytest_plugins = ["pytester"]

WORKER = """
    import importlib.util
    import logging
    import os
    import subprocess
    import sys
    import tempfile
    import time

    import seekapi

    COUNT = 0
    SEEN = ("AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_REGION",
            "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "_HANDLER", "TZ", "PYTHONPATH",
            "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "SEEKAPI_LOCAL_MODE")


    def handler(event, context):
        global COUNT
        COUNT += 1

        def work(data):
            path = os.path.join(tempfile.gettempdir(), "left-over.txt")
            before = open(path).read() if os.path.exists(path) else ""
            with open(path, "a") as file:
                file.write(f"{COUNT};")
            if COUNT == data.get("fail_at"):
                raise ValueError(f"no good at {COUNT}")
            logging.getLogger("worker").warning("invocation %d", COUNT)
            return {
                "count": COUNT,
                "pid": os.getpid(),
                "tmp_before": before,
                "tmp": tempfile.gettempdir(),
                "env": {name: os.environ.get(name) for name in SEEN},
                "seekapi_file": seekapi.__file__,
                "venv_visible": importlib.util.find_spec("trustme") is not None,
                "remaining_ms": context.get_remaining_time_in_millis(),
            }

        return seekapi.run(event, context, work)


    def sleeps(event, context):
        helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        with open(os.path.join(os.environ["LAMBDA_TASK_ROOT"], "pids"), "w") as file:
            file.write(f"{os.getpid()} {helper.pid}")
        time.sleep(60)


    def hogs(event, context):
        blob = bytearray(300 * 1024 * 1024)  # zero-filled: every page is touched
        return {"size": len(blob)}


    def too_big(event, context):
        return {"blob": "x" * 7_000_000}


    def exits(event, context):
        os._exit(3)
"""

REQUEST_ID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
REPORT = re.compile(
    rf"^REPORT RequestId: ({REQUEST_ID})\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms"
    r"\tMemory Size: (\d+) MB\tMax Memory Used: (\d+) MB(\tInit Duration: (\d+\.\d\d) ms)?"
    r"(\tStatus: (\w+))?(\tError Type: ([\w.]+))?$",
    re.MULTILINE,
)


def seekapi_run(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``python -m seekapi run ARGS`` in ``cwd``, with ``env`` added to this environment."""
    full_env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "SEEKAPI_", "WORKER_"))
    }
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "seekapi", "run", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def summary(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The one JSON object ``--json`` writes."""
    lines = proc.stdout.splitlines()
    assert len(lines) == 1, proc.stdout + proc.stderr
    value = json.loads(lines[0])
    assert isinstance(value, dict)
    return value


def json_records(text: str) -> list[dict[str, Any]]:
    """The log records of Lambda's JSON format in ``text``, one object per line."""
    records = []
    for line in text.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if isinstance(record, dict) and "level" in record:
                records.append(record)
    return records


@pytest.fixture(scope="module")
def worker_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A worker folder: handler.py and nothing else."""
    folder = tmp_path_factory.mktemp("worker")
    (folder / "handler.py").write_text(textwrap.dedent(WORKER), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def worker_zip(worker_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A packaged worker: handler.py and a copy of the installed seekapi at its root."""
    path = tmp_path_factory.mktemp("dist") / "worker.zip"
    package = Path(seekapi.__file__).parent
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(worker_dir / "handler.py", "handler.py")
        for file in sorted(package.rglob("*.py")):
            archive.write(file, f"seekapi/{file.relative_to(package).as_posix()}")
        archive.write(package / "py.typed", "seekapi/py.typed")
    return path


# -- warm invocations, environment, JSON logs ----------------------------------------------


def test_a_folder_runs_warm_over_three_invocations_with_json_logs(
    worker_dir: Path, tmp_path: Path
) -> None:
    """One process serves the three jobs: module state and /tmp carry over, the third
    fails, and its log record holds the exception in Lambda's JSON fields."""
    proc = seekapi_run(
        "--lambda", str(worker_dir), "--input", '{"fail_at": 3}', "--invocations", "3",
        "--job-uuid", "warm", "--out", str(tmp_path / "out"), "--json",
        cwd=tmp_path,
        env={"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_FUNCTION_NAME": "greeter"},
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    out = summary(proc)
    assert out["lambda"] is True
    first, second, third = out["invocations"]
    assert [call["job_uuid"] for call in out["invocations"]] == ["warm-1", "warm-2", "warm-3"]
    assert first["returned"] == {"ok": True, "request_id": first["request_id"]}
    assert (first["result"]["count"], second["result"]["count"]) == (1, 2)
    assert first["result"]["pid"] == second["result"]["pid"]
    assert (first["result"]["tmp_before"], second["result"]["tmp_before"]) == ("", "1;")
    assert third["returned"]["ok"] is False
    assert third["returned"]["error"]["code"] == "WORKER_ERROR"
    assert third["result"] is None
    # The function's own /tmp, removed with the run.
    tmp = first["result"]["tmp"]
    assert tmp != "/tmp"
    assert not os.path.exists(tmp)
    env = first["result"]["env"]
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "greeter"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/greeter"
    assert env["AWS_LAMBDA_LOG_STREAM_NAME"].endswith(env["AWS_LAMBDA_LOG_STREAM_NAME"][-32:])
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "512"
    assert env["LAMBDA_TASK_ROOT"] == str(worker_dir)
    assert env["_HANDLER"] == "handler.handler"
    assert env["TZ"] == ":UTC"
    assert env["SEEKAPI_LOCAL_MODE"] == "1"
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(worker_dir)
    assert re.fullmatch(r"127\.0\.0\.1:\d+", env["AWS_LAMBDA_RUNTIME_API"])
    assert 25_000 < first["result"]["remaining_ms"] <= 30_000
    # Init Duration on the first invocation only, as Lambda reports it.
    reports = [call["report"] for call in out["invocations"]]
    assert reports[0]["init_duration_ms"] > 0
    assert reports[1]["init_duration_ms"] is None
    assert reports[2]["init_duration_ms"] is None
    assert all(r["memory_size_mb"] == 512 and r["max_memory_used_mb"] > 5 for r in reports)
    # The log stream: the platform's lines and the function's records, on stderr.
    lines = proc.stderr.splitlines()
    for call in out["invocations"]:
        rid = call["request_id"]
        assert lines.index(f"START RequestId: {rid} Version: $LATEST") < lines.index(
            f"END RequestId: {rid}"
        )
    assert len(REPORT.findall(proc.stderr)) == 3
    _check_json_failure_record(json_records(proc.stderr), third, "no good at 3")


def _check_json_failure_record(
    records: list[dict[str, Any]], failed: dict[str, Any], message: str
) -> None:
    """seekapi's records in Lambda's JSON format: fields, not text, for ids and exceptions."""
    ours = [r for r in records if r.get("logger") == "seekapi"]
    assert ours, records
    for record in ours:
        assert not record["message"].startswith("seekapi")
        assert record["job_uuid"].startswith("warm-")
        assert record["request_id"] == record["requestId"]
    (error,) = [r for r in ours if r["level"] == "ERROR" and "errorType" in r]
    assert error["job_uuid"] == failed["job_uuid"]
    assert error["request_id"] == failed["request_id"]
    assert error["errorType"] == "ValueError"
    assert error["errorMessage"] == message
    assert any("handler.py" in frame for frame in error["stackTrace"])
    assert "Traceback" not in error["message"]
    assert "no good" not in error["message"]
    assert "\n" not in error["message"]


# -- a packaged zip, Text logs, the REPORT line --------------------------------------------


def test_a_zip_runs_with_nothing_but_what_it_holds_and_text_logs(
    worker_zip: Path, tmp_path: Path
) -> None:
    """The zip's own seekapi is used (here against the emulator), this Python's packages
    are out of reach, the logs are Lambda's text lines, and REPORT gives Init Duration on
    the first invocation."""
    proc = seekapi_run(
        "--lambda", str(worker_zip), "--input", "{}", "--invocations", "2", "--emulate",
        "--out", str(tmp_path / "out"),
        cwd=tmp_path,
        env={"AWS_LAMBDA_LOG_FORMAT": "Text", "AWS_LAMBDA_LOG_LEVEL": "INFO"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Handler:   handler.handler in " in proc.stdout
    reports = REPORT.findall(proc.stdout)
    assert len(reports) == 2
    (first_id, memory, _used, init, init_ms, *_), (second_id, _, _, second_init, *_) = reports
    assert memory == "512"
    assert init
    assert float(init_ms) > 0
    assert second_init == ""
    results = [
        json.loads(line.removeprefix("Result:    "))
        for line in proc.stdout.splitlines()
        if line.startswith("Result:    ")
    ]
    assert [r["count"] for r in results] == [1, 2]
    task_root = results[0]["env"]["LAMBDA_TASK_ROOT"]
    assert results[0]["seekapi_file"].startswith(task_root + os.sep)
    assert results[0]["venv_visible"] is False
    assert results[0]["env"]["SEEKAPI_LOCAL_MODE"] is None
    assert "(zip, awslambdaric, emulator)" in proc.stdout
    assert not os.path.exists(task_root)  # unpacked for the run, removed after it
    fetched = re.findall(
        rf"^\[INFO\]\t\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{3}}Z\t({REQUEST_ID})\tinput fetched",
        proc.stdout,
        re.MULTILINE,
    )
    assert fetched == [first_id, second_id]
    assert re.search(rf"^\[WARNING\]\t\S+Z\t{second_id}\tinvocation 2$", proc.stdout, re.M)
    assert "seekapi: " not in proc.stdout


# -- Lambda's limits ------------------------------------------------------------------------


def test_a_timeout_kills_the_process_and_everything_it_started(
    worker_dir: Path, tmp_path: Path
) -> None:
    """Past --timeout the runtime and its children are killed; the run says so as Lambda."""
    started = time.monotonic()
    proc = seekapi_run(
        "--lambda", f"{worker_dir}:sleeps", "--input", "{}", "--timeout", "1",
        "--out", str(tmp_path / "out"),
        cwd=tmp_path,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert proc.returncode == 1, proc.stderr
    assert elapsed < 30  # the handler would sleep 60 s
    assert re.search(rf"Z {REQUEST_ID} Task timed out after 1\.00 seconds$", proc.stdout, re.M)
    ((_, _, _, _, init_ms, _, status, *_),) = REPORT.findall(proc.stdout)
    assert status == "timeout"
    assert float(init_ms) > 0
    pids = (worker_dir / "pids").read_text().split()
    (worker_dir / "pids").unlink()
    for pid in pids:
        assert not _alive(int(pid)), f"process {pid} outlived the timeout"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as file:
            return file.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def test_a_worker_over_its_memory_is_killed_as_lambda_kills_it(
    worker_dir: Path, tmp_path: Path
) -> None:
    """300 MB in a 128 MB function: Runtime.OutOfMemory; the next job gets a fresh process."""
    proc = seekapi_run(
        "--lambda", f"{worker_dir}:hogs", "--input", "{}", "--memory", "128",
        "--invocations", "2", "--out", str(tmp_path / "out"), "--json",
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    calls = summary(proc)["invocations"]
    assert len(calls) == 2
    for call in calls:
        assert call["error"] == {
            "type": "exited",
            "exception": "Runtime.OutOfMemory",
            "message": "Runtime exited with error: signal: killed",
        }
        assert call["returned"] is None
        report = call["report"]
        assert report["memory_size_mb"] == 128
        assert report["max_memory_used_mb"] >= 128
        assert report["init_duration_ms"] is not None  # a cold start each time
        assert report["status"] == "error"
        assert report["error_type"] == "Runtime.OutOfMemory"
    rid = calls[0]["request_id"]
    assert f"RequestId: {rid} Error: Runtime exited with error: signal: killed\n" in proc.stderr


def test_a_response_over_six_megabytes_is_refused_as_lambda_refuses_it(
    worker_dir: Path, tmp_path: Path
) -> None:
    """A handler returning 7 MB: Function.ResponseSizeTooLarge, with Lambda's message."""
    proc = seekapi_run(
        "--lambda", f"{worker_dir}:too_big", "--input", "{}", "--json",
        "--out", str(tmp_path / "out"),
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    (call,) = summary(proc)["invocations"]
    assert call["returned"] is None
    assert call["error"] == {
        "type": "response_too_large",
        "exception": "Function.ResponseSizeTooLarge",
        "message": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
    }


def test_a_runtime_that_exits_fails_the_invocation_as_lambda_says(
    worker_dir: Path, tmp_path: Path
) -> None:
    """os._exit() in the handler: Runtime.ExitError, in Lambda's words."""
    proc = seekapi_run(
        "--lambda", f"{worker_dir}:exits", "--input", "{}", "--json",
        "--out", str(tmp_path / "out"),
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    (call,) = summary(proc)["invocations"]
    assert call["error"] == {
        "type": "exited",
        "exception": "Runtime.ExitError",
        "message": "Runtime exited with error: exit status 3",
    }
    assert call["report"]["error_type"] == "Runtime.ExitError"


def test_a_module_that_fails_to_import_is_an_init_failure(tmp_path: Path) -> None:
    """The runtime's /init/error is reported as seekapi run reports an import failure."""
    (tmp_path / "handler.py").write_text("import not_a_module_anywhere\n")
    proc = seekapi_run("--lambda", str(tmp_path), "--input", "{}", "--json", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    out = summary(proc)
    assert out["error"]["type"] == "init"
    assert out["error"]["exception"] == "Runtime.ImportModuleError"
    assert "not_a_module_anywhere" in out["error"]["message"]
    assert out["error"]["init_duration_ms"] > 0


def test_an_init_phase_near_lambdas_limit_is_warned_about(tmp_path: Path) -> None:
    """An import that takes over 8 s of the 10 s Lambda allows: a warning, and the figure."""
    (tmp_path / "handler.py").write_text(
        "import time\ntime.sleep(8.2)\n\ndef handler(event, context):\n    return {'ok': True}\n"
    )
    proc = seekapi_run("--lambda", str(tmp_path), "--input", "{}", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (call,) = summary(proc)["invocations"]
    assert call["report"]["init_duration_ms"] >= 8200
    assert "warning: the init phase took 8." in proc.stderr
    assert "Lambda stops one that takes 10 s" in proc.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["handler.py", "--invocations", "2"], "--invocations needs --lambda"),
        (["handler.py", "--memory", "256"], "--memory needs --lambda"),
        (["--lambda", ".", "--memory", "64"], "must be between 128 and 10240"),
        (["--lambda", "nowhere/"], "no such file or folder"),
    ],
)
def test_lambda_options_are_checked_before_anything_runs(
    tmp_path: Path, args: list[str], message: str
) -> None:
    """Wrong --lambda options are usage errors (exit 2)."""
    (tmp_path / "handler.py").write_text("def handler(event, context):\n    return 1\n")
    proc = seekapi_run(*args, "--input", "{}", cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr


def test_a_folder_without_the_handler_module_is_a_usage_error(tmp_path: Path) -> None:
    """Nothing starts when the folder has no handler.py: exit 2, saying what it holds."""
    (tmp_path / "app.py").write_text("def handler(event, context):\n    return 1\n")
    proc = seekapi_run("--lambda", str(tmp_path), "--input", "{}", cwd=tmp_path)
    assert proc.returncode == 2
    assert "no module 'handler'" in proc.stderr
    assert "app.py" in proc.stderr


# -- the same formats without --lambda -----------------------------------------------------


def test_without_lambda_the_json_format_puts_the_exception_in_fields(
    worker_dir: Path, tmp_path: Path
) -> None:
    """seekapi run's own handler process writes Lambda's JSON records too."""
    proc = seekapi_run(
        f"{worker_dir / 'handler.py'}", "--input", '{"fail_at": 1}', "--job-uuid", "warm-1",
        "--out", str(tmp_path / "out"), "--json",
        cwd=tmp_path,
        env={"AWS_LAMBDA_LOG_FORMAT": "json"},
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    out = summary(proc)
    failed = {"job_uuid": "warm-1", "request_id": out["request_id"]}
    records = json_records(proc.stderr)
    assert all(r["timestamp"].endswith("Z") for r in records)
    _check_json_failure_record(records, failed, "no good at 1")


def test_without_lambda_the_text_format_and_the_log_level(worker_dir: Path, tmp_path: Path) -> None:
    """Text gives Lambda's lines; AWS_LAMBDA_LOG_LEVEL sets the level unless --log-level."""
    handler = str(worker_dir / "handler.py")
    env = {"AWS_LAMBDA_LOG_FORMAT": "Text", "AWS_LAMBDA_LOG_LEVEL": "WARN"}
    quiet = seekapi_run(handler, "--input", "{}", "--out", str(tmp_path), cwd=tmp_path, env=env)
    assert quiet.returncode == 0, quiet.stderr
    assert re.search(rf"^\[WARNING\]\t\S+Z\t{REQUEST_ID}\tinvocation 1$", quiet.stderr, re.M)
    assert "[INFO]" not in quiet.stderr
    loud = seekapi_run(
        handler, "--input", "{}", "--out", str(tmp_path), "--log-level", "INFO",
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert re.search(rf"^\[INFO\]\t\S+Z\t{REQUEST_ID}\tinput fetched", loud.stderr, re.M)


# -- the lambda_runtime fixture -------------------------------------------------------------


def test_the_lambda_runtime_fixture_runs_a_worker_test_under_the_runtime_client(
    pytester: pytest.Pytester, worker_dir: Path
) -> None:
    """A worker's own test, with lambda_runtime and seekapi_emulator, passes under awslambdaric."""
    pytester.makepyfile(
        test_worker=f"""
        from seekapi.testing import start_runtime_process

        def test_warm(lambda_runtime, seekapi_emulator, tmp_path):
            start_runtime_process(lambda_runtime, "handler.handler", cwd={str(worker_dir)!r},
                                  log_dir=tmp_path, env={{"TMPDIR": str(tmp_path)}})
            first = seekapi_emulator.create_job({{}})
            second = seekapi_emulator.create_job({{}})
            a = lambda_runtime.wait(lambda_runtime.invoke(first.event, timeout_s=10))
            b = lambda_runtime.wait(lambda_runtime.invoke(second.event, timeout_s=10))
            assert a.response["ok"] and b.response["ok"]
            assert first.result["count"] + 1 == second.result["count"]
            assert first.result["pid"] == second.result["pid"]

        def test_a_broken_handler_fails(lambda_runtime, tmp_path):
            (tmp_path / "broken.py").write_text("raise ImportError('gone')")
            start_runtime_process(lambda_runtime, "broken.handler", cwd=tmp_path)
            lambda_runtime.wait(lambda_runtime.invoke({{}}, timeout_s=5))
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:hypothesispytest")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*RuntimeError: the runtime process exited*"])


def _check_uncaught_record(
    record: dict[str, Any], what: str, error_type: str, message: str, file: str
) -> None:
    """A failure seekapi run reports itself, as Lambda's JSON format writes an uncaught one."""
    assert record["level"] == "ERROR"
    assert record["message"] == what
    assert not record["message"].startswith("seekapi")
    assert record["errorType"] == error_type
    assert record["errorMessage"] == message
    assert any(file in frame for frame in record["stackTrace"])
    assert record["timestamp"].endswith("Z")


def test_without_lambda_a_raise_and_an_import_failure_are_json_records(tmp_path: Path) -> None:
    """Under the JSON format the handler's uncaught exception and an import failure are
    records with errorType, errorMessage and stackTrace, not a plain traceback."""
    (tmp_path / "raises.py").write_text('def handler(e, c):\n    raise KeyError("boom")\n')
    (tmp_path / "broken.py").write_text("import not_a_module_anywhere\n")
    env = {"AWS_LAMBDA_LOG_FORMAT": "JSON"}
    raised = seekapi_run(
        "raises.py", "--input", "{}", "--job-uuid", "j-1", "--out", str(tmp_path / "out"),
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert raised.returncode == 1, raised.stderr
    assert "Traceback" not in raised.stderr
    assert "seekapi run:" not in raised.stderr
    (record,) = [r for r in json_records(raised.stderr) if "errorType" in r]
    _check_uncaught_record(record, "the handler raised", "KeyError", "'boom'", "raises.py")
    assert record["job_uuid"] == "j-1"
    assert re.fullmatch(REQUEST_ID, record["requestId"])
    assert record["request_id"] == record["requestId"]
    broken = seekapi_run("broken.py", "--input", "{}", cwd=tmp_path, env=env)
    assert broken.returncode == 1, broken.stderr
    assert "Traceback" not in broken.stderr
    (record,) = [r for r in json_records(broken.stderr) if "errorType" in r]
    _check_uncaught_record(
        record,
        "importing the handler failed",
        "ModuleNotFoundError",
        "No module named 'not_a_module_anywhere'",
        "broken.py",
    )
    # --json keeps its error object as it was.
    out = summary(seekapi_run("raises.py", "--input", "{}", "--json", cwd=tmp_path, env=env))
    assert "stack_trace" not in out["error"]


# -- zips Lambda would refuse, and what unpacking keeps -------------------------------------

HANDLER_SOURCE = "def handler(event, context):\n    return {'ok': True}\n"


def _corrupt_zip(path: Path) -> None:
    """A zip whose deflate data is garbage: the central directory is fine."""
    data = b"x" * 4000
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("handler.py", HANDLER_SOURCE)
        archive.writestr("data.bin", data)
    raw = bytearray(path.read_bytes())
    header = raw.find(b"PK\x03\x04", raw.find(b"data.bin") - 40)
    start = header + 30 + len("data.bin")
    raw[start : start + 8] = b"\xff" * 8
    path.write_bytes(bytes(raw))


def _unsupported_zip(path: Path) -> None:
    """A zip whose member says compression method 99 (AES, WinZip's), unknown to zipfile."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("handler.py", HANDLER_SOURCE)
    raw = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        at = raw.find(signature)
        raw[at + offset : at + offset + 2] = (99).to_bytes(2, "little")
    path.write_bytes(bytes(raw))


def _encrypted_zip(path: Path) -> None:
    """A zip whose member has the 'encrypted' flag set, as a password-protected one has."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("handler.py", HANDLER_SOURCE)
    raw = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = raw.find(signature)
        raw[at + offset] |= 0x01
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("make", [_corrupt_zip, _unsupported_zip, _encrypted_zip])
def test_a_zip_that_cannot_be_unpacked_is_a_one_line_error(tmp_path: Path, make: Any) -> None:
    """Corrupt data, an unknown compression method, a password: one line, no traceback."""
    path = tmp_path / "worker.zip"
    make(path)
    for extra in ([], ["--json"]):
        proc = seekapi_run("--lambda", str(path), "--input", "{}", *extra, cwd=tmp_path)
        assert proc.returncode in (1, 2), proc.stdout + proc.stderr
        assert "Traceback" not in proc.stderr
        assert "cannot unpack worker.zip" in proc.stderr
        if extra:
            assert '"internal"' not in proc.stdout


def test_a_zip_over_lambdas_unzipped_limit_is_refused_before_it_is_unpacked(
    tmp_path: Path,
) -> None:
    """Over 250 MB of files (a highly compressible one here): refused as Lambda refuses it."""
    path = tmp_path / "big.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("handler.py", HANDLER_SOURCE)
        with archive.open("zeros.bin", "w", force_zip64=True) as file:
            chunk = b"\0" * (1 << 20)
            for _ in range(251):
                file.write(chunk)
    proc = seekapi_run("--lambda", str(path), "--input", "{}", cwd=tmp_path)
    assert proc.returncode in (1, 2), proc.stderr
    assert "Traceback" not in proc.stderr
    assert "over Lambda's limit of 262,144,000 bytes" in proc.stderr


def test_a_zip_keeps_its_files_modes_and_its_names_safe(tmp_path: Path) -> None:
    """A packaged tool.sh with mode 755 runs; a name with .. lands inside the task root."""
    path = tmp_path / "worker.zip"
    handler = (
        "import os, subprocess\n"
        "def handler(event, context):\n"
        "    root = os.environ['LAMBDA_TASK_ROOT']\n"
        "    out = subprocess.run([os.path.join(root, 'tool.sh')], capture_output=True,"
        " text=True, check=True).stdout.strip()\n"
        "    return {'ok': True, 'tool': out, 'up': os.path.exists(os.path.join(root, 'up.txt'))}\n"
    )
    tool = zipfile.ZipInfo("tool.sh")
    tool.external_attr = 0o100755 << 16
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("handler.py", handler)
        archive.writestr(tool, "#!/bin/sh\necho tool ran\n")
        archive.writestr("../up.txt", "outside?")
    proc = seekapi_run("--lambda", str(path), "--input", "{}", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (call,) = summary(proc)["invocations"]
    assert call["returned"] == {"ok": True, "tool": "tool ran", "up": True}
    assert not (tmp_path / "up.txt").exists()


def test_memory_counts_the_processes_the_handler_started(tmp_path: Path) -> None:
    """A subprocess holding 400 MB in a 128 MB function: the process tree is over, so the
    invocation fails with Runtime.OutOfMemory, and Max Memory Used counts the child."""
    (tmp_path / "handler.py").write_text(
        "import subprocess, sys\n"
        "def handler(event, context):\n"
        "    code = 'import time; b = b\"x\" * (400 * 1024 * 1024); time.sleep(20)'\n"
        "    subprocess.run([sys.executable, '-c', code], check=True)\n"
        "    return {'ok': True}\n"
    )
    proc = seekapi_run(
        "--lambda", str(tmp_path), "--input", "{}", "--memory", "128", "--json",
        "--out", str(tmp_path / "out"),
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    (call,) = summary(proc)["invocations"]
    assert call["error"]["exception"] == "Runtime.OutOfMemory"
    assert call["report"]["max_memory_used_mb"] > 128


@pytest.mark.parametrize("value", ["64", "20000", "lots", "-1"])
def test_a_memory_size_lambda_would_not_allow_is_refused(tmp_path: Path, value: str) -> None:
    """AWS_LAMBDA_FUNCTION_MEMORY_SIZE outside 128 to 10240, or not a number: exit 2 saying
    so, with and without --lambda; --memory, which wins over it, makes the run go ahead."""
    (tmp_path / "handler.py").write_text(HANDLER_SOURCE)
    env = {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": value}
    for args in (["handler.py"], ["--lambda", str(tmp_path)]):
        proc = seekapi_run(*args, "--input", "{}", cwd=tmp_path, env=env)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert "AWS_LAMBDA_FUNCTION_MEMORY_SIZE is" in proc.stderr
        assert "between 128 and 10240" in proc.stderr
    proc = seekapi_run(
        "--lambda", str(tmp_path), "--input", "{}", "--memory", "256", "--json",
        "--out", str(tmp_path / "out"),
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (call,) = summary(proc)["invocations"]
    assert call["report"]["memory_size_mb"] == 256


def test_an_init_phase_over_lambdas_limit_is_said_to_have_timed_out(tmp_path: Path) -> None:
    """An import that takes over 10 s: 'timed out in init', not 'importing failed', with
    Lambda's INIT_REPORT line; with and without --lambda."""
    (tmp_path / "handler.py").write_text(
        "import time\ntime.sleep(10.5)\n\ndef handler(event, context):\n    return {'ok': True}\n"
    )
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "seekapi", "run", *args, "--input", "{}"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in (["handler.py"], ["--lambda", str(tmp_path)])
    ]
    for run in runs:
        _, stderr = run.communicate(timeout=60)
        assert run.returncode == 1, stderr
        assert "the init phase timed out after 10 s" in stderr
        assert "importing the handler failed" not in stderr
        assert re.search(r"^INIT_REPORT Init Duration: \d+\.\d\d ms\tPhase: init\tStatus: timeout$",
                         stderr, re.M)  # fmt: skip


@pytest.mark.parametrize("log_format", ["JSON", "Text"])
def test_a_log_level_that_is_not_one_is_ignored_with_or_without_lambda(
    worker_dir: Path, tmp_path: Path, log_format: str
) -> None:
    """AWS_LAMBDA_LOG_LEVEL=bogus: a warning, then the level of an unset variable, both
    ways: INFO without --lambda and under JSON, the runtime's WARNING for Text."""
    env = {"AWS_LAMBDA_LOG_FORMAT": log_format, "AWS_LAMBDA_LOG_LEVEL": "bogus"}
    unset = {"AWS_LAMBDA_LOG_FORMAT": log_format}
    out = ["--input", "{}", "--out", str(tmp_path / "out")]
    for args, info_shown in (
        ([str(worker_dir / "handler.py")], True),
        (["--lambda", str(worker_dir)], log_format == "JSON"),
    ):
        proc = seekapi_run(*args, *out, cwd=tmp_path, env=env)
        assert proc.returncode == 0, proc.stderr
        assert "AWS_LAMBDA_LOG_LEVEL='bogus' is not a log level" in proc.stderr
        logs = proc.stdout + proc.stderr
        assert ("input fetched" in logs) is info_shown, logs
        assert "invocation 1" in logs  # the worker's WARNING record
        plain = seekapi_run(*args, *out, cwd=tmp_path, env=unset)
        assert ("input fetched" in plain.stdout + plain.stderr) is info_shown


def test_a_timed_out_invocation_reports_the_timeout_as_its_duration(tmp_path: Path) -> None:
    """--timeout 1: Duration is 1000.00 ms, as Lambda reports a timeout, both ways."""
    (tmp_path / "handler.py").write_text(
        "import time\ndef handler(event, context):\n    time.sleep(30)\n"
    )
    out = ["--input", "{}", "--timeout", "1", "--out", str(tmp_path / "out")]
    plain = seekapi_run("handler.py", *out, "--json", cwd=tmp_path)
    assert plain.returncode == 1, plain.stderr
    assert summary(plain)["report"]["duration_ms"] == 1000.0
    runtime = seekapi_run("--lambda", str(tmp_path), *out, cwd=tmp_path)
    assert runtime.returncode == 1, runtime.stderr
    assert "\tDuration: 1000.00 ms\t" in runtime.stdout


def test_a_zip_built_for_another_python_or_machine_gets_a_hint(tmp_path: Path) -> None:
    """Wheel tags and extension names for another interpreter and architecture: the
    import failure is followed by a hint naming them."""
    other = f"{sys.version_info.major}{sys.version_info.minor + 1}"
    path = tmp_path / "worker.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("handler.py", "import fastthing\n" + HANDLER_SOURCE)
        archive.writestr(
            "fastthing-1.0.dist-info/WHEEL",
            f"Wheel-Version: 1.0\nTag: cp{other}-cp{other}-manylinux_2_17_s390x\n",
        )
        archive.writestr(f"fastthing.cpython-{other}-s390x-linux-gnu.so", b"\x7fELF not really")
    proc = seekapi_run("--lambda", str(path), "--input", "{}", "--json", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    error = summary(proc)["error"]
    assert error["exception"] == "Runtime.ImportModuleError"
    (hint,) = [line for line in proc.stderr.splitlines() if line.startswith("hint:")]
    assert f"fastthing-1.0.dist-info (cp{other}-cp{other}-manylinux_2_17_s390x)" in hint
    assert f"fastthing.cpython-{other}-s390x-linux-gnu.so" in hint
    assert error["hint"] == hint
    # A zip built for this Python says nothing more.
    plain = tmp_path / "plain.zip"
    with zipfile.ZipFile(plain, "w") as archive:
        archive.writestr("handler.py", "import not_a_module_anywhere\n")
    proc = seekapi_run("--lambda", str(plain), "--input", "{}", cwd=tmp_path)
    assert proc.returncode == 1
    assert "hint:" not in proc.stderr
