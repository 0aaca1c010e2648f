"""The Woodgrove runbooks, run with the Azure adapter against the ARM simulation: the SDK's real
pipeline sends every request; the requests are the documented ones."""

from __future__ import annotations

import json
import re
import sys

import pytest
from typer.testing import CliRunner

from adapters.ports import VaultRef
from engine import cli
from engine.cli import wiring
from tests.azure.conftest import open_azure
from tests.conftest import CHANGE_IP, SUBNET_FAILOVER
from tests.durable import VPN_KEY

VAULT = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/woodgrove-dr/providers/"
         "Microsoft.RecoveryServices/vaults/woodgrove-asr-vault")
VAULT_REF = VaultRef("00000000-0000-0000-0000-000000000000", "woodgrove-dr", "woodgrove-asr-vault")
NETWORK = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/woodgrove-dr/providers/Microsoft.Network"


@pytest.fixture
def failover(arm, monkeypatch, tmp_path):
    """``failover`` in this process, its adapter the Azure one (on the ARM simulation)."""
    opened = []

    def adapter(settings, *, estate, azure, state, read_only, fresh=False):
        assert azure, "these tests run against Azure only"
        opened.append(open_azure(read_only=read_only))
        return opened[-1]

    monkeypatch.setattr(wiring, "open_adapter", adapter)
    monkeypatch.setenv("FAILOVER_LOG_FILE", str(tmp_path / "failover.log"))

    def run(*args: str):
        result = CliRunner().invoke(cli.app, [*args], catch_exceptions=False)
        return result

    yield run
    for a in opened:
        a.close()


def writes(arm) -> list[tuple[str, str]]:
    return [(s.method, s.path) for s in arm.writes]


def test_subnet_failover_succeeds_on_azure_and_sends_the_documented_requests(failover, arm, tmp_path):
    result = failover("run", str(SUBNET_FAILOVER), "--azure", "--yes", "--output", "json", "--log-format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["status"] == "succeeded"
    sent = writes(arm)
    moved = ("app01", "app02", "web01")
    items = {arm.item(vm).id.lower() for vm in moved}  # ASR names them by GUID, under /Subscriptions/
    patched = {path.lower() for method, path in sent if method == "PATCH"}
    assert patched == items  # static IPs: PATCH on the protected item
    actions = {path.rsplit("/", 1)[-1] for method, path in sent if method == "POST"}
    assert actions == {"plannedFailover", "failoverCommit"}
    assert ("PUT", f"{NETWORK}/connections/recovery-to-woodgrove") in sent or any(
        m == "PUT" and "/connections/" in p for m, p in sent)
    assert any(m == "PUT" and re.search(r"/localNetworkGateways/[^/]+$", p) for m, p in sent)
    assert any(m in ("PUT", "DELETE") and "/routeTables/" in p and "/routes/" in p for m, p in sent)
    # the estate behind ARM really moved: every VM of 192.168.1.0/24 runs in Azure, committed, with its own IP
    for vm in moved:
        item = arm.item(vm)
        assert (item.active_location, item.protection_state, item.allowed) == (
            "Recovery", "PlannedFailoverStatesBegin", ["CompleteMigration", "DisableProtection", "Failback"])
        assert [nic.ip for nic in item.recovered] == [item.nics[0].config.source_ip]


def test_a_second_run_sends_no_mutating_request(failover, arm):
    assert failover("run", str(SUBNET_FAILOVER), "--azure", "--yes").exit_code == 0
    before = len(arm.writes)
    second = failover("run", str(SUBNET_FAILOVER), "--azure", "--yes", "--output", "json")
    assert second.exit_code == 0, second.output
    assert len(arm.writes) == before, writes(arm)[before:]
    assert {s["action"] for s in json.loads(second.stdout)["steps"]} <= {"unchanged", "none", None}


def test_change_ip_runbook_succeeds_on_azure(failover, arm):
    result = failover("run", str(CHANGE_IP), "--azure", "--yes", "--output", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "succeeded"
    assert any(m == "PUT" and "/dnsZones/" in p for m, p in writes(arm))


@pytest.mark.parametrize("command", ["plan", "validate"])
def test_plan_and_validate_send_only_gets(failover, arm, command):
    result = failover(command, str(SUBNET_FAILOVER), "--azure", "--output", "json")
    assert result.exit_code == 0, result.output
    assert arm.sent, "the estate was read"
    assert {s.method for s in arm.sent} == {"GET"}


def test_dry_run_sends_only_gets(failover, arm):
    result = failover("run", str(SUBNET_FAILOVER), "--azure", "--dry-run", "--output", "json")
    assert result.exit_code == 0, result.output
    assert {s.method for s in arm.sent} == {"GET"}


def test_the_vpn_key_reaches_azure_and_nothing_else(failover, arm, tmp_path):
    result = failover("run", str(SUBNET_FAILOVER), "--azure", "--yes", "--output", "json", "--log-format", "json")
    assert result.exit_code == 0
    assert any(VPN_KEY in s.body for s in arm.writes if "/connections/" in s.path)  # sent where it belongs
    assert VPN_KEY not in result.output
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert VPN_KEY.encode() not in path.read_bytes(), path




def test_an_item_in_a_state_the_model_does_not_know_stops_the_run_naming_it(failover, arm, monkeypatch, capsys):
    """Nothing is decided from a guess: the service reporting a protection state the model does not know
    is a failure (exit 1) that names the value and the item, with no traceback and no write."""
    arm.item("app01").protection_state = "ProtectedButBewildered"
    monkeypatch.setattr(sys, "argv", ["failover", "run", str(SUBNET_FAILOVER), "--azure", "--yes"])
    with pytest.raises(SystemExit) as stopped:
        cli.main()  # the command line as the console script runs it
    err = capsys.readouterr().err
    assert stopped.value.code == 1, err
    assert "unknown state 'ProtectedButBewildered' on app01 (field protectionState" in err
    assert "Traceback" not in err and not arm.writes


def test_a_vm_with_two_nics_is_updated_by_the_names_the_item_gives_and_its_second_nic_addressed(monkeypatch):
    """The item's NICs and IP configurations have names of their own, and the primary NIC is the one the
    item selected, listed second here: each PATCH names the NIC and its IP configuration as the item does."""
    import yaml

    from tests.azure.arm import ArmService
    from tests.azure.arm.mock import mocked
    from tests.conftest import WOODGROVE
    from tests.engine.runbooks import run, statuses

    estate = yaml.safe_load(WOODGROVE.read_text())
    estate["vaults"]["woodgrove-asr-vault"]["protected_items"]["multi01"] = {"nics": [
        {"id": "multi01-back", "ip_config": "back-ip", "source_ip": "192.168.2.30", "primary": False},
        {"id": "multi01-front", "ip_config": "front-ip", "source_ip": "192.168.1.30", "primary": True}]}
    with mocked(ArmService(estate)) as arm:
        azure = open_azure()
        item = azure.replication.get_protected_item(VAULT_REF, "multi01")
        assert item.primary_nic.nic_id == "multi01-front" and item.primary_nic.ip_config == "front-ip"
        result = run("""\
            steps:
              - {id: front, uses: asr.set_target_ip, with: {item: multi01, network: recovery-vnet, subnet: app,
                                                             ip: 192.168.1.30}}
              - {id: back, uses: asr.set_target_ip, needs: [front], with: {item: multi01, nic: multi01-back,
                                                             network: recovery-vnet, subnet: app, ip: 192.168.1.31}}
        """, azure)
        azure.close()
    assert statuses(result) == {"front": "succeeded", "back": "succeeded"}
    patches = [s.json()["properties"]["vmNics"] for s in arm.writes if s.method == "PATCH"]
    assert [(n[0]["nicId"], n[0]["ipConfigs"][0]["ipConfigName"]) for n in patches] == [
        ("multi01-front", "front-ip"), ("multi01-back", "back-ip")]
    configs = {nic.nic_id: nic.config.recovery_ip for nic in arm.item("multi01").nics}
    assert configs == {"multi01-front": "192.168.1.30", "multi01-back": "192.168.1.31"}
