"""The rules of a subnet failover, at the end of the plan. NET005: the whole subnet moves (every protected
VM of a moved subnet fails over). NET006: afterwards the moved subnet is routed to Azure, and nothing
still announces or routes it on-premises."""

from __future__ import annotations

from adapters.shared.addressing import network_text, parsed_address, parsed_network
from engine.model.runbook import Step


def whole_subnets_move(inspector, adapter) -> None:
    """NET005: subnet failover moves the whole subnet; every protected VM in it goes too."""
    accepted = {network_text(p) for p in inspector.loaded.runbook.accept_partial_subnets}
    moved = {prefix for vm, (_, prefix) in inspector.kept_ip_items.items() if vm in inspector.failed_over}
    if not moved:
        return
    staying = [i for i in adapter.replication.list_protected_items(inspector.target.vault_ref(None))
               if i.vm_name not in inspector.failed_over and i.primary_nic.source_ip]
    for prefix in sorted(moved - accepted):
        network = parsed_network(prefix)
        left = sorted(i.vm_name for i in staying if parsed_address(i.primary_nic.source_ip) in network)
        if left:
            inspector.report("NET005", moving_step(inspector, prefix), f"{prefix} moves to Azure with its IP addresses, "
                        "but "
                        f"{', '.join(left)} of that subnet {'does' if len(left) == 1 else 'do'} not fail over: "
                        "subnet failover moves the whole subnet, so they would be cut off on-premises",
                        f"fail {', '.join(left)} over in the same runbook, or list {prefix} under "
                        "accept_partial_subnets to say this is deliberate")


def moving_step(inspector, prefix: str) -> Step | None:
    """The (first) failover step that moves ``prefix`` to Azure with its addresses."""
    return next((inspector.steps_of[("failover", vm)] for vm, (_, moved) in inspector.kept_ip_items.items()
                 if moved == prefix and ("failover", vm) in inspector.steps_of), None)


def routed_to_azure(inspector, adapter) -> None:
    """NET006: after the runbook, the moved subnet is routed to Azure and nothing routes it on-premises."""
    moved = sorted({prefix for vm, (_, prefix) in inspector.kept_ip_items.items() if vm in inspector.failed_over})
    if not moved:
        return
    net = adapter.network
    sub, rg = inspector.target.subscription, inspector.target.resource_group
    connections = net.list_connections(sub, rg)
    for prefix in moved:
        network = parsed_network(prefix)
        for lng_id in {c.local_gateway2_id.lower() for c in connections if c.local_gateway2_id}:
            lng = net.get_local_gateway(lng_id)
            if inspector.unrun("network.local_gateway_prefixes", "gateway", lng.name):
                continue  # the step that would remove it is in the runbook; it did not run
            if any(parsed_network(p).overlaps(network) for p in lng.address_prefixes):
                inspector.report("NET006", moving_step(inspector, prefix), "after the runbook, local network gateway "
                            f"{lng.name} still "
                            f"announces {prefix} as on-premises ({', '.join(lng.address_prefixes)}), so Azure "
                            "keeps sending its traffic to the on-premises site",
                            f"add a network.local_gateway_prefixes step removing {prefix} from {lng.name}")
        for table in net.list_route_tables(sub, rg):
            if inspector.unrun("network.routes", "table", table.name):
                continue
            for route in _routes_for(table, network):
                if route.next_hop_type not in ("VirtualNetworkGateway", "VnetLocal"):
                    hop = route.next_hop_type + (f" {route.next_hop_ip}" if route.next_hop_ip else "")
                    inspector.report("NET006", moving_step(inspector, prefix), f"after the runbook, route {route.name} in "
                                f"{table.name} still "
                                f"sends {route.address_prefix} (covering {prefix}) to {hop}, not to Azure",
                                f"add a network.routes step: {route.name} absent, or a route for {prefix} "
                                "with next_hop VirtualNetworkGateway")


def _routes_for(table, network):
    """The routes that decide where traffic for ``network`` goes: the longest covering prefix, and any
    more specific route inside it."""
    routes = [r for r in table.routes.values() if parsed_network(r.address_prefix).version == network.version]
    covering = [r for r in routes if network.subnet_of(parsed_network(r.address_prefix))]
    inside = [r for r in routes
              if parsed_network(r.address_prefix).subnet_of(network)
              and parsed_network(r.address_prefix) != network]
    best = max(covering, key=lambda r: parsed_network(r.address_prefix).prefixlen, default=None)
    return ([best] if best else []) + inside
