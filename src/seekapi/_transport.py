"""HTTP/1.1 over plain sockets and TLS: a keep-alive pool, bounded socket operations, one attempt.

This module owns sockets. It sends one request and reads one response per call to
:meth:`Transport.send`; deciding whether to try again is the client's job.

Time: every socket operation waits at most ``min(stall, time left before the deadline)``,
and the deadline is checked before each one, so a server that drips a byte at a time
still cannot hold a call past its deadline. Connection set-up (TCP connect, proxy
``CONNECT``, TLS handshake) together is bounded by ``connect`` seconds and the deadline.
Name resolution is left to the system resolver and its own timeouts.

Keep-alive: one pool per (scheme, host, port, proxy), most recently used connection
first, at most :data:`MAX_IDLE_PER_ORIGIN` idle connections each. A connection idle for
longer than :data:`IDLE_EXPIRY` seconds is not reused (load balancers commonly drop idle
connections after 60 s), and one the peer has closed is noticed before use and
replaced. One SSL context is built on first use and shared.
"""

from __future__ import annotations

import _thread
import functools
import select
import socket
import ssl
import time
from contextvars import ContextVar

from . import _http11, _proxy
from ._deadline import Deadline
from ._redact import display_url
from ._version import __version__

# typing and dataclasses cost milliseconds to import, on a Lambda's first call: the
# classes here are plain, and typing is read by the type checker only.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from typing import Protocol

    class StreamBody(Protocol):
        """A request body sent in pieces; ``chunks()`` restarts from byte 0 each call."""

        content_type: str
        content_length: int

        def chunks(self) -> Iterator[bytes | memoryview]: ...


_MAX_OP_TIMEOUT = 86400.0
"""The longest single socket wait (a day): sockets cannot take an infinite timeout."""
MAX_IDLE_PER_ORIGIN = 8
IDLE_EXPIRY = 50.0
USER_AGENT = f"seekapi-python/{__version__}"


class Request:
    """One HTTP request. ``url`` may carry a query; it is never shown in errors."""

    __slots__ = ("body", "headers", "method", "url")

    def __init__(
        self,
        method: str,
        url: str,
        headers: Sequence[tuple[str, str]] = (),
        body: bytes | StreamBody | None = None,
    ) -> None:
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body


class Response:
    """A complete response: the body has been read (up to the caller's cap).

    Header names are lower-case; repeated headers are joined with ``", "``.
    """

    __slots__ = ("body", "headers", "reason", "status")

    def __init__(
        self, status: int, reason: str, headers: dict[str, str], body: bytes | bytearray
    ) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class AttemptFailed(Exception):
    """One attempt did not produce a response.

    ``request_sent`` is false when the request is known not to have been sent whole;
    ``reused`` when the connection came from the pool; ``response_started`` when some of
    the response had arrived; ``timed_out`` when a wait ran out; ``deadline`` when the
    call's deadline (not just the per-operation stall limit) is what ran out;
    ``permanent`` when trying again cannot help (a certificate that fails verification).
    """

    def __init__(
        self,
        message: str,
        *,
        request_sent: bool,
        reused: bool = False,
        response_started: bool = False,
        timed_out: bool = False,
        deadline: bool = False,
        permanent: bool = False,
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.request_sent = request_sent
        self.reused = reused
        self.response_started = response_started
        self.timed_out = timed_out
        self.deadline = deadline


BodyTooLarge = _http11.TooLarge
"""The response body is larger than the caller's cap (``limit``, ``declared``)."""


class _DeadlineHit(TimeoutError):
    """The deadline had passed before a socket operation could start."""


_RESPONSE_FAULTS = (OSError, _http11.ProtocolError, _http11.ClosedEarly)


class _TimedSocket:
    """A socket whose every operation is bounded by a stall limit and a deadline."""

    __slots__ = ("_last_timeout", "deadline", "sock", "stall")

    def __init__(self, sock: socket.socket, deadline: Deadline, stall: float) -> None:
        self.sock = sock
        self.deadline = deadline
        self.stall = stall
        self._last_timeout = -1.0

    def arm(self) -> None:
        left = self.deadline.remaining()
        if left <= 0:
            raise _DeadlineHit("deadline passed")
        timeout = min(self.stall, left, _MAX_OP_TIMEOUT)
        last = self._last_timeout
        # Setting a socket timeout is a system call: keep the current one while it is
        # not longer than allowed and at most 50 ms shorter (a negligible early expiry).
        if not timeout - 0.05 <= last <= timeout:
            self.sock.settimeout(timeout)
            self._last_timeout = timeout

    def sendall(self, data: bytes | bytearray | memoryview) -> None:
        self.arm()
        self.sock.sendall(data)

    def recv_into(self, buffer: memoryview | bytearray, nbytes: int = 0) -> int:
        self.arm()
        return self.sock.recv_into(buffer, nbytes)

    def close(self) -> None:
        self.sock.close()


class _Connection:
    """One socket to one origin, possibly through a proxy."""

    __slots__ = ("idle_since", "key", "reader", "reused", "timed")

    def __init__(self, key: _OriginKey, timed: _TimedSocket) -> None:
        self.key = key
        self.timed = timed
        self.reader = _http11.Reader(timed.recv_into)
        self.idle_since = 0.0
        self.reused = False

    def peer_closed(self) -> bool:
        """True when the peer has closed (or sent unexpected bytes on) an idle connection."""
        if self.reader.buffered():
            return True
        sock = self.timed.sock
        try:
            readable, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def close(self) -> None:
        try:  # noqa: SIM105 - contextlib is one import more on a cold start
            self.timed.close()
        except OSError:
            pass


in_doubt: ContextVar[list[socket.socket] | None] = ContextVar("seekapi_in_doubt", default=None)
"""Where an attempt that sent its whole request but timed out waiting for the answer
leaves its socket, open, instead of closing it: the server may still be working on that
request, and the socket tells when it is done (an answer, or the server closing it).
Set by callers that must order their requests (a job's pushes); see :func:`settle`."""


def settle(socks: list[socket.socket], deadline: Deadline) -> int:
    """Wait, until ``deadline``, for the server to finish with each socket in ``socks``.

    A socket is done when it becomes readable (an answer arrived, or the server closed
    or reset it); done sockets are closed and removed from the list. Returns how many
    are left, still open: requests the server may yet apply.
    """
    while socks:
        left = deadline.remaining()
        try:
            done, _, _ = select.select(socks, [], [], min(left, 0.05))
        except (OSError, ValueError):
            done = list(socks)  # a socket that cannot be polled is of no more use
        for sock in done:
            socks.remove(sock)
            try:  # noqa: SIM105 - contextlib is one import more on a cold start
                sock.close()
            except OSError:
                pass
        if left <= 0:
            break
    return len(socks)


# (scheme, host, port, proxy): connections are pooled per origin and per proxy.
_OriginKey = tuple[str, str, int, "_proxy.Proxy | None"]


class _Pool:
    """Idle keep-alive connections per origin, most recently used last in each list."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._lock = _thread.allocate_lock()
        self._idle: dict[_OriginKey, list[_Connection]] = {}
        self._clock = clock

    def take(self, key: _OriginKey) -> _Connection | None:
        discard: list[_Connection] = []
        found: _Connection | None = None
        now = self._clock()
        with self._lock:
            stack = self._idle.get(key)
            while stack:
                conn = stack.pop()
                if now - conn.idle_since > IDLE_EXPIRY:
                    # Everything below is older still.
                    discard.append(conn)
                    discard.extend(stack)
                    stack.clear()
                    break
                found = conn
                break
        if found is not None and found.peer_closed():
            discard.append(found)
            found = None
        for conn in discard:
            conn.close()
        return found

    def give(self, conn: _Connection) -> None:
        conn.idle_since = self._clock()
        conn.reused = True
        evicted: _Connection | None = None
        with self._lock:
            stack = self._idle.setdefault(conn.key, [])
            stack.append(conn)
            if len(stack) > MAX_IDLE_PER_ORIGIN:
                evicted = stack.pop(0)
        if evicted is not None:
            evicted.close()

    def close(self) -> None:
        with self._lock:
            stacks = list(self._idle.values())
            self._idle.clear()
        for stack in stacks:
            for conn in stack:
                conn.close()


class _Target:
    __slots__ = ("host", "host_header", "port", "request_target", "scheme")

    def __init__(
        self, scheme: str, host: str, port: int, request_target: str, host_header: str
    ) -> None:
        self.scheme = scheme
        self.host = host
        self.port = port
        self.request_target = request_target
        self.host_header = host_header


@functools.lru_cache(maxsize=256)
def _parse(url: str) -> _Target:
    # Cached: a worker calls the same few URLs over and over.
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"unsupported URL scheme {scheme!r} in {display_url(url)}")
    host = parts.hostname
    if not host:
        raise ValueError(f"no host in URL {display_url(url)}")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise ValueError(f"bad port in URL {display_url(url)}") from None
    target = parts.path or "/"
    if parts.query:
        target = f"{target}?{parts.query}"
    shown_host = f"[{host}]" if ":" in host else host
    default_port = 443 if scheme == "https" else 80
    host_header = shown_host if port == default_port else f"{shown_host}:{port}"
    for char in "\r\n\x00 ":
        if char in target or char in host:
            raise ValueError(f"URL holds a forbidden character: {display_url(url)}")
    return _Target(scheme, host, port, target, host_header)


def _open_socket(host: str, port: int, setup: Deadline) -> socket.socket:
    """Connect to the first address of ``host`` that answers, all within ``setup``.

    ``socket.create_connection`` gives each address the whole timeout, so a name with
    three silent addresses would take three times as long; here they share it.
    """
    # socket takes bytes for the host too, and then skips the IDNA codec.
    infos = socket.getaddrinfo(_wire_host(host), port, 0, socket.SOCK_STREAM)
    last: OSError | None = None
    for family, kind, proto, _name, address in infos:
        left = setup.remaining()
        if left <= 0:
            break
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(min(left, _MAX_OP_TIMEOUT))
            sock.connect(address)
        except OSError as exc:
            sock.close()
            last = exc
            continue
        return sock
    if last is None or setup.expired():
        raise TimeoutError(f"connecting to {host}:{port} timed out")
    raise last


def _wire_host(host: str) -> str | bytes:
    """An ASCII host name as bytes: socket and ssl then skip the IDNA codec, whose import
    (unicodedata, stringprep) costs milliseconds on a cold start."""
    return host.encode("ascii") if host.isascii() else host


def _check_header(name: str, value: str) -> None:
    text = name + value
    if "\r" in text or "\n" in text or "\x00" in text or ":" in name or " " in name:
        raise ValueError(f"header {name!r} holds a line break, a NUL or a bad character")


class Transport:
    """Sends requests over pooled keep-alive connections. Thread-safe."""

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ssl_context = ssl_context
        self._ssl_lock = _thread.allocate_lock()
        self._clock = clock
        self._pool = _Pool(clock)

    def close(self) -> None:
        """Close every idle connection. The transport stays usable."""
        self._pool.close()

    def _tls(self) -> ssl.SSLContext:
        context = self._ssl_context
        if context is None:
            with self._ssl_lock:
                if self._ssl_context is None:
                    # The system trust store; SSL_CERT_FILE / SSL_CERT_DIR are honoured.
                    self._ssl_context = ssl.create_default_context()
                context = self._ssl_context
        return context

    def send(
        self,
        request: Request,
        *,
        deadline: Deadline,
        stall: float,
        connect: float,
        max_body: int,
        reply_within: float | None = None,
    ) -> Response:
        """Send ``request`` once and read the whole response (at most ``max_body`` bytes).

        ``reply_within``, when given, bounds the whole response (from the end of the
        upload to the last byte of the answer) on top of the deadline.

        Raises :class:`AttemptFailed` when no complete response arrived or the answer is
        not valid HTTP/1.1 (see :mod:`._http11`), ``BodyTooLarge`` when the body exceeds
        ``max_body``, ``ValueError`` for an unusable URL or header (before anything is
        sent). A connection whose attempt failed is closed, never pooled.
        """
        target = _parse(request.url)
        for name, value in request.headers:
            _check_header(name, value)
        proxy = _proxy.proxy_for(target.scheme, target.host, target.port)
        key: _OriginKey = (target.scheme, target.host, target.port, proxy)
        conn = self._pool.take(key)
        if conn is None:
            conn = self._connect(key, target, deadline, connect)
        conn.timed.deadline = deadline
        conn.timed.stall = stall
        head = self._head(request, target, proxy)
        try:
            try:
                self._send_body(conn.timed, head, request.body)
            except (OSError, _DeadlineHit) as exc:
                # The server may have answered early (401, 413) and closed: read it if so.
                early = self._early_response(conn, request.method, max_body)
                if early is not None:
                    conn.close()
                    return early
                raise self._failed(exc, conn, sent=False, started=False) from exc
            if reply_within is not None:
                conn.timed.deadline = deadline.earliest(Deadline.after(reply_within, self._clock))
            response = self._read_response(conn, request.method, max_body)
        except AttemptFailed as failure:
            sink = in_doubt.get()
            if (
                sink is not None
                and failure.request_sent
                and failure.timed_out
                and not failure.response_started
            ):
                sink.append(conn.timed.sock)  # the request may still be applied: keep watching
            else:
                conn.close()
            raise
        except BaseException:
            conn.close()
            raise
        return response

    # -- connection set-up ------------------------------------------------------------

    def _connect(
        self, key: _OriginKey, target: _Target, deadline: Deadline, limit: float
    ) -> _Connection:
        setup = deadline.earliest(Deadline.after(limit, self._clock))
        proxy = key[3]
        host, port = (proxy.host, proxy.port) if proxy else (target.host, target.port)
        left = setup.remaining()
        if left <= 0:
            raise AttemptFailed(
                "no time left to connect", request_sent=False, timed_out=True, deadline=True
            )
        try:
            sock = _open_socket(host, port, setup)
        except TimeoutError as exc:
            raise AttemptFailed(
                f"connecting to {host}:{port} timed out",
                request_sent=False,
                timed_out=True,
                deadline=deadline.expired(),
            ) from exc
        except OSError as exc:
            raise AttemptFailed(
                f"cannot connect to {host}:{port}: {_reason(exc)}", request_sent=False
            ) from exc
        # What to close if set-up fails: after wrapping, the TLS socket owns the descriptor.
        current: socket.socket = sock
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            timed = _TimedSocket(sock, setup, limit)
            if proxy is not None and target.scheme == "https":
                self._tunnel(timed, target, proxy)
            if target.scheme == "https":
                current = self._tls().wrap_socket(
                    sock,
                    server_hostname=_wire_host(target.host),
                    do_handshake_on_connect=False,
                )
                self._handshake(current, setup)
                timed = _TimedSocket(current, setup, limit)
        except BaseException as exc:
            current.close()
            if isinstance(exc, AttemptFailed):
                raise
            if isinstance(exc, OSError):
                where = f"{target.host}:{target.port}"
                raise AttemptFailed(
                    f"connection set-up with {where} failed: {_reason(exc)}",
                    request_sent=False,
                    timed_out=isinstance(exc, TimeoutError),
                    deadline=deadline.expired(),
                    permanent=isinstance(exc, ssl.SSLCertVerificationError),
                ) from exc
            raise
        return _Connection(key, timed)

    def _tunnel(self, timed: _TimedSocket, target: _Target, proxy: _proxy.Proxy) -> None:
        host = f"[{target.host}]" if ":" in target.host else target.host
        authority = f"{host}:{target.port}"
        lines = [f"CONNECT {authority} HTTP/1.1", f"Host: {authority}"]
        if proxy.authorization:
            lines.append(f"Proxy-Authorization: {proxy.authorization}")
        timed.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        reader = _http11.Reader(timed.recv_into)
        try:
            head = _http11.read_head(reader)
        except (_http11.ProtocolError, _http11.ClosedEarly) as exc:
            raise OSError(f"proxy {proxy.host}:{proxy.port}: {exc}") from exc
        if head.status != 200:
            raise AttemptFailed(
                f"proxy {proxy.host}:{proxy.port} refused the tunnel: {head.status}",
                request_sent=False,
                # Wrong credentials or a forbidden target do not get better by retrying.
                permanent=400 <= head.status < 500 and head.status not in (408, 429),
            )
        if reader.buffered():
            # The origin says nothing before the TLS handshake: extra bytes are a fault.
            raise OSError(f"proxy {proxy.host}:{proxy.port} sent data after opening the tunnel")

    @staticmethod
    def _handshake(tls: ssl.SSLSocket, setup: Deadline) -> None:
        # A non-blocking handshake lets the deadline bound the whole exchange, not each read.
        tls.setblocking(False)
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                readers, writers = [tls], []
            except ssl.SSLWantWriteError:
                readers, writers = [], [tls]
            left = setup.remaining()
            wait = min(left, _MAX_OP_TIMEOUT)
            ready = select.select(readers, writers, [], wait) if left > 0 else ([], [], [])
            if not (ready[0] or ready[1]):
                raise TimeoutError("TLS handshake timed out")
        tls.setblocking(True)

    # -- request ----------------------------------------------------------------------

    @staticmethod
    def _head(request: Request, target: _Target, proxy: _proxy.Proxy | None) -> bytes:
        path = target.request_target
        extra: list[tuple[str, str]] = []
        if proxy is not None and target.scheme == "http":
            # A plain-HTTP proxy takes the absolute URL.
            path = f"http://{target.host_header}{target.request_target}"
            if proxy.authorization:
                extra.append(("Proxy-Authorization", proxy.authorization))
        lines = [
            f"{request.method} {path} HTTP/1.1",
            f"Host: {target.host_header}",
            f"User-Agent: {USER_AGENT}",
            "Accept-Encoding: identity",
        ]
        body = request.body
        if isinstance(body, (bytes, bytearray)):
            lines.append(f"Content-Length: {len(body)}")
        elif body is not None:
            lines.append(f"Content-Type: {body.content_type}")
            lines.append(f"Content-Length: {body.content_length}")
        lines.extend(f"{name}: {value}" for name, value in (*request.headers, *extra))
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")

    @staticmethod
    def _send_body(timed: _TimedSocket, head: bytes, body: bytes | StreamBody | None) -> None:
        if body is None:
            timed.sendall(head)
        elif isinstance(body, (bytes, bytearray)):
            # One write for head and body: one packet for small JSON bodies.
            timed.sendall(head + body)
        else:
            timed.sendall(head)
            for chunk in body.chunks():
                timed.sendall(chunk)

    # -- response ---------------------------------------------------------------------

    def _read_response(self, conn: _Connection, method: str, max_body: int) -> Response:
        try:
            head = _http11.read_head(conn.reader)
        except _RESPONSE_FAULTS as exc:
            raise self._failed(exc, conn, sent=True, started=False) from exc
        try:
            body = _http11.read_body(conn.reader, head, method, max_body)
        except _RESPONSE_FAULTS as exc:
            raise self._failed(exc, conn, sent=True, started=True) from exc
        response = Response(head.status, head.reason, head.headers, body)
        if head.keeps_alive() and not conn.reader.buffered():
            self._pool.give(conn)
        else:
            conn.close()
        return response

    def _early_response(self, conn: _Connection, method: str, max_body: int) -> Response | None:
        # Give a server that rejected the upload a moment to have its answer read.
        timed = conn.timed
        timed.stall = min(timed.stall, 1.0)
        try:
            head = _http11.read_head(conn.reader)
            body = _http11.read_body(conn.reader, head, method, max_body)
        except (*_RESPONSE_FAULTS, BodyTooLarge):
            return None
        return Response(head.status, head.reason, head.headers, body)

    def _failed(
        self, exc: BaseException, conn: _Connection, *, sent: bool, started: bool
    ) -> AttemptFailed:
        deadline = isinstance(exc, _DeadlineHit) or conn.timed.deadline.expired()
        timed_out = isinstance(exc, TimeoutError)
        if timed_out:
            phase = "waiting for the response" if sent else "sending the request"
            if deadline:
                message = f"the time budget ran out while {phase}"
            else:
                message = f"no progress for {conn.timed.stall:g} s while {phase}"
        elif isinstance(exc, _http11.ClosedEarly):
            message = str(exc)
            started = started or exc.started
        elif isinstance(exc, _http11.ProtocolError):
            message = f"the server's answer is not valid HTTP: {exc}"
            started = True  # bytes arrived: this is no connection that died while idle
        else:
            phase = "reading the response" if sent else "sending the request"
            message = f"connection failed while {phase}: {_reason(exc)}"
        return AttemptFailed(
            message,
            request_sent=sent,
            reused=conn.reused,
            response_started=started,
            timed_out=timed_out,
            deadline=deadline,
        )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate verification failed ({exc.verify_message})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error ({exc.reason or type(exc).__name__})"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
