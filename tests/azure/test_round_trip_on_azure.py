"""The way there and back with the Azure adapter against the ARM double: a failover to the newest point
before a time sends each VM's own point, the failback, its commit and the reprotect send the bodies of the
REST specs' examples (Hyper-V to Azure provider inputs), and a second run of the failback sends nothing."""

from __future__ import annotations

import json

import pytest

from tests.azure.arm import specs
from tests.azure.test_runbooks import failover as failover  # noqa: F401  (a fixture)
from tests.azure.test_runbooks import writes
from tests.conftest import REPO, SUBNET_FAILOVER

FAILBACK = REPO / "runbooks/woodgrove-failback.yaml"
ROUND_TRIP = REPO / "runbooks/woodgrove-round-trip.yaml"
SERVICE = "recoveryservicessiterecovery"
MOVED = ("app01", "app02", "web01")


def example_input(operation: str, name: str) -> dict:
    return specs.example(SERVICE, operation)["parameters"][name]


def posted(arm, suffix: str) -> list[tuple[str, dict]]:
    return [(s.path, json.loads(s.body) if s.body else None) for s in arm.writes
            if s.method == "POST" and s.path.endswith(suffix)]


POINT = '      recovery_point: {before: "2025-06-01T06:32:00Z", consistency: application}\n'


def before_runbook(tmp_path, extra: str = "", name: str = "before.yaml"):
    """The subnet failover, to the newest application-consistent point before 06:32 (the double keeps a point
    every 5 minutes until 08:00, one an hour application-consistent)."""
    anchor = '      type: "${{ params.failover_type }}"\n'
    text = SUBNET_FAILOVER.read_text()
    assert anchor in text
    path = tmp_path / name
    path.write_text(text.replace(anchor, anchor + POINT) + extra)
    return path


def test_a_failover_before_a_time_sends_each_vms_newest_point_before_it(failover, arm, tmp_path):
    """The double keeps a point every 5 minutes until 08:00, one an hour application-consistent: before
    06:32 that is the 06:00 point, each VM its own; the plan shows it, the body names it."""
    runbook = before_runbook(tmp_path)
    plan = failover("plan", str(runbook), "--azure", "--output", "json")
    assert plan.exit_code == 0, plan.output
    shown = [c["after"] for s in json.loads(plan.stdout)["steps"] if s["id"] == "fail-over-app-subnet"
             for c in s["changes"] if c["field"] == "recovery_point"]
    assert len(shown) == 3 and all(a.startswith("2025-06-01T06:00:00Z (application-consistent") for a in shown)
    result = failover("run", str(runbook), "--azure", "--yes", "--output", "json")
    assert result.exit_code == 0, result.output
    bodies = {path.lower(): body for path, body in posted(arm, "/plannedFailover")}
    template = example_input("ReplicationProtectedItems_PlannedFailover", "failoverInput")
    for vm in MOVED:
        item = arm.item(vm)
        wanted = next(name for name, at, kind in item.points if at.startswith("2025-06-01T06:00:00"))
        body = bodies[f"{item.id}/plannedFailover".lower()]
        assert body["properties"]["providerSpecificDetails"] == {
            **template["properties"]["providerSpecificDetails"], "recoveryPointId": f"{item.id}/recoveryPoints/{wanted}"}
        assert item.failover_point == wanted


def test_the_failback_sends_the_documented_bodies_and_a_second_run_sends_nothing(failover, arm):
    assert failover("run", str(SUBNET_FAILOVER), "--azure", "--yes").exit_code == 0
    first = failover("run", str(FAILBACK), "--azure", "--yes", "--output", "json")
    assert first.exit_code == 0, first.output
    assert {s["status"] for s in json.loads(first.stdout)["steps"]} == {"succeeded"}
    # The failback: a planned failover from Azure with the Hyper-V failback provider input.
    failbacks = [b for _, b in posted(arm, "/plannedFailover")
                 if b["properties"]["failoverDirection"] == "RecoveryToPrimary"]
    assert len(failbacks) == 3 and all(b["properties"]["providerSpecificDetails"] == {
        "instanceType": "HyperVReplicaAzureFailback", "dataSyncOption": "ForSynchronization",
        "recoveryVmCreationOption": "NoAction"} for b in failbacks)
    # The reprotect: exactly the Reprotect example's body.
    reprotects = posted(arm, "/reProtect")
    assert len(reprotects) == 3
    assert all(b == example_input("ReplicationProtectedItems_Reprotect", "reprotectInput") for _, b in reprotects)
    commits = posted(arm, "/failoverCommit")
    assert len(commits) == 6  # there and back
    for vm in MOVED:
        item = arm.item(vm)
        assert (item.active_location, item.protection_state, item.allowed) == (
            "Primary", "Protected", ["PlannedFailover", "UnplannedFailover", "DisableProtection", "TestFailover"])
    before = len(arm.writes)
    second = failover("run", str(FAILBACK), "--azure", "--yes", "--output", "json")
    assert second.exit_code == 0, second.output
    assert len(arm.writes) == before, writes(arm)[before:]
    assert {s["status"] for s in json.loads(second.stdout)["steps"]} == {"unchanged"}


def test_a_change_of_point_sends_the_apply_recovery_point_example_body(failover, arm, tmp_path):
    path = before_runbook(tmp_path, """
  - {id: pit, uses: asr.apply_recovery_point, needs: [fail-over-app-subnet],
     with: {items: [app01], recovery_point: latest_processed}}
""")
    runbook = tmp_path / "pit.yaml"
    runbook.write_text(path.read_text().replace("needs: [route-app-subnet-to-azure]",
                                                "needs: [route-app-subnet-to-azure, pit]"))
    result = failover("run", str(runbook), "--azure", "--yes", "--output", "json")
    assert result.exit_code == 0, result.output
    [(path, body)] = posted(arm, "/applyRecoveryPoint")
    item = arm.item("app01")
    template = example_input("ReplicationProtectedItems_ApplyRecoveryPoint", "applyRecoveryPointInput")
    assert set(body["properties"]) == set(template["properties"])
    assert body["properties"]["providerSpecificDetails"] == template["properties"]["providerSpecificDetails"]
    assert body["properties"]["recoveryPointId"] == f"{item.id}/recoveryPoints/{item.points[-1][0]}"
    assert item.failover_point == item.points[-1][0] and item.protection_state == "PlannedFailoverStatesBegin"


def test_the_round_trip_plans_against_azure_with_gets_only(failover, arm):
    result = failover("plan", str(ROUND_TRIP), "--azure", "--output", "json")
    assert result.exit_code == 0, result.output
    assert {s.method for s in arm.sent} == {"GET"}
    reads = [s.path for s in arm.sent if s.path.endswith("/recoveryPoints")]
    assert len(reads) == 3  # the points of the VMs the failover moves, and of no other


def test_a_recovery_plans_failover_names_a_type_of_point_and_its_reprotect_sends_no_body(azure, arm):
    """A plan fails over to a type of point (RecoveryPlanHyperVReplicaAzureFailoverInput.recoveryPointType);
    its reprotect, like the plan's Reprotect example, has no body (each item reverses its own replication)."""
    from adapters.shared.errors import PermanentError
    from tests.azure.test_adapter import VAULT

    azure.replication.start_plan_failover(VAULT, "app-subnet", "unplanned",
                                          recovery_point_type="LatestApplicationConsistent")
    [(_, body)] = posted(arm, "/unplannedFailover")
    template = example_input("ReplicationRecoveryPlans_UnplannedFailover", "input")
    assert set(body["properties"]) == set(template["properties"])
    assert body["properties"]["providerSpecificDetails"] == [
        {"instanceType": "HyperVReplicaAzure", "recoveryPointType": "LatestApplicationConsistent"}]
    assert "input" not in specs.example(SERVICE, "ReplicationRecoveryPlans_Reprotect")["parameters"]
    with pytest.raises(PermanentError):  # the plan's items are failing over: refused, the request seen
        azure.replication.start_plan_reprotect(VAULT, "app-subnet", "primary_to_recovery")
    [(path, body)] = posted(arm, "/reProtect")
    assert path.endswith("/replicationRecoveryPlans/app-subnet/reProtect") and body is None
