"""How simulated time passes on a twin: a real-time clock for users, a manual clock for tests.

A clock owns nothing of the phone: once started it calls ``advance(n)`` with the number of 10 ms ticks to step
(the driver's :meth:`~metadvfs.twin.driver.Driver.step`, which syncs control nodes, steps the simulator and
rewrites node files, tick by tick).

- :class:`RealTimeClock` (the default, ``metadvfs twin``): a daemon thread steps ``realtime`` simulated seconds
  per wall-clock second. When the host cannot keep up it steps at most :data:`MAX_CATCHUP_TICKS` in one burst and
  drops the rest of the wall time (``lag_s`` counts what was dropped), so the phone never runs in long bursts.
- :class:`ManualClock` (tests): no thread; simulated time moves only in :meth:`ManualClock.advance`, which steps
  the exact number of ticks in the caller's thread and returns when they are done. Two runs with the same seed
  and the same ``advance`` calls give the same node contents, whatever the host's load.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from metadvfs.errors import MetaDVFSError

TICK_S = 0.01
"""Simulator tick, s (USER_HZ = 100, so one tick is one jiffy)."""
MAX_CATCHUP_TICKS = 50
"""Most ticks the real-time clock steps in one burst; beyond that, wall time is dropped."""

Advance = Callable[[int], None]
"""Steps the phone by a number of ticks."""


@runtime_checkable
class Clock(Protocol):
    """Drives a twin's simulated time."""

    @property
    def lag_s(self) -> float:
        """Wall time dropped because the host could not keep up, s (0 for a manual clock)."""
        ...

    def start(self, advance: Advance, on_error: Callable[[Exception], None]) -> None:
        """Start driving ``advance``; ``on_error`` receives errors the clock survives (real-time thread)."""
        ...

    def stop(self) -> None:
        """Stop driving (idempotent); no ``advance`` call runs after it returns."""
        ...


class RealTimeClock:
    """Steps the phone from a thread, ``realtime`` simulated seconds per wall-clock second.

    Args:
        realtime: Simulated seconds per wall-clock second (> 0).

    Raises:
        MetaDVFSError: ``realtime`` is not > 0.
    """

    def __init__(self, realtime: float = 1.0) -> None:
        if not float(realtime) > 0:
            raise MetaDVFSError(f"realtime: must be > 0, got {realtime}")
        self.realtime = float(realtime)
        self._lag_s = 0.0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def lag_s(self) -> float:
        """Wall time dropped because the host could not keep up, s."""
        return self._lag_s

    def start(self, advance: Advance, on_error: Callable[[Exception], None]) -> None:
        """Start the driver thread."""
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, args=(advance, on_error), name="metadvfs-twin-driver", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the driver thread (waits up to 5 s for it)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None

    def _run(self, advance: Advance, on_error: Callable[[Exception], None]) -> None:
        t0 = time.monotonic()
        done = 0
        dropped = 0
        while not self._stop.is_set():
            target = int((time.monotonic() - t0) * self.realtime / TICK_S) - dropped
            n = target - done
            if n <= 0:
                wait = (done + dropped + 1) * TICK_S / self.realtime - (time.monotonic() - t0)
                self._stop.wait(max(0.0005, min(wait, 0.05)))
                continue
            if n > MAX_CATCHUP_TICKS:
                dropped += n - MAX_CATCHUP_TICKS
                self._lag_s = dropped * TICK_S
                n = MAX_CATCHUP_TICKS
            try:
                advance(n)
            except FileNotFoundError:  # the phone's directory is being removed (stop)
                pass
            except Exception as exc:  # keep the phone alive; the error is reported by TwinServer.errors
                on_error(exc)
            done += n


class ManualClock:
    """Simulated time that moves only when told: ``clock.advance(seconds)`` steps the phone exactly.

    Pass it to :class:`~metadvfs.twin.server.TwinServer` (``clock=ManualClock()``). Errors in a step are raised
    from :meth:`advance` (a test sees them at once) instead of being collected.
    """

    def __init__(self) -> None:
        self._advance: Advance | None = None
        self._lock = threading.Lock()
        self.ticks = 0
        """Ticks stepped through this clock."""

    @property
    def lag_s(self) -> float:
        """Always 0: a manual clock never drops time."""
        return 0.0

    @property
    def now_s(self) -> float:
        """Simulated time stepped through this clock, s."""
        return self.ticks * TICK_S

    def start(self, advance: Advance, on_error: Callable[[Exception], None]) -> None:
        """Attach to a phone (no thread starts; ``on_error`` is unused: :meth:`advance` raises)."""
        with self._lock:
            self._advance = advance

    def stop(self) -> None:
        """Detach from the phone; :meth:`advance` then raises."""
        with self._lock:
            self._advance = None

    def advance(self, seconds: float) -> None:
        """Step the phone by ``seconds`` of simulated time and return when done.

        Args:
            seconds: Simulated time, s; a non-negative multiple of :data:`TICK_S` (10 ms).

        Raises:
            MetaDVFSError: ``seconds`` is negative or not a whole number of ticks, or the twin is not running.
        """
        n = round(seconds / TICK_S)
        if seconds < 0 or abs(n * TICK_S - seconds) > 1e-9:
            raise MetaDVFSError(f"seconds: must be a non-negative multiple of {TICK_S} s, got {seconds}")
        with self._lock:  # one advance at a time; stop() waits for a running one
            if self._advance is None:
                raise MetaDVFSError("manual clock: the twin is not running (start it first)")
            self._advance(n)
            self.ticks += n
