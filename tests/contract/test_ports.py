"""One contract, two adapters: the same scenarios against the fake estate and against the Azure
adapter (the SDK's real pipeline to an ARM simulation), so the two cannot drift apart."""

from __future__ import annotations

import os

import pytest

from adapters.ports import ConnectionSpec, NetworkSettings, Route, VaultRef
from adapters.shared.errors import NotFoundError, PermanentError
from adapters.shared.secret import Secret

SUB = "00000000-0000-0000-0000-000000000000"
VAULT = VaultRef(SUB, "woodgrove-dr", "woodgrove-asr-vault")
NET = f"/subscriptions/{SUB}/resourceGroups/woodgrove-dr/providers/Microsoft.Network"
RECOVERY_VNET = f"{NET}/virtualNetworks/recovery-vnet"
TEST_VNET = f"{NET}/virtualNetworks/test-vnet"
TABLE = f"{NET}/routeTables/woodgrove-rt"
ONPREM = f"{NET}/localNetworkGateways/woodgrove-onprem"
ZONE = f"{NET}/dnsZones/woodgrove.example"


@pytest.fixture(params=["fake", "azure"])
def cloud(request):
    """An adapter and a way to let ASR jobs run to their end."""
    if request.param == "fake":
        return request.getfixturevalue("estate")
    return request.getfixturevalue("azure")


def nic_of(cloud, vm: str) -> str:
    """The primary NIC's id, as the item names it (ASR's are opaque; the fake's are readable)."""
    return cloud.replication.get_protected_item(VAULT, vm).primary_nic.nic_id


def finish(cloud, handle):
    for _ in range(2000):
        job = cloud.replication.get_job(VAULT, handle.job_id)
        if job.finished:
            return job
        cloud.clock.sleep(1)
    raise AssertionError(f"job {handle.job_id} never finished")


def test_reading_an_item(cloud):
    item = cloud.replication.get_protected_item(VAULT, "app02")
    assert (item.vm_name, item.state.protection_state, item.state.active_location) == ("app02", "Protected", "Primary")
    assert not item.state.busy and item.state.job is None
    assert item.primary_nic.source_ip == "192.168.1.11"
    assert item.state.allows("PlannedFailover")


def test_reading_several_items_by_name(cloud):
    """In the order asked, an item named twice read twice; one unknown name fails the whole read."""
    items = cloud.replication.get_protected_items(VAULT, ["web01", "APP02", "web01"])
    assert [i.vm_name for i in items] == ["web01", "app02", "web01"]
    alone = cloud.replication.get_protected_item(VAULT, "app02")
    assert (items[1].id, items[1].state, items[1].nics) == (alone.id, alone.state, alone.nics)
    assert cloud.replication.get_protected_items(VAULT, []) == []
    with pytest.raises(NotFoundError):
        cloud.replication.get_protected_items(VAULT, ["app01", "no-such-vm"])


def test_listing_items_and_reading_a_plan(cloud):
    names = {i.vm_name for i in cloud.replication.list_protected_items(VAULT)}
    plan = cloud.replication.get_recovery_plan(VAULT, "app-subnet")
    assert set(plan.items) <= names and len(plan.items) == 3


def test_a_plans_list_holds_its_items_as_the_vaults_list_shows_them_and_no_other(cloud):
    """``list_protected_items(vault, plan)``: ASR's list filtered by recovery plan. A plan the vault does
    not have matches nothing (a filter, not a lookup)."""
    listed = cloud.replication.list_protected_items(VAULT, "app-subnet")
    assert sorted(i.vm_name for i in listed) == sorted(cloud.replication.get_recovery_plan(VAULT, "app-subnet").items)
    whole = {i.vm_name: i for i in cloud.replication.list_protected_items(VAULT)}
    assert len(whole) > len(listed)
    assert all((i.id, i.state, i.nics) == (whole[i.vm_name].id, whole[i.vm_name].state, whole[i.vm_name].nics)
               for i in listed)
    assert cloud.replication.list_protected_items(VAULT, "no-such-plan") == []


def test_unknown_things_are_not_found(cloud):
    with pytest.raises(NotFoundError):
        cloud.replication.get_protected_item(VAULT, "no-such-vm")
    with pytest.raises(NotFoundError):
        cloud.replication.get_recovery_plan(VAULT, "no-such-plan")
    with pytest.raises(NotFoundError):
        cloud.network.get_virtual_network(f"{NET}/virtualNetworks/no-such-vnet")
    assert cloud.network.find_connection(f"{NET}/connections/no-such-connection") is None
    assert cloud.dns.find_a_record(ZONE, "no-such-name") is None


def test_network_settings_read_back_as_written(cloud):
    answer = cloud.replication.update_network_settings(VAULT, "app01", nic_of(cloud, "app01"), NetworkSettings(
        recovery_network=RECOVERY_VNET, recovery_subnet="app", recovery_ip="192.168.1.10",
        test_network=TEST_VNET, test_subnet="app", test_ip="192.168.1.10"))
    nic = cloud.replication.get_protected_item(VAULT, "app01").primary_nic
    assert answer.primary_nic == nic  # the update answers with the item as it left it
    assert (nic.recovery_network.lower(), nic.recovery_subnet, nic.recovery_ip) == (
        RECOVERY_VNET.lower(), "app", "192.168.1.10")
    assert (nic.test_network.lower(), nic.test_subnet, nic.test_ip) == (TEST_VNET.lower(), "app", "192.168.1.10")


def test_an_ip_outside_the_subnet_is_refused(cloud):
    with pytest.raises(PermanentError):
        cloud.replication.update_network_settings(VAULT, "app01", nic_of(cloud, "app01"), NetworkSettings(
            recovery_network=RECOVERY_VNET, recovery_subnet="app", recovery_ip="10.99.0.4"))


def test_test_failover_then_cleanup(cloud):
    cloud.replication.update_network_settings(VAULT, "app01", nic_of(cloud, "app01"), NetworkSettings(
        recovery_network=RECOVERY_VNET, recovery_subnet="app", test_network=TEST_VNET, test_subnet="app",
        test_ip="192.168.1.10"))
    job = finish(cloud, cloud.replication.start_failover(VAULT, "app01", "test", test_network=TEST_VNET))
    # as ASR's: the test failover's job waits, suspended, for the cleanup, and that is its success
    assert (job.state, job.description, job.ok) == ("Suspended", "WaitingForStopTestFailover", True)
    item = cloud.replication.get_protected_item(VAULT, "app01")
    assert item.state.test_failed_over and item.state.allows("TestFailoverCleanup")
    assert item.test_vm_ip == "192.168.1.10"
    assert finish(cloud, cloud.replication.start_test_failover_cleanup(VAULT, "app01", "drill")).state == "Succeeded"
    assert cloud.replication.get_job(VAULT, job.id).state == "Succeeded"  # the cleanup ended the test failover
    item = cloud.replication.get_protected_item(VAULT, "app01")
    assert item.state.test_failover_state == "MarkedForDeletion" and item.state.allows("TestFailover")


def test_commit_before_failover_is_refused(cloud):
    with pytest.raises(PermanentError):
        cloud.replication.start_commit(VAULT, "app01")


def test_routes_put_and_delete(cloud):
    cloud.network.put_route(TABLE, Route("recovery-app", "192.168.1.0/24", "VirtualNetworkGateway"))
    cloud.network.delete_route(TABLE, "onprem-app")
    routes = cloud.network.get_route_table(TABLE).routes
    assert routes["recovery-app"] == Route("recovery-app", "192.168.1.0/24", "VirtualNetworkGateway")
    assert "onprem-app" not in routes


def test_local_gateway_prefixes(cloud):
    before = cloud.network.get_local_gateway(ONPREM).address_prefixes
    after = cloud.network.set_local_gateway_prefixes(ONPREM, [p for p in before if p != "192.168.0.0/16"]
                                                     + ["192.168.0.0/24", "192.168.2.0/23"])
    assert cloud.network.get_local_gateway(ONPREM).address_prefixes == after.address_prefixes
    assert "192.168.2.0/23" in after.address_prefixes


def test_a_connection_that_would_stretch_a_subnet_is_refused(cloud):
    """Azure has no stretched subnets: 192.168.1.0/24 cannot be behind woodgrove-gw twice."""
    spec = ConnectionSpec(location="westeurope", connection_type="Vnet2Vnet", gateway1_id=f"{NET}/virtualNetworkGateways/woodgrove-gw",
                          peer_id=f"{NET}/virtualNetworkGateways/recovery-gw", shared_key=Secret("k" * 16))
    with pytest.raises(PermanentError):
        cloud.network.put_connection(f"{NET}/connections/stretch", spec)
    assert cloud.network.find_connection(f"{NET}/connections/stretch") is None


def test_a_connection_and_its_key(cloud):
    prefixes = cloud.network.get_local_gateway(ONPREM).address_prefixes
    cloud.network.set_local_gateway_prefixes(ONPREM, [p for p in prefixes if p != "192.168.0.0/16"] + ["192.168.0.0/24"])
    key = Secret(os.environ["WOODGROVE_VPN_KEY"])
    conn_id = f"{NET}/connections/recovery-to-woodgrove"
    spec = ConnectionSpec(location="westeurope", connection_type="Vnet2Vnet",
                          gateway1_id=f"{NET}/virtualNetworkGateways/recovery-gw",
                          peer_id=f"{NET}/virtualNetworkGateways/woodgrove-gw", shared_key=key, tags={"owner": "dr"})
    created = cloud.network.put_connection(conn_id, spec)
    found = cloud.network.find_connection(conn_id)
    assert found is not None and found.connection_type == "Vnet2Vnet" and found.peer_id.lower() == spec.peer_id.lower()
    assert created.tags == {"owner": "dr"}
    assert cloud.network.shared_key_matches(conn_id, key)
    assert not cloud.network.shared_key_matches(conn_id, Secret("another-key"))
    cloud.network.delete_connection(conn_id)
    assert cloud.network.find_connection(conn_id) is None


def test_dns_records(cloud):
    record = cloud.dns.put_a_record(ZONE, "app02", ["172.16.2.11"], 60)
    assert (record.ips, record.ttl) == (("172.16.2.11",), 60)
    assert cloud.dns.find_a_record(ZONE, "app02").ips == ("172.16.2.11",)
    cloud.dns.delete_a_record(ZONE, "app02")
    assert cloud.dns.find_a_record(ZONE, "app02") is None


def test_ip_availability(cloud):
    assert cloud.network.check_ip_availability(RECOVERY_VNET, "192.168.1.50").available
    reserved = cloud.network.check_ip_availability(RECOVERY_VNET, "192.168.1.1")
    assert not reserved.available and reserved.platform_reserved


def test_secrets(cloud):
    assert cloud.secrets.get_secret("woodgrove-kv", "vpn-shared-key").reveal() == os.environ["WOODGROVE_VPN_KEY"]
    with pytest.raises(NotFoundError):
        cloud.secrets.get_secret("woodgrove-kv", "no-such-secret")


# --- time: jobs that queue, an update that runs as a job, lists that page ---------------------------


@pytest.fixture(params=["fake", "azure"])
def timed(request):
    """An adapter whose time the test moves: (adapter, sleep(seconds), the sleeps its calls made)."""
    if request.param == "fake":
        from adapters.fake import FakeAdapter
        from adapters.shared.clock import ManualClock
        from tests.azure.conftest import woodgrove

        adapter = FakeAdapter.from_estate(woodgrove(latency={"job_queue_ms": 2000, "job_ms": 5000,
                                                             "update_ms": 30_000}))
        clock = ManualClock()
        adapter.clock = adapter.cloud.clock = adapter.cloud.weather.clock = clock
        yield adapter, clock.sleep, lambda: [s for s in clock.sleeps if s > 0]  # not the zero latencies
        adapter.close()
        return
    from tests.azure.arm import ArmService
    from tests.azure.arm.mock import mocked
    from tests.azure.conftest import open_azure
    from tests.conftest import WOODGROVE

    # The double's time moves with the requests that read a job; the adapter's own read of the item right
    # after a start is one of them, so the job queues for three.
    with mocked(ArmService(WOODGROVE, queued_polls=3)):
        adapter = open_azure()
        yield adapter, adapter.clock.sleep, lambda: adapter.clients.transport.sleeps
        adapter.close()


def states_of(adapter, sleep, handle) -> list[str]:
    """The job's states as successive reads see them, a second apart, until it has finished."""
    seen = []
    for _ in range(200):
        job = adapter.replication.get_job(VAULT, handle.job_id)
        if not seen or seen[-1] != job.state:
            seen.append(job.state)
        if job.finished:
            return seen
        sleep(1)
    raise AssertionError(f"job {handle.job_id} never finished: {seen}")


def test_a_job_queues_then_runs_then_succeeds(timed):
    adapter, sleep, _ = timed
    adapter.replication.update_network_settings(VAULT, "app01", nic_of(adapter, "app01"), NetworkSettings(
        recovery_network=RECOVERY_VNET, recovery_subnet="app", recovery_ip="192.168.1.10"))
    handle = adapter.replication.start_failover(VAULT, "app01", "planned")
    assert adapter.replication.get_protected_item(VAULT, "app01").state.busy  # the item names its job at once
    assert states_of(adapter, sleep, handle) == ["NotStarted", "InProgress", "Succeeded"]
    item = adapter.replication.get_protected_item(VAULT, "app01")
    assert item.state.failed_over and item.state.awaiting_commit and not item.state.busy


def test_updating_the_target_network_is_an_operation_polled_at_its_retry_after(timed):
    """The update returns once the service's job has ended, having waited the 30 s the service asks for
    (the Retry-After of the specs' example) between polls, and answers with the item as the update left it."""
    adapter, _, sleeps = timed
    item = adapter.replication.update_network_settings(VAULT, "app02", nic_of(adapter, "app02"), NetworkSettings(
        recovery_network=RECOVERY_VNET, recovery_subnet="app", recovery_ip="192.168.1.11"))
    assert not item.state.busy and item.primary_nic.recovery_ip == "192.168.1.11"
    assert sleeps() and all(s == 30 for s in sleeps())


def test_a_list_gives_every_item_whatever_its_pages(cloud):
    names = sorted(i.vm_name for i in cloud.replication.list_protected_items(VAULT))
    assert names == ["app01", "app02", "db01", "web01"]


def test_an_items_replication_as_the_service_reports_it(cloud):
    """Health, the RPO it last calculated and the size of the VM a failover creates, on both adapters."""
    status = cloud.replication.get_protected_item(VAULT, "web01").replication
    assert (status.health, status.health_errors, status.rpo_seconds, status.recovery_vm_size) == (
        "Normal", (), 120.0, "Standard_D2s_v3")
    if status.rpo_calculated_at is None:  # the fake replicates continuously: its RPO is current
        assert status.recovery_point_age(0.0) == 120.0
    else:  # Azure's was calculated at lastRpoCalculatedTime: a minute later the point is a minute older
        assert status.recovery_point_age(status.rpo_calculated_at + 60) == 180.0


def test_the_recovery_regions_quota_and_vm_sizes(cloud):
    """The region's vCPU usages by name and the VM sizes it offers, each with its family and vCPUs;
    another region of the estate's subscription answers nothing of them."""
    usages = {u.name: (u.current, u.limit, u.free) for u in cloud.compute.list_usages(SUB, "westeurope")}
    assert usages == {"cores": (24, 100, 76), "standardDSv3Family": (16, 50, 34)}
    sizes = {s.name: (s.family, s.vcpus) for s in cloud.compute.list_vm_sizes(SUB, "westeurope")}
    assert sizes["Standard_D2s_v3"] == ("standardDSv3Family", 2) and sizes["Standard_D4s_v3"] == ("standardDSv3Family", 4)
    assert cloud.compute.list_usages(SUB, "eastus") == []
