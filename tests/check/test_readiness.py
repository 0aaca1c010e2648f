"""`failover check` on the fake Woodgrove estate: the unmodified estate is ready, and each drift,
introduced alone, is reported with its code and resource, and only it."""

from __future__ import annotations

import pytest
import yaml

from adapters.fake import FakeAdapter
from adapters.shared.estate import Estate
from engine.check.readiness import check
from engine.model.loader import load_runbook
from tests.conftest import FAST, SUBNET_FAILOVER, WOODGROVE, merge


@pytest.fixture
def fake():
    data = yaml.safe_load(WOODGROVE.read_text())
    data["simulation"] = merge(FAST, {})
    adapter = FakeAdapter.from_estate(Estate.model_validate(data))
    yield adapter
    adapter.close()


@pytest.fixture(scope="module")
def runbook():
    return load_runbook(SUBNET_FAILOVER)


def found(document: dict) -> list[tuple[str, str]]:
    return [(f["code"], f["resource"]) for f in document["findings"]]


# Each drift an operator meets between drills, as `failover fake drift` makes it, and what check says.
DRIFTS = {
    "a VM newly protected on the moved subnet": (
        lambda d: d.protect("web02", "192.168.1.30"), [("RDY001", "protected item web02")]),
    "a recovery IP taken": (
        lambda d: d.take_ip("recovery-vnet", "app", "192.168.1.11", "intruder"), [("RDY004", "IP 192.168.1.11 in recovery-vnet")]),
    "the on-premises gateway's prefixes edited": (
        lambda d: d.local_gateway_prefixes("woodgrove-onprem", ["192.168.0.0/16", "10.10.0.0/24"]),
        [("NET004", "connection recovery-to-woodgrove")]),
    "a route to the old site added": (
        lambda d: d.route("woodgrove-rt", "onprem-app-half", "192.168.1.0/25", "VirtualAppliance", "172.16.2.4"),
        [("NET006", "route table woodgrove-rt")]),
    "the recovery gateway deleted": (
        lambda d: d.delete("gateway", "recovery-gw"), [("NET008", "connection recovery-to-woodgrove")]),
    "replication gone critical": (
        lambda d: d.health("app02", "Critical", ["Replication is paused"]), [("RDY002", "protected item app02")]),
    "the latest recovery point hours old": (
        lambda d: d.recovery_point_age("web01", 3 * 3600), [("RDY003", "protected item web01")]),
    "no vCPU quota left for the family": (
        lambda d: d.quota("standardDSv3Family", 48, None), [("RDY005", "quota standardDSv3Family in westeurope")]),
    "no regional vCPU quota left": (
        lambda d: d.quota("cores", 99, None), [("RDY005", "quota cores in westeurope")]),
    "a VM size the region does not offer": (
        lambda d: d.vm_size("app01", "Standard_M416ms_v2"), [("RDY005", "VM size Standard_M416ms_v2 in westeurope")]),
}


def test_the_unmodified_estate_is_ready(fake, runbook):
    """Nothing drifted: no finding, ready."""
    document = check(runbook, {}, fake)
    assert document["ready"] and document["findings"] == [], found(document)


@pytest.mark.parametrize("drift", list(DRIFTS))
def test_each_drift_alone_is_reported_with_its_code_and_resource(fake, runbook, drift):
    """One drift, one finding: its code and resource, and nothing else."""
    change, expected = DRIFTS[drift]
    change(fake.drift)
    document = check(runbook, {}, fake)
    assert not document["ready"]
    assert found(document) == expected
    assert all(f["fix"] and f["message"] for f in document["findings"])


def test_a_secret_that_cannot_be_read_is_a_finding_not_an_invalid_runbook(fake, runbook, monkeypatch):
    """The VPN key's variable unset (and no rehearsal stand-in for it): RDY006 names the secret's source;
    the rest is still checked."""
    monkeypatch.delenv("WOODGROVE_VPN_KEY")
    monkeypatch.setattr(fake, "stand_in_secrets", {})
    document = check(runbook, {}, fake)
    assert found(document) == [("RDY006", "secret env:WOODGROVE_VPN_KEY")]


def test_a_key_vault_secret_deleted_is_found(fake, tmp_path):
    """A runbook reading its key from Key Vault: the secret deleted from the vault is RDY006."""
    text = SUBNET_FAILOVER.read_text().replace("from: env:WOODGROVE_VPN_KEY", "from: keyvault:woodgrove-kv/vpn-shared-key")
    path = tmp_path / "kv.yaml"
    path.write_text(text)
    loaded = load_runbook(path)
    assert check(loaded, {}, fake)["ready"]
    fake.drift.remove_secret("woodgrove-kv", "vpn-shared-key")
    assert found(check(loaded, {}, fake)) == [("RDY006", "secret keyvault:woodgrove-kv/vpn-shared-key")]


def test_a_vm_already_in_azure_is_not_held_to_replication(fake, runbook):
    """An item that failed over no longer replicates to Azure: its health is not a finding."""
    fake.drift.health("app01", "Critical", ["Replication is paused"])
    vault = runbook.runbook.target.vault_ref(None)
    fake.store.put("item", {**fake.store.get("item", "app01"),
                            "state": {**fake.store.get("item", "app01")["state"], "activeLocation": "Recovery",
                                      "protectionState": "PlannedFailoverCommitRequired"}})
    assert fake.replication.get_protected_item(vault, "app01").state.failed_over
    assert ("RDY002", "protected item app01") not in found(check(runbook, {}, fake))


def test_drift_since_the_previous_check(fake, runbook):
    """Compared with the previous check: a finding is new, then ongoing since the check that found it,
    then resolved; what changed on its resource is named (before -> after)."""
    first = check(runbook, {}, fake)
    fake.drift.local_gateway_prefixes("woodgrove-onprem", ["192.168.0.0/16", "10.10.0.0/24"])
    second = check(runbook, {}, fake, previous=first)
    finding = second["findings"][0]
    assert (finding["status"], second["new"], second["previous"]) == ("new", 1, first["check_id"])
    assert {"resource": "local network gateway woodgrove-onprem", "before": "prefixes 192.168.0.0/16",
            "after": "prefixes 10.10.0.0/24, 192.168.0.0/16"} in finding["changed"]
    third = check(runbook, {}, fake, previous=second)
    assert (third["findings"][0]["status"], third["findings"][0]["since"], third["new"]) == (
        "ongoing", second["check_id"], 0)
    assert third["changes"] == []
    fake.drift.local_gateway_prefixes("woodgrove-onprem", ["192.168.0.0/16"])
    fourth = check(runbook, {}, fake, previous=third)
    assert fourth["ready"] and [r["code"] for r in fourth["resolved"]] == ["NET004"]


def test_check_sends_no_write(fake, runbook):
    """The ledger counts every mutating call: a check adds nothing to it."""
    fake.drift.protect("web02", "192.168.1.30")
    check(runbook, {}, fake)
    assert fake.ledger() == []

