"""The contract workload: seekapi, jsonschema and pydantic validating the same input.

Each measurement is a fresh process of the development environment's interpreter (it
has jsonschema and pydantic) running ``_contract_worker.py``; the three run in a new
random order in each repeat, and ratios are taken within a repeat.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORKER = HERE / "_contract_worker.py"
IMPLS = ("seekapi", "jsonschema", "pydantic")


def measure(src: Path, repeats: int, items: int, rounds: int) -> dict[str, list[float]]:
    """Milliseconds per validation of ``items`` items, for each implementation and repeat."""
    env = dict(os.environ, PYTHONPATH=str(src))
    samples: dict[str, list[float]] = {impl: [] for impl in IMPLS}
    for _ in range(repeats):
        order = list(IMPLS)
        random.shuffle(order)
        for impl in order:
            done = subprocess.run(
                [sys.executable, str(WORKER), impl, str(items), str(rounds)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            samples[impl].append(json.loads(done.stdout)["ms"])
    return samples


def paired(samples: dict[str, list[float]], mine: str, base: str) -> float:
    """Median over repeats of ``mine / base``."""
    return statistics.median(a / b for a, b in zip(samples[mine], samples[base], strict=True))


if __name__ == "__main__":
    found = measure(HERE.parent / "src", repeats=3, items=10_000, rounds=5)
    for impl, values in found.items():
        print(f"{impl:>10}: {statistics.median(values):7.1f} ms")
    print(f"jsonschema / seekapi: {1 / paired(found, 'seekapi', 'jsonschema'):.1f}x")
    print(f"seekapi / pydantic:   {paired(found, 'seekapi', 'pydantic'):.2f}x")
