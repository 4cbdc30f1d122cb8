"""Local mode for tests: the environment it needs, job events, and what a job left behind."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from .. import _local
from .._ledger import read_ledger
from .._settings import ENV_LOCAL_DIR, ENV_LOCAL_FIXTURES, ENV_LOCAL_MODE
from ._backend import ReceivedFile
from ._contract_check import check_input

__all__ = ["LocalJob", "LocalMode"]


class LocalMode:
    """Local mode in one folder, for tests and scripts (the ``seekapi_local`` fixture).

    ``directory`` is where local mode writes (``SEEKAPI_LOCAL_DIR``); it is made if
    needed. Beside it go the fixtures file ``<directory>.fixtures.json`` (an empty
    object until :meth:`set_fixtures` writes one) and the inputs of the jobs made by
    :meth:`create_job`, under ``<directory>.inputs/``::

        local = LocalMode(tmp_path / "local")
        os.environ.update(local.env)
        local.set_fixtures({"charge_limit": 2})
        job = local.create_job({"items": [1, 2, 3]})
        handler(job.event, FakeLambdaContext())
        assert job.metered_event_count == 2

    ``os.fspath(local)`` is the directory.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory).absolute()
        """Where local mode writes the job folders (``SEEKAPI_LOCAL_DIR``)."""
        self.fixtures_path = self.directory.with_name(self.directory.name + ".fixtures.json")
        """The fixtures file (``SEEKAPI_LOCAL_FIXTURES``)."""
        self._inputs = self.directory.with_name(self.directory.name + ".inputs")
        self._lock = threading.Lock()
        _INSTANCES.add(self)
        self._stamp = 0
        self._fixtures: dict[str, Any] = {}
        self.directory.mkdir(parents=True, exist_ok=True)
        self._inputs.mkdir(exist_ok=True)
        self.set_fixtures({})

    @property
    def env(self) -> dict[str, str]:
        """The variables that turn local mode on for this folder and its fixtures file."""
        return {
            ENV_LOCAL_MODE: "1",
            ENV_LOCAL_DIR: str(self.directory),
            ENV_LOCAL_FIXTURES: str(self.fixtures_path),
        }

    def set_fixtures(self, fixtures: Mapping[str, Any]) -> Path:
        """Replace the fixtures file with ``fixtures``; returns its path.

        The keys are those of ``docs/local-mode.md``: ``get_job``, ``charge`` and
        ``charge_limit``. The change is seen by the next call that reads the file.
        """
        text = json.dumps(dict(fixtures), ensure_ascii=False, allow_nan=False, indent=2)
        temp = self.fixtures_path.with_name(f".{self.fixtures_path.name}.tmp")
        with self._lock:
            temp.write_text(text, encoding="utf-8")
            # Local mode re-reads the file when its mtime, size or inode changes: a new
            # mtime each time makes even a same-size rewrite within one clock tick seen.
            self._stamp = max(self._stamp + 1, time.time_ns())
            os.utime(temp, ns=(self._stamp, self._stamp))
            os.replace(temp, self.fixtures_path)
            self._fixtures = json.loads(text)
        return self.fixtures_path

    @property
    def fixtures(self) -> dict[str, Any]:
        """A copy of the fixtures last written by :meth:`set_fixtures`."""
        with self._lock:
            return json.loads(json.dumps(self._fixtures))  # type: ignore[no-any-return]

    def create_job(
        self,
        input: object = None,
        *,
        job_uuid: str | None = None,
        execution_token: str | None = None,
        check: Callable[..., object] | None = None,
    ) -> LocalJob:
        """A job whose event serves ``input`` (``{}`` when ``None``) from a ``file://`` URL.

        ``job_uuid`` defaults to a new UUID4 and ``execution_token`` to a fixed
        ``"local-token"``. Nothing is written in the job's folder until the worker runs.
        ``check``: a worker whose input type the input must match (see
        :meth:`Backend.create_job`).
        """
        check_input(check, {} if input is None else input)
        uid = str(uuid.uuid4()) if job_uuid is None else job_uuid
        document = {} if input is None else input
        path = self._inputs / f"{_local.safe_name(uid, 'unknown-job')}.json"
        path.write_text(json.dumps(document, ensure_ascii=False, allow_nan=False), "utf-8")
        token = "local-token" if execution_token is None else execution_token
        return LocalJob(self, uid, token, path.as_uri())

    def job(self, job_uuid: str) -> LocalJob:
        """A view of what local mode wrote for ``job_uuid`` (a job run some other way)."""
        return LocalJob(self, job_uuid, "", "")

    def __fspath__(self) -> str:
        return str(self.directory)

    def __repr__(self) -> str:
        return f"LocalMode(directory={str(self.directory)!r})"


# Every LocalMode, so that a forked child gets locks of its own (see _after_fork_in_child).
_INSTANCES: weakref.WeakSet[LocalMode] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # A lock held by another thread of the parent at the fork would stay held for ever in
    # the child, where that thread does not exist.
    for local in list(_INSTANCES):
        local._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class LocalJob:
    """One job run in local mode, and what it left in its folder.

    The properties read the files each time, so they show the latest state; their
    shapes match :class:`~seekapi.testing.Job`'s, so a test can check a worker the same
    way against the emulator and in local mode.
    """

    __slots__ = ("_input_url", "_local", "execution_token", "job_uuid")

    def __init__(
        self, local: LocalMode, job_uuid: str, execution_token: str, input_url: str
    ) -> None:
        self._local = local
        self.job_uuid = job_uuid
        """The job's id."""
        self.execution_token = execution_token
        """The token of the job's event."""
        self._input_url = input_url

    @property
    def event(self) -> dict[str, str]:
        """A Lambda event for the job, its input served from a ``file://`` URL."""
        return {
            "job_uuid": self.job_uuid,
            "execution_token": self.execution_token,
            "input_presigned_url": self._input_url,
        }

    @property
    def directory(self) -> Path:
        """The job's folder, ``<directory>/<job id made safe>`` (it may not exist yet)."""
        return self._local.directory / _local.safe_name(self.job_uuid, "unknown-job")

    @property
    def result(self) -> Any:
        """``response_json.json`` parsed, or ``None`` when nothing was pushed."""
        try:
            text = (self.directory / _local.RESPONSE_FILE).read_text("utf-8")
        except FileNotFoundError:
            return None
        return json.loads(text)

    @property
    def pushes(self) -> list[dict[str, Any]]:
        """Every push in order, each ``{"data": ..., "type": ...}``."""
        return [
            {"data": line["data"], "type": line["type"]}
            for line in self._lines(_local.DATA_PUSHES_FILE)
        ]

    @property
    def files(self) -> list[ReceivedFile]:
        """Every file pushed, in order; ``path`` is the copy in the job's ``files/``."""
        received = []
        for line in self._lines(_local.FILE_PUSHES_FILE):
            path = str(line["stored_path"])
            received.append(
                ReceivedFile(
                    name=line["name"],
                    filename=line["name"],
                    content_type=line["content_type"],
                    size=line["size_bytes"],
                    path=path,
                    sha256=_sha256(path),
                )
            )
        return received

    @property
    def charges(self) -> list[dict[str, Any]]:
        """The ledger in order, one entry per key: ``idempotency_key``, ``count`` and
        ``justification`` when one was given. Read by the rule local mode, the emulator
        and ``seekapi run`` all apply (``docs/local-mode.md``): a key on more than one
        line counts once, and a damaged line not at all."""
        out = []
        for charge in read_ledger(self.directory / _local.CHARGES_FILE):
            entry: dict[str, Any] = {"idempotency_key": charge.idempotency_key}
            entry["count"] = charge.count
            if charge.justification is not None:
                entry["justification"] = charge.justification
            out.append(entry)
        return out

    @property
    def metered_event_count(self) -> int:
        """The units in the ledger (what a charge answers with a ``charge_limit``)."""
        return sum(charge.count for charge in read_ledger(self.directory / _local.CHARGES_FILE))

    @property
    def limit_reached(self) -> bool:
        """Whether the ledger has reached the fixtures' ``charge_limit`` (false without one)."""
        limit = self._local.fixtures.get("charge_limit")
        return isinstance(limit, int) and self.metered_event_count >= limit

    def _lines(self, name: str) -> Iterator[dict[str, Any]]:
        try:
            raw = (self.directory / name).read_bytes()
        except FileNotFoundError:
            return
        # Split on "\n" only: the text may hold U+2028 and the like (docs/local-mode.md).
        for line in raw.decode("utf-8").split("\n"):
            if line:
                yield json.loads(line)

    def __repr__(self) -> str:
        return f"LocalJob(job_uuid={self.job_uuid!r}, directory={str(self.directory)!r})"


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as file:
            while chunk := file.read(1 << 20):
                digest.update(chunk)
    except FileNotFoundError:
        return ""
    return digest.hexdigest()
