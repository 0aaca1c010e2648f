"""RDY005: the recovery region has the vCPU quota, regional and per family, for the VMs the failover will
create (each VM's recoveryAzureVMSize), from the Compute usage API and the region's VM sizes."""

from __future__ import annotations

from collections import defaultdict

from adapters.shared.errors import NotFoundError
from engine.check.context import CheckContext

REGIONAL = "cores"  # usages' name for all regional vCPUs


def recovery_location(ctx: CheckContext) -> str | None:
    """The runbook's target location, else the region of the VMs' recovery network."""
    if ctx.loaded.runbook.target.location:
        return ctx.loaded.runbook.target.location
    for address in ctx.scope.addresses:
        try:
            return ctx.adapter.network.get_virtual_network(address.network).location
        except NotFoundError:
            continue
    return None


def check_quota(ctx: CheckContext, items: dict) -> None:
    location = recovery_location(ctx)
    sizes_of = {name: item.replication.recovery_vm_size for name, item in items.items()
                if name in ctx.scope.failed_over and item.replication and item.replication.recovery_vm_size
                and not item.state.failed_over}
    if location is None or not sizes_of:
        return
    subscription = ctx.loaded.runbook.target.subscription
    offered = {s.name.lower(): s for s in ctx.adapter.compute.list_vm_sizes(subscription, location)}
    usages = {u.name.lower(): u for u in ctx.adapter.compute.list_usages(subscription, location)}
    need: dict[str, int] = defaultdict(int)
    for name, size_name in sorted(sizes_of.items()):
        size = offered.get(size_name.lower())
        if size is None:
            ctx.find("RDY005", f"VM size {size_name} in {location}",
                     f"{name} would fail over as {size_name}, which {location} does not offer",
                     f"choose a size offered in {location} for {name} (Compute and Network settings of the item)",
                     step=ctx.scope.failed_over[name])
            continue
        need[size.family] += size.vcpus
        need[REGIONAL] += size.vcpus
    for family, vcpus in sorted(need.items()):
        usage = usages.get(family.lower())
        if usage is None:
            continue  # no quota of that name is reported: nothing to hold it to
        resource = f"quota {usage.name} in {location}"
        ctx.observe(resource, f"{usage.current} of {usage.limit} vCPUs used")
        if vcpus > usage.free:
            ctx.find("RDY005", resource,
                     f"the failover creates VMs with {vcpus} vCPUs of {usage.label or usage.name}, but only "
                     f"{usage.free} of {usage.limit} are free in {location}",
                     f"request a quota increase of at least {vcpus - usage.free} vCPUs for {usage.name} in "
                     f"{location} (Subscriptions > Usage + quotas), or free some")
