"""kill -9 anywhere in the round trip (failover, commit, failback, commit, reprotect), then resume: the
estate ends where an uninterrupted round trip leaves it, and no mutating call is made twice. Each kill
waits for an event of the run (a line of its progress on stderr), never for a fixed time."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from tests import durable
from tests.conftest import REPO

ROUND_TRIP = REPO / "runbooks/woodgrove-round-trip.yaml"
JOB_MS = 100_000  # 1 s of wall time per ASR job at the estate's time scale


def run_until(folder, predicate) -> tuple[bool, list[str]]:
    """Start the round trip; kill -9 it at the first progress line ``predicate`` accepts."""
    process = durable.failover(folder, "run", str(ROUND_TRIP))
    seen: list[str] = []
    hit = threading.Event()

    def watch():
        for line in process.stderr:
            seen.append(line)
            if predicate(line.split()):
                hit.set()
                os.kill(process.pid, signal.SIGKILL)
                return

    reader = threading.Thread(target=watch, daemon=True)
    reader.start()
    process.wait(timeout=300)
    reader.join(timeout=5)
    return hit.is_set(), seen


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("round-trip")
    durable.slow_estate(folder, job_ms=JOB_MS)
    process = durable.failover(folder, "run", str(ROUND_TRIP))
    _, errors = process.communicate(timeout=300)
    assert process.returncode == 0, errors
    return durable.final_state(folder), durable.ledger_counts(folder)


def job_of(operation: str):
    """The progress line of an ASR job started: ``... job STEP ASR job ID (OPERATION of VM) started``."""
    return lambda words: "job" in words and f"({operation}" in words


@pytest.mark.parametrize("moment, predicate", [
    ("failover job running", job_of("UnplannedFailover")),
    ("failback job running", job_of("Failback")),
    ("prefix back on premises", lambda words: "succeeded" in words and "move-prefix-back-on-prem" in words
     and words.index("move-prefix-back-on-prem") == words.index("succeeded") + 1),
    ("reprotect job running", job_of("ReverseReplicate")),
])
def test_kill_9_anywhere_in_the_round_trip_then_resume_repeats_no_call(moment, predicate, reference, tmp_path):
    state, ledger = reference
    durable.slow_estate(tmp_path, job_ms=JOB_MS)
    killed, lines = run_until(tmp_path, predicate)
    assert killed, f"the run never reached: {moment}\n" + "".join(lines[-5:])
    run_id = durable.last_run_id(tmp_path)
    resumed = durable.failover(tmp_path, "resume", run_id)
    _, errors = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, errors
    assert durable.final_state(tmp_path) == state
    assert durable.ledger_counts(tmp_path) == ledger  # each mutating call made exactly as often as without a crash
