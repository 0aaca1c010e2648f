"""The scale runbook's target-IP stage alone: where the engine's overhead p99 is made, in seconds.

    python benchmarks/ip_stage.py --items 1000 --seeds 1,2,3,4 --rounds 2
    python benchmarks/ip_stage.py --items 1000 --against ../before      # two checkouts, run alternately
    python benchmarks/ip_stage.py --items 5000 --time-scale 0.05 --failovers   # and the plans' failovers

The scale benchmark (``scale.py``) takes two minutes a seed at 1,000 VMs, and the steps over its overhead
p99 all fall in the first real second or two: ARM's write bucket lets 200 updates go at once, and the
compressed clock refills it fast enough that the engine computes without pause (its process at one
core) until the bucket is empty. This runs only the target-IP steps of the same runbook against the same
estate, answering from a process of its own: about ten seconds a run, so that a change can be tried
against the code before it over a dozen runs, each in a fresh interpreter, alternately.

Each run prints the steps' overhead (p50, p90, p99, how many over 5 ms), the wait for their intents'
commits (p99), the engine's CPU and wall seconds, and ARM's 429s. The summary gives the medians over the
runs, for each checkout. These are not the issue's figures (those are ``scale.py``'s, over the whole
run): they are a quicker instrument for the part of it that sets the p99.

At 5,000 VMs the slowest steps come later, when recovery plans start failing over while target IPs are
still being set: ``--failovers`` runs the plans' failovers too (about a minute a run).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
FIELDS = ("overhead_p99_ms", "intent_wait_p99_ms", "overhead_p90_ms", "overhead_p50_ms", "over_5ms", "cpu_s",
          "wall_s", "throttled_429")


FAILOVER_JOB_MS = 60_000  # with --failovers: an item's failover job, a minute instead of the model's 15 (median)


def one_run(items: int, seed: int, time_scale: float, failovers: bool = False) -> dict:
    """One run of the stage, with the engine of whichever checkout is first on ``sys.path``."""
    import yaml

    from benchmarks import generate
    from benchmarks.remote import RemoteEstate
    from benchmarks.scale import percentile, timing_intents
    from engine.model.loader import load_runbook
    from engine.model.params import resolve_parameters
    from engine.run import logs
    from engine.run.journal import Journal
    from engine.run.runs import execute

    logs.configure("json", "error")
    with tempfile.TemporaryDirectory() as folder:
        kinds = {"asr.set_target_ip", "asr.failover"} if failovers else {"asr.set_target_ip"}
        model = {"job_ms": FAILOVER_JOB_MS} if failovers else {}
        estate_path, runbook_path = generate.write(Path(folder), items, time_scale=time_scale, seed=seed, **model)
        runbook = yaml.safe_load(runbook_path.read_text())
        runbook["steps"] = [s for s in runbook["steps"] if s["uses"] in kinds]
        runbook_path.write_text(yaml.safe_dump(runbook, sort_keys=False))
        loaded = load_runbook(runbook_path)
        values, _ = resolve_parameters(loaded.runbook, {})
        journal = Journal(Path(folder) / "journal.db")
        estate = RemoteEstate(estate_path, Path(folder) / "state.db")
        waits = timing_intents(journal)
        try:
            cpu, wall = time.process_time(), time.perf_counter()
            result = execute(loaded, values, estate, journal, options={}, job_poll_interval=5.0)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            throttled = estate.facts()["throttled"]
        finally:
            del journal.operation
            estate.close()
            journal.close()
    assert str(result.status) == "succeeded", [(r.id, r.error) for r in result.steps if r.error]
    overheads = [r.overhead_ms or 0.0 for r in result.steps]
    intents = [waits.get(r.id, 0.0) for r in result.steps]
    return {"overhead_p99_ms": round(percentile(overheads, 0.99), 2),
            "intent_wait_p99_ms": round(percentile(intents, 0.99), 2),
            "overhead_p90_ms": round(percentile(overheads, 0.9), 2),
            "overhead_p50_ms": round(percentile(overheads, 0.5), 2),
            "over_5ms": sum(o > 5 for o in overheads), "cpu_s": round(cpu, 2), "wall_s": round(wall, 2),
            "throttled_429": throttled}


def in_a_process(checkout: Path, items: int, seed: int, time_scale: float, failovers: bool = False) -> dict:
    """One run in a fresh interpreter, with ``checkout``'s engine (this file's harness either way)."""
    env = {**os.environ, "SCALE_VPN_KEY": os.environ.get("SCALE_VPN_KEY", "benchmark-only-shared-key")}
    answer = subprocess.run(
        [sys.executable, __file__, "--one", "--root", str(checkout), "--items", str(items), "--seeds", str(seed),
         "--time-scale", str(time_scale), *(["--failovers"] if failovers else [])],
        env=env, capture_output=True, text=True, check=True)
    return json.loads(answer.stdout.strip().splitlines()[-1])


def summary(runs: dict[str, list[dict]]) -> dict:
    return {name: {"runs": len(figures), **{f: round(statistics.median(r[f] for r in figures), 2) for f in FIELDS},
                   "overhead_p99_ms_each": [r["overhead_p99_ms"] for r in figures]}
            for name, figures in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--seeds", default="1,2,3,4")
    parser.add_argument("--rounds", type=int, default=2, help="times each seed is run (alternately, with --against)")
    parser.add_argument("--time-scale", type=float, default=0.02, help="as scale.py's (real seconds per simulated)")
    parser.add_argument("--failovers", action="store_true",
                        help="the plans' failovers too, which start while target IPs are still being set "
                             f"(their jobs shortened to {FAILOVER_JOB_MS // 1000} simulated s: only their start counts)")
    parser.add_argument("--against", type=Path, help="another checkout, run alternately with this one")
    parser.add_argument("-o", "--output", choices=("table", "json"), default="table")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # one run, in this process
    parser.add_argument("--root", type=Path, default=HERE, help=argparse.SUPPRESS)
    options = parser.parse_args()
    seeds = [int(s) for s in options.seeds.split(",")]
    if options.one:
        sys.path.insert(0, str(options.root.resolve()))
        print(json.dumps(one_run(options.items, seeds[0], options.time_scale, options.failovers)))
        return
    checkouts = {"this": HERE, **({"against": options.against.resolve()} if options.against else {})}
    runs: dict[str, list[dict]] = {name: [] for name in checkouts}
    for _ in range(options.rounds):
        for seed in seeds:
            for name, checkout in checkouts.items():
                figures = in_a_process(checkout, options.items, seed, options.time_scale, options.failovers)
                runs[name].append(figures)
                if options.output == "table":
                    print(f"{name:8} seed {seed}: " + ", ".join(f"{f} {figures[f]}" for f in FIELDS), flush=True)
    document = {"items": options.items, "seeds": seeds, "rounds": options.rounds, "time_scale": options.time_scale,
                "failovers": options.failovers,
                "checkouts": {name: str(path) for name, path in checkouts.items()}, "medians": summary(runs)}
    if options.output == "json":
        print(json.dumps(document, indent=2))
        return
    for name, medians in document["medians"].items():
        print(f"{name:8} medians of {medians['runs']} runs: "
              + ", ".join(f"{f} {medians[f]}" for f in FIELDS))


if __name__ == "__main__":
    main()
