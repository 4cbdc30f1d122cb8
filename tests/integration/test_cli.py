"""The ``seekapi`` command line, end to end: ``python -m seekapi`` in subprocesses.

Argument errors and ``--help``, which stop before anything runs, call :func:`main` in
the test process.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
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
    assert re.search(r"INFO +seekapi: input fetched .*\[job=hello-1 request=", proc.stderr)


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


@pytest.mark.parametrize("stop_with", [signal.SIGTERM, signal.SIGINT])
def test_serve_prints_the_environment_serves_a_worker_and_stops_cleanly(
    tmp_path: Path, stop_with: signal.Signals
) -> None:
    """serve prints its URL and env, a worker in another process uses it, a signal stops it."""
    (tmp_path / "input.json").write_text('{"name": "Kay"}')
    proc = subprocess.Popen(
        [sys.executable, "-m", "seekapi", "serve", "--port", "0", "--job", "input.json"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
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
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stdout is not None
        assert proc.stderr is not None
        proc.stdout.close()
        proc.stderr.close()


def test_serve_json_gives_url_env_and_job_events(tmp_path: Path) -> None:
    """serve --json writes one object with the URL, the worker's env and the jobs' events."""
    (tmp_path / "input.json").write_text("{}")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "seekapi",
            "serve",
            "--port",
            "0",
            "--secret",
            "s3cret",
            "--job",
            "input.json",
            "--json",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out = json.loads(_read_until(proc, "{"))
        assert out["env"] == {"WORKER_API_BASE_URL": out["url"], "WORKER_INTERNAL_SECRET": "s3cret"}
        [event] = out["jobs"]
        with urllib.request.urlopen(event["input_presigned_url"], timeout=10) as response:
            assert json.load(response) == {}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stdout is not None
        assert proc.stderr is not None
        proc.stdout.close()
        proc.stderr.close()


# -- init ----------------------------------------------------------------------------------


def test_init_creates_a_project_whose_tests_pass_and_that_runs(tmp_path: Path) -> None:
    """init writes a project; its own tests pass at once and 'seekapi run' on it succeeds."""
    proc = seekapi("init", "word-counter", cwd=tmp_path)

    assert proc.returncode == 0, proc.stderr
    project = tmp_path / "word-counter"
    assert {p.name for p in project.iterdir()} == {
        "handler.py",
        "input.json",
        "test_handler.py",
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
