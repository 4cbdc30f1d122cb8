"""Fixtures for the SDK's integration tests: a configured environment and a job."""

from __future__ import annotations

from typing import Any

import pytest

import seekapi
from seekapi.testing import Backend


@pytest.fixture
def configured(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> Backend:
    """The plain backend, with WORKER_API_BASE_URL and WORKER_INTERNAL_SECRET pointing at it."""
    for name, value in backend.env.items():
        monkeypatch.setenv(name, value)
    return backend


@pytest.fixture
def job_ctx(configured: Backend) -> tuple[Any, dict[str, Any]]:
    """A fresh job on the configured backend and the context create_context gives for it."""
    job = configured.create_job({"name": "Ada"})
    return job, seekapi.create_context(job.event)
