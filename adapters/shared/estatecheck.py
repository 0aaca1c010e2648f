"""What Azure could not hold, found in an estate file before the fake is seeded from it.

The estate's schema (``adapters.shared.estate``) checks each value alone; these checks look across
values, as Azure's network resource provider does when a network or a NIC is written:

- a virtual network's address prefixes do not overlap one another;
- its subnets lie inside its address space and do not overlap one another;
- a static IP (a VM's, a protected item's recovery or test IP) lies inside its subnet, is not one of
  the five addresses Azure reserves in every subnet (the network address, the next three, and the
  broadcast address), and is not given twice in one subnet.

Each problem comes with the path of the value at fault, so that the file's line can be named.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

Path = tuple
Problem = tuple[Path, str]


def reserved(subnet: ipaddress.IPv4Network | ipaddress.IPv6Network) -> set:
    """The five addresses Azure keeps in every subnet: x.x.x.0 to x.x.x.3 and the last one."""
    first = subnet.network_address
    return {first, first + 1, first + 2, first + 3, subnet.broadcast_address}


def network_problems(estate) -> list[Problem]:
    problems: list[Problem] = []
    subnets: dict[tuple[str, str], ipaddress.IPv4Network | ipaddress.IPv6Network] = {}
    for vnet_name, vnet in estate.virtual_networks.items():
        at = ("virtual_networks", vnet_name)
        space = [ipaddress.ip_network(p) for p in vnet.address_prefixes]
        for i, prefix in enumerate(space):
            for j in range(i):
                if prefix.overlaps(space[j]):
                    problems.append((at + ("address_prefixes", i),
                                     f"virtual network {vnet_name}: address prefix {prefix} overlaps {space[j]}; "
                                     "Azure refuses overlapping prefixes in one address space"))
        seen: list[tuple[str, ipaddress.IPv4Network | ipaddress.IPv6Network]] = []
        for subnet_name, text in vnet.subnets.items():
            net = ipaddress.ip_network(text, strict=False)
            subnets[(vnet_name.lower(), subnet_name.lower())] = net
            where = at + ("subnets", subnet_name)
            if not any(net.version == s.version and net.subnet_of(s) for s in space):
                problems.append((where, f"subnet {vnet_name}/{subnet_name} ({net}) lies outside the address space "
                                        f"of {vnet_name} ({', '.join(map(str, space))})"))
            for other_name, other in seen:
                if net.overlaps(other):
                    problems.append((where, f"subnet {vnet_name}/{subnet_name} ({net}) overlaps subnet "
                                            f"{other_name} ({other}) of the same virtual network"))
            seen.append((subnet_name, net))
    taken: dict[tuple, str] = {}
    for where, owner, group, network, subnet, ip in _static_ips(estate):
        net = subnets.get((network.lower(), subnet.lower()))
        if net is None:
            continue  # an unknown subnet is the schema's to report
        address = ipaddress.ip_address(ip)
        if address not in net:
            problems.append((where, f"{owner}: IP {ip} lies outside subnet {network}/{subnet} ({net})"))
            continue
        if address in reserved(net):
            problems.append((where, f"{owner}: IP {ip} is one of the five addresses Azure reserves in subnet "
                                    f"{network}/{subnet} ({net}): the first four and the last; use another"))
            continue
        key = (group, network.lower(), subnet.lower(), address)
        if key in taken:
            problems.append((where, f"{owner}: IP {ip} in subnet {network}/{subnet} is also given to "
                                    f"{taken[key]}; an address belongs to one NIC"))
        else:
            taken[key] = owner
    return problems


def _static_ips(estate) -> Iterator[tuple[Path, str, str, str, str, str]]:
    """(path, owner, group, network, subnet, ip) of every static IP the estate gives. Duplicates are
    looked for within a group: running VMs among themselves, protected items' target IPs among
    themselves (a failed-over item's VM runs on its own recovery IP)."""
    for name, vm in estate.virtual_machines.items():
        yield ("virtual_machines", name, "ip"), f"virtual machine {name}", "vm", vm.vnet, vm.subnet, vm.ip
    for vault_name, vault in estate.vaults.items():
        for item_name, item in vault.protected_items.items():
            at = ("vaults", vault_name, "protected_items", item_name)
            if item.nics is None:
                targets = [(at, item.recovery, "recovery"), (at, item.test, "test")]
            else:
                targets = [(at + ("nics", i), t, kind) for i, nic in enumerate(item.nics)
                           for t, kind in ((nic.recovery, "recovery"), (nic.test, "test"))]
            for path, target, kind in targets:
                if target is not None and target.ip is not None:
                    # the test network is isolated: its addresses are counted apart from production's
                    yield (path + (kind, "ip"), f"protected item {item_name} ({kind} IP)", "item", target.network,
                           target.subnet, target.ip)
