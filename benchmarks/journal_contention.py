"""The journal under busy steps: how long a mutating call's intent takes to reach the disk while other
steps compute and journal their own rows.

    python benchmarks/journal_contention.py --threads 10 --steps 300

Each thread plays target-IP steps the way the engine does: it computes a little, journals the step
running, reads (a sleep, as a request to ARM), computes, journals the change, journals the intent
and waits for it (the figure measured), writes (a sleep), journals the outcome and the step's end.
Prints one JSON document; times are real milliseconds.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.scale import percentile  # noqa: E402
from engine.kinds.base import Change  # noqa: E402
from engine.run.journal import Journal  # noqa: E402
from engine.run.records import RunResult, StepRecord  # noqa: E402
from engine.run.status import StepStatus  # noqa: E402


def compute(ms: float) -> None:
    """Hold the interpreter for ``ms`` of CPU, as a step's own work does."""
    end = time.thread_time() + ms / 1000
    while time.thread_time() < end:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=10)
    parser.add_argument("--steps", type=int, default=300, help="steps per thread")
    parser.add_argument("--cpu-ms", type=float, default=0.2, help="computed between two journal writes")
    options = parser.parse_args()
    records = [StepRecord(f"ip-vm{i:05d}", "asr.set_target_ip") for i in range(options.threads * options.steps)]
    result = RunResult(run_id="bench", runbook="bench", adapter="fake", dry_run=False, parameters={}, steps=records)
    waits: list[float] = []

    def steps(first: int) -> None:
        for record in records[first:first + options.steps]:
            compute(options.cpu_ms)
            record.move(StepStatus.RUNNING)
            journal.step_changed(result, record)
            time.sleep(0.0015)  # the read
            compute(options.cpu_ms)
            record.action, record.changes = "update", [Change(f"protected item {record.id}", "recovery_ip", None,
                                                              "10.0.0.4")]
            journal.step_changed(result, record)
            started = time.perf_counter()
            journal.operation(result, record, "update_network_settings", "intent", record.id)
            waits.append((time.perf_counter() - started) * 1000)
            time.sleep(0.006)  # the write
            journal.operation(result, record, "update_network_settings", "done", None)
            compute(options.cpu_ms)
            record.move(StepStatus.SUCCEEDED)
            journal.step_changed(result, record)

    with tempfile.TemporaryDirectory() as scratch:
        journal = Journal(Path(scratch) / "journal.db")
        journal.begin_run(result, runbook_path="bench.yaml", runbook_sha256="0" * 64, scope="bench")
        threads = [threading.Thread(target=steps, args=(i * options.steps,)) for i in range(options.threads)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall_s = time.perf_counter() - started
        journal.close()
    print(json.dumps({"threads": options.threads, "steps": len(records), "cpu_ms": options.cpu_ms,
                      "intent_ms_p50": round(percentile(waits, 0.5), 3),
                      "intent_ms_p90": round(percentile(waits, 0.9), 3),
                      "intent_ms_p99": round(percentile(waits, 0.99), 3),
                      "intent_ms_max": round(max(waits), 3), "wall_s": round(wall_s, 2)}, indent=2))


if __name__ == "__main__":
    main()
