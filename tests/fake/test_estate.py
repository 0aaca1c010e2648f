"""The fake estate keeps Azure's rules, persists between commands, keeps a ledger, and brings its
weather: latency, seeded transient faults, ARM's token buckets."""

from __future__ import annotations

import time

import pytest

from adapters.fake import FakeAdapter
from adapters.ports import ConnectionSpec, NetworkSettings, Route, VaultRef
from adapters.shared.errors import ConflictError, NotFoundError, PermanentError, ThrottledError, TransientError
from adapters.shared.secret import Secret
from tests.durable import VPN_KEY
from tests.waiting import until

SUB = "00000000-0000-0000-0000-000000000000"
VAULT = VaultRef(SUB, "woodgrove-dr", "woodgrove-asr-vault")
NET = f"/subscriptions/{SUB}/resourceGroups/woodgrove-dr/providers/Microsoft.Network"
RECOVERY_VNET = f"{NET}/virtualNetworks/recovery-vnet"
TEST_VNET = f"{NET}/virtualNetworks/test-vnet"


def keep_ip(adapter, vm, ip, subnet="app", network=RECOVERY_VNET):
    adapter.replication.update_network_settings(VAULT, vm, f"{vm}-nic0", NetworkSettings(
        recovery_network=network, recovery_subnet=subnet, recovery_ip=ip))


def settle(adapter, handle, timeout: float = 60.0):
    """Until the job has finished: the event, however long a loaded machine takes to get there."""
    return until(lambda: (job := adapter.replication.get_job(VAULT, handle.job_id)).finished and job,
                 timeout=timeout, every=0.001, what="the job's end")


@pytest.mark.parametrize("ip, why", [("172.16.1.10", "outside"), ("192.168.1.0", "reserved"),
                                     ("192.168.1.1", "reserved"), ("192.168.1.3", "reserved"),
                                     ("192.168.1.255", "reserved")])
def test_an_ip_outside_its_subnet_or_reserved_is_refused(fake, ip, why):
    adapter = fake()
    with pytest.raises(PermanentError) as caught:
        keep_ip(adapter, "app01", ip)
    assert caught.value.status == 400
    assert adapter.ledger() == []  # refused: nothing changed, nothing recorded


def test_a_duplicate_ip_is_refused(fake):
    adapter = fake()
    keep_ip(adapter, "app01", "192.168.1.10")
    with pytest.raises(PermanentError, match="192.168.1.10"):
        keep_ip(adapter, "app02", "192.168.1.10")


def test_a_stretched_subnet_is_refused(fake):
    """recovery-vnet holds 192.168.1.0/24 while woodgrove-onprem still announces 192.168.0.0/16 behind
    woodgrove-gw: connecting the two gateways would put the subnet on both sides."""
    adapter = fake()
    spec = ConnectionSpec("westeurope", "Vnet2Vnet", f"{NET}/virtualNetworkGateways/woodgrove-gw",
                          f"{NET}/virtualNetworkGateways/recovery-gw", Secret(VPN_KEY))
    with pytest.raises(PermanentError, match="192.168.1.0/24"):
        adapter.network.put_connection(f"{NET}/connections/stretch", spec)


def test_failover_of_an_unprotected_item_is_refused(fake):
    adapter = fake(vaults={"woodgrove-asr-vault": {"protected_items": {"db02": {
        "source_ip": "192.168.2.20", "state": "UnprotectedStatesBegin"}}}})
    with pytest.raises(PermanentError):
        adapter.replication.start_failover(VAULT, "db02", "planned")


def test_commit_before_failover_and_cleanup_without_test_failover_are_refused(fake):
    adapter = fake()
    with pytest.raises(PermanentError, match="(?i)commit"):
        adapter.replication.start_commit(VAULT, "app01")
    with pytest.raises(PermanentError, match="(?i)cleanup|test failover"):
        adapter.replication.start_test_failover_cleanup(VAULT, "app01", "nothing to clean")


def test_an_operation_not_allowed_while_a_job_runs_is_refused(fake):
    adapter = fake({"latency": {"job_ms": 10_000_000}})
    keep_ip(adapter, "app01", "192.168.1.10")
    adapter.replication.start_failover(VAULT, "app01", "planned")
    assert adapter.replication.get_protected_item(VAULT, "app01").state.allowed == frozenset()
    with pytest.raises((ConflictError, PermanentError)):
        adapter.replication.start_failover(VAULT, "app01", "planned")


def test_unknown_resources_are_not_found(fake):
    adapter = fake()
    with pytest.raises(NotFoundError):
        adapter.replication.get_protected_item(VAULT, "nobody")
    with pytest.raises(NotFoundError):
        adapter.network.get_route_table(f"{NET}/routeTables/none")


def test_state_persists_between_opens_and_reset_starts_over(estate_file, tmp_path):
    estate, state = estate_file(), tmp_path / "state.db"
    first = FakeAdapter.open(estate, state)
    first.network.put_route(f"{NET}/routeTables/woodgrove-rt", Route("r", "10.9.0.0/24", "None"))
    first.close()
    second = FakeAdapter.open(estate, state)
    assert "r" in second.network.get_route_table(f"{NET}/routeTables/woodgrove-rt").routes
    assert [e["operation"] for e in second.ledger()] == ["routes.create_or_update"]
    second.reset()
    assert "r" not in second.network.get_route_table(f"{NET}/routeTables/woodgrove-rt").routes
    assert second.ledger() == []
    second.close()


def test_the_ledger_holds_writes_only_and_never_a_key(fake, tmp_path):
    adapter = fake()
    adapter.network.get_local_gateway(f"{NET}/localNetworkGateways/woodgrove-onprem")
    adapter.network.set_local_gateway_prefixes(f"{NET}/localNetworkGateways/woodgrove-onprem", ["192.168.0.0/24"])
    adapter.network.put_connection(f"{NET}/connections/c", ConnectionSpec(
        "westeurope", "Vnet2Vnet", f"{NET}/virtualNetworkGateways/recovery-gw",
        f"{NET}/virtualNetworkGateways/woodgrove-gw", Secret(VPN_KEY)))
    operations = [e["operation"] for e in adapter.ledger()]
    assert operations == ["local_network_gateways.create_or_update",
                          "virtual_network_gateway_connections.create_or_update"]
    assert VPN_KEY not in repr(adapter.ledger()) and VPN_KEY not in repr(adapter.show())
    for path in tmp_path.glob("state-*"):
        assert VPN_KEY.encode() not in path.read_bytes()


def test_throttling_answers_429_with_retry_after_once_the_bucket_is_empty(fake):
    adapter = fake({"throttle": {"reads": [5, 0.01], "writes": [200, 10]}})  # no refill while the test runs
    for _ in range(5):
        adapter.network.get_virtual_network(RECOVERY_VNET)
    with pytest.raises(ThrottledError) as caught:
        adapter.network.get_virtual_network(RECOVERY_VNET)
    assert caught.value.status == 429 and caught.value.retry_after and caught.value.retry_after > 0


def test_seeded_faults_are_transient_and_repeatable(fake):
    def outcomes(adapter):
        seen = []
        for _ in range(40):
            try:
                adapter.network.get_virtual_network(RECOVERY_VNET)
                seen.append("ok")
            except TransientError as exc:
                seen.append(f"{exc.status}:{getattr(exc, 'retry_after', None)}")
        return seen

    first = outcomes(fake({"faults": {"transient_rate": 0.3, "seed": 4}}))
    second = outcomes(fake({"faults": {"transient_rate": 0.3, "seed": 4}}))
    assert first == second
    assert 4 <= sum(o != "ok" for o in first) <= 24  # about 30%
    assert any(o.startswith("429:") for o in first)


def test_job_durations_spread_but_repeat_from_run_to_run(fake):
    """``job_jitter`` spreads job durations by the work done, so two runs of an estate take the same time."""
    def durations(adapter):
        taken = {}
        for vm, ip in (("app01", "192.168.1.10"), ("app02", "192.168.1.11"), ("web01", "192.168.1.20")):
            keep_ip(adapter, vm, ip)
            handle = adapter.replication.start_failover(VAULT, vm, "planned")
            job = adapter.store.job(handle.job_id)
            taken[vm] = job["finish_at"] - job["start"]
        return taken

    simulation = {"latency": {"job_ms": 10_000_000, "job_jitter": 0.25}}
    adapter = fake(simulation)
    first, second = durations(adapter), durations(fake(simulation))
    assert first == second
    assert len(set(first.values())) == 3
    real_s = 10_000 * adapter.clock.scale  # job_ms in real seconds
    assert all(0.75 * real_s <= seconds <= 1.25 * real_s for seconds in first.values())


def test_latency_is_simulated_time_scaled(fake):
    adapter = fake({"latency": {"read_ms": 2000, "write_ms": 0, "job_ms": 0}, "time_scale": 0.01})
    started = time.perf_counter()
    adapter.network.get_virtual_network(RECOVERY_VNET)
    elapsed = time.perf_counter() - started
    assert 0.015 <= elapsed < 1.0  # 2 simulated seconds at 1/100


def test_a_test_failover_comes_up_in_the_isolated_network_and_cleans_up(fake):
    adapter = fake()
    adapter.replication.update_network_settings(VAULT, "app01", "app01-nic0", NetworkSettings(
        recovery_network=RECOVERY_VNET, recovery_subnet="app", test_network=TEST_VNET, test_subnet="app",
        test_ip="192.168.1.10"))
    assert settle(adapter, adapter.replication.start_failover(VAULT, "app01", "test", test_network=TEST_VNET)
                  ).ok  # Suspended, waiting for the cleanup
    assert adapter.replication.get_protected_item(VAULT, "app01").test_vm_ip == "192.168.1.10"
    settle(adapter, adapter.replication.start_test_failover_cleanup(VAULT, "app01", "done"))
    item = adapter.replication.get_protected_item(VAULT, "app01")
    assert item.test_vm_ip is None and item.state.protection_state == "Protected"


@pytest.mark.parametrize("nics, clash", [
    ([{"id": "app01-nic0", "source_ip": "192.168.1.40"}], "NIC app01-nic0 of extra is also a NIC of app01"),
    ([{"id": "shared", "source_ip": "192.168.1.40"}, {"id": "SHARED", "source_ip": "192.168.1.41"}],
     "NIC SHARED of extra is also a NIC of extra"),
])
def test_an_estate_that_gives_two_nics_one_id_is_refused(nics, clash, tmp_path):
    """NIC IDs are unique in a vault, a NIC without an ID taking its VM's default (`VM-nicN`), in any case."""
    import yaml

    from adapters.shared.estate import EstateInvalid, load_estate
    from tests.conftest import WOODGROVE

    estate = yaml.safe_load(WOODGROVE.read_text())
    vault = next(iter(estate["vaults"].values()))
    vault["protected_items"]["extra"] = {"nics": nics}
    path = tmp_path / "estate.yaml"
    path.write_text(yaml.safe_dump(estate))
    with pytest.raises(EstateInvalid) as refused:
        load_estate(path)
    assert clash in str(refused.value)
    del vault["protected_items"]["extra"]
    path.write_text(yaml.safe_dump(estate))
    assert load_estate(path).vaults
