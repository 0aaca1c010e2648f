"""NET008: the gateways, GatewaySubnets and local network gateways a connection needs exist; a prefix
change names a local network gateway that does. Both then checked for stretched subnets (NET004)."""

from __future__ import annotations

from adapters.ports import Connection
from adapters.shared import ids
from adapters.shared.addressing import prefixes_after
from adapters.shared.errors import NotFoundError
from engine.model.runbook import Step
from engine.plan.rules.reach import check_overlaps
from engine.plan.rules.withdrawals import record_prefix_removal


def check_connection(inspector, step: Step, args, adapter) -> None:
    if args.state != "present":
        return
    net = adapter.network
    gateway_id = ids.resolve(args.gateway, ids.GATEWAY, inspector.target.subscription, inspector.target.resource_group)
    peer_kind = ids.GATEWAY if args.type == "vnet2vnet" else ids.LOCAL_GATEWAY
    peer_id = ids.resolve(args.peer, peer_kind, inspector.target.subscription, inspector.target.resource_group)
    ends = [gateway_id] + ([peer_id] if args.type == "vnet2vnet" else [])
    for end in ends:
        try:
            gateway = net.get_gateway(end)
            vnet = net.get_virtual_network(gateway.vnet_id)
        except NotFoundError as exc:
            inspector.report("NET008", step, f"connection {args.name}: {exc}", "create the gateway (in a VNet with a "
                        "GatewaySubnet) before this step, or fix the name")
            return
        if "GatewaySubnet" not in vnet.subnets:
            inspector.report("NET008", step, f"connection {args.name}: virtual network {vnet.name} of gateway "
                        f"{gateway.name} has no GatewaySubnet", f"add a GatewaySubnet (/27 or larger) to {vnet.name}")
    if args.type == "ipsec":
        try:
            net.get_local_gateway(peer_id)
        except NotFoundError:
            inspector.report("NET008", step, f"connection {args.name}: local network gateway {ids.name_of(peer_id)} "
                        "does not exist", "create it, or fix the name")
            return
    existing = [c for c in net.list_connections(inspector.target.subscription, inspector.target.resource_group)
                if not ids.same(c.id, ids.resolve(args.name, ids.CONNECTION, inspector.target.subscription,
                                                  inspector.target.resource_group))]
    kind = "Vnet2Vnet" if args.type == "vnet2vnet" else "IPsec"
    planned = Connection(id=args.name, name=args.name, location="", connection_type=kind,
                         gateway1_id=gateway_id, gateway2_id=peer_id if kind == "Vnet2Vnet" else None,
                         local_gateway2_id=peer_id if kind == "IPsec" else None)
    check_overlaps(inspector, step, adapter, existing + [planned], _unordered_prefixes(inspector, step, adapter),
                         f"connection {args.name}")


def _unordered_prefixes(inspector, step: Step, adapter) -> dict:
    """The simulation runs one step at a time, but a real run starts every step whose needs are done:
    a prefix removed by an earlier step that is not among this step's (transitive) needs may still be
    announced when this step runs. Those local gateways count with the prefixes removed put back."""
    ancestors = inspector.loaded.ancestors(step.id)
    override: dict[str, list[str]] = {}
    for step_id, lng_key, removed in inspector.prefix_removals:
        if step_id in ancestors or not removed:
            continue
        try:
            prefixes = override.get(lng_key) or list(adapter.network.get_local_gateway(lng_key).address_prefixes)
        except NotFoundError:
            continue
        override[lng_key] = prefixes + sorted(removed - set(prefixes))
    return override


def check_local_gateway_prefixes(inspector, step: Step, args, adapter) -> None:
    lng_id = ids.resolve(args.gateway, ids.LOCAL_GATEWAY, inspector.target.subscription, inspector.target.resource_group)
    try:
        current = adapter.network.get_local_gateway(lng_id)
    except NotFoundError:
        inspector.report("NET008", step, f"local network gateway {ids.name_of(lng_id)} does not exist",
                    "create it, or fix the name")
        return
    after = prefixes_after(list(current.address_prefixes), args.add, args.remove)
    record_prefix_removal(inspector, step, current.name, list(current.address_prefixes), args.remove)
    inspector.prefix_removals.append((step.id, lng_id.lower(), set(current.address_prefixes) - set(after)))
    connections = adapter.network.list_connections(inspector.target.subscription, inspector.target.resource_group)
    check_overlaps(inspector, step, adapter, connections, {lng_id.lower(): after},
                         f"local network gateway {current.name} with {', '.join(args.add) or 'its prefixes'}")
