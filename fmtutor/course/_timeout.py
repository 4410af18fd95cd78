"""A time limit for a student's function: ``call(f, *args, timeout=...)`` (SIGALRM, POSIX)."""

from __future__ import annotations

__all__ = ["ExerciseTimeout", "call"]

import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from fmtutor.course.i18n import tr


class ExerciseTimeout(TimeoutError):
    """A student's function ran longer than the check's timeout (an endless loop?)."""


class _Alarm(BaseException):  # raised in the student's code: its `except Exception` lets it pass
    pass


def call(student: Callable[..., Any], *args: Any, timeout: "float | None" = 10.0) -> Any:
    """``student(*args)``, stopped with ExerciseTimeout after ``timeout`` seconds.

    The timer is ``signal.setitimer`` (SIGALRM): it works on POSIX systems in the main thread
    (where Jupyter runs a notebook's code) and stops Python loops, not a single long torch call.
    Elsewhere (Windows, other threads) or with ``timeout=None`` there is no limit; Ctrl-C (the
    notebook's stop button) still interrupts. A timer already running is restored afterwards.
    """
    if not timeout or threading.current_thread() is not threading.main_thread():
        return student(*args)
    if not hasattr(signal, "setitimer"):  # Windows
        return student(*args)
    done = [False]

    def ring(signum: int, frame: Any) -> None:
        if not done[0]:
            raise _Alarm

    old = signal.signal(signal.SIGALRM, ring)
    old_delay, old_interval = signal.setitimer(signal.ITIMER_REAL, timeout)
    start = time.monotonic()
    try:
        return student(*args)
    except _Alarm:
        message = tr("the function did not finish within {timeout:g} s", timeout=timeout)
        raise ExerciseTimeout(message) from None
    finally:
        done[0] = True
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL if old is None else old)
        if old_delay:  # give a timer that was running what it has left
            left = max(old_delay - (time.monotonic() - start), 1e-3)
            signal.setitimer(signal.ITIMER_REAL, left, old_interval)
