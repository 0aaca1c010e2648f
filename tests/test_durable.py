"""Durable runs: a crash mid-failover resumes without repeating a side effect; one run at a time;
approval pauses and resumes; the runbook may not change under a resumed run; Ctrl-C stops safely."""

from __future__ import annotations

import json
import os
import signal
import textwrap

import pytest

from tests import durable
from tests.conftest import VPN_KEY, json_out, run_cli


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The subnet failover, uninterrupted: the final estate and the mutating calls it needed."""
    return durable.uninterrupted(tmp_path_factory.mktemp("reference"))


@pytest.mark.parametrize("stop_at", [
    durable.after_operation("start_failover"),  # while the failover jobs run
    durable.after_step("move-prefix-off-onprem", "running"),  # around the network steps
], ids=["failover-jobs-running", "network-steps"])
def test_kill_9_then_resume_matches_an_uninterrupted_run(stop_at, reference, tmp_path):
    """kill -9 mid-run, then resume: the same final estate, no mutating call the uninterrupted run did
    not need (no second failover of any VM), and every step done."""
    state, ledger = reference
    trial = durable.crash_and_resume(tmp_path, stop_at)
    assert trial["stopped"], "the run finished before the kill"
    assert trial["canary_left"] == []
    assert trial["exit"] == 0, trial["resumed"]
    assert trial["state"] == state
    assert trial["ledger"] == ledger
    failovers = [op for op, _ in trial["ledger"].elements() if op.endswith(".planned_failover")]
    assert len(failovers) == 3
    document = json_out(run_cli("status", trial["run_id"], "-o", "json", "--journal", str(tmp_path / "journal.db")))
    assert document["status"] == "succeeded"
    assert {s["status"] for s in document["steps"]} <= {"succeeded", "unchanged"}
    for written in tmp_path.glob("journal.db*"):  # the database, its WAL
        assert VPN_KEY.encode() not in written.read_bytes(), written.name


def test_a_dead_run_shows_interrupted_with_the_command_to_resume_it(tmp_path):
    """A run whose process was killed is not shown `running` forever: status and history say
    `interrupted`, and status names the resume command."""
    durable.slow_estate(tmp_path)
    process = durable.failover(tmp_path, "run", str(durable.RUNBOOK), "--no-preflight")
    assert durable.wait_until(tmp_path, durable.after_operation("start_failover"), process)
    process.kill()
    process.communicate(timeout=60)
    journal = ["--journal", str(tmp_path / "journal.db")]
    run_id = durable.last_run_id(tmp_path)
    assert json_out(run_cli("history", "-o", "json", *journal))["runs"][0]["status"] == "interrupted"
    shown = run_cli("status", run_id, *journal)
    assert shown.returncode == 0 and "interrupted" in shown.stdout and f"failover resume {run_id}" in \
        " ".join((shown.stdout + shown.stderr).split())
    document = json_out(run_cli("status", run_id, "-o", "json", *journal))
    assert document["status"] == "interrupted"
    assert "running" not in {s["status"] for s in document["steps"]}


def test_simultaneous_resumes_of_one_run_exactly_one_proceeds(tmp_path):
    """Four `resume` of the same killed run at once: one proceeds, three exit 3 naming the holder, and no
    mutating call is sent twice."""
    durable.slow_estate(tmp_path, job_ms=30_000_000)  # jobs of minutes: the one that proceeds is still going
    process = durable.failover(tmp_path, "run", str(durable.RUNBOOK), "--no-preflight")
    assert durable.wait_until(tmp_path, durable.after_operation("start_network_update", "done"), process)
    process.kill()
    process.communicate(timeout=60)
    sent = durable.ledger_counts(tmp_path)
    run_id = durable.last_run_id(tmp_path)
    race = durable.race(tmp_path, ("resume", run_id), 4)
    assert race["running"] == 1, race
    assert [code for code, _ in race["ended"]] == [3, 3, 3], race
    for _, errors in race["ended"]:
        assert "refused: another run holds the lock" in errors and f"run {run_id}" in errors and "pid" in errors
    assert race["survivors"][0][0] == 143  # it was going: stopped in order
    assert max((durable.ledger_counts(tmp_path) - sent).values(), default=0) <= 1  # each call at most once more


def test_two_runs_at_once_exactly_one_proceeds(tmp_path):
    """Two runs started at the same instant on one target: one runs, the other is refused (exit 3) and
    names the holder."""
    durable.slow_estate(tmp_path, job_ms=30_000_000)
    race = durable.race(tmp_path, ("run", str(durable.RUNBOOK), "--no-preflight"), 2)
    assert race["running"] == 1 and [code for code, _ in race["ended"]] == [3], race
    assert "refused: another run holds the lock" in race["ended"][0][1] and "pid" in race["ended"][0][1]


APPROVAL = """\
version: 1
name: approval-test
target: {subscription: 00000000-0000-0000-0000-000000000000, resource_group: woodgrove-dr, vault: woodgrove-asr-vault}
steps:
  - {id: before, uses: dns.record, with: {zone: woodgrove.example, name: before, ip: 10.1.1.1}}
  - {id: go-no-go, uses: approval, needs: [before], with: {message: Approve the DNS change}}
  - {id: after, uses: dns.record, needs: [go-no-go], with: {zone: woodgrove.example, name: after, ip: 10.1.1.2}}
  - {id: independent, uses: dns.record, with: {zone: woodgrove.example, name: independent, ip: 10.1.1.3}}
"""


def test_approval_pauses_with_exit_4_then_approve_completes(tmp_path, estate_file):
    """An approval step pauses the run (exit 4) after the independent steps finish; approve records who
    approved and resumes the run to the end."""
    runbook = tmp_path / "approval.yaml"
    runbook.write_text(APPROVAL)
    places = ["--estate", str(estate_file()), "--state", str(tmp_path / "s.db"), "--journal", str(tmp_path / "j.db")]
    paused = run_cli("run", str(runbook), *places, "-o", "json")
    assert paused.returncode == 4, paused.stderr
    document = json_out(paused)
    steps = {s["id"]: s["status"] for s in document["steps"]}
    assert steps == {"before": "succeeded", "go-no-go": "paused", "after": "pending", "independent": "succeeded"}
    assert "failover approve" in next(s["reason"] for s in document["steps"] if s["id"] == "go-no-go")
    approved = run_cli("approve", document["run_id"], "go-no-go", "--journal", str(tmp_path / "j.db"), "-o", "json")
    assert approved.returncode == 0, approved.stderr
    final = json_out(approved)
    assert final["status"] == "succeeded"
    gate = next(s for s in final["steps"] if s["id"] == "go-no-go")
    assert gate["status"] == "succeeded" and gate["outputs"]["approved_by"]


def test_approving_a_step_that_is_not_paused_is_refused(tmp_path, estate_file):
    """approve names a step that is not waiting: exit 2 with the reason."""
    runbook = tmp_path / "approval.yaml"
    runbook.write_text(APPROVAL)
    journal = str(tmp_path / "j.db")
    paused = json_out(run_cli("run", str(runbook), "--estate", str(estate_file()), "--state", str(tmp_path / "s.db"),
                              "--journal", journal, "-o", "json"))
    result = run_cli("approve", paused["run_id"], "before", "--journal", journal)
    assert result.returncode == 2 and "not waiting for approval" in result.stderr


def test_resume_refuses_a_changed_runbook(tmp_path, estate_file):
    """A paused run whose runbook file changed is not resumed without --accept-changed-runbook (exit 3)."""
    runbook = tmp_path / "approval.yaml"
    runbook.write_text(APPROVAL)
    journal = str(tmp_path / "j.db")
    paused = json_out(run_cli("run", str(runbook), "--estate", str(estate_file()), "--state", str(tmp_path / "s.db"),
                              "--journal", journal, "-o", "json"))
    runbook.write_text(APPROVAL.replace("10.1.1.2", "10.1.1.9"))
    refused = run_cli("resume", paused["run_id"], "--journal", journal)
    assert refused.returncode == 3 and "changed since run" in refused.stderr
    accepted = run_cli("resume", paused["run_id"], "--journal", journal, "--accept-changed-runbook", "-o", "json")
    assert accepted.returncode == 4  # still waiting for the approval


def test_ctrl_c_stops_at_a_safe_point_and_resume_finishes(tmp_path):
    """SIGINT mid-failover: exit 130 with one line, the run recorded interrupted, the resume command
    printed, and resume completes it without a second failover."""
    durable.slow_estate(tmp_path)
    process = durable.failover(tmp_path, "run", str(durable.RUNBOOK), "--no-preflight")
    assert durable.wait_until(tmp_path, durable.after_operation("start_failover"), process)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    run_id = durable.last_run_id(tmp_path)
    assert f"stopped by SIGINT: run {run_id} interrupted: failover resume {run_id}" in stderr
    assert "Traceback" not in stderr
    status = json_out(run_cli("status", run_id, "-o", "json", "--journal", str(tmp_path / "journal.db")))
    assert status["status"] == "interrupted"
    resumed = durable.failover(tmp_path, "resume", run_id)
    resumed.communicate(timeout=120)
    assert resumed.returncode == 0
    failovers = [e for e in durable.fake(tmp_path, "ledger") if e["operation"].endswith(".planned_failover")]
    assert len(failovers) == 3


def test_sigterm_sends_no_new_change(tmp_path):
    """SIGTERM while the failover jobs run: exit 143; after the signal no mutating call is sent (the jobs
    already started are left running in Azure, to be re-attached on resume)."""
    durable.slow_estate(tmp_path)
    process = durable.failover(tmp_path, "run", str(durable.RUNBOOK), "--no-preflight")
    assert durable.wait_until(tmp_path, durable.after_operation("start_failover", "done"), process)
    sent_before = len(durable.fake(tmp_path, "ledger"))
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr
    assert "stopped by SIGTERM" in stderr and "Traceback" not in stderr
    ledger = durable.fake(tmp_path, "ledger")
    # at most the failovers of the same step still being sent when the signal came
    assert all(e["operation"].endswith(".planned_failover") for e in ledger[sent_before:]), ledger[sent_before:]


@pytest.mark.parametrize("signal_name,code", [("SIGTERM", 143), ("SIGINT", 130)])
def test_a_signal_while_a_resume_prepares_releases_its_lock(signal_name, code, tmp_path):
    """A resume holds the target's lock while it reads the run and its runbook. A signal then ends it with
    its exit code and one line: nothing was sent, the lock is released (not left to be taken over), and
    the next resume carries the run on. The runbook is a FIFO, so the resume waits in its read of it."""
    runbook = tmp_path / "approval.yaml"
    runbook.write_text(APPROVAL)
    durable.slow_estate(tmp_path)
    paused = durable.failover(tmp_path, "run", str(runbook), "-o", "json")
    output, errors = paused.communicate(timeout=120)
    assert paused.returncode == 4, errors
    run_id = json.loads(output)["run_id"]
    sent = durable.ledger_counts(tmp_path)
    runbook.unlink()
    os.mkfifo(runbook)
    process = durable.failover(tmp_path, "resume", run_id)
    writer = durable.until_opened_for_reading(runbook, process)  # the resume is in its read: it holds the lock
    try:
        assert durable.query(tmp_path, lambda db: db.execute("SELECT 1 FROM locks WHERE pid=?", (process.pid,))
                             .fetchone())
        process.send_signal(getattr(signal, signal_name))
        _, stderr = process.communicate(timeout=60)
    finally:
        os.close(writer)
    assert process.returncode == code, stderr
    assert f"{signal_name}: run {run_id} was not resumed; nothing was sent" in " ".join(stderr.split())
    assert "Traceback" not in stderr
    assert not durable.query(tmp_path, lambda db: db.execute("SELECT 1 FROM locks").fetchone())
    assert durable.ledger_counts(tmp_path) == sent
    runbook.unlink()
    runbook.write_text(APPROVAL)
    approved = durable.cli(tmp_path, "approve", run_id, "go-no-go", "-o", "json")
    assert approved.returncode == 0, approved.stderr
    assert "taken over" not in approved.stderr
    assert not durable.query(tmp_path, lambda db: db.execute("SELECT 1 FROM lock_events WHERE action='taken-over'")
                             .fetchone())


def test_history_and_status_json(tmp_path, estate_file):
    """history lists runs newest first; status without a run id shows what is paused now."""
    runbook = tmp_path / "approval.yaml"
    runbook.write_text(textwrap.dedent(APPROVAL))
    journal = str(tmp_path / "j.db")
    paused = json_out(run_cli("run", str(runbook), "--estate", str(estate_file()), "--state", str(tmp_path / "s.db"),
                              "--journal", journal, "-o", "json"))
    history = json_out(run_cli("history", "-o", "json", "--journal", journal))
    assert history["runs"][0]["run_id"] == paused["run_id"] and history["runs"][0]["status"] == "paused"
    now = json_out(run_cli("status", "-o", "json", "--journal", journal))
    assert [r["run_id"] for r in now["runs"]] == [paused["run_id"]]
    assert json.dumps(now).count("go-no-go") >= 1
