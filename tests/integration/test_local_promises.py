"""Local mode keeps its promises under hostile folders, forks, odd files and racing processes.

Everything here uses real files, real links, real processes and real forks: a link
planted in the local directory is never written through, a forked child never hangs on
a lock, a pipe or a device is never read, the charge ledger holds one line per key
whatever the number of processes charging, and every reader of a ledger counts it alike.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import seekapi
from seekapi.cli import main
from seekapi.errors import ConfigurationError, UsageError
from seekapi.testing import Backend, LocalMode

posix_only = pytest.mark.skipif(os.name != "posix", reason="needs POSIX links, pipes and forks")


def use_local(
    monkeypatch: pytest.MonkeyPatch, directory: Path, fixtures: object = None
) -> dict[str, str]:
    """Turn local mode on for ``directory`` (with a fixtures file when given); the variables."""
    env = {"SEEKAPI_LOCAL_MODE": "1", "SEEKAPI_LOCAL_DIR": str(directory)}
    if fixtures is not None:
        path = directory.with_name(directory.name + ".fixtures.json")
        path.write_text(json.dumps(fixtures), encoding="utf-8")
        env["SEEKAPI_LOCAL_FIXTURES"] = str(path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def context(job_uuid: str = "job-1") -> dict[str, Any]:
    return seekapi.create_context({"job_uuid": job_uuid, "execution_token": "tok"})


def snapshot(folder: Path) -> dict[str, bytes | str]:
    """Every entry under ``folder``: a file's bytes, a link's target, a folder as "dir"."""
    found: dict[str, bytes | str] = {}
    for parent, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(parent) / name
            key = str(path.relative_to(folder))
            if path.is_symlink():
                found[key] = f"link to {os.readlink(path)}"
            elif path.is_dir():
                found[key] = "dir"
            else:
                found[key] = path.read_bytes()
    return found


def python(code: str, env: dict[str, str], timeout: float = 20) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter with ``env`` added; fail the test if it hangs."""
    try:
        return subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"the call was still blocked after {timeout} s")


# -- links planted in the local directory ----------------------------------------------


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder outside the local directory, holding a file a link may point at."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "victim.txt").write_bytes(b"keep me\n")
    return folder


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "source.bin"
    path.write_bytes(b"pushed bytes")
    return path


def every_call(source: Path) -> list[tuple[str, Callable[[], object]]]:
    ctx = context()
    return [
        ("push_data", lambda: seekapi.push_data(ctx, {"n": 1})),
        ("push_file", lambda: seekapi.push_file(ctx, "out.bin", str(source))),
        ("charge", lambda: seekapi.charge(ctx, "key-1")),
    ]


@posix_only
def test_a_link_planted_as_the_job_folder_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, outside: Path, source: Path
) -> None:
    """<dir>/<job> as a link to another folder: every call refuses, nothing lands there."""
    directory = tmp_path / "local"
    directory.mkdir()
    (directory / "job-1").symlink_to(outside, target_is_directory=True)
    use_local(monkeypatch, directory)
    before = snapshot(outside)
    for name, call in every_call(source):
        with pytest.raises(ConfigurationError, match="symbolic link") as caught:
            call()
        assert str(directory / "job-1") in str(caught.value), name
    assert snapshot(outside) == before


@posix_only
def test_a_link_planted_as_files_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, outside: Path, source: Path
) -> None:
    """<job>/files as a link to another folder: push_file refuses and writes nothing there."""
    directory = tmp_path / "local"
    (directory / "job-1").mkdir(parents=True)
    (directory / "job-1" / "files").symlink_to(outside, target_is_directory=True)
    use_local(monkeypatch, directory)
    before = snapshot(outside)
    with pytest.raises(ConfigurationError, match="symbolic link"):
        seekapi.push_file(context(), "out.bin", str(source))
    assert snapshot(outside) == before
    assert not (directory / "job-1" / "file_pushes.jsonl").exists()


@posix_only
@pytest.mark.parametrize(
    "artifact_call",
    [
        ("data_pushes.jsonl", "push_data"),
        ("response_json.json", "push_data"),
        ("file_pushes.jsonl", "push_file"),
        ("charges.jsonl", "charge"),
    ],
)
def test_a_link_planted_as_an_artifact_is_refused(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    outside: Path,
    source: Path,
    artifact_call: tuple[str, str],
) -> None:
    """An artifact that is a link to a file elsewhere is never written through or replaced."""
    artifact, call = artifact_call
    directory = tmp_path / "local"
    folder = directory / "job-1"
    (folder / "files").mkdir(parents=True)
    (folder / artifact).symlink_to(outside / "victim.txt")
    use_local(monkeypatch, directory)
    before = snapshot(outside)
    in_folder = snapshot(folder)
    with pytest.raises(ConfigurationError, match="symbolic link") as caught:
        dict(every_call(source))[call]()
    assert str(folder / artifact) in str(caught.value)
    assert snapshot(outside) == before
    # Refused before anything was written: the folder is as it was, the link included.
    assert snapshot(folder) == in_folder


@posix_only
def test_a_link_planted_as_a_stored_file_name_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, outside: Path, source: Path
) -> None:
    """files/<name> as a link: the copy is not written through it, and the push refuses."""
    directory = tmp_path / "local"
    files = directory / "job-1" / "files"
    files.mkdir(parents=True)
    (files / "out.bin").symlink_to(outside / "victim.txt")
    use_local(monkeypatch, directory)
    before = snapshot(outside)
    with pytest.raises(ConfigurationError, match="symbolic link"):
        seekapi.push_file(context(), "out.bin", str(source))
    assert snapshot(outside) == before
    assert sorted(os.listdir(files)) == ["out.bin"]


@posix_only
def test_links_planted_at_temporary_names_are_never_written_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, outside: Path
) -> None:
    """Temporary names cannot be guessed: links planted where one might go are not used."""
    directory = tmp_path / "local"
    folder = directory / "job-1"
    (folder / "files").mkdir(parents=True)
    use_local(monkeypatch, directory)
    # The names a writer that built them from its process and thread would use.
    guesses = [
        f".response_json.json.{os.getpid()}-{threading.get_ident()}.tmp",
        f".response_json.json.{os.getpid()}.tmp",
        ".response_json.json.tmp",
    ]
    for guess in guesses:
        (folder / guess).symlink_to(outside / "victim.txt")
    before = snapshot(outside)
    ctx = context()
    for number in range(3):
        seekapi.push_data(ctx, {"n": number})
    assert snapshot(outside) == before
    assert json.loads((folder / "response_json.json").read_bytes()) == {"n": 2}
    assert sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp")) == sorted(guesses)


@posix_only
def test_the_local_directory_itself_may_be_a_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: Path
) -> None:
    """SEEKAPI_LOCAL_DIR is the user's choice: a link there (or above it) is followed."""
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "alias").symlink_to(real, target_is_directory=True)
    use_local(monkeypatch, tmp_path / "alias" / "local")
    for _name, call in every_call(source):
        call()
    assert sorted(os.listdir(real / "local" / "job-1")) == [
        "charges.jsonl",
        "data_pushes.jsonl",
        "file_pushes.jsonl",
        "files",
        "response_json.json",
    ]


# -- fork ----------------------------------------------------------------------------------


@posix_only
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Python 3.12+: fork with threads
def test_a_child_forked_while_another_thread_writes_does_not_hang(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Forks taken while a thread pushes (and holds the job's lock) give children that work."""
    use_local(monkeypatch, tmp_path / "local")
    ctx = context()
    seekapi.push_data(ctx, {"warm": True})
    blob = "x" * (4 << 20)  # quick to encode, slow to write: the lock is held often
    stop = threading.Event()

    def pusher() -> None:
        while not stop.is_set():
            seekapi.push_data(ctx, {"blob": blob})

    thread = threading.Thread(target=pusher)
    thread.start()
    results: list[str] = []
    try:
        for number in range(25):
            time.sleep(0.003)
            pid = os.fork()
            if pid == 0:  # the child: charge and push on the parent's job and on a new one
                code = 1
                try:
                    seekapi.charge(ctx, f"child-{number}")
                    seekapi.push_data(ctx, {"child": number})
                    seekapi.push_data(context(f"child-job-{number}"), {"child": number})
                    code = 0
                finally:
                    os._exit(code)
            results.append(_reap(pid, timeout=10))
            if results[-1] != "exited 0":
                break
    finally:
        stop.set()
        thread.join()
    assert results == ["exited 0"] * 25
    ledger = (tmp_path / "local" / "job-1" / "charges.jsonl").read_text("utf-8")
    charged = [json.loads(line)["idempotency_key"] for line in ledger.splitlines()]
    assert charged == [f"child-{n}" for n in range(25)]


def _reap(pid: int, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return f"exited {os.waitstatus_to_exitcode(status)}"
        time.sleep(0.005)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return "hung"


# -- pipes, devices and folders ------------------------------------------------------------


@posix_only
def test_push_file_of_a_named_pipe_is_refused_at_once(tmp_path: Path) -> None:
    """A FIFO nobody writes to is refused as in production, instead of waiting for a writer."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    proc = python(
        f"""
        import seekapi
        from seekapi.errors import UsageError
        ctx = seekapi.create_context({{"job_uuid": "job-1", "execution_token": "tok"}})
        try:
            seekapi.push_file(ctx, "p.bin", {str(fifo)!r})
        except UsageError as exc:
            print("refused:", exc)
        """,
        {"SEEKAPI_LOCAL_MODE": "1", "SEEKAPI_LOCAL_DIR": str(tmp_path / "local")},
    )
    assert proc.returncode == 0, proc.stderr
    assert "refused:" in proc.stdout
    assert "not a regular file" in proc.stdout
    files = tmp_path / "local" / "job-1" / "files"
    assert not files.exists() or os.listdir(files) == []


@posix_only
def test_push_file_of_a_device_is_refused(tmp_path: Path) -> None:
    """/dev/zero is refused (it would copy for ever); the copy is capped here to stay safe."""
    proc = python(
        """
        import resource, signal
        import seekapi
        from seekapi.errors import UsageError
        # A copy of /dev/zero must not fill the disk if it were attempted.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
        ctx = seekapi.create_context({"job_uuid": "job-1", "execution_token": "tok"})
        try:
            seekapi.push_file(ctx, "zero.bin", "/dev/zero")
        except UsageError as exc:
            print("refused:", exc)
        """,
        {"SEEKAPI_LOCAL_MODE": "1", "SEEKAPI_LOCAL_DIR": str(tmp_path / "local")},
    )
    assert proc.returncode == 0, proc.stderr
    assert "refused:" in proc.stdout
    assert "'/dev/zero'" in proc.stdout
    files = tmp_path / "local" / "job-1" / "files"
    assert not files.exists() or os.listdir(files) == []


def test_push_file_of_a_folder_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder is refused with IsADirectoryError, as on the network path."""
    use_local(monkeypatch, tmp_path / "local")
    with pytest.raises(IsADirectoryError):
        seekapi.push_file(context(), "dir.bin", str(tmp_path))
    assert not (tmp_path / "local" / "job-1" / "file_pushes.jsonl").exists()


@posix_only
@pytest.mark.parametrize("call", ["get_job_fixture()", "charge(ctx, 'k')"])
def test_a_named_pipe_as_the_fixtures_file_is_refused_at_once(tmp_path: Path, call: str) -> None:
    """SEEKAPI_LOCAL_FIXTURES naming a FIFO is a ConfigurationError, not a wait for a writer."""
    fifo = tmp_path / "fixtures.json"
    os.mkfifo(fifo)
    proc = python(
        f"""
        import seekapi
        from seekapi import charge, get_job_fixture
        from seekapi.errors import ConfigurationError
        ctx = seekapi.create_context({{"job_uuid": "job-1", "execution_token": "tok"}})
        try:
            {call}
        except ConfigurationError as exc:
            print("refused:", exc)
        """,
        {
            "SEEKAPI_LOCAL_MODE": "1",
            "SEEKAPI_LOCAL_DIR": str(tmp_path / "local"),
            "SEEKAPI_LOCAL_FIXTURES": str(fifo),
        },
    )
    assert proc.returncode == 0, proc.stderr
    assert "refused:" in proc.stdout
    assert str(fifo) in proc.stdout
    assert "not a regular file" in proc.stdout


@posix_only
def test_a_device_as_the_fixtures_file_is_refused(tmp_path: Path) -> None:
    """/dev/zero as the fixtures file is refused instead of read until memory runs out."""
    proc = python(
        """
        import resource
        import seekapi
        from seekapi.errors import ConfigurationError
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        try:
            seekapi.get_job_fixture()
        except ConfigurationError as exc:
            print("refused:", exc)
        """,
        {
            "SEEKAPI_LOCAL_MODE": "1",
            "SEEKAPI_LOCAL_DIR": str(tmp_path / "local"),
            "SEEKAPI_LOCAL_FIXTURES": "/dev/zero",
        },
    )
    assert proc.returncode == 0, proc.stderr
    assert "refused:" in proc.stdout
    assert "not a regular file" in proc.stdout


# -- the charge ledger: many processes, one rule --------------------------------------------

# Charges three keys as soon as the clock reaches argv[1]. Each process's first charge
# reads the whole ledger, which starts with a line that takes a while to parse: every
# process is between reading the ledger and appending to it at the same time.
CHARGER = """
import sys, time
import seekapi
start = float(sys.argv[1])
ctx = seekapi.create_context({"job_uuid": "job-1", "execution_token": "tok"})
while time.time() < start:
    pass
answers = [seekapi.charge(ctx, key)["metered_event_count"] for key in ("a", "b", "c")]
print(answers[-1])
"""


def test_processes_charging_the_same_keys_at_once_record_each_key_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """6 processes charge the same 3 keys at once: one line each, and every count agrees."""
    env = use_local(monkeypatch, tmp_path / "local", {"charge_limit": 10_000})
    ledger = tmp_path / "local" / "job-1" / "charges.jsonl"
    ledger.parent.mkdir(parents=True)
    big = {"idempotency_key": "big", "count": 5, "justification": {"n": list(range(1_000_000))}}
    ledger.write_text(json.dumps(big) + "\n", "utf-8")
    start = time.time() + 2
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CHARGER, str(start)],
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    outputs = [proc.communicate(timeout=60) for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * 6, [err for _out, err in outputs]
    # Each process had billed every key by its last charge, so each saw the whole total.
    assert [out.strip() for out, _err in outputs] == ["8"] * 6
    keys = [json.loads(line)["idempotency_key"] for line in ledger.read_text("utf-8").splitlines()]
    assert sorted(keys) == ["a", "b", "big", "c"]
    assert LocalMode(tmp_path / "local").job("job-1").metered_event_count == 8


# A worker that charges a key billed before and a new one, and returns what charge() said.
RERUN_WORKER = """
import seekapi

def work(data):
    job = seekapi.current_job()
    job.charge("old-a")
    return {"metered": job.charge("new-z", 2)["metered_event_count"]}

def handler(event, context):
    return seekapi.run(event, context, work)
"""

# A ledger left by earlier runs, holding every kind of line the readers once disagreed on.
EARLIER_LEDGER = [
    '{"charged_at": "2026-01-01T00:00:00.000000Z", "job_uuid": "J", "idempotency_key": "old-a",'
    ' "count": 3, "justification": null}',
    # The same key again, as two processes racing could leave it: counts once.
    '{"charged_at": "2026-01-01T00:00:00.000001Z", "job_uuid": "J", "idempotency_key": "old-a",'
    ' "count": 3, "justification": null}',
    '{"idempotency_key": "old-b", "count": 4, "justification": {"why": "x"}}',
    '{"idempotency_key": "bool", "count": true}',  # not a count
    '{"idempotency_key": "neg", "count": -5}',  # charge() never records fewer than 1
    '{"idempotency_key": 7, "count": 1}',  # not a text key
    '{"idempotency_key": "  ", "count": 1}',  # a blank key
    "not json at all",
    "[1, 2]",
]


def test_a_rerun_shows_the_same_total_everywhere(tmp_path: Path) -> None:
    """charge(), the emulator, seekapi run's summary (both modes) and LocalJob count alike."""
    out = tmp_path / "out"
    (out / "J").mkdir(parents=True)
    # The last line has no newline: a write that never finished counts for nothing.
    (out / "J" / "charges.jsonl").write_text(
        "".join(line + "\n" for line in EARLIER_LEDGER) + '{"idempotency_key": "torn", "count": 50',
        "utf-8",
    )
    (tmp_path / "worker.py").write_text(RERUN_WORKER, "utf-8")
    expected = 3 + 4 + 2  # old-a once, old-b, then new-z

    def rerun(*extra: str) -> dict[str, Any]:
        proc = subprocess.run(
            [
                *(sys.executable, "-m", "seekapi", "run", "worker.py", "--input", "{}"),
                *("--job-uuid", "J", "--out", str(out), "--charge-limit", "1000", "--json"),
                *extra,
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        summary: dict[str, Any] = json.loads(proc.stdout)
        return summary

    local = rerun()
    assert local["result"] == {"metered": expected}  # what charge() answered the worker
    assert local["metered_event_count"] == expected  # the summary
    assert [(c["idempotency_key"], c["count"]) for c in local["charges"]] == [("new-z", 2)]
    assert LocalMode(out).job("J").metered_event_count == expected

    emulated = rerun("--emulate")
    assert emulated["result"] == {"metered": expected}  # the emulator's answer
    assert emulated["metered_event_count"] == expected
    with Backend(directory=out) as backend:
        assert backend.create_job(job_uuid="J").metered_event_count == expected

    again = rerun()
    assert (again["result"], again["metered_event_count"]) == ({"metered": expected}, expected)
    assert again["charges"] == []  # this run billed nothing new
    ledger = (out / "J" / "charges.jsonl").read_text("utf-8")
    assert ledger.count('"new-z"') == 1


def test_a_ledger_line_nested_too_deeply_is_a_configuration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A line that cannot be parsed for its depth is a clear error naming the file and line."""
    directory = tmp_path / "local"
    (directory / "job-1").mkdir(parents=True)
    ledger = directory / "job-1" / "charges.jsonl"
    ledger.write_text('{"idempotency_key": "a", "count": 1}\n' + "[" * 100_000 + "\n", "utf-8")
    use_local(monkeypatch, directory, {"charge_limit": 10})
    readers: list[Callable[[], object]] = [
        lambda: seekapi.charge(context(), "b"),
        lambda: LocalMode(directory).job("job-1").charges,
    ]
    for read in readers:
        with pytest.raises(ConfigurationError, match="nested too deeply") as caught:
            read()
        assert str(ledger) in str(caught.value)
        assert "line 2" in str(caught.value)
    with Backend(directory=directory) as backend, pytest.raises(ConfigurationError, match="line 2"):
        backend.create_job(job_uuid="job-1")
    assert ledger.read_text("utf-8").count("\n") == 2  # nothing was added


@pytest.mark.parametrize("mode", ["local", "emulate"])
def test_seekapi_run_reports_a_ledger_line_nested_too_deeply(tmp_path: Path, mode: str) -> None:
    """The command names the file and the line instead of a traceback."""
    ledger = tmp_path / "out" / "J" / "charges.jsonl"
    ledger.parent.mkdir(parents=True)
    ledger.write_text("[" * 100_000 + "\n", "utf-8")
    (tmp_path / "worker.py").write_text(RERUN_WORKER, "utf-8")
    extra = ["--emulate"] if mode == "emulate" else []
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "seekapi", "run", "worker.py", "--input", "{}"),
            *("--job-uuid", "J", "--out", str(tmp_path / "out"), "--charge-limit", "9", *extra),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == (2 if mode == "emulate" else 1)
    assert f"line 1 of the charge ledger {str(ledger)!r} is nested too deeply" in proc.stderr
    assert "RecursionError" not in proc.stderr
    assert "Traceback" not in proc.stderr or mode == "local"  # the handler's own failure


# -- charge fixtures -----------------------------------------------------------------------


def test_a_charge_fixture_lacking_fields_gets_the_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """{"charge": {"ok": true}} answers the default count and limit, plus any extra field."""
    use_local(monkeypatch, tmp_path / "local", {"charge": {"ok": True, "note": "x"}})
    reply = seekapi.charge(context(), "k")
    assert reply == {"ok": True, "metered_event_count": 0, "limit_reached": False, "note": "x"}
    assert reply["limit_reached"] is False
    use_local(monkeypatch, tmp_path / "local", {"charge": {"limit_reached": True}})
    assert seekapi.charge(context(), "k2") == {
        "ok": True,
        "metered_event_count": 0,
        "limit_reached": True,
    }


@pytest.mark.parametrize(
    ("answer", "field"),
    [
        ({"limit_reached": "yes"}, "limit_reached"),
        ({"metered_event_count": 1.5}, "metered_event_count"),
        ({"metered_event_count": True}, "metered_event_count"),
        ({"metered_event_count": -1}, "metered_event_count"),
        ({"ok": 1}, "ok"),
        ({"ok": None}, "ok"),
    ],
)
def test_a_charge_fixture_field_of_the_wrong_type_is_a_configuration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, answer: dict[str, Any], field: str
) -> None:
    """The error names the file and the field, and nothing is charged."""
    env = use_local(monkeypatch, tmp_path / "local", {"charge": answer})
    with pytest.raises(ConfigurationError) as caught:
        seekapi.charge(context(), "k")
    message = str(caught.value)
    assert env["SEEKAPI_LOCAL_FIXTURES"] in message
    assert f"'charge.{field}'" in message
    assert not (tmp_path / "local" / "job-1" / "charges.jsonl").exists()


def test_seekapi_run_refuses_a_charge_fixture_of_the_wrong_type_up_front(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command reports the bad field before the handler runs."""
    fixtures = tmp_path / "fixtures.json"
    fixtures.write_text('{"charge": {"limit_reached": "yes"}}', "utf-8")
    (tmp_path / "worker.py").write_text(RERUN_WORKER, "utf-8")
    argv = ["run", str(tmp_path / "worker.py"), "--input", "{}", "--out", str(tmp_path / "o")]
    assert main([*argv, "--fixtures", str(fixtures)]) == 2
    assert "'charge.limit_reached'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


# -- odd text and deep JSON ------------------------------------------------------------------


@pytest.mark.parametrize("call", ["push_data", "push_file", "charge"])
def test_a_lone_surrogate_in_the_job_id_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: Path, call: str
) -> None:
    """A job id UTF-8 cannot hold is refused by name before anything is written."""
    use_local(monkeypatch, tmp_path / "local")
    # Made by hand, as a caller may: create_context() itself refuses such an event.
    ctx = {**context(), "job_uuid": "job-\ud800"}
    calls: dict[str, Callable[[], object]] = {
        "push_data": lambda: seekapi.push_data(ctx, {"n": 1}),
        "push_file": lambda: seekapi.push_file(ctx, "a.txt", str(source)),
        "charge": lambda: seekapi.charge(ctx, "k"),
    }
    with pytest.raises(UsageError, match=r"job_uuid.* .*lone surrogate"):
        calls[call]()
    assert not (tmp_path / "local").exists()


def test_a_lone_surrogate_in_a_file_name_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: Path
) -> None:
    """A file name UTF-8 cannot hold is refused as on the network path; nothing is stored."""
    use_local(monkeypatch, tmp_path / "local")
    with pytest.raises(UsageError, match=r"name .*lone surrogate"):
        seekapi.push_file(context(), "bad\udc80.txt", str(source))
    files = tmp_path / "local" / "job-1" / "files"
    assert not files.exists() or os.listdir(files) == []


@pytest.mark.parametrize("call", ["get_job_fixture", "charge"])
def test_a_fixtures_file_nested_too_deeply_is_a_configuration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, call: str
) -> None:
    """100,000 levels of '[' is a ConfigurationError naming the file, not a RecursionError."""
    env = use_local(monkeypatch, tmp_path / "local", {})
    Path(env["SEEKAPI_LOCAL_FIXTURES"]).write_text(
        '{"get_job": ' + "[" * 100_000 + "]" * 100_000 + "}", "utf-8"
    )
    read: Callable[[], object] = seekapi.get_job_fixture
    if call == "charge":
        read = lambda: seekapi.charge(context(), "k")  # noqa: E731
    with pytest.raises(ConfigurationError, match="nested too deeply") as caught:
        read()
    assert env["SEEKAPI_LOCAL_FIXTURES"] in str(caught.value)


def test_a_deep_get_job_fixture_is_copied_without_recursion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fixture the parser accepts is handed out whole, however deep the caller's stack."""
    depth = 600
    env = use_local(monkeypatch, tmp_path / "local", {})
    Path(env["SEEKAPI_LOCAL_FIXTURES"]).write_text(
        '{"get_job": {"deep": ' + "[" * depth + "]" * depth + "}}", "utf-8"
    )
    assert seekapi.get_job_fixture()  # parsed from a shallow stack, then cached

    def at_depth(levels: int) -> dict[str, Any]:
        return seekapi.get_job_fixture() if levels == 0 else at_depth(levels - 1)

    found = at_depth(sys.getrecursionlimit() - depth // 2 - 100)
    level = found["deep"]
    for _ in range(depth - 1):
        level = level[0]
    assert level == []
