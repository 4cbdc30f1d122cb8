"""TLS with verification always on, and proxies from the environment."""

from __future__ import annotations

import base64
from typing import Any

import pytest

import seekapi
from seekapi.errors import TransportError
from seekapi.testing import Backend
from tests.support.proxy_server import ForwardProxy


def _configure(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in backend.env.items():
        monkeypatch.setenv(name, value)


def test_tls_calls_reuse_one_connection(
    tls_backend: Backend, trust_ca: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over TLS, trusted through SSL_CERT_FILE, 100 calls share one connection."""
    _configure(tls_backend, monkeypatch)
    job = tls_backend.create_job({"x": 1})
    assert seekapi.get_input(job.event) == {"x": 1}
    ctx = seekapi.create_context(job.event)
    for i in range(50):
        seekapi.charge(ctx, f"k{i}")
        seekapi.push_data(ctx, {"i": i})
    assert job.metered_event_count == 50
    assert tls_backend.connections_accepted == 1


def test_untrusted_certificate_is_refused_without_retrying(
    tls_backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A certificate the trust store does not vouch for fails at once with a clear reason."""
    _configure(tls_backend, monkeypatch)
    job = tls_backend.create_job({})
    ctx = seekapi.create_context(job.event)
    with pytest.raises(TransportError, match="certificate verification failed") as info:
        seekapi.push_data(ctx, {"a": 1})
    assert info.value.attempts == 1
    assert job.result is None


def test_https_through_a_connect_proxy(
    tls_backend: Backend, trust_ca: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTPS_PROXY tunnels with CONNECT and sends the proxy credentials only to the proxy."""
    _configure(tls_backend, monkeypatch)
    job = tls_backend.create_job({})
    with ForwardProxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", f"http://user:p%40ss@127.0.0.1:{proxy.port}")
        ctx = seekapi.create_context(job.event)
        seekapi.push_data(ctx, {"via": "proxy"})
        seekapi.charge(ctx, "k")
    assert job.result == {"via": "proxy"}
    assert proxy.request_lines[0].startswith("CONNECT 127.0.0.1:")
    expected = "Basic " + base64.b64encode(b"user:p@ss").decode()
    assert proxy.authorizations[0] == expected
    assert len(proxy.request_lines) == 1  # one tunnel, kept alive
    for request in tls_backend.requests:
        assert "proxy-authorization" not in request.headers


def test_http_through_a_forward_proxy(configured: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTP_PROXY receives the absolute URL."""
    job = configured.create_job({})
    with ForwardProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        seekapi.push_data(seekapi.create_context(job.event), {"via": "http-proxy"})
    assert job.result == {"via": "http-proxy"}
    assert proxy.request_lines[0].startswith(f"POST {configured.url}/v1/internal/jobs/")


def test_no_proxy_bypasses_the_proxy(configured: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    """A host listed in NO_PROXY is reached directly."""
    job = configured.create_job({})
    with ForwardProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
        seekapi.push_data(seekapi.create_context(job.event), {"direct": True})
    assert proxy.request_lines == []
    assert job.result == {"direct": True}
