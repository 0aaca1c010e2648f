"""The ARM double (``tests/azure/arm``) at the HTTP level, driven by the real SDK clients through their real
pipeline: its answers are the REST specs' example payloads, moved by its own logical time."""

from __future__ import annotations

import http.client
import json
import signal
import ssl
import time
from pathlib import Path

import pytest
import requests
import yaml
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError, ServiceRequestError, ServiceResponseError
from azure.core.serialization import NULL
from azure.identity import AzureCliCredential
from azure.keyvault.secrets import SecretClient
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.network import models as nm
from azure.mgmt.recoveryservicessiterecovery import SiteRecoveryManagementClient
from azure.mgmt.recoveryservicessiterecovery import models as m

from tests.azure.arm import ArmService, item_name, specs
from tests.azure.arm.client import prepare_cli
from tests.azure.arm.mock import mocked
from tests.azure.arm.server import ArmServer
from tests.azure.conftest import InstantTransport, StaticCredential

ROOT = Path(__file__).resolve().parents[2]
WOODGROVE = ROOT / "config" / "estates" / "woodgrove.yaml"
SUBNET_FAILOVER = ROOT / "runbooks" / "woodgrove-subnet-failover.yaml"
SUB = "00000000-0000-0000-0000-000000000000"
RG, VAULT = "woodgrove-dr", "woodgrove-asr-vault"
FABRIC, CONTAINER = "woodgrove-hyperv-site", "woodgrove-hyperv-site-container"
NET = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Network"
RECOVERY_VNET, TEST_VNET = f"{NET}/virtualNetworks/recovery-vnet", f"{NET}/virtualNetworks/test-vnet"
VAULT_ID = f"/Subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.RecoveryServices/vaults/{VAULT}"
ASR = "recoveryservicessiterecovery"
STATE_FIELDS = ("activeLocation", "allowedOperations", "protectionState", "protectionStateDescription",
                "testFailoverState", "testFailoverStateDescription", "replicationHealth")
VPN_KEY = "double-test-vpn-key"




@pytest.fixture
def arm():
    with mocked(ArmService(WOODGROVE, env={"WOODGROVE_VPN_KEY": VPN_KEY})) as service:
        yield service


def clients(cls, **kwargs):
    return cls(StaticCredential(), SUB, retry_total=0, transport=InstantTransport(), polling_interval=0, **kwargs)


@pytest.fixture
def asr(arm):
    client = clients(SiteRecoveryManagementClient)
    yield client
    client.close()


@pytest.fixture
def network(arm):
    client = clients(NetworkManagementClient)
    yield client
    client.close()


# --- helpers ---------------------------------------------------------------------------------------


def path(vm: str) -> tuple[str, str, str, str, str]:
    return RG, VAULT, FABRIC, CONTAINER, item_name(vm)


def props(asr, vm: str) -> dict:
    return asr.replication_protected_items.get(*path(vm)).as_dict()["properties"]


def example_state(operation: str) -> dict:
    found = specs.body(ASR, operation)["properties"]
    return {k: found[k] for k in STATE_FIELDS}


def state(doc: dict) -> dict:
    return {k: doc[k] for k in STATE_FIELDS}


def job_of(doc: dict) -> str:
    return doc["currentScenario"]["jobId"].rsplit("/", 1)[-1]


def accepted(begin, *args) -> tuple[int, dict, str]:
    """Start an operation without polling; its raw answer (status, headers, body)."""
    seen = {}

    def capture(response):
        if response.http_request.method in ("POST", "PATCH"):
            answer = response.http_response
            seen.update(status=answer.status_code, headers=dict(answer.headers), body=answer.read().decode())

    begin(*args, polling=False, raw_response_hook=capture)
    return seen["status"], seen["headers"], seen["body"]


def planned() -> m.PlannedFailoverInput:
    return m.PlannedFailoverInput(properties=m.PlannedFailoverInputProperties(
        failover_direction="PrimaryToRecovery", provider_specific_details=m.HyperVReplicaAzurePlannedFailoverProviderInput()))


def unplanned() -> m.UnplannedFailoverInput:
    return m.UnplannedFailoverInput(properties=m.UnplannedFailoverInputProperties(
        failover_direction="PrimaryToRecovery", source_site_operations="NotRequired",
        provider_specific_details=m.HyperVReplicaAzureUnplannedFailoverInput()))


def test_failover(network_id: str = TEST_VNET) -> m.TestFailoverInput:
    return m.TestFailoverInput(properties=m.TestFailoverInputProperties(
        failover_direction="PrimaryToRecovery", network_type="VmNetworkAsInput", network_id=network_id,
        provider_specific_details=m.HyperVReplicaAzureTestFailoverInput()))


test_failover.__test__ = False  # a request body, not a test


def until_done(asr, vm: str, limit: int = 10) -> dict:
    """Read the item until no job runs on it (each read moves its job one step)."""
    for _ in range(limit):
        doc = props(asr, vm)
        if doc["currentScenario"]["scenarioName"] == "None" or doc["allowedOperations"]:
            return doc
    raise AssertionError(f"{vm} still busy: {doc['currentScenario']}")


def update(asr, vm: str, **ip_config) -> m.ReplicationProtectedItem:
    """PATCH the item's first NIC's IP configuration (and networks) through the SDK's poller."""
    nic = props(asr, vm)["providerSpecificDetails"]["vmNics"][0]
    networks = {k: ip_config.pop(k) for k in ("selected_recovery_azure_network_id", "selected_tfo_azure_network_id")
                if k in ip_config}
    body = m.UpdateReplicationProtectedItemInput(properties=m.UpdateReplicationProtectedItemInputProperties(
        **networks, vm_nics=[m.VMNicInputDetails(nic_id=nic["nicId"], selection_type="SelectedByUser", ip_configs=[
            m.IPConfigInputDetails(ip_config_name=nic["ipConfigs"][0]["name"], **ip_config)])],
        provider_specific_details=m.HyperVReplicaAzureUpdateReplicationProtectedItemInput()))
    return asr.replication_protected_items.begin_update(*path(vm), body).result()


def keep_ip(asr, vm: str, ip: str):
    return update(asr, vm, selected_recovery_azure_network_id=RECOVERY_VNET, recovery_subnet_name="app",
                  recovery_static_ip_address=ip)


def woodgrove(**changes) -> dict:
    data = yaml.safe_load(WOODGROVE.read_text())
    for key, value in changes.items():
        data[key] = value
    return data


# --- the example payloads --------------------------------------------------------------------------


def test_an_example_is_a_fresh_copy_found_by_operation_id_or_file_name():
    """Templates are deep copies: changing one never changes the next."""
    first = specs.body(ASR, "ReplicationProtectedItems_Get")
    first["properties"]["friendlyName"] = "changed"
    assert specs.body(ASR, "ReplicationProtectedItems_Get")["properties"]["friendlyName"] == "vm1"
    assert specs.example("network", "VirtualNetworks_Get") == specs.example("network", "VirtualNetworkGet")
    assert specs.headers(ASR, "ReplicationProtectedItems_PlannedFailover", 202)["Retry-After"] == "30"


# --- protected items -------------------------------------------------------------------------------


def test_an_idle_item_keeps_every_field_of_the_example_and_names_no_job(asr):
    """An idle item is the Get example with the estate's names: jobId ends in replicationJobs/None."""
    doc = asr.replication_protected_items.get(*path("app01")).as_dict()
    example = specs.body(ASR, "ReplicationProtectedItems_Get")
    assert doc["name"] == item_name("app01") != "app01"
    assert doc["id"].startswith(f"{VAULT_ID}/replicationFabrics/{FABRIC}/replicationProtectionContainers/")
    p = doc["properties"]
    assert set(example["properties"]) <= set(p)
    for kept in ("policyFriendlyName", "protectedItemType", "recoveryFabricFriendlyName", "recoveryFabricId",
                 "recoveryProtectionContainerFriendlyName", *STATE_FIELDS):
        assert p[kept] == example["properties"][kept], kept
    assert p["friendlyName"] == "app01"
    assert p["currentScenario"] == {"jobId": f"{VAULT_ID}/replicationJobs/None", "scenarioName": "None",
                                    "startTime": "1753-01-01T01:01:01Z"}
    details = p["providerSpecificDetails"]
    assert details["instanceType"] == "HyperVReplicaAzure"
    (nic,) = details["vmNics"]
    assert nic["selectionType"] == "SelectedByUser" and "/" not in nic["nicId"]  # opaque, as ASR gives it
    assert nic["ipConfigs"] == [{"name": "ipconfig1", "isPrimary": True, "staticIPAddress": "192.168.1.10",
                                 "ipAddressType": "Static", "isSeletedForFailover": True}]


def test_nics_and_ip_configurations_keep_the_names_the_estate_gives():
    """A VM with named NICs shows them under those names, each with its own IP configuration's name."""
    data = woodgrove()
    data["vaults"][VAULT]["protected_items"]["web01"] = {"nics": [
        {"id": "web01-front", "ip_config": "front-ip", "source_ip": "192.168.1.20"},
        {"id": "web01-back", "ip_config": "back-ip", "source_ip": "192.168.2.20", "primary": True,
         "recovery": {"network": "recovery-vnet", "subnet": "app", "ip": "192.168.1.21"}}]}
    with mocked(ArmService(data)):
        client = clients(SiteRecoveryManagementClient)
        details = props(client, "web01")["providerSpecificDetails"]
    assert [(n["nicId"], n["ipConfigs"][0]["name"]) for n in details["vmNics"]] == [("web01-front", "front-ip"),
                                                                                    ("web01-back", "back-ip")]
    assert details["selectedRecoveryAzureNetworkId"] == RECOVERY_VNET  # the primary NIC's
    assert details["vmNics"][1]["ipConfigs"][0]["recoveryStaticIPAddress"] == "192.168.1.21"


def test_the_item_list_pages_with_next_link_and_the_sdk_reads_every_item(arm, asr):
    """Two items a page: the SDK follows the absolute nextLink and gets all four."""
    names = [i.properties.friendly_name for i in asr.replication_protected_items.list(RG, VAULT)]
    assert names == ["app01", "app02", "web01", "db01"]
    lists = [s for s in arm.sent if s.path.endswith("/replicationProtectedItems")]
    assert len(lists) == 2 and "$skipToken" in lists[1].query
    first = json.loads(arm.handle("GET", f"https://management.azure.com{lists[0].path}?api-version=2025-08-01")[2])
    assert first["nextLink"].startswith(f"https://management.azure.com/subscriptions/{SUB}/")


def test_a_failover_is_accepted_with_only_an_async_operation_and_its_job_queues_then_runs(asr):
    """202, no body, Azure-AsyncOperation and Retry-After only; the item names the job at once: NotStarted,
    InProgress twice, then Succeeded, one step per read."""
    status, headers, body = accepted(asr.replication_protected_items.begin_planned_failover, *path("app01"), planned())
    assert status == 202 and body == ""
    assert "Location" not in headers and headers["Retry-After"] == "30"
    operation = headers["Azure-AsyncOperation"].split("?")[0].rsplit("/", 1)[-1]
    assert f"{VAULT_ID}/replicationOperationStatus/{operation}" in headers["Azure-AsyncOperation"]
    doc = props(asr, "app01")
    job = job_of(doc)
    assert job != operation and doc["currentScenario"]["scenarioName"] == "PlannedFailover"
    assert doc["allowedOperations"] == []
    with pytest.raises(ResourceNotFoundError):
        asr.replication_jobs.get(RG, VAULT, operation)  # the operation is not the job
    states = [asr.replication_jobs.get(RG, VAULT, job).properties.state for _ in range(3)]
    assert ["NotStarted", *states] == ["NotStarted", "InProgress", "InProgress", "Succeeded"]
    finished = asr.replication_jobs.get(RG, VAULT, job).as_dict()["properties"]
    assert finished["stateDescription"] == "Completed" and finished["targetObjectName"] == "app01"
    assert finished["endTime"] and finished["errors"] == []


def test_the_states_after_planned_failover_and_commit_are_the_examples(asr):
    """A planned failover ends as PI_PlannedFailover shows; its commit as PI_FailoverCommit shows."""
    keep_ip(asr, "app01", "192.168.1.10")
    accepted(asr.replication_protected_items.begin_planned_failover, *path("app01"), planned())
    assert state(until_done(asr, "app01")) == example_state("ReplicationProtectedItems_PlannedFailover")
    accepted(asr.replication_protected_items.begin_failover_commit, *path("app01"))
    assert props(asr, "app01")["currentScenario"]["scenarioName"] == "CommitFailover"
    assert state(until_done(asr, "app01")) == example_state("ReplicationProtectedItems_FailoverCommit")


def test_the_state_after_unplanned_failover_is_the_example(asr):
    """An unplanned failover ends as PI_UnplannedFailover shows (UnplannedFailoverCommitPendingStatesBegin)."""
    accepted(asr.replication_protected_items.begin_unplanned_failover, *path("db01"), unplanned())
    assert state(until_done(asr, "db01")) == example_state("ReplicationProtectedItems_UnplannedFailover")
    accepted(asr.replication_protected_items.begin_failover_commit, *path("db01"))
    assert until_done(asr, "db01")["protectionState"] == "UnplannedFailoverCommitted"


def test_a_test_failover_waits_suspended_for_its_cleanup_as_the_examples_show(arm, asr):
    """After a test failover the item is PI_TestFailover's and names its Suspended job (WaitingForStopTestFailover);
    the cleanup ends that job and leaves the item as PI_TestFailoverCleanup shows."""
    update(asr, "app01", selected_tfo_azure_network_id=TEST_VNET, tfo_subnet_name="app", tfo_static_ip_address="192.168.1.10")
    accepted(asr.replication_protected_items.begin_test_failover, *path("app01"), test_failover())
    doc = until_done(asr, "app01")
    assert state(doc) == example_state("ReplicationProtectedItems_TestFailover")
    assert doc["currentScenario"]["scenarioName"] == "TestFailover"
    test_job = asr.replication_jobs.get(RG, VAULT, job_of(doc)).as_dict()["properties"]
    resume = specs.body(ASR, "ReplicationJobs_Resume")["properties"]
    for field in ("state", "stateDescription", "allowedActions", "scenarioName", "friendlyName", "targetInstanceType"):
        assert test_job[field] == resume[field], field
    assert test_job["customDetails"]["protectedItemDetails"][0]["networkFriendlyName"] == "test-vnet"
    assert [(n.name, n.ip) for n in arm.item("app01").test_nics] == [("app01-test-nic0", "192.168.1.10")]

    cleanup = m.TestFailoverCleanupInput(properties=m.TestFailoverCleanupInputProperties(comments="drill over"))
    accepted(asr.replication_protected_items.begin_test_failover_cleanup, *path("app01"), cleanup)
    running = props(asr, "app01")
    assert running["currentScenario"]["scenarioName"] == "TestFailoverCleanup" and running["allowedOperations"] == []
    assert state(until_done(asr, "app01")) == example_state("ReplicationProtectedItems_TestFailoverCleanup")
    ended = asr.replication_jobs.get(RG, VAULT, job_of(doc)).properties
    assert (ended.state, ended.state_description) == ("Succeeded", "Completed")
    assert arm.item("app01").test_nics == []


def test_an_operation_the_item_does_not_allow_is_refused_naming_its_state(asr):
    """400 OperationNotAllowed: a commit on an idle item, a second failover while the first runs, a cancel."""
    with pytest.raises(HttpResponseError) as idle:
        accepted(asr.replication_protected_items.begin_failover_commit, *path("app01"))
    assert idle.value.status_code == 400 and idle.value.error.code == "OperationNotAllowed"
    assert "Protected" in idle.value.error.message
    accepted(asr.replication_protected_items.begin_planned_failover, *path("app01"), planned())
    with pytest.raises(HttpResponseError) as busy:
        accepted(asr.replication_protected_items.begin_unplanned_failover, *path("app01"), unplanned())
    assert "while job" in busy.value.error.message
    until_done(asr, "app01")
    with pytest.raises(HttpResponseError) as cancel:  # Hyper-V to Azure items never offer CancelFailover
        accepted(asr.replication_protected_items.begin_failover_cancel, *path("app01"))
    assert cancel.value.error.code == "OperationNotAllowed"


def test_a_failover_fails_when_its_recovery_ip_is_held_by_another_nic():
    """The job Fails with the service's error and the item is left as it was, when its recovery IP is taken."""
    data = woodgrove(virtual_machines={"squatter": {"vnet": "recovery-vnet", "subnet": "app", "ip": "192.168.1.10"}})
    data["vaults"][VAULT]["protected_items"]["app01"]["recovery"] = {"network": "recovery-vnet", "subnet": "app",
                                                                     "ip": "192.168.1.10"}
    with mocked(ArmService(data)):
        client = clients(SiteRecoveryManagementClient)
        _, headers, _ = accepted(client.replication_protected_items.begin_planned_failover, *path("app01"), planned())
        doc = props(client, "app01")
        job = job_of(doc)
        until_done(client, "app01")
        failed = client.replication_jobs.get(RG, VAULT, job).as_dict()["properties"]
        operation = requests.get(headers["Azure-AsyncOperation"], timeout=10).json()
        after = props(client, "app01")
    assert failed["state"] == "Failed" and failed["stateDescription"] == "Failed"
    (error,) = failed["errors"]
    assert error["serviceErrorDetails"]["code"] == "PrivateIPAddressInUse"
    assert "squatter" in error["serviceErrorDetails"]["message"]
    assert operation["status"] == "Failed" and operation["error"]["code"] == "PrivateIPAddressInUse"
    assert state(after) == example_state("ReplicationProtectedItems_Get")  # left as it was


def test_jobs_list_newest_first_in_pages(arm, asr):
    """The job list pages with nextLink, newest job first."""
    for vm in ("app01", "app02", "web01"):
        accepted(asr.replication_protected_items.begin_test_failover, *path(vm), test_failover())
    names = [j.name for j in asr.replication_jobs.list(RG, VAULT)]
    assert names == [j.name for j in arm.jobs()] and len(names) == 3
    assert len([s for s in arm.sent if s.path.endswith("/replicationJobs")]) == 2


# --- the update: merge patch, validation, its job ------------------------------------------------------


def test_a_patch_with_null_clears_the_test_failover_fields_and_an_absent_field_keeps_its_value(arm, asr):
    """JSON null removes a field, an absent one keeps its value; the update is a job polled at Retry-After."""
    update(asr, "app01", selected_recovery_azure_network_id=RECOVERY_VNET, recovery_subnet_name="app",
           recovery_static_ip_address="192.168.1.10", selected_tfo_azure_network_id=TEST_VNET, tfo_subnet_name="app",
           tfo_static_ip_address="192.168.1.10")
    assert asr._client._pipeline._transport.sleeps and set(asr._client._pipeline._transport.sleeps) == {30}
    patch = [s for s in arm.sent if s.method == "PATCH"][-1]
    assert arm.jobs()[0].scenario == "UpdateVmProperties" and arm.jobs()[0].state == "Succeeded"
    assert patch.status == 202
    cleared = update(asr, "app01", selected_tfo_azure_network_id=NULL, tfo_subnet_name=NULL, tfo_static_ip_address=NULL)
    sent = [s for s in arm.sent if s.method == "PATCH"][-1].json()["properties"]
    assert sent["selectedTfoAzureNetworkId"] is None and "selectedRecoveryAzureNetworkId" not in sent
    details = cleared.as_dict()["properties"]["providerSpecificDetails"]
    config = details["vmNics"][0]["ipConfigs"][0]
    assert "selectedTfoAzureNetworkId" not in details and "tfoVMNetworkId" not in details["vmNics"][0]
    assert "tfoSubnetName" not in config and "tfoStaticIPAddress" not in config
    assert details["selectedRecoveryAzureNetworkId"] == RECOVERY_VNET
    assert (config["recoverySubnetName"], config["recoveryStaticIPAddress"]) == ("app", "192.168.1.10")


@pytest.mark.parametrize("ip_config, code", [
    ({"recovery_subnet_name": "app", "recovery_static_ip_address": "10.10.0.5"}, "InvalidStaticIpAddress"),
    ({"recovery_subnet_name": "app", "recovery_static_ip_address": "192.168.1.255"}, "IpAddressReservedByPlatform"),
    ({"recovery_subnet_name": "app", "recovery_static_ip_address": "192.168.1.3"}, "IpAddressReservedByPlatform"),
    ({"recovery_subnet_name": "data", "recovery_static_ip_address": "192.168.1.10"}, "InvalidSubnetName"),
    ({"recovery_subnet_name": "app", "recovery_static_ip_address": "192.168.1.11"}, "PrivateIPAddressInUse"),
])
def test_an_update_azure_would_refuse_is_400(asr, ip_config, code):
    """An IP outside its subnet, one Azure reserves, a missing subnet, another item's target: 400 with the code."""
    keep_ip(asr, "app02", "192.168.1.11")
    with pytest.raises(HttpResponseError) as refused:
        update(asr, "app01", selected_recovery_azure_network_id=RECOVERY_VNET, **ip_config)
    assert refused.value.status_code == 400 and refused.value.error.code == code


def test_an_update_naming_a_nic_or_ip_configuration_the_item_lacks_is_400(asr):
    """The NIC and the IP configuration are the item's own names: any other is InvalidNicId/InvalidIpConfigName."""
    for nic_id, config, code in (("app01-nic0", "ipconfig1", "InvalidNicId"), (None, "app01-nic0-ipconfig", "InvalidIpConfigName")):
        nic_id = nic_id or props(asr, "app01")["providerSpecificDetails"]["vmNics"][0]["nicId"]
        body = m.UpdateReplicationProtectedItemInput(properties=m.UpdateReplicationProtectedItemInputProperties(
            vm_nics=[m.VMNicInputDetails(nic_id=nic_id, ip_configs=[m.IPConfigInputDetails(
                ip_config_name=config, recovery_subnet_name="app")])]))
        with pytest.raises(HttpResponseError) as refused:
            asr.replication_protected_items.begin_update(*path("app01"), body).result()
        assert refused.value.error.code == code


def test_an_update_is_refused_while_a_job_runs_and_once_the_item_runs_in_azure(asr):
    """409 ProtectionEntityInvalidState while a failover job runs, and after it, at Recovery."""
    accepted(asr.replication_protected_items.begin_planned_failover, *path("app01"), planned())
    for _ in range(2):
        with pytest.raises(HttpResponseError) as refused:
            keep_ip(asr, "app01", "192.168.1.10")
        assert refused.value.status_code == 409 and refused.value.error.code == "ProtectionEntityInvalidState"
        until_done(asr, "app01")


# --- recovery plans --------------------------------------------------------------------------------


def test_a_recovery_plan_fails_over_its_items_with_one_job(arm, asr):
    """One job for the plan: the plan and each item name it; its groups are the example's shape."""
    plan = asr.replication_recovery_plans.get(RG, VAULT, "app-subnet").as_dict()["properties"]
    assert [g["groupType"] for g in plan["groups"]] == ["Shutdown", "Failover", "Boot", "Boot"]
    assert [i["virtualMachineId"] for i in plan["groups"][2]["replicationProtectedItems"]] == [
        item_name("app01"), item_name("app02")]
    assert plan["allowedOperations"] == ["PlannedFailover", "UnplannedFailover", "TestFailover"]
    body = m.RecoveryPlanPlannedFailoverInput(properties=m.RecoveryPlanPlannedFailoverInputProperties(
        failover_direction="PrimaryToRecovery",
        provider_specific_details=[m.RecoveryPlanHyperVReplicaAzureFailoverInput(recovery_point_type="Latest")]))
    status, headers, _ = accepted(asr.replication_recovery_plans.begin_planned_failover, RG, VAULT, "app-subnet", body)
    assert status == 202 and "Location" not in headers
    running = asr.replication_recovery_plans.get(RG, VAULT, "app-subnet").as_dict()["properties"]
    job = job_of(running)
    assert running["allowedOperations"] == [] and running["currentScenarioStatus"] == "NotStarted"
    assert {job_of(arm.item_document(vm)["properties"]) for vm in ("app01", "app02", "web01")} == {job}
    for _ in range(3):
        done = asr.replication_recovery_plans.get(RG, VAULT, "app-subnet").as_dict()["properties"]
    assert (done["currentScenarioStatus"], done["currentScenarioStatusDescription"]) == ("Succeeded", "Completed")
    assert done["currentScenario"]["jobId"].endswith(job) and done["lastPlannedFailoverTime"]
    assert done["allowedOperations"] == ["Commit"]
    assert asr.replication_jobs.get(RG, VAULT, job).properties.target_instance_type == "RecoveryPlan"
    assert {vm: props(asr, vm)["activeLocation"] for vm in ("app01", "web01", "db01")} == {
        "app01": "Recovery", "web01": "Recovery", "db01": "Primary"}


# --- network ------------------------------------------------------------------------------------------


def test_a_connection_that_would_stretch_a_subnet_is_refused(arm, network):
    """192.168.1.0/24 cannot be both behind the on-premises gateway and in the recovery VNet: 400
    AddressSpaceOverlap; once the prefix leaves the local gateway the connection is made, and the prefix
    cannot come back."""
    def connect(name, gateway, peer):
        body = nm.VirtualNetworkGatewayConnection(
            location="westeurope", connection_type="Vnet2Vnet", shared_key=VPN_KEY,
            virtual_network_gateway1=nm.VirtualNetworkGateway(id=f"{NET}/virtualNetworkGateways/{gateway}"),
            virtual_network_gateway2=nm.VirtualNetworkGateway(id=f"{NET}/virtualNetworkGateways/{peer}"))
        return network.virtual_network_gateway_connections.begin_create_or_update(RG, name, body).result()

    with pytest.raises(HttpResponseError) as stretched:
        connect("recovery-to-woodgrove", "recovery-gw", "woodgrove-gw")
    assert stretched.value.status_code == 400 and stretched.value.error.code == "AddressSpaceOverlap"
    assert "192.168.0.0/16" in stretched.value.error.message and "192.168.1.0/24" in stretched.value.error.message
    lng = network.local_network_gateways.get(RG, "woodgrove-onprem")
    lng.local_network_address_space = nm.AddressSpace(address_prefixes=["192.168.0.0/24", "192.168.2.0/23"])
    network.local_network_gateways.begin_create_or_update(RG, "woodgrove-onprem", lng).result()
    first = connect("recovery-to-woodgrove", "recovery-gw", "woodgrove-gw")
    assert (first.provisioning_state, first.connection_status) == ("Succeeded", "NotConnected")
    connect("woodgrove-to-recovery", "woodgrove-gw", "recovery-gw")
    assert network.virtual_network_gateway_connections.get(RG, "recovery-to-woodgrove").connection_status == "Connected"
    assert network.virtual_network_gateway_connections.get_shared_key(RG, "recovery-to-woodgrove").value == VPN_KEY
    assert VPN_KEY not in json.dumps(network.virtual_network_gateway_connections.get(RG, "recovery-to-woodgrove").as_dict())
    lng.local_network_address_space = nm.AddressSpace(address_prefixes=["192.168.0.0/16"])
    with pytest.raises(HttpResponseError) as back:
        network.local_network_gateways.begin_create_or_update(RG, "woodgrove-onprem", lng).result()
    assert back.value.error.code == "AddressSpaceOverlap"


def test_a_connection_needs_a_gateway_subnet_and_an_absent_one_is_404(network):
    """A gateway whose VNet lost its GatewaySubnet cannot connect; a GET of an absent connection is 404."""
    with pytest.raises(ResourceNotFoundError) as absent:
        network.virtual_network_gateway_connections.get(RG, "nope")
    assert absent.value.error.code == "ResourceNotFound"
    data = woodgrove()
    data["virtual_networks"]["recovery-vnet"]["subnets"].pop("GatewaySubnet")
    with mocked(ArmService(data)):
        client = clients(NetworkManagementClient)
        body = nm.VirtualNetworkGatewayConnection(
            location="westeurope", connection_type="Vnet2Vnet", shared_key="k",
            virtual_network_gateway1=nm.VirtualNetworkGateway(id=f"{NET}/virtualNetworkGateways/woodgrove-gw"),
            virtual_network_gateway2=nm.VirtualNetworkGateway(id=f"{NET}/virtualNetworkGateways/recovery-gw"))
        with pytest.raises(HttpResponseError) as refused:
            client.virtual_network_gateway_connections.begin_create_or_update(RG, "c", body).result()
    assert refused.value.error.code == "GatewaySubnetNotFound"


def test_long_running_network_writes_poll_their_async_operation(arm, network):
    """A route PUT answers 201 Updating with Azure-AsyncOperation: InProgress once (Retry-After 10), Succeeded,
    then the SDK's final GET; a DELETE answers 202 with Location and Azure-AsyncOperation."""
    route = network.routes.begin_create_or_update(RG, "woodgrove-rt", "x", nm.Route(
        address_prefix="192.168.9.0/24", next_hop_type="VirtualNetworkGateway")).result()
    assert route.provisioning_state == "Succeeded"
    assert [(s.method, s.status) for s in arm.sent] == [("PUT", 201), ("GET", 200), ("GET", 200), ("GET", 200)]
    assert network._client._pipeline._transport.sleeps == [10]
    before = len(arm.sent)
    network.virtual_network_gateway_connections.begin_delete(RG, "woodgrove-s2s").result()
    assert [(s.method, s.status) for s in arm.sent[before:]] == [("DELETE", 202), ("GET", 200), ("GET", 200)]
    with pytest.raises(ResourceNotFoundError):
        network.virtual_network_gateway_connections.get(RG, "woodgrove-s2s")


@pytest.mark.parametrize("hop, ip", [("VirtualAppliance", None), ("VirtualNetworkGateway", "172.16.2.4")])
def test_a_next_hop_ip_goes_with_virtual_appliance_only(network, hop, ip):
    """A route has a nextHopIpAddress exactly when its next hop is a VirtualAppliance."""
    with pytest.raises(HttpResponseError) as refused:
        network.routes.begin_create_or_update(RG, "woodgrove-rt", "x", nm.Route(
            address_prefix="192.168.9.0/24", next_hop_type=hop, next_hop_ip_address=ip)).result()
    assert refused.value.status_code == 400 and refused.value.error.code == "InvalidRouteNextHopIpAddress"


def test_ip_availability_answers_like_the_example(network):
    """Taken: alternatives; reserved: isPlatformReserved; free: available; outside every subnet: 400."""
    check = network.virtual_networks.check_ip_address_availability
    taken = check(RG, "woodgrove-vnet", ip_address="172.16.1.4")
    assert not taken.available and taken.available_ip_addresses == [f"172.16.1.{i}" for i in range(5, 10)]
    reserved = check(RG, "woodgrove-vnet", ip_address="172.16.1.1")
    assert not reserved.available and reserved.is_platform_reserved
    assert check(RG, "woodgrove-vnet", ip_address="172.16.1.50").available
    with pytest.raises(HttpResponseError) as outside:
        check(RG, "woodgrove-vnet", ip_address="10.99.0.4")
    assert outside.value.error.code == "PrivateIPAddressNotInAnySubnet"


def test_network_interfaces_are_the_estates_vms_and_the_failed_over_ones(asr, network):
    """The NIC list holds the estate's Azure VMs, then a failed-over VM's NIC with its recovery IP."""
    keep_ip(asr, "app01", "192.168.1.10")
    accepted(asr.replication_protected_items.begin_planned_failover, *path("app01"), planned())
    until_done(asr, "app01")
    nics = {n.name: (n.ip_configurations[0].private_ip_address, n.ip_configurations[0].subnet.id)
            for n in network.network_interfaces.list(RG)}
    assert nics == {"mobile-api-01": ("172.16.1.4", f"{NET}/virtualNetworks/woodgrove-vnet/subnets/mobile"),
                    "edge-nva": ("172.16.2.4", f"{NET}/virtualNetworks/woodgrove-vnet/subnets/services"),
                    "app01-nic0": ("192.168.1.10", f"{RECOVERY_VNET}/subnets/app")}
    subnet = network.virtual_networks.get(RG, "recovery-vnet").subnets[0]
    assert [c.id for c in subnet.ip_configurations] == [f"{NET}/networkInterfaces/app01-nic0/ipConfigurations/ipconfig1"]


def test_dns_a_records_are_created_read_listed_and_deleted(arm):
    """A record sets answer as the DNS examples: 201 then 200 on PUT, 404 once deleted."""
    from azure.mgmt.dns import DnsManagementClient
    from azure.mgmt.dns.models import ARecord, RecordSet

    dns = clients(DnsManagementClient)
    made = dns.record_sets.create_or_update(RG, "woodgrove.example", "drill", "A",
                                            RecordSet(ttl=60, a_records=[ARecord(ipv4_address="192.168.1.20")]))
    assert (made.ttl, made.fqdn, made.a_records[0].ipv4_address) == (60, "drill.woodgrove.example", "192.168.1.20")
    assert arm.sent[-1].status == 201
    names = {r.name for r in dns.record_sets.list_by_type(RG, "woodgrove.example", "A")}
    assert names == {"app01", "app02", "web01", "db01", "drill"}
    dns.record_sets.delete(RG, "woodgrove.example", "drill", "A")
    with pytest.raises(ResourceNotFoundError):
        dns.record_sets.get(RG, "woodgrove.example", "drill", "A")
    assert [z.name for z in dns.zones.list_by_resource_group(RG)] == ["woodgrove.example"]


def test_key_vault_answers_the_challenge_then_the_secret_from_the_environment(arm):
    """An unauthenticated GET gets Key Vault's 401 challenge, the retry the estate's secret."""
    secret = SecretClient("https://woodgrove-kv.vault.azure.net", StaticCredential(), transport=InstantTransport())
    assert secret.get_secret("vpn-shared-key").value == VPN_KEY
    assert [(s.path, s.status) for s in arm.sent] == [("woodgrove-kv.vault.azure.net/secrets/vpn-shared-key/", 401),
                                                      ("woodgrove-kv.vault.azure.net/secrets/vpn-shared-key/", 200)]
    with pytest.raises(ResourceNotFoundError):
        secret.get_secret("nope")


# --- faults and forced jobs -------------------------------------------------------------------------


def test_injected_faults_answer_once_with_their_headers(arm, network):
    """fail_next answers an ARM error with its Retry-After; drop_next raises from the transport, before or after
    the change is made."""
    arm.fail_next("GET", r"/routeTables/woodgrove-rt$", 429, "SubscriptionRequestsThrottled", Retry_After=7)
    with pytest.raises(HttpResponseError) as throttled:
        network.route_tables.get(RG, "woodgrove-rt")
    assert throttled.value.status_code == 429 and throttled.value.response.headers["Retry-After"] == "7"
    assert network.route_tables.get(RG, "woodgrove-rt").name == "woodgrove-rt"
    arm.drop_next("GET", r"/routeTables/", requests.exceptions.ConnectionError("connection refused"))
    with pytest.raises(ServiceRequestError):
        network.route_tables.get(RG, "woodgrove-rt")
    arm.drop_next("PUT", r"/routes/lost$", requests.exceptions.ReadTimeout("read timed out"), after=True)
    with pytest.raises(ServiceResponseError):
        network.routes.begin_create_or_update(RG, "woodgrove-rt", "lost", nm.Route(
            address_prefix="192.168.9.0/24", next_hop_type="Internet")).result()
    assert "lost" in arm.estate.route_tables["woodgrove-rt"].routes  # the answer was lost, not the change


def test_a_forced_job_state_ends_a_running_job_and_leaves_its_item_as_it_was(arm, asr):
    """force_job: the job reports Failed with the given error from its next read; the item is idle again."""
    accepted(asr.replication_protected_items.begin_planned_failover, *path("app01"), planned())
    job = job_of(props(asr, "app01"))
    arm.force_job(job, "Failed", [("70038", "The virtual machine could not be started: quota exceeded.")])
    failed = asr.replication_jobs.get(RG, VAULT, job).as_dict()["properties"]
    assert failed["state"] == "Failed"
    assert failed["errors"][0]["serviceErrorDetails"]["code"] == "70038"
    assert state(props(asr, "app01")) == example_state("ReplicationProtectedItems_Get")


def test_time_is_logical_and_configurable():
    """queued_polls/running_polls set how many reads a job spends NotStarted and InProgress."""
    service = ArmService(WOODGROVE, queued_polls=0, running_polls=1)
    with mocked(service):
        client = clients(SiteRecoveryManagementClient)
        accepted(client.replication_protected_items.begin_planned_failover, *path("app01"), planned())
        job = job_of(props(client, "app01"))  # this read: InProgress
        assert client.replication_jobs.get(RG, VAULT, job).properties.state == "Succeeded"


# --- over HTTPS, for a CLI subprocess -----------------------------------------------------------------


@pytest.fixture
def server():
    with ArmServer(ArmService(WOODGROVE, env={"WOODGROVE_VPN_KEY": VPN_KEY}, poll_delay_ms=10)) as running:
        yield running


def test_the_https_server_answers_an_sdk_client_that_trusts_its_ca(server):
    """Over real TLS on 127.0.0.1: the SDK reaches the double at base_url, verifying the server's CA, and
    follows nextLinks on that host."""
    kwargs = {"base_url": server.url, "connection_verify": str(server.ca_file), "retry_total": 0}
    network = NetworkManagementClient(StaticCredential(), SUB, **kwargs)
    assert network.virtual_networks.get(RG, "recovery-vnet").address_space.address_prefixes == [
        "192.168.1.0/24", "10.10.0.0/24"]
    asr = SiteRecoveryManagementClient(StaticCredential(), SUB, **kwargs)
    assert len(list(asr.replication_protected_items.list(RG, VAULT))) == 4
    assert [s.status for s in server.service.sent] == [200, 200, 200]
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{server.url}/subscriptions/{SUB}?api-version=1", timeout=10)  # not trusted without the CA


ROUTE = f"{NET}/routeTables/woodgrove-rt/routes/{{name}}?api-version=2024-05-01"
ROUTE_BODY = b'{"properties": {"addressPrefix": "192.168.9.0/24", "nextHopType": "Internet"}}'


def connection(server) -> http.client.HTTPSConnection:
    """A keep-alive connection to the server that has had one answer read (TLS session tickets and all: its
    socket holds nothing unread, so closing it ends the stream as a killed process's socket does)."""
    conn = http.client.HTTPSConnection("127.0.0.1", server.port, timeout=30,
                                       context=ssl.create_default_context(cafile=str(server.ca_file)))
    conn.request("GET", f"{NET}/routeTables/woodgrove-rt?api-version=2024-05-01")
    assert conn.getresponse().read() and not server.quiet()
    return conn


@pytest.mark.parametrize("sent", [0, len(ROUTE_BODY) // 2])
def test_a_request_whose_body_never_arrives_whole_goes_no_further_than_the_socket(server, sent):
    """A client gone between a request's headers and the end of its body (urllib3 sends them in two writes: a
    CLI killed between them): the server does not hand the service a request it never received whole (ARM
    would not act on it), so the double neither records nor answers it."""
    conn = connection(server)
    head = (f"PUT {ROUTE.format(name='cut')} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(ROUTE_BODY)}\r\n\r\n").encode()
    conn.sock.sendall(head + ROUTE_BODY[:sent])
    conn.sock.close()  # no TLS close_notify, as when the process dies
    assert server.wait_quiet(timeout=30)
    assert [s.method for s in server.service.sent] == ["GET"]
    assert "cut" not in server.service.estate.route_tables["woodgrove-rt"].routes


def test_a_request_held_by_the_double_is_carried_out_after_its_client_has_gone(server):
    """A request sent whole reaches the service even if its client dies first (``hold_next`` stands for the
    time it spends on the way): the server is not quiet until it has been handled."""
    held = server.service.hold_next("PUT", r"/routes/late$")
    conn = connection(server)
    conn.request("PUT", ROUTE.format(name="late"), ROUTE_BODY, {"Content-Type": "application/json"})
    assert held.arrived.wait(timeout=30)
    conn.sock.close()
    assert not server.quiet()  # its connection is open while the double holds the request
    held.release.set()
    assert server.wait_quiet(timeout=30)
    assert [(s.method, s.status) for s in server.service.sent] == [("GET", 200), ("PUT", 201)]
    assert "late" in server.service.estate.route_tables["woodgrove-rt"].routes


def test_the_stub_az_gives_azure_identity_a_token_and_key_vault_is_tunnelled(server, tmp_path, monkeypatch):
    """AzureCliCredential runs the stub az (first on PATH) and gets a token; Key Vault's host is reached through
    the server's CONNECT tunnel."""
    cli = prepare_cli(tmp_path, server)
    for name in ("PATH", "REQUESTS_CA_BUNDLE", "HTTPS_PROXY", "NO_PROXY"):
        monkeypatch.setenv(name, cli.env[name])
    token = AzureCliCredential().get_token("https://management.azure.com/.default")
    assert token.token == "stub-token-for-https://management.azure.com" and token.expires_on > time.time()
    assert cli.az_calls() == [["account", "get-access-token", "--output", "json", "--resource",
                               "https://management.azure.com"]]
    settings = yaml.safe_load(cli.settings.read_text())
    assert settings["adapter"] == "azure" and settings["azure"]["cloud"]["arm"] == server.url
    secret = SecretClient("https://woodgrove-kv.vault.azure.net", AzureCliCredential())
    assert secret.get_secret("vpn-shared-key").value == VPN_KEY


def test_a_cli_killed_mid_failover_resumes_against_the_same_double(server, tmp_path):
    """The CLI subprocess is SIGKILLed once its first failover was accepted; the double keeps the state, and
    `failover resume` finishes the run without failing any item over twice."""
    cli = prepare_cli(tmp_path, server)
    cli.env["WOODGROVE_VPN_KEY"] = VPN_KEY
    service = server.service
    proc = cli.popen("run", str(SUBNET_FAILOVER), "--azure", "--yes", "--output", "json")
    try:
        posted = service.wait_for(lambda s: any(x.path.endswith("/plannedFailover") for x in s.sent), timeout=120)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    assert posted and proc.returncode == -signal.SIGKILL
    assert server.wait_quiet(timeout=60)  # every request the dead process sent has been dealt with
    assert any(j.scenario == "PlannedFailover" for j in service.jobs())  # the double outlived its client
    runs = json.loads(cli.run("status", "--output", "json", timeout=60).stdout)["runs"]
    resumed = cli.run("resume", runs[0]["run_id"], "--yes", "--output", "json", timeout=240)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads(resumed.stdout)["status"] == "succeeded"
    failovers = [s.path for s in service.sent if s.path.endswith("/plannedFailover")]
    assert len(failovers) == len(set(failovers)) == 3
    for vm, ip in (("app01", "192.168.1.10"), ("app02", "192.168.1.11"), ("web01", "192.168.1.20")):
        item = service.item(vm)
        assert (item.protection_state, [n.ip for n in item.recovered]) == ("PlannedFailoverStatesBegin", [ip])

