"""MapOutcome and ItemFailure: plain values, their JSON form, and a cheap import."""

from __future__ import annotations

import subprocess
import sys

from seekapi._map import is_coroutine_function
from seekapi._map_outcome import ItemFailure, MapOutcome


def _outcome() -> MapOutcome[int]:
    return MapOutcome(
        results=[0, 4],
        indices=[0, 2],
        failed=[ItemFailure(1, "KeyError", "'x'")],
        dropped=[3],
        not_started=2,
        stopped="limit",
        units=2,
        overshoot=0,
        limit_reached=True,
        total=6,
    )


def test_to_json_is_a_plain_object() -> None:
    """Every field is there, failures as objects: the form a job's result takes."""
    assert _outcome().to_json() == {
        "results": [0, 4],
        "indices": [0, 2],
        "failed": [{"index": 1, "error": "KeyError", "message": "'x'", "stage": "item"}],
        "dropped": [3],
        "not_started": 2,
        "stopped": "limit",
        "units": 2,
        "overshoot": 0,
        "limit_reached": True,
        "total": 6,
        "in_flight": 0,
    }


def test_derived_figures_and_repr() -> None:
    outcome = _outcome()
    assert (outcome.delivered, outcome.complete) == (2, False)
    assert "2/6 delivered" in repr(outcome)
    assert ItemFailure(1, "KeyError", "'x'") == outcome.failed[0]
    assert ItemFailure(1, "KeyError", "'y'") != outcome.failed[0]


def test_the_class_can_be_subscripted_at_run_time() -> None:
    """MapOutcome[int] works in annotations evaluated at run time, without typing."""
    assert MapOutcome[int] is MapOutcome


def test_coroutine_functions_are_told_apart() -> None:
    import functools

    async def fetch(x: int) -> int:
        return x

    def plain(x: int) -> int:
        return x

    class Holder:
        async def method(self) -> None:
            return None

    assert is_coroutine_function(fetch)
    assert is_coroutine_function(functools.partial(fetch, 1))
    assert is_coroutine_function(Holder().method)
    assert not is_coroutine_function(plain)
    assert not is_coroutine_function(len)


def test_the_map_module_loads_neither_typing_nor_asyncio() -> None:
    """job.map's first use costs little: no typing, asyncio or concurrent.futures."""
    code = (
        "import sys, seekapi._map, seekapi._map_outcome, seekapi._async_calls\n"
        "print(sorted(m for m in ('typing', 'asyncio', 'concurrent.futures') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
