"""Which endpoint answers a request: routing, the method and secret checks, the job.

The checks run in the documented order: path, method, secret, job; the endpoints then
check the body and the token.
"""

from __future__ import annotations

import hmac

from .. import _wire
from ._admin_api import AdminEndpoints
from ._http import BodyReader, Headers, RequestHead
from ._jobs import JobBook
from ._replies import EmulatorResponse, Rejection, error_response, json_response
from ._routes import ENDPOINT_METHODS, route
from ._worker_api import WorkerEndpoints


class EndpointDispatcher:
    """Answers a request by handing it to the worker endpoints or the admin API."""

    def __init__(
        self, secret: str, jobs: JobBook, worker: WorkerEndpoints, admin: AdminEndpoints
    ) -> None:
        self._secret = secret
        self._jobs = jobs
        self._worker = worker
        self._admin = admin

    def answer(self, head: RequestHead, body: BodyReader) -> EmulatorResponse:
        """The answer to the request ``head``, whose body ``body`` has not been read."""
        found = route(head.path)
        if found is None:
            return error_response(404, "not_found", "no such endpoint")
        endpoint, job_uuid = found
        allowed = ENDPOINT_METHODS[endpoint]
        if head.method not in allowed:
            return error_response(
                405,
                "method_not_allowed",
                f"use {' or '.join(allowed)} for this endpoint",
                [("Allow", ", ".join(allowed))],
            )
        if endpoint != "input" and not self._secret_ok(head.headers):
            return error_response(
                401, "unauthorized", f"missing or wrong {_wire.SECRET_HEADER} header"
            )
        try:
            if endpoint.startswith("debug/"):
                return self._admin.answer(endpoint, head.method, head.headers, body)
            job = self._jobs.record(job_uuid)
            if job is None:
                return error_response(404, "job_not_found", "no such job")
            if endpoint == "debug":
                with self._jobs.lock:  # encoded while no request can change it
                    return json_response(200, job.view())
            return self._worker.answer(endpoint, head.headers, body, job)
        except Rejection as reject:
            return reject.response

    def _secret_ok(self, headers: Headers) -> bool:
        given = headers.get(_wire.SECRET_HEADER.lower())
        if given is None:
            return False
        return hmac.compare_digest(given.encode("latin-1"), self._secret.encode("utf-8"))
