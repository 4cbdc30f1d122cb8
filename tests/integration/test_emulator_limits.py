"""The emulator cannot be starved: idle and half-sent requests time out, connections are capped.

Clients here are raw sockets that send exactly what a test wants, or nothing at all.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import seekapi
from seekapi.testing import Backend, reset_sdk_state

SECRET = "test-secret"
WAIT = 10.0
"""How long a test waits for something that should happen well within a second."""


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[Callable[..., Backend]]:
    """Start a backend with the given limits; stopped (and checked) after the test."""
    started: list[Backend] = []

    def start(**options: object) -> Backend:
        backend = Backend(directory=tmp_path / f"b{len(started)}", **options)  # type: ignore[arg-type]
        backend.start()
        started.append(backend)
        return backend

    yield start
    reset_sdk_state()
    for backend in started:
        backend.stop()
        assert backend.internal_errors == []


def _connect(backend: Backend) -> socket.socket:
    return socket.create_connection(backend.address, timeout=WAIT)


def _read_to_end(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes; a timeout here fails the test."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


def _request(path: str = "/v1/debug/jobs", *, close: bool = False) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: x", f"X-Internal-Secret: {SECRET}"]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


# -- time limits -----------------------------------------------------------------------


def test_a_connection_that_sends_nothing_is_closed_after_the_idle_timeout(
    limited: Callable[..., Backend],
) -> None:
    """A client that connects and stays silent is disconnected, without an answer."""
    backend = limited(idle_timeout=0.3)
    with _connect(backend) as sock:
        assert _read_to_end(sock) == b""


def test_a_kept_alive_connection_left_idle_is_closed(limited: Callable[..., Backend]) -> None:
    """After an answer, a keep-alive connection that carries nothing more is closed."""
    backend = limited(idle_timeout=0.3)
    with _connect(backend) as sock:
        sock.sendall(_request())
        answer = _read_to_end(sock)
    assert _status(answer) == 200
    assert answer.count(b"HTTP/1.1 ") == 1


@pytest.mark.parametrize(
    "sent",
    [
        b"GET /v1/debug/jo",
        b"GET /v1/debug/jobs HTTP/1.1\r\n",
        b"GET /v1/debug/jobs HTTP/1.1\r\nHost: x\r\nX-Internal-Sec",
    ],
    ids=["half a request line", "a request line", "half the headers"],
)
def test_a_half_sent_head_gets_408_and_the_connection_closed(
    limited: Callable[..., Backend], sent: bytes
) -> None:
    """A request head that stops arriving ends with 408 Request Timeout, then a close."""
    backend = limited(request_timeout=0.3, idle_timeout=30)
    with _connect(backend) as sock:
        sock.sendall(sent)
        answer = _read_to_end(sock)
    assert _status(answer) == 408
    assert b"Connection: close" in answer


def test_a_head_trickled_a_byte_at_a_time_is_cut_off(limited: Callable[..., Backend]) -> None:
    """Bytes that keep coming, too slowly, do not extend the time a head may take."""
    backend = limited(request_timeout=0.5)
    head = _request()  # all of it would take 0.05 s a byte
    closed = False
    with _connect(backend) as sock:
        for byte in head[:-4]:
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                closed = True
                break
            time.sleep(0.05)
            sock.setblocking(False)
            try:
                if sock.recv(65536):
                    closed = True
                    break
            except BlockingIOError:
                pass
            finally:
                sock.setblocking(True)
    assert closed, "the server waited for the whole trickled head"


@pytest.mark.parametrize("trickle", [False, True], ids=["stops", "trickles"])
def test_a_body_that_stops_or_trickles_gets_408(
    limited: Callable[..., Backend], trickle: bool
) -> None:
    """A body that stops arriving, or trickles a byte at a time, ends with 408."""
    backend = limited(request_timeout=0.3)
    job = backend.create_job({})
    head = (
        f"POST /v1/internal/jobs/{job.job_uuid}/push HTTP/1.1\r\nHost: x\r\n"
        f"X-Internal-Secret: {SECRET}\r\nContent-Type: application/json\r\n"
        "Content-Length: 4000\r\n\r\n"
    ).encode()
    answer = b""
    with _connect(backend) as sock:
        sock.sendall(head + b'{"execution_token": "')
        if trickle:
            sock.setblocking(False)
            for _ in range(4000):
                time.sleep(0.02)
                try:
                    answer = sock.recv(65536)
                    break
                except BlockingIOError:
                    pass
                try:
                    sock.send(b"x")
                except OSError:
                    break
            sock.setblocking(True)
        answer += _read_to_end(sock)
    assert _status(answer) == 408
    assert job.result is None
    (recorded,) = [r for r in backend.requests if r.path.endswith("/push")]
    assert recorded.status == 408


def test_a_large_upload_that_keeps_moving_is_not_cut_off(
    limited: Callable[..., Backend], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The body's time grows with what arrives: 64 MiB takes longer than request_timeout."""
    backend = limited(request_timeout=0.2)
    for name, value in backend.env.items():
        monkeypatch.setenv(name, value)
    job = backend.create_job({})
    path = tmp_path / "big.bin"
    with path.open("wb") as handle:
        handle.truncate(64 * 1024 * 1024)
    seekapi.push_file(seekapi.create_context(job.event), "big.bin", str(path), timeout=60)
    (stored,) = job.files
    assert stored.size == 64 * 1024 * 1024


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("idle_timeout", 0),
        ("idle_timeout", -1),
        ("idle_timeout", float("nan")),
        ("idle_timeout", float("inf")),
        ("request_timeout", 0),
        ("request_timeout", "10"),
        ("max_connections", 0),
        ("max_connections", 2.5),
        ("max_connections", True),
    ],
)
def test_limits_are_checked(option: str, value: object) -> None:
    """Timeouts are positive, finite numbers of seconds; the cap a whole number >= 1."""
    with pytest.raises(ValueError, match=option):
        Backend(**{option: value})  # type: ignore[arg-type]


# -- the connection cap ----------------------------------------------------------------


def _wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def test_connections_over_the_cap_are_refused_with_one_log_line(
    limited: Callable[..., Backend],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past max_connections, a new connection gets 503 and is closed; the log says so once.

    Once connections close, ordinary requests (the SDK's included) are served again.
    """
    backend = limited(max_connections=3)
    holders = [_connect(backend) for _ in range(3)]
    try:
        _wait_for(lambda: backend.connections_accepted == 3)
        with caplog.at_level(logging.WARNING, logger="seekapi.testing"):
            answers = []
            for _ in range(5):
                with _connect(backend) as sock:
                    sock.sendall(_request(close=True))
                    answers.append(_read_to_end(sock))
        assert [_status(a) for a in answers] == [503] * 5
        assert all(b"Connection: close" in a for a in answers)
        refusals = [r for r in caplog.records if "max_connections" in r.getMessage()]
        assert len(refusals) == 1, [r.getMessage() for r in caplog.records]
        assert refusals[0].exc_info is None
        assert "Traceback" not in caplog.text
        # The SDK, refused at first, retries and gets through once a slot frees up.
        for name, value in backend.env.items():
            monkeypatch.setenv(name, value)
        job = backend.create_job({})
        ctx = seekapi.create_context(job.event)
        freed = threading.Timer(0.5, holders.pop().close)
        freed.start()
        try:
            assert seekapi.push_data(ctx, {"done": True}, timeout=20) == {"ok": True}
        finally:
            freed.join()
        assert job.result == {"done": True}
    finally:
        for sock in holders:
            sock.close()


# -- out of descriptors or threads, in a process of its own ------------------------------

_CHILD = textwrap.dedent(
    """
    import json, resource, sys, threading
    from seekapi.testing import Backend

    limit = json.loads(sys.argv[1])
    backend = Backend(max_connections=10_000, idle_timeout=60, request_timeout=60)
    backend.start()
    if limit["kind"] == "files":
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit["files"], hard))
    else:
        # Each new thread reserves a 256 MiB stack; the address space has room for one.
        threading.stack_size(256 * 1024 * 1024)
        with open("/proc/self/status") as status:
            vm = next(int(l.split()[1]) for l in status if l.startswith("VmSize:")) * 1024
        room = vm + 256 * 1024 * 1024 + 200 * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (room, resource.RLIM_INFINITY))
    print(json.dumps({"port": backend.address[1]}), flush=True)
    sys.stdin.readline()
    backend.stop()
    print(json.dumps({"internal_errors": len(backend.internal_errors)}), flush=True)
    """
)


def _ask(port: int) -> int:
    """The status of one ordinary request on a fresh connection (0: no answer)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as sock:
            sock.sendall(_request(close=True))
            answer = _read_to_end(sock)
    except OSError:
        return 0
    return _status(answer) if answer.startswith(b"HTTP/1.1 ") else 0


@pytest.mark.parametrize("kind", ["files", "threads"])
def test_running_out_of_descriptors_or_threads_is_one_log_line(kind: str) -> None:
    """The accept loop survives EMFILE and a thread that cannot start: one line, no traceback.

    Connections it cannot serve are closed (or refused) at once, not left hanging, and
    ordinary requests succeed again once resources free up.
    """
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, json.dumps({"kind": kind, "files": 40})],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdin is not None
    try:
        port = json.loads(child.stdout.readline())["port"]
        holders: list[socket.socket] = []
        refused = 0
        try:
            for _ in range(60):
                sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
                holders.append(sock)
                sock.sendall(b"GET /v1/debug/jobs HTTP/1.1\r\n")  # half a head: kept waiting
                sock.setblocking(False)
            time.sleep(0.5)
            for sock in holders:
                with contextlib.suppress(BlockingIOError):
                    with contextlib.suppress(ConnectionResetError):
                        sock.recv(65536)
                    refused += 1  # an answer or an end: not left hanging
        finally:
            for sock in holders:
                sock.close()
        assert refused > 0
        deadline = time.monotonic() + WAIT
        while _ask(port) != 200:
            assert time.monotonic() < deadline, "the emulator did not recover"
            time.sleep(0.05)
        child.stdin.write("\n")
        child.stdin.flush()
        finished = json.loads(child.stdout.readline())
        _, stderr = child.communicate(timeout=WAIT)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert finished == {"internal_errors": 0}
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert ("open files" if kind == "files" else "thread") in lines[0]
