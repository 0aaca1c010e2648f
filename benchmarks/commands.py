"""`failover validate` and `failover plan` of a generated N-VM runbook, timed as the commands an operator
runs: a new process each, imports and all.

    python benchmarks/commands.py --items 5000 --rounds 5 -o json

Each round runs `validate`, then `plan`, against one state file that an untimed `validate` seeded first
(as an operator's second command finds it). Printed: the wall seconds and peak RSS of each command and of
the two together (median and fastest of the rounds), and ``reference_s``, the seconds a fixed piece of
pure Python takes in the same minutes: this machine's speed varies by a third from hour to hour, so
figures of different hours compare only beside it (docs/performance.md). ``bytecode_cached`` says
whether the project's modules were compiled ahead (``make install`` does; with
``PYTHONDONTWRITEBYTECODE=1`` and no cache, each command compiles them again).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import generate  # noqa: E402


def reference_s() -> float:
    """Seconds of a fixed pure-Python workload (dicts, calls, strings: what the commands do most)."""
    started = time.process_time()
    table: dict[str, int] = {}
    for number in range(400_000):
        key = f"vm-{number % 5000}"
        table[key] = table.get(key, 0) + len(key.upper())
    return time.process_time() - started


def timed(command: list[str], env: dict) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one command, which must succeed."""
    with tempfile.TemporaryFile() as errors:  # a file, not a pipe: nothing blocks however much is written
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=errors)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            errors.seek(0)
            raise SystemExit(f"{' '.join(command)} exited {process.returncode}: {errors.read().decode()[-2000:]}")
    return wall, usage.ru_maxrss / 1024


def bytecode_cached() -> bool:
    source = ROOT / "engine" / "cli" / "app.py"
    return Path(importlib.util.cache_from_source(str(source))).exists()


def measure(items: int, rounds: int) -> dict:
    env = {**os.environ, "SCALE_VPN_KEY": os.environ.get("SCALE_VPN_KEY", "benchmark-only-shared-key")}
    with tempfile.TemporaryDirectory() as scratch:
        estate, runbook = generate.write(Path(scratch), items)
        base = [sys.executable, "-m", "engine.cli"]
        tail = [str(runbook), "--estate", str(estate), "--state", str(Path(scratch) / "state.db")]
        timed([*base, "validate", *tail], env)  # seeds the state file
        validate, plan, rss, reference = [], [], [], []
        for _ in range(rounds):
            reference.append(reference_s())
            v, v_rss = timed([*base, "validate", *tail], env)
            p, p_rss = timed([*base, "plan", *tail], env)
            validate.append(v)
            plan.append(p)
            rss.append(max(v_rss, p_rss))
    figures = {"validate_s": validate, "plan_s": plan, "together_s": [v + p for v, p in zip(validate, plan, strict=True)]}
    return {
        "items": items, "rounds": rounds, "bytecode_cached": bytecode_cached(),
        **{f"{name}_median": round(statistics.median(values), 3) for name, values in figures.items()},
        **{f"{name}_min": round(min(values), 3) for name, values in figures.items()},
        "peak_rss_mb": round(max(rss), 1),
        "reference_s_median": round(statistics.median(reference), 3),
        "rounds_s": [{"validate": round(v, 3), "plan": round(p, 3), "reference": round(r, 3)}
                     for v, p, r in zip(validate, plan, reference, strict=True)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("-o", "--output", choices=("table", "json"), default="table")
    options = parser.parse_args()
    document = measure(options.items, options.rounds)
    if options.output == "json":
        print(json.dumps(document, indent=2))
        return
    print(f"{document['items']} VMs, {document['rounds']} rounds (bytecode cached: {document['bytecode_cached']}):\n"
          f"  validate {document['validate_s_median']:.2f} s (fastest {document['validate_s_min']:.2f})\n"
          f"  plan     {document['plan_s_median']:.2f} s (fastest {document['plan_s_min']:.2f})\n"
          f"  together {document['together_s_median']:.2f} s (fastest {document['together_s_min']:.2f}); "
          f"peak RSS {document['peak_rss_mb']:.0f} MB\n"
          f"  reference workload {document['reference_s_median']:.3f} s (the machine's speed at the time)")


if __name__ == "__main__":
    main()
