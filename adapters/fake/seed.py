"""Seed the live state from an estate file."""

from __future__ import annotations

from datetime import UTC

from adapters.fake.store import Store
from adapters.shared import ids
from adapters.shared.estate import VM_SIZES, Estate
from adapters.shared.itemstate import PROTECTION_STATES, TEST_FAILOVER_STATES, Stage, TestFailover

# store kind -> the key it has in `failover fake show`
KINDS = {
    "item": "protected_items", "nic": "protected_nics", "plan": "recovery_plans", "vnet": "virtual_networks",
    "gateway": "virtual_network_gateways", "lng": "local_network_gateways", "connection": "connections",
    "route_table": "route_tables", "vm": "virtual_machines", "zone": "dns_zones", "key_vault": "key_vaults",
    "quota": "compute_usages", "vm_size": "vm_sizes",
}


def seed(store: Store, estate: Estate, cloud) -> None:
    location = estate.location
    for vault_name, vault in estate.vaults.items():
        for name, item in vault.protected_items.items():
            seed_item(store, cloud, vault_name, vault, name, item)
        for name, plan in vault.recovery_plans.items():
            store.put("plan", {"name": name, "vault": vault_name, "groups": plan.groups, "current_job": None})
    for name, vnet in estate.virtual_networks.items():
        store.put("vnet", {"name": name, "location": vnet.location or location, "prefixes": vnet.address_prefixes,
                           "subnets": vnet.subnets})
    for name, gateway in estate.virtual_network_gateways.items():
        store.put("gateway", {"name": name, "vnet": gateway.vnet, "location": gateway.location or location})
    for name, lng in estate.local_network_gateways.items():
        store.put("lng", {"name": name, "gateway_ip": lng.gateway_ip, "prefixes": lng.prefixes,
                          "location": lng.location or location})
    for name, conn in estate.connections.items():
        store.put("connection", {"name": name, "type": conn.type, "gateway": conn.gateway, "peer": conn.peer,
                                 "key_hmac": None, "key_env": conn.shared_key_env, "location": location,
                                 "tags": {}})
    for name, table in estate.route_tables.items():
        store.put("route_table", {
            "name": name, "location": table.location or location, "subnets": table.subnets,
            "routes": {r: {"prefix": route.prefix, "next_hop": route.next_hop, "next_hop_ip": route.next_hop_ip}
                       for r, route in table.routes.items()}})
    for name, vm in estate.virtual_machines.items():
        store.put("vm", {"name": name, "vnet": vm.vnet, "subnet": vm.subnet, "ip": vm.ip, "owner": None})
    for name, zone in estate.dns_zones.items():
        store.put("zone", {"name": name, "records": {r: {"ips": rec.ips, "ttl": rec.ttl}
                                                     for r, rec in zone.records.items()}})
    for name, kv in estate.key_vaults.items():
        store.put("key_vault", {"name": name, "secrets": {s: ref.env for s, ref in kv.secrets.items()}})
    for name, quota in estate.compute.usages.items():
        store.put("quota", {"name": name, "current": quota.current, "limit": quota.limit})
    for name, size in {**VM_SIZES, **estate.compute.vm_sizes}.items():
        store.put("vm_size", {"name": name, "family": size.family, "vcpus": size.vcpus})


def seed_item(store: Store, cloud, vault_name: str, vault, name: str, item) -> None:
    """One protected item of ``vault`` (an estate's ``Vault``), its NICs, and the VMs it runs as."""
    nics = item.nic_list(name)
    stage = PROTECTION_STATES[item.state]
    failed_over = item.active_location == "Recovery" if item.active_location else \
        stage in (Stage.FAILED_OVER, Stage.COMMITTED)
    points = item.recovery_points or vault.recovery_points
    store.put("item", {
        "name": name, "vault": vault_name, "fabric": vault.fabric, "container": vault.container,
        "nics": [nic.id for nic in nics], "inject_failover_error": item.inject.failover_error,
        "state": {"protectionState": item.state, "activeLocation": "Recovery" if failed_over else "Primary",
                  "testFailoverState": item.test_failover_state, "replicationHealth": item.replication_health,
                  "currentScenario": {"scenarioName": "None", "jobId": "None"}},
        "replication": {"healthErrors": list(item.health_errors), "rpoInSeconds": item.rpo_seconds,
                        "recoveryAzureVMSize": item.recovery_vm_size},
        "points": {"every_s": points.every_minutes * 60 if points.every_minutes else None,
                   "app_every": points.app_consistent_every,
                   "retention_s": float("inf") if points.from_service else points.retention_hours * 3600,
                   "from_service": points.from_service,
                   "taken": [[p.time.timestamp() if p.time.tzinfo else p.time.replace(tzinfo=UTC).timestamp(), p.type]
                             for p in points.points],
                   # replication runs (points are taken) from `since` until `stopped`
                   "since": None, "stopped": cloud.clock.wall() if failed_over else None},
        "recovery_point": item.recovery_point,
    })
    test_up = TEST_FAILOVER_STATES[item.test_failover_state] == TestFailover.UP
    for nic in nics:
        store.put("nic", {"name": nic.id, "id": nic.id, "item": name, "ip_config": nic.ip_config,
                          "source_ip": nic.source_ip, "primary": nic.primary,
                          "recovery": _target(cloud, nic.recovery), "test": _target(cloud, nic.test)})
        if failed_over and nic.recovery and nic.recovery.ip:
            store.put("vm", {"name": nic.id, "vnet": ids.name_of(nic.recovery.network),
                             "subnet": nic.recovery.subnet, "ip": nic.recovery.ip, "owner": nic.id, "item": name})
        target = nic.test or nic.recovery
        if test_up and target and target.ip:
            store.put("vm", {"name": f"{nic.id}-test", "vnet": ids.name_of(target.network),
                             "subnet": target.subnet, "ip": target.ip, "owner": nic.id, "item": name,
                             "test": True})


def _target(cloud, target) -> dict:
    if target is None:
        return {"network": None, "subnet": None, "ip": None}
    return {"network": cloud.id(ids.VIRTUAL_NETWORK, target.network), "subnet": target.subnet, "ip": target.ip}
