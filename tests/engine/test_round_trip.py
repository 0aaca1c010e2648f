"""The point in time and the way back, on the fake: a failover to the newest point before a time (each
VM its own), a change of point before the commit, RP001 when a VM has no such point, and the round trip
(failover, commit, failback, commit, reprotect) that leaves the estate as it began; a runbook run a
second time is unchanged and calls nothing."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime

import pytest

from adapters.ports import VaultRef
from engine.model.params import resolve_parameters
from engine.plan.simulation import simulate
from tests.conftest import REPO, json_out, run_cli
from tests.engine.runbooks import TARGET, loaded_from, run, statuses

VAULT = VaultRef("00000000-0000-0000-0000-000000000000", "woodgrove-dr", "woodgrove-asr-vault")
VMS = ("app01", "app02", "web01")
KEEP_IPS = """\
          - {id: a1, uses: asr.set_target_ip, with: {item: app01, network: recovery-vnet, subnet: app, ip: 192.168.1.10}}
          - {id: a2, uses: asr.set_target_ip, with: {item: app02, network: recovery-vnet, subnet: app, ip: 192.168.1.11}}
          - {id: w1, uses: asr.set_target_ip, with: {item: web01, network: recovery-vnet, subnet: app, ip: 192.168.1.20}}
"""
TARGETS = {vm: {"recovery": {"network": "recovery-vnet", "subnet": "app", "ip": ip}}
           for vm, ip in zip(VMS, ("192.168.1.10", "192.168.1.11", "192.168.1.20"), strict=True)}


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def before_runbook(before: str, consistency: str = "application") -> str:
    return KEEP_IPS.join(["        steps:\n", f"""\
          - id: fo
            uses: asr.failover
            needs: [a1, a2, w1]
            with: {{items: [app01, app02, web01], type: unplanned,
                    recovery_point: {{before: "{before}", consistency: {consistency}}}}}
    """])


def newest_before(points, limit: float, kind: str):
    return [p for p in points if p.time < limit and p.type == kind][-1]


def test_a_failover_before_a_time_takes_each_vms_newest_point_before_it(fake):
    """Ransomware at T: every VM comes up at its own newest application-consistent point before T, the
    plan shows that point per VM, and the step's output its data-loss window."""
    adapter = fake()
    points = {vm: adapter.replication.list_recovery_points(VAULT, vm) for vm in VMS}
    attack = points["app01"][-30].time + 1  # a moment after a point 2.5 hours back
    runbook = before_runbook(iso(attack))
    plan = simulate(loaded_from(runbook), {}, adapter.simulation())
    shown = {c.resource: c.after for r in plan.result.steps if r.id == "fo" for c in r.changes
             if c.field == "recovery_point"}
    wanted = {vm: newest_before(points[vm], attack, "ApplicationConsistent") for vm in VMS}
    for vm in VMS:
        assert shown[f"protected item {vm}"].startswith(iso(wanted[vm].time)), shown
        assert "application-consistent; data-loss window" in shown[f"protected item {vm}"]

    result = run(runbook, adapter)
    assert statuses(result)["fo"] == "succeeded"
    for vm in VMS:
        item = adapter.replication.get_protected_item(VAULT, vm)
        assert item.state.failed_over and item.recovery_point_id.endswith(wanted[vm].id.rsplit("/", 1)[-1])
    outputs = next(r for r in result.steps if r.id == "fo").outputs["recovery_points"]
    assert outputs["app01"]["time"] == iso(wanted["app01"].time) and outputs["app01"]["data_loss_seconds"] > 2 * 3600
    calls = len(adapter.ledger())
    assert set(statuses(run(runbook, adapter)).values()) == {"unchanged"}
    assert len(adapter.ledger()) == calls


def test_the_failover_sends_the_chosen_point_to_the_service(fake):
    adapter = fake()
    points = adapter.replication.list_recovery_points(VAULT, "app02")
    limit = points[-5].time + 1
    run(before_runbook(iso(limit), "crash"), adapter)
    sent = [e["args"] for e in adapter.ledger() if e["operation"].endswith(".unplanned_failover")
            and e["resource"].endswith("/app02")]
    assert [a["recovery_point"] for a in sent] == [newest_before(points, limit, "CrashConsistent").id.rsplit("/", 1)[-1]]


def test_a_vm_without_a_matching_point_fails_validate_naming_its_newest_point(tmp_path, estate_file):
    """RP001 (exit 2, nothing done): the VM is named with the newest point it has."""
    runbook = tmp_path / "before.yaml"
    runbook.write_text(TARGET + textwrap.dedent(before_runbook("2001-01-01T00:00:00Z")))
    result = run_cli("validate", str(runbook), "--estate", str(estate_file()), "--state", str(tmp_path / "s.db"),
                     "-o", "json")
    assert result.returncode == 2, result.stderr
    errors = [e for e in json_out(result)["errors"] if e["code"] == "RP001"]  # (and NET006: no network steps)
    assert {e["step"] for e in errors} == {"fo"}
    assert all("its newest is" in e["message"] for e in errors)
    assert sorted(e["message"].split()[0] for e in errors) == sorted(VMS)


def test_a_point_changes_after_the_failover_and_before_the_commit(fake):
    adapter = fake()
    points = adapter.replication.list_recovery_points(VAULT, "app01")
    first, later = points[-40].time + 1, points[-3].time + 1
    runbook = KEEP_IPS.join(["        steps:\n", f"""\
          - {{id: fo, uses: asr.failover, needs: [a1, a2, w1], with: {{items: [app01, app02, web01], type: unplanned,
                 recovery_point: {{before: "{iso(first)}"}}}}}}
          - {{id: pit, uses: asr.apply_recovery_point, needs: [fo], with: {{items: [app01],
                 recovery_point: {{before: "{iso(later)}", consistency: crash}}}}}}
          - {{id: commit, uses: asr.commit, needs: [pit], with: {{items: [app01, app02, web01]}}}}
    """])
    assert set(statuses(run(runbook, adapter)).values()) == {"succeeded"}
    item = adapter.replication.get_protected_item(VAULT, "app01")
    assert item.state.committed
    assert item.recovery_point_id.endswith(newest_before(points, later, "CrashConsistent").id.rsplit("/", 1)[-1])
    calls = len(adapter.ledger())
    assert set(statuses(run(runbook, adapter)).values()) == {"unchanged"}
    assert len(adapter.ledger()) == calls


ROUND_TRIP = """\
        steps:
          - {id: fo, uses: asr.failover, with: {items: [app01, app02, web01], type: planned,
                                                recovery_point: latest_app_consistent}}
          - {id: commit, uses: asr.commit, needs: [fo], with: {items: [app01, app02, web01]}}
          - {id: back, uses: asr.failover, needs: [commit], with: {items: [app01, app02, web01], type: planned,
                                                                   direction: recovery_to_primary}}
          - {id: commit-back, uses: asr.commit, needs: [back], with: {items: [app01, app02, web01],
                                                                      direction: recovery_to_primary}}
          - {id: reprotect, uses: asr.reprotect, needs: [commit-back], with: {items: [app01, app02, web01]}}
"""


def test_the_round_trip_leaves_every_vm_as_it_began(fake):
    adapter = fake(vaults={"woodgrove-asr-vault": {"protected_items": TARGETS}})
    before = {vm: adapter.replication.get_protected_item(VAULT, vm) for vm in VMS}
    result = run(ROUND_TRIP, adapter)
    assert set(statuses(result).values()) == {"succeeded"}
    for vm in VMS:
        item, was = adapter.replication.get_protected_item(VAULT, vm), before[vm]
        assert (item.state.active_location, item.state.protection_state, item.state.allowed, item.nics) == (
            was.state.active_location, was.state.protection_state, was.state.allowed, was.nics)
        assert item.recovery_vm_ip is None and not item.state.busy
    operations = [e["operation"].rsplit(".", 1)[1] for e in adapter.ledger() if e["resource"].endswith("/app01")]
    assert operations == ["planned_failover", "failover_commit", "planned_failover", "failover_commit", "reprotect"]
    assert [a["args"].get("direction") for a in adapter.ledger() if a["resource"].endswith("/app01")] == [
        None, None, "RecoveryToPrimary", None, "PrimaryToRecovery"]
    # Replication started over: the points of before the round trip are gone, new ones come as it runs.
    assert all(p.time >= result.steps[-1].started_at - 1 for p in adapter.replication.list_recovery_points(VAULT,
                                                                                                         "app01"))


@pytest.mark.parametrize("runbook, code", [
    # a failback before the failover to Azure is committed
    ("""\
        steps:
          - {id: fo, uses: asr.failover, with: {items: [app01], type: planned}}
          - {id: back, uses: asr.failover, needs: [fo], with: {items: [app01], type: planned,
                                                               direction: recovery_to_primary}}
    """, "NET009"),
    # a reprotect from Azure: a Hyper-V VM fails back instead
    ("""\
        steps:
          - {id: fo, uses: asr.failover, with: {items: [app01], type: planned}}
          - {id: commit, uses: asr.commit, needs: [fo], with: {items: [app01]}}
          - {id: rp, uses: asr.reprotect, needs: [commit], with: {items: [app01], direction: recovery_to_primary}}
    """, "NET009"),
    # a change of point before any failover
    ("""\
        steps:
          - {id: pit, uses: asr.apply_recovery_point, with: {items: [app01], recovery_point: latest_processed}}
    """, "NET009"),
])
def test_a_step_out_of_the_round_trips_order_is_refused_before_anything_runs(runbook, code, fake):
    adapter = fake(vaults={"woodgrove-asr-vault": {"protected_items": TARGETS}})
    loaded = loaded_from(runbook)
    values, _ = resolve_parameters(loaded.runbook, {})
    result = simulate(loaded, values, adapter, rules=True)
    assert code in {p.code for p in result.problems}, [p.message for p in result.problems]
    assert adapter.ledger() == []


@pytest.mark.parametrize("with_, message", [
    ("{items: [app01], type: unplanned, direction: recovery_to_primary}", "planned"),
    ("{plan: app-subnet, type: planned, recovery_point: {before: '2026-01-01T00:00:00Z'}}", "list the VMs"),
    ("{items: [app01], type: planned, data_sync: during_failover}", "failback options"),
    ("{items: [app01], type: planned, recovery_point: yesterday}", "recovery_point"),
])
def test_arguments_that_do_not_fit_are_rb008(with_, message, tmp_path, estate_file):
    path = tmp_path / "bad.yaml"
    path.write_text("version: 1\nname: bad\ntarget: {subscription: 00000000-0000-0000-0000-000000000000, "
                    "resource_group: woodgrove-dr, vault: woodgrove-asr-vault}\nsteps:\n"
                    f"  - {{id: s, uses: asr.failover, with: {with_}}}\n")
    result = run_cli("validate", str(path), "--estate", str(estate_file()), "--state", str(tmp_path / "s.db"),
                     "-o", "json")
    assert result.returncode == 2
    errors = json_out(result)["errors"]
    assert [e["code"] for e in errors] == ["RB008"] and message in errors[0]["message"], errors
    assert errors[0]["line"] == 5 and errors[0]["step"] == "s"


def test_the_failback_runbook_after_the_subnet_failover_runs_then_is_unchanged(tmp_path, estate_file):
    """As an operator runs them: the subnet failover, then the failback validates, plans and runs; a second
    run is all unchanged and adds nothing to the ledger; the network is as it began."""
    estate, state = str(estate_file()), str(tmp_path / "state.db")

    def cli(*args):
        return run_cli(*args, "--estate", estate, "--state", state)

    original = json_out(cli("fake", "show"))
    assert cli("run", str(REPO / "runbooks/woodgrove-subnet-failover.yaml"), "--yes").returncode == 0
    failback = str(REPO / "runbooks/woodgrove-failback.yaml")
    assert cli("validate", failback).returncode == 0
    plan = json_out(cli("plan", failback, "-o", "json"))
    assert {s["id"]: s["action"] for s in plan["steps"]}["fail-back-app-subnet"] == "trigger"
    first = cli("run", failback, "--yes", "-o", "json")
    assert first.returncode == 0, first.stderr
    assert {s["status"] for s in json_out(first)["steps"]} == {"succeeded"}
    calls = len(json_out(cli("fake", "ledger")))
    second = json_out(cli("run", failback, "--yes", "-o", "json"))
    assert {s["status"] for s in second["steps"]} == {"unchanged"}
    assert len(json_out(cli("fake", "ledger"))) == calls
    home = json_out(cli("fake", "show"))
    for part in ("local_network_gateways", "connections", "route_tables", "virtual_machines", "dns_zones"):
        assert home[part] == original[part], part


def test_the_round_trips_report_shows_each_leg_and_the_data_loss_window(tmp_path, estate_file):
    """runbooks/woodgrove-round-trip.yaml on the fake, as an operator runs it: the report lists the legs
    (failover to Azure, commit, failback, commit, reprotect) with their times, and each VM's recovery point
    with its data-loss window."""
    estate, state = str(estate_file()), str(tmp_path / "state.db")
    result = run_cli("run", str(REPO / "runbooks/woodgrove-round-trip.yaml"), "--yes", "-o", "json",
                     "--estate", estate, "--state", state)
    assert result.returncode == 0, result.stderr
    run_id = json_out(result)["run_id"]
    document = json_out(run_cli("report", run_id, "--format", "json"))
    assert [leg["leg"] for leg in document["legs"]] == [
        "failover to Azure", "commit", "failback", "commit", "reprotect"]
    assert all(leg["vms"] == 3 and leg["duration_s"] > 0 for leg in document["legs"])
    points = document["recovery_points"]
    assert sorted(p["vm"] for p in points) == sorted(VMS)
    assert all(p["type"] == "ApplicationConsistent" and p["data_loss_s"] >= 0 for p in points)
    markdown = run_cli("report", run_id, "--format", "markdown").stdout
    assert "## Legs" in markdown and "| failback | fail-back-app-subnet | 3 |" in markdown
    assert "## Recovery points" in markdown and "data-loss window" in markdown
    html = run_cli("report", run_id, "--format", "html").stdout
    assert 'id="legs"' in html and 'id="points"' in html


def test_a_recovery_plan_fails_over_to_each_vms_latest_app_consistent_point(fake):
    adapter = fake(vaults={"woodgrove-asr-vault": {"protected_items": TARGETS}})
    newest = {vm: [p for p in adapter.replication.list_recovery_points(VAULT, vm) if p.app_consistent][-1]
              for vm in VMS}
    result = run("""\
        steps:
          - {id: fo, uses: asr.failover, with: {plan: app-subnet, type: unplanned,
                                                recovery_point: latest_app_consistent}}
    """, adapter)
    assert statuses(result) == {"fo": "succeeded"}
    sent = [e["args"] for e in adapter.ledger() if e["operation"].endswith(".unplanned_failover")]
    assert [a["recovery_point_type"] for a in sent] == ["LatestApplicationConsistent"]
    for vm in VMS:
        item = adapter.replication.get_protected_item(VAULT, vm)
        assert item.recovery_point_id.rsplit("/", 1)[-1] == newest[vm].id.rsplit("/", 1)[-1]
