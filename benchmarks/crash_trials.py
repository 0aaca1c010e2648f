"""Crash trials: the subnet failover killed with SIGKILL at seeded random moments, resumed, and compared
with an uninterrupted run (same final estate; no mutating call the uninterrupted run did not need; no
secret in anything the dead process left on disk).

    python benchmarks/crash_trials.py --trials 20 --seed 7

Prints one JSON document: trials, failures, and each trial's kill point and outcome.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import durable  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--max-kill", type=float, default=9.0, help="latest kill point, seconds after start")
    options = parser.parse_args()
    rng = random.Random(options.seed)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        state, ledger = durable.uninterrupted(root / "reference")
        outcomes = []
        for trial in range(options.trials):
            kill_after = round(rng.uniform(0.3, options.max_kill), 2)
            result = durable.crash_and_resume(root / f"trial-{trial}", kill_after)
            extra = result["ledger"] - ledger
            missing = ledger - result["ledger"]
            ok = result["exit"] == 0 and result["state"] == state and not extra and not missing \
                and not result["canary_left"]
            outcomes.append({"trial": trial, "kill_after_s": kill_after, "killed": result["killed"],
                             "resumed": bool(result["resumes"]),
                             "ok": ok,
                             "extra_calls": sorted(map(list, extra.elements())),
                             "missing_calls": sorted(map(list, missing.elements()))})
            print(f"trial {trial}: kill at {kill_after}s -> {'ok' if ok else 'FAILED'}", file=sys.stderr)
    print(json.dumps({"trials": len(outcomes), "killed_mid_run": sum(o["killed"] for o in outcomes),
                      "failures": sum(not o["ok"] for o in outcomes), "outcomes": outcomes}, indent=2))


if __name__ == "__main__":
    main()
