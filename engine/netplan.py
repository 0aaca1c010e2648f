"""The seed's networking rules: what breaks a failover's network plan, found before anything runs.

``validate`` and ``plan`` simulate the runbook step by step on a copy of the estate (see
``engine.planner``); a ``NetworkPlanInspector`` looks at the estate before each step (the state the
earlier steps left) and once more at the end, and reports each broken rule as a ``Problem`` with a
stable code, the resources it concerns, why (in the seed's terms) and how to fix it. docs/rules.md
lists them all.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from adapters.ports import Connection, ProtectedItem
from adapters.shared import ids
from adapters.shared.addressing import (
    Reach,
    network_text,
    overlapping_pairs,
    parsed_address,
    parsed_network,
    reserved_addresses,
)
from adapters.shared.errors import NotFoundError
from adapters.shared.itemstate import COMMIT, FAILOVER_OPERATION, TEST_FAILOVER_CLEANUP
from engine.model.loader import LoadedRunbook
from engine.model.problems import WARNING, Problem
from engine.model.runbook import Step

RESERVED_OFFSETS = "the network address, .1 (default gateway), .2 and .3 (Azure DNS) and the broadcast address"


@dataclass
class NetworkPlanInspector:
    loaded: LoadedRunbook
    problems: list[Problem] = field(default_factory=list)
    kept_ip_items: dict[str, tuple[str, str]] = field(default_factory=dict)  # vm -> (ip, recovery subnet prefix)
    changed_ip_items: dict[str, str] = field(default_factory=dict)  # vm -> new ip
    failed_over: set[str] = field(default_factory=set)  # VMs a planned/unplanned failover step covers
    test_networks: set[str] = field(default_factory=set)
    recovery_networks: set[str] = field(default_factory=set)
    dns_ips: set[str] = field(default_factory=set)
    steps_with_errors: set[str] = field(default_factory=set)
    steps_of: dict[tuple[str, str], Step] = field(default_factory=dict)  # (set_target_ip|failover, vm) -> step
    test_network_steps: dict[str, Step] = field(default_factory=dict)  # test network -> first step using it
    prefix_removals: list[tuple[str, str, set[str]]] = field(default_factory=list)  # (step, lng id, removed)
    _claims: dict | None = None  # (recovery|test, vnet id, ip) -> the VM that gets it
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _finishing: bool = False
    _blocked: list[Step] = field(default_factory=list)  # at the end: the steps a failure kept from running
    _started: set[str] = field(default_factory=set)  # at the end: the steps that were started

    # --- bookkeeping ---------------------------------------------------------------------------

    def report(self, code: str, step: Step | None, message: str, fix: str, severity: str = "error") -> None:
        line = self.loaded.step_line(step.id) if step else None
        with self._lock:
            self.problems.append(Problem(code, message, file=self.loaded.file, line=line,
                                         step=step.id if step else None, fix=fix, severity=severity))
            if step and severity != WARNING and not self._finishing:  # the end's rules explain no step's failure
                self.steps_with_errors.add(step.id)

    @property
    def target(self):
        return self.loaded.runbook.target

    # --- before each step: the state the earlier steps left -------------------------------------

    def before_step(self, step: Step, kind, args: Any, adapter) -> None:
        check = getattr(self, "_" + step.uses.replace(".", "_"), None)
        if check is not None:
            check(step, args, adapter)

    def _asr_set_target_ip(self, step: Step, args, adapter) -> None:
        vault = _vault(self.target, args.vault)
        try:
            item = adapter.replication.get_protected_item(vault, args.item)
        except NotFoundError:
            self._missing_item(step, args.item, vault.vault)
            return
        if args.network:
            recovery = ids.resolve(args.network, ids.VIRTUAL_NETWORK, self.target.subscription,
                                   self.target.resource_group)
            self.recovery_networks.add(recovery.lower())
            nic = _nic(item, args.nic)
            prefix = self._check_ip(step, adapter, item, nic, recovery, args.subnet, args.ip, "recovery")
            if prefix is not None:
                self.steps_of[("set_target_ip", item.vm_name)] = step
                if nic is not None and nic.source_ip == args.ip:
                    self.kept_ip_items[item.vm_name] = (args.ip, prefix)
                else:
                    self.changed_ip_items[item.vm_name] = args.ip
        if args.test_network:
            test = ids.resolve(args.test_network, ids.VIRTUAL_NETWORK, self.target.subscription,
                               self.target.resource_group)
            self.test_networks.add(test.lower())
            if args.test_ip or args.ip:
                self._check_ip(step, adapter, item, _nic(item, args.nic), test, args.test_subnet or args.subnet,
                               args.test_ip or args.ip, "test")
            self._check_isolated(step, adapter, test)

    def _check_ip(self, step, adapter, item: ProtectedItem, nic, vnet_id: str, subnet: str, ip: str, which: str):
        """NET001-NET003: the IP lies in the subnet, is not reserved, is not used. Returns the subnet prefix."""
        try:
            vnet = adapter.network.get_virtual_network(vnet_id)
        except NotFoundError:
            self.report("NET008", step, f"{which} network {ids.name_of(vnet_id)} of {item.vm_name} does not exist",
                        "create the virtual network, or name an existing one")
            return None
        if subnet not in vnet.subnets:
            self.report("NET001", step, f"{item.vm_name}: {which} subnet {subnet} does not exist in {vnet.name} "
                        f"(it has {', '.join(sorted(vnet.subnets)) or 'no subnets'})",
                        "name a subnet of that network")
            return None
        prefix = parsed_network(vnet.subnets[subnet])
        address = parsed_address(ip)
        text = network_text(vnet.subnets[subnet])
        where = f"{vnet.name}/{subnet} ({text})"
        if address not in prefix:
            self.report("NET001", step, f"{item.vm_name}: {which} IP {ip} is outside subnet {where}; ASR can only "
                        "assign an address of the subnet the VM comes up in",
                        f"choose an IP in {text}, or the subnet that holds {ip}")
            return None
        if address in reserved_addresses(prefix):
            self.report("NET002", step, f"{item.vm_name}: {which} IP {ip} is one of the five addresses Azure "
                        f"reserves in {where} ({RESERVED_OFFSETS})",
                        f"choose another address in {text}; to keep an on-premises .1-.3 address, re-address "
                        "the VM on-premises first")
            return text
        availability = adapter.network.check_ip_availability(vnet_id, ip)
        current = getattr(nic, f"{which}_ip", None)
        same_network = ids.same(getattr(nic, f"{which}_network", None), vnet_id)
        if not availability.available and not (same_network and current == ip):
            self.report("NET003", step, f"{item.vm_name}: {which} IP {ip} is already used in {vnet.name}",
                        "choose a free address" + (f" (free: {', '.join(availability.available_alternatives[:3])})"
                                                   if availability.available_alternatives else ""))
        else:
            claims = self._ip_claims(adapter)
            key = (which, vnet_id.lower(), ip)
            other = claims.get(key)
            if other and other != item.vm_name:
                self.report("NET003", step, f"{item.vm_name} and {other} would both get {which} IP {ip} in "
                            f"{vnet.name}", "give each VM its own address")
            else:
                claims[key] = item.vm_name
        return text

    def _ip_claims(self, adapter) -> dict:
        """Which VM each target IP is promised to: read once from the vault, then kept up to date by the
        steps as they are simulated (a read per step would grow with the size of the runbook)."""
        if self._claims is None:
            self._claims = {}
            for other in adapter.replication.list_protected_items(_vault(self.target, None)):
                for nic in other.nics:
                    for which in ("recovery", "test"):
                        network, ip = getattr(nic, f"{which}_network"), getattr(nic, f"{which}_ip")
                        if network and ip:
                            self._claims[(which, network.lower(), ip)] = other.vm_name
        return self._claims

    def _check_isolated(self, step, adapter, test_network: str) -> None:
        """NET007: a test failover network reaches neither production nor on-premises."""
        name = ids.name_of(test_network)
        self.test_network_steps.setdefault(test_network.lower(), step)
        if test_network.lower() in self.recovery_networks:
            self._report_test_network_is_recovery(step, test_network)
            return
        for connection in adapter.network.list_connections(self.target.subscription, self.target.resource_group):
            for end in (connection.gateway1_id, connection.gateway2_id):
                if end and _vnet_of(adapter, end) == test_network.lower():
                    self.report("NET007", step, f"test network {name} is connected by {connection.name}: a test VM "
                                "would be reachable on a production IP from production or on-premises",
                                f"remove connection {connection.name}, or test in an isolated network")
                    return

    def _asr_failover(self, step: Step, args, adapter) -> None:
        items = self._items(step, args, adapter)
        if args.type == "test":
            self.test_networks.add(ids.resolve(args.network, ids.VIRTUAL_NETWORK, self.target.subscription,
                                               self.target.resource_group).lower())
            self._check_isolated(step, adapter, ids.resolve(args.network, ids.VIRTUAL_NETWORK,
                                                            self.target.subscription, self.target.resource_group))
        else:
            self.failed_over |= {item.vm_name for item in items}
            for item in items:
                self.steps_of.setdefault(("failover", item.vm_name), step)
        needed = FAILOVER_OPERATION[args.type]
        for item in items:
            done = item.state.test_failed_over if args.type == "test" else item.state.failed_over
            if not done and not item.state.busy and not item.state.allows(needed):
                self._not_allowed(step, item, needed)

    def _asr_commit(self, step: Step, args, adapter) -> None:
        for item in self._items(step, args, adapter):
            if not item.state.committed and not item.state.busy and not item.state.allows(COMMIT):
                self._not_allowed(step, item, COMMIT, "a commit needs a failover first: put the failover step "
                                  "in this step's needs")

    def _asr_cleanup_test_failover(self, step: Step, args, adapter) -> None:
        for item in self._items(step, args, adapter):
            state = item.state
            if state.test_failover_left and not state.busy and not state.allows(TEST_FAILOVER_CLEANUP):
                self._not_allowed(step, item, TEST_FAILOVER_CLEANUP)

    def _items(self, step: Step, args, adapter) -> list[ProtectedItem]:
        vault = _vault(self.target, args.vault)
        if args.plan:
            try:
                names = adapter.replication.get_recovery_plan(vault, args.plan).items
            except NotFoundError:
                self.report("NET009", step, f"recovery plan {args.plan} does not exist in vault {vault.vault}",
                            "name an existing recovery plan")
                return []
        else:
            names = args.items
        found = []
        for name in names:
            try:
                found.append(adapter.replication.get_protected_item(vault, name))
            except NotFoundError:
                self._missing_item(step, name, vault.vault)
        return found

    def _missing_item(self, step: Step, name: str, vault: str) -> None:
        self.report("NET009", step, f"{name} is not a protected item of vault {vault}",
                    "check the VM's name in the vault, or enable its replication first")

    def _not_allowed(self, step: Step, item: ProtectedItem, operation: str, fix: str | None = None) -> None:
        allowed = ", ".join(sorted(item.state.allowed)) or "none"
        self.report("NET009", step, f"{item.vm_name} does not allow {operation} when this step runs: it is "
                    f"{item.state.describe()} (allowed: {allowed})",
                    fix or "check the item's state in the vault and the order of the steps")

    def _network_connection(self, step: Step, args, adapter) -> None:
        if args.state != "present":
            return
        net = adapter.network
        gateway_id = ids.resolve(args.gateway, ids.GATEWAY, self.target.subscription, self.target.resource_group)
        peer_kind = ids.GATEWAY if args.type == "vnet2vnet" else ids.LOCAL_GATEWAY
        peer_id = ids.resolve(args.peer, peer_kind, self.target.subscription, self.target.resource_group)
        ends = [gateway_id] + ([peer_id] if args.type == "vnet2vnet" else [])
        for end in ends:
            try:
                gateway = net.get_gateway(end)
                vnet = net.get_virtual_network(gateway.vnet_id)
            except NotFoundError as exc:
                self.report("NET008", step, f"connection {args.name}: {exc}", "create the gateway (in a VNet with a "
                            "GatewaySubnet) before this step, or fix the name")
                return
            if "GatewaySubnet" not in vnet.subnets:
                self.report("NET008", step, f"connection {args.name}: virtual network {vnet.name} of gateway "
                            f"{gateway.name} has no GatewaySubnet", f"add a GatewaySubnet (/27 or larger) to {vnet.name}")
        if args.type == "ipsec":
            try:
                net.get_local_gateway(peer_id)
            except NotFoundError:
                self.report("NET008", step, f"connection {args.name}: local network gateway {ids.name_of(peer_id)} "
                            "does not exist", "create it, or fix the name")
                return
        existing = [c for c in net.list_connections(self.target.subscription, self.target.resource_group)
                    if not ids.same(c.id, ids.resolve(args.name, ids.CONNECTION, self.target.subscription,
                                                      self.target.resource_group))]
        kind = "Vnet2Vnet" if args.type == "vnet2vnet" else "IPsec"
        planned = Connection(id=args.name, name=args.name, location="", connection_type=kind,
                             gateway1_id=gateway_id, gateway2_id=peer_id if kind == "Vnet2Vnet" else None,
                             local_gateway2_id=peer_id if kind == "IPsec" else None)
        self._check_overlaps(step, adapter, existing + [planned], self._unordered_prefixes(step, adapter),
                             f"connection {args.name}")

    def _unordered_prefixes(self, step: Step, adapter) -> dict:
        """The simulation runs one step at a time, but a real run starts every step whose needs are done:
        a prefix removed by an earlier step that is not among this step's (transitive) needs may still be
        announced when this step runs. Those local gateways count with the prefixes removed put back."""
        ancestors = self.loaded.ancestors(step.id)
        override: dict[str, list[str]] = {}
        for step_id, lng_key, removed in self.prefix_removals:
            if step_id in ancestors or not removed:
                continue
            try:
                prefixes = override.get(lng_key) or list(adapter.network.get_local_gateway(lng_key).address_prefixes)
            except NotFoundError:
                continue
            override[lng_key] = prefixes + sorted(removed - set(prefixes))
        return override

    def _network_local_gateway_prefixes(self, step: Step, args, adapter) -> None:
        from engine.kinds.network import apply_prefix_changes

        lng_id = ids.resolve(args.gateway, ids.LOCAL_GATEWAY, self.target.subscription, self.target.resource_group)
        try:
            current = adapter.network.get_local_gateway(lng_id)
        except NotFoundError:
            self.report("NET008", step, f"local network gateway {ids.name_of(lng_id)} does not exist",
                        "create it, or fix the name")
            return
        after = apply_prefix_changes(list(current.address_prefixes), args.add, args.remove)
        self.prefix_removals.append((step.id, lng_id.lower(), set(current.address_prefixes) - set(after)))
        connections = adapter.network.list_connections(self.target.subscription, self.target.resource_group)
        self._check_overlaps(step, adapter, connections, {lng_id.lower(): after},
                             f"local network gateway {current.name} with {', '.join(args.add) or 'its prefixes'}")

    # --- NET004: no stretched subnet through one gateway ----------------------------------------

    def _check_overlaps(self, step, adapter, connections: list[Connection], prefixes_override: dict, change: str):
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
                self.report("NET004", step,
                            f"after {change}, {a.prefix} of {a.source} overlaps {b.prefix} of {b.source}, both "
                            f"reachable through gateway {gateway}: Azure has no stretched subnets, so a prefix "
                            "cannot be both on-premises and in Azure behind one gateway", fix)
                return

    # --- at the end: the whole plan --------------------------------------------------------------

    def finish(self, adapter, result) -> None:
        """The rules on the whole plan. When a step failed in the simulation, the run stopped and the
        estate is unfinished: a rule that asks for a step of some kind is not checked if a step of that
        kind (for that resource, when it can be told) never ran because of the failure. That step is in
        the runbook; the failure is the problem, and it is already reported."""
        self._finishing = True
        self._blocked = self._blocked_steps(result)
        self._started = {r.id for r in result.steps if r.attempts}
        self._tests_isolated_from_later_recovery()
        if not self._unrun("asr.failover", started=False):  # a failed one's items are known: before_step
            self._granularity(adapter)
        self._routed_to_azure(adapter)
        if not self._unrun("dns.record"):
            self._dns_updated(result)

    def _blocked_steps(self, result) -> list[Step]:
        """The steps that did not run (or not to the end) because a step failed: the failed ones, those
        never started (or left pending) after it, and those whose needs are among them. A step skipped by
        its `when` condition, or for using the outputs of one, is not: it would not run in a real run
        either."""
        records = {r.id: r for r in result.steps}
        memo: dict[str, bool] = {}

        def blocked(step_id: str) -> bool:
            if step_id not in memo:
                memo[step_id] = False  # cycles are refused before a simulation; this only guards
                record = records.get(step_id)
                status = str(record.status) if record else "pending"
                reason = (record.reason or "") if record else ""
                step = self.loaded.runbook.step(step_id)
                if status in ("failed", "pending", "running"):
                    memo[step_id] = True
                elif status == "skipped" and reason.startswith("not started: ") and _may_run(step, result.parameters):
                    memo[step_id] = reason.startswith("not started: the run stopped") or any(
                        blocked(need) for need in step.needs)
            return memo[step_id]

        return [s for s in self.loaded.runbook.steps if blocked(s.id)]

    def _unrun(self, uses: str, argument: str | None = None, name: str | None = None, *,
               started: bool = True) -> bool:
        """Whether a step of kind ``uses`` did not run (to the end) because of a failure; with ``argument``
        and ``name``, only one whose ``argument`` names ``name`` (or is an expression, so it may); without
        ``started``, only one that never started."""
        for step in self._blocked:
            if step.uses != uses or not started and step.id in self._started:
                continue
            if argument is None:
                return True
            value = step.with_.get(argument) if isinstance(step.with_, dict) else None
            if not isinstance(value, str) or "${{" in value or ids.name_of(value).lower() == name.lower():
                return True
        return False

    def _tests_isolated_from_later_recovery(self) -> None:
        """NET007 for a test network that only a later step makes a recovery network."""
        reported = {p.step for p in self.problems if p.code == "NET007"}
        for network, step in self.test_network_steps.items():
            if network in self.recovery_networks and step.id not in reported:
                self._report_test_network_is_recovery(step, network)

    def _report_test_network_is_recovery(self, step: Step, network: str) -> None:
        self.report("NET007", step, f"test network {ids.name_of(network)} is also a recovery network: a test VM "
                    "would answer on a production IP next to the real one",
                    "use a separate, isolated virtual network for tests")

    def _granularity(self, adapter) -> None:
        """NET005: subnet failover moves the whole subnet; every protected VM in it goes too."""
        accepted = {network_text(p) for p in self.loaded.runbook.accept_partial_subnets}
        moved = {prefix for vm, (_, prefix) in self.kept_ip_items.items() if vm in self.failed_over}
        if not moved:
            return
        staying = [i for i in adapter.replication.list_protected_items(_vault(self.target, None))
                   if i.vm_name not in self.failed_over and i.primary_nic.source_ip]
        for prefix in sorted(moved - accepted):
            network = parsed_network(prefix)
            left = sorted(i.vm_name for i in staying if parsed_address(i.primary_nic.source_ip) in network)
            if left:
                self.report("NET005", self._moving_step(prefix), f"{prefix} moves to Azure with its IP addresses, "
                            "but "
                            f"{', '.join(left)} of that subnet {'does' if len(left) == 1 else 'do'} not fail over: "
                            "subnet failover moves the whole subnet, so they would be cut off on-premises",
                            f"fail {', '.join(left)} over in the same runbook, or list {prefix} under "
                            "accept_partial_subnets to say this is deliberate")

    def _moving_step(self, prefix: str) -> Step | None:
        """The (first) failover step that moves ``prefix`` to Azure with its addresses."""
        return next((self.steps_of[("failover", vm)] for vm, (_, moved) in self.kept_ip_items.items()
                     if moved == prefix and ("failover", vm) in self.steps_of), None)

    def _routed_to_azure(self, adapter) -> None:
        """NET006: after the runbook, the moved subnet is routed to Azure and nothing routes it on-premises."""
        moved = sorted({prefix for vm, (_, prefix) in self.kept_ip_items.items() if vm in self.failed_over})
        if not moved:
            return
        net = adapter.network
        sub, rg = self.target.subscription, self.target.resource_group
        connections = net.list_connections(sub, rg)
        for prefix in moved:
            network = parsed_network(prefix)
            for lng_id in {c.local_gateway2_id.lower() for c in connections if c.local_gateway2_id}:
                lng = net.get_local_gateway(lng_id)
                if self._unrun("network.local_gateway_prefixes", "gateway", lng.name):
                    continue  # the step that would remove it is in the runbook; it did not run
                if any(parsed_network(p).overlaps(network) for p in lng.address_prefixes):
                    self.report("NET006", self._moving_step(prefix), "after the runbook, local network gateway "
                                f"{lng.name} still "
                                f"announces {prefix} as on-premises ({', '.join(lng.address_prefixes)}), so Azure "
                                "keeps sending its traffic to the on-premises site",
                                f"add a network.local_gateway_prefixes step removing {prefix} from {lng.name}")
            for table in net.list_route_tables(sub, rg):
                if self._unrun("network.routes", "table", table.name):
                    continue
                for route in _routes_for(table, network):
                    if route.next_hop_type not in ("VirtualNetworkGateway", "VnetLocal"):
                        hop = route.next_hop_type + (f" {route.next_hop_ip}" if route.next_hop_ip else "")
                        self.report("NET006", self._moving_step(prefix), f"after the runbook, route {route.name} in "
                                    f"{table.name} still "
                                    f"sends {route.address_prefix} (covering {prefix}) to {hop}, not to Azure",
                                    f"add a network.routes step: {route.name} absent, or a route for {prefix} "
                                    "with next_hop VirtualNetworkGateway")

    def _dns_updated(self, result) -> None:
        """NET010: on the change-IP path, each VM's DNS record follows it to its new address."""
        for record in result.steps:
            if record.uses == "dns.record":
                self.dns_ips |= set(record.outputs.get("ips", []))
        for vm, ip in sorted(self.changed_ip_items.items()):
            if vm in self.failed_over and ip not in self.dns_ips:
                self.report("NET010", self.steps_of.get(("set_target_ip", vm)), f"{vm} fails over to a new IP, {ip}, "
                            "but no dns.record step points a "
                            "name at it: clients would still resolve its old address",
                            f"add a dns.record step for {vm} with ip {ip} (or the set_target_ip step's "
                            "outputs.ip)")


def _may_run(step: Step, params: dict) -> bool:
    """Whether ``step``'s `when` condition (if any) holds, so that it would have run had the run gone on.
    When that cannot be told (a secret in the condition...), it may have."""
    if step.when is None:
        return True
    try:
        return step.runs_with(params)
    except Exception:  # noqa: BLE001  undecidable here: count the step as one that would run
        return True


def _vault(target, name):
    return target.vault_ref(name)


def _vnet_of(adapter, gateway_id: str) -> str | None:
    try:
        return adapter.network.get_gateway(gateway_id).vnet_id.lower()
    except NotFoundError:
        return None


def _routes_for(table, network):
    """The routes that decide where traffic for ``network`` goes: the longest covering prefix, and any
    more specific route inside it."""
    covering = [r for r in table.routes.values() if network.subnet_of(parsed_network(r.address_prefix))]
    inside = [r for r in table.routes.values()
              if parsed_network(r.address_prefix).subnet_of(network)
              and parsed_network(r.address_prefix) != network]
    best = max(covering, key=lambda r: parsed_network(r.address_prefix).prefixlen, default=None)
    return ([best] if best else []) + inside


def _nic(item: ProtectedItem, nic_id: str | None):
    """The NIC a step names (default: the primary); None when the item has no such NIC (the step says so)."""
    if nic_id is None:
        return item.primary_nic if item.nics else None
    return next((n for n in item.nics if ids.same(n.nic_id, nic_id) or ids.name_of(n.nic_id) == nic_id), None)
