"""Crash and signal trials against the fake estate, each stopping point a journaled event picked by a
seeded draw (never a time, so a loaded machine stops the runs at the same places):

- drills killed with SIGKILL (some during their cleanup), stopped with SIGTERM, and with SIGINT, each then
  resumed as an operator would: no test resource may be left, no mutating call sent twice, no step lost;
- the subnet failover killed with SIGKILL and resumed: the same final estate as an uninterrupted run, no
  mutating call it did not need, no secret in what the dead process left on disk;
- 2 to 8 simultaneous `resume` of one killed run, or `run` of one target: exactly one proceeds, the
  others exit 3 naming the holder.

    python benchmarks/crash_trials.py                          # 200 kills, 50 SIGTERM, 50 SIGINT, ...
    python benchmarks/crash_trials.py --drill-kills 20 --sigterm 5 --sigint 5 --run-kills 5 --concurrent 4

Prints a table (``--json`` for one JSON document); exits 1 if any trial failed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import durable  # noqa: E402

DRILL_JOB_MS = 30_000  # 0.3 s of wall time per ASR job at the trials' time scale
SIGNALS = {"kill -9": signal.SIGKILL, "SIGTERM": signal.SIGTERM, "SIGINT": signal.SIGINT}
EXPECTED_EXIT = {signal.SIGTERM: 143, signal.SIGINT: 130, signal.SIGKILL: -signal.SIGKILL}


def leftovers(state: dict, before: dict) -> list[str]:
    """Resources that differ from the estate before the drill (a test VM, a test setting, a record)."""
    left = []
    for kind, now in state.items():
        was = before.get(kind)
        if now == was:
            continue
        if isinstance(now, list) and isinstance(was, list):
            was_dumped = {json.dumps(x, sort_keys=True) for x in was}
            left += [f"{kind}: {x.get('name') or x.get('id') or '?'}" for x in now
                     if json.dumps(x, sort_keys=True) not in was_dumped]
            now_dumped = {json.dumps(x, sort_keys=True) for x in now}
            left += [f"{kind}: {x.get('name') or x.get('id') or '?'} (gone)" for x in was
                     if json.dumps(x, sort_keys=True) not in now_dumped]
        else:
            left.append(kind)
    return left


def drill_trial(folder: Path, how: int, stop_after: int, reference: Counter) -> dict:
    trial = durable.stop_and_resume(folder, durable.after_events(stop_after), how=how, command="drill",
                                    runbook=durable.DRILL, job_ms=DRILL_JOB_MS)
    record = trial["record"]
    left = leftovers(trial["state"], trial["before"])
    duplicated = trial["ledger"] - reference
    lost = durable.lost_steps(record)
    exit_ok = not trial["stopped"] or trial["ended_before_stop"] or trial["first_exit"] == EXPECTED_EXIT[how]
    ok = (not left and not duplicated and not lost and exit_ok and record.get("phase") == "done"
          and record.get("cleanup", {}).get("complete") and not trial["canary_left"])
    return {"stop_after_events": stop_after, "stopped": trial["stopped"], "in_cleanup": trial["stopped_in_cleanup"],
            "first_exit": trial["first_exit"], "resume_exit": trial["exit"], "status": record.get("status"),
            "left": left, "duplicated": sorted(map(list, duplicated.elements())), "lost": lost, "ok": bool(ok),
            "resumed": trial["resumed"] is not None}


def run_trial(folder: Path, stop_after: int, state: dict, reference: Counter) -> dict:
    trial = durable.stop_and_resume(folder, durable.after_events(stop_after))
    extra, missing = trial["ledger"] - reference, reference - trial["ledger"]
    # killed after its last row: nothing to resume, and the exit code is the kill's
    finished = trial["exit"] == 0 or (trial["resumed"] is None and trial["ended_before_stop"])
    ok = finished and trial["state"] == state and not extra and not missing and not trial["canary_left"] \
        and not durable.lost_steps(trial["record"]) and trial["record"]["status"] == "succeeded"
    return {"stop_after_events": stop_after, "stopped": trial["stopped"], "resume_exit": trial["exit"],
            "duplicated": sorted(map(list, extra.elements())), "missing": sorted(map(list, missing.elements())),
            "ok": bool(ok), "resumed": trial["resumed"] is not None}


def concurrent_trial(folder: Path, processes: int, mode: str) -> dict:
    """``processes`` resumes of one killed run (or runs of one target) started together, on an estate whose
    ASR jobs last minutes: every process but one must be refused (exit 3, naming the holder) while that
    one is still going; it is then stopped with SIGTERM. No mutating call may be sent twice."""
    folder.mkdir(parents=True, exist_ok=True)
    durable.slow_estate(folder, job_ms=30_000_000)
    if mode == "resume":
        first = durable.failover(folder, "run", str(durable.RUNBOOK), "--no-preflight")
        durable.wait_until(folder, durable.after_operation("start_network_update", "done"), first)
        first.kill()
        first.communicate(timeout=60)
        args = ("resume", durable.last_run_id(folder))
    else:
        args = ("run", str(durable.RUNBOOK), "--no-preflight")
    sent = durable.ledger_counts(folder)
    race = durable.race(folder, args, processes)
    codes = Counter(code for code, _ in race["ended"])
    named = all("holds the lock" in err and "pid" in err for code, err in race["ended"] if code == 3)
    duplicated = Counter({key: n - 1 for key, n in (durable.ledger_counts(folder) - sent).items() if n > 1})
    ok = race["running"] == 1 and codes[3] == processes - 1 and named and not duplicated \
        and race["survivors"][0][0] == 143
    return {"mode": mode, "processes": processes, "proceeded": race["running"], "refused": codes[3],
            "exits": dict(codes), "refusals_name_holder": named,
            "duplicated": sorted(map(list, duplicated.elements())), "ok": ok}


def table(rows: list[list], header: list[str]) -> str:
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows, strict=True)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([line.format(*header), line.format(*("-" * w for w in widths)),
                      *(line.format(*map(str, row)) for row in rows)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drill-kills", type=int, default=200)
    parser.add_argument("--sigterm", type=int, default=50)
    parser.add_argument("--sigint", type=int, default=50)
    parser.add_argument("--run-kills", type=int, default=20)
    parser.add_argument("--concurrent", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--parallel", type=int, default=2, help="trials at once (each in its own folder)")
    parser.add_argument("--json", action="store_true", help="one JSON document instead of the table")
    options = parser.parse_args()
    rng = random.Random(options.seed)
    began = time.monotonic()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        reference_drill = root / "reference-drill"
        reference_drill.mkdir()
        durable.slow_estate(reference_drill, job_ms=DRILL_JOB_MS)
        done = subprocess.run([sys.executable, "-m", "engine.cli", "drill", str(durable.DRILL), "--estate",
                               str(reference_drill / "estate.yaml"), "--state", str(reference_drill / "state.db"),
                               "--journal", str(reference_drill / "journal.db")], cwd=durable.REPO,
                              capture_output=True, text=True, env={**os.environ, "WOODGROVE_VPN_KEY": durable.VPN_KEY})
        assert done.returncode == 0, done.stderr
        drill_ledger, drill_events = durable.ledger_counts(reference_drill), durable.sqlite_events(reference_drill)
        run_state, run_ledger = durable.uninterrupted(root / "reference-run")
        run_events = durable.sqlite_events(root / "reference-run")

        plan = [("drill", name, how, rng.randint(1, drill_events)) for name, how, count in (
            ("kill -9", signal.SIGKILL, options.drill_kills), ("SIGTERM", signal.SIGTERM, options.sigterm),
            ("SIGINT", signal.SIGINT, options.sigint)) for _ in range(count)]
        plan += [("run", "kill -9", signal.SIGKILL, rng.randint(1, run_events)) for _ in range(options.run_kills)]
        plan += [("concurrent", "resume" if i % 2 == 0 else "run", None, rng.randint(2, 8))
                 for i in range(options.concurrent)]

        def one(index: int) -> dict:
            kind, name, how, n = plan[index]
            folder = root / f"trial-{index}"
            if kind == "drill":
                outcome = drill_trial(folder, how, n, drill_ledger)
            elif kind == "run":
                outcome = run_trial(folder, n, run_state, run_ledger)
            else:
                outcome = concurrent_trial(folder, n, name)
            outcome.update(trial=index, kind=kind, name=name)
            print(f"trial {index} {kind} {name} {n}: {'ok' if outcome['ok'] else 'FAILED ' + json.dumps(outcome)}",
                  file=sys.stderr)
            return outcome

        with ThreadPoolExecutor(options.parallel) as pool:
            outcomes = list(pool.map(one, range(len(plan))))
    elapsed = time.monotonic() - began
    rows = []
    for kind, name in (("drill", "kill -9"), ("drill", "SIGTERM"), ("drill", "SIGINT"), ("run", "kill -9")):
        group = [o for o in outcomes if o["kind"] == kind and o["name"] == name]
        if not group:
            continue
        rows.append([f"{kind} / {name}", len(group), sum(o["stopped"] for o in group),
                     sum(o.get("in_cleanup", False) for o in group) if kind == "drill" else "-",
                     sum(o["resumed"] for o in group),
                     sum(len(o.get("left", [])) for o in group) if kind == "drill" else "-",
                     sum(len(o["duplicated"]) for o in group),
                     sum(len(o.get("lost", [])) for o in group) if kind == "drill" else "-",
                     sum(not o["ok"] for o in group)])
    concurrent = [o for o in outcomes if o["kind"] == "concurrent"]
    document = {"seed": options.seed, "elapsed_s": round(elapsed, 1), "failures": sum(not o["ok"] for o in outcomes),
                "outcomes": outcomes}
    if options.json:
        print(json.dumps(document, indent=2))
    else:
        print(table(rows, ["trials", "n", "stopped mid-run", "in cleanup", "resumed", "test resources left",
                           "duplicated calls", "lost steps", "failed"]))
        if concurrent:
            print()
            print(table([[f"{o['mode']} x{o['processes']}", o["proceeded"], o["refused"],
                          "yes" if o["refusals_name_holder"] else "no", len(o["duplicated"]),
                          "ok" if o["ok"] else "FAILED"] for o in concurrent],
                        ["simultaneous", "proceeded", "refused (3)", "holder named", "duplicated calls", ""]))
            print(f"\nexactly one proceeded in {sum(o['ok'] for o in concurrent)} of {len(concurrent)}")
        print(f"\n{len(outcomes)} trials in {elapsed:.0f}s (seed {options.seed}); failures: {document['failures']}")
    sys.exit(1 if document["failures"] else 0)


if __name__ == "__main__":
    main()
