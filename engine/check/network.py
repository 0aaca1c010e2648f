"""What the runbook's network steps will find, as seen now: each local network gateway's prefixes,
route table's routes, gateway and connection they name. Kept with each check, so the next one can say
what changed (the plan's own findings say what is wrong)."""

from __future__ import annotations

from adapters.shared import ids
from adapters.shared.errors import NotFoundError
from engine.check.context import CheckContext

KINDS = {  # step kind -> (argument, resource type, label, how to read it, how to show it)
    "network.local_gateway_prefixes": [("gateway", "localNetworkGateways", "local network gateway")],
    "network.routes": [("table", "routeTables", "route table")],
    "network.connection": [("name", "connections", "connection"), ("gateway", "virtualNetworkGateways", "gateway"),
                           ("peer", None, None)],
}


def _shown(net, kind: str, resource_id: str) -> str:
    try:
        if kind == "localNetworkGateways":
            return "prefixes " + ", ".join(sorted(net.get_local_gateway(resource_id).address_prefixes))
        if kind == "routeTables":
            routes = net.get_route_table(resource_id).routes.values()
            return "routes " + "; ".join(sorted(f"{r.name} {r.address_prefix} -> {r.next_hop_type}"
                                                + (f" {r.next_hop_ip}" if r.next_hop_ip else "") for r in routes))
        if kind == "connections":
            found = net.find_connection(resource_id)
            return "absent" if found is None else f"{found.connection_type} to {ids.name_of(found.peer_id or '')}"
        net.get_gateway(resource_id)
        return "present"
    except NotFoundError:
        return "absent"


def observe_network(ctx: CheckContext) -> None:
    target = ctx.loaded.runbook.target
    seen: set[str] = set()
    for step in ctx.loaded.runbook.steps:
        args = step.with_ if isinstance(step.with_, dict) else {}
        for argument, kind, label in KINDS.get(step.uses, []):
            value = args.get(argument)
            if kind is None:  # a connection's peer: a gateway (vnet2vnet) or a local network gateway (ipsec)
                kind, label = (("virtualNetworkGateways", "gateway") if args.get("type") == "vnet2vnet"
                               else ("localNetworkGateways", "local network gateway"))
            if not isinstance(value, str) or "${{" in value:
                continue
            resource_id = ids.resolve(value, kind, target.subscription, target.resource_group)
            if resource_id.lower() in seen:
                continue
            seen.add(resource_id.lower())
            ctx.observe(f"{label} {ids.name_of(resource_id)}", _shown(ctx.adapter.network, kind, resource_id))
