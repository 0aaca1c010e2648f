"""Which ready step starts first: with the durations of the runbook's last run in the journal, the
one with the longest wait ahead of it; without them, the one furthest along its chain, then the
runbook's order."""

from __future__ import annotations

import textwrap

import pytest
import structlog
from structlog.testing import capture_logs

from engine.model.params import resolve_parameters
from engine.run import logs as engine_logs
from engine.run.journal import Journal
from engine.run.order import priorities
from engine.run.records import RunResult, StepRecord
from engine.run.runs import execute
from engine.run.status import RunStatus, StepStatus
from tests.engine.runbooks import TARGET, loaded_from

# Two chains: app01's IP then app02's; web01's IP alone. Written app first.
CHAINS = """
steps:
  - id: ip-app01
    uses: asr.set_target_ip
    with: {item: app01, network: recovery-vnet, subnet: app, ip: 192.168.1.10}
  - id: ip-app02
    uses: asr.set_target_ip
    needs: [ip-app01]
    with: {item: app02, network: recovery-vnet, subnet: app, ip: 192.168.1.11}
  - id: ip-web01
    uses: asr.set_target_ip
    with: {item: web01, network: recovery-vnet, subnet: app, ip: 192.168.1.20}
"""


def first_of(result) -> str:
    return min(result.steps, key=lambda s: s.started_at).id


def test_without_history_the_step_further_along_goes_first_then_the_runbooks_order():
    ranked = priorities(loaded_from(CHAINS).runbook, {})
    assert ranked["ip-app02"] < ranked["ip-web01"]  # when both are ready
    assert ranked["ip-app01"] < ranked["ip-web01"]


def test_with_history_the_longest_wait_ahead_goes_first():
    runbook = loaded_from(CHAINS).runbook
    # web01 took 1,000 s; app01 and app02 one second each: web01's chain is the longer.
    ranked = priorities(runbook, {"ip-app01": 1.0, "ip-app02": 1.0, "ip-web01": 1000.0})
    assert sorted(ranked, key=ranked.get) == ["ip-web01", "ip-app01", "ip-app02"]
    # app01's own second plus app02's behind it beats web01's 1.5 s
    ranked = priorities(runbook, {"ip-app01": 1.0, "ip-app02": 1.0, "ip-web01": 1.5})
    assert sorted(ranked, key=ranked.get)[0] == "ip-app01"


def finished_run(journal: Journal, run_id: str, at: float, *, runbook: str = "test", adapter: str = "fake",
                 dry_run: bool = False, durations: dict[str, float], status=StepStatus.SUCCEEDED) -> None:
    """A run of ``runbook`` that began at ``at`` and has finished, its steps as long as ``durations``."""
    steps = [StepRecord(id=step_id, uses="asr.set_target_ip", status=status, duration_s=duration)
             for step_id, duration in durations.items()]
    result = RunResult(run_id=run_id, runbook=runbook, adapter=adapter, dry_run=dry_run, parameters={},
                       steps=steps, status=RunStatus.SUCCEEDED, started_at=at, finished_at=at + 100)
    journal.begin_run(result, runbook_path="rb.yaml", runbook_sha256="0" * 64, scope="test")
    journal.run_changed(result)


def test_the_journal_gives_each_steps_last_duration_on_the_same_adapter(tmp_path):
    journal = Journal(tmp_path / "j.db")
    finished_run(journal, "run-old", 1000, durations={"a": 10.0, "b": 5.0})
    finished_run(journal, "run-newer", 2000, durations={"a": 20.0})  # b not in it: the older figure stays
    finished_run(journal, "run-newest", 3000, durations={"b": 0.01}, status=StepStatus.UNCHANGED)
    # newer still, and not to be counted:
    finished_run(journal, "run-dry", 4000, dry_run=True, durations={"a": 99.0})
    finished_run(journal, "run-on-azure", 4000, adapter="azure", durations={"a": 77.0})
    finished_run(journal, "run-of-another-runbook", 4000, runbook="other", durations={"a": 55.0})
    durations, newest = journal.step_durations("test", "fake")
    assert durations == {"a": 20.0, "b": 5.0}
    assert newest == "run-newest"  # the newest run counted, though its one step found nothing to do
    assert journal.step_durations("nothing-ran", "fake") == ({}, None)
    journal.close()


@pytest.fixture
def info_logged():
    """Info events reach ``capture_logs`` whatever level an earlier test's command configured."""
    before = structlog.get_config()
    engine_logs.configure("json", "info")
    yield
    structlog.configure(**before)


def test_a_run_orders_its_steps_by_the_last_runs_durations(fake, tmp_path, info_logged):
    (tmp_path / "chains.yaml").write_text(TARGET + textwrap.dedent(CHAINS))
    loaded = loaded_from(tmp_path / "chains.yaml")
    values, _ = resolve_parameters(loaded.runbook, {})
    journal = Journal(tmp_path / "journal.db")
    first = execute(loaded, values, fake(), journal, options={}, concurrency=1)
    assert str(first.status) == "succeeded" and first_of(first) == "ip-app01"
    with journal._lock:  # as if web01's IP had taken long the last time
        journal._db.execute("UPDATE steps SET duration_s=1000 WHERE run_id=? AND step_id='ip-web01'",
                            (first.run_id,))
    with capture_logs() as events:
        second = execute(loaded, values, fake(), journal, options={}, concurrency=1)
    assert str(second.status) == "succeeded" and first_of(second) == "ip-web01"
    ordered = [e for e in events if e["event"] == "run.ordered"]
    assert ordered and ordered[0]["by_durations_of"] == first.run_id and ordered[0]["steps_with_history"] == 3
    journal.close()
