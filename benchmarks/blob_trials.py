"""Trials of the shared journal in Azure Blob Storage (on Azurite, started here): two hosts, each with its
own working directory, share one container and one fake estate.

- kill: host A runs the subnet failover or the drill and is killed (SIGKILL) at a seeded event of its
  log; host B resumes the run. Counted: mutating calls repeated (beyond an uninterrupted run's), calls or
  steps lost, a final estate that differs.
- fence: host A is paused (SIGSTOP) at a seeded event while it holds the lease; host B resumes once the
  lease expired (15 s) and finishes; A, let go (SIGCONT), must send no mutating call and exit saying it
  lost its lease.

    python benchmarks/blob_trials.py --kill 50 --fence 20 --seed 7

Prints one JSON document with the figures and each trial.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from azure.storage.blob import BlobServiceClient  # noqa: E402

from tests import azurite, shared  # noqa: E402


def _url() -> str:
    return f"azure-blob://devstoreaccount1/t{uuid.uuid4().hex[:20]}"


def _lost_steps(status: dict | None, kind: str) -> list[str]:
    if status is None:
        return []
    done = ("succeeded", "unchanged", "compensated") if kind == "drill" else ("succeeded", "unchanged")
    return [s["id"] for s in status["steps"] if s["status"] not in done]


def kill_trials(root: Path, connection: str, count: int, rng: random.Random, references: dict,
                kinds: list[str]) -> list[dict]:
    outcomes = []
    for trial in range(count):
        kind = kinds[trial % len(kinds)]
        state, ledger, events = references[kind]
        event = rng.randint(1, events)
        result = shared.killed_then_resumed(root / f"kill-{trial}", _url(), connection, kind, event)
        duplicated = result["ledger"] - ledger
        missing = ledger - result["ledger"]
        lost = _lost_steps(result["status"], kind)
        verdict = (result["status"] or {}).get("verdict") or ""
        # A drill stopped and resumed may miss its recovery-time target (its clock ran on meanwhile): that
        # verdict alone is not a fault of the journal.
        rto_only = kind == "drill" and verdict.startswith("failed: recovery took") and ";" not in verdict
        ok = (result["exit"] == 0 or (result["exit"] == 1 and rto_only)) and not duplicated and not missing \
            and not lost and result["state"] == state
        outcomes.append({"trial": trial, "kind": kind, "event": event, "of": events, "killed": result["killed"],
                         "verdict": verdict or None,
                         "journaled": result["run_id"] is not None, "exit": result["exit"], "ok": ok,
                         "duplicated_calls": sorted(map(list, duplicated.elements())),
                         "missing_calls": sorted(map(list, missing.elements())), "lost_steps": lost,
                         "same_final_estate": result["state"] == state})
        print(f"kill {trial} ({kind}, event {event}/{events}): {'ok' if ok else 'FAILED'}", file=sys.stderr)
    return outcomes


def fence_trials(root: Path, connection: str, count: int, rng: random.Random, references: dict) -> list[dict]:
    storage = BlobServiceClient.from_connection_string(connection)
    outcomes = []
    for trial in range(count):
        kind = "run"
        _, ledger, events = references[kind]
        event = rng.randint(2, max(2, events - 6))  # while it still has changes to send
        result = shared.paused_then_fenced(root / f"fence-{trial}", _url(), connection, kind, event, storage)
        if not result["paused"]:
            outcomes.append({"trial": trial, "event": event, "paused": False, "ok": False})
            continue
        duplicated = result["ledger"] - ledger
        ok = (result["resume_exit"] == 0 and result["a_exit"] == 3 and result["a_said_lost"]
              and result["a_calls_after_resume"] == 0 and not duplicated)
        outcomes.append({"trial": trial, "event": event, "of": events, "paused": True, "ok": ok,
                         "b_resume_exit": result["resume_exit"], "a_exit": result["a_exit"],
                         "a_said_lost_lease": result["a_said_lost"],
                         "a_calls_after_b": result["a_calls_after_resume"],
                         "duplicated_calls": sorted(map(list, duplicated.elements())),
                         "a_message": result["a_stderr"].strip().splitlines()[-1:] if not ok else None})
        print(f"fence {trial} (event {event}/{events}): {'ok' if ok else 'FAILED'}", file=sys.stderr)
    return outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kill", type=int, default=50)
    parser.add_argument("--fence", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--kinds", default="run,drill", help="what the kill trials run, in turn")
    options = parser.parse_args()
    kinds = options.kinds.split(",")
    rng = random.Random(options.seed)
    service = azurite.start()
    try:
        with tempfile.TemporaryDirectory() as scratch:
            root = Path(scratch)
            references = {kind: shared.reference(root / f"reference-{kind}", _url(), service.connection_string, kind)
                          for kind in {*kinds, "run"}}
            kills = kill_trials(root, service.connection_string, options.kill, rng, references, kinds)
            fences = fence_trials(root, service.connection_string, options.fence, rng, references)
    finally:
        service.stop()
    report = {
        "seed": options.seed,
        "kill": {"trials": len(kills), "runs": sum(k["kind"] == "run" for k in kills),
                 "drills": sum(k["kind"] == "drill" for k in kills),
                 "killed_mid_run": sum(k["killed"] and k["journaled"] for k in kills),
                 "duplicated_calls": sum(len(k["duplicated_calls"]) for k in kills),
                 "lost_steps": sum(len(k["lost_steps"]) for k in kills),
                 "missing_calls": sum(len(k["missing_calls"]) for k in kills),
                 "failures": sum(not k["ok"] for k in kills)},
        "fence": {"trials": len(fences), "paused_holding_lease": sum(f["paused"] for f in fences),
                  "a_calls_after_takeover": sum(f.get("a_calls_after_b", 0) for f in fences),
                  "a_exited_saying_lost_lease": sum(bool(f.get("a_said_lost_lease")) for f in fences),
                  "duplicated_calls": sum(len(f.get("duplicated_calls", [])) for f in fences),
                  "failures": sum(not f["ok"] for f in fences)},
        "kill_trials": kills, "fence_trials": fences,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
