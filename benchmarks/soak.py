"""Soak: many charges against the emulator while a share of its requests fail.

    python benchmarks/soak.py [--calls 10000] [--fault-rate 0.2] [--seed N]
                              [--sleep-scale 0] [--timeout 8]

Each request the emulator receives meets a fault with probability ``--fault-rate``: its
answer dropped, reset or cut short after the charge was billed, a reset before the body
was read, or a 429, 500, 502, 503 or 504 without processing it. Every charge is sent
through the SDK's client with its usual retry policy and a ``--timeout`` budget; the
waits between attempts are scaled by ``--sleep-scale`` (0: no waiting, 1: real waits,
which makes a run take minutes). It prints how many calls raised, how many of those the
backend had billed, and how many keys were billed more than once; the exit status is 1
when any charge raised although billed or any key was billed twice.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from seekapi._client import Client
from seekapi._deadline import Budget
from seekapi._retry import Replay
from seekapi.testing import Backend, Fault


def _fault(rng: random.Random, rate: float) -> Fault:
    if rng.random() >= rate:
        return Fault("delay", seconds=0)  # answered normally
    choice = rng.randrange(6)
    if choice == 0:
        return Fault("drop")
    if choice == 1:
        return Fault("reset")
    if choice == 2:
        return Fault("truncate")
    if choice == 3:
        return Fault("reset", after_body=False)
    if choice == 4:
        return Fault("status", status=503)
    return Fault("status", status=rng.choice([429, 500, 502, 504]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--fault-rate", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--sleep-scale", type=float, default=0.0)
    parser.add_argument("--timeout", type=float, default=8.0)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    scale = args.sleep_scale

    def sleep(seconds: float) -> None:
        if scale > 0:
            time.sleep(seconds * scale)

    with tempfile.TemporaryDirectory() as folder, Backend(directory=folder) as backend:
        job = backend.create_job({})
        # One fate per request, armed ahead: retries meet faults at the same rate.
        for _ in range(int(args.calls * 1.5) + 100):
            backend.inject(_fault(rng, args.fault_rate))
        client = Client(sleep=sleep, rand=random.Random(args.seed + 1).random)
        url = f"{backend.url}/v1/internal/jobs/{job.job_uuid}/charge"
        token = json.dumps(job.execution_token)
        raised: dict[str, str] = {}
        started = time.monotonic()
        try:
            for i in range(args.calls):
                key = f"item-{i}"
                body = f'{{"execution_token":{token},"idempotency_key":"{key}","count":1}}'
                try:
                    client.post_json(
                        url,
                        body.encode(),
                        secret=backend.secret,
                        budget=Budget.total(args.timeout),
                        replay=Replay.ALWAYS,
                    )
                except Exception as exc:  # counted and reported
                    raised[key] = f"{type(exc).__name__}: {exc}"
        finally:
            client.close()
        elapsed = time.monotonic() - started
        charges = job.charges
        requests = backend.requests
    billed = collections.Counter(c["idempotency_key"] for c in charges)
    twice = sorted(key for key, n in billed.items() if n > 1)
    raised_billed = sorted(key for key in raised if key in billed)
    kinds = collections.Counter(
        r.fault for r in requests if r.fault is not None and r.fault != "delay"
    )
    faults = sum(kinds.values())
    print(f"calls:                          {args.calls}")
    print(f"requests received:              {len(requests)}")
    print(f"faults injected:                {faults} ({faults / len(requests):.1%} of requests)")
    print(f"  by kind:                      {dict(sorted(kinds.items()))}")
    print(f"charges that raised:            {len(raised)}")
    print(f"charges that raised but billed: {len(raised_billed)}")
    print(f"keys billed more than once:     {len(twice)}")
    print(f"keys billed:                    {len(billed)}")
    print(f"elapsed:                        {elapsed:.1f} s")
    for key in list(raised)[:5]:
        print(f"  {key}: {raised[key]}")
    return 1 if raised_billed or twice else 0


if __name__ == "__main__":
    raise SystemExit(main())
