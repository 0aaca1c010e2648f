"""What the benchmarks stand on: the estate answering from a process of its own behaves like the
in-process fake (the engine cannot tell them apart), and the errors an adapter raises cross a process
boundary whole."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.ports import VaultRef
from adapters.shared.errors import JobFailedError, NotFoundError, ThrottledError, TransientError
from benchmarks.remote import RemoteEstate
from engine.model.loader import load_runbook
from engine.model.params import resolve_parameters
from engine.run.journal import Journal
from engine.run.runs import execute
from tests.conftest import SUBNET_FAILOVER

VAULT = VaultRef("00000000-0000-0000-0000-000000000000", "woodgrove-dr", "woodgrove-asr-vault")


@pytest.mark.parametrize("error", [
    TransientError("busy", code="RetryableError", status=503, retry_after=2.5),
    ThrottledError("slow down", code="SubscriptionRequestsThrottled", status=429, retry_after=7),
    NotFoundError("no such item", code="ProtectedItemNotFound", status=404, operation="get"),
    JobFailedError("the job failed", job_id="job-1", state="Failed", code="AsrJobFailed"),
])
def test_adapter_errors_cross_a_process_boundary_whole(error):
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error) and str(copy) == str(error)
    assert copy.__dict__ == error.__dict__  # code, status, retry_after, job_id: nothing is lost


def test_the_estate_in_its_own_process_runs_the_subnet_failover(estate_file, tmp_path):
    estate = RemoteEstate(estate_file(), tmp_path / "state.db")
    journal = Journal(tmp_path / "journal.db")
    try:
        with pytest.raises(NotFoundError) as refused:  # the server's refusal, as the local fake raises it
            estate.replication.get_protected_item(VAULT, "no-such-vm")
        assert refused.value.code == "ProtectedItemNotFound" and refused.value.status == 404
        loaded = load_runbook(SUBNET_FAILOVER)
        values, problems = resolve_parameters(loaded.runbook, {})
        assert not problems
        result = execute(loaded, values, estate, journal, options={}, concurrency=4, job_poll_interval=1.0)
        assert str(result.status) == "succeeded", [(s.id, s.error) for s in result.steps if s.error]
        facts = estate.facts()
        assert facts["writes"] >= len([s for s in result.steps if s.calls.get("write")])
        assert {j["state"] for j in facts["jobs"]} == {"Succeeded"}
        item = estate.replication.get_protected_item(VAULT, result.step("fail-over-app-subnet").outputs["items"][0])
        assert item.state.committed
    finally:
        journal.close()
        estate.close()


def test_the_journal_contention_benchmark_prints_its_figures():
    """A small run of ``benchmarks/journal_contention.py``: every step's intent is timed, in order."""
    done = subprocess.run([sys.executable, "benchmarks/journal_contention.py", "--threads", "2", "--steps", "5"],
                          cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True, check=True)
    figures = json.loads(done.stdout)
    assert figures["steps"] == 10
    assert 0 < figures["intent_ms_p50"] <= figures["intent_ms_p90"] <= figures["intent_ms_p99"] <= figures["intent_ms_max"]


def test_the_scale_benchmark_runs_twice_and_prints_every_figure():
    """A small, fast run of ``benchmarks/scale.py`` (its timings mean nothing at this compression):
    both runs succeed without a 429, and the schedules it derives keep their order."""
    done = subprocess.run([sys.executable, "benchmarks/scale.py", "--items", "200", "--time-scale", "0.002",
                           "--job-minutes", "1"], cwd=Path(__file__).resolve().parent.parent,
                          capture_output=True, text=True, check=True, timeout=300)
    figures = json.loads(done.stdout)
    assert figures["items"] == 200 and figures["steps"] == 208 and figures["status"] == "succeeded"
    assert figures["throttled_429"] == 0 and figures["first_run_throttled_429"] == 0
    assert figures["engine_s"] > 0 and figures["first_run_s"] > 0
    assert figures["reads"] >= figures["engine_reads"] > 0 and figures["writes"] >= figures["engine_writes"] > 0
    # with unlimited parallelism nothing is slower: the critical path bounds the barrier and the script
    assert figures["critical_path_s"] <= figures["group_barrier_s"] <= figures["sequential_s"]
    assert 0 <= figures["engine_overhead_ms_p50"] <= figures["engine_overhead_ms_p99"]
    assert figures["peak_rss_mb"] > 0 and figures["validate_s"] > 0 and figures["plan_s"] > 0
