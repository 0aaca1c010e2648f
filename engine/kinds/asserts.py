"""Verification probes (``assert.*``): they read, never change, and fail with expected vs found.

A probe may wait for the state to arrive (``within``, polled every ``every``): right after a failover
a connection can take a moment to come up. Usable in any runbook; drills are made of them.
"""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field

from adapters.shared import ids
from adapters.shared.errors import NotFoundError
from adapters.shared.itemstate import Stage
from engine.kinds.base import Args, Decision, StepKind, VerificationFailed
from engine.kinds.footprint import READ, Scope, Touch, dns_record, named_resource, protected_item, protected_items
from engine.kinds.registry import register
from engine.model.runbook import Duration
from engine.run.context import StepContext


class ProbeArgs(Args):
    within: Duration = Field(0.0, description="keep checking this long before failing (e.g. 2m)")
    every: Duration = Field(10.0, description="how often to check while waiting")


class AssertionFailed(VerificationFailed):
    pass


class Probe(StepKind):
    """Read, compare, and either pass (outputs: what was found) or fail saying expected vs found."""

    mutates = False
    outputs = {"found": "what the probe found"}

    def check(self, ctx: StepContext, args) -> tuple[bool, str, object]:
        """(passed, 'expected ..., found ...', what was found)."""
        raise NotImplementedError

    def plan(self, ctx: StepContext, args) -> Decision:
        waited = 0.0
        while True:
            passed, explanation, found = self.check(ctx, args)
            if passed:
                return Decision("none", outputs={"found": found})
            if waited >= args.within:
                raise AssertionFailed(explanation)
            ctx.log.info("probe.waiting", explanation=explanation, waited_s=waited)
            ctx.sleep(args.every)
            waited += args.every


class ItemStateArgs(ProbeArgs):
    items: list[str] = Field(min_length=1)
    state: Literal["failed_over", "test_failed_over", "committed", "protected", "failed_back"] = Field(
        description="failed_over (in Azure), test_failed_over (a test VM is up), committed, protected (at the "
                    "primary, replicating to Azure), failed_back (back at the primary, not yet reprotected)")
    vault: str | None = None


def _item_state(item) -> list[str]:
    state = item.state
    states = []
    if state.failed_over:
        states.append("failed_over")
        if state.committed:
            states.append("committed")
    elif state.stage == Stage.PROTECTED:
        states.append("protected")
    elif state.failed_back:
        states.append("failed_back")
    if state.test_failed_over:
        states.append("test_failed_over")
    return states


@register
class AssertItemState(Probe):
    name = "assert.item_state"
    summary = "Protected VMs are failed over, test-failed-over, committed, or protected at the primary."
    Args = ItemStateArgs

    def footprint(self, args: ItemStateArgs, scope: Scope) -> list[Touch]:
        return protected_items(scope, args.vault, args.items, None, READ)

    def check(self, ctx, args: ItemStateArgs):
        vault = ctx.vault(args.vault)
        items = ctx.adapter.replication.get_protected_items(vault, list(args.items))
        found = {name: _item_state(item) or [item.state.describe()] for name, item in zip(args.items, items, strict=True)}
        wrong = {n: s for n, s in found.items() if args.state not in s}
        text = "; ".join(f"{n}: expected {args.state}, found {', '.join(s)}" for n, s in wrong.items())
        return not wrong, text, found


class NicIpArgs(ProbeArgs):
    item: str
    ip: str
    network: str = Field(description="the VNet the VM must be in")
    subnet: str
    test: bool = Field(False, description="check the test-failover VM instead of the failed-over one")
    vault: str | None = None


@register
class AssertNicIp(Probe):
    name = "assert.nic_ip"
    summary = "The failed-over (or test) VM of a protected item has the expected IP in the expected subnet."
    Args = NicIpArgs

    def footprint(self, args: NicIpArgs, scope: Scope) -> list[Touch]:
        return [protected_item(scope.vault(args.vault), args.item, READ)]

    def check(self, ctx, args: NicIpArgs):
        item = ctx.adapter.replication.get_protected_item(ctx.vault(args.vault), args.item)
        nic = item.primary_nic
        which = "test" if args.test else "recovery"
        ip = item.test_vm_ip if args.test else item.recovery_vm_ip
        network, subnet = getattr(nic, f"{which}_network"), getattr(nic, f"{which}_subnet")
        vnet = ctx.adapter.network.get_virtual_network(ctx.vnet_id(args.network))
        prefix = vnet.subnets.get(args.subnet)
        in_subnet = bool(ip and prefix and ipaddress.ip_address(ip) in ipaddress.ip_network(prefix))
        found = {"ip": ip, "network": ids.name_of(network) if network else None, "subnet": subnet}
        passed = ip == args.ip and ids.same(network, vnet.id) and subnet == args.subnet and in_subnet
        text = (f"{args.item} ({which} VM): expected {args.ip} in {vnet.name}/{args.subnet} ({prefix}), found "
                f"{ip or 'no VM'} in {found['network']}/{subnet}")
        return passed, text, found


class ConnectionArgs(ProbeArgs):
    name: str
    status: Literal["Connected", "Connecting", "NotConnected", "Unknown"] = "Connected"


@register
class AssertConnection(Probe):
    name = "assert.connection"
    summary = "A gateway connection exists and has the expected status."
    Args = ConnectionArgs

    def footprint(self, args: ConnectionArgs, scope: Scope) -> list[Touch]:
        return [named_resource(scope, args.name, ids.CONNECTION, "connection", READ)]

    def check(self, ctx, args: ConnectionArgs):
        conn = ctx.adapter.network.find_connection(ctx.resource_id(args.name, ids.CONNECTION))
        found = conn.status if conn else "absent"
        return found == args.status, f"connection {args.name}: expected {args.status}, found {found}", found


class RouteArgs(ProbeArgs):
    table: str
    prefix: str
    next_hop: Literal["VirtualNetworkGateway", "VnetLocal", "Internet", "VirtualAppliance", "None"]
    next_hop_ip: str | None = None


@register
class AssertRoute(Probe):
    name = "assert.route"
    summary = "A route table has a route for a prefix with the expected next hop."
    Args = RouteArgs

    def footprint(self, args: RouteArgs, scope: Scope) -> list[Touch]:
        return [named_resource(scope, args.table, ids.ROUTE_TABLE, "route table", READ)]

    def check(self, ctx, args: RouteArgs):
        table = ctx.adapter.network.get_route_table(ctx.resource_id(args.table, ids.ROUTE_TABLE))
        prefix = str(ipaddress.ip_network(args.prefix))
        matching = [r for r in table.routes.values() if r.address_prefix == prefix]
        found = [f"{r.name}: {r.next_hop_type}{' ' + r.next_hop_ip if r.next_hop_ip else ''}" for r in matching]
        passed = any(r.next_hop_type == args.next_hop and r.next_hop_ip == args.next_hop_ip for r in matching)
        want = args.next_hop + (f" {args.next_hop_ip}" if args.next_hop_ip else "")
        return passed, f"route table {table.name}, {prefix}: expected {want}, found {found or 'no route'}", found


class DnsArgs(ProbeArgs):
    zone: str
    name: str
    ips: list[str] = Field(min_length=1)


@register
class AssertDnsRecord(Probe):
    name = "assert.dns_record"
    summary = "A DNS A record resolves to exactly the expected addresses."
    Args = DnsArgs

    def footprint(self, args: DnsArgs, scope: Scope) -> list[Touch]:
        return [dns_record(scope, args.zone, args.name, READ)]

    def check(self, ctx, args: DnsArgs):
        record = ctx.adapter.dns.find_a_record(ctx.resource_id(args.zone, ids.DNS_ZONE), args.name)
        found = sorted(record.ips) if record else []
        return found == sorted(args.ips), f"{args.name}.{args.zone}: expected {sorted(args.ips)}, found {found}", found


class PrefixAbsentArgs(ProbeArgs):
    gateway: str
    prefix: str


@register
class AssertPrefixAbsent(Probe):
    name = "assert.prefix_absent"
    summary = "No prefix of a local network gateway overlaps the given one (the subnet left the site)."
    Args = PrefixAbsentArgs

    def footprint(self, args: PrefixAbsentArgs, scope: Scope) -> list[Touch]:
        return [named_resource(scope, args.gateway, ids.LOCAL_GATEWAY, "local network gateway", READ)]

    def check(self, ctx, args: PrefixAbsentArgs):
        try:
            lng = ctx.adapter.network.get_local_gateway(ctx.resource_id(args.gateway, ids.LOCAL_GATEWAY))
        except NotFoundError:
            return True, "", []
        target = ipaddress.ip_network(args.prefix)
        overlapping = [p for p in lng.address_prefixes if ipaddress.ip_network(p).overlaps(target)]
        return (not overlapping, f"local network gateway {lng.name}: expected no prefix overlapping {target}, "
                f"found {overlapping}", list(lng.address_prefixes))
