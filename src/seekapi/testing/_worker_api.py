"""The worker endpoints: push, push/file, charge, worker-request-id, and the job's input.

Each answers a request that has passed the routing, method and secret checks, for a
job that exists; it checks the body, then the execution token, then stores what the
job received, in memory (:class:`~._jobs.JobRecord`) and in the job's folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ._http import BodyReader, Headers
from ._jobs import JobBook, JobRecord, ReceivedFile, generated_document
from ._multipart_parser import MultipartError, MultipartReader, Part, parse_boundary
from ._replies import EmulatorResponse, bad_request, forbidden, json_response, read_json_object

_MAX_TEXT_PART = 64 * 1024
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class _FilePart:
    filename: str
    content_type: str


class WorkerEndpoints:
    """The wire contract's calls, answered for the jobs of a :class:`~._jobs.JobBook`."""

    def __init__(self, jobs: JobBook, max_json_bytes: int) -> None:
        self._jobs = jobs
        self._max_json_bytes = max_json_bytes

    def answer(
        self, endpoint: str, headers: Headers, body: BodyReader, job: JobRecord
    ) -> EmulatorResponse:
        """Answer ``endpoint`` for ``job``; raises :class:`~._replies.Rejection` on a bad body."""
        if endpoint == "input":
            return self._serve_input(job)
        if endpoint == "push/file":
            return self._push_file(headers, body, job)
        document = read_json_object(headers, body, self._max_json_bytes)
        if endpoint == "push":
            return self._push(document, job)
        if endpoint == "charge":
            return self._charge(document, job)
        return self._worker_request_id(document, job)

    def _push(self, body: dict[str, Any], job: JobRecord) -> EmulatorResponse:
        token = self._require_token(body)
        if "data" not in body:
            raise bad_request("data is missing")
        kind = body.get("type")
        if not isinstance(kind, str):
            raise bad_request("type is missing or not a string")
        if not self._token_ok(token, job):
            return forbidden()
        with job.write_lock:
            job.folder.push_data(job.job_uuid, token, body["data"], kind)
            with self._jobs.lock:
                job.pushes.append({"data": body["data"], "type": kind})
                job.result = body["data"]
        return json_response(200, {"ok": True})

    def _charge(self, body: dict[str, Any], job: JobRecord) -> EmulatorResponse:
        token = self._require_token(body)
        key = body.get("idempotency_key")
        if not isinstance(key, str) or not key.strip():
            raise bad_request("idempotency_key is missing or blank")
        count = body.get("count")
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise bad_request("count must be a positive integer")
        if "justification" in body and not isinstance(body["justification"], dict):
            raise bad_request("justification must be a JSON object")
        if not self._token_ok(token, job):
            return forbidden()
        with job.write_lock:
            with self._jobs.lock:
                reply = job.charge_replies.get(key)
            if reply is None:
                # Billed once per key: a repeat gets the first answer again.
                job.folder.record_charge(job.job_uuid, key, count, body.get("justification"))
                with self._jobs.lock:
                    job.metered_event_count += count
                    record: dict[str, object] = {"idempotency_key": key, "count": count}
                    if "justification" in body:
                        record["justification"] = body["justification"]
                    job.charges.append(record)
                    reply = {
                        "ok": True,
                        "metered_event_count": job.metered_event_count,
                        "limit_reached": job.limit_reached,
                    }
                    job.charge_replies[key] = reply
        return json_response(200, reply)

    def _worker_request_id(self, body: dict[str, Any], job: JobRecord) -> EmulatorResponse:
        request_id = body.get("request_id")
        if not isinstance(request_id, str) or not request_id:
            raise bad_request("request_id is missing or not a non-empty string")
        with self._jobs.lock:
            job.request_ids.append(request_id)
        return json_response(200, {"ok": True})

    def _serve_input(self, job: JobRecord) -> EmulatorResponse:
        chunks: Iterable[bytes]
        if job.input_body is not None:
            chunks = [job.input_body]
        else:
            chunks = generated_document(job.input_length)
        return EmulatorResponse(
            200,
            [("Content-Type", job.input_content_type)],
            chunks,
            job.input_length,
            chunked=job.input_chunked,
        )

    def _push_file(self, headers: Headers, body: BodyReader, job: JobRecord) -> EmulatorResponse:
        try:
            boundary = parse_boundary(headers.get("content-type"))
        except MultipartError as exc:
            raise bad_request(str(exc)) from None
        reader = MultipartReader(body.read, boundary, chunk_size=_CHUNK)
        target: str | None = None
        try:
            token = self._text_part(reader, reader.next_part(), "execution_token", 1)
            name = self._text_part(reader, reader.next_part(), "name", 2)
            part = self._file_part(reader.next_part())
            allowed = self._token_ok(token, job)
            digest = hashlib.sha256()
            size = 0
            if allowed:
                # Named as local mode names a pushed file: after the name part.
                stored_name, target, fd = job.folder.claim_file(name or part.filename)
                with open(fd, "wb", closefd=True) as out:
                    while chunk := reader.read():
                        out.write(chunk)
                        digest.update(chunk)
                        size += len(chunk)
            else:
                while reader.read():
                    pass
            self._expect_end(reader)
        except MultipartError as exc:
            self._discard(target)
            raise bad_request(f"malformed multipart body: {exc}") from None
        except BaseException:
            self._discard(target)
            raise
        if not allowed or target is None:
            return forbidden()
        received = ReceivedFile(
            name=name,
            filename=part.filename,
            content_type=part.content_type,
            size=size,
            path=target,
            sha256=digest.hexdigest(),
        )
        with job.write_lock:
            job.folder.record_file(
                job.job_uuid, token, name, stored_name, target, part.content_type, size
            )
            with self._jobs.lock:
                job.files.append(received)
        return json_response(200, {"ok": True})

    def _file_part(self, part: Part | None) -> _FilePart:
        if part is None or part.name != "file":
            raise bad_request('part 3 must be the file part (name="file")')
        if part.filename is None:
            raise bad_request("the file part has no filename parameter")
        if part.content_type is None:
            raise bad_request("the file part has no Content-Type")
        return _FilePart(part.filename, part.content_type)

    def _expect_end(self, reader: MultipartReader) -> None:
        if reader.next_part() is not None:
            raise bad_request(
                "expected exactly three parts (execution_token, name, file), got more"
            )

    def _text_part(self, reader: MultipartReader, part: Part | None, name: str, pos: int) -> str:
        if part is None or part.name != name:
            raise bad_request(f"part {pos} must be the text part name={name!r}")
        if part.filename is not None:
            raise bad_request(f"the {name} part must be text, not a file")
        try:
            return reader.read_all(_MAX_TEXT_PART).decode("utf-8")
        except UnicodeDecodeError:
            raise bad_request(f"the {name} part is not valid UTF-8") from None

    @staticmethod
    def _discard(target: str | None) -> None:
        if target is not None:
            with contextlib.suppress(OSError):
                os.unlink(target)

    def _require_token(self, body: dict[str, Any]) -> str:
        token = body.get("execution_token")
        if not isinstance(token, str):
            raise bad_request("execution_token is missing or not a string")
        return token

    @staticmethod
    def _token_ok(token: str, job: JobRecord) -> bool:
        return hmac.compare_digest(token.encode("utf-8"), job.execution_token.encode("utf-8"))
