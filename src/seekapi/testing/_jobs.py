"""Job state: what each emulated job was given and received, and its public live view.

:class:`JobBook` holds the jobs of one emulator under one lock; :class:`JobRecord` is a
job's mutable state, changed by the worker endpoints; :class:`EmulatedJob` (exported as
``seekapi.testing.Job``) is the thread-safe view handed to tests.
"""

from __future__ import annotations

import copy
import json
import secrets
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._store import JobFolder, LedgerEntry

_CHUNK = 64 * 1024
_FILL = (b"abcdefghijklmnopqrstuvwxyz0123456789" * (_CHUNK // 36 + 1))[:_CHUNK]


@dataclass(frozen=True)
class ReceivedFile:
    """A file uploaded with ``/push/file`` and written to the backend's directory.

    ``name`` is the ``name`` part, ``filename`` the ``filename`` parameter of the file
    part, ``content_type`` its Content-Type as sent; ``path`` is where it was stored: in
    the job folder's ``files/``, named after ``name`` as local mode names it (``-2``,
    ``-3``, ... before the extension when the name is taken).
    """

    name: str
    filename: str
    content_type: str
    size: int
    path: str
    sha256: str

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict of every field."""
        return {
            "name": self.name,
            "filename": self.filename,
            "content_type": self.content_type,
            "size": self.size,
            "path": self.path,
            "sha256": self.sha256,
        }


@dataclass
class JobRecord:
    """One job's state: its input, and what it received (pushes, files, charges)."""

    job_uuid: str
    execution_token: str
    input_url: str
    input_body: bytes | None  # None: generated on the fly
    input_length: int
    input_content_type: str
    input_chunked: bool
    charge_limit: int | None
    folder: JobFolder
    result: object = None
    pushes: list[dict[str, object]] = field(default_factory=list)
    files: list[ReceivedFile] = field(default_factory=list)
    charges: list[dict[str, object]] = field(default_factory=list)
    charge_replies: dict[str, dict[str, object]] = field(default_factory=dict)
    metered_event_count: int = 0
    request_ids: list[str] = field(default_factory=list)
    # Held while a push or charge is applied to both the files and the fields above, so
    # the two agree on the order (the job book's lock is not held during file writes).
    write_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def limit_reached(self) -> bool:
        return self.charge_limit is not None and self.metered_event_count >= self.charge_limit

    def view(self) -> dict[str, object]:
        # The debug endpoint's reply; the execution token stays out of it.
        return {
            "job_uuid": self.job_uuid,
            "result": self.result,
            "pushes": self.pushes,
            "files": [f.to_json() for f in self.files],
            "charges": self.charges,
            "metered_event_count": self.metered_event_count,
            "limit_reached": self.limit_reached,
            "charge_limit": self.charge_limit,
            "request_ids": self.request_ids,
            "directory": self.folder.path,
        }


class EmulatedJob:
    """A live, thread-safe view of one job held by a :class:`Backend`.

    Every property returns a copy taken under the backend's lock, so it can be read
    while requests are being served.
    """

    __slots__ = ("_lock", "_state")

    def __init__(self, state: JobRecord, lock: threading.Lock) -> None:
        self._state = state
        self._lock = lock

    @property
    def job_uuid(self) -> str:
        """The job's id, used in every backend path."""
        return self._state.job_uuid

    @property
    def execution_token(self) -> str:
        """The token every push and charge must carry."""
        return self._state.execution_token

    @property
    def input_url(self) -> str:
        """The presigned-style URL that serves the job's input."""
        return self._state.input_url

    @property
    def event(self) -> dict[str, str]:
        """A Lambda event for this job, as the platform sends it."""
        return {
            "job_uuid": self._state.job_uuid,
            "execution_token": self._state.execution_token,
            "input_presigned_url": self._state.input_url,
        }

    @property
    def charge_limit(self) -> int | None:
        """The metered-event count at which ``limit_reached`` turns true, if any."""
        return self._state.charge_limit

    @property
    def directory(self) -> Path:
        """The job's folder, in the local-mode layout (see :class:`Backend`)."""
        return Path(self._state.folder.path)

    @property
    def result(self) -> Any:
        """The ``data`` of the latest push, or ``None`` when nothing was pushed."""
        with self._lock:
            return copy.deepcopy(self._state.result)

    @property
    def pushes(self) -> list[dict[str, Any]]:
        """Every push in order, each ``{"data": ..., "type": ...}``."""
        with self._lock:
            return copy.deepcopy(self._state.pushes)

    @property
    def files(self) -> list[ReceivedFile]:
        """Every file received, in order."""
        with self._lock:
            return list(self._state.files)

    @property
    def charges(self) -> list[dict[str, Any]]:
        """The charges billed, in order, once per idempotency key, without the token.

        Those of an earlier run in the same job folder come first."""
        with self._lock:
            return copy.deepcopy(self._state.charges)

    @property
    def metered_event_count(self) -> int:
        """Units billed so far."""
        with self._lock:
            return self._state.metered_event_count

    @property
    def limit_reached(self) -> bool:
        """Whether the billed units have reached the charge limit."""
        with self._lock:
            return self._state.limit_reached

    @property
    def request_ids(self) -> list[str]:
        """Worker request ids registered for the job, in order."""
        with self._lock:
            return list(self._state.request_ids)

    def __repr__(self) -> str:
        with self._lock:
            s = self._state
            return (
                f"Job(job_uuid={s.job_uuid!r}, pushes={len(s.pushes)}, files={len(s.files)}, "
                f"metered_event_count={s.metered_event_count})"
            )


def generated_document(size: int) -> Iterator[bytes]:
    """A valid JSON object of exactly ``size`` (>= 2) bytes, in pieces of at most 64 KiB."""
    head, tail = b'{"padding":"', b'"}'
    if size < len(head) + len(tail):
        yield b"{" + b" " * (size - 2) + b"}"
        return
    yield head
    left = size - len(head) - len(tail)
    while left > 0:
        n = min(left, len(_FILL))
        yield _FILL[:n]
        left -= n
    yield tail


def resume_ledger(state: JobRecord, entries: Iterable[LedgerEntry]) -> None:
    """Carry the charges of a ledger left by an earlier run over to a new job.

    ``entries`` come from the ledger's one rule (``seekapi._ledger.read_ledger``), which
    local mode and ``seekapi run`` apply too, so all count the same total. Each key
    stays billed, once, and a repeat of it gets the answer it would have got then: the
    count just after it was billed, and whether that reached this job's limit.
    """
    for entry in entries:
        if entry.idempotency_key in state.charge_replies:
            continue  # billed once, whatever lists it twice
        state.metered_event_count += entry.count
        record: dict[str, object] = {"idempotency_key": entry.idempotency_key, "count": entry.count}
        if entry.justification is not None:  # null is what the ledger writes for none
            record["justification"] = entry.justification
        state.charges.append(record)
        state.charge_replies[entry.idempotency_key] = {
            "ok": True,
            "metered_event_count": state.metered_event_count,
            "limit_reached": state.limit_reached,
        }


def check_charge_limit(limit: int | None) -> None:
    if limit is not None and (type(limit) is not int or limit < 0):
        raise ValueError("charge_limit must be None or a whole number of units >= 0")


def job_input(
    input: object, raw_input: bytes | None, input_size: int | None
) -> tuple[bytes | None, int]:
    """The body a job's input is served from (``None``: generated) and its length.

    At most one of the three is given (all ``None``: the input is ``{}``).
    """
    if raw_input is not None:
        body = bytes(raw_input)
        return body, len(body)
    if input_size is not None:
        if input_size < 2:
            raise ValueError("input_size must be at least 2 bytes (the size of {})")
        return None, input_size
    document = {} if input is None else input
    body = json.dumps(document, ensure_ascii=False, allow_nan=False).encode("utf-8")
    return body, len(body)


@dataclass(frozen=True)
class JobInput:
    """How a job's input is served."""

    body: bytes | None  # None: generated on the fly
    length: int
    content_type: str
    chunked: bool


class JobBook:
    """The jobs of one emulator, by id; ``lock`` guards them and every job's fields."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._jobs: dict[str, JobRecord] = {}

    def __len__(self) -> int:
        return len(self._jobs)

    def free_id(self, job_uuid: str) -> str:
        """``job_uuid`` when it can name a new job; :class:`ValueError` otherwise."""
        if not job_uuid.strip():
            raise ValueError("job_uuid must not be blank")
        if self.exists(job_uuid):
            raise ValueError(f"a job {job_uuid!r} already exists")
        return job_uuid

    def exists(self, job_uuid: str) -> bool:
        with self.lock:
            return job_uuid in self._jobs

    def register(
        self,
        job_uuid: str,
        *,
        execution_token: str | None,
        input_url: str,
        served: JobInput,
        charge_limit: int | None,
        directory: str,
    ) -> EmulatedJob:
        """Add a job, its folder made and the ledger an earlier run left there carried over."""
        folder = JobFolder(directory, job_uuid)
        state = JobRecord(
            job_uuid=job_uuid,
            execution_token=(
                f"exec-{secrets.token_hex(16)}" if execution_token is None else execution_token
            ),
            input_url=input_url,
            input_body=served.body,
            input_length=served.length,
            input_content_type=served.content_type,
            input_chunked=served.chunked,
            charge_limit=charge_limit,
            folder=folder,
        )
        resume_ledger(state, folder.read_charges())
        with self.lock:
            if job_uuid in self._jobs:
                raise ValueError(f"a job {job_uuid!r} already exists")
            self._jobs[job_uuid] = state
        return EmulatedJob(state, self.lock)

    def record(self, job_uuid: str) -> JobRecord | None:
        """The state of job ``job_uuid``, or ``None``."""
        with self.lock:
            return self._jobs.get(job_uuid)

    def view_of(self, job_uuid: str) -> EmulatedJob:
        """The live view of job ``job_uuid``; :class:`KeyError` if there is none."""
        with self.lock:
            return EmulatedJob(self._jobs[job_uuid], self.lock)

    def summaries(self) -> list[dict[str, object]]:
        """Every job, in brief, as the admin API lists them."""
        with self.lock:
            return [
                {
                    "job_uuid": job.job_uuid,
                    "pushes": len(job.pushes),
                    "files": len(job.files),
                    "metered_event_count": job.metered_event_count,
                    "limit_reached": job.limit_reached,
                    "directory": job.folder.path,
                }
                for job in self._jobs.values()
            ]
