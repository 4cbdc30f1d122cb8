"""job.map against the emulator: billing, the spending limit, deadlines, failures, progress."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import pytest

import seekapi
from seekapi.testing import Backend, FakeLambdaContext, Fault


def _charge_path(job: Any) -> str:
    return f"/v1/internal/jobs/{job.job_uuid}/charge"


def _keys(job: Any) -> list[str]:
    return [c["idempotency_key"] for c in job.charges]


def _run(job: Any, work: Any, timeout_s: float = 30) -> dict[str, Any]:
    out: dict[str, Any] = seekapi.run(job.event, FakeLambdaContext(timeout_s=timeout_s), work)
    return out


def test_every_item_is_billed_once_and_delivered_in_input_order(configured: Backend) -> None:
    """Twenty items at concurrency 4: twenty units under index keys, results in input order."""
    job = configured.create_job({"n": 20})

    def work(data: dict[str, Any]) -> Any:
        def square(x: int) -> int:
            time.sleep(0.01 * (x % 3))  # finish out of order
            return x * x

        outcome = seekapi.current_job().map(square, range(data["n"]), concurrency=4)
        return outcome.to_json()

    assert _run(job, work)["ok"] is True
    assert job.result["results"] == [x * x for x in range(20)]
    assert job.result["indices"] == list(range(20))
    assert (job.result["units"], job.result["stopped"], job.result["not_started"]) == (20, None, 0)
    assert job.metered_event_count == 20
    assert sorted(_keys(job)) == sorted(f"{job.job_uuid}:map:{i}" for i in range(20))


@pytest.mark.parametrize("concurrency", [1, 3, 8])
def test_units_billed_equal_items_delivered_through_faults(
    configured: Backend, concurrency: int
) -> None:
    """Charges refused with 503, answers dropped after billing, connections reset: the
    retries bill nothing twice, failing items are not billed, and units == delivered."""
    job = configured.create_job({})
    path = _charge_path(job)
    configured.inject(Fault("status", status=503, count=3, path=path))
    configured.inject(Fault("drop", count=2, path=path))  # billed, answer lost
    configured.inject(Fault("reset", count=2, path=path, after_body=False))  # not billed
    captured: list[Any] = []

    def work(data: Any) -> Any:
        def item(x: int) -> int:
            if x % 7 == 3:
                raise ValueError(f"item {x} is bad")
            return x

        outcome = seekapi.current_job().map(item, range(30), concurrency=concurrency)
        captured.append(outcome)
        return outcome.to_json()

    assert _run(job, work)["ok"] is True
    outcome = captured[0]
    bad = [x for x in range(30) if x % 7 == 3]
    assert [f.index for f in outcome.failed] == bad
    assert outcome.indices == [x for x in range(30) if x not in bad]
    assert job.metered_event_count == outcome.units == outcome.delivered == 30 - len(bad)
    assert sorted(_keys(job)) == sorted(f"{job.job_uuid}:map:{i}" for i in outcome.indices)
    assert configured.pending_faults == []


def test_a_rerun_of_the_job_bills_nothing_new(configured: Backend) -> None:
    """The same event run again: the same keys, the same results, no new unit."""
    job = configured.create_job({"words": ["a", "bb", "ccc", "dddd"] * 5})

    def work(data: dict[str, Any]) -> Any:
        return seekapi.current_job().map(len, data["words"], concurrency=3).to_json()

    assert _run(job, work)["ok"] is True
    first = job.result
    assert job.metered_event_count == 20
    assert _run(job, work)["ok"] is True
    assert job.result == first
    assert job.metered_event_count == 20
    assert len(job.charges) == 20


def test_key_function_and_named_maps_do_not_collide(configured: Backend) -> None:
    """key(item) names what is billed; two maps of one job bill under their own names;
    reusing a name without key= is refused before anything runs."""
    job = configured.create_job({})
    refused: list[str] = []

    def work(data: Any) -> Any:
        current = seekapi.current_job()
        items = [{"id": "a"}, {"id": "b"}]
        first = current.map(lambda i: i["id"].upper(), items, key=lambda i: i["id"])
        second = current.map(str, [1, 2], name="second")
        try:
            current.map(str, [1, 2], name="second")
        except seekapi.UsageError as exc:
            refused.append(str(exc))
        return {"first": first.results, "second": second.results}

    assert _run(job, work)["ok"] is True
    assert job.result == {"first": ["A", "B"], "second": ["1", "2"]}
    assert sorted(_keys(job)) == sorted(
        [
            f"{job.job_uuid}:map:a",
            f"{job.job_uuid}:map:b",
            f"{job.job_uuid}:second:0",
            f"{job.job_uuid}:second:1",
        ]
    )
    assert refused
    assert "second" in refused[0]


def test_duplicate_or_bad_keys_are_refused_before_anything_runs(configured: Backend) -> None:
    """Two items with one key would deliver one without billing it: a UsageError."""
    job = configured.create_job({})
    errors: list[str] = []
    called: list[Any] = []

    def work(data: Any) -> Any:
        current = seekapi.current_job()
        keys: list[Any] = [lambda item: "same", lambda item: "  ", lambda item: 5]
        for key in keys:
            try:
                current.map(called.append, [1, 2], key=key)
            except seekapi.UsageError as exc:
                errors.append(str(exc))
        return None

    assert _run(job, work)["ok"] is True
    assert len(errors) == 3
    assert called == []
    assert job.charges == []


@pytest.mark.parametrize("concurrency", [1, 4, 8])
def test_no_item_starts_after_the_limit_and_overshoot_is_bounded(
    configured: Backend, concurrency: int
) -> None:
    """With a limit of 10 units over 100 items: started items stop soon after the limit,
    billed past it at most concurrency - 1, and what was billed is exactly what was
    delivered."""
    job = configured.create_job({}, charge_limit=10)
    started: list[int] = []
    lock = threading.Lock()
    captured: list[Any] = []

    def work(data: Any) -> Any:
        def item(x: int) -> int:
            with lock:
                started.append(x)
            time.sleep(0.01)
            return x

        outcome = seekapi.current_job().map(item, range(100), concurrency=concurrency)
        captured.append(outcome)
        return outcome.to_json()

    out = _run(job, work)
    assert out["ok"] is True
    assert out["limit_reached"] is True
    outcome = captured[0]
    assert outcome.stopped == "limit"
    assert outcome.limit_reached is True
    assert job.metered_event_count == outcome.units == outcome.delivered
    assert 10 <= job.metered_event_count <= 10 + concurrency - 1
    assert outcome.overshoot == job.metered_event_count - 10
    # Items that started: the delivered ones, and those still running at the limit.
    assert len(started) == outcome.delivered + len(outcome.dropped) + len(outcome.failed)
    assert len(started) <= 10 + 2 * (concurrency - 1)
    assert outcome.not_started == 100 - len(started)


def test_an_item_finishing_after_the_limit_is_neither_billed_nor_delivered(
    configured: Backend,
) -> None:
    """A limit of 1 unit: item 0 reaches it at once; item 1, still running then, finishes
    later and is dropped: no charge is sent after the limit was reported."""
    job = configured.create_job({}, charge_limit=1)
    captured: list[Any] = []
    second_started = threading.Event()

    def work(data: Any) -> Any:
        def item(x: int) -> int:
            if x == 0:
                assert second_started.wait(5)  # both run when item 0 is charged
            else:
                second_started.set()
                time.sleep(0.5)
            return x

        outcome = seekapi.current_job().map(item, range(2), concurrency=2)
        captured.append(outcome)
        return outcome.to_json()

    assert _run(job, work)["ok"] is True
    outcome = captured[0]
    assert (outcome.results, outcome.dropped, outcome.overshoot) == ([0], [1], 0)
    assert _keys(job) == [f"{job.job_uuid}:map:0"]


def test_a_job_already_at_its_limit_starts_no_item(configured: Backend) -> None:
    """A limit of 0: the first charge reports it, and nothing else starts."""
    job = configured.create_job({}, charge_limit=0)
    started: list[int] = []

    def work(data: Any) -> Any:
        current = seekapi.current_job()
        current.charge(f"{current.job_uuid}:setup")
        return current.map(started.append, range(5), charge=1).to_json()

    assert _run(job, work)["ok"] is True
    assert started == []
    assert job.result["stopped"] == "limit"
    assert job.result["not_started"] == 5


def test_items_stop_starting_before_the_deadline_and_run_returns_in_time(
    configured: Backend,
) -> None:
    """A slow fn (0.3 s) over 100 items on a 3 s Lambda: items stop starting while one
    still fits, the result is delivered, and run() returns before the Lambda deadline."""
    job = configured.create_job({})

    def work(data: Any) -> Any:
        def slow(x: int) -> int:
            time.sleep(0.3)
            return x

        return seekapi.current_job().map(slow, range(100), concurrency=2).to_json()

    context = FakeLambdaContext(timeout_s=3)
    began = time.monotonic()
    out = seekapi.run(job.event, context, work)
    took = time.monotonic() - began
    assert out["ok"] is True, out
    assert took < 3 + 0.5
    assert job.result["stopped"] == "deadline"
    assert 2 <= len(job.result["results"]) < 100
    assert job.metered_event_count == len(job.result["results"])


def test_items_in_flight_at_the_deadline_are_interrupted_and_never_charged(
    configured: Backend,
) -> None:
    """Items far slower than the estimate: run() times out at its deadline, and the
    threads left running do not charge after it returned."""
    job = configured.create_job({})
    finished = threading.Event()

    def work(data: Any) -> Any:
        calls = [0]

        def item(x: int) -> int:
            calls[0] += 1
            time.sleep(0.05 if x == 0 else 2.5)
            if x > 0:
                finished.set()
            return x

        return seekapi.current_job().map(item, range(4), concurrency=4).to_json()

    began = time.monotonic()
    out = seekapi.run(job.event, FakeLambdaContext(timeout_s=2), work)
    assert time.monotonic() - began < 2 + 0.5
    assert out["ok"] is False
    assert out["error"]["code"] == "WORKER_TIMEOUT"
    assert finished.wait(5)
    time.sleep(0.3)  # the threads had their chance to charge
    assert job.metered_event_count <= 1  # only item 0, if it was charged before the deadline


def test_concurrency_is_real(configured: Backend) -> None:
    """Eight items sleeping 0.3 s at concurrency 8 run at once, not one after the other."""
    job = configured.create_job({})
    took: list[float] = []

    def work(data: Any) -> Any:
        began = time.monotonic()
        outcome = seekapi.current_job().map(lambda x: time.sleep(0.3), range(8), concurrency=8)
        took.append(time.monotonic() - began)
        return {"delivered": outcome.delivered}

    assert _run(job, work)["ok"] is True
    assert job.result == {"delivered": 8}
    assert took[0] < 4 * 0.3


def test_current_job_works_inside_fn_in_every_thread(configured: Backend) -> None:
    """fn sees the job through current_job() in each thread, and can charge through it."""
    job = configured.create_job({})
    seen: list[tuple[str, str]] = []
    lock = threading.Lock()

    def work(data: Any) -> Any:
        def item(x: int) -> int:
            current = seekapi.current_job()
            with lock:
                seen.append((current.job_uuid, str(threading.get_ident())))
            current.charge(f"{current.job_uuid}:extra:{x}")
            time.sleep(0.02)  # so that every thread takes items
            return x

        return seekapi.current_job().map(item, range(12), concurrency=4, charge=0).to_json()

    assert _run(job, work)["ok"] is True
    assert {uuid for uuid, _ in seen} == {job.job_uuid}
    assert len({name for _, name in seen}) > 1
    assert job.metered_event_count == 12  # only fn's own charges: charge=0 bills nothing
    assert job.result["units"] == 0
    assert len(job.result["results"]) == 12


def test_failing_items_are_kept_with_masked_messages(configured: Backend) -> None:
    """A failing item keeps its index, type and message; the job's secret is masked."""
    job = configured.create_job({})

    def work(data: Any) -> Any:
        secret = configured.secret
        token = job.execution_token

        def item(x: int) -> int:
            if x == 2:
                raise KeyError(f"no {secret} here, nor {token}")
            return x

        return seekapi.current_job().map(item, range(4)).to_json()

    assert _run(job, work)["ok"] is True
    (failed,) = job.result["failed"]
    assert (failed["index"], failed["error"], failed["stage"]) == (2, "KeyError", "item")
    assert configured.secret not in failed["message"]
    assert job.execution_token not in failed["message"]
    assert "<hidden>" in failed["message"]
    assert job.result["indices"] == [0, 1, 3]
    assert job.metered_event_count == 3


def test_on_error_raise_stops_the_map_and_fails_the_job(configured: Backend) -> None:
    """on_error="raise": the first failure stops new items and is raised to run()."""
    job = configured.create_job({})
    started: list[int] = []

    def work(data: Any) -> Any:
        def item(x: int) -> int:
            started.append(x)
            if x == 3:
                raise RuntimeError("broken item")
            return x

        return seekapi.current_job().map(item, range(50), concurrency=1, on_error="raise")

    out = _run(job, work)
    assert out["ok"] is False
    assert out["error"]["message"] == "RuntimeError: broken item"
    assert started == [0, 1, 2, 3]
    assert job.metered_event_count == 3


def test_job_stop_inside_fn_ends_the_map_and_pushes_the_outcome(configured: Backend) -> None:
    """job.stop() in an item: the map ends, the job succeeds, its outcome is the result."""
    job = configured.create_job({})

    def work(data: Any) -> Any:
        def item(x: int) -> int:
            if x == 5:
                seekapi.current_job().stop(reason="enough")
            return x

        seekapi.current_job().map(item, range(50), concurrency=1)
        return {"never": "reached"}

    out = _run(job, work)
    assert out["ok"] is True
    assert out["stopped"] == "enough"
    assert job.result["stopped"] == "stop"
    assert job.result["results"] == [0, 1, 2, 3, 4]
    assert job.metered_event_count == 5


def test_the_outcome_encodes_with_the_json_rules(configured: Backend) -> None:
    """Results JSON cannot hold natively (a set, a tuple) encode as the JSON rules say."""
    job = configured.create_job({})
    captured: list[Any] = []

    def work(data: Any) -> Any:
        outcome = seekapi.current_job().map(lambda x: {"pair": (x, x), "set": {x}}, range(2))
        captured.append(outcome)
        return {"outcome": outcome.to_json()}

    assert _run(job, work)["ok"] is True
    assert job.result["outcome"]["results"] == [
        {"pair": [0, 0], "set": [0]},
        {"pair": [1, 1], "set": [1]},
    ]
    assert set(captured[0].to_json()) == {
        "results",
        "indices",
        "failed",
        "dropped",
        "not_started",
        "stopped",
        "units",
        "overshoot",
        "limit_reached",
        "total",
        "in_flight",
    }


def test_progress_snapshots_never_arrive_out_of_order(configured: Backend) -> None:
    """A snapshot after every item from eight threads, each push delayed by the backend
    (so later ones queue up behind it): each push holds at least as much as the one
    before, and the final result is the last push."""
    job = configured.create_job({})
    path = f"/v1/internal/jobs/{job.job_uuid}/push"
    configured.inject(Fault("delay", seconds=0.04, count=1000, path=path))

    def work(data: Any) -> Any:
        def item(x: int) -> int:
            time.sleep(0.01 * (x % 5))
            return x

        outcome = seekapi.current_job().map(item, range(80), concurrency=8, progress_every=1)
        return {"final": True, **outcome.to_json()}

    assert _run(job, work)["ok"] is True
    pushes = [p["data"] for p in job.pushes]
    assert len(pushes) >= 3
    assert pushes[-1]["final"] is True
    assert len(pushes[-1]["results"]) == 80
    done = [len(p["results"]) + len(p["failed"]) for p in pushes]
    assert done == sorted(done)
    assert all("final" not in p for p in pushes[:-1])


def test_progress_every_few_seconds(configured: Backend) -> None:
    """progress_seconds pushes a snapshot while items keep running."""
    job = configured.create_job({})

    def work(data: Any) -> Any:
        outcome = seekapi.current_job().map(
            lambda x: time.sleep(0.05), range(20), concurrency=2, progress_seconds=0.1
        )
        return {"done": outcome.delivered}

    assert _run(job, work)["ok"] is True
    assert len(job.pushes) >= 3
    assert job.pushes[-1]["data"] == {"done": 20}


def test_an_async_function_is_refused_by_map(configured: Backend) -> None:
    """map() runs plain functions; an async def one is told to use map_async."""
    job = configured.create_job({})

    async def item(x: int) -> int:
        return x

    def work(data: Any) -> Any:
        with pytest.raises(seekapi.UsageError, match="map_async"):
            seekapi.current_job().map(item, [1])
        return {"ok": 1}

    assert _run(job, work)["ok"] is True


def test_a_plain_function_is_refused_by_map_async(configured: Backend) -> None:
    """map_async() runs async def functions; a plain one is told to use map, before any
    item runs or is charged."""
    job = configured.create_job({})
    ran: list[int] = []

    def item(x: int) -> int:
        ran.append(x)
        return x

    async def work(data: Any) -> Any:
        with pytest.raises(seekapi.UsageError, match=r"job\.map\(fn, items\)"):
            await seekapi.current_job().map_async(item, [1, 2])  # type: ignore[arg-type]
        return {"ok": 1}

    assert _run(job, work)["ok"] is True
    assert ran == []
    assert job.charges == []


def test_map_async_runs_tasks_and_bills_each_delivered_item(configured: Backend) -> None:
    """An async worker: items are tasks (current_job() works in them), run concurrently,
    billed once each; the limit stops them as in threads."""
    job = configured.create_job({}, charge_limit=12)
    seen: set[str] = set()
    took: list[float] = []

    async def work(data: Any) -> Any:
        async def item(x: int) -> int:
            seen.add(seekapi.current_job().job_uuid)
            await asyncio.sleep(0.3 if x < 8 else 0.01)
            return x * 2

        began = time.monotonic()
        outcome = await seekapi.current_job().map_async(item, range(8), concurrency=8)
        took.append(time.monotonic() - began)
        more = await seekapi.current_job().map_async(item, range(40), name="more", concurrency=4)
        return {"first": outcome.to_json(), "more": more.to_json()}

    out = _run(job, work)
    assert out["ok"] is True
    assert seen == {job.job_uuid}
    assert job.result["first"]["results"] == [x * 2 for x in range(8)]
    assert took[0] < 4 * 0.3  # one after the other: 8 x 0.3 s
    more = job.result["more"]
    assert more["stopped"] == "limit"
    delivered = 8 + len(more["results"])
    assert job.metered_event_count == delivered
    assert 12 <= delivered <= 12 + 3


def test_map_async_is_cancelled_at_the_deadline_and_charges_nothing_after(
    configured: Backend,
) -> None:
    """An async map whose items outlast the job: run() cancels it at the deadline and
    returns WORKER_TIMEOUT in time; no charge lands afterwards."""
    job = configured.create_job({})

    async def work(data: Any) -> Any:
        async def item(x: int) -> int:
            await asyncio.sleep(5)
            return x

        return (await seekapi.current_job().map_async(item, range(4))).to_json()

    began = time.monotonic()
    out = seekapi.run(job.event, FakeLambdaContext(timeout_s=2), work)
    assert time.monotonic() - began < 2 + 0.5
    assert out["error"]["code"] == "WORKER_TIMEOUT"
    time.sleep(0.3)
    assert job.charges == []


@pytest.mark.parametrize(
    "options",
    [
        {"concurrency": 0},
        {"concurrency": True},
        {"charge": -1},
        {"on_error": "ignore"},
        {"progress_every": 0},
        {"progress_seconds": float("inf")},
        {"reserve": -1},
        {"name": " "},
    ],
)
def test_wrong_arguments_are_refused_before_anything_runs(
    configured: Backend, options: dict[str, Any]
) -> None:
    """A bad option is a UsageError, and no item runs."""
    job = configured.create_job({})
    called: list[Any] = []

    def work(data: Any) -> Any:
        with pytest.raises(seekapi.UsageError):
            seekapi.current_job().map(called.append, [1, 2], **options)
        return {"called": len(called)}

    assert _run(job, work)["ok"] is True
    assert job.result == {"called": 0}
    assert job.charges == []


def test_no_items_is_an_empty_outcome(configured: Backend) -> None:
    """An empty input: nothing runs, nothing is billed, in threads and in tasks."""
    job = configured.create_job({})

    async def work(data: Any) -> Any:
        current = seekapi.current_job()
        nothing: list[int] = []
        in_tasks = await current.map_async(_double, nothing, progress_every=1)
        in_threads = await asyncio.to_thread(lambda: current.map(abs, nothing, name="threads"))
        return {"tasks": in_tasks.to_json(), "threads": in_threads.to_json()}

    assert _run(job, work)["ok"] is True
    for outcome in job.result.values():
        assert (outcome["results"], outcome["total"], outcome["stopped"]) == ([], 0, None)
    assert job.charges == []


async def _double(x: int) -> int:
    await asyncio.sleep(0.02 + 0.02 * (x % 3))
    if x % 5 == 4:
        raise ValueError(f"item {x} refused")
    return 2 * x


def test_map_async_keeps_failures_and_pushes_ordered_snapshots(configured: Backend) -> None:
    """Tasks: failing items are kept and not billed, snapshots grow in order, the final
    result is pushed last."""
    job = configured.create_job({})
    path = f"/v1/internal/jobs/{job.job_uuid}/push"
    configured.inject(Fault("delay", seconds=0.04, count=1000, path=path))

    async def work(data: Any) -> Any:
        outcome = await seekapi.current_job().map_async(
            _double, range(30), concurrency=8, progress_every=1
        )
        return {"final": True, **outcome.to_json()}

    assert _run(job, work)["ok"] is True
    result = job.result
    assert [f["index"] for f in result["failed"]] == [4, 9, 14, 19, 24, 29]
    assert result["results"] == [2 * x for x in range(30) if x % 5 != 4]
    assert job.metered_event_count == 24
    pushes = [p["data"] for p in job.pushes]
    assert len(pushes) >= 3
    assert pushes[-1].get("final") is True
    done = [len(p["results"]) + len(p["failed"]) for p in pushes]
    assert done == sorted(done)


def test_job_stop_inside_an_async_item_ends_the_job(configured: Backend) -> None:
    """job.stop(result) in a task: the map ends and the job succeeds with that result."""
    job = configured.create_job({})

    async def work(data: Any) -> Any:
        async def item(x: int) -> int:
            if x == 3:
                seekapi.current_job().stop({"stopped_at": x})
            return x

        await seekapi.current_job().map_async(item, range(20), concurrency=1)
        return {"never": "reached"}

    out = _run(job, work)
    assert out["ok"] is True
    assert out["stopped"] == "stopped"
    assert job.result == {"stopped_at": 3}
    assert job.metered_event_count == 3


def test_waiting_for_slow_items_costs_no_cpu(configured: Backend) -> None:
    """progress_seconds shorter than an item: the waiting thread sleeps between items
    instead of spinning (its CPU time stays far below the wall time)."""
    job = configured.create_job({})
    used: list[float] = []

    def work(data: Any) -> Any:
        began = time.thread_time()
        seekapi.current_job().map(
            lambda x: time.sleep(0.8), range(2), concurrency=2, progress_seconds=0.05
        )
        used.append(time.thread_time() - began)
        return {"done": True}

    assert _run(job, work)["ok"] is True
    assert used[0] < 0.2


@pytest.mark.parametrize("on_error", ["keep", "raise"])
def test_a_refused_charge_is_not_delivered_and_stops_the_map(
    configured: Backend, on_error: Any
) -> None:
    """Item 1's charge is answered 400 (not billed): it is a failure at stage "charge",
    its result is not delivered, and no later item starts; with on_error="raise" the
    error fails the job."""
    job = configured.create_job({})
    path = _charge_path(job)

    def work(data: Any) -> Any:
        def item(x: int) -> int:
            if x == 1:
                configured.inject(Fault("status", status=400, path=path))
            return x

        outcome = seekapi.current_job().map(item, range(10), concurrency=1, on_error=on_error)
        return outcome.to_json()

    out = _run(job, work)
    assert job.metered_event_count == 1
    if on_error == "raise":
        assert out["ok"] is False
        assert out["error"]["message"] == "HTTPStatusError: a backend call failed: HTTP 400"
        return
    assert out["ok"] is True
    assert job.result["results"] == [0]
    (failed,) = job.result["failed"]
    assert (failed["index"], failed["stage"], failed["error"]) == (1, "charge", "HTTPStatusError")
    assert "127.0.0.1" not in failed["message"]  # the backend's address is masked
    assert "<backend>" in failed["message"]
    assert (job.result["stopped"], job.result["not_started"]) == ("charge", 8)


def test_a_rerun_after_the_limit_bills_at_most_concurrency_less_one_more(
    configured: Backend,
) -> None:
    """The job stopped by its limit, run again: the billed keys replay their answers, so
    the re-run stops too; it bills no key twice and at most concurrency - 1 new items,
    and everything it delivers was billed."""
    job = configured.create_job({}, charge_limit=10)

    def work(data: Any) -> Any:
        def item(x: int) -> int:
            time.sleep(0.01)
            return x

        return seekapi.current_job().map(item, range(50), concurrency=4).to_json()

    assert _run(job, work)["limit_reached"] is True
    first = job.metered_event_count
    assert first is not None
    assert _run(job, work)["limit_reached"] is True
    assert job.metered_event_count is not None
    assert first <= job.metered_event_count <= first + 3
    assert len(job.charges) == job.metered_event_count  # one unit per key, none twice
    billed = {c["idempotency_key"] for c in job.charges}
    assert {f"{job.job_uuid}:map:{i}" for i in job.result["indices"]} <= billed


def _map_records(caplog: pytest.LogCaptureFixture) -> list[Any]:
    return [r for r in caplog.records if r.name == "seekapi" and "map" in r.getMessage()]


def test_item_failures_are_logged_with_the_job_ids_and_no_prefix(
    configured: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    """An item's failure is a record with job_uuid and request_id as fields; its message
    does not start with the logger's name, and holds no secret."""
    job = configured.create_job({})

    def work(data: Any) -> Any:
        def item(x: int) -> int:
            if x == 1:
                raise ValueError(f"bad {configured.secret}")
            return x

        return seekapi.current_job().map(item, range(3)).to_json()

    context = FakeLambdaContext(timeout_s=30, aws_request_id="req-map-1")
    with caplog.at_level("WARNING", logger="seekapi"):
        assert seekapi.run(job.event, context, work)["ok"] is True
    (record,) = _map_records(caplog)
    message = record.getMessage()
    assert message.startswith("map item 1 failed (item) with ValueError: bad ")
    assert configured.secret not in message
    assert (record.job_uuid, record.request_id) == (job.job_uuid, "req-map-1")
    assert record.exc_info is None


def test_under_the_json_format_an_item_failure_carries_its_exception(
    configured: Backend, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AWS_LAMBDA_LOG_FORMAT=JSON: the exception, masked, is the record's exc_info, so the
    runtime writes it as errorType, errorMessage and stackTrace; the message is plain."""
    from seekapi._cli.logformat import LambdaJsonFormatter

    monkeypatch.setenv("AWS_LAMBDA_LOG_FORMAT", "JSON")
    job = configured.create_job({})

    def work(data: Any) -> Any:
        def item(x: int) -> int:
            if x == 1:
                raise ValueError(f"bad {configured.secret}")
            return x

        return seekapi.current_job().map(item, range(3)).to_json()

    context = FakeLambdaContext(timeout_s=30, aws_request_id="req-map-2")
    with caplog.at_level("WARNING", logger="seekapi"):
        assert seekapi.run(job.event, context, work)["ok"] is True
    (record,) = _map_records(caplog)
    assert record.getMessage() == "map item 1 failed (item)"
    fields = json.loads(LambdaJsonFormatter().format(record))
    assert fields["errorType"] == "ValueError"
    assert fields["errorMessage"].startswith("bad ")
    assert configured.secret not in json.dumps(fields)
    assert any("test_map.py" in frame for frame in fields["stackTrace"])
    assert (fields["job_uuid"], fields["request_id"]) == (job.job_uuid, "req-map-2")


def test_a_lost_progress_snapshot_is_logged_with_the_job_ids(
    configured: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    """A snapshot push the backend refuses: a warning naming the job, no prefix."""
    job = configured.create_job({})
    path = f"/v1/internal/jobs/{job.job_uuid}/push"
    configured.inject(Fault("status", status=400, count=1, path=path))

    def work(data: Any) -> Any:
        def item(x: int) -> int:
            time.sleep(0.05)
            return x

        job = seekapi.current_job()
        return job.map(item, range(4), concurrency=1, progress_every=1).to_json()

    context = FakeLambdaContext(timeout_s=30, aws_request_id="req-map-3")
    with caplog.at_level("DEBUG", logger="seekapi"):
        assert seekapi.run(job.event, context, work)["ok"] is True
    records = [r for r in caplog.records if "snapshot" in r.getMessage()]
    assert records
    for record in records:
        assert not record.getMessage().startswith("seekapi")
        assert (record.job_uuid, record.request_id) == (job.job_uuid, "req-map-3")  # type: ignore[attr-defined]
