"""Interrupt worker code at its deadline by raising :class:`~seekapi.errors.WorkerTimeout` in it.

Two mechanisms, chosen by the thread ``run()`` is called from:

- **Main thread** (the Lambda runtime calls handlers there): ``SIGALRM`` from
  ``setitimer``. The handler raises in the main thread at the next bytecode, and
  interrupts blocking waits such as ``time.sleep``, socket reads and ``select``.
- **Any other thread**: a watchdog thread that asks the interpreter to raise the
  exception in the worker's thread (``PyThreadState_SetAsyncExc``). It takes effect at
  the next bytecode that thread runs, so a blocking wait delays it until the wait ends.

What neither can interrupt: a long call into C code that does not return to the
interpreter (a large regular expression, a numeric kernel, ``hashlib`` over a huge
buffer). The exception is raised as soon as the call returns; until then ``run()``
cannot return, and if that is past the Lambda deadline, Lambda ends the invocation.

Code that catches the exception, or waits in its own clean-up (a ``with
ThreadPoolExecutor()`` block joining its threads), is interrupted again every 0.25 s
until it lets go.

Nothing outlives the :class:`Alarm`: on exit the timer is cancelled, the previous
``SIGALRM`` handler and timer are restored, a pending asynchronous exception is
withdrawn, and a late signal meant for a finished alarm is ignored, so an alarm armed
in one invocation can never fire in a later warm invocation.
"""

from __future__ import annotations

import _thread
import math
import signal
import threading
import time

from .errors import WorkerTimeout

REPEAT = 0.25
"""Seconds between further interrupts while worker code is still unwinding."""


class Alarm:
    """While active, raises ``WorkerTimeout`` in the current thread after ``seconds``.

    If the code is still inside the block afterwards (it caught the exception, or a
    ``finally`` or ``with`` block of its own waits on something), the exception is
    raised again every :data:`REPEAT` seconds until the block is left.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.fired = False
        self._active = False
        self._lock = _thread.allocate_lock()
        self._previous_handler: object = None
        self._previous_timer: tuple[float, float] = (0.0, 0.0)
        self._armed_at = 0.0
        self._stop = threading.Event()
        self._watchdog: threading.Thread | None = None
        self._thread_id = 0
        self._use_signal = False

    def __enter__(self) -> Alarm:
        if math.isinf(self.seconds):
            return self
        if self.seconds <= 0:
            self.fired = True
            raise WorkerTimeout("no time left to run the worker code")
        self._use_signal = threading.current_thread() is threading.main_thread() and hasattr(
            signal, "setitimer"
        )
        if self._use_signal:
            self._previous_handler = signal.signal(signal.SIGALRM, self._on_signal)
            self._armed_at = time.monotonic()
            self._active = True
            self._previous_timer = signal.setitimer(signal.ITIMER_REAL, self.seconds, REPEAT)
        else:
            self._thread_id = threading.get_ident()
            self._active = True
            self._watchdog = threading.Thread(
                target=self._watch, name="seekapi-watchdog", daemon=True
            )
            self._watchdog.start()
        return self

    def __exit__(self, *exc: object) -> None:
        # The alarm may fire while this runs (the code finished right at its
        # deadline): catch that and disarm again, so the restore always completes.
        for _ in range(100):
            try:
                self._disarm()
                return
            except WorkerTimeout:
                self.fired = True
        self._disarm()

    def _disarm(self) -> None:
        with self._lock:
            was_active, self._active = self._active, False
        if not was_active:
            return
        if self._use_signal:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._previous_handler)  # type: ignore[arg-type]
            self._restore_previous_timer()
        else:
            self._stop.set()
            if self.fired:
                # If the exception is still pending in this thread, withdraw it.
                _set_async_exc(self._thread_id, None)

    def _restore_previous_timer(self) -> None:
        delay, interval = self._previous_timer
        if delay > 0:
            left = delay - (time.monotonic() - self._armed_at)
            # A timer that should already have fired fires now rather than never.
            signal.setitimer(signal.ITIMER_REAL, max(left, 1e-3), interval)

    def _on_signal(self, signum: int, frame: object) -> None:
        if not self._active:
            return  # a late signal for a finished alarm
        self.fired = True
        raise WorkerTimeout(f"the worker code ran out of time ({self.seconds:.1f} s)")

    def _watch(self) -> None:
        wait = self.seconds
        while not self._stop.wait(wait):
            with self._lock:
                if not self._active:
                    return
                self.fired = True
                _set_async_exc(self._thread_id, WorkerTimeout)
            wait = REPEAT


def _set_async_exc(thread_id: int, exc_type: type[BaseException] | None) -> None:
    import ctypes

    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exc_type) if exc_type else None
    )
