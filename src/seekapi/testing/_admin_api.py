"""The admin API, ``/v1/debug/...``: create and inspect jobs, arm and clear faults.

It is for a worker driven from another process; every call has passed the secret check
before it gets here. Bodies are JSON whatever the Content-Type says, and an empty body
is ``{}``.
"""

from __future__ import annotations

from typing import Any, Protocol
from urllib.parse import quote

from ._faults import FaultSwitchboard, fault_from_json
from ._http import BodyReader, Headers
from ._jobs import EmulatedJob, JobBook
from ._replies import (
    EmulatorResponse,
    bad_request,
    error_response,
    json_response,
    no_other_fields,
    optional_text,
    read_json_object,
)
from ._routes import ADMIN_PREFIX


class JobMaker(Protocol):
    """What creates a job for ``POST /v1/debug/jobs``: :meth:`Backend.create_job`."""

    def __call__(
        self,
        input: object = None,
        *,
        job_uuid: str | None = None,
        execution_token: str | None = None,
        charge_limit: int | None = None,
    ) -> EmulatedJob: ...


class AdminEndpoints:
    """Answers ``/v1/debug/jobs`` and ``/v1/debug/faults`` (one job's view is routed apart)."""

    def __init__(
        self, jobs: JobBook, faults: FaultSwitchboard, create_job: JobMaker, max_json_bytes: int
    ) -> None:
        self._jobs = jobs
        self._faults = faults
        self._create_job = create_job
        self._max_json_bytes = max_json_bytes

    def answer(
        self, endpoint: str, method: str, headers: Headers, body: BodyReader
    ) -> EmulatorResponse:
        """Answer ``endpoint`` (``debug/jobs`` or ``debug/faults``) for ``method``."""
        if endpoint == "debug/jobs":
            if method == "GET":
                return json_response(200, {"jobs": self._jobs.summaries()})
            return self._create(self._read(headers, body))
        if method == "GET":
            return json_response(200, {"faults": self._pending()})
        if method == "DELETE":
            return json_response(200, {"ok": True, "cleared": self._faults.clear()})
        self._faults.inject(fault_from_json(self._read(headers, body)))
        return json_response(201, {"ok": True, "faults": self._pending()})

    def _read(self, headers: Headers, body: BodyReader) -> dict[str, Any]:
        return read_json_object(headers, body, self._max_json_bytes, admin=True)

    def _pending(self) -> list[dict[str, object]]:
        return [f.to_json() for f in self._faults.pending]

    def _create(self, body: dict[str, Any]) -> EmulatorResponse:
        no_other_fields(body, ("input", "job_uuid", "execution_token", "charge_limit"))
        job_uuid = optional_text(body, "job_uuid")
        token = optional_text(body, "execution_token")
        limit = body.get("charge_limit")
        if limit is not None and (type(limit) is not int or limit < 0):
            raise bad_request("charge_limit must be null or a whole number >= 0")
        if job_uuid is not None and self._jobs.exists(job_uuid):
            return error_response(409, "conflict", "a job with this job_uuid already exists")
        try:
            job = self._create_job(
                body.get("input"), job_uuid=job_uuid, execution_token=token, charge_limit=limit
            )
        except ValueError as exc:
            raise bad_request(str(exc)) from None
        location = f"{ADMIN_PREFIX}jobs/{quote(job.job_uuid, safe='')}"
        return json_response(201, job.event, [("Location", location)])
