"""One map measurement in a fresh process: ``python _map_worker.py SPEC_JSON`` prints a JSON line.

SPEC keys: ``mode``, ``base`` (the backend's ``https://127.0.0.1:PORT``), ``n`` (items),
``concurrency``, ``sleep`` (seconds each item waits, as an I/O-bound item does).
``WORKER_API_BASE_URL``, ``WORKER_INTERNAL_SECRET`` and ``SSL_CERT_FILE`` come from the
environment. Modes:

- ``map``: ``job.map`` over the items, one unit charged each;
- ``pool``: the hand-written loop: a ``ThreadPoolExecutor`` calling ``seekapi.charge``;
- ``sequential``: one item after the other, ``job.charge`` after each.

Each runs inside ``seekapi.run`` (without a Lambda context), after an untimed charge that
opens the first connection, so the timed part is the steady state of a warm Lambda. The
reply: ``wall`` and ``cpu`` (seconds of the timed part: wall clock, and user+system
time of the process), ``n``, ``delivered`` (items charged and answered).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import seekapi

JOB = "job-map-bench-0001"
TOKEN = "exec-token-map-bench-0001"


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _item(sleep: float) -> Any:
    def item(index: int) -> int:
        if sleep:
            time.sleep(sleep)
        return index

    return item


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    mode, n, concurrency = spec["mode"], int(spec["n"]), int(spec["concurrency"])
    item = _item(float(spec.get("sleep", 0)))
    figures: dict[str, Any] = {"n": n}

    def work(data: Any) -> None:
        job = seekapi.current_job()
        job.charge(f"{JOB}:warm-up")
        cpu = _cpu()
        started = time.perf_counter()
        if mode == "map":
            outcome = job.map(item, range(n), concurrency=concurrency, name=f"bench-{n}")
            delivered = outcome.delivered
        elif mode == "pool":
            context = job.context

            def charged(index: int) -> int:
                item(index)
                seekapi.charge(context, f"{JOB}:pool:{index}")
                return index

            with ThreadPoolExecutor(concurrency) as pool:
                delivered = len(list(pool.map(charged, range(n))))
        elif mode == "sequential":
            delivered = 0
            for index in range(n):
                item(index)
                job.charge(f"{JOB}:sequential:{index}")
                delivered += 1
        else:
            raise SystemExit(f"unknown mode {mode!r}")
        figures["wall"] = time.perf_counter() - started
        figures["cpu"] = _cpu() - cpu
        figures["delivered"] = delivered

    event = {
        "job_uuid": JOB,
        "execution_token": TOKEN,
        "input_presigned_url": f"{spec['base']}/input/small.json?X-Amz-Signature=0123456789",
    }
    out = seekapi.run(event, None, work)
    if out.get("ok") is not True:
        raise SystemExit(f"the job failed: {out}")
    return figures


if __name__ == "__main__":
    print(json.dumps(measure(json.loads(sys.argv[1]))))
