"""The benchmark's backend, ``_server.py``, in a process of its own (shared by the workloads).

It is controlled over its stdin: ``stats`` answers its counters (connections, CPU,
errors) as one JSON line, ``quit`` ends it.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from _setup import Tls

SERVER = Path(__file__).resolve().parent / "_server.py"

_DROPPED_ENV = (
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONSTARTUP",
    "PYTHONDONTWRITEBYTECODE",  # cached bytecode, as a deployed worker has it
    "PYTHONPROFILEIMPORTTIME",
    "SSL_CERT_DIR",  # trust comes from the one bundle file below
)


def clean_env() -> dict[str, str]:
    """This environment without what would change how a worker or the server runs."""
    return {
        key: value
        for key, value in os.environ.items()
        if key not in _DROPPED_ENV
        and not key.lower().endswith("_proxy")
        and not key.startswith(("SEEKAPI_", "WORKER_"))
    }


class Server:
    """``_server.py`` in its own process; asks it for counters over its stdin."""

    def __init__(self, python: str, document: Path, tls: Tls) -> None:
        config = {"document": str(document), "cert": tls.cert, "key": tls.key}
        self.proc = subprocess.Popen(
            [python, str(SERVER), json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=clean_env(),
        )
        assert self.proc.stdout is not None
        assert self.proc.stdin is not None
        self._out, self._in = self.proc.stdout, self.proc.stdin
        ports = json.loads(self._out.readline())
        self.http = f"http://127.0.0.1:{ports['http']}"
        self.https = f"https://127.0.0.1:{ports['https']}"

    def base(self, scheme: str) -> str:
        return self.https if scheme == "https" else self.http

    def stats(self) -> dict[str, Any]:
        self._in.write("stats\n")
        self._in.flush()
        stats: dict[str, Any] = json.loads(self._out.readline())
        return stats

    def close(self) -> None:
        try:
            self._in.write("quit\n")
            self._in.flush()
            self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
