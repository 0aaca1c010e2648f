"""Azure resource IDs: build them from names, take them apart, compare them.

A runbook may name a resource by its name (resolved in the runbook's ``target``) or by its full ID.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

NETWORK = "Microsoft.Network"

# resource kind -> ARM type path under the provider
VIRTUAL_NETWORK = "virtualNetworks"
GATEWAY = "virtualNetworkGateways"
LOCAL_GATEWAY = "localNetworkGateways"
CONNECTION = "connections"
ROUTE_TABLE = "routeTables"
DNS_ZONE = "dnsZones"
NIC = "networkInterfaces"


@dataclass(frozen=True)
class ResourceId:
    subscription: str
    resource_group: str
    provider: str
    type: str
    name: str

    def __str__(self) -> str:
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
            f"/providers/{self.provider}/{self.type}/{self.name}"
        )


def is_resource_id(value: str) -> bool:
    """ARM writes ``/subscriptions/``, and Site Recovery ``/Subscriptions/``: both are IDs."""
    return value[:15].lower() == "/subscriptions/"


@lru_cache(maxsize=4096)  # a plan of thousands of steps names the same few networks thousands of times
def parse(resource_id: str) -> ResourceId:
    """Parse ``/subscriptions/S/resourceGroups/R/providers/P/TYPE/NAME`` (child segments ignored)."""
    parts = resource_id.strip("/").split("/")
    try:
        if parts[0].lower() != "subscriptions" or parts[2].lower() != "resourcegroups" or parts[4].lower() != "providers":
            raise IndexError
        return ResourceId(parts[1], parts[3], parts[5], parts[6], parts[7])
    except IndexError:
        raise ValueError(
            f"{resource_id!r} is not an Azure resource ID "
            "(/subscriptions/SUB/resourceGroups/RG/providers/PROVIDER/TYPE/NAME)"
        ) from None


@lru_cache(maxsize=4096)
def resolve(value: str, kind: str, subscription: str, resource_group: str, provider: str = NETWORK) -> str:
    """A name becomes a full ID in the given scope; a full ID is returned as it is."""
    if is_resource_id(value):
        return value
    return str(ResourceId(subscription, resource_group, provider, kind, value))


def name_of(resource_id: str) -> str:
    return resource_id.rstrip("/").rsplit("/", 1)[-1]


def same(a: str | None, b: str | None) -> bool:
    """ARM IDs are case-insensitive."""
    if a is None or b is None:
        return a is b
    return a.rstrip("/").lower() == b.rstrip("/").lower()


def subnet_id(vnet_id: str, subnet: str) -> str:
    return f"{vnet_id}/subnets/{subnet}"
