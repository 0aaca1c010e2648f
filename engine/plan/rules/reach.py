"""NET004: no stretched subnet. The networks reachable through one VPN gateway (its own VNet, the VNets
connected to it, the prefixes of the local network gateways connected to it) never overlap."""

from __future__ import annotations

from typing import Any

from adapters.ports import Connection
from adapters.shared import ids
from adapters.shared.addressing import Reach, overlapping_pairs, parsed_network
from adapters.shared.errors import NotFoundError


def check_overlaps(inspector, step, adapter, connections: list[Connection], prefixes_override: dict, change: str):
    reach: dict[str, list[Reach]] = {}
    vnet_cache: dict[str, Any] = {}

    def vnet_reach(gateway_id: str) -> list[Reach]:
        key = gateway_id.lower()
        if key not in vnet_cache:
            try:
                gateway = adapter.network.get_gateway(gateway_id)
                vnet = adapter.network.get_virtual_network(gateway.vnet_id)
                vnet_cache[key] = [Reach(parsed_network(p), f"virtual network {vnet.name}")
                                   for p in vnet.address_prefixes]
            except NotFoundError:
                vnet_cache[key] = []
        return vnet_cache[key]

    for connection in connections:
        g1 = connection.gateway1_id
        reach.setdefault(g1.lower(), list(vnet_reach(g1)))
        if connection.connection_type == "Vnet2Vnet" and connection.gateway2_id:
            g2 = connection.gateway2_id
            reach.setdefault(g2.lower(), list(vnet_reach(g2)))
            reach[g1.lower()] += vnet_reach(g2)
            reach[g2.lower()] += vnet_reach(g1)
        elif connection.local_gateway2_id:
            lng_key = connection.local_gateway2_id.lower()
            try:
                lng = adapter.network.get_local_gateway(connection.local_gateway2_id)
            except NotFoundError:
                continue
            prefixes = prefixes_override.get(lng_key, lng.address_prefixes)
            reach[g1.lower()] += [Reach(parsed_network(p), f"local network gateway {lng.name}")
                                  for p in prefixes]
    for gateway_key, reaches in reach.items():
        for a, b in overlapping_pairs(reaches):
            gateway = ids.name_of(gateway_key)
            on_prem = a if a.source.startswith("local") else b if b.source.startswith("local") else None
            moved = b if on_prem is a else a
            fix = (f"remove {moved.prefix} from {on_prem.source.removeprefix('local network gateway ')} with "
                   "network.local_gateway_prefixes before this step, and put that step in this step's needs"
                   if on_prem else "give the two networks address spaces that do not overlap")
            inspector.overlaps_reported.add(f"{gateway_key}#reach")
            inspector.report("NET004", step,
                        f"after {change}, {a.prefix} of {a.source} overlaps {b.prefix} of {b.source}, both "
                        f"reachable through gateway {gateway}: Azure has no stretched subnets, so a prefix "
                        "cannot be both on-premises and in Azure behind one gateway", fix)
            return
