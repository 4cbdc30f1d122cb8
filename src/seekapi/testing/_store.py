"""What the emulator receives, written in the local-mode layout (``docs/local-mode.md``).

One :class:`JobFolder` per job, ``<directory>/<safe job id>/``, holding the same files,
in the same formats, as a local-mode run of the job would leave::

    response_json.json   the latest push
    data_pushes.jsonl    one line per push
    file_pushes.jsonl    one line per file
    charges.jsonl        one line per distinct idempotency key
    files/               the uploaded files; a taken name gets -2, -3, ...

The names, the line formats, the way files are written (never through a link, the
ledger locked across processes) and the ledger's rule (:func:`read_ledger`) come from
:mod:`seekapi._local` and :mod:`seekapi._ledger`, so a folder written by the emulator
and one written by local mode
are the same and are counted alike. A folder that is already there is added to, and its
charge ledger is read back (:meth:`JobFolder.read_charges`) so that billing goes on
from it.
"""

from __future__ import annotations

import json
import os

from .. import _local
from .._json import dumps_text
from .._ledger import LedgerEntry, read_ledger
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


class JobFolder:
    """The folder of one job; every method appends to or replaces one of its files.

    Writes to one folder are serialised by the folder's lock (the one local mode uses),
    so lines never interleave and the last line of ``data_pushes.jsonl`` always matches
    ``response_json.json``. A symbolic link planted in the folder is refused with a
    :class:`~seekapi.errors.ConfigurationError`, never written through.
    """

    __slots__ = ("_job",)

    def __init__(self, directory: str, job_uuid: str) -> None:
        # Makes the folder and its files/ at once, so its path can be shown from the start.
        self._job = _local.job_files(directory, job_uuid)

    @property
    def path(self) -> str:
        """The folder's absolute path."""
        return self._job.path

    def push_data(self, job_uuid: str, execution_token: str, data: object, type: str) -> None:
        """Replace ``response_json.json`` with ``data``; add a line to ``data_pushes.jsonl``."""
        document = _text(data, indent=2).encode("utf-8")
        line = _line(_local.data_push_record(job_uuid, execution_token, type, data))
        self._job.write_push(line, document)

    def claim_file(self, name: str) -> tuple[str, str, int]:
        """Create the file that will hold an upload named ``name``.

        Returns its stored name (``safe_name(basename(name))``, with ``-2``, ``-3``, ...
        when taken), its path, and a descriptor open for writing that the caller closes.
        """
        stored_name, fd = self._job.claim(_local.safe_name(os.path.basename(name), "file"))
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
            _local.file_push_record(
                job_uuid, execution_token, name, stored_name, stored_path, content_type, size
            )
        )
        self._job.append_file_record(line)

    def record_charge(
        self, job_uuid: str, idempotency_key: str, count: int, justification: object
    ) -> bool:
        """Add a line to the ledger, ``charges.jsonl``, unless the key is in it already
        (another process may have billed it); returns whether the line was added."""
        line = _line(
            {
                "charged_at": _local.utc_now(),
                "job_uuid": job_uuid,
                "idempotency_key": idempotency_key,
                "count": count,
                "justification": justification,
            }
        )
        return self._job.record_charge(idempotency_key, count, line)[0]

    def read_charges(self) -> list[LedgerEntry]:
        """The charges billed in the folder's ledger (see :func:`read_ledger`)."""
        return self._job.read_charges()
