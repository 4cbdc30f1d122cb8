"""Memory: uploads stream from disk, whatever the file size (measured in a child process)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from seekapi.testing import Backend

CHILD = textwrap.dedent(
    """
    import json, sys
    import seekapi

    def hwm_kib():
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])

    event = json.loads(sys.argv[1])
    ctx = seekapi.create_context(event)
    # Warm up the network stack so the baseline includes it.
    seekapi.push_data(ctx, {"warm": True})
    before = hwm_kib()
    seekapi.push_file(ctx, "big.bin", sys.argv[2])
    print(json.dumps({"before_kib": before, "after_kib": hwm_kib()}))
    """
)


def test_pushing_a_1_gib_file_keeps_memory_flat(backend: Backend, tmp_path: Path) -> None:
    """A 1 GiB upload raises the client's peak RSS by less than 32 MiB."""
    big = tmp_path / "big.bin"
    with big.open("wb") as handle:
        handle.truncate(1024**3)  # sparse: the disk holds almost nothing
    job = backend.create_job({})
    env = {**backend.env, "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(job.event), str(big)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    figures = json.loads(out.stdout)
    grown_mib = (figures["after_kib"] - figures["before_kib"]) / 1024
    assert grown_mib < 32, figures
    (stored,) = job.files
    assert stored.size == 1024**3
