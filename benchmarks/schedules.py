"""What the scale benchmark compares the engine with, computed from the runbook and the model of Azure
alone (never from what the engine did): the lower bound, and two ways a competent operator would run
the same failover without the engine. All times are simulated seconds.

The work is the scale runbook's (``benchmarks/generate.py``): a target-IP update per item, then per
recovery plan a failover once its items' IPs are set, then the network (the prefixes off the local
gateway, the two connections, the routes), then a commit per plan. Each job lasts what the model says
(``job_model_seconds``: its queue time, then its lognormal draw; a plan's job its slowest item's), and
ARM's token buckets (reads 250, refill 25/s; writes 200, refill 10/s) start full.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from adapters.fake.replication import UPDATE, UPDATE_RETRY_AFTER_S
from adapters.fake.simulation import job_model_seconds
from adapters.shared.estate import Simulation
from adapters.shared.itemstate import COMMIT, PLANNED_FAILOVER

SDK_POLL_S = UPDATE_RETRY_AFTER_S  # the Site Recovery client polls at 30 s (the update answers that Retry-After)


@dataclass(frozen=True)
class Work:
    """The failover as the model sees it: the plans, their items, and every job's length."""

    plans: dict[str, list[str]]
    network_writes: tuple[int, ...]  # writes per network stage, in order (prefixes, connections, routes)
    update: dict[str, float]  # item -> its target-IP update's job (queue + run)
    failover: dict[str, float]  # item -> its own failover job
    commit: dict[str, float]  # item -> its own commit job
    read_s: float
    write_s: float
    reads: tuple[float, float]
    writes: tuple[float, float]

    @classmethod
    def of(cls, plans: dict[str, list[str]], network_writes: tuple[int, ...], simulation: Simulation) -> Work:
        queue = simulation.latency.job_queue_ms / 1000

        def job(operation: str, item: str) -> float:
            return queue + job_model_seconds(simulation, f"{operation} {item}", update=operation == UPDATE,
                                             commit=operation == COMMIT)

        items = [i for members in plans.values() for i in members]
        throttle = simulation.throttle
        return cls(plans=plans, network_writes=network_writes,
                   update={i: job(UPDATE, i) for i in items},
                   failover={i: job(PLANNED_FAILOVER, i) for i in items},
                   commit={i: job(COMMIT, i) for i in items},
                   read_s=simulation.latency.read_ms / 1000, write_s=simulation.latency.write_ms / 1000,
                   reads=tuple(throttle.reads), writes=tuple(throttle.writes))

    @property
    def items(self) -> list[str]:
        return [i for members in self.plans.values() for i in members]

    def plan_failover(self, plan: str) -> float:
        """A plan's job: queued once, then as long as its slowest item (ASR runs them in parallel)."""
        return max(self.failover[i] for i in self.plans[plan])

    def plan_commit(self, plan: str) -> float:
        return max(self.commit[i] for i in self.plans[plan])


def write_at(k: int, writes: tuple[float, float]) -> float:
    """When the k-th write (from 1) can go at the earliest, from a full bucket refilled at its rate."""
    size, rate = writes
    return max(0.0, (k - size) / rate)


def bound(work: Work) -> dict[str, float]:
    """The lower bound: no schedule, however clever, finishes sooner.

    - ``critical_path``: unlimited parallelism and no throttling: each plan's slowest IP update, then its
      failover; the network stages; the slowest commit. Every call costs its latency once.
    - ``write_bucket``: the IP updates are N writes; whatever the order, the plans whose IPs are set
      last wait for them: for every k, some plan among the last k to have its IPs set has a failover no
      shorter than the k-th shortest, and its last IP write goes no sooner than write N - s(k - 1) (s: the
      largest plan). Then the network and the slowest commit.
    - ``all_writes``: the last commit is the last of all the runbook's writes, then its job (the shortest).
    Reads are not counted: a service that already knew every state would need none.
    """
    lat = work.write_s
    network = lat * len(work.network_writes)
    slowest_commit = max(work.plan_commit(p) for p in work.plans)
    critical = max(lat + max(work.update[i] for i in members) + lat + work.plan_failover(p)
                   for p, members in work.plans.items()) + network + lat + slowest_commit
    n = len(work.items)
    size = max(len(m) for m in work.plans.values())
    shortest_update = min(work.update.values())
    failovers = sorted(work.plan_failover(p) for p in work.plans)
    ip_stage = max(write_at(n - size * (k - 1), work.writes) + lat + shortest_update + lat + failovers[k - 1]
                   for k in range(1, len(failovers) + 1))
    write_bucket = ip_stage + network + lat + slowest_commit
    total_writes = n + 2 * len(work.plans) + sum(work.network_writes)
    all_writes = write_at(total_writes, work.writes) + lat + min(work.plan_commit(p) for p in work.plans)
    return {"critical_path": critical, "write_bucket": write_bucket, "all_writes": all_writes,
            "bound": max(critical, write_bucket, all_writes)}


class Bucket:
    """ARM's token bucket, granting requests in the order of the times they are asked for."""

    def __init__(self, size: float, rate: float):
        self.size, self.rate = size, rate
        self.tokens, self.updated = size, 0.0

    def grant(self, at: float) -> float:
        """The time a request asked at ``at`` is let through (asked in time order)."""
        at = max(at, self.updated)
        self.tokens = min(self.size, self.tokens + (at - self.updated) * self.rate)
        self.updated = at
        if self.tokens >= 1:
            self.tokens -= 1
            return at
        wait = (1 - self.tokens) / self.rate
        self.tokens, self.updated = 0.0, at + wait
        return at + wait


def native_plans(work: Work) -> float:
    """Competent use of ASR recovery plans, scripted with the SDK: every target IP updated at once (paced
    under the write bucket, each update's operation followed at its ``Retry-After``); once all are set,
    every plan failed over at once (one write each, ASR doing the per-item work, the job followed at the
    SDK's 30 s); the network stages; every plan committed at once. Each look of a poller is a read
    through the read bucket, as in ``script``."""
    reads, writes = Bucket(*work.reads), Bucket(*work.writes)
    lat = work.write_s

    def followed(lengths: dict[str, float], at: float) -> float:
        jobs = {key: (writes.grant(at) + lat, length) for key, length in lengths.items()}
        return max(_looked(reads, work.read_s, jobs).values())

    now = followed(work.update, 0.0)
    now = followed({p: work.plan_failover(p) for p in work.plans}, now)
    for count in work.network_writes:
        now = max(writes.grant(now) for _ in range(count)) + lat
    return followed({p: work.plan_commit(p) for p in work.plans}, now)


def _looked(reads: Bucket, read_s: float, jobs: dict[str, tuple[float, float]], poll: float = SDK_POLL_S
            ) -> dict[str, float]:
    """When each job's SDK poller learns that it has ended: ``jobs`` maps a key to the time its call
    was answered and the job's length; the poller sleeps ``poll`` seconds, looks (a read through the
    bucket, granted in the order asked), and sleeps again until a look sees the job ended."""
    events = [(answered + poll, key) for key, (answered, _) in jobs.items()]
    heapq.heapify(events)
    learned: dict[str, float] = {}
    while events:
        at, key = heapq.heappop(events)
        looked = reads.grant(at) + read_s
        answered, length = jobs[key]
        if looked >= answered + length:
            learned[key] = looked
        else:
            heapq.heappush(events, (looked + poll, key))
    return learned


def script(work: Work, parallel: int = 100) -> float:
    """A parallel script, per item: update its target IP, then fail it over, ``parallel`` items at a time
    (each operation followed at the SDK's 30 s, each look a read); then the network; then every item
    committed, ``parallel`` at a time. Requests go through ARM's buckets in the order they are made."""
    reads, writes = Bucket(*work.reads), Bucket(*work.writes)
    lat_r, lat_w = work.read_s, work.write_s
    order = 0  # ties broken by arrival

    def run(items: list[str], stages: list[dict[str, float]], start: float) -> float:
        nonlocal order
        # events: (time, order, item, stage, job end or None)
        events: list[tuple[float, int, str, int, float | None]] = []
        queue = list(reversed(items))
        finished = start
        for _ in range(min(parallel, len(items))):
            item = queue.pop()
            order += 1
            heapq.heappush(events, (start, order, item, 0, None))
        while events:
            at, _, item, stage, ends = heapq.heappop(events)
            if ends is None:  # send the stage's write
                sent = writes.grant(at) + lat_w
                order += 1
                heapq.heappush(events, (sent + SDK_POLL_S, order, item, stage, sent + stages[stage][item]))
                continue
            looked = reads.grant(at) + lat_r  # a look at the operation
            order += 1
            if looked < ends:
                heapq.heappush(events, (looked + SDK_POLL_S, order, item, stage, ends))
            elif stage + 1 < len(stages):
                heapq.heappush(events, (looked, order, item, stage + 1, None))
            else:
                finished = max(finished, looked)
                if queue:
                    heapq.heappush(events, (looked, order, queue.pop(), 0, None))
        return finished

    now = run(work.items, [work.update, work.failover], 0.0)
    for count in work.network_writes:
        now = max(writes.grant(now) for _ in range(count)) + lat_w
    return run(work.items, [work.commit], now)
