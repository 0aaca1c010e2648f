"""Address arithmetic Azure's rules are made of: reserved addresses, overlapping address spaces."""

from __future__ import annotations

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
def parsed_address(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An address parsed once: a plan checks each VM's address several times."""
    return ipaddress.ip_address(address)


@lru_cache(maxsize=65536)
def reserved_addresses(subnet: ipaddress.IPv4Network) -> frozenset[ipaddress.IPv4Address]:
    """The five addresses Azure keeps in every subnet: network, .1 (gateway), .2 and .3 (DNS), broadcast."""
    base = int(subnet.network_address)
    return frozenset({ipaddress.ip_address(base + i) for i in range(4)} | {subnet.broadcast_address})


def overlapping_pairs(reaches: list[Reach]) -> Iterator[tuple[Reach, Reach]]:
    """Pairs of prefixes from different sources that overlap (a sweep over the sorted prefixes)."""
    ordered = sorted(set(reaches), key=lambda r: (r.prefix.network_address, -r.prefix.prefixlen, r.source))
    for i, a in enumerate(ordered):
        for b in ordered[i + 1:]:
            if b.prefix.network_address > a.prefix.broadcast_address:
                break
            if a.source != b.source and a.prefix.overlaps(b.prefix):
                yield a, b
