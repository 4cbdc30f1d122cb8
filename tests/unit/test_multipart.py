"""The push_file body: three multipart parts, streamed from disk, restartable, bounded memory."""

from __future__ import annotations

import email.message
import email.parser
import email.policy
import os
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seekapi._multipart import FileUpload, encode_filename, guess_content_type
from seekapi.errors import UsageError

TOKEN = "exec-token-123"


def body_of(upload: FileUpload) -> bytes:
    return b"".join(bytes(piece) for piece in upload.chunks())


def parse(upload: FileUpload, body: bytes) -> list[email.message.Message]:
    """The parts of ``body`` as the standard library's MIME parser sees them."""
    head = b"Content-Type: " + upload.content_type.encode("ascii") + b"\r\n\r\n"
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    assert message.is_multipart()
    assert not message.defects
    parts = message.get_payload()
    assert isinstance(parts, list)
    return [part for part in parts if isinstance(part, email.message.Message)]


def disposition_name(part: email.message.Message) -> str | None:
    value = part.get_param("name", header="content-disposition")
    assert value is None or isinstance(value, str)
    return value


def payload(part: email.message.Message) -> bytes:
    data = part.get_payload(decode=True)
    assert isinstance(data, bytes)
    return data


def filename_header(body: bytes) -> bytes:
    """The raw bytes between ``filename="`` and the closing quote of the file part."""
    start = body.index(b'; filename="') + len(b'; filename="')
    end = body.index(b'"\r\nContent-Type: ', start)
    return body[start:end]


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "report.csv"
    path.write_bytes(b"a,b\r\n1,2\r\n--not-a-boundary\r\n\x00\xff")
    return path


def test_body_holds_exactly_the_three_parts_in_order(data_file: Path) -> None:
    """The body parses as execution_token, name, file, holding the token, name and bytes."""
    with FileUpload(
        execution_token=TOKEN, name="out.csv", local_path=str(data_file), content_type="text/csv"
    ) as upload:
        parts = parse(upload, body_of(upload))
    assert [disposition_name(p) for p in parts] == ["execution_token", "name", "file"]
    assert payload(parts[0]) == TOKEN.encode()
    assert payload(parts[1]) == b"out.csv"
    assert parts[2].get_filename() == "out.csv"
    assert payload(parts[2]) == data_file.read_bytes()


def test_only_the_file_part_has_a_content_type(data_file: Path) -> None:
    """Text parts carry no Content-Type header; the file part carries the one given."""
    with FileUpload(
        execution_token=TOKEN, name="a", local_path=str(data_file), content_type="text/csv"
    ) as upload:
        parts = parse(upload, body_of(upload))
    assert parts[0]["Content-Type"] is None
    assert parts[1]["Content-Type"] is None
    assert parts[2]["Content-Type"] == "text/csv"


def test_content_type_header_names_the_boundary_and_body_ends_with_it(data_file: Path) -> None:
    """The request Content-Type carries the boundary; the body closes with --boundary--CRLF."""
    with FileUpload(
        execution_token=TOKEN, name="a", local_path=str(data_file), content_type="text/csv"
    ) as upload:
        body = body_of(upload)
    prefix = "multipart/form-data; boundary="
    assert upload.content_type.startswith(prefix)
    boundary = upload.content_type[len(prefix) :].encode()
    assert body.startswith(b"--" + boundary + b"\r\n")
    assert body.endswith(b"\r\n--" + boundary + b"--\r\n")


def test_filename_escapes_quotes_backslashes_and_controls_but_keeps_non_ascii() -> None:
    """filename= percent-encodes quote, backslash, C0/C1 controls and U+2028/9; é stays raw."""
    name = 'a"b\\c\rd\ne\x00f\x1fg\x7fh\x85i\u2028j\u2029k é;=%22'
    assert encode_filename(name) == (
        "a%22b%5Cc%0Dd%0Ae%00f%1Fg%7Fh%C2%85i%E2%80%A8j%E2%80%A9k é;=%22"
    )


def test_awkward_name_reaches_the_name_part_exactly(data_file: Path) -> None:
    """A name with quotes, CRLF, NUL, ';' and '=' arrives unchanged in the name part."""
    name = 'x"; name="evil"\r\n\r\nContent-Type: a\\b\x00;=é'
    with FileUpload(
        execution_token=TOKEN, name=name, local_path=str(data_file), content_type="text/csv"
    ) as upload:
        body = body_of(upload)
    parts = parse(upload, body)
    assert [disposition_name(p) for p in parts] == ["execution_token", "name", "file"]
    assert payload(parts[1]).decode("utf-8") == name
    assert filename_header(body) == encode_filename(name).encode("utf-8")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.text(st.characters(blacklist_categories=["Cs"])),
    token=st.text(st.characters(blacklist_categories=["Cs"]), max_size=40),
    content=st.binary(max_size=300),
    chunk_size=st.integers(min_value=1, max_value=400),
)
def test_any_name_and_content_give_three_parts(
    name: str, token: str, content: bytes, chunk_size: int
) -> None:
    """For any name, token, bytes and chunk size: three parts, exact values, exact length."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "f")
        with open(path, "wb") as f:
            f.write(content)
        with FileUpload(
            execution_token=token,
            name=name,
            local_path=path,
            content_type="application/octet-stream",
            chunk_size=chunk_size,
        ) as upload:
            body = body_of(upload)
            again = body_of(upload)
    assert upload.content_length == len(body)
    assert again == body
    parts = parse(upload, body)
    assert [disposition_name(p) for p in parts] == ["execution_token", "name", "file"]
    assert payload(parts[0]).decode("utf-8") == token
    assert payload(parts[1]).decode("utf-8") == name
    assert payload(parts[2]) == content
    raw = filename_header(body)
    for forbidden in (b"\r", b"\n", b'"', b"\\"):
        assert forbidden not in raw


@pytest.mark.parametrize("size", [0, 1, 99, 100, 101, 1000, 12345])
@pytest.mark.parametrize("chunk_size", [1, 7, 100, 4096, 256 * 1024])
def test_content_length_matches_and_pieces_respect_chunk_size(
    tmp_path: Path, size: int, chunk_size: int
) -> None:
    """Content-Length equals the body's length; every piece but the last is chunk_size long."""
    path = tmp_path / "f"
    data = os.urandom(size)
    path.write_bytes(data)
    with FileUpload(
        execution_token=TOKEN,
        name="f",
        local_path=str(path),
        content_type="x/y",
        chunk_size=chunk_size,
    ) as upload:
        pieces = [bytes(p) for p in upload.chunks()]
    body = b"".join(pieces)
    assert len(body) == upload.content_length
    head_len = body.index(b"\r\n\r\n", body.index(b'name="file"')) + 4
    assert body[head_len : head_len + size] == data
    assert all(len(piece) == chunk_size for piece in pieces[:-1])
    assert 0 < len(pieces[-1]) <= chunk_size


def test_small_file_goes_out_as_one_piece(data_file: Path) -> None:
    """A body smaller than chunk_size is yielded as a single piece (one send)."""
    with FileUpload(
        execution_token=TOKEN, name="a", local_path=str(data_file), content_type="text/csv"
    ) as upload:
        pieces = list(upload.chunks())
    assert len(pieces) == 1
    assert len(pieces[0]) == upload.content_length


def test_restarting_after_a_partial_read_gives_the_same_body(tmp_path: Path) -> None:
    """chunks() called again after an abandoned iteration starts from byte 0 (retry rewind)."""
    path = tmp_path / "f"
    path.write_bytes(os.urandom(50_000))
    with FileUpload(
        execution_token=TOKEN,
        name="f",
        local_path=str(path),
        content_type="x/y",
        chunk_size=4096,
    ) as upload:
        first = upload.chunks()
        sent = [bytes(next(first)) for _ in range(3)]
        full = body_of(upload)
        assert full.startswith(b"".join(sent))
        assert body_of(upload) == full
        assert len(full) == upload.content_length


def test_interleaved_iterations_do_not_disturb_each_other(tmp_path: Path) -> None:
    """Two iterations over one upload read from their own offsets and buffers."""
    path = tmp_path / "f"
    path.write_bytes(os.urandom(20_000))
    with FileUpload(
        execution_token=TOKEN,
        name="f",
        local_path=str(path),
        content_type="x/y",
        chunk_size=1000,
    ) as upload:
        a, b = upload.chunks(), upload.chunks()
        out_a, out_b = bytearray(), bytearray()
        for piece_a, piece_b in zip(a, b, strict=True):
            out_a += piece_a
            out_b += piece_b
    assert bytes(out_a) == bytes(out_b)
    assert len(out_a) == upload.content_length


def test_file_grown_before_iteration_is_refused(tmp_path: Path) -> None:
    """A file that grew after the upload was built raises UsageError before any byte."""
    path = tmp_path / "f"
    path.write_bytes(b"x" * 100)
    with FileUpload(
        execution_token=TOKEN, name="f", local_path=str(path), content_type="x/y"
    ) as upload:
        with path.open("ab") as f:
            f.write(b"more")
        with pytest.raises(UsageError, match="grew while being pushed"):
            upload.chunks()


def test_file_shrunk_before_iteration_is_refused(tmp_path: Path) -> None:
    """A file that shrank after the upload was built raises UsageError before any byte."""
    path = tmp_path / "f"
    path.write_bytes(b"x" * 100)
    with FileUpload(
        execution_token=TOKEN, name="f", local_path=str(path), content_type="x/y"
    ) as upload:
        os.truncate(path, 10)
        with pytest.raises(UsageError, match="shrank while being pushed"):
            upload.chunks()


def drain_after_first(upload: FileUpload, change: object) -> int:
    """Take the first piece, apply ``change``, then drain; returns the bytes seen."""
    pieces: Iterator[bytes | memoryview] = upload.chunks()
    seen = len(next(pieces))
    assert callable(change)
    change()
    for piece in pieces:
        seen += len(piece)
    return seen


def test_file_grown_during_iteration_is_refused_before_the_tail(tmp_path: Path) -> None:
    """Growth noticed mid-upload raises UsageError instead of finishing the body."""
    path = tmp_path / "f"
    path.write_bytes(b"x" * 10_000)

    def grow() -> None:
        with path.open("ab") as f:
            f.write(b"extra")

    with (
        FileUpload(
            execution_token=TOKEN,
            name="f",
            local_path=str(path),
            content_type="x/y",
            chunk_size=1024,
        ) as upload,
        pytest.raises(UsageError, match="grew while being pushed"),
    ):
        drain_after_first(upload, grow)


def test_file_shrunk_during_iteration_is_refused(tmp_path: Path) -> None:
    """Shrinking noticed mid-upload raises UsageError instead of a short body."""
    path = tmp_path / "f"
    path.write_bytes(b"x" * 10_000)
    with (
        FileUpload(
            execution_token=TOKEN,
            name="f",
            local_path=str(path),
            content_type="x/y",
            chunk_size=1024,
        ) as upload,
        pytest.raises(UsageError, match="shrank while being pushed"),
    ):
        drain_after_first(upload, lambda: os.truncate(path, 5000))


def test_missing_file_raises_file_not_found(tmp_path: Path) -> None:
    """A path that does not exist raises FileNotFoundError when the upload is built."""
    with pytest.raises(FileNotFoundError):
        FileUpload(
            execution_token=TOKEN, name="f", local_path=str(tmp_path / "nope"), content_type="x/y"
        )


def test_directory_raises_is_a_directory(tmp_path: Path) -> None:
    """A directory raises IsADirectoryError when the upload is built."""
    with pytest.raises(IsADirectoryError):
        FileUpload(execution_token=TOKEN, name="f", local_path=str(tmp_path), content_type="x/y")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_named_pipe_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    """A FIFO raises UsageError at once instead of blocking in open()."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(UsageError, match="not a regular file"):
        FileUpload(execution_token=TOKEN, name="f", local_path=str(fifo), content_type="x/y")


@pytest.mark.parametrize("bad", ["text/plain\r\nX-Evil: 1", "a\nb", "a\x00b", "a\x7f", "a\tb"])
def test_content_type_with_control_characters_is_refused(data_file: Path, bad: str) -> None:
    """A content_type holding CR, LF or another control character raises UsageError."""
    with pytest.raises(UsageError, match="content_type"):
        FileUpload(execution_token=TOKEN, name="f", local_path=str(data_file), content_type=bad)


def test_blank_content_type_falls_back_to_octet_stream(data_file: Path) -> None:
    """A blank content_type sends application/octet-stream."""
    with FileUpload(
        execution_token=TOKEN, name="f", local_path=str(data_file), content_type="  "
    ) as upload:
        parts = parse(upload, body_of(upload))
    assert parts[2]["Content-Type"] == "application/octet-stream"


@pytest.mark.parametrize("field", ["name", "execution_token"])
def test_lone_surrogate_is_refused(data_file: Path, field: str) -> None:
    """A name or token that cannot be encoded as UTF-8 raises UsageError."""
    texts = {"execution_token": TOKEN, "name": "f", field: "bad\udc80"}
    with pytest.raises(UsageError, match="lone surrogate"):
        FileUpload(
            execution_token=texts["execution_token"],
            name=texts["name"],
            local_path=str(data_file),
            content_type="x/y",
        )


def test_boundary_is_regenerated_when_a_text_part_contains_it(
    data_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the random boundary occurs in the name, another one is drawn."""
    draws = iter([b"\x00" * 16, b"\x11" * 16])
    monkeypatch.setattr(os, "urandom", lambda n: next(draws))
    name = "prefix seekapi-" + "00" * 16 + " suffix"
    with FileUpload(
        execution_token=TOKEN, name=name, local_path=str(data_file), content_type="x/y"
    ) as upload:
        body = body_of(upload)
    monkeypatch.undo()
    assert upload.content_type.endswith("seekapi-" + "11" * 16)
    parts = parse(upload, body)
    assert payload(parts[1]).decode() == name


def test_boundaries_differ_between_uploads(data_file: Path) -> None:
    """Each upload draws its own random boundary."""
    path = str(data_file)
    with (
        FileUpload(execution_token=TOKEN, name="f", local_path=path, content_type="x/y") as a,
        FileUpload(execution_token=TOKEN, name="f", local_path=path, content_type="x/y") as b,
    ):
        assert a.content_type != b.content_type


def test_close_closes_the_file_and_iteration_after_close_fails(data_file: Path) -> None:
    """The context manager closes the file; close() is idempotent; chunks() then fails."""
    with FileUpload(
        execution_token=TOKEN, name="f", local_path=str(data_file), content_type="x/y"
    ) as upload:
        open_inside = not upload.closed
    assert open_inside
    assert upload.closed
    upload.close()
    with pytest.raises(ValueError, match="closed"):
        upload.chunks()


def test_chunk_size_below_one_is_refused(data_file: Path) -> None:
    """chunk_size must be positive."""
    with pytest.raises(ValueError, match="chunk_size"):
        FileUpload(
            execution_token=TOKEN,
            name="f",
            local_path=str(data_file),
            content_type="x/y",
            chunk_size=0,
        )


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/data/photo.png", "image/png"),
        ("/data/REPORT.PDF", "application/pdf"),
        ("/data/table.csv", "text/csv"),
        ("/data/no-extension", "application/octet-stream"),
        ("/data/odd.ext-nobody-knows", "application/octet-stream"),
    ],
)
def test_guess_content_type_uses_the_path_extension(path: str, expected: str) -> None:
    """The type comes from the local path's extension, defaulting to octet-stream."""
    assert guess_content_type(path) == expected


MEMORY_PROBE = textwrap.dedent(
    """
    import sys
    from seekapi._multipart import FileUpload

    def hwm_kib():
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        raise SystemExit("no VmHWM")

    path, size = sys.argv[1], int(sys.argv[2])
    with open(path, "wb") as f:
        f.truncate(size)
    base = hwm_kib()
    with FileUpload(execution_token="t", name="big", local_path=path,
                    content_type="application/octet-stream") as upload:
        total = 0
        for piece in upload.chunks():
            total += len(piece)
    assert total == upload.content_length, (total, upload.content_length)
    print(hwm_kib() - base)
    """
)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc (Linux)")
def test_memory_stays_flat_for_a_large_file(tmp_path: Path) -> None:
    """Streaming a 256 MiB file raises peak RSS by far less than the file's size."""
    size = 256 * 1024 * 1024
    result = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(tmp_path / "sparse.bin"), str(size)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    grown_kib = int(result.stdout.strip())
    assert grown_kib < 40 * 1024
