"""A large failover against the fake with realistic latencies and ARM's throttling, measured.

    python benchmarks/scale.py --items 1000

Prints one JSON document. All times are simulated seconds (the fake's clock; `time_scale` says how
many real seconds one simulated second took) except `validate_s`, `plan_s` and `wall_s`, which are
real seconds, and the per-step engine figures (`engine_overhead_ms_*`, `engine_cpu_ms_*`), real
milliseconds. The estate answers from a process of its own (`benchmarks/remote.py`); `peak_rss_mb` is
the engine's process, `estate_peak_rss_mb` the estate's.

- `engine_s`: measured: the runbook run by the engine (journal on, client-side throttling on), ordered
  by how long each step took in a first run of it on the same estate, with the same journal (as a
  failover is by the last drill). `first_run_s`: that first run, with no history to go by.
- `engine_overhead_ms_*`: each step's time outside adapter calls and waits; `engine_cpu_ms_*`: the part
  of it the step's thread computed (the rest is waiting: for the journal, for the interpreter);
  `engine_gc`: the garbage collector's pauses in the engine's process during the run (real ms).
- `critical_path_s`: the longest chain of latencies through the steps' `needs` (each step costing the
  reads and writes it actually made times the read/write latency, plus its slowest ASR job, as long as
  the fake made it): the lower bound with infinite parallelism and no throttling.
- `throttle_bound_s`: the lower bound from ARM's token buckets for the reads and writes the run made.
- `group_barrier_s`: the same work scheduled as an ASR recovery plan runs (groups in order, a barrier
  between them): the steps grouped by depth in the `needs` graph, each group as long as its slowest
  step or its share of ARM's buckets; computed with the same per-step costs.
- `plans_in_turn_s`: recovery plans chained one after another, as often scripted: the target IPs,
  then plan after plan failed over, the network, then plan after plan committed.
- `sequential_s`: the same steps one after another, as a typical script runs them, same costs.
- `journal`: `sqlite` (the local journal) or `blob` (`--journal blob`: the shared journal in Azure Blob
  Storage, on Azurite started here); `journal_statements` the rows written over both runs, and
  `journal_appends` the appends they took (group commit).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.fake import FakeAdapter  # noqa: E402
from benchmarks.generate import write  # noqa: E402
from benchmarks.remote import RemoteEstate  # noqa: E402
from engine import collector  # noqa: E402
from engine.model.loader import load_runbook  # noqa: E402
from engine.model.params import resolve_parameters  # noqa: E402
from engine.plan.simulation import simulate  # noqa: E402
from engine.run import logs  # noqa: E402
from engine.run.journal import Journal  # noqa: E402
from engine.run.runs import execute  # noqa: E402

READS, WRITES = (250, 25), (200, 10)


def throttle_bound(reads: int, writes: int) -> float:
    return max(0.0, (reads - READS[0]) / READS[1], (writes - WRITES[0]) / WRITES[1])


def step_cost(record, latency, job_s: dict[str, float]) -> float:
    """What a step costs on its own: its calls at the estate's latencies, plus its slowest ASR job (its
    jobs run side by side), each job as long as the fake made it."""
    calls = record.calls or {}
    cost = calls.get("read", 0) * latency.read_ms / 1000 + calls.get("write", 0) * latency.write_ms / 1000
    return cost + max((job_s[j] for j in record.jobs), default=0.0)


def critical_path(runbook, costs: dict[str, float]) -> float:
    finish: dict[str, float] = {}
    for step in runbook.steps:  # steps are written in an order where needs come first
        finish[step.id] = max((finish[n] for n in step.needs), default=0.0) + costs[step.id]
    return max(finish.values())


def levels(runbook) -> list[list]:
    """The runbook's steps by depth in the ``needs`` graph: the groups a barrier schedule runs in turn."""
    depth: dict[str, int] = {}
    for step in runbook.steps:  # needs come first in the file
        depth[step.id] = 1 + max((depth[n] for n in step.needs), default=-1)
    groups: list[list] = [[] for _ in range(max(depth.values()) + 1)]
    for step in runbook.steps:
        groups[depth[step.id]].append(step)
    return groups


def group_barrier(runbook, result, costs: dict[str, float]) -> float:
    """As an ASR recovery plan runs: groups in order, every step of a group at once, a barrier after
    each; a group takes its slowest step, or longer if its calls exceed ARM's buckets."""
    records = {r.id: r for r in result.steps}
    total = 0.0
    for group in levels(runbook):
        reads = sum(records[s.id].calls.get("read", 0) for s in group)
        writes = sum(records[s.id].calls.get("write", 0) for s in group)
        total += max(max(costs[s.id] for s in group), throttle_bound(reads, writes))
    return total


def plans_in_turn(runbook, result, costs: dict[str, float]) -> float:
    """As recovery plans are often chained by hand or script: the target IPs (in parallel), then one
    plan's failover after another, the network steps, then one plan's commit after another."""
    records = {r.id: r for r in result.steps}
    ip_steps = [s for s in runbook.steps if s.uses == "asr.set_target_ip"]
    ip_writes = sum(records[s.id].calls.get("write", 0) for s in ip_steps)
    ip_reads = sum(records[s.id].calls.get("read", 0) for s in ip_steps)
    stage_ips = max(max(costs[s.id] for s in ip_steps), throttle_bound(ip_reads, ip_writes))
    return stage_ips + sum(costs[s.id] for s in runbook.steps if s.uses != "asr.set_target_ip")


class CollectorPauses:
    """How long CPython's garbage collector stopped every thread, collection by collection."""

    def __init__(self):
        self.pauses: list[tuple[int, float]] = []  # (generation, real ms)
        self._started = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append((info["generation"], (time.perf_counter() - self._started) * 1000))

    def __enter__(self) -> CollectorPauses:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc) -> None:
        gc.callbacks.remove(self)

    def to_json(self) -> dict:
        return {"collections": len(self.pauses), "full": sum(1 for g, _ in self.pauses if g == 2),
                "total_ms": round(sum(ms for _, ms in self.pauses), 1),
                "longest_ms": round(max((ms for _, ms in self.pauses), default=0.0), 1)}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))] if ordered else 0.0


def run(loaded, values, estate_path: Path, state: Path, journal: Journal, options):
    """The runbook run by the engine against a new estate process; its result, the estate's facts and
    latencies, the collector's pauses, and the run's real seconds."""
    estate = RemoteEstate(estate_path, state)  # answers from another process, as Azure does
    wall = time.perf_counter()
    try:
        with CollectorPauses() as collector_pauses:
            result = execute(loaded, values, estate, journal, options={}, concurrency=options.concurrency,
                             job_poll_interval=options.poll)
        wall_s = time.perf_counter() - wall
        facts = estate.facts()
        assert str(result.status) == "succeeded", [(r.id, r.error) for r in result.steps if r.error]
        return result, facts, estate.estate.simulation.latency, collector_pauses, wall_s
    finally:
        estate.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--job-minutes", type=float, default=30.0, help="how long an ASR job takes")
    parser.add_argument("--time-scale", type=float, default=0.01)
    parser.add_argument("--concurrency", type=int, default=None,
                        help="steps at once (default: the runbook's, which is the engine's default, 10)")
    parser.add_argument("--poll", type=float, default=5.0, help="seconds between batch job polls")
    parser.add_argument("--job-jitter", type=float, default=0.25, help="each job takes job-minutes x (1 ± this)")
    parser.add_argument("--journal", choices=("sqlite", "blob"), default="sqlite",
                        help="the local SQLite journal, or the shared journal in Azure Blob Storage (on Azurite)")
    options = parser.parse_args()
    os.environ.setdefault("SCALE_VPN_KEY", "benchmark-only-shared-key")
    logs.configure("json", "error")
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        estate_path, runbook_path = write(folder, options.items, job_ms=options.job_minutes * 60_000,
                                          time_scale=options.time_scale, job_jitter=options.job_jitter)
        started = time.perf_counter()
        loaded = load_runbook(runbook_path)
        values, _ = resolve_parameters(loaded.runbook, {})
        with collector.paused():  # as the commands open an estate (engine.cli.wiring.open_adapter)
            adapter = FakeAdapter.open(estate_path, folder / "state.db")
        problems = simulate(loaded, values, adapter, rules=True).problems
        validate_s = time.perf_counter() - started
        started = time.perf_counter()
        plan = simulate(loaded, values, adapter, rules=True)
        plan_s = time.perf_counter() - started
        assert not [p for p in problems if p.severity == "error"], problems

        adapter.close()

        emulator = None
        if options.journal == "blob":
            from adapters.storage import BlobStorage
            from engine.run.blobjournal import BlobJournal
            from tests import azurite

            emulator = azurite.start()
            os.environ["AZURE_STORAGE_CONNECTION_STRING"] = emulator.connection_string
            journal = BlobJournal(BlobStorage.open("azure-blob://devstoreaccount1/scale"), lease_s=60)
        else:
            journal = Journal(folder / "journal.db")
        try:
            # The first run has no history; the second, on the estate as it was, is ordered by how long
            # each step took in the first (as a failover is by the last drill).
            first, first_facts, _, _, _ = run(loaded, values, estate_path, folder / "state-first.db", journal,
                                              options)
            result, facts, latency, collector_pauses, wall_s = run(loaded, values, estate_path, folder / "state.db",
                                                                    journal, options)
        finally:
            appends = getattr(journal, "appends", None)
            statements = journal._written
            journal.close()
            if emulator is not None:
                emulator.stop()
        job_s = {j["id"]: (j["finish_at"] - j["start"]) / options.time_scale for j in facts["jobs"]}
        costs = {r.id: step_cost(r, latency, job_s) for r in result.steps}
        reads = sum(r.calls.get("read", 0) for r in result.steps)
        writes = sum(r.calls.get("write", 0) for r in result.steps)
        bound_path = critical_path(loaded.runbook, costs)
        bound_throttle = throttle_bound(facts["reads"], facts["writes"])
        barrier = group_barrier(loaded.runbook, result, costs)
        in_turn = plans_in_turn(loaded.runbook, result, costs)
        sequential = sum(costs.values())
        engine_s = result.duration_s
        document = {
            "items": options.items, "steps": len(result.steps), "status": str(result.status),
            "job_minutes": options.job_minutes, "time_scale": options.time_scale,
            "concurrency": options.concurrency or loaded.runbook.defaults.concurrency,
            "engine_s": round(engine_s, 1),
            "critical_path_s": round(bound_path, 1),
            "throttle_bound_s": round(bound_throttle, 1),
            "engine_vs_bound": round(engine_s / max(bound_path, bound_throttle), 4),
            "group_barrier_s": round(barrier, 1),
            "sequential_s": round(sequential, 1),
            "engine_vs_group_barrier": round(engine_s / barrier, 4),
            "plans_in_turn_s": round(in_turn, 1),
            "engine_vs_plans_in_turn": round(engine_s / in_turn, 4),
            "engine_vs_sequential": round(engine_s / sequential, 5),
            "first_run_s": round(first.duration_s, 1),
            "first_run_vs_group_barrier": round(first.duration_s / barrier, 4),
            "first_run_overhead_ms_p99": round(percentile([r.overhead_ms or 0 for r in first.steps], 0.99), 3),
            "first_run_throttled_429": first_facts["throttled"],
            "throttled_429": facts["throttled"],
            "reads": facts["reads"], "writes": facts["writes"],
            "engine_reads": reads, "engine_writes": writes,
            "engine_overhead_ms_p50": round(percentile([r.overhead_ms or 0 for r in result.steps], 0.5), 3),
            "engine_overhead_ms_p99": round(percentile([r.overhead_ms or 0 for r in result.steps], 0.99), 3),
            "engine_cpu_ms_p50": round(percentile([r.cpu_ms or 0 for r in result.steps], 0.5), 3),
            "engine_cpu_ms_p99": round(percentile([r.cpu_ms or 0 for r in result.steps], 0.99), 3),
            "engine_overhead_ms_top": [{"step": r.id, "overhead_ms": r.overhead_ms, "cpu_ms": r.cpu_ms, "calls": r.calls}
                                       for r in sorted(result.steps, key=lambda r: -(r.overhead_ms or 0))[:5]],
            "engine_gc": collector_pauses.to_json(),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "estate_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
            "validate_s": round(validate_s, 3), "plan_s": round(plan_s, 3), "wall_s": round(wall_s, 1),
            "plan_would_succeed": not plan.errors,
            "journal": options.journal, "journal_statements": statements, "journal_appends": appends,
        }
    print(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
