"""``failover snapshot``: the real estate of one subscription, resource group and vault, read with
GETs only, written in the fake's estate format, so the exact failover can be rehearsed offline.

Secrets stay behind (a connection's shared key is not read; Key Vaults are not listed). Resources
outside the resource group are not followed: the estate format names resources by name in one group.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import yaml

from adapters.azure.network import AzureInventory
from adapters.ports import VaultRef
from adapters.shared import ids
from adapters.shared.files import write_private


def _nic(nic, target) -> dict:
    """A NIC as the estate file writes it: its names, its address on-premises, its targets."""
    entry = {"id": ids.name_of(nic.nic_id) if ids.is_resource_id(nic.nic_id) else nic.nic_id,
             "ip_config": nic.ip_config, "source_ip": nic.source_ip or nic.recovery_ip or "0.0.0.0",
             "primary": nic.is_primary}
    if recovery := target(nic.recovery_network, nic.recovery_subnet, nic.recovery_ip):
        entry["recovery"] = recovery
    if test := target(nic.test_network, nic.test_subnet, nic.test_ip):
        entry["test"] = test
    return entry


def _replication(status) -> dict:
    """What `failover check` reads of an item's replication, as the estate keeps it (the recovery
    point's age as of now)."""
    if status is None:
        return {}
    age = status.recovery_point_age(time.time())
    return {**({"health_errors": list(status.health_errors)} if status.health_errors else {}),
            **({"rpo_seconds": int(age)} if age is not None else {}),
            **({"recovery_vm_size": status.recovery_vm_size} if status.recovery_vm_size else {})}


def _points(adapter, scope: VaultRef, vm: str) -> dict:
    """An item's recovery points as the estate file keeps them (no schedule: the service's own points)."""
    return {"every_minutes": None, "points": [
        {"time": datetime.fromtimestamp(p.time, UTC).isoformat().replace("+00:00", "Z"), "type": p.type}
        for p in adapter.replication.list_recovery_points(scope, vm)]}


def snapshot(adapter, scope: VaultRef, *, recovery_points: bool = False) -> dict:
    """The estate; with ``recovery_points``, each item's points read (one GET each), else marked to be read
    from the service when a step asks for them (what a plan does: it needs only the points it shows)."""
    sub, rg = scope.subscription, scope.resource_group
    inventory = AzureInventory(adapter.clients)
    vnets = adapter.network.list_virtual_networks(sub, rg)
    vnet_names = {v.id.lower(): v.name for v in vnets}

    def vnet_name(vnet_id: str | None) -> str | None:
        return vnet_names.get((vnet_id or "").lower()) or (ids.name_of(vnet_id) if vnet_id else None)

    def target(network, subnet, ip):
        if not network or not subnet:
            return None
        return {"network": vnet_name(network), "subnet": subnet, **({"ip": ip} if ip else {})}

    items, fabric, container = {}, None, None
    for item in adapter.replication.list_protected_items(scope):
        if fabric is None and item.id:
            parts = item.id.split("/")
            lower = [p.lower() for p in parts]
            fabric = parts[lower.index("replicationfabrics") + 1]
            container = parts[lower.index("replicationprotectioncontainers") + 1]
        state = item.state
        # An item the service shows no NIC of (protection still being enabled) keeps a placeholder address.
        nics = {"nics": [_nic(n, target) for n in item.nics]} if item.nics else {"source_ip": "0.0.0.0"}
        entry = {**nics, "state": state.protection_state,
                 "active_location": state.active_location, "test_failover_state": state.test_failover_state,
                 "replication_health": state.replication_health, **_replication(item.replication),
                 "recovery_points": (_points(adapter, scope, item.vm_name) if recovery_points
                                     else {"every_minutes": None, "from_service": True})}
        if item.recovery_point_id:
            entry["recovery_point"] = ids.name_of(item.recovery_point_id)
        items[item.vm_name] = entry
    plans = {}
    for name in inventory.recovery_plans(scope):
        plan = adapter.replication.get_recovery_plan(scope, name)
        plans[name] = {"groups": [list(g) for g in plan.groups]}
    vault = {"protected_items": items, "recovery_plans": plans}
    if fabric:
        vault.update(fabric=fabric, container=container)

    gateways = inventory.gateways(sub, rg)
    gateway_names = {g.id.lower(): g.name for g in gateways}
    local_gateways = inventory.local_gateways(sub, rg)
    connections = {}
    for conn in adapter.network.list_connections(sub, rg):
        connections[conn.name] = {"type": conn.connection_type, "gateway": ids.name_of(conn.gateway1_id),
                                  "peer": ids.name_of(conn.peer_id or "")}
    tables = {}
    for table in adapter.network.list_route_tables(sub, rg):
        tables[table.name] = {
            "location": table.location,
            "subnets": [f"{vnet_name(s.split('/subnets/')[0])}/{s.rsplit('/', 1)[-1]}" for s in table.subnet_ids],
            "routes": {r.name: {"prefix": r.address_prefix, "next_hop": r.next_hop_type,
                                **({"next_hop_ip": r.next_hop_ip} if r.next_hop_ip else {})}
                       for r in table.routes.values()}}
    machines = {}
    for nic, (subnet_id, ip) in inventory.nic_addresses(sub, rg).items():
        vnet_id, _, subnet = subnet_id.partition("/subnets/")
        if vnet_id.lower() in vnet_names:
            machines[nic] = {"vnet": vnet_names[vnet_id.lower()], "subnet": subnet, "ip": ip}
    zones = {zone: {"records": {name: {"ips": ips, "ttl": ttl} for name, (ips, ttl) in records.items()}}
             for zone, records in inventory.a_records(sub, rg).items()}
    location = next((v.location for v in vnets if v.location), "westeurope")
    return {
        "version": 1, "name": f"{rg}-snapshot", "subscription": sub, "resource_group": rg, "location": location,
        "description": f"snapshot of {sub}/{rg}/{scope.vault}; secrets left out",
        "vaults": {scope.vault: vault},
        "virtual_networks": {v.name: {"address_prefixes": list(v.address_prefixes), "subnets": dict(v.subnets),
                                      "location": v.location} for v in vnets},
        "virtual_network_gateways": {g.name: {"vnet": vnet_name(g.vnet_id), "location": g.location}
                                     for g in gateways if g.vnet_id.lower() in vnet_names},
        "local_network_gateways": {g.name: {"gateway_ip": g.gateway_ip, "prefixes": list(g.address_prefixes),
                                            "location": g.location} for g in local_gateways},
        "connections": {name: c for name, c in connections.items()
                        if c["gateway"].lower() in {n.lower() for n in gateway_names.values()}},
        "route_tables": tables,
        "virtual_machines": machines,
        "dns_zones": zones,
        "simulation": {"latency": {"read_ms": 0, "write_ms": 0, "job_ms": 0}, "throttle": None},
    }


def write_estate(estate: dict, path: Path) -> None:
    header = "# A snapshot of a real Azure estate in the fake's format (docs/estates.md); no secrets.\n"
    write_private(path, header + yaml.safe_dump(estate, sort_keys=False))
