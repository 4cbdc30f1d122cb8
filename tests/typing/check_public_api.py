"""Type-checked (mypy --strict), not run: the public API used as a worker author would."""

from __future__ import annotations

import dataclasses
from collections.abc import Coroutine
from typing import Annotated, Any

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


# -- typed workers ---------------------------------------------------------------------------


@dataclasses.dataclass
class Order:
    customer: Annotated[str, seekapi.Field(min_length=1, description="who pays")]
    quantity: int = 1


@dataclasses.dataclass
class Receipt:
    total: float


@seekapi.worker
def priced(order: Order) -> Receipt:
    return Receipt(order.quantity * 2.5)


@seekapi.worker(safety_margin=1.0)
async def priced_async(order: Order) -> Receipt:
    return Receipt(1.0)


def typed_worker_use(event: dict[str, Any]) -> None:
    out: dict[str, Any] = priced(event, None)
    receipt: Receipt = priced.fn(Order("Ada"))  # the function itself, for unit tests
    schemas: dict[str, Any] = priced.schema()
    also: dict[str, Any] = seekapi.schema(priced.fn)
    handler_of_async: seekapi.Worker[Order, Coroutine[Any, Any, Receipt]] = priced_async
    try:
        Backend().create_job({"customer": ""}, check=priced)
    except seekapi.InvalidValue as exc:
        details: list[dict[str, str]] = exc.details
        print(out, receipt, schemas, also, handler_of_async, details)
