"""Address arithmetic Azure's rules are made of: reserved addresses, overlapping address spaces."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import NamedTuple


class Reach(NamedTuple):
    """An address prefix reachable through a gateway, and where it comes from."""

    prefix: ipaddress.IPv4Network
    source: str  # e.g. "virtual network recovery-vnet", "local network gateway woodgrove-onprem"


def reserved_addresses(subnet: ipaddress.IPv4Network) -> set[ipaddress.IPv4Address]:
    """The five addresses Azure keeps in every subnet: network, .1 (gateway), .2 and .3 (DNS), broadcast."""
    base = int(subnet.network_address)
    return {ipaddress.ip_address(base + i) for i in range(4)} | {subnet.broadcast_address}


def overlapping_pairs(reaches: list[Reach]) -> Iterator[tuple[Reach, Reach]]:
    """Pairs of prefixes from different sources that overlap (a sweep over the sorted prefixes)."""
    ordered = sorted(set(reaches), key=lambda r: (r.prefix.network_address, -r.prefix.prefixlen, r.source))
    for i, a in enumerate(ordered):
        for b in ordered[i + 1:]:
            if b.prefix.network_address > a.prefix.broadcast_address:
                break
            if a.source != b.source and a.prefix.overlaps(b.prefix):
                yield a, b
