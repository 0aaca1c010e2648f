"""Seed the live state from an estate file."""

from __future__ import annotations

from adapters import ids
from adapters.fake.schema import Estate
from adapters.fake.store import Store

# store kind -> the key it has in `failover fake show`
KINDS = {
    "item": "protected_items", "plan": "recovery_plans", "vnet": "virtual_networks",
    "gateway": "virtual_network_gateways", "lng": "local_network_gateways", "connection": "connections",
    "route_table": "route_tables", "vm": "virtual_machines", "zone": "dns_zones", "key_vault": "key_vaults",
}


def seed(store: Store, estate: Estate, cloud) -> None:
    location = estate.location
    for vault_name, vault in estate.vaults.items():
        for name, item in vault.protected_items.items():
            failed_over = item.state in ("FailoverCompleted", "FailoverCommitted")
            store.put("item", {
                "name": name, "vault": vault_name, "fabric": vault.fabric, "container": vault.container,
                "source_ip": item.source_ip, "nic_id": f"{name}-nic0", "protection_state": item.state,
                "active_location": "Recovery" if failed_over else "Primary", "test_failover_state": None,
                "current_job": None, "inject_failover_error": item.inject.failover_error,
                "recovery": _target(cloud, item.recovery), "test": _target(cloud, item.test),
                "recovery_vm_ip": item.recovery.ip if failed_over and item.recovery else None, "test_vm_ip": None,
            })
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
                                 "key_fingerprint": None, "key_env": conn.shared_key_env, "location": location,
                                 "tags": {}})
    for name, table in estate.route_tables.items():
        store.put("route_table", {
            "name": name, "location": table.location or location, "subnets": table.subnets,
            "routes": {r: {"prefix": route.prefix, "next_hop": route.next_hop, "next_hop_ip": route.next_hop_ip}
                       for r, route in table.routes.items()}})
    for name, vm in estate.virtual_machines.items():
        store.put("vm", {"name": name, "vnet": vm.vnet, "subnet": vm.subnet, "ip": vm.ip, "owner": None})
    for vault in estate.vaults.values():
        for name, item in vault.protected_items.items():
            if item.state in ("FailoverCompleted", "FailoverCommitted") and item.recovery and item.recovery.ip:
                store.put("vm", {"name": name, "vnet": ids.name_of(item.recovery.network), "subnet": item.recovery.subnet,
                                 "ip": item.recovery.ip, "owner": name})
    for name, zone in estate.dns_zones.items():
        store.put("zone", {"name": name, "records": {r: {"ips": rec.ips, "ttl": rec.ttl}
                                                     for r, rec in zone.records.items()}})
    for name, kv in estate.key_vaults.items():
        store.put("key_vault", {"name": name, "secrets": {s: ref.env for s, ref in kv.secrets.items()}})


def _target(cloud, target) -> dict:
    if target is None:
        return {"network": None, "subnet": None, "ip": None}
    return {"network": cloud.id(ids.VIRTUAL_NETWORK, target.network), "subnet": target.subnet, "ip": target.ip}
