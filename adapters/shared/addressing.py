"""Address arithmetic Azure's rules are made of: reserved addresses, overlapping address spaces."""

from __future__ import annotations

import bisect
import ipaddress
from collections.abc import Iterator
from functools import lru_cache
from typing import NamedTuple


class Reach(NamedTuple):
    """An address prefix reachable through a gateway, and where it comes from."""

    prefix: ipaddress.IPv4Network
    source: str  # e.g. "virtual network recovery-vnet", "local network gateway woodgrove-onprem"


@lru_cache(maxsize=65536)
def parsed_network(prefix: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """A prefix parsed once: the same few subnets are looked up for every VM of a large estate."""
    return ipaddress.ip_network(prefix)


@lru_cache(maxsize=65536)
def network_text(prefix: str) -> str:
    """A prefix written the standard way (``10.0.0.0/255.255.255.0`` -> ``10.0.0.0/24``), once per prefix."""
    return str(parsed_network(prefix))


@lru_cache(maxsize=65536)
def address_text(address: str) -> str:
    """An address written the standard way, once per address (an estate's and a runbook's are the same)."""
    return str(parsed_address(address))


@lru_cache(maxsize=65536)
def parsed_address(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An address parsed once: a plan checks each VM's address several times."""
    return ipaddress.ip_address(address)


@lru_cache(maxsize=65536)
def reserved_addresses(subnet: ipaddress.IPv4Network) -> frozenset[ipaddress.IPv4Address]:
    """The five addresses Azure keeps in every subnet: network, .1 (gateway), .2 and .3 (DNS), broadcast."""
    base = int(subnet.network_address)
    return frozenset({ipaddress.ip_address(base + i) for i in range(4)} | {subnet.broadcast_address})


def subnet_containing(prefixes: tuple[str, ...], address: ipaddress.IPv4Address | ipaddress.IPv6Address):
    """The prefix among ``prefixes`` (a VNet's subnets) that holds ``address``, or None: found by
    bisection, as a VNet may have hundreds of subnets. The last subnet starting at or below the address
    holds it; if subnets overlap (Azure refuses that, an estate file may not), the earlier ones are
    looked at too."""
    starts, networks = _by_start(prefixes, address.version)
    for i in range(bisect.bisect_right(starts, int(address)) - 1, -1, -1):
        if address in networks[i]:
            return networks[i]
    return None


@lru_cache(maxsize=4096)
def _by_start(prefixes: tuple[str, ...], version: int) -> tuple[list[int], list]:
    networks = sorted((n for n in map(parsed_network, prefixes) if n.version == version),
                      key=lambda n: n.network_address)
    return [int(n.network_address) for n in networks], networks


def overlapping_pairs(reaches: list[Reach]) -> Iterator[tuple[Reach, Reach]]:
    """Pairs of prefixes from different sources that overlap (a sweep over the sorted prefixes)."""
    ordered = sorted(set(reaches), key=lambda r: (r.prefix.network_address, -r.prefix.prefixlen, r.source))
    for i, a in enumerate(ordered):
        for b in ordered[i + 1:]:
            if b.prefix.network_address > a.prefix.broadcast_address:
                break
            if a.source != b.source and a.prefix.overlaps(b.prefix):
                yield a, b


def prefixes_after(current: list[str], add: list[str], remove: list[str]) -> list[str]:
    """The local gateway's prefixes after removing and adding.

    Removing a prefix inside a larger one splits the larger one (192.168.0.0/16 minus 192.168.1.0/24
    leaves 192.168.0.0/24, 192.168.2.0/23, ... 192.168.128.0/17); removing a prefix drops every prefix
    inside it. Adding a prefix already covered changes nothing; adding a larger one absorbs smaller ones;
    adding the piece a split took out joins the supernet again (192.168.1.0/24 added to what the removal
    left gives 192.168.0.0/16 back).
    """
    nets = [parsed_network(p) for p in current]
    for text in remove:
        gone = parsed_network(text)
        kept = []
        for net in nets:
            if net.version != gone.version or not net.overlaps(gone):
                kept.append(net)
            elif gone.subnet_of(net) and gone != net:
                kept.extend(sorted(net.address_exclude(gone)))
        nets = kept
    added = False
    for text in add:
        new = parsed_network(text)
        if any(new.version == n.version and new.subnet_of(n) for n in nets):
            continue
        nets = [n for n in nets if not (n.version == new.version and n.subnet_of(new))] + [new]
        added = True
    if added:  # only what the addition completes is joined; prefixes listed apart otherwise stay apart
        nets = _joined(nets)
    return [str(n) for n in nets]


def _joined(nets: list) -> list:
    """Adjacent prefixes that together make a larger one, joined, the rest in their order."""
    merged = [m for version in (4, 6) for m in ipaddress.collapse_addresses(n for n in nets if n.version == version)]
    out = []
    for net in nets:
        home = next(m for m in merged if m.version == net.version and net.subnet_of(m))
        if home not in out:
            out.append(home)
    return out
