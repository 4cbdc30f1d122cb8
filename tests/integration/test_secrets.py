"""No exception message, repr, chained cause or log line holds a secret."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import seekapi
from seekapi.testing import Backend, Fault
from tests.support.echo_server import EchoServer, Received, response

SIGNATURE_MARK = "X-Amz-Signature"


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _texts(exc: BaseException) -> str:
    parts = []
    for item in _chain(exc):
        parts += [str(item), repr(item), repr(item.args), repr(getattr(item, "__dict__", {}))]
    return "\n".join(parts)


def _assert_clean(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text
    assert SIGNATURE_MARK not in text


Scenario = Callable[[Backend, Any, dict[str, Any], Path], None]


def _status(backend: Backend, job: Any, ctx: dict[str, Any], tmp: Path) -> None:
    # A hostile backend echoing the secret and token back in its error body.
    echoed = f"secret={ctx['secret']} token={ctx['execution_token']}".encode()
    backend.fail_next(1, status=400, body=echoed)
    seekapi.push_data(ctx, {"a": 1})


def _drop(backend: Backend, job: Any, ctx: dict[str, Any], tmp: Path) -> None:
    backend.inject(Fault("reset", count=100_000))
    seekapi.charge(ctx, "k", timeout=2)


def _hang(backend: Backend, job: Any, ctx: dict[str, Any], tmp: Path) -> None:
    backend.inject(Fault("hang", count=10))
    seekapi.push_data(ctx, {"a": 1}, timeout=1)


def _upload(backend: Backend, job: Any, ctx: dict[str, Any], tmp: Path) -> None:
    path = tmp / "f.txt"
    path.write_text("x")
    backend.inject(Fault("drop"))
    seekapi.push_file(ctx, "f.txt", str(path))


def _input_status(backend: Backend, job: Any, ctx: dict[str, Any], tmp: Path) -> None:
    backend.fail_next(1, status=404, path="/input/")
    seekapi.get_input(job.event)


def _input_truncated(backend: Backend, job: Any, ctx: dict[str, Any], tmp: Path) -> None:
    backend.inject(Fault("truncate", count=100_000, path="/input/"))
    seekapi.get_input(job.event, timeout=2)


def _input_bad_json(backend: Backend, job: Any, ctx: dict[str, Any], tmp: Path) -> None:
    bad = backend.create_job(raw_input=b"{nope")
    seekapi.get_input(bad.event)


@pytest.mark.parametrize(
    "scenario",
    [_status, _drop, _hang, _upload, _input_status, _input_truncated, _input_bad_json],
)
def test_failures_never_show_secrets(
    configured: Backend,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    scenario: Scenario,
) -> None:
    """Whatever fails, its exception chain and the SDK's log lines hold no secret."""
    job = configured.create_job({"a": 1})
    ctx = seekapi.create_context(job.event)
    secret = configured.env["WORKER_INTERNAL_SECRET"]
    with caplog.at_level(logging.DEBUG), pytest.raises(seekapi.SeekAPIError) as info:
        scenario(configured, job, ctx, tmp_path)
    _assert_clean(_texts(info.value), secret, job.execution_token)
    _assert_clean(caplog.text, secret, job.execution_token)


def test_run_failures_never_show_secrets(
    configured: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    """run()'s failure dict and its logged traceback hold no secret."""
    job = configured.create_job({"a": 1})
    secret = configured.env["WORKER_INTERNAL_SECRET"]
    echoed = f"{secret} {job.execution_token}".encode()
    configured.fail_next(1, status=400, body=echoed, path=f"/v1/internal/jobs/{job.job_uuid}/push")
    with caplog.at_level(logging.DEBUG):
        out = seekapi.run(job.event, None, lambda data: {"echo": data})
    assert out["ok"] is False
    _assert_clean(repr(out), secret, job.execution_token)
    _assert_clean(caplog.text, secret, job.execution_token)


# -- a server that echoes a secret in another form -----------------------------------------
#
# Each form below is how a server (or a proxy, or a framework's error page) may echo a
# value it received. None of them may reach a message, an excerpt, a repr, a chained
# cause or a log line, in whole or in a run of 8 or more of its characters.

# Punctuation every few characters, so that the named-entity form has no long raw run.
ECHO_SECRET = "Qz9/sk.Ab_Cd:Ef/Gh=Ij+Kl@Mn.Op_Rs/Tu"
ECHO_TOKEN = "Wx4/ex.Yz_Ba:Dc/Fe=Hg+Ji@Lk.Nm_Po/Rq"
FRAGMENT = 8


def _named(text: str) -> str:
    names = {"/": "&sol;", ".": "&period;", "_": "&lowbar;", ":": "&colon;"}
    names.update({"=": "&equals;", "+": "&plus;", "@": "&commat;"})
    return "".join(names.get(c, c) for c in text)


def _b64(prefix: str, text: str) -> str:
    import base64

    return base64.b64encode((prefix + text).encode()).decode()


FORMS: dict[str, Callable[[str], str]] = {
    "raw": lambda s: s,
    "base64-aligned-0": lambda s: _b64("", s),
    "base64-aligned-1": lambda s: _b64("u", s),
    "base64-aligned-2": lambda s: _b64("us", s),
    "base64-in-basic-auth": lambda s: "Basic " + _b64("user:", s),
    "hex-lower": lambda s: s.encode().hex(),
    "hex-upper": lambda s: s.encode().hex().upper(),
    "entity-hex": lambda s: "".join(f"&#x{ord(c):x};" for c in s),
    "entity-decimal": lambda s: "".join(f"&#{ord(c)};" for c in s),
    "entity-named": _named,
    "json-unicode-escapes": lambda s: "".join(f"\\u{ord(c):04x}" for c in s),
    "percent-lower": lambda s: "".join(f"%{b:02x}" for b in s.encode()),
    "percent-upper": lambda s: "".join(f"%{b:02X}" for b in s.encode()),
    "slash-escaped": lambda s: s.replace("/", "\\/"),
    "split-lines": lambda s: s[:15] + "\n" + s[15:],
    "split-crlf-three": lambda s: s[:10] + "\r\n" + s[10:22] + "\r\n  " + s[22:],
}


def _echo_body(payload: str) -> bytes:
    return (
        '<html><body><h1>Denied</h1><pre>{"error": "forbidden", "echo": "'
        + payload
        + '"}</pre></body></html>'
    ).encode()


def _assert_no_fragment(text: str, *values: str) -> None:
    """No run of FRAGMENT characters of any value shows in ``text``."""
    for value in values:
        for start in range(max(1, len(value) - FRAGMENT + 1)):
            piece = value[start : start + FRAGMENT]
            assert piece not in text, f"{piece!r} of a secret shows"


@pytest.fixture
def echo_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backend]:
    """A plain backend whose secret has punctuation in it, configured in the environment."""
    with Backend(secret=ECHO_SECRET, directory=tmp_path / "echo-files") as backend:
        for name, value in backend.env.items():
            monkeypatch.setenv(name, value)
        yield backend
    assert backend.internal_errors == []


@pytest.fixture
def echo_tls_backend(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    server_ssl_context: ssl.SSLContext,
    trust_ca: Path,
) -> Iterator[Backend]:
    """The same over TLS, trusted through SSL_CERT_FILE."""
    backend = Backend(
        secret=ECHO_SECRET, ssl_context=server_ssl_context, directory=tmp_path / "echo-tls"
    )
    with backend:
        for name, value in backend.env.items():
            monkeypatch.setenv(name, value)
        yield backend
    assert backend.internal_errors == []


@pytest.mark.parametrize("form", sorted(FORMS))
@pytest.mark.parametrize("which", ["secret", "token"])
def test_status_errors_never_show_an_echoed_secret_in_any_form(
    echo_backend: Backend, caplog: pytest.LogCaptureFixture, form: str, which: str
) -> None:
    """An error body echoing the secret or the token, in any form, shows none of it."""
    job = echo_backend.create_job({}, execution_token=ECHO_TOKEN)
    ctx = seekapi.create_context(job.event)
    echoed = ECHO_SECRET if which == "secret" else ECHO_TOKEN
    payload = FORMS[form](echoed)
    echo_backend.fail_next(1, status=400, body=_echo_body(payload))
    with caplog.at_level(logging.DEBUG), pytest.raises(seekapi.HTTPStatusError) as info:
        seekapi.push_data(ctx, {"a": 1})
    shown = _texts(info.value) + info.value.body_excerpt + caplog.text
    assert "400" in str(info.value)
    _assert_no_fragment(shown, echoed, payload)


@pytest.mark.parametrize("form", ["base64-aligned-1", "hex-upper", "entity-named", "split-lines"])
def test_status_errors_over_tls_never_show_an_echoed_secret(
    echo_tls_backend: Backend, form: str
) -> None:
    """The same holds over TLS, for charge."""
    job = echo_tls_backend.create_job({}, execution_token=ECHO_TOKEN)
    ctx = seekapi.create_context(job.event)
    payload = FORMS[form](ECHO_SECRET)
    echo_tls_backend.fail_next(1, status=409, body=_echo_body(payload))
    with pytest.raises(seekapi.HTTPStatusError) as info:
        seekapi.charge(ctx, "k1")
    _assert_no_fragment(_texts(info.value) + info.value.body_excerpt, ECHO_SECRET, payload)


@pytest.mark.parametrize("form", sorted(FORMS))
def test_input_errors_never_show_an_echoed_query_value(
    echo_backend: Backend, caplog: pytest.LogCaptureFixture, form: str
) -> None:
    """An S3-like 403 echoing the presigned signature, in any form, shows none of it."""
    job = echo_backend.create_job({})
    query = job.input_url.partition("?")[2]
    signature = dict(p.split("=", 1) for p in query.split("&"))["X-Amz-Signature"]
    payload = FORMS[form](signature)
    body = f"<Error><Code>AccessDenied</Code><Echo>{payload}</Echo></Error>".encode()
    echo_backend.fail_next(1, status=403, body=body, path="/input/")
    with caplog.at_level(logging.DEBUG), pytest.raises(seekapi.errors.InputHTTPError) as info:
        seekapi.get_input(job.event)
    _assert_no_fragment(
        _texts(info.value) + info.value.body_excerpt + caplog.text, signature, payload
    )


@pytest.mark.parametrize("form", sorted(FORMS))
def test_invalid_responses_never_show_an_echoed_secret(echo_backend: Backend, form: str) -> None:
    """A 2xx answer that is not JSON, echoing the secret: InvalidResponseError shows none."""
    from seekapi._client import Client
    from seekapi._deadline import Budget
    from seekapi._retry import Replay

    payload = FORMS[form](ECHO_SECRET)
    echo_backend.fail_next(1, status=200, body=_echo_body(payload), path="/v1/other")
    client = Client()
    try:
        with pytest.raises(seekapi.errors.InvalidResponseError) as info:
            client.post_json(
                f"{echo_backend.url}/v1/other",
                b"{}",
                secret=ECHO_SECRET,
                budget=Budget.total(5),
                replay=Replay.ALWAYS,
            )
    finally:
        client.close()
    _assert_no_fragment(_texts(info.value), ECHO_SECRET, payload)


@pytest.mark.parametrize("form", ["raw", "base64-aligned-2", "entity-hex", "percent-lower"])
def test_unreadable_replies_log_no_echoed_secret(
    echo_backend: Backend, caplog: pytest.LogCaptureFixture, form: str
) -> None:
    """The warning about a 2xx reply that is not JSON shows none of an echoed token."""
    job = echo_backend.create_job({}, execution_token=ECHO_TOKEN)
    ctx = seekapi.create_context(job.event)
    payload = FORMS[form](ECHO_TOKEN)
    echo_backend.fail_next(1, status=200, body=_echo_body(payload))
    with caplog.at_level(logging.DEBUG):
        seekapi.push_data(ctx, {"a": 1})
    assert "not a JSON object" in caplog.text
    _assert_no_fragment(caplog.text, ECHO_TOKEN, payload)


@pytest.mark.parametrize("form", ["raw", "base64-aligned-0", "hex-lower", "percent-lower"])
def test_an_echoing_reason_phrase_shows_no_secret(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, form: str
) -> None:
    """The status line's reason phrase is server text too."""
    payload = FORMS[form](ECHO_SECRET)
    with EchoServer(lambda r: response(403, b"no", reason=f"Denied {payload}")) as server:
        monkeypatch.setenv("WORKER_API_BASE_URL", server.url)
        monkeypatch.setenv("WORKER_INTERNAL_SECRET", ECHO_SECRET)
        ctx = seekapi.create_context({"job_uuid": "j1", "execution_token": ECHO_TOKEN})
        with caplog.at_level(logging.DEBUG), pytest.raises(seekapi.HTTPStatusError) as info:
            seekapi.push_data(ctx, {"a": 1})
        seekapi.register_request_id("j1", "req-1")
    assert info.value.status == 403
    _assert_no_fragment(_texts(info.value) + caplog.text, ECHO_SECRET, payload)


# -- a secret that straddles where an excerpt is cut -----------------------------------------

_WINDOW = 16 * 300  # how much of an error body is looked at


@pytest.mark.parametrize("inside", [3, 5, 7, 9, 20, len(ECHO_SECRET) - 1])
@pytest.mark.parametrize("filler", [b" ", b"\n", b"x", b"\xc3\xa9"])
def test_a_secret_cut_by_the_scanned_window_shows_no_part(
    echo_backend: Backend, inside: int, filler: bytes
) -> None:
    """A secret whose first ``inside`` characters end the part of the body looked at."""
    job = echo_backend.create_job({})
    ctx = seekapi.create_context(job.event)
    lead = _WINDOW - inside
    body = filler * (lead // len(filler)) + b"#" * (lead % len(filler))
    body += ECHO_SECRET.encode() + b" and more text after it"
    echo_backend.fail_next(1, status=400, body=body)
    with pytest.raises(seekapi.HTTPStatusError) as info:
        seekapi.push_data(ctx, {"a": 1})
    shown = _texts(info.value) + info.value.body_excerpt
    assert ECHO_SECRET[:inside] not in shown


@pytest.mark.parametrize("inside", [1, 3, 8, 20, len(ECHO_SECRET) - 1])
def test_a_secret_cut_by_the_excerpt_length_shows_no_part(
    echo_backend: Backend, inside: int
) -> None:
    """A secret straddling the end of the 300-character excerpt."""
    job = echo_backend.create_job({})
    ctx = seekapi.create_context(job.event)
    body = b"y" * (300 - inside) + ECHO_SECRET.encode() + b" tail"
    echo_backend.fail_next(1, status=400, body=body)
    with pytest.raises(seekapi.HTTPStatusError) as info:
        seekapi.push_data(ctx, {"a": 1})
    shown = _texts(info.value) + info.value.body_excerpt
    assert ECHO_SECRET[: max(inside, 3)] not in shown


def test_a_secret_far_beyond_the_window_is_not_reached(echo_backend: Backend) -> None:
    """Blank lines cannot pull a secret from past the scanned part into the excerpt."""
    job = echo_backend.create_job({})
    ctx = seekapi.create_context(job.event)
    echo_backend.fail_next(1, status=400, body=b"\n" * 100_000 + ECHO_SECRET.encode())
    with pytest.raises(seekapi.HTTPStatusError) as info:
        seekapi.push_data(ctx, {"a": 1})
    _assert_no_fragment(_texts(info.value), ECHO_SECRET)


def test_a_clean_error_body_is_still_shown(echo_backend: Backend) -> None:
    """What holds no secret is kept, whitespace runs shown as one space."""
    job = echo_backend.create_job({})
    ctx = seekapi.create_context(job.event)
    echo_backend.fail_next(1, status=422, body=b'{"error":\n  "field \'x\' is required"}')
    with pytest.raises(seekapi.HTTPStatusError) as info:
        seekapi.push_data(ctx, {"a": 1})
    assert info.value.body_excerpt == '{"error": "field \'x\' is required"}'
    assert info.value.body_excerpt in str(info.value)


# -- proxy credentials ----------------------------------------------------------------------

PROXY_USER = "proxy-user"
PROXY_PASSWORD = "Pr0xy/Passw0rd-42"


def _refusing_proxy(request: Received) -> bytes:
    """A proxy that refuses and echoes every form of the credentials it was sent."""
    import base64

    auth = request.headers.get("proxy-authorization", "")
    token = auth.partition(" ")[2]
    decoded = base64.b64decode(token).decode() if token else ""
    body = (
        f"<p>Proxy authentication failed for {request.target}</p>"
        f"<p>Proxy-Authorization: {auth}</p><p>decoded: {decoded}</p>"
        f"<p>password: {decoded.partition(':')[2]}</p>"
    ).encode()
    return response(
        407,
        body,
        reason=f"Proxy Authentication Required ({token})",
        headers={"Proxy-Authenticate": 'Basic realm="p"', "Content-Type": "text/html"},
    )


def _proxy_values() -> list[str]:
    import base64

    pair = f"{PROXY_USER}:{PROXY_PASSWORD}"
    return [PROXY_PASSWORD, pair, base64.b64encode(pair.encode()).decode()]


def test_a_407_echoing_proxy_credentials_shows_none_of_them(
    configured: Backend, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Through HTTP_PROXY, a 407 whose body and reason echo the credentials shows none."""
    job = configured.create_job({})
    ctx = seekapi.create_context(job.event)
    with EchoServer(_refusing_proxy) as proxy:
        password = PROXY_PASSWORD.replace("/", "%2F")
        monkeypatch.setenv("HTTP_PROXY", f"http://{PROXY_USER}:{password}@127.0.0.1:{proxy.port}")
        with caplog.at_level(logging.DEBUG), pytest.raises(seekapi.HTTPStatusError) as info:
            seekapi.push_data(ctx, {"a": 1})
        seekapi.register_request_id(job.job_uuid, "req-1")
    assert info.value.status == 407
    assert proxy.received[0].headers["proxy-authorization"].startswith("Basic ")
    _assert_no_fragment(_texts(info.value) + caplog.text, *_proxy_values())


def test_a_refused_tunnel_shows_no_proxy_credentials(
    tls_backend: Backend, trust_ca: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through HTTPS_PROXY, a CONNECT refused with 407 shows no credentials either."""
    for name, value in tls_backend.env.items():
        monkeypatch.setenv(name, value)
    job = tls_backend.create_job({})
    ctx = seekapi.create_context(job.event)
    with EchoServer(_refusing_proxy) as proxy:
        password = PROXY_PASSWORD.replace("/", "%2F")
        monkeypatch.setenv("HTTPS_PROXY", f"http://{PROXY_USER}:{password}@127.0.0.1:{proxy.port}")
        with pytest.raises(seekapi.SeekAPIError) as info:
            seekapi.charge(ctx, "k", timeout=1)
    assert proxy.received[0].method == "CONNECT"
    _assert_no_fragment(_texts(info.value), *_proxy_values())
