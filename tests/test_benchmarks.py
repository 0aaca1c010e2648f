"""What the benchmarks stand on: the estate answering from a process of its own behaves like the
in-process fake (the engine cannot tell them apart), and the errors an adapter raises cross a process
boundary whole."""

from __future__ import annotations

import json
import pickle
import statistics
import subprocess
import sys
import threading
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
        other = threading.Thread(target=lambda: estate.replication.get_protected_item(VAULT, "app01"))
        other.start()
        other.join()
        assert estate.connections_opened == 1  # another thread's call took the idle connection, as a pool's
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


def test_a_paged_list_comes_a_page_at_a_time_and_whole(tmp_path):
    """A list longer than a page reaches the caller as the in-process fake answers it (every item, in
    order), sent as ARM sends it: one message a page, so the caller decodes a page at a time."""
    from adapters.fake import FakeAdapter
    from adapters.ports import LIST_PAGE
    from benchmarks import generate, remote

    estate_path, _ = generate.write(tmp_path, 2 * LIST_PAGE + 30, time_scale=0.001)
    vault = VaultRef(generate.SUBSCRIPTION, generate.RESOURCE_GROUP, generate.VAULT)
    local = FakeAdapter.open(estate_path, tmp_path / "local.db")
    expected = [item.vm_name for item in local.replication.list_protected_items(vault)]
    local.close()
    messages: list[int] = []
    receive = remote.Connection.recv

    def counted(connection):
        answer = receive(connection)
        messages.append(len(answer) if isinstance(answer, list) else 0)
        return answer

    estate = RemoteEstate(estate_path, tmp_path / "state.db")
    try:
        remote.Connection.recv = counted
        listed = [item.vm_name for item in estate.replication.list_protected_items(vault)]
    finally:
        remote.Connection.recv = receive
        estate.close()
    assert listed == expected and len(expected) == 2 * LIST_PAGE + 30
    assert messages == [0, LIST_PAGE, LIST_PAGE, 30]  # the count of pages, then each page


def test_the_journal_contention_benchmark_prints_its_figures():
    """A small run of ``benchmarks/journal_contention.py``: every step's intent is timed, in order."""
    done = subprocess.run([sys.executable, "benchmarks/journal_contention.py", "--threads", "2", "--steps", "5"],
                          cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True, check=True)
    figures = json.loads(done.stdout)
    assert figures["steps"] == 10
    assert 0 < figures["intent_ms_p50"] <= figures["intent_ms_p90"] <= figures["intent_ms_p99"] <= figures["intent_ms_max"]


def test_the_ip_stage_benchmark_runs_two_checkouts_alternately(tmp_path):
    """A small run of ``benchmarks/ip_stage.py`` against itself as the other checkout: each run in a process
    of its own, medians of the runs' own figures, every target-IP step's overhead counted."""
    repo = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "benchmarks/ip_stage.py", "--items", "30", "--seeds", "1,2", "--rounds",
                           "1", "--time-scale", "0.002", "--against", str(repo), "--failovers", "-o", "json"],
                          cwd=repo, capture_output=True, text=True, check=True, timeout=300)
    figures = json.loads(done.stdout)
    assert figures["seeds"] == [1, 2] and set(figures["checkouts"]) == {"this", "against"} and figures["failovers"]
    for medians in figures["medians"].values():
        assert medians["runs"] == 2 and len(medians["overhead_p99_ms_each"]) == 2
        assert medians["overhead_p99_ms"] == pytest.approx(statistics.median(medians["overhead_p99_ms_each"]), abs=0.01)
        assert 0 <= medians["overhead_p50_ms"] <= medians["overhead_p90_ms"] <= medians["overhead_p99_ms"]
        assert 0 < medians["intent_wait_p99_ms"] <= medians["overhead_p99_ms"] * 1.001  # part of the overhead
        assert 0 <= medians["over_5ms"] <= 30 + 1 and medians["throttled_429"] == 0  # 30 IPs, a plan
        assert medians["cpu_s"] > 0 and medians["wall_s"] > 0


def test_the_commands_benchmark_times_validate_and_plan_as_processes():
    """A small run of ``benchmarks/commands.py``: each round's two commands timed, the medians and the
    fastest of the rounds consistent with them, a reference workload beside them."""
    done = subprocess.run([sys.executable, "benchmarks/commands.py", "--items", "20", "--rounds", "2", "-o", "json"],
                          cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True, check=True,
                          timeout=300)
    figures = json.loads(done.stdout)
    assert figures["items"] == 20 and figures["rounds"] == 2 and len(figures["rounds_s"]) == 2
    for name in ("validate", "plan"):
        times = [r[name] for r in figures["rounds_s"]]
        assert all(t > 0 for t in times)
        assert figures[f"{name}_s_min"] == pytest.approx(min(times), abs=0.001)
        assert figures[f"{name}_s_median"] == pytest.approx(statistics.median(times), abs=0.001)
    together = [r["validate"] + r["plan"] for r in figures["rounds_s"]]
    assert figures["together_s_min"] == pytest.approx(min(together), abs=0.002)
    assert figures["peak_rss_mb"] > 10 and figures["reference_s_median"] > 0
    assert isinstance(figures["bytecode_cached"], bool)


def test_the_scale_benchmark_prints_consistent_figures():
    """A small, fast run of ``benchmarks/scale.py`` (its timings mean little at this compression): every
    figure the JSON document promises, medians of the seeds' own, and schedules in the order the model
    forces: nothing, the engine included, beats the lower bound."""
    done = subprocess.run([sys.executable, "benchmarks/scale.py", "--items", "200", "--seeds", "1,2",
                           "--time-scale", "0.002", "-o", "json"], cwd=Path(__file__).resolve().parent.parent,
                          capture_output=True, text=True, check=True, timeout=600)
    figures = json.loads(done.stdout)
    assert figures["items"] == 200 and figures["steps"] == 208 and figures["seeds"] == [1, 2]
    runs = figures["runs"]
    for key in ("engine_first_s", "engine_repeat_s", "bound_s", "native_plans_s", "script_s"):
        assert figures[key] == pytest.approx(statistics.median(r[key] for r in runs), abs=0.1), key  # rounded
    for r in runs:
        assert r["bound_s"] == max(r["critical_path"], r["write_bucket"], r["all_writes"])
        assert r["bound_s"] <= min(r["native_plans_s"], r["script_s"])
        for run in ("engine_first", "engine_repeat"):  # the estate's jobs end early by as much as the wall clock
            assert r["bound_s"] <= r[f"{run}_s"] + max(r[run]["wall_clock_moved_s"], 0.0), run  # was set forward
        assert r["engine_first"]["throttled_429"] == 0 and r["engine_repeat"]["throttled_429"] == 0
        assert 0 <= r["engine_first"]["overhead_p50_ms"] <= r["engine_first"]["overhead_p99_ms"]
        # the intents' waits are part of the overhead: neither they nor the rest exceed the whole
        assert 0 < r["engine_first"]["intent_wait_p99_ms"] <= r["engine_first"]["overhead_p99_ms"] * 1.001
        assert 0 <= r["engine_first"]["overhead_outside_intent_p99_ms"] <= r["engine_first"]["overhead_p99_ms"]
        by_kind = r["engine_first"]["overhead_p99_ms_by_kind"]
        assert {"asr.set_target_ip", "asr.failover", "asr.commit"} <= set(by_kind)
        assert all(value >= 0 for value in by_kind.values())
    assert runs[0]["bound_s"] != runs[1]["bound_s"]  # each seed draws its own jobs
    assert figures["throttled_429"] == 0 and figures["overhead_p99_ms"] > 0
    assert figures["wall_clock_moved_s_max"] in [r["engine_first"]["wall_clock_moved_s"] for r in runs]
    for key in ("intent_wait_p99_ms", "overhead_outside_intent_p99_ms"):
        assert figures[key] == pytest.approx(statistics.median(r["engine_first"][key] for r in runs), abs=0.001)
    assert set(figures["overhead_p99_ms_by_kind"]) == set(runs[0]["engine_first"]["overhead_p99_ms_by_kind"])
    assert figures["peak_rss_mb"] > 0 and figures["validate_s"] > 0 and figures["plan_s"] > 0


def test_the_bound_holds_against_every_order_of_the_target_ip_updates():
    """The bound is a lower bound of the model: a schedule that sets the plans' IPs in the best order
    (longest failover first), each update at the earliest the write bucket allows, and starts each
    plan's failover as soon as its IPs are set, is never shorter."""
    from adapters.shared.estate import Simulation
    from benchmarks.schedules import Work, bound, write_at

    simulation = Simulation(latency={"read_ms": 50, "write_ms": 200, "job_ms": 900_000, "job_sigma": 0.5,
                                     "job_queue_ms": 10_000, "update_ms": 30_000, "commit_ms": 120_000})
    plans = {f"p{p}": [f"vm{p}-{i}" for i in range(100)] for p in range(20)}
    work = Work.of(plans, (1, 2, 16), simulation)
    figures = bound(work)
    lat = work.write_s
    k, best = 0, 0.0
    for plan in sorted(plans, key=work.plan_failover, reverse=True):
        ready = 0.0
        for item in sorted(plans[plan], key=lambda i: -work.update[i]):
            k += 1
            ready = max(ready, write_at(k, work.writes) + lat + work.update[item])
        best = max(best, ready + lat + work.plan_failover(plan))
    best += lat * 3 + lat + max(work.plan_commit(p) for p in plans)
    assert figures["bound"] <= best
    assert figures["bound"] > 0.9 * best  # and not a loose one
