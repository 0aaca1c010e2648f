"""Time as the engine sees it: simulated seconds, so a fake estate can run 100x faster.

``monotonic()`` and ``sleep()`` speak simulated seconds; ``scale`` is how many real seconds one
simulated second takes (the fake's ``time_scale``; 1.0 for real Azure). Wall-clock timestamps for
records come from ``wall()``.
"""

from __future__ import annotations

import threading
import time


class Clock:
    def __init__(self, scale: float = 1.0):
        if scale <= 0:
            raise ValueError("time scale must be positive")
        self.scale = scale

    def wall(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic() / self.scale

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds * self.scale)


class SkippingClock(Clock):
    """Real time in which a sleep passes at once: a simulation has nothing to wait for but its own jobs,
    whose time it may skip (a plan on an estate at ``time_scale: 1`` would otherwise sleep for real)."""

    def __init__(self, scale: float = 1.0):
        super().__init__(scale)
        self._skipped = 0.0
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        return time.monotonic() / self.scale + self._skipped

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            with self._lock:
                self._skipped += seconds


class ManualClock(Clock):
    """A clock that never sleeps: ``sleep`` advances time. For tests of retries and timeouts."""

    def __init__(self, start: float = 1_000_000.0):
        super().__init__(1.0)
        self._now = start
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    def wall(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self._now += max(seconds, 0.0)
