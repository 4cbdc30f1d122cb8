"""Local mode: artifact formats, safe names, concurrency, fixtures and the charge ledger."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seekapi._fixtures import get_job_fixture, load_fixtures
from seekapi._local import (
    charge,
    job_dir,
    push_data,
    push_file,
    require_job,
    safe_name,
)
from seekapi._settings import LocalSettings
from seekapi.errors import ConfigurationError, DeadlineExceeded, JSONValueError, UsageError

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def local(tmp_path: Path, fixtures: object = None) -> LocalSettings:
    """Settings writing under tmp_path/local, with a fixtures file when given."""
    path = ""
    if fixtures is not None:
        path = str(tmp_path / "fixtures.json")
        Path(path).write_text(json.dumps(fixtures), encoding="utf-8")
    return LocalSettings(directory=str(tmp_path / "local"), fixtures_path=path)


def raw_lines(path: Path) -> list[str]:
    """The lines of a .jsonl file, split on "\n" only (JSON text may hold U+0085, U+2028)."""
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n")
    return text.split("\n")[:-1]


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in raw_lines(path)]


def inside(path: str | Path, folder: str | Path) -> bool:
    real, base = os.path.realpath(path), os.path.realpath(folder)
    return os.path.commonpath([real, base]) == base and real != base


# -- names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("job-123", "job-123"),
        ("report.pdf", "report.pdf"),
        ("  spaced  ", "spaced"),
        ("a b  c", "a_b_c"),
        ("héllo wörld.txt", "h_llo_w_rld.txt"),
        ("a/../b", "a_.._b"),
        ("x\x00y", "x_y"),
        ("@@@", "_"),
        ("...x", "...x"),
        ("-rf", "-rf"),
    ],
)
def test_safe_name_keeps_the_1_0_5_rule_for_ordinary_names(value: str, expected: str) -> None:
    """Runs of characters outside [A-Za-z0-9._-] become one '_'; the rest is kept."""
    assert safe_name(value, "default") == expected


@pytest.mark.parametrize("value", ["", "   ", "\t\n"])
def test_safe_name_blank_is_the_default(value: str) -> None:
    """A blank value gives the default name."""
    assert safe_name(value, "unknown-job") == "unknown-job"


@pytest.mark.parametrize(("value", "expected"), [(".", "_."), ("..", "_.."), (" ... ", "_...")])
def test_safe_name_makes_dot_names_safe(value: str, expected: str) -> None:
    """Names made only of dots, which would point at a parent folder, get a '_' in front."""
    assert safe_name(value, "d") == expected


def test_safe_name_caps_long_names_with_a_hash() -> None:
    """A long name is cut to 200 characters, keeps its extension, and stays distinct."""
    first = safe_name("a" * 1000 + ".pdf", "d")
    second = safe_name("a" * 999 + "b.pdf", "d")
    assert len(first) == len(second) == 200
    assert first.endswith(".pdf")
    assert second.endswith(".pdf")
    assert first != second
    assert re.fullmatch(r"a+-[0-9a-f]{12}\.pdf", first)


def test_safe_name_drops_an_overlong_extension_when_capping() -> None:
    """An 'extension' too long to be one is cut like the rest of the name."""
    name = safe_name("x." + "y" * 500, "d")
    assert len(name) == 200
    assert re.fullmatch(r"x\.y+-[0-9a-f]{12}", name)


@given(st.text(), st.sampled_from(["d", "file"]))
def test_safe_name_is_always_one_harmless_component(value: str, default: str) -> None:
    """Whatever the input, the name is a short, non-dot, separator-free component."""
    name = safe_name(value, default)
    assert 0 < len(name) <= 200
    assert re.fullmatch(r"[A-Za-z0-9._-]+", name)
    assert name.strip(".")
    assert os.path.basename(name) == name


def test_job_dir_is_made_with_files_inside(tmp_path: Path) -> None:
    """job_dir makes <directory>/<job>/files and returns the job folder."""
    path = job_dir(str(tmp_path / "local"), "job-123")
    assert path == str(tmp_path / "local" / "job-123")
    assert (tmp_path / "local" / "job-123" / "files").is_dir()


@pytest.mark.parametrize(
    "job_uuid",
    ["..", ".", "../x", "/abs", "/", "a/../../b", "..\\..\\x", "C:\\x", "\x00", "~", "x" * 5000],
)
def test_hostile_job_ids_stay_inside_the_directory(tmp_path: Path, job_uuid: str) -> None:
    """A job id never leads outside the local directory, even '..' or an absolute path."""
    directory = tmp_path / "local"
    path = job_dir(str(directory), job_uuid)
    assert inside(path, directory)
    assert os.path.dirname(path) == str(directory)
    assert os.listdir(tmp_path) == ["local"]


def test_require_job_names_the_operation() -> None:
    """A blank job id or token is a UsageError naming the call."""
    for job, token in [("", "t"), ("j", ""), ("  ", "t")]:
        with pytest.raises(UsageError) as caught:
            require_job(job, token, "push_data")
        assert str(caught.value) == (
            "push_data requires job_uuid and execution_token in local mode"
        )
    require_job("j", "t", "push_data")


# -- push_data -----------------------------------------------------------------------------


def test_push_data_writes_the_contract_formats(tmp_path: Path) -> None:
    """response_json.json is indent=2 unescaped JSON; each push adds a line in field order."""
    settings = local(tmp_path)
    first = {"a": 1}
    data = {"name": "café", "items": [1, 2.5, None], "empty": {}}
    assert push_data(settings, "job-1", "tok", first, "json") == {"ok": True}
    assert push_data(settings, "job-1", "tok", data, "custom") == {"ok": True}
    folder = tmp_path / "local" / "job-1"
    assert (folder / "response_json.json").read_bytes() == json.dumps(
        data, indent=2, ensure_ascii=False
    ).encode("utf-8")
    raw = raw_lines(folder / "data_pushes.jsonl")
    assert len(raw) == 2
    record = json.loads(raw[1])
    assert list(record) == ["pushed_at", "job_uuid", "execution_token", "type", "data"]
    assert isinstance(record["pushed_at"], str)
    assert TIMESTAMP.match(record["pushed_at"])
    expected = {
        "pushed_at": record["pushed_at"],
        "job_uuid": "job-1",
        "execution_token": "tok",
        "type": "custom",
        "data": data,
    }
    assert raw[1] == json.dumps(expected, ensure_ascii=False)
    assert json.loads(raw[0])["data"] == first
    assert sorted(os.listdir(folder)) == ["data_pushes.jsonl", "files", "response_json.json"]


def test_push_data_converts_values_like_the_wire(tmp_path: Path) -> None:
    """Local pushes accept the same non-JSON types as the wire encoding."""
    settings = local(tmp_path)
    push_data(settings, "job-1", "tok", {"s": {2, 1}, "t": (1,)}, "json")
    response = tmp_path / "local" / "job-1" / "response_json.json"
    assert json.loads(response.read_text(encoding="utf-8")) == {"s": [1, 2], "t": [1]}


def test_unencodable_data_leaves_previous_artifacts_untouched(tmp_path: Path) -> None:
    """A JSONValueError is raised before any write: the earlier files keep their bytes."""
    settings = local(tmp_path)
    push_data(settings, "job-1", "tok", {"ok": 1}, "json")
    folder = tmp_path / "local" / "job-1"
    before = {
        name: (folder / name).read_bytes() for name in ("response_json.json", "data_pushes.jsonl")
    }
    with pytest.raises(JSONValueError) as caught:
        push_data(settings, "job-1", "tok", {"score": math.nan}, "json")
    assert caught.value.where == "$.score"
    after = {name: (folder / name).read_bytes() for name in before}
    assert after == before
    assert sorted(os.listdir(folder)) == ["data_pushes.jsonl", "files", "response_json.json"]


def test_unencodable_first_push_creates_nothing(tmp_path: Path) -> None:
    """When the very first push cannot be encoded, no folder is made."""
    with pytest.raises(JSONValueError):
        push_data(local(tmp_path), "job-1", "tok", [object()], "json")
    assert not (tmp_path / "local").exists()


@pytest.mark.parametrize(
    ("job_uuid", "token", "what"),
    [("job\ud800", "tok", "the job_uuid"), ("job-1", "tok\udc80", "the execution_token")],
)
def test_lone_surrogate_in_an_id_is_a_usage_error_before_writing(
    tmp_path: Path, job_uuid: str, token: str, what: str
) -> None:
    """A job id or token that cannot be written as UTF-8 is refused by name, nothing made."""
    source = make_source(tmp_path, "src", b"data")
    calls: list[tuple[str, Callable[[], object]]] = [
        ("push_data", lambda: push_data(local(tmp_path), job_uuid, token, {}, "json")),
        ("push_file", lambda: push_file(local(tmp_path), job_uuid, token, "a", source, "t/p")),
        ("charge", lambda: charge(local(tmp_path), job_uuid, token, "k", 1, None)),
    ]
    for operation, call in calls:
        with pytest.raises(UsageError) as caught:
            call()
        assert str(caught.value) == (
            f"{operation}: {what} is not valid text (it holds a lone surrogate),"
            " so local mode cannot write it"
        )
    assert not (tmp_path / "local").exists()


@pytest.mark.parametrize(
    ("field", "what"),
    [("name", "the file name"), ("type", "the content_type"), ("key", "the idempotency_key")],
)
def test_lone_surrogate_in_a_name_is_a_usage_error_before_writing(
    tmp_path: Path, field: str, what: str
) -> None:
    """A file name, content type or key UTF-8 cannot hold is refused as the network path does."""
    source = make_source(tmp_path, "src", b"data")
    settings = local(tmp_path)
    calls: dict[str, Callable[[], object]] = {
        "name": lambda: push_file(settings, "job-1", "tok", "bad\ud800", source, "text/plain"),
        "type": lambda: push_file(settings, "job-1", "tok", "a.txt", source, "text/\ud800"),
        "key": lambda: charge(settings, "job-1", "tok", "k\udfff", 1, None),
    }
    with pytest.raises(UsageError, match=f"^{what} is not valid text"):
        calls[field]()
    assert not (tmp_path / "local" / "job-1" / "file_pushes.jsonl").exists()
    assert not (tmp_path / "local" / "job-1" / "charges.jsonl").exists()


def test_push_data_requires_job_and_token(tmp_path: Path) -> None:
    """push_data without a job id or token is a UsageError and writes nothing."""
    with pytest.raises(UsageError, match="push_data requires"):
        push_data(local(tmp_path), "", "tok", {}, "json")
    assert not (tmp_path / "local").exists()


def test_push_data_recreates_a_removed_job_folder(tmp_path: Path) -> None:
    """Removing the local directory between pushes does not break the next push."""
    settings = local(tmp_path)
    push_data(settings, "job-1", "tok", {"n": 1}, "json")
    shutil.rmtree(tmp_path / "local")
    push_data(settings, "job-1", "tok", {"n": 2}, "json")
    folder = tmp_path / "local" / "job-1"
    assert json.loads((folder / "response_json.json").read_text(encoding="utf-8")) == {"n": 2}
    assert len(lines(folder / "data_pushes.jsonl")) == 1


def test_concurrent_pushes_write_whole_lines(tmp_path: Path) -> None:
    """8 threads x 50 pushes give 400 complete lines, and the result matches the last line."""
    settings = local(tmp_path)
    filler = "x" * 5000  # long lines, so interleaved writes would show

    def worker(number: int) -> None:
        for index in range(50):
            push_data(settings, "job-1", f"tok-{number}", {"i": index, "f": filler}, "json")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    folder = tmp_path / "local" / "job-1"
    records = lines(folder / "data_pushes.jsonl")
    assert len(records) == 400
    seen = sorted((str(r["execution_token"]), r["data"]["i"]) for r in records)  # type: ignore[index]
    assert seen == sorted((f"tok-{n}", i) for n in range(8) for i in range(50))
    final = json.loads((folder / "response_json.json").read_text(encoding="utf-8"))
    assert final == records[-1]["data"]
    assert sorted(os.listdir(folder)) == ["data_pushes.jsonl", "files", "response_json.json"]


def test_reader_never_sees_a_partial_result(tmp_path: Path) -> None:
    """While pushes replace response_json.json, a reader always gets one whole document."""
    settings = local(tmp_path)
    payloads = [{"which": n, "blob": [str(n) * 100] * 500} for n in range(2)]
    push_data(settings, "job-1", "tok", payloads[0], "json")
    response = tmp_path / "local" / "job-1" / "response_json.json"
    stop = threading.Event()
    bad: list[str] = []
    reads = 0

    def reader() -> None:
        nonlocal reads
        while not stop.is_set():
            try:
                document = json.loads(response.read_bytes())
            except (OSError, ValueError) as exc:
                bad.append(repr(exc)[:200])
                return
            if document not in payloads:
                bad.append("unexpected content")
                return
            reads += 1

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for index in range(300):
            push_data(settings, "job-1", "tok", payloads[index % 2], "json")
    finally:
        stop.set()
        thread.join()
    assert bad == []
    assert reads > 0


# -- push_file -------------------------------------------------------------------------


def make_source(tmp_path: Path, name: str, content: bytes) -> str:
    path = tmp_path / "sources" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return str(path)


def test_push_file_copies_and_records_the_contract_fields(tmp_path: Path) -> None:
    """The copy lands in files/ and file_pushes.jsonl has every field in order."""
    settings = local(tmp_path)
    content = os.urandom(300_000)
    source = make_source(tmp_path, "in.bin", content)
    assert push_file(settings, "job-1", "tok", "report.pdf", source, "application/pdf") == {
        "ok": True
    }
    folder = tmp_path / "local" / "job-1"
    stored = folder / "files" / "report.pdf"
    assert stored.read_bytes() == content
    raw = raw_lines(folder / "file_pushes.jsonl")
    record = json.loads(raw[0])
    assert list(record) == [
        "pushed_at",
        "job_uuid",
        "execution_token",
        "name",
        "stored_name",
        "stored_path",
        "content_type",
        "size_bytes",
    ]
    assert isinstance(record["pushed_at"], str)
    assert TIMESTAMP.match(record["pushed_at"])
    assert record == {
        "pushed_at": record["pushed_at"],
        "job_uuid": "job-1",
        "execution_token": "tok",
        "name": "report.pdf",
        "stored_name": "report.pdf",
        "stored_path": str(stored),
        "content_type": "application/pdf",
        "size_bytes": len(content),
    }
    assert raw[0] == json.dumps(record, ensure_ascii=False)


@pytest.mark.parametrize(
    ("name", "stored"),
    [
        ("report.pdf", ["report.pdf", "report-2.pdf", "report-3.pdf"]),
        ("archive.tar.gz", ["archive.tar.gz", "archive.tar-2.gz", "archive.tar-3.gz"]),
        ("README", ["README", "README-2", "README-3"]),
        (".bashrc", [".bashrc", ".bashrc-2", ".bashrc-3"]),
        ("", ["file", "file-2", "file-3"]),
    ],
)
def test_taken_names_get_numbered_before_the_extension(
    tmp_path: Path, name: str, stored: list[str]
) -> None:
    """A name already taken gets -2, -3 ... before its extension; earlier copies are kept."""
    settings = local(tmp_path)
    for index in range(3):
        source = make_source(tmp_path, f"s{index}", f"content {index}".encode())
        push_file(settings, "job-1", "tok", name, source, "text/plain")
    files = tmp_path / "local" / "job-1" / "files"
    assert sorted(os.listdir(files)) == sorted(stored)
    for index, stored_name in enumerate(stored):
        assert (files / stored_name).read_bytes() == f"content {index}".encode()
    records = lines(tmp_path / "local" / "job-1" / "file_pushes.jsonl")
    assert [r["stored_name"] for r in records] == stored
    assert [r["name"] for r in records] == [name] * 3


@pytest.mark.parametrize(
    ("name", "stored"),
    [
        ("../../etc/passwd", "passwd"),
        ("/abs/path/out.txt", "out.txt"),
        ("dir/", "file"),
        ("..", "_.."),
        ("a\\..\\b.txt", "a_.._b.txt"),
        ("résumé final.doc", "r_sum_final.doc"),
    ],
)
def test_file_names_are_reduced_to_a_safe_base_name(tmp_path: Path, name: str, stored: str) -> None:
    """The stored name is the safe form of the base name, inside files/."""
    source = make_source(tmp_path, "src", b"data")
    push_file(local(tmp_path), "job-1", "tok", name, source, "text/plain")
    assert os.listdir(tmp_path / "local" / "job-1" / "files") == [stored]
    assert sorted(os.listdir(tmp_path)) == ["local", "sources"]


def test_missing_source_raises_and_leaves_nothing(tmp_path: Path) -> None:
    """A local_path that does not exist raises FileNotFoundError before anything is made."""
    with pytest.raises(FileNotFoundError):
        push_file(local(tmp_path), "job-1", "tok", "a.txt", str(tmp_path / "nope"), "text/plain")
    assert not (tmp_path / "local").exists()


def test_directory_source_raises_and_leaves_nothing(tmp_path: Path) -> None:
    """A local_path that is a folder raises OSError and adds no file or line."""
    settings = local(tmp_path)
    job_dir(settings.directory, "job-1")
    with pytest.raises(OSError):  # noqa: PT011 - the platform picks the subclass
        push_file(settings, "job-1", "tok", "a.txt", str(tmp_path), "text/plain")
    folder = tmp_path / "local" / "job-1"
    assert os.listdir(folder / "files") == []
    assert not (folder / "file_pushes.jsonl").exists()


def test_unwritable_record_removes_the_copy(tmp_path: Path) -> None:
    """When the line cannot be recorded (a folder stands as file_pushes.jsonl), no copy stays."""
    source = make_source(tmp_path, "src", b"data")
    folder = Path(job_dir(str(tmp_path / "local"), "job-1"))
    (folder / "file_pushes.jsonl").mkdir()
    with pytest.raises(ConfigurationError, match="is not a regular file"):
        push_file(local(tmp_path), "job-1", "tok", "a.txt", source, "text/plain")
    assert os.listdir(folder / "files") == []


def test_concurrent_pushes_of_one_name_never_overwrite(tmp_path: Path) -> None:
    """8 threads pushing the same name get 8 distinct stored files with their own content."""
    settings = local(tmp_path)
    contents = {f"tok-{n}": f"thread {n} ".encode() * 20_000 for n in range(8)}
    sources = {token: make_source(tmp_path, token, data) for token, data in contents.items()}
    barrier = threading.Barrier(8)

    def worker(token: str) -> None:
        barrier.wait()
        push_file(settings, "job-1", token, "same.bin", sources[token], "application/octet-stream")

    threads = [threading.Thread(target=worker, args=(token,)) for token in contents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    folder = tmp_path / "local" / "job-1"
    records = lines(folder / "file_pushes.jsonl")
    assert len(records) == 8
    assert len({r["stored_name"] for r in records}) == 8
    assert len(os.listdir(folder / "files")) == 8
    for record in records:
        assert (
            Path(str(record["stored_path"])).read_bytes()
            == contents[str(record["execution_token"])]
        )


@settings(max_examples=40, deadline=None)
@given(job_uuid=st.text(min_size=1), name=st.text())
def test_any_job_id_and_name_write_only_inside_the_directory(job_uuid: str, name: str) -> None:
    """For arbitrary job ids and file names every written path stays inside the directory."""
    if not job_uuid.strip():
        job_uuid = f"{job_uuid}x"
    with tempfile.TemporaryDirectory() as root:
        directory = os.path.join(root, "local")
        source = os.path.join(root, "source.txt")
        Path(source).write_bytes(b"data")
        settings = LocalSettings(directory=directory, fixtures_path="")
        push_data(settings, job_uuid, "tok", {"n": 1}, "json")
        push_file(settings, job_uuid, "tok", name, source, "text/plain")
        charge(settings, job_uuid, "tok", "key", 1, None)
        folder = job_dir(directory, job_uuid)
        assert os.path.dirname(folder) == directory
        assert sorted(os.listdir(root)) == ["local", "source.txt"]
        assert os.listdir(directory) == [os.path.basename(folder)]
        for record in lines(Path(folder) / "file_pushes.jsonl"):
            stored = str(record["stored_path"])
            assert os.path.dirname(stored) == os.path.join(folder, "files")
            assert inside(stored, os.path.join(folder, "files"))
        for parent, _dirs, files in os.walk(root):
            for file in files:
                assert inside(os.path.join(parent, file), directory) or file == "source.txt"


# -- fixtures ------------------------------------------------------------------------------


def test_without_fixtures_the_1_0_5_answers_are_given(tmp_path: Path) -> None:
    """No fixtures file: charge says ok with zero events, get_job_fixture is empty."""
    settings = local(tmp_path)
    assert charge(settings, "job-1", "tok", "k", 1, None) == {
        "ok": True,
        "metered_event_count": 0,
        "limit_reached": False,
    }
    assert get_job_fixture(settings) == {}
    assert load_fixtures("") == {}


def test_fixture_answers_are_fresh_copies(tmp_path: Path) -> None:
    """charge and get_job_fixture answer the fixtures, and changing an answer changes no other."""
    fixtures = {
        "charge": {"ok": True, "metered_event_count": 7, "limit_reached": True, "x": [1]},
        "get_job": {"id": "job-1", "input": {"q": ["a"]}},
    }
    settings = local(tmp_path, fixtures)
    answer = charge(settings, "job-1", "tok", "k", 1, None)
    assert answer == fixtures["charge"]
    answer["x"].append(2)  # type: ignore[attr-defined]
    assert charge(settings, "job-1", "tok", "k2", 1, None) == fixtures["charge"]
    job = get_job_fixture(settings)
    assert job == fixtures["get_job"]
    job["input"]["q"].append("b")  # type: ignore[index]
    assert get_job_fixture(settings) == fixtures["get_job"]
    loaded = load_fixtures(settings.fixtures_path)
    loaded.clear()
    assert load_fixtures(settings.fixtures_path) == fixtures


def test_fixture_edits_are_seen(tmp_path: Path) -> None:
    """Editing the fixtures file between calls changes the next answer."""
    settings = local(tmp_path, {"get_job": {"v": 1}})
    assert get_job_fixture(settings) == {"v": 1}
    path = Path(settings.fixtures_path)
    path.write_text(json.dumps({"get_job": {"v": 2}}), encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert get_job_fixture(settings) == {"v": 2}


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"{not json", "is not valid JSON"),
        (b"[1, 2]", "must hold a JSON object, not an array"),
        (b'"text"', "must hold a JSON object, not a string"),
        (b"\xff\xfe\xfa", "not UTF-8"),
        (b'{"charge": 5}', "'charge' in the fixtures file"),
        (b'{"charge_limit": 0}', "positive integer"),
        (b'{"charge_limit": true}', "positive integer"),
        (b'{"charge_limit": 2.5}', "positive integer"),
        (b'{"charge_limit": "3"}', "positive integer"),
        (b'{"charge": {}, "charge_limit": 3}', "has both 'charge' and 'charge_limit'"),
        (b'{"charge": {"ok": "yes"}}', "'charge.ok' in the fixtures file"),
        (b'{"get_job": 3}', "'get_job' in the fixtures file"),
        (b"[" * 100_000, "nested too deeply"),
    ],
)
def test_bad_fixtures_for_charge_are_configuration_errors(
    tmp_path: Path, content: bytes, words: str
) -> None:
    """A malformed fixtures file or charge entry is a ConfigurationError naming the file."""
    path = tmp_path / "fixtures.json"
    path.write_bytes(content)
    settings = LocalSettings(directory=str(tmp_path / "local"), fixtures_path=str(path))
    with pytest.raises(ConfigurationError) as caught:
        charge(settings, "job-1", "tok", "k", 1, None)
    assert words in str(caught.value)
    assert str(path) in str(caught.value)
    assert not (tmp_path / "local" / "job-1" / "charges.jsonl").exists()


def test_null_fixtures_mean_the_defaults_as_in_105(tmp_path: Path) -> None:
    """A null "charge" or "get_job" answers the defaults, as 1.0.5 did."""
    settings = local(tmp_path, {"charge": None, "get_job": None})
    assert charge(settings, "job-1", "tok", "k", 1, None) == {
        "ok": True,
        "metered_event_count": 0,
        "limit_reached": False,
    }
    assert get_job_fixture(settings) == {}


def test_bad_get_job_fixture_is_a_configuration_error(tmp_path: Path) -> None:
    """A get_job entry that is not an object is a ConfigurationError."""
    settings = local(tmp_path, {"get_job": [1]})
    with pytest.raises(ConfigurationError, match=r"'get_job' in the fixtures file .* an array"):
        get_job_fixture(settings)


def test_missing_fixtures_file_is_a_configuration_error(tmp_path: Path) -> None:
    """A fixtures path that does not exist is named in the error, with the variable."""
    path = str(tmp_path / "missing.json")
    settings = LocalSettings(directory=str(tmp_path / "local"), fixtures_path=path)
    with pytest.raises(ConfigurationError) as caught:
        get_job_fixture(settings)
    assert str(caught.value) == (
        f"the fixtures file {path!r} (SEEKAPI_LOCAL_FIXTURES) does not exist"
    )
    with pytest.raises(ConfigurationError):
        load_fixtures(path)


def test_unreadable_fixtures_file_is_a_configuration_error(tmp_path: Path) -> None:
    """A fixtures path that cannot be read (here a folder) is a ConfigurationError."""
    with pytest.raises(ConfigurationError, match="cannot read the fixtures file"):
        load_fixtures(str(tmp_path))


# -- the charge ledger -------------------------------------------------------------------


def test_charges_are_recorded_once_per_key(tmp_path: Path) -> None:
    """Each distinct key adds one ledger line in field order; a repeated key adds none."""
    settings = local(tmp_path)
    charge(settings, "job-1", "tok", "item-1", 2, {"url": "https://example.com/1"})
    charge(settings, "job-1", "tok", "item-2", 1, None)
    charge(settings, "job-1", "tok", "item-1", 2, {"url": "https://example.com/1"})
    records = lines(tmp_path / "local" / "job-1" / "charges.jsonl")
    assert [list(r) for r in records] == [
        ["charged_at", "job_uuid", "idempotency_key", "count", "justification"]
    ] * 2
    assert [(r["idempotency_key"], r["count"], r["justification"]) for r in records] == [
        ("item-1", 2, {"url": "https://example.com/1"}),
        ("item-2", 1, None),
    ]
    assert isinstance(records[0]["charged_at"], str)
    assert TIMESTAMP.match(records[0]["charged_at"])


def test_charge_limit_answers_from_the_ledger(tmp_path: Path) -> None:
    """With charge_limit, the answer sums distinct charges and says when the limit is hit."""
    settings = local(tmp_path, {"charge_limit": 5})
    answers = [
        charge(settings, "job-1", "tok", key, count, None)
        for key, count in [("a", 2), ("b", 2), ("a", 2), ("c", 1), ("d", 3)]
    ]
    assert [(a["metered_event_count"], a["limit_reached"]) for a in answers] == [
        (2, False),
        (4, False),
        (4, False),
        (5, True),
        (8, True),
    ]
    assert all(a["ok"] is True for a in answers)


def test_ledger_is_per_job(tmp_path: Path) -> None:
    """Charges of one job do not count for another."""
    settings = local(tmp_path, {"charge_limit": 10})
    charge(settings, "job-1", "tok", "a", 4, None)
    assert charge(settings, "job-2", "tok", "a", 1, None)["metered_event_count"] == 1


def test_ledger_counts_lines_written_by_another_process(tmp_path: Path) -> None:
    """Charges recorded by another process are read from the file and not repeated."""
    settings = local(tmp_path, {"charge_limit": 100})
    assert charge(settings, "job-1", "tok", "mine", 1, None)["metered_event_count"] == 1
    script = (
        "import sys\n"
        "from seekapi._local import charge\n"
        "from seekapi._settings import LocalSettings\n"
        "s = LocalSettings(directory=sys.argv[1], fixtures_path=sys.argv[2])\n"
        "charge(s, 'job-1', 'tok', 'theirs', 5, None)\n"
        "charge(s, 'job-1', 'tok', 'mine', 1, None)\n"
    )
    subprocess.run(
        [sys.executable, "-c", script, settings.directory, settings.fixtures_path], check=True
    )
    answer = charge(settings, "job-1", "tok", "theirs", 5, None)
    assert answer["metered_event_count"] == 6
    records = lines(tmp_path / "local" / "job-1" / "charges.jsonl")
    assert [r["idempotency_key"] for r in records] == ["mine", "theirs"]


def test_removing_the_ledger_starts_afresh(tmp_path: Path) -> None:
    """After the job folder is deleted, earlier keys are charged again."""
    settings = local(tmp_path, {"charge_limit": 100})
    charge(settings, "job-1", "tok", "a", 3, None)
    shutil.rmtree(tmp_path / "local")
    answer = charge(settings, "job-1", "tok", "a", 3, None)
    assert answer["metered_event_count"] == 3
    assert len(lines(tmp_path / "local" / "job-1" / "charges.jsonl")) == 1


def test_damaged_ledger_lines_are_skipped(tmp_path: Path) -> None:
    """Lines that are not ledger entries count for nothing; the rest still counts."""
    settings = local(tmp_path, {"charge_limit": 100})
    ledger = Path(job_dir(settings.directory, "job-1")) / "charges.jsonl"
    ledger.write_text(
        '{"idempotency_key": "a", "count": 2}\nnot json\n[1]\n{"idempotency_key": "b"}\n',
        encoding="utf-8",
    )
    assert charge(settings, "job-1", "tok", "c", 1, None)["metered_event_count"] == 3
    assert charge(settings, "job-1", "tok", "a", 2, None)["metered_event_count"] == 3


def test_concurrent_charges_count_each_key_once(tmp_path: Path) -> None:
    """8 threads charging overlapping keys record each key once, and the total is exact."""
    settings = local(tmp_path, {"charge_limit": 1000})
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        for key in range(40):
            charge(settings, "job-1", "tok", f"k{key}", 2, None)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    records = lines(tmp_path / "local" / "job-1" / "charges.jsonl")
    assert sorted(str(r["idempotency_key"]) for r in records) == sorted(f"k{k}" for k in range(40))
    assert charge(settings, "job-1", "tok", "k0", 2, None)["metered_event_count"] == 80


@pytest.mark.skipif(os.name != "posix", reason="needs flock")
def test_charge_waits_for_another_process_lock_within_its_timeout(tmp_path: Path) -> None:
    """The ledger lock is flock on charges.jsonl: a holder delays charge(), never forever."""
    import fcntl

    settings = local(tmp_path, {"charge_limit": 100})
    ledger = Path(job_dir(settings.directory, "job-1")) / "charges.jsonl"
    with open(ledger, "ab") as holder:
        fcntl.flock(holder.fileno(), fcntl.LOCK_EX)  # another process's lock, as flock sees it
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded, match="held the lock of the charge ledger"):
            charge(settings, "job-1", "tok", "a", 1, None, timeout=0.3)
        assert 0.3 <= time.monotonic() - started < 2
        release = threading.Timer(0.2, fcntl.flock, (holder.fileno(), fcntl.LOCK_UN))
        release.start()
        assert charge(settings, "job-1", "tok", "a", 1, None)["metered_event_count"] == 1
        release.join()
    assert len(lines(ledger)) == 1


def test_a_last_line_left_unfinished_is_cut_off_by_the_next_charge(tmp_path: Path) -> None:
    """A line without its newline never counts; the next charge, holding the lock, drops it."""
    settings = local(tmp_path, {"charge_limit": 100})
    ledger = Path(job_dir(settings.directory, "job-1")) / "charges.jsonl"
    ledger.write_text('{"idempotency_key": "a", "count": 2}\n{"idempotency_key": "b", "co', "utf-8")
    assert charge(settings, "job-1", "tok", "c", 1, None)["metered_event_count"] == 3
    assert [r["idempotency_key"] for r in lines(ledger)] == ["a", "c"]


def test_unencodable_justification_writes_nothing(tmp_path: Path) -> None:
    """A justification JSON cannot hold raises before the ledger is touched."""
    settings = local(tmp_path)
    with pytest.raises(JSONValueError):
        charge(settings, "job-1", "tok", "k", 1, {"v": math.inf})
    assert not (tmp_path / "local").exists()


def test_charge_requires_job_and_token(tmp_path: Path) -> None:
    """charge without a token is a UsageError naming charge."""
    with pytest.raises(UsageError, match="charge requires job_uuid and execution_token"):
        charge(local(tmp_path), "job-1", "", "k", 1, None)
