"""The job's awaitable calls against the emulator: the loop keeps running, the sync rules hold."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

import seekapi
from seekapi.testing import Backend, FakeLambdaContext, Fault


def _run(job: Any, work: Any, timeout_s: float = 30) -> dict[str, Any]:
    out: dict[str, Any] = seekapi.run(job.event, FakeLambdaContext(timeout_s=timeout_s), work)
    return out


async def _ticker(gaps: list[float], stop: asyncio.Event) -> None:
    last = time.monotonic()
    while not stop.is_set():
        await asyncio.sleep(0.005)
        now = time.monotonic()
        gaps.append(now - last)
        last = now


def test_fifty_concurrent_charges_keep_the_loop_responsive(configured: Backend) -> None:
    """Fifty charges, each answered 1 s late, awaited at once: a ticker task never
    waits long, they overlap (far less than 50 x 1 s) and each key is billed once."""
    job = configured.create_job({})
    path = f"/v1/internal/jobs/{job.job_uuid}/charge"
    configured.inject(Fault("delay", seconds=1.0, count=50, path=path, after_body=False))
    figures: dict[str, Any] = {}

    async def work(data: Any) -> Any:
        current = seekapi.current_job()
        gaps: list[float] = []
        stop = asyncio.Event()
        ticker = asyncio.ensure_future(_ticker(gaps, stop))
        began = time.monotonic()
        replies = await asyncio.gather(
            *(current.charge_async(f"{current.job_uuid}:item-{i}") for i in range(50))
        )
        figures["took"] = time.monotonic() - began
        stop.set()
        await ticker
        figures["max_gap"] = max(gaps)
        return {"ok": all(reply["ok"] for reply in replies)}

    assert _run(job, work)["ok"] is True
    assert job.result == {"ok": True}
    assert job.metered_event_count == 50
    assert len(job.charges) == 50
    assert figures["max_gap"] < 0.5  # a blocking call would hold the loop 1 s
    assert figures["took"] < 50 * 1.0 / 4


def test_async_calls_retry_as_the_sync_ones_do(configured: Backend) -> None:
    """503s and a dropped answer: charge_async retries with the same key (billed once),
    push_data_async retries its push."""
    job = configured.create_job({})
    prefix = f"/v1/internal/jobs/{job.job_uuid}/"
    configured.inject(Fault("status", status=503, count=2, path=prefix + "charge"))
    configured.inject(Fault("drop", count=1, path=prefix + "charge"))
    configured.inject(Fault("status", status=503, count=2, path=prefix + "push"))

    async def work(data: Any) -> Any:
        current = seekapi.current_job()
        reply = await current.charge_async(f"{current.job_uuid}:once", 3)
        await current.push_data_async({"partial": True})
        return {"metered": reply["metered_event_count"]}

    assert _run(job, work)["ok"] is True
    assert job.metered_event_count == 3
    assert len(job.charges) == 1
    assert [p["data"] for p in job.pushes] == [{"partial": True}, {"metered": 3}]
    assert configured.pending_faults == []


def test_push_file_async_uploads_the_file(configured: Backend, tmp_path: Path) -> None:
    """push_file_async streams the file as push_file does."""
    job = configured.create_job({})
    report = tmp_path / "report.csv"
    report.write_text("a,b\n1,2\n", encoding="utf-8")

    async def work(data: Any) -> Any:
        await seekapi.current_job().push_file_async("report.csv", str(report))
        return None

    assert _run(job, work)["ok"] is True
    (received,) = job.files
    assert (received.name, received.content_type, received.size) == ("report.csv", "text/csv", 8)


def test_the_call_timeout_bounds_an_async_call(configured: Backend) -> None:
    """A backend that hangs: charge_async gives up at its timeout, as charge does."""
    job = configured.create_job({})
    configured.inject(Fault("hang", seconds=10, path=f"/v1/internal/jobs/{job.job_uuid}/charge"))
    seen: list[float] = []

    async def work(data: Any) -> Any:
        current = seekapi.current_job()
        began = time.monotonic()
        with pytest.raises(seekapi.DeadlineExceeded):
            await current.charge_async(f"{current.job_uuid}:x", timeout=1)
        seen.append(time.monotonic() - began)
        return {"done": True}

    assert _run(job, work)["ok"] is True
    assert seen[0] < 1 + 0.5


def test_the_job_deadline_bounds_an_async_call(configured: Backend) -> None:
    """A backend that hangs past the job's time: the call, and run(), end in time."""
    job = configured.create_job({})
    configured.inject(Fault("hang", seconds=10, path=f"/v1/internal/jobs/{job.job_uuid}/charge"))

    async def work(data: Any) -> Any:
        current = seekapi.current_job()
        await current.charge_async(f"{current.job_uuid}:x", timeout=30)
        return {"done": True}

    began = time.monotonic()
    out = _run(job, work, timeout_s=2)
    assert time.monotonic() - began < 2 + 0.5
    assert out["ok"] is False


def test_a_cancelled_charge_may_still_be_billed_and_its_retry_bills_nothing(
    configured: Backend,
) -> None:
    """The awaiting task is cancelled while the charge is with the backend: the charge
    completes and is billed; charging the same key again bills nothing new."""
    job = configured.create_job({})
    path = f"/v1/internal/jobs/{job.job_uuid}/charge"
    configured.inject(Fault("delay", seconds=0.5, count=1, path=path, after_body=False))

    async def work(data: Any) -> Any:
        current = seekapi.current_job()
        key = f"{current.job_uuid}:cancelled"
        task = asyncio.ensure_future(current.charge_async(key))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.6)  # the charge finishes in its thread meanwhile
        billed = len(job.charges)
        reply = await current.charge_async(key)
        return {"billed_before_retry": billed, "metered": reply["metered_event_count"]}

    assert _run(job, work)["ok"] is True
    assert job.result == {"billed_before_retry": 1, "metered": 1}
    assert job.metered_event_count == 1


def test_an_async_call_after_the_job_ended_is_refused(configured: Backend) -> None:
    """A call from code that outlived its job raises JobClosedError and sends nothing."""
    job = configured.create_job({})
    kept: list[Any] = []

    async def work(data: Any) -> Any:
        kept.append(seekapi.current_job())
        return {"done": True}

    assert _run(job, work)["ok"] is True
    before = len(configured.requests)

    async def late() -> None:
        await kept[0].charge_async(f"{job.job_uuid}:late")

    with pytest.raises(seekapi.JobClosedError):
        asyncio.run(late())
    assert len(configured.requests) == before
    assert job.charges == []


def test_current_job_is_seen_in_the_thread_that_runs_the_call(configured: Backend) -> None:
    """The calls run in a copy of the task's context: the lower-level call they make
    finds the running job (its refusals, its masked values) in the pool thread."""
    from seekapi._async_calls import in_thread

    job = configured.create_job({})

    async def work(data: Any) -> Any:
        current = seekapi.current_job()

        seen = await in_thread(seekapi.current_job)
        return {"same": seen is current}

    assert _run(job, work)["ok"] is True
    assert job.result == {"same": True}
