"""The HTTP/1.1 response reader, fed from byte streams cut into arbitrary pieces."""

from __future__ import annotations

import contextlib
import tracemalloc
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seekapi._http11 import ClosedEarly, ProtocolError, Reader, TooLarge, read_body, read_head


def _source(data: bytes, pieces: list[int] | None = None) -> Callable[[memoryview], int]:
    """A recv_into over ``data`` that hands out at most the next piece size per call."""
    state = {"pos": 0, "i": 0}

    def recv_into(view: memoryview) -> int:
        pos = state["pos"]
        size = len(view)
        if pieces:
            size = min(size, max(1, pieces[state["i"] % len(pieces)]))
            state["i"] += 1
        chunk = data[pos : pos + size]
        view[: len(chunk)] = chunk
        state["pos"] = pos + len(chunk)
        return len(chunk)

    return recv_into


def _read(raw: bytes, method: str = "POST", max_body: int = 1 << 20) -> tuple[int, bytes, bool]:
    reader = Reader(_source(raw))
    head = read_head(reader)
    body = read_body(reader, head, method, max_body)
    return head.status, bytes(body), head.keeps_alive()


def test_content_length_body_and_keep_alive() -> None:
    """A Content-Length body is read exactly; HTTP/1.1 keeps the connection by default."""
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhello"
    assert _read(raw) == (200, b"hello", True)


def test_two_responses_back_to_back_share_one_reader() -> None:
    """Bytes read ahead for one response are kept for the next."""
    raw = (
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na"
        b"HTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nb"
    )
    reader = Reader(_source(raw))
    first = read_head(reader)
    assert bytes(read_body(reader, first, "POST", 10)) == b"a"
    second = read_head(reader)
    assert (second.status, bytes(read_body(reader, second, "POST", 10))) == (201, b"b")


@pytest.mark.parametrize(
    ("raw", "alive"),
    [
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", False),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", False),
        (b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n", True),
    ],
)
def test_connection_reuse_rules(raw: bytes, alive: bool) -> None:
    """Connection: close and HTTP/1.0 end the connection unless keep-alive is said."""
    assert _read(raw)[2] is alive


def test_informational_responses_are_skipped() -> None:
    """A 100 Continue before the real answer is passed over."""
    raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    assert _read(raw)[:2] == (200, b"ok")


def test_body_until_close() -> None:
    """Without length or chunking, the body runs to the end of the stream."""
    assert _read(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it")[1] == b"all of it"


def test_no_body_for_204_and_head() -> None:
    """204 and answers to HEAD have no body, whatever the headers say."""
    assert _read(b"HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n")[1] == b""
    assert _read(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", method="HEAD")[1] == b""


@given(
    st.binary(max_size=3000),
    st.lists(st.integers(min_value=1, max_value=700), min_size=1, max_size=8),
    st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=5),
)
def test_chunked_bodies_decode_exactly(body: bytes, cuts: list[int], pieces: list[int]) -> None:
    """Any body, chunked any way and received in any pieces, decodes to itself."""
    encoded = b""
    rest, i = body, 0
    while rest:
        size = cuts[i % len(cuts)]
        chunk, rest = rest[:size], rest[size:]
        encoded += f"{len(chunk):x};ext=1\r\n".encode() + chunk + b"\r\n"
        i += 1
    encoded += b"0\r\nTrailer: x\r\n\r\n"
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + encoded
    reader = Reader(_source(raw, pieces))
    head = read_head(reader)
    assert bytes(read_body(reader, head, "GET", 1 << 20)) == body
    assert reader.buffered() == 0


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
        b"HTTP/1.1 200 OK\r\nContent-",
        b"HTTP/1.1 2",
    ],
)
def test_truncated_answers_are_closed_early(raw: bytes) -> None:
    """A stream that ends mid-answer raises ClosedEarly."""
    with pytest.raises(ClosedEarly):
        _read(raw)


def test_nothing_at_all_is_not_started() -> None:
    """End of stream before any byte: the server closed without answering."""
    with pytest.raises(ClosedEarly) as info:
        _read(b"")
    assert info.value.started is False


@pytest.mark.parametrize(
    "raw",
    [
        b"SSH-2.0-OpenSSH\r\n\r\n",
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\nx",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
)
def test_malformed_answers_are_protocol_errors(raw: bytes) -> None:
    """Garbage, bad status codes, conflicting lengths and bad chunks are refused."""
    with pytest.raises(ProtocolError):
        _read(raw)


def test_announced_length_over_the_cap_fails_before_reading() -> None:
    """A Content-Length above the cap raises TooLarge with the declared size."""
    with pytest.raises(TooLarge) as info:
        _read(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n", max_body=100)
    assert info.value.declared == 5000


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n80\r\n"
        + b"x" * 128
        + b"\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"x" * 200,
    ],
)
def test_unannounced_bodies_over_the_cap(raw: bytes) -> None:
    """Chunked or read-until-close bodies stop at the cap."""
    with pytest.raises(TooLarge):
        _read(raw, max_body=100)


# -- strict framing: nothing a server could mean two ways is accepted ----------------------

_OK = b"Content-Length: 2\r\n\r\nok"


@pytest.mark.parametrize(
    "status_line",
    [
        b"HTTP/1.1 +20 OK",
        b"HTTP/1.1 -20 OK",
        b"HTTP/1.1 2_0 OK",
        b"HTTP/1.1 20 OK",
        b"HTTP/1.1 2000 OK",
        b"HTTP/1.1 099 Low",
        b"HTTP/1.1 600 High",
        b"HTTP/1.1  200 OK",
        b" HTTP/1.1 200 OK",
        b"HTTP/1.1 200\tOK",
        b"HTTP/2.0 200 OK",
        b"HTTP/1.10 200 OK",
        b"HTTP/1.x 200 OK",
        b"http/1.1 200 OK",
        b"HTTP/1.1 \xd9\xa200 OK",
    ],
)
def test_status_lines_other_than_version_code_reason_are_refused(status_line: bytes) -> None:
    """The status line is HTTP/1.x, one space, three digits from 100 to 599, then the reason."""
    with pytest.raises(ProtocolError):
        _read(status_line + b"\r\n" + _OK)


@pytest.mark.parametrize(
    ("status_line", "status", "reason"),
    [
        (b"HTTP/1.1 200 OK", 200, "OK"),
        (b"HTTP/1.1 200 ", 200, ""),
        (b"HTTP/1.1 200", 200, ""),
        (b"HTTP/1.0 404 Not  Found", 404, "Not  Found"),
        (b"HTTP/1.1 599 \tx", 599, "\tx"),
    ],
)
def test_status_lines_with_and_without_a_reason(
    status_line: bytes, status: int, reason: str
) -> None:
    """The reason phrase is optional and kept as sent."""
    reader = Reader(_source(status_line + b"\r\n" + _OK))
    head = read_head(reader)
    assert (head.status, head.reason) == (status, reason)


@pytest.mark.parametrize(
    "size_line",
    [b"+2", b"-2", b"0x2", b"0X2", b"0_2", b" 2", b"2 2", b"", b";ext", b"-0", b"+0", b"2\x00"],
)
def test_chunk_sizes_are_hex_digits_only(size_line: bytes) -> None:
    """No sign, prefix, underscore, inner or leading space: int(x, 16) takes several."""
    raw = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        + size_line
        + b"\r\nok\r\n0\r\n\r\n"
    )
    with pytest.raises(ProtocolError):
        _read(raw)


@pytest.mark.parametrize("size_line", [b"2", b"02", b"2;ext=1", b"2 ;ext", b"2\t; a=b"])
def test_chunk_sizes_may_carry_an_extension(size_line: bytes) -> None:
    """A chunk extension after ';' (with optional white space before it) is ignored."""
    raw = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        + size_line
        + b"\r\nok\r\n0\r\n\r\n"
    )
    assert _read(raw)[1] == b"ok"


def test_an_absurdly_long_chunk_size_is_refused() -> None:
    """A chunk size of more hex digits than any real chunk needs is malformed."""
    raw = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"0" * 40
        + b"2\r\nok\r\n0\r\n\r\n"
    )
    with pytest.raises(ProtocolError):
        _read(raw)


@pytest.mark.parametrize(
    "coding",
    [
        b"gzip",
        b"gzip, chunked",
        b"chunked, gzip",
        b"identity",
        b"xchunked",
        b"chunked, chunked",
        b"chunked;q=1",
        b"",
    ],
)
def test_transfer_codings_other_than_chunked_alone_are_refused(coding: bytes) -> None:
    """The SDK sends no TE header: only 'chunked', alone, is an acceptable coding."""
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: " + coding + b"\r\n\r\n2\r\nok\r\n0\r\n\r\n"
    with pytest.raises(ProtocolError):
        _read(raw)


def test_transfer_encoding_chunked_in_any_case_is_accepted() -> None:
    """Coding names are case-insensitive."""
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding:  Chunked \r\n\r\n2\r\nok\r\n0\r\n\r\n"
    assert _read(raw) == (200, b"ok", True)


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"2\r\nok\r\n0\r\n\r\n",
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"2\r\nok\r\n0\r\n\r\n",
    ],
)
def test_suspect_framing_is_read_as_chunked_and_ends_the_connection(raw: bytes) -> None:
    """Content-Length with Transfer-Encoding (or chunking in HTTP/1.0): chunked, not reused."""
    assert _read(raw) == (200, b"ok", False)


@pytest.mark.parametrize(
    "lengths",
    [b"Content-Length: 2\r\nContent-Length: 3", b"Content-Length: 2, 3", b"Content-Length: 2,"],
)
def test_differing_content_lengths_are_refused(lengths: bytes) -> None:
    """Several Content-Length values that differ cannot frame one body."""
    with pytest.raises(ProtocolError):
        _read(b"HTTP/1.1 200 OK\r\n" + lengths + b"\r\n\r\nok")


def test_repeated_equal_content_lengths_are_one() -> None:
    """The same length twice frames the body once (RFC 9110 §8.6)."""
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok"
    assert _read(raw)[1] == b"ok"


@pytest.mark.parametrize("digits", [19, 5000])
def test_a_content_length_too_long_for_any_body_is_never_a_bare_value_error(digits: int) -> None:
    """int() refuses strings of thousands of digits: the parser answers with its own error."""
    with pytest.raises((ProtocolError, TooLarge)):
        _read(b"HTTP/1.1 200 OK\r\nContent-Length: " + b"9" * digits + b"\r\n\r\nok")


# -- memory follows the bytes received, not the bytes announced ----------------------------

_DECLARED = 200_000_000


@pytest.mark.parametrize(
    "head",
    [
        f"HTTP/1.1 200 OK\r\nContent-Length: {_DECLARED}\r\n\r\n".encode(),
        f"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{_DECLARED:x}\r\n".encode(),
    ],
    ids=["content-length", "chunked"],
)
def test_an_announced_size_costs_nothing_until_its_bytes_arrive(head: bytes) -> None:
    """200 MB announced, 5 bytes sent: the reader holds a few hundred KiB at most."""
    reader = Reader(_source(head + b"hello"))
    parsed = read_head(reader)
    tracemalloc.start()
    try:
        with pytest.raises(ClosedEarly):
            read_body(reader, parsed, "GET", 256 * 1024 * 1024)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * 1024 * 1024


@settings(deadline=None, max_examples=40)
@given(
    st.integers(min_value=0, max_value=3_000_000),
    st.lists(st.integers(min_value=1000, max_value=300_000), min_size=1, max_size=4),
)
def test_bodies_of_any_length_arrive_whole(size: int, pieces: list[int]) -> None:
    """Growing the body as it arrives loses and adds nothing, whatever the pieces."""
    body = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    raw = f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n".encode() + body + b"NEXT"
    reader = Reader(_source(raw, pieces))
    head = read_head(reader)
    assert bytes(read_body(reader, head, "GET", 1 << 30)) == body
    assert reader.read_available(100) == b"NEXT"


_PIECES = [
    b"HTTP/1.1 ",
    b"HTTP/1.0 ",
    b"200",
    b" OK",
    b"\r\n",
    b"\n",
    b"\r",
    b" ",
    b":",
    b",",
    b";",
    b"Content-Length",
    b"Transfer-Encoding",
    b"chunked",
    b"Connection",
    b"close",
    b"9" * 30,
    b"0x1",
    b"+",
    b"-",
    b"_",
    b"ff",
    b"\x00",
    b"\xff",
    b"1" * 5000,
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(_PIECES), st.binary(max_size=8)), max_size=40))
def test_any_byte_stream_fails_only_with_the_parsers_own_errors(parts: list[bytes]) -> None:
    """Whatever arrives, the reader answers with a response or one of its three errors."""
    raw = b"".join(parts)
    with contextlib.suppress(ProtocolError, ClosedEarly, TooLarge):
        _read(raw, method="GET", max_body=1 << 16)


_FIELD_NAMES = st.sampled_from(["X-A", "x-a", "Content-Type", "Server", "Date", "X-Long"])
_FIELD_VALUES = st.text(alphabet="abc ,;=/\t", max_size=30)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(_FIELD_NAMES, _FIELD_VALUES), max_size=12),
    st.lists(st.booleans(), min_size=1, max_size=13),
    st.lists(st.integers(min_value=1, max_value=90), min_size=1, max_size=6),
)
def test_header_blocks_read_the_same_however_they_arrive(
    fields: list[tuple[str, str]], bare_lf: list[bool], pieces: list[int]
) -> None:
    """CRLF or bare LF line ends, in one receive or many: the same headers come out."""
    expected: dict[str, str] = {}
    for name, raw_value in fields:
        key, value = name.lower(), raw_value.strip()
        expected[key] = f"{expected[key]}, {value}" if key in expected else value
    ends = [b"\n" if bare_lf[i % len(bare_lf)] else b"\r\n" for i in range(len(fields) + 1)]
    block = b"".join(
        f"{name}: {value}".encode() + end
        for (name, value), end in zip(fields, ends[:-1], strict=True)
    )
    raw = b"HTTP/1.1 200 OK\r\n" + block + ends[-1] + b"Content-Length: 0\r\n\r\n"
    for source in (_source(raw), _source(raw, pieces)):
        reader = Reader(source)
        head = read_head(reader)
        assert head.headers == expected
        assert reader.readline() == b"Content-Length: 0\r\n"
