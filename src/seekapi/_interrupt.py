"""Interrupt worker code at its deadline by raising :class:`~seekapi.errors.WorkerTimeout` in it.

A watchdog thread waits for the deadline, then asks the interpreter to raise the
exception in the worker's thread (``PyThreadState_SetAsyncExc``). That takes effect at
the next bytecode the thread runs, so on its own it cannot end a blocking wait. When
the worker runs on the **main thread** (the Lambda runtime calls handlers there), the
watchdog also sends that thread a wake-up signal (``SIGURG``, whose default action is
to do nothing) whose handler raises the exception at once: ``time.sleep``, socket
reads, ``select`` and lock waits are interrupted too.

Nothing here depends on ``SIGALRM`` or ``ITIMER_REAL``: worker code and its libraries
may arm, disarm or replace them freely (``signal.alarm``, ``timeout-decorator``,
``with time_limit(n)`` recipes) without switching the deadline off, and their own
alarms still reach their own handlers. If worker code replaces the wake-up signal's
handler, the asynchronous exception still ends pure-Python code.

What cannot be interrupted: a long call into C code that does not return to the
interpreter (a large regular expression, a numeric kernel, ``hashlib`` over a huge
buffer). The exception is raised as soon as the call returns.

Code that catches the exception, or waits in its own clean-up (a ``with
ThreadPoolExecutor()`` block joining its threads), is interrupted again every 0.25 s
until it lets go.

Nothing outlives the :class:`Alarm`: on exit the watchdog stops, the previous wake-up
handler is restored, a pending asynchronous exception is withdrawn, and a late signal
is ignored, so an alarm of one invocation never fires in a later warm invocation. An
alarm that cannot be armed (a deadline too far away for the OS, no thread to spare)
leaves nothing behind and lets the code run without interruption.
"""

from __future__ import annotations

import _thread
import math
import signal
import threading

from .errors import WorkerTimeout

REPEAT = 0.25
"""Seconds between further interrupts while worker code is still unwinding."""

LONGEST = 7 * 24 * 3600.0
"""A deadline further away than this (seconds) is not armed: no invocation runs that long,
and the OS's timed waits cannot represent arbitrarily distant times."""

_WAKE_SIGNAL: signal.Signals | None = getattr(signal, "SIGURG", None)


class Alarm:
    """While active, raises ``WorkerTimeout`` in the current thread after ``seconds``.

    If the code is still inside the block afterwards (it caught the exception, or a
    ``finally`` or ``with`` block of its own waits on something), the exception is
    raised again every :data:`REPEAT` seconds until the block is left. ``armed`` tells
    whether the alarm could be set (see :data:`LONGEST`).
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.fired = False
        self.armed = False
        self._active = False
        self._lock = _thread.allocate_lock()
        self._stop = threading.Event()
        self._thread_id = 0
        self._handler: object = None
        self._previous_handler: object = None
        self._watchdog: threading.Thread | None = None

    def __enter__(self) -> Alarm:
        seconds = self.seconds
        if math.isnan(seconds) or seconds > LONGEST:
            return self
        if seconds <= 0:
            self.fired = True
            raise WorkerTimeout("no time left to run the worker code")
        try:
            self._arm()
            return self
        except WorkerTimeout:
            # The deadline came while arming (a tiny budget): the block never starts, so
            # __exit__ would not run; disarm here and let the timeout through.
            self.__exit__()
            raise
        except Exception as exc:  # noqa: BLE001 - a job without an alarm beats a failed job
            self.__exit__()
            import logging

            logging.getLogger("seekapi").warning(
                "could not arm the deadline interruption (%s: %s); the worker code runs without it",
                type(exc).__name__,
                exc,
            )
        return self

    def _arm(self) -> None:
        self._thread_id = threading.get_ident()
        if _WAKE_SIGNAL is not None and threading.current_thread() is threading.main_thread():
            handler = self._on_signal
            self._handler = handler
            self._previous_handler = signal.signal(_WAKE_SIGNAL, handler)
        self._active = True
        self._watchdog = threading.Thread(target=self._watch, name="seekapi-watchdog", daemon=True)
        self.armed = True
        self._watchdog.start()

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
            self._stop.set()
        if self._handler is not None:
            handler, self._handler = self._handler, None
            if _WAKE_SIGNAL is not None and signal.getsignal(_WAKE_SIGNAL) is handler:
                signal.signal(_WAKE_SIGNAL, self._previous_handler)  # type: ignore[arg-type]
        if was_active and self.fired:
            # If the exception is still pending in this thread, withdraw it.
            _set_async_exc(self._thread_id, None)

    def _on_signal(self, signum: int, frame: object) -> None:
        # Only the watchdog's own wake-up counts; anything else sending the signal, or a
        # late one for a finished alarm, is ignored as the default action would be.
        if self._active and self.fired:
            raise WorkerTimeout(f"the worker code ran out of time ({self.seconds:.1f} s)")

    def _watch(self) -> None:
        wait = self.seconds
        while not self._stop.wait(wait):
            with self._lock:
                if not self._active:
                    return
                self.fired = True
                woken = False
                # Sent while holding the lock: the worker cannot restore the previous
                # handler before the signal has been delivered to it.
                if (
                    _WAKE_SIGNAL is not None
                    and self._handler is not None
                    and signal.getsignal(_WAKE_SIGNAL) is self._handler
                ):
                    signal.pthread_kill(self._thread_id, _WAKE_SIGNAL)
                    woken = True
                if not woken or wait == REPEAT:
                    _set_async_exc(self._thread_id, WorkerTimeout)
            wait = REPEAT


def _set_async_exc(thread_id: int, exc_type: type[BaseException] | None) -> None:
    import ctypes

    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exc_type) if exc_type else None
    )
