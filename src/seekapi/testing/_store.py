"""What the emulator receives, written in the local-mode layout (``docs/local-mode.md``).

One :class:`JobFolder` per job, ``<directory>/<safe job id>/``, holding the same files,
in the same formats, as a local-mode run of the job would leave::

    response_json.json   the latest push
    data_pushes.jsonl    one line per push
    file_pushes.jsonl    one line per file
    charges.jsonl        one line per distinct idempotency key
    files/               the uploaded files; a taken name gets -2, -3, ...

The names, the line formats and the way lines are appended come from
:mod:`seekapi._local`, so a folder written by the emulator and one written by local mode
can be read by the same code. A folder that is already there is added to, and its charge
ledger is read back (:meth:`JobFolder.read_charges`) so that billing goes on from it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from .. import _local
from .._json import dumps_text
from ..errors import JSONValueError

__all__ = ["JobFolder", "LedgerEntry", "read_ledger"]


def _text(value: object, *, indent: int | None = None) -> str:
    """JSON text as local mode writes it.

    A value parsed from a request can hold a lone surrogate (``"\\ud800"`` is valid
    JSON), which UTF-8 text cannot: such a value is written with ASCII escapes instead,
    which still reads back as the same value.
    """
    try:
        return dumps_text(value, indent=indent)
    except JSONValueError:
        return json.dumps(value, ensure_ascii=True, indent=indent)


def _line(record: dict[str, object]) -> bytes:
    return (_text(record) + "\n").encode("utf-8")


@dataclass(frozen=True)
class LedgerEntry:
    """One billed charge read back from ``charges.jsonl``."""

    idempotency_key: str
    count: int
    justification: object


class JobFolder:
    """The folder of one job; every method appends to or replaces one of its files.

    Writes to one folder are serialised by the folder's lock (the one local mode uses),
    so lines never interleave and the last line of ``data_pushes.jsonl`` always matches
    ``response_json.json``.
    """

    __slots__ = ("_job",)

    def __init__(self, directory: str, job_uuid: str) -> None:
        # Makes the folder and its files/ at once, so its path can be shown from the start.
        self._job = _local._job(directory, job_uuid)

    @property
    def path(self) -> str:
        """The folder's absolute path."""
        return self._job.path

    def push_data(self, job_uuid: str, execution_token: str, data: object, type: str) -> None:
        """Replace ``response_json.json`` with ``data``; add a line to ``data_pushes.jsonl``."""
        document = _text(data, indent=2).encode("utf-8")
        line = _line(
            {
                "pushed_at": _local._utc_now(),
                "job_uuid": job_uuid,
                "execution_token": execution_token,
                "type": type,
                "data": data,
            }
        )
        job = self._job
        with job.lock:
            _local._append(job, job.data_pushes, line)
            _local._replace(job, job.response, document)

    def claim_file(self, name: str) -> tuple[str, str, int]:
        """Create the file that will hold an upload named ``name``.

        Returns its stored name (``safe_name(basename(name))``, with ``-2``, ``-3``, ...
        when taken), its path, and a descriptor open for writing that the caller closes.
        """
        stored_name, fd = _local._claim(self._job, _local.safe_name(os.path.basename(name), "file"))
        return stored_name, os.path.join(self._job.files, stored_name), fd

    def record_file(  # noqa: PLR0917 - the fields of one line, in their order
        self,
        job_uuid: str,
        execution_token: str,
        name: str,
        stored_name: str,
        stored_path: str,
        content_type: str,
        size: int,
    ) -> None:
        """Add the line of a stored upload to ``file_pushes.jsonl``."""
        line = _line(
            {
                "pushed_at": _local._utc_now(),
                "job_uuid": job_uuid,
                "execution_token": execution_token,
                "name": name,
                "stored_name": stored_name,
                "stored_path": stored_path,
                "content_type": content_type,
                "size_bytes": size,
            }
        )
        job = self._job
        with job.lock:
            _local._append(job, job.file_pushes, line)

    def record_charge(
        self, job_uuid: str, idempotency_key: str, count: int, justification: object
    ) -> None:
        """Add a line to the ledger, ``charges.jsonl``. The caller de-duplicates."""
        line = _line(
            {
                "charged_at": _local._utc_now(),
                "job_uuid": job_uuid,
                "idempotency_key": idempotency_key,
                "count": count,
                "justification": justification,
            }
        )
        job = self._job
        with job.lock:
            _local._append(job, job.charges, line)

    def read_charges(self) -> list[LedgerEntry]:
        """The charges billed in the folder's ledger (see :func:`read_ledger`)."""
        job = self._job
        with job.lock:  # no line is half written while the file is read
            return read_ledger(job.charges)


def read_ledger(path: str | os.PathLike[str]) -> list[LedgerEntry]:
    """The charges billed in the ledger at ``path``, in order, once per idempotency key.

    Read by local mode's rules (``seekapi._local``), so both count the same: only
    complete lines count; a line that is not a JSON object with a text
    ``idempotency_key`` and a whole ``count`` counts for nothing; a key seen again counts
    once, at its first line. A missing file is an empty ledger.
    """
    try:
        with open(path, "rb") as ledger:
            content = ledger.read()
    except FileNotFoundError:
        return []
    complete = content[: content.rfind(b"\n") + 1]  # a line still being written waits
    entries: list[LedgerEntry] = []
    seen: set[str] = set()
    for raw in complete.splitlines():
        try:
            entry = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(entry, dict):
            continue
        key, count = entry.get("idempotency_key"), entry.get("count")
        if isinstance(key, str) and type(count) is int and key not in seen:
            seen.add(key)
            entries.append(LedgerEntry(key, count, entry.get("justification")))
    return entries
