"""Fixtures shared by every test: a clean environment, test backends and a test CA."""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from seekapi.testing import Backend, reset_sdk_state

# Every environment variable the SDK reads, by exact name (any case for the *_proxy ones).
_SDK_ENV = ("WORKER_API_BASE_URL", "WORKER_INTERNAL_SECRET", "SSL_CERT_FILE", "SSL_CERT_DIR")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run each test without the SDK's environment variables from the outer shell."""
    for name in list(os.environ):
        if (
            name in _SDK_ENV
            or name.startswith("SEEKAPI_")
            # urllib honours <scheme>_proxy and no_proxy in either case; so may the SDK.
            or name.lower().endswith("_proxy")
        ):
            monkeypatch.delenv(name, raising=False)
    # The default client keeps connections and its TLS trust store between calls, as it
    # should in a warm Lambda; each test starts with a fresh one.
    reset_sdk_state()
    yield
    reset_sdk_state()


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    """A throwaway certificate authority for TLS tests."""
    return trustme.CA()


@pytest.fixture(scope="session")
def server_ssl_context(ca: trustme.CA) -> ssl.SSLContext:
    """A server-side TLS context with a certificate for 127.0.0.1 and localhost."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


def _serve(backend: Backend) -> Iterator[Backend]:
    with backend:
        yield backend
    assert backend.internal_errors == [], "the test backend hit unexpected errors"


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[Backend]:
    """A started plain-HTTP backend on 127.0.0.1, stopped after the test."""
    yield from _serve(Backend(directory=tmp_path / "backend-files"))


@pytest.fixture
def tls_backend(tmp_path: Path, server_ssl_context: ssl.SSLContext) -> Iterator[Backend]:
    """A started HTTPS backend whose certificate is issued by :func:`ca`."""
    yield from _serve(
        Backend(ssl_context=server_ssl_context, directory=tmp_path / "tls-backend-files")
    )


@pytest.fixture
def trust_ca(ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make ``ssl.create_default_context()`` trust :func:`ca` via ``SSL_CERT_FILE``.

    Returns the path of the PEM file.
    """
    path = tmp_path / "test-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    monkeypatch.setenv("SSL_CERT_FILE", str(path))
    return path
