"""NET001-NET003: a target IP lies in its subnet, is not one of the five addresses Azure reserves, and is
no other VM's."""

from __future__ import annotations

from adapters.ports import ProtectedItem
from adapters.shared import ids
from adapters.shared.addressing import network_text, parsed_address, parsed_network, reserved_addresses
from adapters.shared.errors import NotFoundError
from engine.model.runbook import Step
from engine.plan.rules.isolation import check_isolated
from engine.plan.rules.items import missing_item

RESERVED_OFFSETS = "the network address, .1 (default gateway), .2 and .3 (Azure DNS) and the broadcast address"


def check_target_ip(inspector, step: Step, args, adapter) -> None:
    vault = inspector.target.vault_ref(args.vault)
    try:
        item = adapter.replication.get_protected_item(vault, args.item)
    except NotFoundError:
        missing_item(inspector, step, args.item, vault.vault)
        return
    if args.network:
        recovery = ids.resolve(args.network, ids.VIRTUAL_NETWORK, inspector.target.subscription,
                               inspector.target.resource_group)
        inspector.recovery_networks.add(recovery.lower())
        nic = _nic(item, args.nic)
        prefix = check_ip(inspector, step, adapter, item, nic, recovery, args.subnet, args.ip, "recovery")
        if prefix is not None:
            inspector.steps_of[("set_target_ip", item.vm_name)] = step
            if nic is not None and nic.source_ip == args.ip:
                inspector.kept_ip_items[item.vm_name] = (args.ip, prefix)
            else:
                inspector.changed_ip_items[item.vm_name] = args.ip
    if args.test_network:
        test = ids.resolve(args.test_network, ids.VIRTUAL_NETWORK, inspector.target.subscription,
                           inspector.target.resource_group)
        inspector.test_networks.add(test.lower())
        if args.test_ip or args.ip:
            check_ip(inspector, step, adapter, item, _nic(item, args.nic), test, args.test_subnet or args.subnet,
                           args.test_ip or args.ip, "test")
        check_isolated(inspector, step, adapter, test)


def check_ip(inspector, step, adapter, item: ProtectedItem, nic, vnet_id: str, subnet: str, ip: str, which: str):
    """NET001-NET003: the IP lies in the subnet, is not reserved, is not used. Returns the subnet prefix."""
    try:
        vnet = adapter.network.get_virtual_network(vnet_id)
    except NotFoundError:
        inspector.report("NET008", step, f"{which} network {ids.name_of(vnet_id)} of {item.vm_name} does not exist",
                    "create the virtual network, or name an existing one")
        return None
    if subnet not in vnet.subnets:
        inspector.report("NET001", step, f"{item.vm_name}: {which} subnet {subnet} does not exist in {vnet.name} "
                    f"(it has {', '.join(sorted(vnet.subnets)) or 'no subnets'})",
                    "name a subnet of that network")
        return None
    prefix = parsed_network(vnet.subnets[subnet])
    address = parsed_address(ip)
    text = network_text(vnet.subnets[subnet])
    where = f"{vnet.name}/{subnet} ({text})"
    if address not in prefix:
        inspector.report("NET001", step, f"{item.vm_name}: {which} IP {ip} is outside subnet {where}; ASR can only "
                    "assign an address of the subnet the VM comes up in",
                    f"choose an IP in {text}, or the subnet that holds {ip}")
        return None
    if address in reserved_addresses(prefix):
        inspector.report("NET002", step, f"{item.vm_name}: {which} IP {ip} is one of the five addresses Azure "
                    f"reserves in {where} ({RESERVED_OFFSETS})",
                    f"choose another address in {text}; to keep an on-premises .1-.3 address, re-address "
                    "the VM on-premises first")
        return text
    availability = adapter.network.check_ip_availability(vnet_id, ip)
    current = getattr(nic, f"{which}_ip", None)
    same_network = ids.same(getattr(nic, f"{which}_network", None), vnet_id)
    if not availability.available and not (same_network and current == ip):
        inspector.report("NET003", step, f"{item.vm_name}: {which} IP {ip} is already used in {vnet.name}",
                    "choose a free address" + (f" (free: {', '.join(availability.available_alternatives[:3])})"
                                               if availability.available_alternatives else ""))
    else:
        claims = _ip_claims(inspector, adapter)
        key = (which, vnet_id.lower(), ip)
        other = claims.get(key)
        if other and other != item.vm_name:
            inspector.report("NET003", step, f"{item.vm_name} and {other} would both get {which} IP {ip} in "
                        f"{vnet.name}", "give each VM its own address")
        else:
            claims[key] = item.vm_name
    return text


def _ip_claims(inspector, adapter) -> dict:
    """Which VM each target IP is promised to: read once from the vault, then kept up to date by the
    steps as they are simulated (a read per step would grow with the size of the runbook)."""
    if inspector.claims is None:
        inspector.claims = {}
        for other in adapter.replication.list_protected_items(inspector.target.vault_ref(None)):
            for nic in other.nics:
                for which in ("recovery", "test"):
                    network, ip = getattr(nic, f"{which}_network"), getattr(nic, f"{which}_ip")
                    if network and ip:
                        inspector.claims[(which, network.lower(), ip)] = other.vm_name
    return inspector.claims


def _nic(item: ProtectedItem, nic_id: str | None):
    """The NIC a step names (default: the primary); None when the item has no such NIC (the step says so)."""
    if nic_id is None:
        return item.primary_nic if item.nics else None
    return next((n for n in item.nics if ids.same(n.nic_id, nic_id) or ids.name_of(n.nic_id) == nic_id), None)
