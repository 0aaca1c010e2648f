"""What makes the fake behave like a real cloud under load: latency, seeded transient faults, and
ARM's token-bucket throttling, all in simulated time (``time_scale``)."""

from __future__ import annotations

import math
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

    def job_seconds(self, work: str = "", *, update: bool = False, commit: bool = False) -> float:
        """Real seconds an ASR job runs: ``job_ms`` (``update_ms`` for the job that updates an item's
        target network, ``commit_ms`` for a commit), spread by ``job_sigma`` (lognormal: most jobs near
        the median, a long tail, as VM size, disk churn and boot time make them) or else ``job_jitter``
        (uniform). ``work`` names the operation and its target: the same work takes the same time in
        every run of an estate (``faults.seed`` picks another draw), so runs can be compared."""
        if self.calm:
            return 0.0
        return job_model_seconds(self.settings, work, update=update, commit=commit) * self.clock.scale

    def queue_seconds(self) -> float:
        """Real seconds a new job waits ``NotStarted`` before it runs."""
        return 0.0 if self.calm else self.settings.latency.job_queue_ms / 1000 * self.clock.scale


def job_model_seconds(settings: Simulation, work: str, *, update: bool = False, commit: bool = False) -> float:
    """Simulated seconds the model gives ``work`` (see ``Weather.job_seconds``): a pure function of the
    estate's simulation settings, so a benchmark can compute a schedule's bound without running it."""
    latency = settings.latency
    median = latency.update_ms if update else (latency.commit_ms if commit and latency.commit_ms is not None
                                               else latency.job_ms)
    draw = random.Random(f"{settings.faults.seed}:{work}")
    if latency.job_sigma:
        spread = math.exp(latency.job_sigma * draw.gauss(0.0, 1.0))
    elif latency.job_jitter:
        spread = 1.0 + latency.job_jitter * (2 * draw.random() - 1)
    else:
        spread = 1.0
    return median * spread / 1000
