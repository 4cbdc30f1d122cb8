"""The ``seekapi`` command line, end to end: ``python -m seekapi`` in subprocesses.

Argument errors and ``--help``, which stop before anything runs, call :func:`main` in
the test process.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from seekapi.cli import main

REPO = Path(__file__).resolve().parents[2]
HELLO = REPO / "examples" / "hello"
REPORT = re.compile(
    r"^REPORT RequestId: [0-9a-f-]{36}\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms"
    r"\tMemory Size: 512 MB\tMax Memory Used: \d+ MB",
    re.MULTILINE,
)

# A worker that pushes a file, charges, prints to stdout and reports how it was configured.
WORKER = """
import os
import seekapi

def work(data):
    job = seekapi.current_job()
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "report.csv")
    with open(path, "w") as file:
        file.write("a,b\\n1,2\\n")
    job.push_file("report.csv", path, "text/csv")
    for item in data["items"]:
        job.charge(f"{job.job_uuid}:{item}")
    print("a line the worker prints")
    return {
        "items": len(data["items"]),
        "local_mode": os.environ.get("SEEKAPI_LOCAL_MODE"),
        "backend_set": bool(os.environ.get("WORKER_API_BASE_URL")),
    }

def handler(event, context):
    return seekapi.run(event, context, work)
"""

MISBEHAVING = """
import time
import seekapi

def handler(event, context):
    raise ValueError("kaboom from the handler")

def fails_inside_run(event, context):
    def work(data):
        raise RuntimeError("kaboom inside run")
    return seekapi.run(event, context, work)

def slow_inside_run(event, context):
    return seekapi.run(event, context, lambda data: time.sleep(30))

def sleeps(event, context):
    time.sleep(30)

def one_argument(event):
    return {"ok": True}

not_a_function = 42
"""


def seekapi(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m seekapi ARGS`` in ``cwd`` and wait for it."""
    return subprocess.run(
        [sys.executable, "-m", "seekapi", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def one_json_object(stdout: str) -> dict[str, Any]:
    """The only line of ``stdout``, parsed: --json writes exactly one object."""
    lines = stdout.splitlines()
    assert len(lines) == 1, stdout
    value = json.loads(lines[0])
    assert isinstance(value, dict)
    return value


# -- run -----------------------------------------------------------------------------------


def test_run_hello_in_local_mode_prints_the_result_and_writes_artifacts(tmp_path: Path) -> None:
    """The hello example succeeds in local mode, its result is shown and written under --out."""
    proc = seekapi(
        "run",
        str(HELLO / "handler.py"),
        "--input-file",
        str(HELLO / "input.json"),
        "--out",
        "out",
        "--job-uuid",
        "hello-1",
        cwd=tmp_path,
    )

    assert proc.returncode == 0, proc.stderr
    assert 'Returned:  {"ok": true, "request_id": "' in proc.stdout
    assert 'Result:    {"message": "hello Ada"}' in proc.stdout
    assert REPORT.search(proc.stdout), proc.stdout
    artifacts = tmp_path / "out" / "hello-1"
    assert json.loads((artifacts / "response_json.json").read_text()) == {"message": "hello Ada"}
    # The SDK's stage logs are shown on stderr, with the job id.
    assert re.search(r"INFO +input fetched .*\[job=hello-1 request=", proc.stderr)


def test_run_json_is_one_object_with_the_outcome(tmp_path: Path) -> None:
    """--json writes one JSON object holding the return value, result and report."""
    proc = seekapi(
        "run", str(HELLO / "handler.py"), "--input", '{"name": "Grace"}', "--json", cwd=tmp_path
    )

    assert proc.returncode == 0, proc.stderr
    out = one_json_object(proc.stdout)
    assert out["ok"] is True
    assert out["exit_code"] == 0
    assert out["mode"] == "local"
    assert out["job_uuid"].startswith("local-")
    assert out["returned"] == {"ok": True, "request_id": out["request_id"]}
    assert out["result"] == {"message": "hello Grace"}
    assert out["report"]["memory_size_mb"] == 512
    assert out["report"]["max_memory_used_mb"] > 0
    # The default --out is .seekapi-local in the working directory.
    assert out["artifacts"] == str(tmp_path / ".seekapi-local" / out["job_uuid"])


@pytest.mark.parametrize("mode", ["local", "emulate"])
def test_run_reports_files_and_charges_in_both_modes(tmp_path: Path, mode: str) -> None:
    """Files, charges and the spending limit are reported from local artifacts or the emulator."""
    write(tmp_path / "worker.py", WORKER)
    extra = ["--emulate"] if mode == "emulate" else []
    proc = seekapi(
        "run",
        "worker.py",
        "--input",
        '{"items": ["a", "b", "c"]}',
        "--charge-limit",
        "3",
        "--json",
        *extra,
        cwd=tmp_path,
    )

    assert proc.returncode == 0, proc.stderr
    out = one_json_object(proc.stdout)  # what the worker printed went to stderr
    assert "a line the worker prints" in proc.stderr
    assert out["mode"] == mode
    assert out["result"] == {
        "items": 3,
        "local_mode": "1" if mode == "local" else None,
        "backend_set": mode == "emulate",
    }
    job = out["job_uuid"]
    assert [(c["idempotency_key"], c["count"]) for c in out["charges"]] == [
        (f"{job}:a", 1),
        (f"{job}:b", 1),
        (f"{job}:c", 1),
    ]
    assert out["metered_event_count"] == 3
    assert out["limit_reached"] is True
    [pushed] = out["files"]
    assert (pushed["name"], pushed["size"], pushed["content_type"]) == ("report.csv", 8, "text/csv")
    assert Path(pushed["path"]).read_text() == "a,b\n1,2\n"


def test_run_in_local_mode_ignores_backend_variables_from_the_shell(tmp_path: Path) -> None:
    """Local mode writes files even when WORKER_API_BASE_URL points at a dead backend."""
    env = {
        **os.environ,
        "WORKER_API_BASE_URL": "http://127.0.0.1:9",
        "WORKER_INTERNAL_SECRET": "x",
    }
    proc = seekapi(
        "run",
        str(HELLO / "handler.py"),
        "--input",
        "{}",
        "--job-uuid",
        "j",
        cwd=tmp_path,
        env=env,
    )

    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / ".seekapi-local" / "j" / "response_json.json").exists()


def test_run_readable_output_lists_files_and_charges(tmp_path: Path) -> None:
    """The readable summary names each file with its size and type, and each charge key."""
    write(tmp_path / "worker.py", WORKER)
    proc = seekapi(
        "run", "worker.py", "--input", '{"items": ["x"]}', "--job-uuid", "j7", cwd=tmp_path
    )

    assert proc.returncode == 0, proc.stderr
    assert re.search(
        r"report\.csv +8 bytes +text/csv +\.seekapi-local/j7/files/report\.csv", proc.stdout
    )
    assert re.search(r"j7:x +x1", proc.stdout)
    assert "metered total 1; limit reached: no" in proc.stdout


@pytest.mark.parametrize(
    ("function", "shown"),
    [
        ("handler", "ValueError: kaboom from the handler"),
        ("fails_inside_run", "RuntimeError: kaboom inside run"),
    ],
)
def test_run_handler_failure_exits_1_with_its_traceback(
    tmp_path: Path, function: str, shown: str
) -> None:
    """A handler that raises, or returns a failure, exits 1 and shows the traceback."""
    write(tmp_path / "bad.py", MISBEHAVING)
    proc = seekapi("run", f"bad.py:{function}", "--input", "{}", cwd=tmp_path)

    assert proc.returncode == 1
    assert "Traceback (most recent call last)" in proc.stderr
    assert shown in proc.stderr
    assert REPORT.search(proc.stdout), proc.stdout


def test_run_timeout_inside_run_is_worker_timeout_within_the_limit(tmp_path: Path) -> None:
    """Worker code that sleeps past --timeout is interrupted: WORKER_TIMEOUT, exit 1, on time."""
    write(tmp_path / "bad.py", MISBEHAVING)
    started = time.monotonic()
    proc = seekapi(
        "run", "bad.py:slow_inside_run", "--input", "{}", "--timeout", "2", "--json", cwd=tmp_path
    )
    elapsed = time.monotonic() - started

    assert proc.returncode == 1, proc.stderr
    out = one_json_object(proc.stdout)
    assert out["returned"]["error"]["code"] == "WORKER_TIMEOUT"
    assert elapsed < 2 + 2.5


def test_run_handler_past_the_lambda_timeout_is_ended_like_lambda(tmp_path: Path) -> None:
    """A handler without run() that outlives --timeout is stopped: 'Task timed out', exit 1."""
    write(tmp_path / "bad.py", MISBEHAVING)
    started = time.monotonic()
    proc = seekapi("run", "bad.py:sleeps", "--input", "{}", "--timeout", "1", cwd=tmp_path)
    elapsed = time.monotonic() - started

    assert proc.returncode == 1, proc.stderr
    assert "Task timed out after 1.00 seconds" in proc.stdout
    assert re.search(r"^REPORT .*\tStatus: timeout$", proc.stdout, re.MULTILINE)
    assert elapsed < 1 + 2.5


STUBBORN = """
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

def swallows_everything(event, context):
    while True:
        try:
            time.sleep(10)
        except BaseException:
            pass

def waits_for_its_threads(event, context):
    pool = ThreadPoolExecutor()
    pool.submit(time.sleep, 8)
    while True:
        try:
            pool.shutdown(wait=True)
            return {"ok": True}
        except BaseException:
            pass

def starts_a_process(event, context):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    with open(os.environ["PID_FILE"], "w") as file:
        file.write(str(child.pid))
    while True:
        try:
            time.sleep(10)
        except BaseException:
            pass
"""


def _assert_timed_out_report(out: dict[str, Any], timeout: float) -> None:
    assert out["error"] == {
        "type": "timeout",
        "message": f"Task timed out after {timeout:.2f} seconds",
    }
    report = out["report"]
    assert report["timed_out"] is True
    assert timeout * 1000 <= report["duration_ms"] < timeout * 1000 + 500
    assert timeout * 1000 <= report["billed_duration_ms"] < timeout * 1000 + 501


def test_run_timeout_stops_a_handler_that_swallows_every_exception(tmp_path: Path) -> None:
    """A handler looping over 'except BaseException: pass' is ended at --timeout, exit 1."""
    write(tmp_path / "stubborn.py", STUBBORN)
    temp = tmp_path / "temp"
    temp.mkdir()
    started = time.monotonic()
    proc = seekapi(
        "run",
        "stubborn.py:swallows_everything",
        "--input",
        "{}",
        "--timeout",
        "2",
        cwd=tmp_path,
        env={**os.environ, "TMPDIR": str(temp)},
        timeout=15,
    )
    elapsed = time.monotonic() - started

    assert proc.returncode == 1, proc.stderr
    assert "Task timed out after 2.00 seconds" in proc.stdout
    duration = re.search(r"\tDuration: ([\d.]+) ms\tBilled Duration: (\d+) ms", proc.stdout)
    assert duration is not None, proc.stdout
    assert 2000 <= float(duration[1]) < 2500
    assert 2000 <= int(duration[2]) < 2501
    assert elapsed < 4
    assert list(temp.iterdir()) == []  # the run's temporary folders are gone


def test_run_timeout_stops_a_handler_waiting_for_its_threads(tmp_path: Path) -> None:
    """A handler blocked in ThreadPoolExecutor's shutdown is ended at --timeout, not after."""
    write(tmp_path / "stubborn.py", STUBBORN)
    started = time.monotonic()
    proc = seekapi(
        "run",
        "stubborn.py:waits_for_its_threads",
        "--input",
        "{}",
        "--timeout",
        "1",
        "--json",
        cwd=tmp_path,
        timeout=15,
    )
    elapsed = time.monotonic() - started

    assert proc.returncode == 1, proc.stderr
    _assert_timed_out_report(one_json_object(proc.stdout), 1.0)
    assert elapsed < 3


def test_run_timeout_ends_the_processes_the_handler_started(tmp_path: Path) -> None:
    """At --timeout the processes the handler started are ended with it."""
    write(tmp_path / "stubborn.py", STUBBORN)
    pid_file = tmp_path / "pid"
    proc = seekapi(
        "run",
        "stubborn.py:starts_a_process",
        "--input",
        "{}",
        "--timeout",
        "1",
        "--json",
        cwd=tmp_path,
        env={**os.environ, "PID_FILE": str(pid_file)},
        timeout=15,
    )

    assert proc.returncode == 1, proc.stderr
    _assert_timed_out_report(one_json_object(proc.stdout), 1.0)
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as file:
            return file.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


EXITING = """
import os
import sys

def calls_sys_exit(event, context):
    sys.exit(0)

def calls_os_exit(event, context):
    os._exit(0)

def returns_nan(event, context):
    return {"ok": True, "ratio": float("nan")}

def returns_a_set(event, context):
    return {"ok": True, "tags": {"a"}}
"""


@pytest.mark.parametrize(
    "source",
    [
        "import sys\nsys.exit(0)\n",
        "raise SystemExit\n",
        "raise KeyboardInterrupt\n",
        "import os\nos._exit(0)\n",
    ],
)
def test_run_a_module_ending_the_process_at_import_is_an_init_failure(
    tmp_path: Path, source: str
) -> None:
    """sys.exit(), SystemExit, KeyboardInterrupt or os._exit() at import: init failure, exit 1."""
    (tmp_path / "quits.py").write_text(source)
    proc = seekapi("run", "quits.py", "--input", "{}", "--json", cwd=tmp_path)

    assert proc.returncode == 1, proc.stderr
    out = one_json_object(proc.stdout)
    assert out["ok"] is False
    assert out["exit_code"] == 1
    assert out["error"]["type"] == "init"
    assert out["error"]["exception"] in ("SystemExit", "KeyboardInterrupt", "Runtime.ExitError")
    assert "importing the handler failed" in proc.stderr


def test_run_sys_exit_at_import_without_json_exits_1_saying_so(tmp_path: Path) -> None:
    """Without --json, sys.exit(0) at import exits 1 and says what happened on stderr."""
    (tmp_path / "quits.py").write_text("import sys\nsys.exit(0)\n")
    proc = seekapi("run", "quits.py", "--input", "{}", cwd=tmp_path)

    assert proc.returncode == 1
    assert "sys.exit(0) was called while importing the handler" in proc.stderr


@pytest.mark.parametrize(
    ("function", "kind", "exception"),
    [
        ("calls_sys_exit", "raised", "SystemExit"),
        ("calls_os_exit", "exited", "Runtime.ExitError"),
    ],
)
def test_run_a_handler_ending_its_process_is_a_failure(
    tmp_path: Path, function: str, kind: str, exception: str
) -> None:
    """A handler calling sys.exit() or os._exit() is the worker failing: exit 1."""
    write(tmp_path / "exiting.py", EXITING)
    proc = seekapi("run", f"exiting.py:{function}", "--input", "{}", "--json", cwd=tmp_path)

    assert proc.returncode == 1, proc.stderr
    out = one_json_object(proc.stdout)
    assert (out["error"]["type"], out["error"]["exception"]) == (kind, exception)


@pytest.mark.parametrize(
    ("function", "reason"),
    [
        ("returns_nan", "Out of range float values"),
        ("returns_a_set", "set is not JSON serializable"),
    ],
)
@pytest.mark.parametrize("json_mode", [True, False])
def test_run_a_return_value_that_is_not_json_is_a_failure(
    tmp_path: Path, function: str, reason: str, json_mode: bool
) -> None:
    """A return value holding NaN or a set is not sent back: exit 1, and --json stays JSON."""
    write(tmp_path / "exiting.py", EXITING)
    extra = ["--json"] if json_mode else []
    proc = seekapi("run", f"exiting.py:{function}", "--input", "{}", *extra, cwd=tmp_path)

    assert proc.returncode == 1, proc.stderr
    assert "NaN" not in proc.stdout
    if json_mode:
        out = one_json_object(proc.stdout)
        assert out["returned"] is None
        assert out["error"]["type"] == "marshal"
        assert out["error"]["message"].startswith("the handler's return value is not valid JSON")
        assert reason in out["error"]["message"]
    else:
        assert "the handler's return value is not valid JSON" in proc.stdout
        assert reason in proc.stdout


LAMBDA_ENV = """
import os

NAMES = [
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "_HANDLER",
    "LAMBDA_TASK_ROOT",
]
AT_IMPORT = {name: os.environ.get(name) for name in NAMES}

def handler(event, context):
    return {
        "ok": True,
        "at_import": AT_IMPORT,
        "context": {
            "function_name": context.function_name,
            "function_version": context.function_version,
            "memory_limit_in_mb": str(context.memory_limit_in_mb),
            "log_group_name": context.log_group_name,
            "log_stream_name": context.log_stream_name,
            "invoked_function_arn": context.invoked_function_arn,
        },
    }
"""


def test_run_sets_the_lambda_variables_matching_the_context(tmp_path: Path) -> None:
    """The AWS_LAMBDA_* variables, region, _HANDLER and task root are set, as the context says."""
    project = tmp_path / "project"
    project.mkdir()
    write(project / "fn.py", LAMBDA_ENV)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "_HANDLER"))}
    proc = seekapi("run", "project/fn.py", "--input", "{}", "--json", cwd=tmp_path, env=env)

    assert proc.returncode == 0, proc.stderr
    returned = one_json_object(proc.stdout)["returned"]
    seen, context = returned["at_import"], returned["context"]
    assert seen["AWS_LAMBDA_FUNCTION_NAME"] == context["function_name"] == "seekapi-worker"
    assert seen["AWS_LAMBDA_FUNCTION_VERSION"] == context["function_version"] == "$LATEST"
    assert seen["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == context["memory_limit_in_mb"] == "512"
    assert seen["AWS_LAMBDA_LOG_GROUP_NAME"] == context["log_group_name"]
    assert context["log_group_name"] == "/aws/lambda/seekapi-worker"
    assert seen["AWS_LAMBDA_LOG_STREAM_NAME"] == context["log_stream_name"]
    assert re.fullmatch(r"\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}", context["log_stream_name"])
    assert seen["AWS_REGION"] == seen["AWS_DEFAULT_REGION"] == "us-east-1"
    assert context["invoked_function_arn"].startswith("arn:aws:lambda:us-east-1:")
    assert seen["_HANDLER"] == "fn.handler"
    assert seen["LAMBDA_TASK_ROOT"] == str(project)


def test_run_keeps_lambda_variables_already_set_and_the_context_follows(tmp_path: Path) -> None:
    """A function name, memory size and region set in the shell are kept, in the context too."""
    write(tmp_path / "fn.py", LAMBDA_ENV)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "_HANDLER"))},
        "AWS_LAMBDA_FUNCTION_NAME": "resize",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }
    proc = seekapi("run", "fn.py", "--input", "{}", "--json", cwd=tmp_path, env=env)

    assert proc.returncode == 0, proc.stderr
    out = one_json_object(proc.stdout)
    seen, context = out["returned"]["at_import"], out["returned"]["context"]
    assert seen["AWS_LAMBDA_FUNCTION_NAME"] == context["function_name"] == "resize"
    assert seen["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == context["memory_limit_in_mb"] == "1024"
    assert out["report"]["memory_size_mb"] == 1024
    assert context["log_group_name"] == "/aws/lambda/resize"
    assert seen["AWS_REGION"] == seen["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert context["invoked_function_arn"].startswith("arn:aws:lambda:eu-west-1:")
    assert context["invoked_function_arn"].endswith(":function:resize")


def test_run_in_process_relays_the_handler_output_to_captured_streams(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Called in-process with captured streams, what the handler prints still reaches them."""
    write(tmp_path / "worker.py", WORKER)
    monkeypatch.chdir(tmp_path)

    assert main(["run", "worker.py", "--input", '{"items": []}', "--json"]) == 0
    captured = capsys.readouterr()
    assert one_json_object(captured.out)["result"]["items"] == 0
    assert "a line the worker prints" in captured.err


@pytest.mark.parametrize(
    ("input_args", "message"),
    [
        (["--input", '{"name": "Ada",}'], "line 1, column 16"),
        (["--input", "NaN"], "NaN is not valid JSON"),
        (["--input-file", "broken.json"], "--input-file broken.json is not valid JSON"),
        (["--input-file", "missing.json"], "cannot read --input-file missing.json"),
    ],
)
def test_run_bad_input_exits_2_saying_where(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    input_args: list[str],
    message: str,
) -> None:
    """Invalid input JSON or an unreadable input file is a usage error that says where."""
    (tmp_path / "broken.json").write_text('{\n  "a": 1\n  "b": 2\n}\n')
    monkeypatch.chdir(tmp_path)

    assert main(["run", str(HELLO / "handler.py"), *input_args]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / ".seekapi-local").exists()


def test_run_bad_input_file_points_at_the_broken_line(tmp_path: Path) -> None:
    """The error for a broken input file gives its line and column and shows that line."""
    (tmp_path / "broken.json").write_text('{\n  "a": 1\n  "b": 2\n}\n')
    proc = seekapi("run", str(HELLO / "handler.py"), "--input-file", "broken.json", cwd=tmp_path)

    assert proc.returncode == 2
    assert "Expecting ',' delimiter at line 3, column 3" in proc.stderr
    assert '\n    "b": 2\n    ^\n' in proc.stderr


@pytest.mark.parametrize(
    ("handler", "message"),
    [
        ("nowhere.py", "no such file: nowhere.py"),
        ("bad.py:nope", "bad.py has no function 'nope'"),
        ("bad.py:not_a_function", "'not_a_function' in bad.py is a int, not a function"),
        ("bad.py:one_argument", "cannot be called as a Lambda handler"),
        ("no_such_module", "no module named 'no_such_module'"),
    ],
)
def test_run_missing_handler_exits_2(tmp_path: Path, handler: str, message: str) -> None:
    """A missing file, module or function, or one Lambda could not call, exits 2."""
    write(tmp_path / "bad.py", MISBEHAVING)
    proc = seekapi("run", handler, "--input", "{}", cwd=tmp_path)

    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_run_loads_a_module_and_lambda_style_names(tmp_path: Path) -> None:
    """'package.module:function' and Lambda's 'module.function' both name a handler."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    write(package / "worker.py", WORKER)

    with_colon = seekapi("run", "pkg.worker:handler", "--input", '{"items": []}', cwd=tmp_path)
    lambda_style = seekapi("run", "pkg.worker.handler", "--input", '{"items": []}', cwd=tmp_path)

    assert with_colon.returncode == 0, with_colon.stderr
    assert lambda_style.returncode == 0, lambda_style.stderr
    assert "Handler:   pkg.worker:handler (local mode" in with_colon.stdout
    assert "Handler:   pkg.worker:handler (local mode" in lambda_style.stdout


def test_run_json_names_the_function_a_lambda_style_name_resolved_to(tmp_path: Path) -> None:
    """'pkg.worker.main' runs worker's main, and --json's "handler" says pkg.worker:main."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "worker.py").write_text(
        "def main(event, context):\n    return {'ok': True, 'from': 'main'}\n"
    )
    proc = seekapi("run", "pkg.worker.main", "--input", "{}", "--json", cwd=tmp_path)

    assert proc.returncode == 0, proc.stderr
    out = one_json_object(proc.stdout)
    assert out["handler"] == "pkg.worker:main"
    assert out["returned"] == {"ok": True, "from": "main"}


def test_run_file_handler_imports_its_sibling_modules(tmp_path: Path) -> None:
    """A handler file imports modules next to it, wherever the command is run from."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "helper.py").write_text("def greet(name):\n    return f'hi {name}'\n")
    write(
        project / "main.py",
        """
        import seekapi
        from helper import greet

        def handler(event, context):
            return seekapi.run(event, context, lambda data: {"text": greet(data["name"])})
        """,
    )
    proc = seekapi("run", "project/main.py", "--input", '{"name": "Lin"}', "--json", cwd=tmp_path)

    assert proc.returncode == 0, proc.stderr
    assert one_json_object(proc.stdout)["result"] == {"text": "hi Lin"}


def test_run_import_error_in_the_worker_exits_1_with_its_traceback(tmp_path: Path) -> None:
    """A worker module that fails while being imported is the worker's failure: exit 1."""
    (tmp_path / "broken.py").write_text("import not_installed_anywhere\n")
    proc = seekapi("run", "broken.py", "--input", "{}", cwd=tmp_path)

    assert proc.returncode == 1
    assert "ModuleNotFoundError: No module named 'not_installed_anywhere'" in proc.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "handler.py"],  # no input
        ["run", "handler.py", "--input", "{}", "--input-file", "x.json"],  # both
        ["run", "handler.py", "--input", "{}", "--timeout", "0"],
        ["run", "handler.py", "--input", "{}", "--timeout", "soon"],
        ["run", "--input", "{}"],  # no handler
        ["run", "handler.py", "--input", "{}", "--no-such-option"],
        ["serve", "--port", "70000"],
        ["init"],
        ["no-such-command"],
        [],
    ],
)
def test_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """Wrong or missing arguments are reported with the usage, and the status is 2."""
    assert main(argv) == 2
    assert "usage: seekapi" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "handler.py", "--json"],  # no input
        ["run", "handler.py", "--input", "{}", "--timeout", "-1", "--json"],
        ["run", "handler.py", "--input", "{}", "--log-level", "LOUD", "--json"],
        ["run", "handler.py", "--js"],  # an abbreviation argparse accepts
        ["serve", "--port", "99999", "--json"],
        ["serve", "--charge-limit", "-1", "--json"],
        ["init", "--json"],
    ],
)
def test_bad_arguments_with_json_give_one_json_object(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """With --json, an argument error is still one JSON usage object on stdout, status 2."""
    assert main(argv) == 2
    captured = capsys.readouterr()
    out = one_json_object(captured.out)
    assert out["ok"] is False
    assert out["exit_code"] == 2
    assert out["error"]["type"] == "usage"
    assert out["error"]["message"] in captured.err
    assert "usage: seekapi" in captured.err


def test_init_that_cannot_write_gives_one_json_object(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """init --json in a folder it cannot create gives one JSON usage object and leaves nothing."""
    (tmp_path / "a-file").write_text("")

    assert main(["init", "proj", "--dir", str(tmp_path / "a-file" / "sub"), "--json"]) == 2
    out = one_json_object(capsys.readouterr().out)
    assert out["error"]["type"] == "usage"
    assert out["error"]["message"].startswith("cannot create ")
    assert [p.name for p in tmp_path.iterdir()] == ["a-file"]


def test_fixtures_with_emulate_is_a_usage_error(tmp_path: Path) -> None:
    """--fixtures belongs to local mode: with --emulate it is refused with status 2."""
    (tmp_path / "f.json").write_text("{}")
    proc = seekapi(
        "run",
        str(HELLO / "handler.py"),
        "--input",
        "{}",
        "--emulate",
        "--fixtures",
        "f.json",
        "--json",
        cwd=tmp_path,
    )

    assert proc.returncode == 2
    assert "--fixtures applies to local mode only" in proc.stderr
    assert one_json_object(proc.stdout)["error"]["type"] == "usage"


def test_run_uses_the_fixtures_file_in_local_mode(tmp_path: Path) -> None:
    """A --fixtures file's charge_limit makes charge() answer limit_reached from the ledger."""
    write(tmp_path / "worker.py", WORKER)
    (tmp_path / "fixtures.json").write_text('{"charge_limit": 2}')
    proc = seekapi(
        "run",
        "worker.py",
        "--input",
        '{"items": ["a", "b", "c"]}',
        "--fixtures",
        "fixtures.json",
        "--json",
        cwd=tmp_path,
    )

    assert proc.returncode == 0, proc.stderr
    out = one_json_object(proc.stdout)
    assert out["metered_event_count"] == 3
    assert out["limit_reached"] is True
    assert out["returned"]["limit_reached"] is True


@pytest.mark.parametrize(
    ("fixtures", "message"),
    [
        ("[]", "must hold a JSON object"),
        ('{"charge_limit": "ten"}', "'charge_limit' in the fixtures file"),
        ('{"charge": 1}', "'charge' in the fixtures file"),
        ('{"charge": {}, "charge_limit": 2}', "has both 'charge' and 'charge_limit'"),
    ],
)
def test_run_refuses_a_bad_fixtures_file_before_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fixtures: str, message: str
) -> None:
    """A fixtures file local mode would refuse is a usage error, reported up front."""
    (tmp_path / "fixtures.json").write_text(fixtures)
    argv = ["run", str(HELLO / "handler.py"), "--input", "{}"]

    assert main([*argv, "--fixtures", str(tmp_path / "fixtures.json")]) == 2
    assert message in capsys.readouterr().err


# -- serve ---------------------------------------------------------------------------------


def _read_until(proc: subprocess.Popen[str], marker: str, limit: float = 10) -> str:
    """What ``proc`` printed on stdout up to and including the line holding ``marker``."""
    assert proc.stdout is not None
    deadline = time.monotonic() + limit
    seen = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if marker in line:
            return "".join(seen)
    raise AssertionError(f"{marker!r} not printed; got:\n{''.join(seen)}")


@contextlib.contextmanager
def _serve(cwd: Path, *args: str) -> Iterator[subprocess.Popen[str]]:
    """`seekapi serve --port 0 ARGS` in cwd; killed and its pipes closed afterwards."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "seekapi", "serve", "--port", "0", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stdout is not None
        assert proc.stderr is not None
        proc.stdout.close()
        proc.stderr.close()


@pytest.mark.parametrize("stop_with", [signal.SIGTERM, signal.SIGINT])
def test_serve_prints_the_environment_serves_a_worker_and_stops_cleanly(
    tmp_path: Path, stop_with: signal.Signals
) -> None:
    """serve prints its URL and env, a worker in another process uses it, a signal stops it."""
    (tmp_path / "input.json").write_text('{"name": "Kay"}')
    with _serve(tmp_path, "--job", "input.json") as proc:
        banner = _read_until(proc, "Stop with Ctrl-C")
        assert "development tool" in banner
        url = re.search(r"export WORKER_API_BASE_URL=(http://127\.0\.0\.1:\d+)", banner)
        secret = re.search(r"export WORKER_INTERNAL_SECRET=(\S+)", banner)
        assert url is not None
        assert secret is not None
        event = json.loads(next(line for line in banner.splitlines() if line.startswith("{")))

        # The hello worker, in its own process, runs the job against the emulator.
        worker = subprocess.run(
            [
                sys.executable,
                "-c",
                "import json, sys; sys.path.insert(0, sys.argv[1]); from handler import handler;"
                " print(json.dumps(handler(json.loads(sys.argv[2]), None)))",
                str(HELLO),
                json.dumps(event),
            ],
            env={
                **os.environ,
                "WORKER_API_BASE_URL": url[1],
                "WORKER_INTERNAL_SECRET": secret[1],
            },
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert json.loads(worker.stdout) == {"ok": True}, worker.stderr

        request = urllib.request.Request(
            f"{url[1]}/v1/debug/jobs/{event['job_uuid']}",
            headers={"X-Internal-Secret": secret[1]},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.load(response)["result"] == {"message": "hello Kay"}

        proc.send_signal(stop_with)
        assert proc.wait(timeout=15) == 0


def test_serve_json_gives_url_env_and_job_events(tmp_path: Path) -> None:
    """serve --json writes one object with the URL, the worker's env and the jobs' events."""
    (tmp_path / "input.json").write_text("{}")
    with _serve(tmp_path, "--secret", "s3cret", "--job", "input.json", "--json") as proc:
        out = json.loads(_read_until(proc, "{"))
        assert out["env"] == {"WORKER_API_BASE_URL": out["url"], "WORKER_INTERNAL_SECRET": "s3cret"}
        [event] = out["jobs"]
        with urllib.request.urlopen(event["input_presigned_url"], timeout=10) as response:
            assert json.load(response) == {}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0


def test_serve_with_a_public_url_shows_where_it_listens_and_what_workers_use(
    tmp_path: Path,
) -> None:
    """--public-url goes to the worker env only; the banner and curl lines use the listener."""
    with _serve(
        tmp_path, "--secret", "s3cret", "--public-url", "http://worker-side.invalid:1234"
    ) as proc:
        banner = _read_until(proc, "Stop with Ctrl-C")
        listening = re.search(r"^Listening on (http://127\.0\.0\.1:(\d+));", banner, re.MULTILINE)
        assert listening is not None, banner
        assert "Workers reach it at http://worker-side.invalid:1234" in banner
        assert "export WORKER_API_BASE_URL=http://worker-side.invalid:1234\n" in banner
        curls = [line for line in banner.splitlines() if "curl " in line]
        assert len(curls) == 2
        assert all(f"{listening[1]}/v1/debug/jobs" in line for line in curls)
        assert "worker-side.invalid" not in "\n".join(curls)
        # The address shown is where it answers.
        request = urllib.request.Request(
            f"{listening[1]}/v1/debug/jobs", headers={"X-Internal-Secret": "s3cret"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0


def test_serve_accepts_a_charge_limit_of_zero(tmp_path: Path) -> None:
    """serve --charge-limit 0 starts, and its jobs carry the limit 0."""
    (tmp_path / "input.json").write_text("{}")
    with _serve(
        tmp_path, "--secret", "s3cret", "--charge-limit", "0", "--job", "input.json", "--json"
    ) as proc:
        out = json.loads(_read_until(proc, "{"))
        assert out["listen_url"] == out["url"]
        [event] = out["jobs"]
        request = urllib.request.Request(
            f"{out['listen_url']}/v1/debug/jobs/{event['job_uuid']}",
            headers={"X-Internal-Secret": "s3cret"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.load(response)["charge_limit"] == 0
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0


# -- init ----------------------------------------------------------------------------------


def test_init_creates_a_project_whose_tests_pass_and_that_runs(tmp_path: Path) -> None:
    """init writes a project; its own tests pass at once and 'seekapi run' on it succeeds."""
    proc = seekapi("init", "word-counter", cwd=tmp_path)

    assert proc.returncode == 0, proc.stderr
    project = tmp_path / "word-counter"
    assert {p.name for p in project.iterdir()} == {
        "handler.py",
        "input.json",
        "test_word_counter.py",
        "README.md",
        "requirements.txt",
        ".gitignore",
    }
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "word-counter"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "4 passed" in tests.stdout

    run = seekapi("run", "handler.py", "--input-file", "input.json", "--json", cwd=project)
    assert run.returncode == 0, run.stderr
    assert one_json_object(run.stdout)["result"] == {
        "words": 9,
        "characters": 43,
        "longest": "quick",
    }


def test_init_readme_installs_seekapi_from_where_it_came_and_pins_the_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The project's README installs seekapi from its source, with pytest, in one command;
    requirements.txt pins the version; the README says seekapi package bundles it."""
    from seekapi import __version__

    assert main(["init", "proj", "--dir", str(tmp_path)]) == 0
    readme = (tmp_path / "proj" / "README.md").read_text()
    requirements = (tmp_path / "proj" / "requirements.txt").read_text()

    assert f"seekapi>={__version__}" in requirements.splitlines()
    commands = _readme_commands(readme)
    (install,) = [line for line in commands if "pip install" in line]
    assert "pip install /path/to/seekapi pytest" in install
    # requirements.txt alone cannot install a version the index may lack: it comes
    # with the path, which meets its seekapi line.
    assert all("/path/to/seekapi" in line for line in commands if "requirements.txt" in line)
    assert "python -m pytest" in install
    assert f"`seekapi>={__version__}`" in readme
    assert "seekapi package -o dist/worker.zip" in commands
    assert "never needs the package index to have\nseekapi" in readme


def _readme_commands(readme: str) -> list[str]:
    """The shell commands of a README's ``sh`` blocks, continuation lines joined."""
    text = "\n".join(re.findall(r"```sh\n(.*?)```", readme, re.DOTALL))
    return [line.strip() for line in text.replace("\\\n", " ").splitlines() if line.strip()]


def test_init_two_projects_in_one_repository_are_tested_apart(tmp_path: Path) -> None:
    """pytest run over a folder holding two projects collects both, each testing its own
    handler.py: test modules with names of their own, handlers loaded by path."""
    for name in ("word-counter", "word-counter-2"):
        assert main(["init", name, "--dir", str(tmp_path / "repo")]) == 0
        module = name.replace("-", "_")
        with open(tmp_path / "repo" / name / f"test_{module}.py", "a") as file:
            file.write(
                "\n\ndef test_the_handler_is_this_projects() -> None:\n"
                "    import inspect\n"
                "    assert Path(inspect.getfile(handler.fn)).parent == HERE\n"
            )
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "repo"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "10 passed" in tests.stdout


def test_init_refuses_a_name_whose_test_module_a_sibling_project_has(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """alpha-2 and alpha_2 (or Alpha_2) would both test in test_alpha_2.py, and pytest
    cannot collect both: the second init exits 2 and writes nothing."""
    assert main(["init", "alpha-2", "--dir", str(tmp_path)]) == 0
    capsys.readouterr()
    for name in ("alpha_2", "Alpha_2"):
        assert main(["init", name, "--dir", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert f"{name!r} would have its tests in test_alpha_2.py" in err
        assert "alpha-2" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alpha-2"]
    assert main(["init", "alpha_2", "--dir", str(tmp_path / "elsewhere")]) == 0


def test_init_needs_index_readme_one_liner_works_in_a_plain_virtual_environment(
    tmp_path: Path,
) -> None:
    """The README's set-up line, with a copy of this seekapi's source as the path, installs
    and passes the tests in a new virtual environment, whatever seekapi the index has."""
    source = tmp_path / "seekapi-src"
    source.mkdir()
    for part in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / part, source / part)
    shutil.copytree(
        REPO / "src",
        source / "src",
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
    )
    assert main(["init", "proj", "--dir", str(tmp_path)]) == 0
    project = tmp_path / "proj"
    (install,) = [
        line
        for line in _readme_commands((project / "README.md").read_text())
        if "pip install" in line
    ]
    script = install.replace("/path/to/seekapi", shlex.quote(str(source)))
    script = script.replace("python -m venv", f"{shlex.quote(sys.executable)} -m venv", 1)
    proc = subprocess.run(
        ["/bin/sh", "-c", script],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, f"{script}\n{proc.stdout}\n{proc.stderr}"
    assert "4 passed" in proc.stdout
    assert (project / ".venv").is_dir()


EXAMPLES = sorted(p.parent.name for p in (REPO / "examples").glob("*/README.md"))


@pytest.mark.skipif(os.name != "posix", reason="the README commands are POSIX shell")
@pytest.mark.parametrize("example", EXAMPLES)
def test_example_readme_commands_work_as_written(tmp_path: Path, example: str) -> None:
    """Each shell command of an example's README succeeds, run in order from the repo root."""
    readme = (REPO / "examples" / example / "README.md").read_text()
    commands = [
        line
        for block in re.findall(r"```(?:bash|sh|console)\n(.*?)```", readme, re.DOTALL)
        for line in block.splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert commands
    # A copy of the example where the README expects it, so that nothing is written in
    # the repository; `seekapi` is this Python's command.
    root = tmp_path / "repo"
    shutil.copytree(
        REPO / "examples" / example,
        root / "examples" / example,
        ignore=shutil.ignore_patterns("__pycache__", ".seekapi-local", ".pytest_cache"),
    )
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    launcher = bin_dir / "seekapi"
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m seekapi "$@"\n')
    launcher.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    # `python` is this Python, whatever the shell finds first.
    script = f'set -e\npython() {{ "{sys.executable}" "$@"; }}\n' + "\n".join(commands)
    proc = subprocess.run(
        ["/bin/sh", "-c", script],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert proc.returncode == 0, f"{script}\n{proc.stdout}\n{proc.stderr}"
    assert " passed" in proc.stdout


def test_init_refuses_a_folder_that_is_not_empty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """init leaves an existing non-empty folder alone and exits 2."""
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "handler.py").write_text("# mine\n")

    assert main(["init", "taken", "--dir", str(tmp_path)]) == 2
    assert "already exists and is not empty" in capsys.readouterr().err
    assert (tmp_path / "taken" / "handler.py").read_text() == "# mine\n"
    assert [p.name for p in (tmp_path / "taken").iterdir()] == ["handler.py"]


@pytest.mark.parametrize("name", ["1st", "my worker", "../up", "a/b", "x" * 65, "", "naïve"])
def test_init_refuses_an_unusable_name(
    tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A name that is not a letter followed by letters, digits, '-' or '_' exits 2."""
    assert main(["init", name, "--dir", str(tmp_path)]) == 2
    assert "is not a usable project name" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


# -- help ----------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [[], ["run"], ["serve"], ["init"]])
def test_help_works_for_every_command(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """--help prints the command's usage on stdout and exits 0."""
    assert main([*command, "--help"]) == 0
    assert capsys.readouterr().out.startswith(f"usage: seekapi {' '.join(command)}".rstrip())


def test_python_dash_m_seekapi_is_the_command(tmp_path: Path) -> None:
    """'python -m seekapi --version' runs the command line."""
    proc = seekapi("--version", cwd=tmp_path)

    assert proc.returncode == 0
    assert re.fullmatch(r"seekapi \d+\.\d+\.\d+\S*\n", proc.stdout)
