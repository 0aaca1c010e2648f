"""Staying under ARM's limits instead of hitting them: client-side token buckets (ARM's: reads 250,
refilled 25/s; writes 200, refilled 10/s, per subscription and principal), shared by every step of a
run; a call waits for a token rather than drawing a 429."""

from __future__ import annotations

import threading
from collections.abc import Callable


class TokenBucket:
    def __init__(self, size: float, rate: float, clock):
        self.size, self.rate, self.clock = size, rate, clock
        self.tokens = size
        self.updated = clock.monotonic()
        self.lock = threading.Lock()

    def reserve(self, count: int = 1) -> float:
        """Take ``count`` tokens now or in the future; return how long to wait for them (simulated
        seconds). Tokens taken together are all there at the end of the wait: a burst the bucket allows."""
        with self.lock:
            now = self.clock.monotonic()
            self.tokens = min(self.size, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            self.tokens -= count
            return 0.0 if self.tokens >= 0 else -self.tokens / self.rate

    def refund(self, count: int) -> None:
        """Give back tokens taken and not used."""
        with self.lock:
            self.tokens = min(self.size, self.tokens + count)


class RateLimiter:
    def __init__(self, reads: tuple[float, float], writes: tuple[float, float], clock, margin: float = 0.95):
        # A little under ARM's figures: the service's clock and ours do not tick together.
        self.buckets = {"read": TokenBucket(reads[0] * margin, reads[1] * margin, clock),
                        "write": TokenBucket(writes[0] * margin, writes[1] * margin, clock)}
        self.clock = clock
        self.waited_s = 0.0
        self.pages: dict[tuple, int] = {}  # a paged list's pages the last time it was read
        self._lists: dict[tuple, threading.Lock] = {}
        self._lists_lock = threading.Lock()

    def acquire(self, kind: str, sleep: Callable[[float], None], count: int = 1) -> None:
        wait = self.buckets[kind].reserve(count)
        if wait > 0:
            self.waited_s += wait
            sleep(wait)

    def refund(self, kind: str, count: int) -> None:
        self.buckets[kind].refund(count)

    def listing(self, key: tuple) -> threading.Lock:
        """The lock one paged list of ``key`` holds while it is read: never two of one resource at once."""
        with self._lists_lock:
            return self._lists.setdefault(key, threading.Lock())
