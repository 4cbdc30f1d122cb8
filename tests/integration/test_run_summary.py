"""``seekapi run``'s summary of a job's charges: short for thousands, whole when asked.

Each test runs ``python -m seekapi run`` in a subprocess on a worker that charges as
many keys as its input says.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

# Charges n keys; the first is billed 3 units, so units and keys differ. Every key is
# charged twice: the ledger bills a key once.
CHARGING_WORKER = """
import seekapi

def work(data):
    job = seekapi.current_job()
    for _ in range(2):
        for i in range(data["n"]):
            job.charge(f"{job.job_uuid}:k-{i:04d}", 3 if i == 0 else 1)
    return {"charged": data["n"]}

def handler(event, context):
    return seekapi.run(event, context, work)
"""


def run_worker(
    tmp_path: Path, keys: int, *args: str, job_uuid: str = "J"
) -> subprocess.CompletedProcess[str]:
    """``seekapi run worker.py`` charging ``keys`` keys, in local mode unless ``args`` say."""
    (tmp_path / "worker.py").write_text(CHARGING_WORKER, "utf-8")
    return subprocess.run(
        [
            *(sys.executable, "-m", "seekapi", "run", "worker.py"),
            *("--input", json.dumps({"n": keys}), "--job-uuid", job_uuid, *args),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def key_lines(stdout: str) -> list[str]:
    """The keys the summary lists, in order."""
    return [line.split()[0] for line in stdout.splitlines() if line.startswith("  J:k-")]


def test_thousands_of_charges_give_a_short_summary_with_totals_and_both_ends(
    tmp_path: Path,
) -> None:
    """3,000 keys: under 40 lines, the totals, the first and last five keys, the count between."""
    proc = run_worker(tmp_path, 3000)

    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) < 40, proc.stdout
    assert "Charges:   3000 keys, 3002 units" in lines
    first = [f"J:k-{i:04d}" for i in range(5)]
    last = [f"J:k-{i:04d}" for i in range(2995, 3000)]
    assert key_lines(proc.stdout) == first + last
    assert "  J:k-0000  x3" in lines
    assert "  ... 2990 more (--all-charges lists them) ..." in lines
    assert "  metered total 3002; limit reached: no" in lines
    # The cut comes between the two ends.
    gap = lines.index("  ... 2990 more (--all-charges lists them) ...")
    assert lines[gap - 1] == "  J:k-0004  x1"
    assert lines[gap + 1] == "  J:k-2995  x1"


def test_all_charges_lists_every_key(tmp_path: Path) -> None:
    """--all-charges: every one of the 3,000 keys, once, in the order they were billed."""
    proc = run_worker(tmp_path, 3000, "--all-charges")

    assert proc.returncode == 0, proc.stderr
    assert key_lines(proc.stdout) == [f"J:k-{i:04d}" for i in range(3000)]
    assert "more (--all-charges" not in proc.stdout
    assert "Charges:   3000 keys, 3002 units" in proc.stdout


def test_json_always_holds_the_whole_list(tmp_path: Path) -> None:
    """--json has every charge with its count, whatever --all-charges says."""
    proc = run_worker(tmp_path, 3000, "--json")

    assert proc.returncode == 0, proc.stderr
    [line] = proc.stdout.splitlines()
    out: dict[str, Any] = json.loads(line)
    assert [c["idempotency_key"] for c in out["charges"]] == [f"J:k-{i:04d}" for i in range(3000)]
    assert [c["count"] for c in out["charges"][:2]] == [3, 1]
    assert set(out["charges"][0]) == {"idempotency_key", "count"}
    assert out["metered_event_count"] == 3002
    assert out["limit_reached"] is False


@pytest.mark.parametrize(("keys", "listed"), [(1, 1), (11, 11), (12, 10)])
def test_a_short_list_is_listed_whole(tmp_path: Path, keys: int, listed: int) -> None:
    """Up to eleven keys are all listed (the cut would save nothing); twelve are cut."""
    proc = run_worker(tmp_path, keys)

    assert proc.returncode == 0, proc.stderr
    assert len(key_lines(proc.stdout)) == listed
    noun = "key" if keys == 1 else "keys"
    assert f"Charges:   {keys} {noun}, {keys + 2} units" in proc.stdout
    assert ("2 more (--all-charges lists them)" in proc.stdout) == (keys == 12)


def test_the_emulated_path_is_summed_up_the_same_way(tmp_path: Path) -> None:
    """--emulate reads the charges from the emulator; a long list is cut there too."""
    proc = run_worker(tmp_path, 40, "--emulate", "--charge-limit", "10")

    assert proc.returncode == 0, proc.stderr
    assert "Charges:   40 keys, 42 units" in proc.stdout
    assert len(key_lines(proc.stdout)) == 10
    assert "  ... 30 more (--all-charges lists them) ..." in proc.stdout
    assert "  metered total 42; limit reached: yes" in proc.stdout
