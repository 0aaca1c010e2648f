"""RDY001: every protected VM of a subnet the runbook moves is in the runbook. A subnet moves when a VM
keeps its on-premises IP in Azure (subnet failover moves the whole subnet: a VM left behind is cut off)."""

from __future__ import annotations

from adapters.shared.addressing import network_text, parsed_address, parsed_network
from adapters.shared.errors import NotFoundError
from engine.check.context import CheckContext


def moved_subnets(ctx: CheckContext, items: dict) -> dict[str, str]:
    """prefix -> the failover step that moves it."""
    moved: dict[str, str] = {}
    vnets: dict[str, dict[str, str]] = {}
    for address in ctx.scope.addresses:
        item = items.get(address.item)
        step = ctx.scope.moving_steps.get(address.item)
        if address.purpose != "recovery" or item is None or step is None:
            continue
        if address.ip not in {nic.source_ip for nic in item.nics}:
            continue  # the change-IP path: the VM gets a new address, its subnet stays
        if address.network not in vnets:
            try:
                vnets[address.network] = ctx.adapter.network.get_virtual_network(address.network).subnets
            except NotFoundError:
                vnets[address.network] = {}
        prefix = vnets[address.network].get(address.subnet)
        if prefix:
            moved.setdefault(network_text(prefix), step)
    return moved


def check_coverage(ctx: CheckContext, items: dict) -> None:
    accepted = {network_text(p) for p in ctx.loaded.runbook.accept_partial_subnets}
    for prefix, step in sorted(moved_subnets(ctx, items).items()):
        network = parsed_network(prefix)
        members = sorted(name for name, item in items.items()
                         if any(n.source_ip and parsed_address(n.source_ip) in network for n in item.nics))
        ctx.observe(f"subnet {prefix}", "protected VMs " + ", ".join(members))
        if prefix in accepted:
            continue
        for name in members:
            if name not in ctx.scope.failed_over:
                ctx.find("RDY001", f"protected item {name}",
                         f"{name} is protected on {prefix}, which the runbook moves to Azure with its addresses, "
                         "but the runbook does not fail it over: it would be cut off on-premises",
                         f"add {name} to step {step} (and give it its recovery IP with asr.set_target_ip), or list "
                         f"{prefix} under accept_partial_subnets", step=step)
