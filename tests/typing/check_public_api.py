"""Type-checked (mypy --strict), not run: the public API used as a worker author would."""

from __future__ import annotations

from typing import Any

import seekapi
from seekapi.errors import HTTPStatusError, InputError
from seekapi.testing import Backend, FakeLambdaContext


def work(data: dict[str, Any]) -> dict[str, Any]:
    job: seekapi.Job = seekapi.current_job()
    reply: dict[str, Any] = job.charge(f"{job.job_uuid}:1", justification={"why": "demo"})
    if reply["limit_reached"]:
        job.stop({"partial": True})
    job.push_data({"progress": 0.5})
    left: float = job.remaining()
    return {"left": left}


async def work_async(data: dict[str, Any]) -> dict[str, Any]:
    return {"async": True}


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    return seekapi.run(event, context, work, safety_margin=1.5)


async def handler_async(event: dict[str, Any], context: object) -> dict[str, Any]:
    return await seekapi.run_async(event, context, work_async)


def low_level(event: dict[str, Any]) -> dict[str, Any]:
    ctx = seekapi.create_context(event)
    try:
        data = seekapi.get_input(event, timeout=5, max_bytes=1_000_000)
        seekapi.push_data(ctx, data)
        seekapi.push_file(ctx, "a.txt", "/tmp/a.txt", content_type="text/plain")
        seekapi.charge(ctx, "key", 2)
    except InputError as exc:
        return seekapi.failure("BAD_INPUT", str(exc))
    except HTTPStatusError as exc:
        return seekapi.failure("BACKEND", f"{exc.status} at {exc.where}")
    return seekapi.success()


def emulate() -> None:
    with Backend() as backend:
        job = backend.create_job({"x": 1})
        handler(job.event, FakeLambdaContext(timeout_s=5))
