"""``failover snapshot --azure``: the real estate, read with GETs only, as an estate file the fake can
rehearse on; no secret in it."""

from __future__ import annotations

import yaml

from adapters.fake import FakeAdapter
from adapters.ports import VaultRef
from adapters.shared.estate import load_estate
from tests.azure.test_runbooks import failover  # noqa: F401  the CLI on the Azure adapter
from tests.conftest import SUBNET_FAILOVER, run_cli
from tests.durable import VPN_KEY

VAULT = VaultRef("00000000-0000-0000-0000-000000000000", "woodgrove-dr", "woodgrove-asr-vault")


def test_snapshot_writes_an_estate_the_fake_can_rehearse_on(failover, arm, tmp_path):  # noqa: F811
    out = tmp_path / "copy.yaml"
    result = failover("snapshot", str(SUBNET_FAILOVER), "--azure", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert {s.method for s in arm.sent} == {"GET"}
    assert VPN_KEY not in out.read_text()
    estate = load_estate(out)  # valid by the estate schema
    items = estate.vaults["woodgrove-asr-vault"].protected_items
    assert set(items) == {"app01", "app02", "web01", "db01"}
    app01 = items["app01"]
    assert (app01.state, app01.active_location, app01.test_failover_state) == ("Protected", "Primary", "None")
    nic = arm.item("app01").nics[0]
    assert [(n.id, n.ip_config, n.source_ip) for n in app01.nics] == [
        (nic.nic_id, nic.config.name, "192.168.1.10")]  # the NIC and IP configuration as ASR names them
    assert estate.vaults["woodgrove-asr-vault"].recovery_plans["app-subnet"].groups
    assert estate.local_network_gateways["woodgrove-onprem"].prefixes == ["192.168.0.0/16"]
    assert estate.route_tables["woodgrove-rt"].routes["onprem-app"].next_hop == "VirtualAppliance"
    # and the copy is a faithful place to rehearse: the same runbook runs to success on it
    copy = FakeAdapter.from_estate(estate.model_copy(update={"simulation": estate.simulation}))
    from tests.engine.runbooks import run, statuses

    outcome = run(SUBNET_FAILOVER, copy)
    assert set(statuses(outcome).values()) == {"succeeded"}, {s.id: s.error for s in outcome.steps}


def test_a_snapshot_of_a_failed_over_estate_starts_the_rehearsal_where_azure_is(failover, arm, tmp_path):  # noqa: F811
    """After a failover, the copy keeps each item's state and active location: the rehearsal of the same
    runbook finds every VM failed over and committed, and the network moved (only the connections' keys,
    which a snapshot leaves out, are set again)."""
    assert failover("run", str(SUBNET_FAILOVER), "--azure", "--yes").exit_code == 0
    out = tmp_path / "after.yaml"
    assert failover("snapshot", str(SUBNET_FAILOVER), "--azure", "--out", str(out)).exit_code == 0
    item = load_estate(out).vaults["woodgrove-asr-vault"].protected_items["app01"]
    assert (item.state, item.active_location) == ("PlannedFailoverStatesBegin", "Recovery")
    copy = FakeAdapter.from_estate(load_estate(out))
    from tests.engine.runbooks import run

    outcome = run(SUBNET_FAILOVER, copy)
    acted = {s.id: [c.field for c in s.changes] for s in outcome.steps if str(s.status) != "unchanged"}
    assert acted == {"connect-recovery-to-hub": ["shared_key"], "connect-hub-to-recovery": ["shared_key"]}


def test_snapshot_needs_azure():
    result = run_cli("snapshot", str(SUBNET_FAILOVER))
    assert result.returncode == 2
    assert "CLI003" in result.stderr and "--azure" in result.stderr and "Traceback" not in result.stderr


def test_snapshot_is_in_the_fake_estate_format_with_a_header(failover, arm, tmp_path):  # noqa: F811
    out = tmp_path / "copy.yaml"
    failover("snapshot", "--azure", "--out", str(out), "--subscription", VAULT.subscription,
             "--resource-group", VAULT.resource_group, "--vault", VAULT.vault)
    text = out.read_text()
    assert text.startswith("# A snapshot")
    assert yaml.safe_load(text)["simulation"]["throttle"] is None
