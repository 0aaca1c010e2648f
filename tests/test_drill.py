"""Drills: the test failover and probes run, then everything is undone whatever happened, and the
verdict says whether recovery worked, in time, and left nothing behind."""

from __future__ import annotations

import json
import signal

import pytest

from adapters.shared.itemstate import TEST_FAILOVER_STATES, TestFailover
from tests import durable
from tests.conftest import REPO, VPN_KEY, json_out, run_cli
from tests.engine.runbooks import run

DRILL = REPO / "runbooks/woodgrove-drill.yaml"


def estate_now(args) -> dict:
    """The estate as `fake show` has it, jobs aside. After a cleanup the service says an item's test VMs
    are MarkedForDeletion where it said None before: both mean that no test failover is left."""
    state = json_out(run_cli("fake", "show", *args))
    state.pop("jobs")
    for item in state["protected_items"]:
        if TEST_FAILOVER_STATES[item["state"]["testFailoverState"]] == TestFailover.NONE:
            item["state"]["testFailoverState"] = "None"
    return state


def places(tmp_path, estate_file, simulation=None) -> list[str]:
    return ["--estate", str(estate_file(simulation)), "--state", str(tmp_path / "state.db")]


def test_woodgrove_drill_passes_and_leaves_nothing_behind(tmp_path, estate_file):
    """The Woodgrove drill passes, measures its recovery time against the target, and the estate
    afterwards equals the estate before."""
    args = places(tmp_path, estate_file)
    before = estate_now(args)
    result = run_cli("drill", str(DRILL), *args, "-o", "json")
    assert result.returncode == 0, result.stderr
    document = json_out(result)
    assert document["status"] == "succeeded" and document["verdict"] == "passed"
    assert document["rto"]["met"] is True and document["rto"]["target_s"] == 900
    assert {i["item"] for i in document["rto"]["items"]} == {"app01", "app02", "web01"}
    assert all(entry["undone"] for entry in document["rollback"])
    assert estate_now(args) == before
    assert VPN_KEY not in result.stdout + result.stderr


def test_failing_probe_still_cleans_up_and_fails_the_drill(tmp_path, estate_file):
    """A probe that finds the wrong IP fails the drill (exit 1, expected vs found), and cleanup still
    leaves the estate as it was."""
    broken = tmp_path / "drill.yaml"
    broken.write_text(DRILL.read_text().replace("{item: web01, ip: 192.168.1.20,", "{item: web01, ip: 192.168.1.99,"))
    args = places(tmp_path, estate_file)
    before = estate_now(args)
    result = run_cli("drill", str(broken), *args, "-o", "json")
    assert result.returncode == 1
    document = json_out(result)
    probe = next(s for s in document["steps"] if s["id"] == "probe-web01-ip")
    assert probe["status"] == "failed" and "expected 192.168.1.99" in probe["error"] and "found 192.168.1.20" in probe["error"]
    assert document["verdict"].startswith("failed: steps failed: probe-web01-ip")
    assert estate_now(args) == before


def test_interrupted_drill_still_cleans_up(tmp_path):
    """Ctrl-C while the test failover runs: the drill waits for the jobs, cleans up, says it failed, and
    exits 130 with one line."""
    durable.slow_estate(tmp_path)
    args = ["--estate", str(tmp_path / "estate.yaml"), "--state", str(tmp_path / "state.db")]
    before = estate_now(args)
    process = durable.failover(tmp_path, "drill", str(DRILL), *args, "-o", "json")
    assert durable.wait_until(tmp_path, durable.after_operation("start_failover"), process)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    document = json.loads(stdout)
    assert document["verdict"].startswith("failed") and document["cleanup"]["complete"] is True
    assert f"stopped by SIGINT: drill {document['run_id']} cleaned up, nothing left behind" in stderr
    assert estate_now(args) == before


def test_a_second_ctrl_c_explains_what_is_still_going_on(tmp_path):
    """Ctrl-C twice: the second does not cut the cleanup half way; it says what is still running."""
    durable.slow_estate(tmp_path)
    args = ["--estate", str(tmp_path / "estate.yaml"), "--state", str(tmp_path / "state.db")]
    before = estate_now(args)
    process = durable.failover(tmp_path, "drill", str(DRILL), *args)
    lines = durable.Lines(process)
    assert durable.wait_until(tmp_path, durable.after_operation("start_failover"), process)
    process.send_signal(signal.SIGINT)
    assert lines.wait_for("SIGINT: stopping in order")
    process.send_signal(signal.SIGINT)
    assert lines.wait_for("still stopping:")
    assert process.wait(timeout=120) == 130
    assert "Traceback" not in lines.text()
    assert estate_now(args) == before


@pytest.mark.parametrize("stop_at", [
    durable.after_operation("start_failover", "done"),  # the test failover's jobs running
    durable.after_operation("start_test_failover_cleanup"),  # during the cleanup
], ids=["test-failover-running", "during-cleanup"])
def test_a_drill_killed_then_resumed_continues_as_a_drill_and_cleans_up(tmp_path, stop_at):
    """kill -9 during a drill, then `resume`: it goes on as a drill (not a plain run), ends with its
    cleanup, and sends no mutating call twice."""
    trial = durable.stop_and_resume(tmp_path, stop_at, command="drill", runbook=DRILL, job_ms=30_000)
    assert trial["stopped"] and trial["resumed"] is not None, trial["first_stderr"]
    assert trial["resumed"]["exit"] in (0, 1) and "Traceback" not in trial["resumed"]["stderr"], trial["resumed"]
    record = trial["record"]
    assert record["kind"] == "drill" and record["phase"] == "done" and record["cleanup"]["complete"]
    assert trial["state"] == trial["before"]
    ledger = trial["ledger"]
    assert max(ledger.values()) <= 2  # each item's settings set then cleared; every other call once
    assert sum(n for (op, _), n in ledger.items() if op.endswith(".test_failover")) == 3
    assert sum(n for (op, _), n in ledger.items() if op.endswith(".test_failover_cleanup")) == 3
    assert durable.lost_steps(record) == []


LEFT_BEHIND = DRILL.read_text().replace(
    "with: {item: app01, test_network: test-vnet, test_subnet: app, test_ip: 192.168.1.10}",
    "with: {item: app01, test_network: test-vnet, test_subnet: app, test_ip: 192.168.1.10,"
    " network: recovery-vnet, subnet: app, ip: 192.168.1.10}")


def test_a_cleanup_that_cannot_finish_ends_cleanup_failed_naming_what_is_left(tmp_path, estate_file):
    """A change the cleanup cannot undo (ASR cannot clear a recovery network): `cleanup-failed`, exit 1,
    exactly what is left and the command that finishes it; that command undoes nothing twice."""
    drill = tmp_path / "drill.yaml"
    drill.write_text(LEFT_BEHIND)
    args = places(tmp_path, estate_file)
    result = run_cli("drill", str(drill), *args, "-o", "json")
    assert result.returncode == 1, result.stderr
    document = json_out(result)
    assert document["status"] == "cleanup-failed"
    assert [e["step"] for e in document["cleanup"]["left_behind"]] == ["test-ip-app01"]
    assert "no recovery network before" in document["cleanup"]["left_behind"][0]["detail"]
    assert document["cleanup"]["finish_with"] == f"failover cleanup {document['run_id']}"
    ledger = len(json_out(run_cli("fake", "ledger", *args)))
    again = run_cli("cleanup", document["run_id"])
    assert again.returncode == 1
    assert "left behind by test-ip-app01" in again.stderr
    assert f"finish it with: failover cleanup {document['run_id']}" in " ".join(again.stderr.split())
    assert len(json_out(run_cli("fake", "ledger", *args))) == ledger  # nothing undone twice, nothing new
    history = json_out(run_cli("history", "-o", "json"))
    assert history["runs"][0]["status"] == "cleanup-failed"
    refused = run_cli("cleanup", "no-such-run")
    assert refused.returncode == 2 and "no run no-such-run" in refused.stderr


def test_missed_rto_fails_the_drill(tmp_path, estate_file):
    """A drill slower than its target recovery time fails, saying by how much."""
    slow = tmp_path / "drill.yaml"
    slow.write_text(DRILL.read_text().replace("rto: 15m", "rto: 30s"))
    result = run_cli("drill", str(slow), *places(tmp_path, estate_file, {"latency": {"job_ms": 120_000}}), "-o", "json")
    assert result.returncode == 1
    assert "over the 30s target" in json_out(result)["verdict"]


PROBES = {
    "assert.item_state": ("{items: [app01], state: failed_over}", "app01: expected failed_over, found protected"),
    "assert.nic_ip": ("{item: app01, ip: 192.168.1.10, network: recovery-vnet, subnet: app}",
                      "expected 192.168.1.10 in recovery-vnet/app (192.168.1.0/24), found no VM"),
    "assert.connection": ("{name: woodgrove-s2s, status: NotConnected}", "expected NotConnected, found Connected"),
    "assert.route": ("{table: woodgrove-rt, prefix: 192.168.1.0/24, next_hop: VirtualNetworkGateway}",
                     "expected VirtualNetworkGateway, found ['onprem-app: VirtualAppliance 172.16.2.4']"),
    "assert.dns_record": ("{zone: woodgrove.example, name: app01, ips: [172.16.2.10]}",
                          "expected ['172.16.2.10'], found ['192.168.1.10']"),
    "assert.prefix_absent": ("{gateway: woodgrove-onprem, prefix: 192.168.1.0/24}",
                             "expected no prefix overlapping 192.168.1.0/24, found ['192.168.0.0/16']"),
}


@pytest.mark.parametrize("kind", sorted(PROBES))
def test_probe_failure_says_expected_and_found(kind, fake):
    """Each probe fails on the untouched Woodgrove estate with a message giving expected and found."""
    arguments, message = PROBES[kind]
    result = run(f"""\
        steps:
          - {{id: probe, uses: {kind}, with: {arguments}}}
    """, fake())
    step = result.step("probe")
    assert str(step.status) == "failed" and message in step.error, step.error


def test_probe_passes_and_outputs_what_it_found(fake):
    """A probe that holds succeeds and reports what it found."""
    result = run("""\
        steps:
          - {id: probe, uses: assert.route, with: {table: woodgrove-rt, prefix: 192.168.2.0/24, next_hop: VirtualAppliance, next_hop_ip: 172.16.2.4}}
    """, fake())
    assert str(result.step("probe").status) == "succeeded"
    assert result.step("probe").outputs["found"] == ["onprem-data: VirtualAppliance 172.16.2.4"]


def test_schedule_due_now_runs_the_drill_once_and_not_twice(tmp_path, estate_file):
    """A drill due now is run by the scheduler; two schedulers at once start it only once (the other
    skips it), and a later pass in the same slot does not run it again."""
    import json
    import os
    import subprocess
    import sys
    from datetime import UTC, datetime

    minute = datetime.now(UTC).minute
    config = tmp_path / "failover.yaml"
    config.write_text(json.dumps({
        "adapter": "fake", "fake": {"estate": str(estate_file({"latency": {"job_ms": 60_000}, "time_scale": 0.01})),
                                    "state": str(tmp_path / "state.db")},
        "journal": str(tmp_path / "journal.db"), "reports": str(tmp_path / "reports"),
        "drills": [{"name": "every-hour", "runbook": str(DRILL), "cron": f"{minute} * * * *"}],
    }))
    env = {**os.environ, "FAILOVER_CONFIG": str(config)}
    listed = json_out(run_cli("schedule", "list", "-o", "json", env={"FAILOVER_CONFIG": str(config)}))
    assert listed["drills"][0]["due"] is True
    command = [sys.executable, "-m", "engine.cli", "schedule", "run", "--once", "-o", "json"]
    schedulers = [subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                  for _ in range(2)]
    documents = [json.loads(p.communicate(timeout=180)[0]) for p in schedulers]
    outcomes = [o for d in documents for o in d["drills"]]
    assert sorted(o["action"] for o in outcomes) in (["elsewhere", "started"], ["started"]), outcomes
    assert [d["exit_code"] for d in documents] == [0, 0] and [p.returncode for p in schedulers] == [0, 0]
    history = json_out(run_cli("history", "--drills", "-o", "json", env={"FAILOVER_CONFIG": str(config)}))
    assert len(history["runs"]) == 1 and history["trend"] == "P"
    again = run_cli("schedule", "run", "--once", env={"FAILOVER_CONFIG": str(config)})
    assert again.returncode == 0 and again.stdout.strip() == "no drill is due"
