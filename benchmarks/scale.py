"""The scale runbook (``benchmarks/generate.py``) run by the engine against the fake, side by side with
the lower bound and two competent ways to do without the engine, for several seeds.

    python benchmarks/scale.py --items 1000 --seeds 1,2,3,4,5
    python benchmarks/scale.py --items 1000 -o json

For each seed (which draws every job's length from the model), the engine runs the failover twice on
a fresh copy of the estate: first with no history (``engine_first_s``, the headline), then again with
the first run's step durations in its journal to order the ready steps by (``engine_repeat_s``, as
after a drill). The estate answers from a process of its own (``benchmarks/remote.py``). Beside them,
computed from the runbook and the model alone (``benchmarks/schedules.py``), never from the engine's
calls: ``bound_s``, the lower bound; ``native_plans_s``, every recovery plan failed over at once
once all IPs are set; ``script_s``, a script doing each item's IP update then failover, N at a time.

Prints a table, or (``-o json``) one JSON document: medians over the seeds at the top, each seed's
figures under ``runs``. Times are simulated seconds (``time_scale`` says how many real seconds one
took), except ``validate_s`` and ``plan_s`` (real seconds, once, on the first seed) and the engine's
overhead per step (real milliseconds: a step's time outside adapter calls and waits) and its CPU
(``cpu_p99_ms``: the step thread's own CPU time in the same span; the overhead beyond it is time spent
waiting for the interpreter's lock or the journal, which compressed time makes denser). Of the overhead,
``intent_wait_p99_ms`` is a step's wait for its mutating calls' intents to be committed in the journal
(before each call is sent), and ``overhead_outside_intent_p99_ms`` the p99 of the rest.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.fake import FakeAdapter  # noqa: E402
from adapters.shared.estate import load_estate  # noqa: E402
from benchmarks import generate  # noqa: E402
from benchmarks.remote import RemoteEstate  # noqa: E402
from benchmarks.schedules import Work, bound, native_plans, script  # noqa: E402
from engine import collector  # noqa: E402
from engine.model.loader import load_runbook  # noqa: E402
from engine.model.params import resolve_parameters  # noqa: E402
from engine.plan.simulation import simulate  # noqa: E402
from engine.run import logs  # noqa: E402
from engine.run.journal import Journal  # noqa: E402
from engine.run.runs import execute  # noqa: E402


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


def timing_intents(journal) -> dict[str, float]:
    """Each step's wait for its intents' commits (real ms, by step id), timed around the journal's
    ``operation`` until ``del journal.operation``: a step waits for its intent to be committed before
    it sends the call, and that wait is part of its overhead."""
    waits: dict[str, float] = {}
    operation = journal.operation

    def timed(result, record, name, phase, detail=None):
        started = time.perf_counter()
        try:
            return operation(result, record, name, phase, detail)
        finally:
            if phase == "intent":  # one thread per step: each key has one writer
                waits[record.id] = waits.get(record.id, 0.0) + (time.perf_counter() - started) * 1000

    journal.operation = timed
    return waits


def run(loaded, values, estate_path: Path, state: Path, journal: Journal, options):
    """The runbook run by the engine against a new estate process; its result, the estate's facts and
    latencies, the collector's pauses, the run's real seconds and each step's wait for its intents."""
    estate = RemoteEstate(estate_path, state)  # answers from another process, as Azure does
    intent_waits = timing_intents(journal)
    wall = time.perf_counter()
    offset = time.time() - time.monotonic()
    try:
        with CollectorPauses() as collector_pauses:
            result = execute(loaded, values, estate, journal, options={}, concurrency=options.concurrency,
                             job_poll_interval=options.poll)
        wall_s = time.perf_counter() - wall
        # The estate times its jobs by the wall clock (they outlive a process), the run by the monotonic
        # one: a wall clock set forward meanwhile (a host's clock synced) ends jobs early, and a run can
        # come out under its bound. How far it moved, in simulated seconds.
        moved = round((time.time() - time.monotonic() - offset) / options.time_scale, 1) + 0.0  # never -0.0
        facts = {**estate.facts(), "intent_waits": intent_waits, "wall_clock_moved_s": moved}
        assert str(result.status) == "succeeded", [(r.id, r.error) for r in result.steps if r.error]
        return result, facts, collector_pauses, wall_s
    finally:
        del journal.operation
        estate.close()


def validate_and_plan(loaded, values, estate_path: Path, state: Path) -> tuple[float, float]:
    """Real seconds of what ``failover validate`` and ``failover plan`` compute: open the estate and
    simulate the runbook with the network rules, twice."""
    started = time.perf_counter()
    with collector.paused(keep=True):  # as the commands open an estate (engine.cli.wiring)
        adapter = FakeAdapter.open(estate_path, state)
    try:
        problems = simulate(loaded, values, adapter, rules=True).problems
        validate_s = time.perf_counter() - started
        started = time.perf_counter()
        plan = simulate(loaded, values, adapter, rules=True)
        plan_s = time.perf_counter() - started
    finally:
        adapter.close()
    assert not [p for p in problems if p.severity == "error"] and not plan.errors, problems
    return validate_s, plan_s


def engine_figures(result, facts: dict, time_scale: float) -> dict:
    """The run's figures; ``target_ips_set_s``: when the last target-IP step ended (simulated seconds from
    the first step's start), to hold against the write bucket's (N - 200) / 10."""
    overheads = [r.overhead_ms or 0 for r in result.steps]
    by_kind: dict[str, list[float]] = {}
    for record in result.steps:
        by_kind.setdefault(record.uses, []).append(record.overhead_ms or 0)
    cpu = [r.cpu_ms or 0 for r in result.steps]  # the step thread's own CPU outside adapter calls and waits
    intents = [facts["intent_waits"].get(r.id, 0.0) for r in result.steps]
    outside = [max((r.overhead_ms or 0) - wait, 0.0) for r, wait in zip(result.steps, intents, strict=True)]
    started = min(r.started_at for r in result.steps if r.started_at)
    ips = [r.finished_at for r in result.steps if r.uses == "asr.set_target_ip" and r.finished_at]
    return {"s": round(result.duration_s, 1), "throttled_429": facts["throttled"], "reads": facts["reads"],
            "writes": facts["writes"], "overhead_p50_ms": round(percentile(overheads, 0.5), 3),
            "overhead_p99_ms": round(percentile(overheads, 0.99), 3),
            "cpu_p50_ms": round(percentile(cpu, 0.5), 3), "cpu_p99_ms": round(percentile(cpu, 0.99), 3),
            "intent_wait_p99_ms": round(percentile(intents, 0.99), 3),
            "overhead_outside_intent_p99_ms": round(percentile(outside, 0.99), 3),
            "target_ips_set_s": round((max(ips) - started) / time_scale, 1) if ips else None,
            "wall_clock_moved_s": facts["wall_clock_moved_s"],
            "overhead_p99_ms_by_kind": {kind: round(percentile(values, 0.99), 3)
                                        for kind, values in sorted(by_kind.items())}}


def one_seed(items: int, seed: int, folder: Path, options) -> dict:
    folder.mkdir(parents=True)
    estate_path, runbook_path = generate.write(folder, items, time_scale=options.time_scale, seed=seed)
    runbook_doc = generate.runbook(items)
    estate_doc = generate.estate(items, seed=seed)
    plans = {name: [i for g in plan["groups"] for i in g]
             for name, plan in estate_doc["vaults"][generate.VAULT]["recovery_plans"].items()}
    routes = next(s for s in runbook_doc["steps"] if s["id"] == "routes")["with"]["routes"]
    work = Work.of(plans, (1, 2, len(routes)), load_estate(estate_path).simulation)
    figures = {"seed": seed, **{k: round(v, 1) for k, v in bound(work).items()},
               "native_plans_s": round(native_plans(work), 1),
               "script_s": round(script(work, options.script_parallel), 1)}
    figures["bound_s"] = figures.pop("bound")
    loaded = load_runbook(runbook_path)
    values, _ = resolve_parameters(loaded.runbook, {})
    if options.validate:
        validate_s, plan_s = validate_and_plan(loaded, values, estate_path, folder / "state-plan.db")
        figures.update(validate_s=round(validate_s, 3), plan_s=round(plan_s, 3))
    journal = open_journal(folder, seed, options)
    try:
        cpu = time.process_time()
        first, facts, pauses, wall = run(loaded, values, estate_path, folder / "state-first.db", journal, options)
        cpu = time.process_time() - cpu  # the engine's process: CPU seconds the run took
        figures["engine_first"] = {**engine_figures(first, facts, options.time_scale), "gc": pauses.to_json(),
                                   "wall_s": round(wall, 1), "cpu_s": round(cpu, 1)}
        if options.repeat:
            repeat, facts, _, _ = run(loaded, values, estate_path, folder / "state-repeat.db", journal, options)
            figures["engine_repeat"] = engine_figures(repeat, facts, options.time_scale)
        figures["journal"] = {"kind": options.journal, "statements": journal._written,
                              "appends": getattr(journal, "appends", None)}
    finally:
        journal.close()
    figures["engine_first_s"] = figures["engine_first"]["s"]
    figures["engine_repeat_s"] = figures.get("engine_repeat", {}).get("s")
    return figures


def open_journal(folder: Path, seed: int, options):
    """The local SQLite journal, or (``--journal blob``) the shared journal in Azure Blob Storage, on an
    Azurite this benchmark starts: ``journal.appends`` counts the appends its group commit made."""
    if options.journal == "sqlite":
        return Journal(folder / "journal.db")
    from adapters.storage import BlobStorage
    from engine.run.blobjournal import BlobJournal

    return BlobJournal(BlobStorage.open(f"azure-blob://devstoreaccount1/scale-seed-{seed}"), lease_s=60)


def median(runs: list[dict], key) -> float | None:
    values = [key(r) for r in runs]
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 3) if values else None


def summary(items: int, runs: list[dict], options) -> dict:
    first = [r["engine_first"] for r in runs]
    document = {
        "items": items, "steps": len(generate.runbook(items)["steps"]), "seeds": [r["seed"] for r in runs],
        "time_scale": options.time_scale, "concurrency": options.concurrency or "runbook default (10)",
        "script_parallel": options.script_parallel,
        "engine_first_s": median(runs, lambda r: r["engine_first_s"]),
        "engine_repeat_s": median(runs, lambda r: r["engine_repeat_s"]),
        "bound_s": median(runs, lambda r: r["bound_s"]),
        "native_plans_s": median(runs, lambda r: r["native_plans_s"]),
        "script_s": median(runs, lambda r: r["script_s"]),
        "first_vs_bound": median(runs, lambda r: r["engine_first_s"] / r["bound_s"]),
        "first_vs_native_plans": median(runs, lambda r: r["engine_first_s"] / r["native_plans_s"]),
        "repeat_vs_bound": median(runs, lambda r: r["engine_repeat_s"] / r["bound_s"]
                                  if r["engine_repeat_s"] else None),
        "throttled_429": median(runs, lambda r: r["engine_first"]["throttled_429"]),
        "throttled_429_max": max(f["throttled_429"] for f in first),
        # the most the wall clock moved against the monotonic one in a first run (simulated seconds)
        "wall_clock_moved_s_max": max((f["wall_clock_moved_s"] for f in first), key=abs),
        "overhead_p99_ms": median(runs, lambda r: r["engine_first"]["overhead_p99_ms"]),
        "overhead_p50_ms": median(runs, lambda r: r["engine_first"]["overhead_p50_ms"]),
        "cpu_p99_ms": median(runs, lambda r: r["engine_first"].get("cpu_p99_ms")),
        "intent_wait_p99_ms": median(runs, lambda r: r["engine_first"]["intent_wait_p99_ms"]),
        "overhead_outside_intent_p99_ms": median(runs, lambda r: r["engine_first"]["overhead_outside_intent_p99_ms"]),
        "overhead_p99_ms_by_kind": {kind: median(runs, lambda r, k=kind: r["engine_first"]["overhead_p99_ms_by_kind"][k])
                                    for kind in first[0]["overhead_p99_ms_by_kind"]},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "estate_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
    }
    if "validate_s" in runs[0]:
        document.update(validate_s=runs[0]["validate_s"], plan_s=runs[0]["plan_s"])
    document["runs"] = runs
    return document


def table(document: dict) -> str:
    columns = ("seed", "engine_first_s", "engine_repeat_s", "bound_s", "native_plans_s", "script_s",
               "first/bound", "first/native", "429", "p99 ms")
    rows = [[str(r["seed"]), f"{r['engine_first_s']:.0f}",
             f"{r['engine_repeat_s']:.0f}" if r["engine_repeat_s"] else "-",
             f"{r['bound_s']:.0f}", f"{r['native_plans_s']:.0f}", f"{r['script_s']:.0f}",
             f"{r['engine_first_s'] / r['bound_s']:.3f}", f"{r['engine_first_s'] / r['native_plans_s']:.3f}",
             str(r["engine_first"]["throttled_429"]), f"{r['engine_first']['overhead_p99_ms']:.2f}"]
            for r in document["runs"]]
    d = document
    rows.append(["median", f"{d['engine_first_s']:.0f}",
                 f"{d['engine_repeat_s']:.0f}" if d["engine_repeat_s"] else "-", f"{d['bound_s']:.0f}",
                 f"{d['native_plans_s']:.0f}", f"{d['script_s']:.0f}", f"{d['first_vs_bound']:.3f}",
                 f"{d['first_vs_native_plans']:.3f}", f"{d['throttled_429']:.0f}", f"{d['overhead_p99_ms']:.2f}"])
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]
    lines = [f"{d['items']} items, {d['steps']} steps, time_scale {d['time_scale']} (simulated seconds; "
             "engine_repeat_s: a second run, ordered by the first's durations)"]
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in [columns, *rows]]
    if "validate_s" in d:
        lines.append(f"validate {d['validate_s']:.2f} s + plan {d['plan_s']:.2f} s (real); peak RSS "
                     f"{d['peak_rss_mb']:.0f} MB (engine), {d['estate_peak_rss_mb']:.0f} MB (estate)")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--seeds", default="1,2,3,4,5", help="comma-separated; each draws the jobs' lengths")
    parser.add_argument("--time-scale", type=float, default=0.02,
                        help="real seconds per simulated second (0.02: a 75-minute failover in 90 s)")
    parser.add_argument("--concurrency", type=int, default=None,
                        help="steps at once (default: the runbook's, which is the engine's default, 10)")
    parser.add_argument("--poll", type=float, default=5.0, help="seconds between the engine's job polls")
    parser.add_argument("--script-parallel", type=int, default=100, help="items at once in the script baseline")
    parser.add_argument("--no-repeat", dest="repeat", action="store_false", help="skip the run with history")
    parser.add_argument("--no-validate", dest="validate", action="store_false",
                        help="skip timing validate and plan")
    parser.add_argument("-o", "--output", choices=("table", "json"), default="table")
    parser.add_argument("--journal", choices=("sqlite", "blob"), default="sqlite",
                        help="the local SQLite journal, or the shared journal in Azure Blob Storage (on Azurite)")
    options = parser.parse_args()
    os.environ.setdefault("SCALE_VPN_KEY", "benchmark-only-shared-key")
    logs.configure("json", "error")
    seeds = [int(s) for s in options.seeds.split(",") if s.strip()]
    runs = []
    emulator = None
    if options.journal == "blob":  # the shared journal, on an Azurite of the benchmark's own
        from tests import azurite

        emulator = azurite.start()
        os.environ["AZURE_STORAGE_CONNECTION_STRING"] = emulator.connection_string
    with tempfile.TemporaryDirectory() as scratch, contextlib.ExitStack() as stack:
        if emulator is not None:
            stack.callback(emulator.stop)
        for number, seed in enumerate(seeds):
            options_now = argparse.Namespace(**{**vars(options), "validate": options.validate and number == 0})
            runs.append(one_seed(options.items, seed, Path(scratch) / f"seed-{seed}", options_now))
            r = runs[-1]
            print(f"seed {seed}: first {r['engine_first_s']} s, repeat {r['engine_repeat_s']} s, bound {r['bound_s']} s, "
                  f"native plans {r['native_plans_s']} s, script {r['script_s']} s, "
                  f"429 {r['engine_first']['throttled_429']}, p99 {r['engine_first']['overhead_p99_ms']} ms, "
                  f"IPs set at {r['engine_first']['target_ips_set_s']} s, {r['engine_first']['cpu_s']} s CPU "
                  f"in {r['engine_first']['wall_s']} s"
                  + (f"; the wall clock moved {moved} s (simulated) against the run's clock: its jobs' times with it"
                     if abs(moved := r['engine_first']['wall_clock_moved_s']) >= 1 else ""),
                  file=sys.stderr, flush=True)
    document = summary(options.items, runs, options)
    print(json.dumps(document, indent=2) if options.output == "json" else table(document))


if __name__ == "__main__":
    main()
