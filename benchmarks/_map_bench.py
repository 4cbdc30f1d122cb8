"""``job.map`` measured side by side with the loops a worker would otherwise write.

    python benchmarks/_map_bench.py [--quick]

Two comparisons, each over TLS to ``_server.py`` on 127.0.0.1, every measurement in a
fresh ``_map_worker.py`` process, the implementations taking turns within each repeat:

1. **Overhead**: 2,000 items (500 with ``--quick``) charged one unit each at
   concurrency 8 with ``job.map``, against a hand-written ``ThreadPoolExecutor`` loop
   calling ``seekapi.charge``. Target: at most 1.1x its time, and no more connections
   opened than the concurrency (counted by the server).
2. **Speed-up**: items that wait 50 ms (an API call) and charge one unit, 80 of them (40
   with ``--quick``), with ``job.map`` at concurrency 8 against one after the other.
   Target: at least 6x.

Each figure is a median over the repeats; each ratio the median of the ratios measured
within one repeat. ``measure()`` is what ``run.py`` calls; run standalone, this module
sets up its own server and prints the rows.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
WORKER = HERE / "_map_worker.py"
SECRET = "bench-internal-secret"
CONCURRENCY = 8
OVERHEAD_LIMIT = 1.1
SPEED_UP_TARGET = 6.0


@dataclass(frozen=True)
class MapPlan:
    repeats: int
    items: int
    io_items: int
    io_seconds: float = 0.05

    @classmethod
    def full(cls) -> MapPlan:
        return cls(repeats=5, items=2000, io_items=80)

    @classmethod
    def quick(cls) -> MapPlan:
        return cls(repeats=2, items=500, io_items=40)


@dataclass
class MapRow:
    """One line: job.map's figure, the baseline's, their ratio and the target's verdict."""

    workload: str
    metric: str
    ours: float | None
    baseline: float | None
    baseline_label: str
    ratio: float | None
    target: str
    passed: bool | None
    fmt: str = "{:.2f}"
    note: str = ""


def measure(
    python: str,
    env: dict[str, str],
    base: str,
    *,
    stats: Callable[[], dict[str, Any]],
    plan: MapPlan,
    log: Callable[[str], None],
) -> list[MapRow]:
    """Run both comparisons. ``env`` is the worker environment (this repository's
    seekapi on ``PYTHONPATH``, ``WORKER_API_BASE_URL`` at the server's https ``base``,
    ``SSL_CERT_FILE`` trusting it); ``stats`` reads the server's counters."""

    def one(mode: str, n: int, sleep: float = 0.0) -> dict[str, Any]:
        spec = {"mode": mode, "base": base, "n": n, "concurrency": CONCURRENCY, "sleep": sleep}
        before = stats()
        done = subprocess.run(
            [python, str(WORKER), json.dumps(spec)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{mode}: {done.stderr.strip()[-2000:]}")
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        after = stats()
        result["connections"] = after["connections"]["https"] - before["connections"]["https"]
        if result["delivered"] != n:
            raise RuntimeError(f"{mode}: {result['delivered']} of {n} items delivered")
        return result

    samples: dict[str, list[dict[str, Any]]] = {"map": [], "pool": [], "io_map": [], "io_seq": []}
    log(f"job.map: {plan.items} charges at concurrency {CONCURRENCY} vs a thread pool, TLS ...")
    for r in range(plan.repeats):
        for mode in ("map", "pool") if r % 2 == 0 else ("pool", "map"):
            samples[mode].append(one(mode, plan.items))
    log(f"job.map: {plan.io_items} items of {plan.io_seconds * 1e3:.0f} ms vs one by one ...")
    for r in range(plan.repeats):
        pair = (("io_map", "map"), ("io_seq", "sequential"))
        for name, mode in pair if r % 2 == 0 else pair[::-1]:
            samples[name].append(one(mode, plan.io_items, plan.io_seconds))
    return _rows(samples, plan)


def _rows(samples: dict[str, list[dict[str, Any]]], plan: MapPlan) -> list[MapRow]:
    def rate(name: str) -> float:
        return float(statistics.median(s["n"] / s["wall"] for s in samples[name]))

    overhead = statistics.median(
        m["wall"] / p["wall"] for m, p in zip(samples["map"], samples["pool"], strict=True)
    )
    speed_up = statistics.median(
        q["wall"] / m["wall"] for m, q in zip(samples["io_map"], samples["io_seq"], strict=True)
    )
    cpu_ratio = statistics.median(
        m["cpu"] / p["cpu"] for m, p in zip(samples["map"], samples["pool"], strict=True)
    )

    def cpu_per_item(name: str) -> float:
        return float(statistics.median(s["cpu"] / s["n"] * 1e6 for s in samples[name]))

    connections = max(s["connections"] for s in samples["map"])
    pool_connections = max(s["connections"] for s in samples["pool"])
    return [
        MapRow(
            f"job.map: {plan.items} charges, concurrency {CONCURRENCY}, TLS",
            "items/s (ratio: time)",
            rate("map"),
            rate("pool"),
            "thread-pool loop",
            overhead,
            f"<= {OVERHEAD_LIMIT}x the pool",
            overhead <= OVERHEAD_LIMIT,
            fmt="{:.0f}",
        ),
        MapRow(
            f"job.map: {plan.items} charges, concurrency {CONCURRENCY}, TLS",
            "client CPU us/item",
            cpu_per_item("map"),
            cpu_per_item("pool"),
            "thread-pool loop",
            cpu_ratio,
            "",
            None,
            fmt="{:.0f}",
        ),
        MapRow(
            f"job.map: {plan.items} charges, concurrency {CONCURRENCY}, TLS",
            "connections opened",
            float(connections),
            float(pool_connections),
            "thread-pool loop",
            None,
            f"<= {CONCURRENCY}",
            connections <= CONCURRENCY,
            fmt="{:.0f}",
        ),
        MapRow(
            f"job.map: {plan.io_items} items of {plan.io_seconds * 1e3:.0f} ms, concurrency"
            f" {CONCURRENCY}",
            "items/s (ratio: speed-up)",
            rate("io_map"),
            rate("io_seq"),
            "one-by-one loop",
            speed_up,
            f">= {SPEED_UP_TARGET:.0f}x",
            speed_up >= SPEED_UP_TARGET,
            fmt="{:.1f}",
        ),
    ]


def render(rows: Sequence[MapRow]) -> str:
    lines = [
        f"{'workload':<46} {'metric':<26} {'job.map':>9} {'baseline':>9} {'ratio':>6}  target",
    ]
    for row in rows:
        ours = "-" if row.ours is None else row.fmt.format(row.ours)
        base = "-" if row.baseline is None else row.fmt.format(row.baseline)
        ratio = "" if row.ratio is None else f"{row.ratio:.2f}x"
        verdict = "" if row.passed is None else ("PASS" if row.passed else "FAIL")
        target = f"{row.target} {verdict} " if row.target else ""
        lines.append(
            f"{row.workload:<46} {row.metric:<26} {ours:>9} {base:>9} {ratio:>6}"
            f"  {target}(baseline: {row.baseline_label})"
        )
    return "\n".join(lines)


# -- standalone ------------------------------------------------------------------------


def _worker_env(bundle: str, base: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SEEKAPI_", "WORKER_", "PYTHON", "SSL_CERT"))
        and not key.lower().endswith("_proxy")
    }
    env.update(
        SSL_CERT_FILE=bundle,
        WORKER_API_BASE_URL=base,
        WORKER_INTERNAL_SECRET=SECRET,
        PYTHONPATH=str(SRC),
    )
    return env


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer repeats and items")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE))
    import _setup
    from _server_process import Server

    plan = MapPlan.quick() if args.quick else MapPlan.full()

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    started = time.perf_counter()
    tls = _setup.tls_material()
    with tempfile.TemporaryDirectory(prefix="seekapi-map-bench-") as scratch:
        document = Path(scratch) / "doc.json"
        document.write_text('{"items": []}')
        server = Server(sys.executable, document, tls)
        try:
            rows = measure(
                sys.executable,
                _worker_env(tls.bundle, server.https),
                server.https,
                stats=server.stats,
                plan=plan,
                log=log,
            )
        finally:
            server.close()
    print()
    print(render(rows))
    missed = sum(row.passed is False for row in rows)
    print(
        f"\n{'quick' if args.quick else 'full'} run, {plan.repeats} repeats,"
        f" {time.perf_counter() - started:.0f} s; {missed} target(s) missed"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
