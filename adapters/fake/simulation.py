"""What makes the fake behave like a real cloud under load: latency, seeded transient faults, and
ARM's token-bucket throttling, all in simulated time (``time_scale``)."""

from __future__ import annotations

import random
import threading

from adapters.shared.clock import Clock
from adapters.shared.errors import ThrottledError, TransientError
from adapters.shared.estate import Simulation


class TokenBucket:
    """ARM's throttling: ``size`` tokens, refilled at ``rate`` per (simulated) second; empty answers 429."""

    def __init__(self, size: float, rate: float, clock: Clock):
        self.size, self.rate, self.clock = size, rate, clock
        self.tokens = size
        self.updated = clock.monotonic()
        self.lock = threading.Lock()

    def take(self, kind: str) -> None:
        with self.lock:
            now = self.clock.monotonic()
            self.tokens = min(self.size, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens < 1:
                wait = (1 - self.tokens) / self.rate
                raise ThrottledError(
                    f"Number of {kind} requests for subscription exceeded the limit of {self.size:.0f}; "
                    f"retry after {wait:.1f} seconds", code="SubscriptionRequestsThrottled", status=429,
                    retry_after=round(wait + 0.05, 2))
            self.tokens -= 1


class Weather:
    """The simulation section applied to every call: throttle, then maybe a fault, then latency."""

    def __init__(self, settings: Simulation, clock: Clock, *, calm: bool = False):
        self.settings = settings
        self.clock = clock
        self.calm = calm  # a simulation copy: no latency, faults or throttling
        self.random = random.Random(settings.faults.seed)
        self.lock = threading.Lock()
        throttle = settings.throttle
        self.reads = self.writes = self.throttled = 0  # what the estate was asked, and how often it said 429
        self.buckets = {} if calm or throttle is None else {
            "read": TokenBucket(*throttle.reads, clock), "write": TokenBucket(*throttle.writes, clock)}

    def call(self, kind: str, operation: str) -> None:
        if self.calm:
            return
        with self.lock:
            if kind == "read":
                self.reads += 1
            else:
                self.writes += 1
        if kind in self.buckets:
            try:
                self.buckets[kind].take(kind)
            except ThrottledError:
                with self.lock:
                    self.throttled += 1
                raise
        rate = self.settings.faults.transient_rate
        if rate:
            with self.lock:
                hit = self.random.random() < rate
                throttled = self.random.random() < 0.5
                retry_after = self.random.choice((1, 2, 3, 5))
            if hit and throttled:
                with self.lock:
                    self.throttled += 1
                raise ThrottledError(f"{operation}: too many requests", code="TooManyRequests", status=429,
                                     retry_after=retry_after)
            if hit:
                raise TransientError(f"{operation}: the service is temporarily unavailable",
                                     code="ServiceUnavailable", status=503, retry_after=retry_after)
        latency = self.settings.latency.read_ms if kind == "read" else self.settings.latency.write_ms
        self.clock.sleep(latency / 1000)

    def job_seconds(self, work: str = "", *, update: bool = False) -> float:
        """Real seconds an ASR job runs: ``job_ms`` (``update_ms`` for the job that updates an item's
        target network), spread by ``job_jitter`` (real jobs differ by VM size, disk churn, boot time).
        ``work`` names the operation and its target: the same work takes the same time in every run of
        an estate, so runs can be compared."""
        if self.calm:
            return 0.0
        latency = self.settings.latency
        draw = random.Random(f"{self.settings.faults.seed}:{work}").random()
        spread = 1.0 + latency.job_jitter * (2 * draw - 1) if latency.job_jitter else 1.0
        return (latency.update_ms if update else latency.job_ms) * spread / 1000 * self.clock.scale

    def queue_seconds(self) -> float:
        """Real seconds a new job waits ``NotStarted`` before it runs."""
        return 0.0 if self.calm else self.settings.latency.job_queue_ms / 1000 * self.clock.scale
