"""The job's ``*_async`` calls: the sync call, in a thread, awaited without blocking the loop.

Each call runs the very code of its sync twin (``Job.charge``, ``Job.push_data``,
``Job.push_file``), so every deadline, retry and refusal rule is the same. It runs in a
thread of a pool of this module's own, in a copy of the awaiting task's context: the
job, its deadline and the masked values travel with it. The pool (not the loop's
default executor, which has only a few threads on a small Lambda) lets many calls run
at once; each concurrent call gets a connection of its own from the transport's pool.

Cancelling the awaiting task does not stop a call already running: the thread finishes
it (bounded by its timeout and the job's deadline) and its answer is dropped. A charge
cancelled that way may still be billed; its idempotency key makes a later retry safe.
"""

from __future__ import annotations

import _thread

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from concurrent.futures import ThreadPoolExecutor
    from typing import Any, TypeVar

    R = TypeVar("R")

MAX_THREADS = 64
"""At most this many calls run at once; more wait for a thread."""

_pool: list[ThreadPoolExecutor] = []  # made on first use
_pool_lock = _thread.allocate_lock()


def _executor() -> ThreadPoolExecutor:
    with _pool_lock:
        if not _pool:
            from concurrent.futures import ThreadPoolExecutor

            # Threads start on demand and idle ones are reused.
            _pool.append(ThreadPoolExecutor(MAX_THREADS, thread_name_prefix="seekapi-async"))
        return _pool[0]


async def in_thread(call: Callable[..., R], /, *args: Any, **kwargs: Any) -> R:
    """Await ``call(*args, **kwargs)`` run in a pool thread, in a copy of this context."""
    import asyncio
    import functools
    from contextvars import copy_context

    loop = asyncio.get_running_loop()
    context = copy_context()
    return await loop.run_in_executor(
        _executor(), functools.partial(context.run, call, *args, **kwargs)
    )
