"""RDY004: each target IP the runbook gives a VM is still free in its network (or already the VM's own)."""

from __future__ import annotations

from adapters.shared import ids
from adapters.shared.errors import NotFoundError
from engine.check.context import CheckContext


def check_addresses(ctx: CheckContext, items: dict) -> None:
    for address in ctx.scope.addresses:
        item = items.get(address.item)
        if item is None:
            continue
        own = {n.recovery_ip if address.purpose == "recovery" else n.test_ip for n in item.nics}
        if address.ip in own and (item.state.failed_over if address.purpose == "recovery"
                                  else item.state.test_failed_over):
            continue  # the VM holds it itself
        vnet = ids.name_of(address.network)
        resource = f"IP {address.ip} in {vnet}"
        try:
            found = ctx.adapter.network.check_ip_availability(address.network, address.ip)
        except NotFoundError:
            continue  # a missing network is the plan's NET001
        ctx.observe(resource, "free" if found.available else "in use")
        if not found.available and not found.platform_reserved:
            free = ", ".join(found.available_alternatives[:3]) or "none offered"
            ctx.find("RDY004", resource,
                     f"{address.ip}, the {address.purpose} IP of {address.item}, is already in use in {vnet}",
                     f"find what holds it in {vnet}/{address.subnet} and free it, or choose another address "
                     f"(free nearby: {free})", step=address.step)
