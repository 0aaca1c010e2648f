"""The Azure adapter at the HTTP level: the SDK's real pipeline, long-running operations, ASR jobs,
and every kind of refusal becoming the project's own error, with one retry layer (the engine's)."""

from __future__ import annotations

import pytest
import requests

from adapters.azure.credentials import credential_from_settings
from adapters.azure.replication import plan_filter
from adapters.ports import NetworkSettings, Route, VaultRef
from adapters.shared.errors import (
    ConflictError,
    NotFoundError,
    PermanentError,
    ReadOnlyViolation,
    ThrottledError,
    TransientError,
    UnknownOutcomeError,
)
from engine.run.items import ItemReader
from tests.engine.runbooks import run, statuses
from tests.engine.test_pacing import read_together

SUB = "00000000-0000-0000-0000-000000000000"
VAULT = VaultRef(SUB, "woodgrove-dr", "woodgrove-asr-vault")
NET = f"/subscriptions/{SUB}/resourceGroups/woodgrove-dr/providers/Microsoft.Network"
TABLE = f"{NET}/routeTables/woodgrove-rt"
RECOVERY_VNET = f"{NET}/virtualNetworks/recovery-vnet"


def test_protected_items_are_found_by_their_vm_name(azure, arm):
    item = azure.replication.get_protected_item(VAULT, "app01")
    assert item.vm_name == "app01" and item.name != "app01"  # ASR's own name is a GUID
    assert item.primary_nic.source_ip == "192.168.1.10"
    assert item.state.allowed == {"PlannedFailover", "UnplannedFailover", "TestFailover", "DisableProtection"}


def test_a_missing_item_is_not_found(azure):
    with pytest.raises(NotFoundError, match="nope"):
        azure.replication.get_protected_item(VAULT, "nope")


def test_429_is_throttling_with_its_retry_after_and_the_sdk_does_not_retry(azure, arm):
    arm.fail_next("GET", r"/routeTables/woodgrove-rt$", 429, "SubscriptionRequestsThrottled", Retry_After=7)
    with pytest.raises(ThrottledError) as caught:
        azure.network.get_route_table(TABLE)
    assert caught.value.retry_after == 7 and caught.value.status == 429
    assert sum(1 for s in arm.sent if s.path.endswith("/woodgrove-rt")) == 1  # exactly one retry layer: ours


def test_a_busy_resource_is_transient_not_throttling(azure, arm):
    arm.fail_next("PUT", r"/routes/", 429, "RetryableErrorDueToAnotherOperation")
    with pytest.raises(TransientError) as caught:
        azure.network.put_route(TABLE, Route("x", "192.168.9.0/24", "VirtualNetworkGateway"))
    assert not isinstance(caught.value, ThrottledError)
    assert caught.value.code == "RetryableErrorDueToAnotherOperation"


@pytest.mark.parametrize("status, error", [(500, TransientError), (503, TransientError), (504, TransientError),
                                           (409, ConflictError), (404, NotFoundError), (400, PermanentError),
                                           (403, PermanentError)])
def test_status_codes_become_project_errors_with_the_service_message(azure, arm, status, error):
    arm.fail_next("GET", r"/virtualNetworks/recovery-vnet$", status, "SomeCode")
    with pytest.raises(error) as caught:
        azure.network.get_virtual_network(RECOVERY_VNET)
    assert caught.value.code == "SomeCode" and "injected SomeCode" in caught.value.message
    assert caught.value.status == status


def test_a_write_whose_answer_never_came_has_an_unknown_outcome(azure, arm):
    arm.drop_next("PUT", r"/routes/", requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(UnknownOutcomeError):
        azure.network.put_route(TABLE, Route("x", "192.168.9.0/24", "VirtualNetworkGateway"))


def test_a_request_that_never_left_is_transient(azure, arm):
    arm.drop_next("GET", r"/routeTables/", requests.exceptions.ConnectionError("connection refused"))
    with pytest.raises(TransientError):
        azure.network.get_route_table(TABLE)


def test_long_running_put_polls_azure_async_operation_without_sleeping(azure, arm):
    route = azure.network.put_route(TABLE, Route("x", "192.168.9.0/24", "VirtualAppliance", "10.0.0.4"))
    assert route == Route("x", "192.168.9.0/24", "VirtualAppliance", "10.0.0.4")
    operation = [s for s in arm.sent if "/operations/" in s.path]
    assert arm.sent[0].method == "PUT" and len(operation) == 2  # 201; the operation InProgress, then Succeeded
    assert {s.method for s in arm.sent[1:]} == {"GET"}
    transport = azure.clients.network(SUB)._client._pipeline._transport
    assert transport.sleeps and all(s == 10 for s in transport.sleeps)  # the service's Retry-After, not slept
    assert azure.network.get_route_table(TABLE).routes["x"].next_hop_ip == "10.0.0.4"


def test_long_running_delete_waits_for_its_operation(azure, arm):
    azure.network.delete_route(TABLE, "onprem-app")
    assert [s.method for s in arm.sent] == ["DELETE", "GET", "GET"]  # 202, InProgress, Succeeded
    assert "onprem-app" not in azure.network.get_route_table(TABLE).routes


def test_failover_follows_the_job_its_item_names_after_the_202(azure, arm):
    """The 202 gives only an Azure-AsyncOperation (whose id is not the job's): the job is the one the item
    names as its current scenario, read right after; the operation itself is not polled."""
    nic = azure.replication.get_protected_item(VAULT, "app01").primary_nic.nic_id
    azure.replication.update_network_settings(VAULT, "app01", nic, NetworkSettings(
        recovery_network=RECOVERY_VNET, recovery_subnet="app", recovery_ip="192.168.1.10"))
    before = len(arm.sent)
    handle = azure.replication.start_failover(VAULT, "app01", "planned")
    sent = arm.sent[before:]
    assert [s.method for s in sent] == ["POST", "GET"] and sent[0].path.endswith("/plannedFailover")
    assert '"failoverDirection": "PrimaryToRecovery"' in sent[0].body
    assert "replicationOperationStatus" not in sent[1].path  # the item, not the operation
    assert handle.job_id == arm.jobs()[0].name
    job = azure.replication.get_job(VAULT, handle.job_id)
    assert job.id == handle.job_id and job.operation == "PlannedFailover" and job.state in ("NotStarted", "InProgress")


def test_recovery_plans_list_their_items_by_vm_name(azure):
    plan = azure.replication.get_recovery_plan(VAULT, "app-subnet")
    assert set(plan.items) == {"app01", "app02", "web01"}


def test_a_plans_items_are_listed_with_the_plans_filter_on_every_page(azure, arm):
    """ASR's ``$filter=recoveryPlanName eq '…'`` (``ProtectedItemsQueryParameter``): the plan's items alone,
    the filter on the first request and on the page its ``nextLink`` names; reading the plan maps its item
    IDs to VM names with that list too, not with a list of the whole vault."""
    before = len(arm.sent)
    listed = azure.replication.list_protected_items(VAULT, "app-subnet")
    assert sorted(i.vm_name for i in listed) == ["app01", "app02", "web01"]
    plan = azure.replication.get_recovery_plan(VAULT, "app-subnet")
    assert sorted(plan.items) == ["app01", "app02", "web01"]
    lists = [s for s in arm.sent[before:] if s.path.endswith("/replicationProtectedItems")]
    assert len(lists) == 4  # two pages of two, twice
    assert all(s.query.get("$filter") == ["recoveryPlanName eq 'app-subnet'"] for s in lists), lists
    assert azure.replication.list_protected_items(VAULT, "no-such-plan") == []


def test_a_quote_in_a_plans_name_is_doubled_in_its_filter():
    assert plan_filter("finance's plan") == "recoveryPlanName eq 'finance''s plan'"


def test_a_recovery_plans_failover_and_commit_read_its_items_with_the_plans_list_alone(azure, arm):
    """No GET of each item and no list of the vault: each read of the plan's items is one list request
    of the plan's (the double pages it by two)."""
    ready = run("""\
        steps:
          - {id: a1, uses: asr.set_target_ip, with: {item: app01, network: recovery-vnet, subnet: app, ip: 192.168.1.10}}
          - {id: a2, uses: asr.set_target_ip, with: {item: app02, network: recovery-vnet, subnet: app, ip: 192.168.1.11}}
          - {id: w1, uses: asr.set_target_ip, with: {item: web01, network: recovery-vnet, subnet: app, ip: 192.168.1.20}}
    """, azure)
    assert set(statuses(ready).values()) == {"succeeded"}
    before = len(arm.sent)
    result = run("""\
        steps:
          - {id: fo, uses: asr.failover, with: {plan: app-subnet, type: unplanned}}
          - {id: commit, uses: asr.commit, needs: [fo], with: {plan: app-subnet}}
    """, azure)
    assert statuses(result) == {"fo": "succeeded", "commit": "succeeded"}
    reads = [s for s in arm.sent[before:] if s.method == "GET" and "/replicationProtectedItems" in s.path]
    assert reads and all(s.path.endswith("/replicationProtectedItems") for s in reads), reads
    assert all(s.query.get("$filter") == ["recoveryPlanName eq 'app-subnet'"] for s in reads), reads


def test_many_jobs_are_read_with_one_paged_list(azure, arm):
    handles = [azure.replication.start_failover(VAULT, vm, "test", test_network=f"{NET}/virtualNetworks/test-vnet")
               for vm in ("app01", "app02", "web01", "db01")]
    before = len(arm.sent)
    jobs = azure.replication.list_jobs(VAULT, [h.job_id for h in handles])
    assert {j.id for j in jobs} == {h.job_id for h in handles}
    pages = arm.sent[before:]
    assert len(pages) == 2 and all(s.path.endswith("/replicationJobs") for s in pages)  # two jobs a page, no GET each


STEP = """
steps:
  - id: fail-over
    uses: asr.failover
    with: {items: [app01], type: test, network: test-vnet}
"""


@pytest.mark.parametrize("state", ["Failed", "Cancelled", "Other"])
def test_a_job_that_does_not_succeed_fails_its_step_with_the_jobs_error(azure, arm, state):
    start = azure.replication.start_failover

    def started(*args, **kwargs):  # whatever job the step starts ends this way
        handle = start(*args, **kwargs)
        arm.force_job(handle.job_id, state, ["The virtual machine could not be started: quota exceeded."])
        return handle

    azure.replication.start_failover = started
    result = run(STEP, azure)
    record = result.step("fail-over")
    assert statuses(result)["fail-over"] == "failed"
    assert "quota exceeded" in record.error and state in record.error


def test_a_failover_job_suspended_fails_its_step_where_a_test_failovers_would_not(azure, arm):
    """Only a test failover's job waits, suspended, for its cleanup as a success; a planned failover's job
    suspended is stuck, and its step fails saying so."""
    start = azure.replication.start_failover

    def started(*args, **kwargs):
        handle = start(*args, **kwargs)
        arm.force_job(handle.job_id, "Suspended", ["Waiting for a manual action on the primary site."])
        return handle

    azure.replication.start_failover = started
    result = run("""
steps:
  - {id: ip, uses: asr.set_target_ip, with: {item: app01, network: recovery-vnet, subnet: app, ip: 192.168.1.10}}
  - {id: fail-over, uses: asr.failover, needs: [ip], with: {items: [app01], type: planned}}
""", azure)
    assert statuses(result)["fail-over"] == "failed"
    assert "Suspended" in result.step("fail-over").error and "manual action" in result.step("fail-over").error


def test_the_engine_retries_a_429_after_its_retry_after(azure, arm):
    from adapters.shared.clock import ManualClock

    azure.clock = ManualClock()
    arm.fail_next("GET", r"/routeTables/woodgrove-rt$", 429, "SubscriptionRequestsThrottled", times=2, Retry_After=9)
    result = run("""
steps:
  - id: route
    uses: network.routes
    with: {table: woodgrove-rt, routes: [{name: x, prefix: 192.168.9.0/24, next_hop: VirtualNetworkGateway}]}
""", azure)
    assert statuses(result) == {"route": "succeeded"}
    assert azure.clock.sleeps.count(9) == 2


def test_read_only_adapter_refuses_every_write_before_it_leaves_the_process(azure_read_only, arm):
    with pytest.raises(ReadOnlyViolation):
        azure_read_only.network.put_route(TABLE, Route("x", "192.168.9.0/24", "VirtualNetworkGateway"))
    with pytest.raises(ReadOnlyViolation):
        azure_read_only.replication.start_failover(VAULT, "app01", "planned")
    with pytest.raises(ReadOnlyViolation):
        azure_read_only.dns.delete_a_record(f"{NET}/dnsZones/woodgrove.example", "app01")
    assert {s.method for s in arm.sent} == {"GET"}
    assert azure_read_only.network.get_route_table(TABLE).name == "woodgrove-rt"  # reads still work


def test_key_vault_secret_after_the_challenge(azure, arm):
    secret = azure.secrets.get_secret("woodgrove-kv", "vpn-shared-key")
    from tests.durable import VPN_KEY

    assert secret.reveal() == VPN_KEY and VPN_KEY not in repr(secret)
    reads = [s for s in arm.sent if "vault.azure.net" in s.path]
    assert [s.path for s in reads] == ["woodgrove-kv.vault.azure.net/secrets/vpn-shared-key/"] * 2
    assert [s.status for s in reads] == [401, 200]  # the challenge, then the authorized read


@pytest.mark.parametrize("kind, cls", [("default", "DefaultAzureCredential"),
                                       ("managed_identity", "ManagedIdentityCredential"),
                                       ("azure_cli", "AzureCliCredential"),
                                       ("service_principal", "EnvironmentCredential")])
def test_the_credential_can_be_pinned(kind, cls):
    assert type(credential_from_settings({"credential": kind})).__name__ == cls


def test_an_unknown_credential_type_is_refused():
    with pytest.raises(ValueError, match="managed_identity"):
        credential_from_settings({"credential": "password"})


def test_steps_naming_their_items_that_start_together_share_one_list_request(azure, arm):
    """The engine's shared read, through the SDK's pipeline: one list of the vault's protected items,
    no GET per item."""
    before = len(arm.sent)
    reader = ItemReader(gather=300)  # simulated seconds: 0.3 s on this adapter's clock
    answers = read_together(reader, azure, [["app01", "app02"], ["web01", "app01"]])
    assert answers == [["app01", "app02"], ["web01", "app01"]]
    sent = [(s.method, s.path.rstrip("/").rsplit("/", 1)[-1]) for s in arm.sent[before:]]
    assert sent == [("GET", "replicationProtectedItems")] * 2  # one list of the vault, in its two pages


def test_a_403_says_the_permission_to_grant_and_a_wrong_subscription_where_to_look(azure, arm):
    from adapters.shared.errors import AccessDenied

    arm.fail_next("GET", r"/virtualNetworks/recovery-vnet$", 403, "AuthorizationFailed")
    with pytest.raises(AccessDenied) as denied:
        azure.network.get_virtual_network(RECOVERY_VNET)
    assert "Least privilege" in denied.value.hint and denied.value.status == 403
    arm.fail_next("GET", r"/virtualNetworks/recovery-vnet$", 404, "SubscriptionNotFound")
    with pytest.raises(PermanentError) as missing:
        azure.network.get_virtual_network(RECOVERY_VNET)
    assert "target.subscription" in missing.value.hint and "az account list" in missing.value.hint


def test_an_unreachable_azure_says_what_to_check(azure, arm):
    from adapters.shared.errors import Unreachable

    arm.drop_next("GET", r"/routeTables/", requests.exceptions.ConnectionError("connection refused"))
    with pytest.raises(Unreachable) as caught:
        azure.network.get_route_table(TABLE)
    assert caught.value.message.startswith("Azure could not be reached") and "proxy" in caught.value.hint


def test_a_started_target_ip_update_is_a_job_to_follow_not_an_operation_to_poll(azure, arm):
    """``start_network_update`` sends the PATCH and returns the job its item names right after; the
    operation is never polled (the run follows the job with its other jobs), and the job ends with the
    item holding the new target."""
    nic = azure.replication.get_protected_item(VAULT, "app01").primary_nic.nic_id
    before = len(arm.sent)
    handle = azure.replication.start_network_update(VAULT, "app01", nic, NetworkSettings(
        recovery_network=RECOVERY_VNET, recovery_subnet="app", recovery_ip="192.168.1.10"))
    sent = arm.sent[before:]
    assert [s.method for s in sent] == ["GET", "PATCH", "GET"]  # the item, the update, the item's job
    assert not any("/operations" in s.path.lower() or "operationstatus" in s.path.lower() for s in sent)
    assert handle.job_id in {j.name for j in arm.jobs()} and handle.operation == "UpdateProtectedItem"
    assert azure.replication.get_job(VAULT, handle.job_id).id == handle.job_id


def test_a_target_ip_update_built_from_the_item_just_read_sends_no_read_before_its_patch(azure, arm):
    """The step has just read the item (to decide): given it, the adapter builds the PATCH from it and
    reads only the item's job after: a read fewer per update, thousands fewer in a failover of thousands."""
    item = azure.replication.get_protected_item(VAULT, "app01")
    before = len(arm.sent)
    handle = azure.replication.start_network_update(VAULT, "app01", item.primary_nic.nic_id, NetworkSettings(
        recovery_network=RECOVERY_VNET, recovery_subnet="app", recovery_ip="192.168.1.10"), current=item)
    assert [s.method for s in arm.sent[before:]] == ["PATCH", "GET"]  # the update, the item's job
    assert handle.operation == "UpdateProtectedItem"
    patch = arm.sent[before]
    nic = patch.json()["properties"]["vmNics"][0]
    assert nic["nicId"] == item.primary_nic.nic_id and nic["ipConfigs"][0]["ipConfigName"] == item.primary_nic.ip_config
    assert nic["ipConfigs"][0]["recoveryStaticIPAddress"] == "192.168.1.10"
