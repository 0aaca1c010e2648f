"""``failover snapshot --azure``: the real estate, read with GETs only, as an estate file the fake can
rehearse on; no secret in it."""

from __future__ import annotations

import yaml

from adapters.fake import FakeAdapter
from adapters.fake.schema import load_estate
from adapters.ports import VaultRef
from tests.azure.test_runbooks import failover  # noqa: F401  the CLI on the Azure adapter
from tests.conftest import SUBNET_FAILOVER, run_cli
from tests.durable import VPN_KEY

VAULT = VaultRef("00000000-0000-0000-0000-000000000000", "woodgrove-dr", "woodgrove-asr-vault")


def test_snapshot_writes_an_estate_the_fake_can_rehearse_on(failover, arm, tmp_path):  # noqa: F811
    out = tmp_path / "copy.yaml"
    result = failover("snapshot", str(SUBNET_FAILOVER), "--azure", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert {s.method for s in arm.sent} == {"GET"}
    assert VPN_KEY not in out.read_text()
    estate = load_estate(out)  # valid by the estate schema
    original = arm.fake
    assert set(estate.vaults["woodgrove-asr-vault"].protected_items) == {
        i.vm_name for i in original.replication.list_protected_items(VAULT)}
    assert estate.vaults["woodgrove-asr-vault"].recovery_plans["app-subnet"].groups
    assert estate.local_network_gateways["woodgrove-onprem"].prefixes == list(
        original.network.get_local_gateway(
            "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/woodgrove-dr/providers/"
            "Microsoft.Network/localNetworkGateways/woodgrove-onprem").address_prefixes)
    assert estate.route_tables["woodgrove-rt"].routes["onprem-app"].next_hop == "VirtualAppliance"
    # and the copy is a faithful place to rehearse: the same runbook runs to success on it
    copy = FakeAdapter.from_estate(estate.model_copy(update={"simulation": estate.simulation}))
    from tests.engine.runbooks import run, statuses

    outcome = run(SUBNET_FAILOVER, copy)
    assert set(statuses(outcome).values()) == {"succeeded"}, {s.id: s.error for s in outcome.steps}


def test_snapshot_needs_azure():
    result = run_cli("snapshot", str(SUBNET_FAILOVER))
    assert result.returncode == 2
    assert "CLI003" in result.stderr and "--azure" in result.stderr and "Traceback" not in result.stderr


def test_snapshot_is_in_the_fake_estate_format_with_a_header(failover, arm, tmp_path):  # noqa: F811
    out = tmp_path / "copy.yaml"
    failover("snapshot", "--azure", "-o", str(out), "--subscription", VAULT.subscription,
             "--resource-group", VAULT.resource_group, "--vault", VAULT.vault)
    text = out.read_text()
    assert text.startswith("# A snapshot")
    assert yaml.safe_load(text)["simulation"]["throttle"] is None
