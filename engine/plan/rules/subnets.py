"""The rules of a subnet failover, at the end of the plan. NET005: the whole subnet moves (every protected
VM of a moved subnet fails over). NET006: afterwards the moved subnet is routed to Azure, and nothing
still announces or routes it on-premises. And back: NET012, the whole subnet fails back; NET013,
afterwards it is announced on-premises again and the recovery VNet that held it is disconnected."""

from __future__ import annotations

from adapters.shared import ids
from adapters.shared.addressing import network_text, parsed_address, parsed_network
from adapters.shared.errors import NotFoundError
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
    # (a VM the same runbook brings back on-premises is held to NET013 instead)
    moved = sorted({prefix for vm, (_, prefix) in inspector.kept_ip_items.items()
                    if vm in inspector.failed_over and vm not in inspector.failed_back})
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


# --- the way back ---------------------------------------------------------------------------------


def _moved_home(inspector, adapter) -> dict[str, tuple[str, list[str]]]:
    """The subnets a failback brings home with their addresses: prefix -> (recovery VNet ID, the VMs), for
    each failed-back VM whose recovery IP was its on-premises IP (its recovery subnet holds its source IP)."""
    vault = inspector.target.vault_ref(None)
    found: dict[str, tuple[str, list[str]]] = {}
    for vm in sorted(inspector.failed_back):
        try:
            nic = adapter.replication.get_protected_item(vault, vm).primary_nic
            if not (nic.recovery_network and nic.recovery_subnet and nic.source_ip):
                continue
            prefix = adapter.network.get_virtual_network(nic.recovery_network).subnets.get(nic.recovery_subnet)
        except (NotFoundError, LookupError):
            continue
        if prefix and parsed_address(nic.source_ip) in parsed_network(prefix):
            found.setdefault(network_text(prefix), (nic.recovery_network, []))[1].append(vm)
    return found


def _failback_step(inspector, vms: list[str]) -> Step | None:
    return next((inspector.steps_of[("failback", vm)] for vm in vms if ("failback", vm) in inspector.steps_of), None)


def whole_subnets_come_home(inspector, adapter) -> None:
    """NET012: a subnet comes home whole; a VM of it left running in Azure would be cut off there."""
    vault = inspector.target.vault_ref(None)
    accepted = {network_text(p) for p in inspector.loaded.runbook.accept_partial_subnets}
    for prefix, (_vnet, vms) in sorted(_moved_home(inspector, adapter).items()):
        if prefix in accepted:
            continue
        network = parsed_network(prefix)
        left = sorted(i.vm_name for i in adapter.replication.list_protected_items(vault)
                      if i.vm_name not in inspector.failed_back and i.state.failed_over and i.recovery_vm_ip
                      and parsed_address(i.recovery_vm_ip) in network)
        if left:
            inspector.report("NET012", _failback_step(inspector, vms), f"{prefix} comes back on-premises, but "
                             f"{', '.join(left)} of that subnet still {'runs' if len(left) == 1 else 'run'} in Azure: "
                             "the subnet is never on both sides, so they would be cut off",
                             f"fail {', '.join(left)} back in the same runbook, or list {prefix} under "
                             "accept_partial_subnets to say this is deliberate")


def routed_home(inspector, adapter) -> None:
    """NET013: after a failback, the subnet is announced on-premises again, and the recovery VNet that held
    it is no longer connected (traffic for it would still go to Azure)."""
    moved = _moved_home(inspector, adapter)
    if not moved:
        return
    net = adapter.network
    sub, rg = inspector.target.subscription, inspector.target.resource_group
    connections = net.list_connections(sub, rg)
    for prefix, (vnet_id, vms) in sorted(moved.items()):
        network = parsed_network(prefix)
        step = _failback_step(inspector, vms)
        lngs = [net.get_local_gateway(lid) for lid in sorted({c.local_gateway2_id.lower() for c in connections
                                                             if c.local_gateway2_id})]
        if lngs and not inspector.unrun("network.local_gateway_prefixes") and not any(
                network.subnet_of(parsed_network(p)) for lng in lngs for p in lng.address_prefixes):
            names = ", ".join(lng.name for lng in lngs)
            inspector.report("NET013", step, f"after the runbook, {prefix} is back on-premises but no local network "
                             f"gateway announces it ({names}), so Azure cannot reach it on the site",
                             f"add a network.local_gateway_prefixes step adding {prefix} to {lngs[0].name}, after "
                             "the recovery VNet's connections are removed")
        for connection in connections:
            if connection.connection_type != "Vnet2Vnet" or inspector.unrun("network.connection", "name",
                                                                             connection.name):
                continue
            ends = [connection.gateway1_id, connection.gateway2_id or ""]
            try:
                vnets = {net.get_gateway(g).vnet_id.lower() for g in ends if g}
            except NotFoundError:
                continue
            if vnet_id.lower() in vnets:
                inspector.report("NET013", step, f"after the runbook, connection {connection.name} still connects "
                                 f"{ids.name_of(vnet_id)}, which holds {prefix}, although the subnet is back "
                                 "on-premises", f"add a network.connection step removing {connection.name} "
                                 "(state: absent) before the prefix goes back on the local network gateway")
