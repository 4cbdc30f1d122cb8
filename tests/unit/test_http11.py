"""The HTTP/1.1 response reader, fed from byte streams cut into arbitrary pieces."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
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
