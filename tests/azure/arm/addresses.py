"""Address maths Azure applies to virtual networks, with the standard library's ``ipaddress``."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def network(prefix: str) -> Network:
    return ipaddress.ip_network(prefix, strict=False)


def address(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def valid_prefix(prefix: str) -> bool:
    try:
        ipaddress.ip_network(prefix, strict=True)
    except (ValueError, TypeError):
        return False
    return True


def reserved(prefix: str) -> set[str]:
    """The five addresses Azure keeps in every subnet: the network address, the default gateway (.1),
    two for Azure DNS (.2, .3) and the broadcast address."""
    net = network(prefix)
    first = int(net.network_address)
    return {str(ipaddress.ip_address(first + i)) for i in range(4)} | {str(net.broadcast_address)}


def contains(prefix: str, ip: str) -> bool:
    parsed = address(ip)
    return parsed is not None and parsed in network(prefix)


def free(prefix: str, used: Iterable[str], count: int, start: str | None = None) -> list[str]:
    """Up to ``count`` addresses of the subnet that are neither reserved nor ``used``, from ``start`` on."""
    net, taken = network(prefix), reserved(prefix) | set(used)
    found: list[str] = []
    begin = int(address(start)) if start and address(start) and address(start) in net else int(net.network_address)
    for value in range(begin, int(net.broadcast_address) + 1):
        candidate = str(ipaddress.ip_address(value))
        if candidate not in taken:
            found.append(candidate)
            if len(found) == count:
                break
    return found


def overlapping(prefixes: list[tuple[str, str]]) -> tuple[tuple[str, str], tuple[str, str]] | None:
    """The first two overlapping prefixes that come from different sources, as ((source, prefix), ...)."""
    for i, (source_a, a) in enumerate(prefixes):
        for source_b, b in prefixes[i + 1:]:
            if source_a != source_b and network(a).overlaps(network(b)):
                return (source_a, a), (source_b, b)
    return None
