"""NET011 (a warning): a subnet's route to on-premises is withdrawn before its VMs have failed over.

Taking a prefix off the on-premises local network gateway, or routing it to Azure in a route table,
tells Azure that the subnet now lives in Azure. Its VMs still on-premises are cut off from Azure from
that step until their failover ends. The steps that withdraw a route are recorded as the plan is
simulated; at the end, each is compared with the failover steps of the VMs in the prefix: a failover
that is not among the withdrawing step's needs (directly or through other steps) leaves a window.
"""

from __future__ import annotations

from dataclasses import dataclass

from adapters.shared import ids
from adapters.shared.addressing import parsed_address, parsed_network
from adapters.shared.errors import NotFoundError
from engine.model.problems import WARNING
from engine.model.runbook import Step

AZURE_HOPS = ("VirtualNetworkGateway", "VnetLocal")  # as NET006 reads a route: the prefix goes to Azure


@dataclass(frozen=True)
class Withdrawal:
    step: Step
    prefix: str
    what: str  # e.g. "removes 192.168.1.0/24 from local network gateway woodgrove-onprem"


def record_prefix_removal(inspector, step: Step, gateway: str, current: list[str], removed: list[str]) -> None:
    """A ``network.local_gateway_prefixes`` step removes prefixes that the gateway announces now."""
    for prefix in removed:
        if any(parsed_network(p).overlaps(parsed_network(prefix)) for p in current):
            inspector.withdrawals.append(Withdrawal(step, prefix, f"removes {prefix} from local network gateway "
                                                                  f"{gateway}"))


def check_routes(inspector, step: Step, args, adapter) -> None:
    """The rules hook of ``network.routes``: which of its changes send a prefix to Azure."""
    table_id = ids.resolve(args.table, ids.ROUTE_TABLE, inspector.target.subscription,
                           inspector.target.resource_group)
    try:
        table = adapter.network.get_route_table(table_id)
    except NotFoundError:
        return  # the step fails in the simulation and says so
    for spec in args.routes:
        current = table.routes.get(spec.name)
        if spec.state == "absent":
            if current is not None and current.next_hop_type not in AZURE_HOPS:
                hop = current.next_hop_type + (f" {current.next_hop_ip}" if current.next_hop_ip else "")
                inspector.withdrawals.append(Withdrawal(step, current.address_prefix, f"removes route {spec.name} "
                                                        f"({current.address_prefix} -> {hop}) from {table.name}"))
        elif spec.next_hop in AZURE_HOPS and (current is None or current.next_hop_type not in AZURE_HOPS
                                              or current.address_prefix != spec.prefix):
            inspector.withdrawals.append(Withdrawal(step, spec.prefix, f"routes {spec.prefix} to {spec.next_hop} "
                                                    f"in {table.name}"))


def withdrawn_before_failover(inspector, adapter, result) -> None:
    """NET011 for each withdrawal that a failover of VMs in its prefix may still follow."""
    if not inspector.withdrawals:
        return
    precedence = inspector.loaded.runbook.precedence
    failovers: dict[str, list[str]] = {}  # failover step -> the VMs it covers
    for (what, vm), step in inspector.steps_of.items():
        if what == "failover":
            failovers.setdefault(step.id, []).append(vm)
    moved: dict[str, list[str]] = {}  # failover step -> the VMs it moved (those that were on-premises)
    source_ips: dict[str, str] | None = None
    windows: dict[tuple[str, str], tuple[Step, list[str], set[str]]] = {}  # (step, failover) -> whats, VMs
    for withdrawal in inspector.withdrawals:
        late = [f for f in failovers if not precedence.before(f, withdrawal.step.id)]
        if not late:
            continue
        if source_ips is None:  # read once, and only when a failover may come late
            items = adapter.replication.list_protected_items(inspector.target.vault_ref(None))
            source_ips = {i.vm_name: i.primary_nic.source_ip for i in items if i.nics and i.primary_nic.source_ip}
        network = parsed_network(withdrawal.prefix)
        for failover in late:
            if failover not in moved:
                changed = {change.resource for change in result.step(failover).changes}
                moved[failover] = [vm for vm in failovers[failover] if f"protected item {vm}" in changed]
            left = {vm for vm in moved[failover] if vm in source_ips and parsed_address(source_ips[vm]) in network}
            if left:
                _, whats, vms = windows.setdefault((withdrawal.step.id, failover), (withdrawal.step, [], set()))
                whats.append(withdrawal.what)
                vms |= left
    for (step_id, failover), (step, whats, vms) in windows.items():
        _report(inspector, step, " and ".join(whats), failover, sorted(vms),
                after=precedence.before(step_id, failover))


def _report(inspector, step: Step, what: str, failover: str, vms: list[str], *, after: bool) -> None:
    when = "runs after it" if after else "is not among its needs, so it may run after it"
    names = ", ".join(vms)
    message = (f"{step.id} {what} while {names} of that subnet {'is' if len(vms) == 1 else 'are'} still "
               f"on-premises: their failover, {failover}, {when}. From the start of {step.id} until {failover} "
               "has failed them over, Azure no longer sends their traffic on-premises, where they still run: "
               "they are cut off from Azure")
    fix = (f"withdraw the route once the subnet has failed over: in {step.id}, "
           f"`needs: [{', '.join([*step.needs, failover])}]`" if not after else
           f"fail {names} over first: {failover} must not wait for {step.id}; put it in {step.id}'s needs instead")
    inspector.report("NET011", step, message, fix, severity=WARNING, path=("needs",) if step.needs else ())
